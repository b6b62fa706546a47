// Blocks the core's heap makes partly from the untouched region (assembly/heap.ts
// takeDirtyBytes). When no free entry fits, the last one, if it ends at the heap top, is
// extended into the untouched region: only its old bytes were ever written, and only those
// are zeroed by walRingFormat and memtableCreate (zeroing all of a reopened database's 4 MiB
// ring made its pages resident: 20-45 ms of first touches per reopen, 2026-12-07). These
// tests write garbage into such an entry first: a ring or a memtable formatted over it must
// still read all zeros where it needs them, and work.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { RING_HEADER_BYTES, WalStatus } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";

const test = suite("core fresh blocks");
const MIB = 1 << 20;
const enc = new TextEncoder();

/** A core whose heap's last free entry, ending at the top, is `dirtyBytes` of 0xa5 bytes. */
async function coreWithDirtyLastEntry(dirtyBytes: number): Promise<{ core: Core; dirtyAt: number }> {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 * MIB });
  const dirtyAt = core.exports.coreAlloc(dirtyBytes) >>> 0;
  assert.ok(dirtyAt >= 64, "the dirty block was allocated");
  core.u8.fill(0xa5, dirtyAt, dirtyAt + dirtyBytes);
  core.exports.coreFree(dirtyAt, dirtyBytes);
  return { core, dirtyAt };
}

/** Offset of the first byte in [from, to) of the core's memory that is not zero, or -1. */
function firstNonZero(core: Core, from: number, to: number): number {
  const bytes = core.u8.subarray(from, to);
  const i = bytes.findIndex((b) => b !== 0);
  return i < 0 ? -1 : from + i;
}

test("a ring that extends a dirty free entry into the untouched heap has an all-zero data area and takes records", async () => {
  const { core, dirtyAt } = await coreWithDirtyLastEntry(MIB);
  const capacity = 4 * MIB;
  const ringAt = core.exports.coreAlloc(RING_HEADER_BYTES + capacity) >>> 0;
  assert.is(ringAt, dirtyAt, "the ring took over the freed entry and extended it (the case under test)");
  assert.is(core.exports.walRingFormat(ringAt, capacity, 7, 8n, 4096), WalStatus.OK);
  const data = ringAt + RING_HEADER_BYTES;
  assert.is(firstNonZero(core, data, data + capacity), -1, "the ring's data area is all zeros");
  const ring = new RingView(core, ringAt);
  for (let i = 0; i < 100; i++) assert.ok(ring.tryAppend(new Uint8Array(2000).fill(i)) >= 0, `record ${i} appended`);
  assert.is(ring.publishedEnd, ring.reserveHead, "every record is published: no stale header stopped the publisher");
});

test("a memtable that extends a dirty free entry has a zero key index and pending ring, and finds what it holds", async () => {
  const { core, dirtyAt } = await coreWithDirtyLastEntry(256 * 1024);
  const bytes = 4 * MIB;
  const mt = Memtable.create(core, bytes);
  assert.is(mt.address, dirtyAt, "the memtable took over the freed entry and extended it (the case under test)");
  const index = core.u32[(mt.address + 44) >>> 2]; // MT_INDEX, assembly/skiplist.ts
  const slots = core.u32[(mt.address + 48) >>> 2] + 1; // MT_INDEX_MASK + 1
  assert.ok(index > mt.address && index + slots * 4 < mt.address + bytes, "the index lies in the arena");
  assert.is(firstNonZero(core, index, index + slots * 4), -1, "the key index is all zeros");
  for (let i = 0; i < 5000; i++) assert.ok(mt.insert(enc.encode(`key-${i}`), enc.encode(`value-${i}`), BigInt(i + 1)) > 0, `insert ${i}`);
  for (let i = 0; i < 5000; i += 7) {
    const found = mt.get(enc.encode(`key-${i}`), 1n << 40n);
    assert.ok(found?.value && new TextDecoder().decode(found.value) === `value-${i}`, `key-${i} found`);
  }
  assert.is(mt.get(enc.encode("key-absent"), 1n << 40n), undefined);
});

test.run();
