// Core lifecycle: initialisation limits, attaching, the shared heap, thread blocks and
// the memory reserved in full at create (views made once cover every address).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { rejects } from "../harness/assert.ts";
import { compileCore, Core, CoreError, SHARDS_MAX, Status } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";

const test = suite("core");
const enc = new TextEncoder();

test("shard count and memory size are checked with RangeErrors naming the limits", async () => {
  for (const shards of [0, -1, 1.5, SHARDS_MAX + 1]) {
    await rejects(() => Core.create({ shards, memoryBytesMax: 64 << 20 }), (e: Error) => e instanceof RangeError && /shards/.test(e.message));
  }
  await rejects(() => Core.create({ shards: 1, memoryBytesMax: 1000 }), (e: Error) => e instanceof RangeError && /memoryBytesMax/.test(e.message));
  const c = await Core.create({ shards: SHARDS_MAX, memoryBytesMax: 64 << 20 });
  assert.is(c.shardCount, SHARDS_MAX);
  assert.is(c.exports.shardNextTimestamp(SHARDS_MAX - 1), 1n);
  assert.is(c.exports.shardNextTimestamp(SHARDS_MAX), 0n, "an invalid shard takes no timestamp");
});

test("attaching to a memory that holds no core fails clearly", async () => {
  const memory = new WebAssembly.Memory({ initial: 4, maximum: 16, shared: true });
  const module = await compileCore();
  await rejects(() => Core.attach(module, memory), (e: Error) => e instanceof CoreError && /no initialised shardline core/.test(e.message));
});

test("initialising the same memory twice is refused", async () => {
  const c = await Core.create({ shards: 2, memoryBytesMax: 64 << 20 });
  assert.is(c.exports.coreInit(2, 64 << 20), Status.NOT_READY);
  assert.is(c.shardCount, 2);
});

test("a second Core on the same memory shares shards and memtables but has its own thread block", async () => {
  const a = await Core.create({ shards: 4, memoryBytesMax: 64 << 20 });
  const b = await Core.attach(a.module, a.memory);
  assert.is.not(a.threadBlock, b.threadBlock);
  assert.is(a.exports.shardNextTimestamp(3), 1n);
  assert.is(b.exports.shardNextTimestamp(3), 2n);
  const mtA = Memtable.create(a, 1 << 20);
  mtA.put(0, enc.encode("k"), enc.encode("from a"));
  const mtB = new Memtable(b, mtA.address);
  assert.is(new TextDecoder().decode(mtB.get(enc.encode("k"), 100n)!.value!), "from a");
});

test("a shard record names its active memtable, whose bytes used and capacity it reports", async () => {
  const c = await Core.create({ shards: 2, memoryBytesMax: 64 << 20 });
  const e = c.exports;
  assert.is(e.shardActiveMemtable(1), 0);
  assert.is(e.shardMemtableBytesUsed(1), 0);
  assert.is(e.shardMemtableCapacity(1), 0);
  const mt = Memtable.create(c, 1 << 20);
  assert.is(e.shardSetActiveMemtable(1, mt.address), Status.OK);
  assert.is(e.shardActiveMemtable(1) >>> 0, mt.address);
  assert.is(e.shardMemtableCapacity(1) >>> 0, 1 << 20);
  const before = e.shardMemtableBytesUsed(1) >>> 0;
  mt.put(1, enc.encode("key"), new Uint8Array(100));
  assert.ok(e.shardMemtableBytesUsed(1) >>> 0 > before);
  assert.is(e.shardMemtableBytesUsed(1) >>> 0, mt.bytesUsed);
  assert.is(e.shardSetActiveMemtable(2, mt.address), Status.BAD_SHARD);
  assert.is(e.shardSubscribers(0), 0);
  assert.is(e.shardAddSubscribers(0, 1), 1);
  assert.is(e.shardAddSubscribers(0, -1), 0);
});

test("thread blocks are recycled after detach", async () => {
  const a = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const b = await Core.attach(a.module, a.memory);
  const block = b.threadBlock;
  b.detach();
  const c = await Core.attach(a.module, a.memory);
  assert.is(c.threadBlock, block);
});

test("the whole memory is reserved at create: it never grows, and views reach an arena at its end", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 256 << 20 });
  const bytes = c.memory.buffer.byteLength;
  assert.is(bytes, 256 << 20, "reserved in full");
  assert.is(c.u8.length, bytes);
  assert.is(c.i32.length * 4, bytes);
  const tables: Memtable[] = [];
  for (let i = 0; i < 28; i++) tables.push(Memtable.create(c, 8 << 20));
  assert.is(c.memory.buffer.byteLength, bytes, "the memory did not grow");
  const last = tables[tables.length - 1];
  assert.ok(last.address > 192 << 20, "the last arena lies in the last quarter");
  const key = enc.encode("k".repeat(2000));
  last.put(0, key, enc.encode("away"));
  const other = await Core.attach(c.module, c.memory);
  const found = new Memtable(other, last.address).get(key, 1n << 60n)!;
  assert.is(found.key.length, 2000);
  assert.is(new TextDecoder().decode(found.value!), "away");
});

test("attaching to a memory not reserved in full is refused", async () => {
  const module = await compileCore();
  const memory = new WebAssembly.Memory({ initial: 32, maximum: 256, shared: true });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const e = instance.exports as unknown as { coreInit(shards: number, heapLimitBytes: number): number };
  assert.is(e.coreInit(1, 256 * 65536), Status.OK);
  await rejects(() => Core.attach(module, memory), (err: Error) => err instanceof CoreError && /reserved in full/.test(err.message));
});

test("running out of memory is an error, never an overlap", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 16 << 20 });
  const made: number[] = [];
  let error: unknown;
  try {
    for (let i = 0; i < 100; i++) made.push(Memtable.create(c, 1 << 20).address);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof CoreError && error.status === Status.NO_MEMORY, String(error));
  assert.ok(made.length >= 8 && made.length < 16, `${made.length} arenas of 1 MiB in 16 MiB`);
  const sorted = [...made].sort((x, y) => x - y);
  for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i] - sorted[i - 1] >= 1 << 20, "arenas never overlap");
  assert.ok(sorted[sorted.length - 1] + (1 << 20) <= 16 << 20, "every arena lies inside the memory limit");
});

test("heap blocks: a freed block is reused, and the rest of a larger free block stays free", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = c.exports;
  const a = e.coreAlloc(4096) >>> 0;
  const b = e.coreAlloc(8192) >>> 0;
  const fence = e.coreAlloc(64) >>> 0; // in use: b does not touch the untouched heap's start
  assert.ok(a >= 64 && b === a + 4096 && fence === b + 8192, `${a} ${b} ${fence}`);
  assert.is(e.coreFree(b, 8192), 1);
  assert.is(e.coreHeapFreeBytes(), 8192n);
  assert.is(e.coreAlloc(8192) >>> 0, b, "the same size takes the freed block");
  assert.is(e.coreFree(b, 8192), 1);
  assert.is(e.coreAlloc(4096) >>> 0, b, "a smaller block takes its start");
  assert.is(e.coreAlloc(4096) >>> 0, b + 4096, "and the rest");
  assert.is(e.coreHeapFreeBytes(), 0n);
  assert.ok((e.coreAlloc(4096) >>> 0) > fence, "then fresh memory");
});

test("heap blocks: the smallest free block that fits is taken (an exact fit before a larger one)", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = c.exports;
  const big = e.coreAlloc(16384) >>> 0;
  const fence1 = e.coreAlloc(64) >>> 0;
  const small = e.coreAlloc(4096) >>> 0;
  const fence2 = e.coreAlloc(64) >>> 0;
  assert.ok(fence1 && fence2);
  assert.is(e.coreFree(big, 16384), 1);
  assert.is(e.coreFree(small, 4096), 1);
  assert.is(e.coreAlloc(4096) >>> 0, small);
  assert.is(e.coreAlloc(4096) >>> 0, big);
});

test("heap blocks: freed neighbours merge, so memory freed as small blocks serves a large one", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 32 << 20 });
  const e = c.exports;
  const KIB64 = 64 << 10;
  const blocks: number[] = [];
  for (;;) {
    const p = e.coreAlloc(KIB64) >>> 0;
    if (p === 0) break;
    blocks.push(p);
  }
  assert.ok(blocks.length > 100, `${blocks.length} blocks of 64 KiB`);
  assert.is(e.coreAlloc(1 << 20) >>> 0, 0, "full: no room for 1 MiB");
  // Free every block but the last (in a scattered order), so nothing returns to the untouched heap.
  const order = blocks.slice(0, -1).map((p, i) => ({ p, k: (i * 7919) % blocks.length })).sort((x, y) => x.k - y.k);
  for (const { p } of order) assert.is(e.coreFree(p, KIB64), 1);
  assert.is(e.coreHeapFreeBytes(), BigInt((blocks.length - 1) * KIB64));
  const large = e.coreAlloc(4 << 20) >>> 0;
  assert.ok(large !== 0, "4 MiB out of the freed 64 KiB blocks");
  assert.ok(large >= blocks[0] && large + (4 << 20) <= blocks.at(-1)!, "inside the freed run");
  const thread = e.coreAlloc((1 << 20) + 70_000) >>> 0;
  assert.ok(thread !== 0, "and a block of an odd size");
  assert.is(e.coreHeapFreeBytes(), BigInt((blocks.length - 1) * KIB64 - (4 << 20) - (((1 << 20) + 70_000 + 63) & ~63)));
});

test("heap blocks: a free block that ends at the top grows into the untouched heap for a larger block", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 16 << 20 });
  const e = c.exports;
  const fence = e.coreAlloc(64) >>> 0;
  const tail = e.coreAlloc(4 << 20) >>> 0;
  assert.ok(fence && tail, "blocks");
  assert.is(e.coreFree(tail, 4 << 20), 1);
  const room = (e.coreHeapLimit() >>> 0) - tail; // the free block and the untouched rest
  assert.ok(room > (5 << 20), `${room} bytes from the free block to the limit`);
  const big = e.coreAlloc(room - 64) >>> 0;
  assert.is(big, tail, "the block starts where the free one did");
  assert.is(e.coreHeapFreeBytes(), 0n);
  // Its first 4 MiB were written before (a reused block is not reported zeroed): a memtable
  // made there formats its index itself. Freed, it is one run again.
  assert.is(e.coreFree(big, room - 64), 1);
  assert.is(e.coreHeapFreeBytes(), BigInt(room - 64));
});

test("heap blocks: a free list broken by a stray write stops the walk: allocations and frees go on, nothing traps with the lock held", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = c.exports;
  const a = e.coreAlloc(4096) >>> 0;
  e.coreAlloc(64);
  const b = e.coreAlloc(4096) >>> 0;
  e.coreAlloc(64);
  assert.is(e.coreFree(a, 4096), 1);
  assert.is(e.coreFree(b, 4096), 1);
  // A use-after-free write over a's list words: its next points far outside the memory.
  c.u32[a >>> 2] = 0xfffff000;
  c.u32[(a + 4) >>> 2] = 4096;
  const fresh = e.coreAlloc(8192) >>> 0;
  assert.ok(fresh > b, "the walk stopped at the broken entry: a fresh block");
  assert.is(e.coreAlloc(4096) >>> 0, a, "the entries before the break still serve");
  const c2 = e.coreAlloc(64) >>> 0;
  assert.ok(c2 > 0, "and allocation goes on");
  assert.is(e.coreFree(c2, 64), 0, "a free that would walk past the break is refused, nothing changed");
});

test("heap blocks: a block freed twice, a misaligned or a foreign address is refused and changes nothing", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = c.exports;
  const a = e.coreAlloc(4096) >>> 0;
  const b = e.coreAlloc(4096) >>> 0;
  e.coreAlloc(64);
  assert.is(e.coreFree(a, 4096), 1);
  assert.is(e.coreFree(a, 4096), 0, "freed twice");
  assert.is(e.coreFree(a + 1024, 1024), 0, "inside a free block");
  assert.is(e.coreFree(b + 8, 64), 0, "misaligned");
  assert.is(e.coreFree(e.coreHeapTop() + 4096, 64), 0, "above the heap's top");
  assert.is(e.coreFree(0, 64), 0, "below the heap: address 0");
  assert.is(e.coreFree(4096, 64), 0, "below the heap: the control header");
  assert.is(e.coreReady(), 1, "the control header is intact");
  assert.is(e.coreHeapFreeBytes(), 4096n);
  assert.is(e.coreFree(b, 4096), 1);
  assert.is(e.coreHeapFreeBytes(), 8192n, "a and b merged");
});

test.run();
