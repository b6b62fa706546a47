// db.has(key): existence without copying the value, from the memtable and from tables,
// at a snapshot, with tombstones counting as absent.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, eventually, open, tempDir } from "./helpers.ts";

const test = suite("engine has");

test("has sees puts, not deletes, in the memtable; a snapshot keeps its answer", async () => {
  const db = await open(tempDir(), { shards: 2, durability: "async" });
  assert.is(db.has("a"), false);
  await db.put("a", "1");
  await db.put("empty", new Uint8Array(0));
  assert.ok(db.has("a"));
  assert.ok(db.has(new TextEncoder().encode("a")), "a Uint8Array key");
  assert.ok(db.has("empty"), "an empty value is a value");
  const snapshot = db.snapshot();
  await db.delete("a");
  await db.put("b", "2");
  assert.is(db.has("a"), false, "a tombstone counts as absent");
  assert.ok(db.has("b"));
  assert.ok(db.has("a", { snapshot }), "the snapshot still has a");
  assert.is(db.has("b", { snapshot }), false, "b came after the snapshot");
  snapshot.release();
  assert.throws(() => db.has("a", { snapshot }), /released/);
  assert.throws(() => db.has(42 as unknown as string), (e: unknown) => e instanceof TypeError);
  await db.close();
  assert.throws(() => db.has("a"), /closed/);
});

test("has reads tables: a key flushed, a tombstone flushed over a value, a key never written", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  const value = "v".repeat(200);
  for (let i = 0; i < 600; i++) await db.put(`k${i}`, value);
  await db.delete("k5");
  await eventually(() => db.stats().shards[0].tables > 0 && db.stats().shards[0].frozenMemtables === 0, "a table");
  // Push the tombstone to a table too.
  for (let i = 600; i < 1200; i++) await db.put(`k${i}`, value);
  await eventually(() => db.stats().shards[0].frozenMemtables === 0, "flushes done");
  assert.ok(db.has("k0"), "a key in a table");
  assert.is(db.has("k5"), false, "a deleted key");
  assert.is(db.has("nope"), false, "a key never written");
  assert.ok(db.has("k1199"));
  await db.close();
});

test.after(cleanup);
test.run();
