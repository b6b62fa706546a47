// Edges of the WebAssembly core (assembly/) found by its review of 2026-12-06: each test
// plays one scenario in which an invariant stated in a file's header comment did not hold,
// seen failing in Node, Bun and Deno before its fix. Deterministic: the
// interleavings are played step by step from this thread, or with one worker whose call
// the main thread observes (tests/core/concurrency-worker.ts).
//
// - walring.ts advancePublished: when reserved records fill the ring to exactly
//   drainTail + capacity and all are published, the slot at publishedEnd is the first
//   record's (same offset, previous lap), so the loop walks round the ring again, moving
//   publishedEnd past reserveHead, and does not return until the worker drains.
// - heap.ts heapAlloc: alignUp in u32 wraps (alignment 0, or a huge one near the top), the
//   start becomes 0 and the CAS moves heapTop backwards.
// - walring.ts ringSetState: failCode is stored before the CAS that refuses to leave FAILED.
// - skiplist.ts slotFor/nodeAlloc: one thread writing more memtables than SPLICE_SLOTS (8)
//   in turn (the fast path with more than 8 shards) abandons its chunk on almost every
//   insert, so arenas fill with unused chunks.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { RING_HEADER_BYTES, WalStatus, recordBytes } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { currentPlatform } from "../harness/platform.ts";
import type { AppendJob } from "./concurrency-worker.ts";

const test = suite("core edges");
const CAPACITY = 64 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

test("ring filled exactly to capacity: the publish that completes it leaves publishedEnd at reserveHead (and returns)", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const ringAt = core.exports.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
  const PAYLOAD = 1024 - 12; // one record = 1 KiB: 64 of them fill the ring exactly
  assert.is(recordBytes(PAYLOAD), 1024);
  assert.is(core.exports.walRingFormat(ringAt, CAPACITY, 7, 8n, 4096), WalStatus.OK);
  const ring = new RingView(core, ringAt);
  for (let i = 0; i < CAPACITY / 1024 - 1; i++) assert.ok(ring.tryAppend(new Uint8Array(PAYLOAD).fill(i)) >= 0);
  assert.is(ring.publishedEnd, ring.reserveHead);
  // The last record, from a worker: its walAppend fills the ring to exactly drainTail + capacity.
  const flag = core.exports.coreAlloc(64) >>> 0;
  Atomics.store(core.i32, flag >>> 2, 0);
  let done = false;
  const platform = await currentPlatform();
  const run = runModuleInWorker(platform, {
    module: core.module, memory: core.memory, url: new URL("./concurrency-worker.ts", import.meta.url).href, exportName: "appendOne",
    data: { ring: ringAt, length: PAYLOAD, flag } satisfies AppendJob,
  }).finally(() => void (done = true)) as Promise<{ status: number; lsn: number }>;
  // Watch publishedEnd while the worker's call runs (bounded).
  const deadline = Date.now() + 20_000;
  let overshoot = 0;
  while (!done && Date.now() < deadline) {
    const head = ring.reserveHead;
    if (Atomics.load(core.i32, flag >>> 2) === 1 && ring.publishedEnd > head) {
      overshoot = ring.publishedEnd - head;
      break;
    }
    await sleep(1);
  }
  const stuck = !done;
  const end = ring.reserveHead;
  assert.is(end - ring.drainTail, CAPACITY, "the ring is exactly full");
  // The durability worker's part: drain everything, which also ends a publisher spinning over the full ring.
  core.exports.walRelease(ringAt, BigInt(end));
  const { status } = await run;
  assert.is(status, WalStatus.OK);
  assert.ok(overshoot === 0, "publishedEnd passed reserveHead while the publish that filled the ring ran (advancePublished went round the full ring's published records)");
  assert.ok(!stuck, "the publish that fills the ring returns without waiting for a drain");
});

test("walRelease refuses a range outside drainTail..reserveHead or off a record boundary, changing nothing", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const ringAt = core.exports.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
  assert.is(core.exports.walRingFormat(ringAt, CAPACITY, 7, 8n, 4096), WalStatus.OK);
  const ring = new RingView(core, ringAt);
  assert.ok(ring.tryAppend(new Uint8Array(100).fill(7)) >= 0);
  assert.ok(ring.tryAppend(new Uint8Array(100).fill(9)) >= 0);
  const [first] = ring.payloads(ring.drainTail, ring.publishedEnd);
  core.exports.walRelease(ringAt, BigInt(first.lsn + recordBytes(first.payload.length))); // the first record
  const tail = ring.drainTail;
  const head = ring.reserveHead;
  const before = core.u8.slice(ring.data, ring.data + ring.capacity);
  for (const upTo of [0, tail - 8, head + 8, head + CAPACITY, tail + 4]) {
    assert.is(core.exports.walRelease(ringAt, BigInt(upTo)), WalStatus.BAD_ARGUMENT, `release up to ${upTo} (drain tail ${tail}, reserve head ${head})`);
    assert.is(ring.drainTail, tail);
    assert.equal(core.u8.slice(ring.data, ring.data + ring.capacity), before, "the ring's bytes");
  }
  assert.is(core.exports.walRelease(ringAt, BigInt(head)), WalStatus.OK, "the rest");
  assert.is(ring.drainTail, head);
});

test("coreAllocPermanent with alignment 0 (bad input) neither returns 0 with the heap top moved nor lets the next block overlap the control region", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 16 << 20 });
  const e = core.exports;
  const start = e.coreHeapStart() >>> 0;
  const topBefore = e.coreHeapTop() >>> 0;
  const got = e.coreAllocPermanent(64, 0) >>> 0;
  const topAfter = e.coreHeapTop() >>> 0;
  const next = e.coreAlloc(64) >>> 0;
  assert.ok(got === 0 || got >= start, `a permanent block at ${got}, below the heap start ${start}`);
  assert.ok(topAfter >= topBefore, `the heap top went from ${topBefore} back to ${topAfter} (heapTop only grows)`);
  assert.ok(next === 0 || next >= start, `the next coreAlloc returned ${next}, below the heap start ${start} (the control region is at 4096)`);
});

test("a ring FAILED by one thread keeps that failure's code when a second thread fails it again (FAILED is final)", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 16 << 20 });
  const ringAt = core.exports.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
  assert.is(core.exports.walRingFormat(ringAt, CAPACITY, 7, 8n, 4096), WalStatus.OK);
  const FAIL_CODE = 24;
  const WRITE = 1, OTHER = 4, FAILED = 3;
  // The durability worker's write fails first...
  assert.is(core.exports.walSetState(ringAt, FAILED, WRITE), FAILED);
  assert.is(core.u32[(ringAt + FAIL_CODE) >>> 2], WRITE);
  // ...then another thread (the actor) fails the ring too: the state change is refused.
  assert.is(core.exports.walSetState(ringAt, FAILED, OTHER), FAILED);
  assert.is(core.u32[(ringAt + FAIL_CODE) >>> 2], WRITE, "the first failure's code was overwritten by a refused second one");
});

test("fast path over 16 shards, one thread: 16 x 1,000 small writes fit in 1 MiB memtables (each filled to under a tenth) without one refused as FULL", async () => {
  const SHARDS = 16;
  const MT_BYTES = 1 << 20;
  const core = await Core.create({ shards: SHARDS, memoryBytesMax: 64 << 20 });
  const e = core.exports;
  const memtables: number[] = [];
  for (let s = 0; s < SHARDS; s++) {
    const mt = e.memtableCreate(MT_BYTES) >>> 0;
    assert.ok(mt >= 64);
    e.shardInstallActive(s, mt);
    memtables.push(mt);
  }
  const ringAt = e.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
  assert.is(e.walRingFormat(ringAt, CAPACITY, 7, 8n, 4096), WalStatus.OK);
  const ring = new RingView(core, ringAt);
  const enc = new TextEncoder();
  const value = new Uint8Array(16).fill(7);
  const E_OK = 0, E_CHANNEL = 1, E_RING_FULL = 2;
  let written = 0;
  let refused = "";
  for (let i = 0; i < SHARDS * 1000 && refused === ""; i++) {
    const key = enc.encode(`key-${String(i).padStart(8, "0")}`);
    const keyAt = core.stage(key);
    const valueAt = core.stage(value, key.length);
    let status = e.engineWrite(ringAt, keyAt, key.length, valueAt, value.length);
    if (status === E_RING_FULL) {
      e.walRelease(ringAt, BigInt(ring.publishedEnd)); // the durability worker's part
      status = e.engineWrite(ringAt, keyAt, key.length, valueAt, value.length);
    }
    if (status === E_OK) written++;
    else {
      const shard = core.u32[(core.result + 24) >>> 2];
      const reason = core.u32[(core.result + 28) >>> 2];
      const used = e.memtableBytesUsed(memtables[shard]) >>> 0;
      const nodes = e.memtableCount(memtables[shard]) >>> 0;
      refused = `write ${i} refused (status ${status}${status === E_CHANNEL ? `, reason ${reason}` : ""}): shard ${shard}'s memtable has ${used} of ${MT_BYTES} bytes reserved for ${nodes} nodes of ~80 bytes`;
    }
  }
  assert.is(refused, "", "a fast-path write was refused");
  assert.is(written, SHARDS * 1000);
});

test.run();
