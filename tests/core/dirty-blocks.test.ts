// A block's dirty prefix (assembly/heap.ts takeDirtyBytes): a block the heap hands out
// counts as zero past a prefix (none when carved from the untouched region; the old entry's
// bytes when the last free entry is extended into it). walRingFormat and memtableCreate zero
// only that prefix, so a prefix reported too short would leave garbage in a ring's data area
// or a memtable's key index and pending ring. These tests write garbage (0xa5) into every
// block before it is freed, in the shapes the free list can take (a split's remainder,
// merged entries, an extended block freed and extended again, prefixes ending anywhere in a
// memtable's index), then while other threads churn the heap, and check that the parts that
// must be zero are. (Written as an adversarial review of 4c6146a, 2026-12-07; it found no
// under-count, and one stale mark: the refused-format test below.)
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { RING_HEADER_BYTES, WalStatus } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";
import type { HeapChurnJob } from "./concurrency-worker.ts";
import { startTogether } from "./start-together.ts";

const test = suite("core dirty blocks");
const KIB = 1024;
const MIB = 1 << 20;
const enc = new TextEncoder();
const MT_USED = 8; // assembly/skiplist.ts: the arena's bytes in use, the zeroed index and pending ring included
const MT_INDEX = 44;

function dirtyAlloc(core: Core, bytes: number): number {
  const at = core.exports.coreAlloc(bytes) >>> 0;
  assert.ok(at >= 64, `a ${bytes}-byte block was allocated`);
  core.u8.fill(0xa5, at, at + bytes);
  return at;
}

/** A formatted ring of `capacity` at a new block; asserts its data area is zero and it takes records. */
function ringChecked(core: Core, capacity: number, expectAt?: number, what = ""): number {
  const at = core.exports.coreAlloc(RING_HEADER_BYTES + capacity) >>> 0;
  assert.ok(at >= 64, `ring block ${what}`);
  if (expectAt !== undefined) assert.is(at, expectAt, `the ring is where the case under test puts it ${what}`);
  assert.is(core.exports.walRingFormat(at, capacity, 7, 8n, 4096), WalStatus.OK);
  assert.is(core.exports.bytesAllZero(at + RING_HEADER_BYTES, capacity), 1, `the ring's data area is all zeros ${what}`);
  return at;
}

function ringWorks(core: Core, at: number): void {
  const ring = new RingView(core, at);
  for (let i = 0; i < 50; i++) assert.ok(ring.tryAppend(new Uint8Array(1000).fill(i + 1)) >= 0, `record ${i} appended`);
  assert.is(ring.publishedEnd, ring.reserveHead, "every record is published");
}

/** Asserts the memtable at `mt` has a zero key index and pending ring (index to MT_USED). */
function memtableZeroed(core: Core, mt: number, what = ""): void {
  const index = core.u32[(mt + MT_INDEX) >>> 2];
  const used = core.u32[(mt + MT_USED) >>> 2];
  assert.ok(index > mt && mt + used > index, `index inside the arena ${what}`);
  assert.is(core.exports.bytesAllZero(index, mt + used - index), 1, `key index and pending ring all zeros ${what}`);
}

function memtableWorks(mt: Memtable, n: number): void {
  for (let i = 0; i < n; i++) assert.ok(mt.insert(enc.encode(`key-${i}`), enc.encode(`value-${i}`), BigInt(i + 1)) > 0, `insert ${i}`);
  for (let i = 0; i < n; i += 3) {
    const found = mt.get(enc.encode(`key-${i}`), 1n << 40n);
    assert.ok(found?.value && new TextDecoder().decode(found.value) === `value-${i}`, `key-${i} found`);
  }
  assert.is(mt.get(enc.encode("key-absent"), 1n << 40n), undefined);
}

test("a split's remainder, last at the top, extended into a ring: the remainder's old bytes are zeroed", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 * MIB });
  const big = dirtyAlloc(core, 2 * MIB);
  core.exports.coreFree(big, 2 * MIB);
  const small = dirtyAlloc(core, 64 * KIB); // the entry's start; its rest stays free, its old bytes 0xa5
  assert.is(small, big);
  const ring = ringChecked(core, 4 * MIB, big + 64 * KIB, "(remainder extended)");
  ringWorks(core, ring);
});

test("entries merged on free (the later one first, then the one before it), extended: all of the merged run is zeroed", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 * MIB });
  const a = dirtyAlloc(core, 320 * KIB);
  const b = dirtyAlloc(core, 192 * KIB + 64);
  const c = dirtyAlloc(core, 64); // between, freed last: merges a and b into one run with it
  core.exports.coreFree(b, 192 * KIB + 64);
  core.exports.coreFree(a, 320 * KIB);
  core.exports.coreFree(c, 64);
  assert.is(core.exports.coreHeapFreeBytes() >= BigInt(512 * KIB + 128), true);
  ringWorks(core, ringChecked(core, 1 * MIB, a, "(merged run extended)"));
});

test("an extended block, written through and freed, then extended again: its whole old size counts", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 * MIB });
  const first = dirtyAlloc(core, 256 * KIB);
  core.exports.coreFree(first, 256 * KIB);
  const ring = ringChecked(core, 1 * MIB, first, "(first extension)");
  core.u8.fill(0xa5, ring, ring + RING_HEADER_BYTES + 1 * MIB); // written well past the first entry's bytes
  core.exports.coreFree(ring, RING_HEADER_BYTES + 1 * MIB);
  const again = ringChecked(core, 4 * MIB, first, "(second extension)");
  ringWorks(core, again);
  // And a memtable over the same run, extended a third time.
  core.u8.fill(0xa5, again, again + RING_HEADER_BYTES + 4 * MIB);
  core.exports.coreFree(again, RING_HEADER_BYTES + 4 * MIB);
  const mt = Memtable.create(core, 8 * MIB);
  assert.is(mt.address, first);
  memtableZeroed(core, mt.address, "(third extension)");
  memtableWorks(mt, 2000);
});

test("a memtable over a dirty entry whose prefix ends anywhere: in the header, the head node, the index, the pending ring, past them", async () => {
  const bytes = 1 * MIB; // index 16384 slots (64 KiB), pending 4096 entries (16 KiB), after ~64+head bytes
  for (const prefix of [64, 128, 256, 512, 4 * KIB, 32 * KIB, 64 * KIB + 64, 80 * KIB, 96 * KIB, 512 * KIB, bytes - 64]) {
    const core = await Core.create({ shards: 1, memoryBytesMax: 16 * MIB });
    const dirty = dirtyAlloc(core, prefix);
    core.exports.coreFree(dirty, prefix);
    const mt = Memtable.create(core, bytes);
    assert.is(mt.address, dirty, `prefix ${prefix}: the memtable extended the entry`);
    memtableZeroed(core, mt.address, `(prefix ${prefix})`);
    memtableWorks(mt, 1500);
  }
});

test("another core instance on the same memory allocates and frees between coreAlloc and walRingFormat: the ring is still zero", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 * MIB });
  const other = await Core.attach(core.module, core.memory);
  const dirty = dirtyAlloc(core, 1 * MIB);
  core.exports.coreFree(dirty, 1 * MIB);
  const at = core.exports.coreAlloc(RING_HEADER_BYTES + 4 * MIB) >>> 0;
  assert.is(at, dirty, "extended");
  // The other instance's allocations change nothing of this one's record of its last block.
  const x = dirtyAlloc(other, 128 * KIB);
  other.exports.coreFree(x, 128 * KIB);
  assert.is(core.exports.walRingFormat(at, 4 * MIB, 7, 8n, 4096), WalStatus.OK);
  assert.is(core.exports.bytesAllZero(at + RING_HEADER_BYTES, 4 * MIB), 1, "the ring's data area is all zeros");
  // Formatted again (the mark was taken once): all of it is zeroed.
  core.u8.fill(0xa5, at + RING_HEADER_BYTES, at + RING_HEADER_BYTES + 4 * MIB);
  assert.is(core.exports.walRingFormat(at, 4 * MIB, 7, 8n, 4096), WalStatus.OK);
  assert.is(core.exports.bytesAllZero(at + RING_HEADER_BYTES, 4 * MIB), 1, "a second format zeroes it all");
  other.detach();
});

test("a refused walRingFormat takes the block's mark: a later format of the same block, written meanwhile, zeroes all of it", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 * MIB });
  const capacity = 1 * MIB;
  const at = core.exports.coreAlloc(RING_HEADER_BYTES + capacity) >>> 0; // carved fresh: its mark says "no dirty bytes"
  assert.ok(at >= 64);
  assert.is(core.exports.walRingFormat(at, capacity - 1, 7, 8n, 4096), WalStatus.BAD_ARGUMENT, "a capacity that is not a power of two is refused");
  core.u8.fill(0xa5, at, at + RING_HEADER_BYTES + capacity);
  assert.is(core.exports.walRingFormat(at, capacity, 7, 8n, 4096), WalStatus.OK);
  assert.is(core.exports.bytesAllZero(at + RING_HEADER_BYTES, capacity), 1, "the ring's data area is all zeros");
  ringWorks(core, at);
});

test("random churn in one thread: every ring and memtable over dirty split, merged and extended entries starts zero", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 48 * MIB });
  let seed = 0x2545f491;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 4);
  const held: Array<{ at: number; bytes: number }> = [];
  let rings = 0;
  let memtables = 0;
  for (let r = 0; r < 1500; r++) {
    const kind = next() % 4;
    if (held.length > 0 && (held.length >= 12 || kind === 0)) {
      const { at, bytes } = held.splice(next() % held.length, 1)[0];
      assert.is(core.exports.coreFree(at, bytes), 1);
      continue;
    }
    if (kind === 1) {
      const capacity = 1 << (16 + (next() % 5)); // 64 KiB .. 1 MiB
      const at = core.exports.coreAlloc(RING_HEADER_BYTES + capacity) >>> 0;
      if (at === 0) continue;
      assert.is(core.exports.walRingFormat(at, capacity, 7, 8n, 4096), WalStatus.OK);
      assert.is(core.exports.bytesAllZero(at + RING_HEADER_BYTES, capacity), 1, `round ${r}: ring of ${capacity} at ${at} zero`);
      rings++;
      core.u8.fill(0xa5, at, at + RING_HEADER_BYTES + capacity);
      held.push({ at, bytes: RING_HEADER_BYTES + capacity });
    } else if (kind === 2) {
      const bytes = 4096 + 64 * (next() % 16384); // 4 KiB .. ~1 MiB
      const at = core.exports.memtableCreate(bytes) >>> 0;
      if (at < 64) continue;
      memtableZeroed(core, at, `(round ${r}, ${bytes} bytes)`);
      memtables++;
      core.u8.fill(0xa5, at, at + bytes);
      held.push({ at, bytes });
    } else {
      const bytes = 1 + (next() % (600 * KIB));
      const at = core.exports.coreAlloc(bytes) >>> 0;
      if (at === 0) continue;
      core.u8.fill(0xa5, at, at + bytes);
      held.push({ at, bytes });
    }
  }
  assert.ok(rings > 100 && memtables > 100, `${rings} rings, ${memtables} memtables checked`);
});

test("rings and memtables formatted in the main thread while 4 workers churn the heap: each starts zero", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 * MIB });
  const { runs } = await startTogether<[number, number, number]>(core, 4, new URL("./concurrency-worker.ts", import.meta.url).href, "heapChurn",
    (worker, barrier) => ({ worker, rounds: 6_000, barrier }) satisfies HeapChurnJob);
  let seed = 0x1234567;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 4);
  let checked = 0;
  let done = false;
  void Promise.all(runs).then(() => (done = true), () => (done = true));
  const deadline = Date.now() + 20_000;
  for (let r = 0; r < 4000 && Date.now() < deadline; r++) {
    if (r % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 0)); // let `done` be seen
    if (done && checked > 200) break;
    if (next() % 2 === 0) {
      const capacity = 1 << (16 + (next() % 4));
      const at = core.exports.coreAlloc(RING_HEADER_BYTES + capacity) >>> 0;
      if (at === 0) continue;
      assert.is(core.exports.walRingFormat(at, capacity, 7, 8n, 4096), WalStatus.OK);
      assert.is(core.exports.bytesAllZero(at + RING_HEADER_BYTES, capacity), 1, `round ${r}: ring zero`);
      core.u8.fill(0xa5, at, at + RING_HEADER_BYTES + capacity);
      core.exports.coreFree(at, RING_HEADER_BYTES + capacity);
    } else {
      const bytes = 4096 + 64 * (next() % 8192);
      const at = core.exports.memtableCreate(bytes) >>> 0;
      if (at < 64) continue;
      memtableZeroed(core, at, `(round ${r})`);
      core.u8.fill(0xa5, at, at + bytes);
      core.exports.coreFree(at, bytes);
    }
    checked++;
  }
  const reports = await Promise.all(runs);
  for (const [worker, [, , bad]] of reports.entries()) assert.is(bad, 0, `worker ${worker}: its held blocks stayed intact`);
  assert.ok(checked > 100, `${checked} blocks checked`);
});

test.run();
