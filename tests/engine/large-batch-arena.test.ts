// Large atomic batches (src/engine/actor.ts #commitLarge): the room of a batch's private
// memtables. The actor inserts every version into them while it holds the batch's commit
// record, where a full memtable fails the whole database, so step 1 must size them for the
// worst the core's allocator can do (src/core/memtable.ts ArenaNeed) and have them, and
// the fresh memtable behind each, before anything is logged:
// - a batch over more shards than a thread's 8 splice slots (a thread that writes more
//   memtables in turn than it has slots abandons an allocation chunk at every switch);
// - values of just over half an allocation chunk (each chunk holds one, half of it wasted);
// - a shared memory with room for the private memtable but not for the fresh one behind it:
//   the batch is refused (MemoryFullError), the database stays open;
// - batches of many sizes, again and again: their private memtables' arenas are reused
//   (a freed block that is never reused would make the heap run out).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { MemoryFullError } from "../../src/errors.ts";
import type { Database } from "../../src/engine/database.ts";
import { cleanup, eventually, open, tempDir, text } from "./helpers.ts";

const test = suite("engine large batch arenas");
const pad = (i: number) => String(i).padStart(6, "0");

test.after.each(cleanup);

function countKeys(db: Database, prefix: string): number {
  let n = 0;
  for (const _ of db.scan({ prefix })) n++;
  return n;
}

test("a large batch over 16 shards (more than a thread's 8 splice slots) fits its private memtables: the database stays open", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 16, durability: "async" });
  const n = 100_000;
  await db.batch(Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `w${pad(i)}`, value: `v${i}` })));
  assert.is(db.stats().state, "open");
  for (const i of [0, 1, 777, 50_000, n - 1]) assert.is(text(db.get(`w${pad(i)}`)), `v${i}`);
  assert.is(countKeys(db, "w"), n);
  await db.close();
  const again = await open(dir);
  assert.is(countKeys(again, "w"), n, "after reopen");
  await again.close();
});

test("a large batch of values just over half an allocation chunk (8,150 bytes) fits its private memtable: the database stays open", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, durability: "async" });
  const n = 1000;
  const value = (i: number) => new Uint8Array(8150).fill((i % 250) + 1);
  await db.batch(Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `c${pad(i)}`, value: value(i) })));
  assert.is(db.stats().state, "open");
  const check = (d: Database, when: string) => {
    for (const i of [0, 499, n - 1]) {
      const got = d.get(`c${pad(i)}`);
      assert.ok(got && got.length === 8150 && got[0] === (i % 250) + 1 && got[8149] === (i % 250) + 1, `${when}: c${pad(i)}`);
    }
    assert.is(countKeys(d, "c"), n, when);
  };
  check(db, "after the batch");
  await db.close();
  const again = await open(dir);
  check(again, "after reopen");
  await again.close();
});

test("a large batch when the shared memory has room for its private memtable but not for the fresh one behind it: refused, and the database stays open", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, durability: "async", memtableBytesMax: 64 * 1024 });
  const handle = db.share();
  const core = await Core.attach(handle.module, handle.memory);
  try {
    const e = core.exports;
    // Take a block of the size a batch of 1,001 small puts takes as its private memtable
    // (256 KiB: 4 x the 64 KiB memtables, src/engine/actor.ts, arena sizes), then every other byte of the
    // heap for good (the free list's blocks, then the untouched rest), then free the block:
    // the memory has room for the private memtable and nothing more.
    const BLOCK = 256 * 1024;
    const at = e.coreAlloc(BLOCK) >>> 0;
    assert.ok(at >= 64, "a block of 256 KiB");
    for (const bytes of [64 * 1024, 64]) while (e.coreAlloc(bytes) >>> 0 >= 64);
    assert.is(e.coreHeapFreeBytes(), 0n, "nothing free");
    assert.is(e.coreFree(at, BLOCK), 1);
    const ops = Array.from({ length: 1001 }, (_, i) => ({ type: "put" as const, key: `m${pad(i)}`, value: "v" }));
    await db.batch(ops).then(
      () => assert.unreachable("the batch was written"),
      (error) => assert.ok(error instanceof MemoryFullError, String(error)),
    );
    assert.is(db.stats().state, "open", "the database did not fail");
    assert.is(db.get("m000000"), undefined, "nothing of the refused batch");
    await db.put("after", "still writable");
    assert.is(text(db.get("after")), "still writable");
  } finally {
    core.detach();
    await db.close();
  }
});

test("large batches of many sizes, written again and again, reuse their private memtables' memory (a freed block serves any later size)", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, durability: "async", memtableBytesMax: 64 * 1024 });
  const handle = db.share();
  const core = await Core.attach(handle.module, handle.memory);
  try {
    // From 20 KB to 12.8 MB of values: private memtables of many sizes (a freed block that
    // no later allocation could reuse would be lost for good).
    const sizes = [20, 100, 200, 400, 800, 1600, 2400, 3200, 6400, 12800].map((kb) => kb * 1024);
    const tops: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (const bytes of sizes) {
        const n = Math.max(1001, Math.ceil(bytes / 16000));
        const value = new Uint8Array(Math.floor(bytes / n));
        await db.batch(Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `r${pad(i)}`, value })));
        // Flushed, so that the next batch's private memtable can reuse its arena.
        await eventually(() => db.stats().shards[0].frozenMemtables === 0, "the batch's memtables flushed");
      }
      tops.push(core.exports.coreHeapTop() >>> 0);
    }
    assert.is(tops[1], tops[0], `the heap grew by ${((tops[1] - tops[0]) / 1048576).toFixed(1)} MiB in the second round of the same batches`);
    assert.is(db.stats().state, "open");
  } finally {
    core.detach();
    await db.close();
  }
});

test.run();
