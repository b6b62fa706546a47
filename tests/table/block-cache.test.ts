// The block cache: bounded in bytes at every step, LRU order, hit/miss/eviction counts,
// shared by several readers with separate file ids, blocks dropped on close, blocks larger
// than the bound not cached, checksums verified on disk reads only, and the buffers of
// evicted blocks read into again, but never while a cursor is on the block; cursors given
// back by ended scans are handed out again.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ClosedError, CorruptionError } from "../../src/errors.ts";
import { BlockCache, CACHE_ENTRY_OVERHEAD_BYTES, cacheCharge } from "../../src/table/block-cache.ts";
import type { TableEntry } from "../../src/table/format.ts";
import { TableReader } from "../../src/table/table-reader.ts";
import { throwsA } from "../harness/assert.ts";
import { cleanup, core, entry, platform, readAll, writeAll, writeAndOpen } from "./helpers.ts";

const test = suite("table block cache");

const entries: TableEntry[] = Array.from({ length: 2000 }, (_, i) => entry(`key-${String(i).padStart(6, "0")}`, 5, i, `value-${i}-${"x".repeat(i % 50)}`));

test("a full scan through a small cache never exceeds its bound, and counts misses and evictions", () => {
  const cache = new BlockCache({ cacheBytesMax: 16 * 1024 });
  const { reader } = writeAndOpen(entries, { blockBytesTarget: 1024 }, cache);
  const blocks = reader.dataBlocks;
  assert.ok(blocks > 50, `${blocks} blocks`);
  const c = reader.cursor();
  let steps = 0;
  for (let ok = c.seekFirst(); ok; ok = c.next()) {
    assert.ok(cache.bytes <= cache.cacheBytesMax, `${cache.bytes} bytes after step ${steps}`);
    steps++;
  }
  assert.is(steps, entries.length);
  assert.is(cache.misses, blocks, "each block read from disk once");
  assert.is(cache.hits, 0);
  assert.ok(cache.evictions >= blocks - 16, `${cache.evictions} evictions`);
  // The charge is each block's buffer plus the overhead, summed.
  const layout = reader.layout();
  const stats = cache.stats();
  assert.ok(stats.blocks > 0);
  assert.ok(stats.bytes >= stats.blocks * (CACHE_ENTRY_OVERHEAD_BYTES + Math.min(...layout.dataBlocks.map((b) => b.length))));
  // A reverse scan: still bounded.
  for (let ok = c.seekLast(); ok; ok = c.prev()) assert.ok(cache.bytes <= cache.cacheBytesMax);
  reader.close();
  assert.is(cache.bytes, 0, "closing drops the reader's blocks");
  assert.is(cache.blocks, 0);
});

test("a repeated get hits: misses stay, hits grow", () => {
  const cache = new BlockCache({ cacheBytesMax: 1 << 20 });
  const { reader } = writeAndOpen(entries, { blockBytesTarget: 1024 }, cache);
  const key = entries[777].key;
  assert.ok(reader.get(key, 10_000n) !== undefined);
  const { hits, misses } = cache.stats();
  assert.is(misses, 1);
  assert.is(hits, 0);
  for (let i = 0; i < 5; i++) assert.ok(reader.get(key, 10_000n) !== undefined);
  assert.is(cache.misses, 1);
  assert.is(cache.hits, 5);
  reader.close();
});

test("least recently used goes first", () => {
  const { reader, meta } = writeAndOpen(entries, { blockBytesTarget: 1024 });
  const lengths = reader.layout().dataBlocks.map((b) => b.length);
  reader.close();
  // Room for blocks 0, 1, 2; adding 3 needs exactly one eviction, and evicting 1 makes room.
  const charge = (i: number) => cacheCharge(lengths[i]);
  const cache = new BlockCache({ cacheBytesMax: charge(0) + charge(1) + charge(2) + Math.max(0, charge(3) - charge(1)) });
  const r = TableReader.open(platform, core, meta.path, cache);
  const read = (i: number) => r.blockAt(i);
  read(0);
  read(1);
  read(2);
  assert.equal([cache.misses, cache.hits, cache.evictions], [3, 0, 0]);
  read(0); // 0 is now the most recently used
  assert.equal([cache.misses, cache.hits], [3, 1]);
  read(3); // evicts 1, the least recently used
  assert.is(cache.evictions, 1);
  const missesBefore = cache.misses;
  read(0);
  assert.is(cache.misses, missesBefore, "0 stayed");
  read(1);
  assert.is(cache.misses, missesBefore + 1, "1 was evicted");
  r.close();
});

test("readers share one cache with separate file ids; closing one keeps the other's blocks", () => {
  const cache = new BlockCache({ cacheBytesMax: 1 << 20 });
  const a = writeAndOpen(entries, { blockBytesTarget: 1024 }, cache);
  const b = TableReader.open(platform, core, a.path, cache);
  assert.is.not(a.reader.fileId, b.fileId);
  a.reader.get(entries[0].key, 10n);
  b.get(entries[0].key, 10n);
  assert.equal([cache.misses, cache.blocks], [2, 2], "same offset, different file ids: two entries");
  a.reader.close();
  assert.is(cache.blocks, 1);
  b.get(entries[0].key, 10n);
  assert.is(cache.hits, 1);
  b.close();
  assert.is(cache.bytes, 0);
});

test("a block larger than the whole cache is read but not cached", () => {
  const cache = new BlockCache({ cacheBytesMax: 8 * 1024 });
  const big = [entry("a", 1, 1, "small"), entry("b", 1, 2, new Uint8Array(100_000).fill(7)), entry("c", 1, 3, "small")];
  const { reader } = writeAndOpen(big, { blockBytesTarget: 64 }, cache);
  for (let i = 0; i < 3; i++) assert.is(reader.get(big[1].key, 5n)!.value!.length, 100_000);
  assert.is(cache.misses, 3);
  assert.ok(cache.bytes <= cache.cacheBytesMax);
  reader.get(big[0].key, 5n);
  reader.get(big[0].key, 5n);
  assert.is(cache.hits, 1, "small blocks are cached");
  reader.close();
});

test("checksums are verified when a block comes from disk, not on a cache hit", () => {
  const cache = new BlockCache({ cacheBytesMax: 1 << 20 });
  const { reader, path } = writeAndOpen(entries, { blockBytesTarget: 1024 }, cache);
  const key = entries[0].key;
  assert.ok(reader.get(key, 10n) !== undefined);
  const bytes = readAll(path);
  bytes[10] ^= 1; // damage block 0 on disk after it was cached
  writeAll(path, bytes);
  assert.ok(reader.get(key, 10n) !== undefined, "served from the cache");
  reader.close();
  const again = TableReader.open(platform, core, path, cache);
  const error = throwsA(() => again.get(key, 10n), CorruptionError) as CorruptionError;
  assert.is(error.offset, 0);
  again.close();
});

const uniform: TableEntry[] = Array.from({ length: 2000 }, (_, i) => entry(`key-${String(i).padStart(6, "0")}`, 5, i, `value-${String(i).padStart(6, "0")}-${"x".repeat(40)}`));

test("misses read into the buffers of evicted blocks", () => {
  const cache = new BlockCache({ cacheBytesMax: 16 * 1024 });
  const { reader } = writeAndOpen(uniform, { blockBytesTarget: 1024 }, cache);
  let n = 0;
  const c = reader.cursor();
  for (let ok = c.seekFirst(); ok; ok = c.next()) assert.equal(c.entry(), uniform[n++]);
  assert.is(n, uniform.length);
  const stats = cache.stats();
  assert.ok(stats.evictions > 50, `${stats.evictions} evictions`);
  assert.ok(stats.buffersReused >= stats.evictions - 8, `${stats.buffersReused} of ${stats.misses} misses reused a buffer (${stats.evictions} evictions)`);
  assert.ok(cache.buffers.freeBytes <= 1 << 20);
  reader.close();
});

test("a block evicted while a cursor is on it keeps its bytes until the cursor leaves it", () => {
  // Room for about three blocks; every block's buffer is of one size, so any miss could
  // take the buffer of any evicted block.
  const cache = new BlockCache({ cacheBytesMax: 4 * 1024 });
  const { reader } = writeAndOpen(uniform, { blockBytesTarget: 1024 }, cache);
  const held = reader.cursor();
  assert.ok(held.seekFirst());
  assert.equal(held.entry(), uniform[0]);
  // Another cursor reads every other block: block 0 leaves the cache early on, and its
  // buffer would be the first one free.
  const other = reader.cursor();
  for (let ok = other.seek(uniform[200].key); ok; ok = other.next());
  assert.ok(cache.stats().buffersReused > 10);
  // The held cursor walks on through block 0 and into the blocks after it, unharmed.
  for (let i = 1; i < 200; i++) {
    assert.ok(held.next());
    assert.equal(held.entry(), uniform[i]);
  }
  reader.close();
});

test("a cursor given back to its reader leaves its block, and the next cursor() is that cursor, unpositioned and correct", () => {
  const cache = new BlockCache({ cacheBytesMax: 4 * 1024 });
  const { reader } = writeAndOpen(uniform, { blockBytesTarget: 1024 }, cache);
  const first = reader.cursor();
  assert.ok(first.seek(uniform[500].key));
  // Push block of uniform[500] out of the cache while `first` is on it: pinned, not freed.
  const other = reader.cursor();
  for (let ok = other.seek(uniform[1000].key); ok; ok = other.next());
  const freeBefore = cache.buffers.freeBytes;
  reader.releaseCursor(first);
  assert.ok(cache.buffers.freeBytes > freeBefore, "its evicted block's buffer is free once it left");
  const again = reader.cursor();
  assert.is(again, first);
  assert.not.ok(again.valid);
  assert.ok(again.seek(uniform[7].key));
  for (let i = 7; i < 120; i++, again.next()) assert.equal(again.entry(), uniform[i]);
  // A closed reader keeps nothing: a cursor given back then is not handed out again.
  reader.releaseCursor(other);
  reader.close();
  throwsA(() => reader.cursor(), ClosedError);
});

test("a cursor given back when the reader keeps enough spares still leaves its block, whose buffer is then free", () => {
  const cache = new BlockCache({ cacheBytesMax: 4 * 1024 });
  const { reader } = writeAndOpen(uniform, { blockBytesTarget: 1024 }, cache);
  const cursors = [0, 300, 600].map((i) => {
    const c = reader.cursor();
    assert.ok(c.seek(uniform[i].key));
    return c;
  });
  // Every block the three are on leaves the cache; each stays pinned by its cursor.
  const other = reader.cursor();
  for (let ok = other.seek(uniform[1000].key); ok; ok = other.next());
  reader.releaseCursor(cursors[0]);
  reader.releaseCursor(cursors[1]);
  const freeBefore = cache.buffers.freeBytes;
  reader.releaseCursor(cursors[2]); // beyond the spares the reader keeps
  assert.ok(cache.buffers.freeBytes > freeBefore, "the third cursor's block was unpinned and its buffer freed");
  reader.close();
});

test("options are checked", () => {
  throwsA(() => new BlockCache({ cacheBytesMax: -1 }), RangeError);
  throwsA(() => new BlockCache({ cacheBytesMax: 1.5 }), RangeError);
  assert.is(new BlockCache().cacheBytesMax, 32 * 1024 * 1024);
});

test.after(cleanup);
// Table review 2026-12-06, seen failing before the fix: a reader's point-lookup cursor stayed
// on its last block after close(), so that block's buffer never went back to the pool.
test("a closed reader gives back the buffer of the block its last get was on", () => {
  const cache = new BlockCache({ cacheBytesMax: 1 << 20 });
  const { reader } = writeAndOpen(uniform, { blockBytesTarget: 1024 }, cache);
  assert.ok(reader.get(uniform[5].key, 10n) !== undefined);
  assert.is(cache.misses, 1, "one block read");
  assert.is(cache.buffers.freeBytes, 0);
  reader.close();
  assert.ok(cache.buffers.freeBytes > 0, "the block's buffer is in the pool for the next miss");
});

test.run();
