// Per-thread program order (docs/ENGINE.md) with a large batch: a write of this handle
// waiting behind its ring gate (the group WAL ring was full) was made before a large batch
// the handle makes next, and must apply before it: the batch's value wins. The disk is
// slowed (every fdatasync takes 300 ms) so that 1 MiB puts fill the smallest ring.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, open, SLOW_SMALL_RING, tempDir, text } from "./helpers.ts";

const test = suite("engine large batch ring gate");
const MIB = 1024 * 1024;
const pad = (i: number) => String(i).padStart(6, "0");

test.after.each(cleanup);

test("a put waiting behind the ring gate is not overtaken by a large batch the same thread makes after it: the batch's value wins", async () => {
  const dir = tempDir();
  // A slow disk (every fdatasync takes 300 ms) and the smallest ring: 1 MiB puts fill it.
  const db = await open(dir, SLOW_SMALL_RING);
  const filler = new Uint8Array(MIB - 64);
  const writes: Promise<unknown>[] = [];
  let gated = false;
  for (let i = 0; i < 64 && !gated; i++) {
    writes.push(db.put(`fill${i}`, filler));
    // Under "async" a put the fast path took is visible at once; this one waits for room.
    gated = db.get(`fill${i}`) === undefined;
  }
  assert.ok(gated, "the group WAL ring never filled");
  const put = db.put("k", "the put, made first");
  assert.is(db.get("k"), undefined, "the put waits behind the ring gate");
  const ops = Array.from({ length: 1001 }, (_, i) => (i === 500 ? { type: "put" as const, key: "k", value: "the batch, made second" } : { type: "put" as const, key: `g${pad(i)}`, value: "g" }));
  await Promise.all([put, db.batch(ops), ...writes]);
  assert.is(text(db.get("k")), "the batch, made second");
  await db.close();
  const again = await open(dir);
  assert.is(text(again.get("k")), "the batch, made second", "after reopen");
  await again.close();
});

test.run();
