// Hostile calls of the WebAssembly core's exports, found by the core's second review
// (2026-12-06), each seen failing before its fix in Node, Bun and Deno: hostile arguments at
// the core's surface (assembly/index.ts: "nothing here traps on bad input and nothing writes outside
// the structure it was given"; walring.ts: "LSNs stay below 2^53") and the key index's
// invariant (skiplist.ts: "a slot holds the newest linked version of one key").
// Each test is played step by step on this thread: deterministic, small, fast.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { RING_HEADER_BYTES, WalStatus } from "../../src/wal/format.ts";

const test = suite("core: hostile calls");
const CAPACITY = 64 * 1024;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** Runs `call`; a trap (RuntimeError) is returned as its message instead of thrown. */
function outcome(call: () => number): number | string {
  try {
    return call();
  } catch (err) {
    return `trap: ${(err as Error).name}: ${(err as Error).message}`;
  }
}

test("walRingFormat over the control region is refused (WAL_BAD_ARGUMENT) and the core stays initialised", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  try {
    const heapStart = core.exports.coreHeapStart() >>> 0;
    assert.is(core.exports.coreReady(), 1);
    // 4096 is CONTROL_BASE: below the heap, no block anyone was given.
    const status = outcome(() => core.exports.walRingFormat(4096, CAPACITY, 1, 8n, 4096));
    const ready = core.exports.coreReady();
    assert.ok(4096 < heapStart);
    assert.is(ready, 1, `the control region was overwritten: coreReady() is ${ready} after walRingFormat answered ${status}`);
    assert.is(status, WalStatus.BAD_ARGUMENT);
  } finally {
    core.detach();
  }
});

test("walRingFormat of a ring whose data area runs past the memory answers WAL_BAD_ARGUMENT instead of trapping", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  try {
    const end = core.memory.buffer.byteLength;
    const status = outcome(() => core.exports.walRingFormat(end - 4096, CAPACITY, 1, 8n, 4096));
    assert.is(status, WalStatus.BAD_ARGUMENT);
  } finally {
    core.detach();
  }
});

test("walRingFormat of a ring at an address that is not 8-aligned is refused, so its reserve and append cannot trap", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  try {
    const block = core.exports.coreAlloc(RING_HEADER_BYTES + CAPACITY + 64) >>> 0;
    assert.ok(block >= 64);
    const ring = block + 4; // inside a block of the heap, 4-aligned only
    const format = outcome(() => core.exports.walRingFormat(ring, CAPACITY, 1, 8n, 4096));
    if (format === WalStatus.BAD_ARGUMENT) return; // refused: nothing more to check
    // Accepted as a ring: its every use must then work (or be refused), never trap.
    const reserve = outcome(() => core.exports.walReserve(ring, 16));
    assert.is(format, WalStatus.BAD_ARGUMENT, `walRingFormat(unaligned) answered ${format}, then walReserve answered ${reserve}`);
  } finally {
    core.detach();
  }
});

test("walRingFormat refuses a start LSN at or past 2^53 (LSNs stay below 2^53): one with bit 62 made an OPEN ring refuse every reserve as CLOSED", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  try {
    const ringA = core.exports.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
    const ringB = core.exports.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
    const past53 = core.exports.walRingFormat(ringA, CAPACITY, 1, 2n ** 53n + 8n, 4096);
    const bit62 = core.exports.walRingFormat(ringB, CAPACITY, 1, 1n << 62n, 4096);
    const reserve = bit62 === WalStatus.OK ? core.exports.walReserve(ringB, 16) : -1;
    assert.is(past53, WalStatus.BAD_ARGUMENT, `start LSN 2^53 + 8 answered ${past53}`);
    assert.is(bit62, WalStatus.BAD_ARGUMENT, `start LSN 2^62 answered ${bit62}; the OPEN ring's first reserve then answered ${reserve} (4 = CLOSED)`);
  } finally {
    core.detach();
  }
});

test("a deferred version whose (key, ts) is then inserted again does not hide the key's linked versions from point lookups", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const mt = Memtable.create(core, 1 << 16);
  try {
    const key = enc.encode("key");
    mt.insert(key, enc.encode("old"), 1n, 1n); // linked, indexed
    const deferred = mt.insertDeferred(key, enc.encode("deferred"), 5n, 100n); // indexed, pending
    const again = mt.insert(key, enc.encode("linked"), 5n, 50n); // linked before the pending one
    assert.ok(deferred >= 64, "the deferred insert answered a node");
    // Every version in the list, by a walk (settles: the pending node is found a duplicate).
    const list: string[] = [];
    for (let node = mt.first(); node !== 0; node = mt.next(node)) {
      const e = mt.entry(node);
      list.push(`${dec.decode(e.value!)}@${e.ts}/${e.seq}`);
    }
    // Snapshot 10 sees exactly one version, "old" (seq 1); snapshot 60 sees seq 50 or 1.
    const at10 = mt.getVisible(key, 10);
    const at60 = mt.getVisible(key, 60);
    assert.ok(
      at10 !== undefined && dec.decode(at10.value!) === "old",
      `list ${JSON.stringify(list)} (insert again answered ${again}), but getVisible at 10 = ${at10 && dec.decode(at10.value!)}`,
    );
    assert.ok(at60 !== undefined, `list ${JSON.stringify(list)}, but getVisible at 60 found nothing`);
  } finally {
    mt.release();
    core.detach();
  }
});

test.run();
