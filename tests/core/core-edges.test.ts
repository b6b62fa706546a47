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
// And from the core's second review (2026-12-06, later):
// - index.ts re-exported shardInstallActive / shardRotateActive / shardDropOldestFrozen
//   without validShard: a shard id past the count wrote the heap's first block (a thread's
//   block, its epoch word), so epochQuiet called a reader quiet.
// - epoch.ts: a thread's word keeps 31 bits of the epoch; past 2^31 every reader looked
//   older than every retire (now compared modulo 2^31).
// - index.ts memtableNext / memtablePrev trapped on an address that is no node;
//   memtableNoteGroupLsn took NaN or a negative LSN as 0.
// - walscan.ts findValidHeader: (start + 7) & ~7 wrapped for a start near 2^32.
// - walring.ts ringRelease: a release could span more than the ring's capacity.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { RING_HEADER_BYTES, WalStatus, recordBytes } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { currentPlatform } from "../harness/platform.ts";
import type { AppendJob } from "./concurrency-worker.ts";
import { stageBatch } from "./staged-batch.ts";

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
    // publishedEnd first, then reserveHead: publishedEnd never passes reserveHead and
    // reserveHead only grows, so P read before H is at most H unless publishedEnd overshot.
    // (Read the other way round, the worker's reserve and publish could fall between the
    // two reads: a stale head below a true publishedEnd, and a false overshoot, which a
    // loaded CI once saw.)
    const published = ring.publishedEnd;
    const head = ring.reserveHead;
    if (Atomics.load(core.i32, flag >>> 2) === 1 && published > head) {
      overshoot = published - head;
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

/** Control header (assembly/layout.ts). */
const CONTROL_BASE = 4096;
const CTL_EPOCH = 164;
/** ThreadBlock offset of the epoch word (assembly/thread.ts). */
const TB_EPOCH = 8;
/** Ring header offsets (assembly/walring.ts). */
const R_RESERVE_HEAD = 64;
const R_DRAIN_TAIL = 128;

test("index.ts shardInstallActive / shardRotateActive / shardDropOldestFrozen with shard = shardCount change nothing outside the shard table (not the first thread's block, not its epoch word)", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = core.exports;
  const heapStart = e.coreHeapStart() >>> 0;
  // The first block of the heap is this thread's block, right after the one shard record.
  assert.is(core.threadBlock, heapStart);
  // This thread reads (a scan holds epoch 0), and the actor retired an arena in epoch 0.
  const retired = e.epochAdvance() >>> 0;
  e.epochEnter();
  e.epochHold(retired); // the read began in the retire's epoch: it may hold the arena
  assert.is(e.epochQuiet(retired), 0, "precondition: the reader holds the retired epoch");
  const before = core.u8.slice(heapStart, heapStart + 128);
  // An out-of-range shard id (what a stray shard number from JavaScript would be).
  e.shardInstallActive(1, 0x00abcd40);
  const rotated = e.shardRotateActive(1, 0x00abcd80) >>> 0;
  const dropped = e.shardDropOldestFrozen(1) >>> 0;
  const after = core.u8.slice(heapStart, heapStart + 128);
  const changed: number[] = [];
  for (let i = 0; i < 128; i++) if (before[i] !== after[i]) changed.push(i);
  assert.is(e.epochQuiet(retired), 0, `the reader is still inside the retired epoch, but epochQuiet says quiet: its epoch word went from ${before[TB_EPOCH]} to ${after[TB_EPOCH]}`);
  assert.equal(changed, [], `bytes of the thread block changed at offsets ${changed.join(",")} (rotate answered ${rotated}, drop ${dropped})`);
  e.epochExit();
});

test("epoch.ts: past epoch 2^31, a reader that entered after the retire does not keep epochQuiet at 0", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = core.exports;
  // The global epoch after 2^31 - 1 advances (one per retired memtable).
  Atomics.store(core.u32, (CONTROL_BASE + CTL_EPOCH) >>> 2, 2 ** 31 - 1);
  const retired = e.epochAdvance() >>> 0; // retired in 2^31 - 1; the epoch is now 2^31
  assert.is(retired, 2 ** 31 - 1);
  const entered = e.epochEnter() >>> 0; // a read that begins after the retire
  assert.is(entered, 2 ** 31);
  const word = core.u32[(core.threadBlock + TB_EPOCH) >>> 2];
  assert.is(e.epochQuiet(retired), 1, `a read entered in epoch ${entered} > ${retired} holds nothing retired in ${retired}, but its word ${word} reads as epoch ${word >>> 1}`);
  e.epochExit();
});

test("index.ts memtableNext and memtablePrev given an address that is no node answer 0 instead of trapping", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = core.exports;
  const mt = Memtable.create(core, 1 << 16);
  mt.insert(new TextEncoder().encode("k"), new Uint8Array(1), 1n);
  const end = core.memory.buffer.byteLength;
  const thrown: string[] = [];
  for (const node of [1, end - 16, 0xfffffff0]) {
    try {
      e.memtableNext(node | 0);
    } catch (error) {
      thrown.push(`memtableNext(${node}): ${(error as Error).message}`);
    }
    try {
      e.memtablePrev(mt.address, node | 0);
    } catch (error) {
      thrown.push(`memtablePrev(mt, ${node}): ${(error as Error).message}`);
    }
  }
  assert.equal(thrown, [], "index.ts: nothing here traps on bad input");
});

test("index.ts memtableNoteGroupLsn with NaN or a negative LSN leaves minGroupLsn as it was (not 0)", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = core.exports;
  const mt = Memtable.create(core, 1 << 16);
  e.memtableNoteGroupLsn(mt.address, 4096);
  assert.is(e.memtableMinGroupLsn(mt.address), 4096);
  e.memtableNoteGroupLsn(mt.address, NaN);
  e.memtableNoteGroupLsn(mt.address, -8);
  assert.is(e.memtableMinGroupLsn(mt.address), 4096, "a value that is no LSN lowered the memtable's minGroupLsn (the log's checkpoint is then held at 0)");
});

test("walscan.ts findValidHeader with a start near 2^32 answers length, never an offset before start", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = core.exports;
  const buffer = e.coreAlloc(256) >>> 0;
  const salt = 0x1234;
  const lsn = 4096n;
  // A valid record header at offset 0: headerCrc, word (type FULL, 4 bytes), payloadCrc.
  const word = (1 << 24) | 4;
  const payloadCrc = core.crc32c(new Uint8Array(4));
  core.u32[buffer >>> 2] = e.walHeaderCrc(salt, lsn, word, payloadCrc) >>> 0;
  core.u32[(buffer + 4) >>> 2] = word;
  core.u32[(buffer + 8) >>> 2] = payloadCrc;
  assert.is(e.walFindValidHeader(buffer, 64, salt, lsn, 0) >>> 0, 0, "precondition: the header at 0 is valid");
  for (const start of [0xfffffff9, 0xffffffff]) {
    const found = e.walFindValidHeader(buffer, 64, salt, lsn, start | 0) >>> 0;
    assert.is(found, 64, `start ${start}: answered offset ${found}, before start`);
  }
});

test("walring.ts ringRelease up to a reserveHead more than a capacity past drainTail is refused and zeroes nothing past the ring's data area", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = core.exports;
    const ringAt = e.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
  const after = e.coreAlloc(64 * 1024) >>> 0; // the next block: someone else's
  assert.is(after, ringAt + RING_HEADER_BYTES + CAPACITY, "precondition: the block right after the ring");
  core.u8.fill(0xa5, after, after + 64 * 1024);
  assert.is(e.walRingFormat(ringAt, CAPACITY, 7, 0n, CAPACITY - 64), WalStatus.OK);
  // Three writers of large records (recordBytesMax up to the capacity) passed ringReserve's
  // first check together on an empty ring and all fetch-added: reserveHead is more than
  // two capacities past drainTail, and the later ones wait for room ("Lost the race for the
  // last room"). This is that state.
  const head = BigInt(2 * CAPACITY + 4096);
  Atomics.store(core.u64, (ringAt + R_RESERVE_HEAD) >>> 3, head);
  assert.is(core.u64[(ringAt + R_DRAIN_TAIL) >>> 3], 0n);
  const status = e.walRelease(ringAt, head);
  let zeroed = 0;
  for (let i = after; i < after + 64 * 1024; i++) if (core.u8[i] !== 0xa5) zeroed++;
  assert.is(zeroed, 0, `walRelease answered ${status} and zeroed ${zeroed} bytes of the block after the ring`);
});

test("a fast-path batch hands its versions in as a single write does (indexed, linked later), and a walk links them all first", async () => {
  // Until 2026-12-07 engineBatch linked each version itself (a descent of the list per
  // operation, ~0.6 µs a put more than a single write's, which is handed in): what this
  // file's header and docs/ARCHITECTURE.md "Deferred linking" say it does now.
  const core = await Core.create({ shards: 1, memoryBytesMax: 16 << 20 });
  const e = core.exports;
  const mtAt = e.memtableCreate(1 << 20) >>> 0;
  e.shardInstallActive(0, mtAt);
  const mt = new Memtable(core, mtAt);
  const ringAt = e.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
  assert.is(e.walRingFormat(ringAt, CAPACITY, 7, 8n, 4096), WalStatus.OK);
  const enc = new TextEncoder();
  // A key twice: the later operation is the newer version.
  const ops = [{ type: 1, key: "b", value: "2" }, { type: 1, key: "a", value: "1" }, { type: 1, key: "a", value: "3" }];
  const [opsBytes, scratch] = stageBatch(core, ops);
  assert.is(e.engineBatch(ringAt, core.staging, opsBytes, ops.length, scratch), 0, "E_OK");
  assert.is(mt.pending, 3, "every version handed in, none linked");
  const dec = new TextDecoder();
  const show = (entry: { key: Uint8Array; value?: Uint8Array; ts: bigint } | undefined) => entry && `${dec.decode(entry.key)}@${entry.ts}=${entry.value && dec.decode(entry.value)}`;
  assert.is(show(mt.getVisible(enc.encode("a"), 1 << 30)), "a@3=3", "the key index finds the newest version at once");
  assert.is(show(mt.getVisible(enc.encode("b"), 1 << 30)), "b@1=2");
  assert.is(mt.pending, 3, "lookups of visible versions link nothing");
  assert.equal([...mt.entries()].map(show), ["a@3=3", "a@2=1", "b@1=2"]);
  assert.is(mt.pending, 0, "the walk linked every version first");
});

test.run();
