// Closing an attached handle gives its ThreadBlock back (a thread attaching later may get
// the same block, reply slots included). Its channel-path writes still in flight must be
// settled first, or the actor's replies would land in the next owner's slots (issue 10,
// defect 10). Under "async" a put settles with its reply, so the order of settlement shows it.
// Its snapshots still taken are released by close: their slots are shared by every handle
// (1,024), and a slot left taken keeps version GC from dropping what it saw (found by
// review, 2026-12-04).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { attach, cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine attached close");

test("closing an attached handle settles its channel writes before it gives up its ThreadBlock", async () => {
  const db = await open(tempDir(), { shards: 2, fastWrite: false, durability: "async" });
  const handle = await attach(db.share());
  const events: string[] = [];
  const puts = Array.from({ length: 40 }, (_, i) => handle.put(`k${i}`, `v${i}`).then(() => events.push(`put ${i}`)));
  await handle.close().then(() => events.push("close"));
  await Promise.all(puts);
  assert.is(events.indexOf("close"), 40, `close settled after every put: ${events.join(", ")}`);
  for (let i = 0; i < 40; i++) assert.is(text(db.get(`k${i}`)), `v${i}`);
  await db.close();
});

test("a handle closed with a snapshot still taken gives its slot back: the snapshot reads as released", async () => {
  const db = await open(tempDir(), { shards: 2 });
  await db.put("a", "1");
  const handle = await attach(db.share());
  const kept = handle.snapshot();
  handle.snapshot().release();
  assert.is(db.stats().liveSnapshots, 1);
  await handle.close();
  assert.is(kept.released, true, "close released it");
  assert.is(db.stats().liveSnapshots, 0, "its slot is free again: version GC no longer keeps what it saw");
  const own = db.snapshot();
  await db.close();
  assert.is(own.released, true, "the opener's close releases its snapshots too");
});

test.after(cleanup);
test.run();
