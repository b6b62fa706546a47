// A scan reads at the point db.scan() was called, not at its first next(): writes between
// the call and the first step are not seen, and the scan holds its sources from the call.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, eventually, open, rows, tempDir } from "./helpers.ts";

const test = suite("engine scan snapshot");

test("writes after scan() and before the first next() are not in the scan", async () => {
  const db = await open(tempDir(), { shards: 2, durability: "async" });
  await db.put("a", "1");
  await db.put("b", "1");
  const scan = db.scan();
  const reverse = db.scan({ reverse: true });
  await db.put("a", "2");
  await db.delete("b");
  await db.put("c", "1");
  assert.equal(rows(scan), ["a=1", "b=1"]);
  assert.equal(rows(reverse), ["b=1", "a=1"]);
  assert.equal(rows(db.scan()), ["a=2", "c=1"], "a scan taken now sees them");
  await db.close();
});

test("a scan taken before flushes and compactions returns its point's rows", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  const key = (i: number) => `k${String(i).padStart(4, "0")}`;
  for (let i = 0; i < 300; i++) await db.put(key(i), "old");
  const scan = db.scan();
  const flushes = db.stats().flushes;
  for (let round = 0; db.stats().flushes < flushes + 3; round++) {
    for (let i = 0; i < 300; i++) await db.put(key(i), `new${round}`.padEnd(200, "x"));
    if (round > 500) throw new Error("no flushes");
  }
  await eventually(() => db.stats().shards[0].frozenMemtables === 0, "flushes done");
  const got = rows(scan);
  assert.is(got.length, 300);
  assert.ok(got.every((r) => r.endsWith("=old")), "every row at the scan's point");
  await db.close();
});

test("an iterator taken and never stepped can be ended with return() (what it held is released)", async () => {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  await db.put("a", "1");
  const scan = db.scan();
  assert.ok(scan.open);
  scan.return();
  assert.is(scan.open, false);
  assert.equal(rows(scan), [], "an ended scan yields nothing");
  const limited = db.scan({ limit: 0 });
  assert.is(limited.open, false, "limit 0 holds nothing");
  await db.close();
});

test.after(cleanup);
test.run();
