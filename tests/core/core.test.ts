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
  const c = await Core.create({ shards: 1, memoryBytesMax: 16 << 20, initialBytes: 4 << 20 });
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

test("heap blocks: freed blocks of one size are reused, other sizes are not confused", async () => {
  const c = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const e = c.exports;
  const a = e.coreAlloc(4096) >>> 0;
  const b = e.coreAlloc(8192) >>> 0;
  assert.ok(a >= 64 && b >= 64 && a !== b);
  assert.is(e.coreFree(a, 4096), 1);
  assert.is(e.coreFree(b, 8192), 1);
  assert.is(e.coreAlloc(8192) >>> 0, b);
  assert.is(e.coreAlloc(4096) >>> 0, a);
  const fresh = e.coreAlloc(4096) >>> 0;
  assert.ok(fresh !== a && fresh !== b);
});

test.run();
