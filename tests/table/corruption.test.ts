// Corruption: every single flipped bit of the worked-example table, sampled flips in every
// block of a larger table (data, index, filter, meta, footer), truncation at every length,
// trailing garbage, and a block moved to another offset. Each must be a CorruptionError
// naming the file and the offset of the block that holds the bad byte. And a data block that
// disagrees with its index entry, checksums valid (a writer's bug): reading the block says
// so (review, 2026-12-05: it was read as valid).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CorruptionError } from "../../src/errors.ts";
import { BlockCache } from "../../src/table/block-cache.ts";
import { BlockKind, blockChecksum, type TableEntry } from "../../src/table/format.ts";
import { TableReader, type TableLayout } from "../../src/table/table-reader.ts";
import { writeTable } from "../../src/table/table-writer.ts";
import { cleanup, core, enc, entry, platform, readAll, tableOrder, tempDir, writeAll, writeAndOpen } from "./helpers.ts";

const test = suite("table corruption");

/** Opens `path` and reads every entry and every key with get; returns the error thrown, if any. */
function readEverything(path: string, keys: Uint8Array[]): unknown {
  let reader: TableReader | undefined;
  try {
    reader = TableReader.open(platform, core, path, new BlockCache());
    for (const _ of reader.entries()) {
      // read every block
    }
    for (const key of keys) reader.get(key, 2n ** 64n - 1n);
    return undefined;
  } catch (error) {
    return error;
  } finally {
    reader?.close();
  }
}

function expectCorruption(error: unknown, path: string, offset: number, what: string): void {
  assert.ok(error instanceof CorruptionError, `${what}: expected a CorruptionError, got ${error}`);
  const e = error as CorruptionError;
  assert.is(e.code, "SHARDLINE_CORRUPTION");
  assert.is(e.file, path, `${what}: file`);
  assert.is(e.offset, offset, `${what}: offset (${e.message})`);
  assert.ok(e.message.includes(path), `${what}: the message names the file`);
}

/** Offset of the block holding byte `at`. */
function blockOf(layout: TableLayout, at: number): { offset: number; kind: string } {
  for (const b of layout.dataBlocks) if (at >= b.offset && at < b.offset + b.length) return { offset: b.offset, kind: "data" };
  for (const kind of ["index", "filter", "meta", "footer"] as const) {
    const b = layout[kind];
    if (at >= b.offset && at < b.offset + b.length) return { offset: b.offset, kind };
  }
  throw new Error(`byte ${at} is in no block`);
}

const example = [entry("apple", 7, 107, "red"), entry("apple", 3, 103), entry("apricot", 5, 105, "ok")];

test("every single bit flip in the worked example is detected, naming the block it is in", () => {
  const { path, reader } = writeAndOpen(example);
  const layout = reader.layout();
  reader.close();
  const good = readAll(path);
  const keys = example.map((e) => e.key);
  assert.is(readEverything(path, keys), undefined, "the intact file reads");
  const flipped = `${tempDir()}/flipped.sst`;
  const kinds = new Set<string>();
  for (let bit = 0; bit < good.length * 8; bit++) {
    const bad = good.slice();
    bad[bit >> 3] ^= 1 << (bit & 7);
    writeAll(flipped, bad);
    const block = blockOf(layout, bit >> 3);
    kinds.add(block.kind);
    expectCorruption(readEverything(flipped, keys), flipped, block.offset, `bit ${bit} (byte ${bit >> 3}, ${block.kind})`);
  }
  assert.equal([...kinds].sort(), ["data", "filter", "footer", "index", "meta"]);
});

/** A table of many blocks: 600 keys with 1-3 versions, some tombstones, values 0-300 bytes. */
function bigTable(): TableEntry[] {
  const out: TableEntry[] = [];
  for (let i = 0; i < 600; i++) {
    const key = enc.encode(`user/${String(i * 7919 % 100000).padStart(6, "0")}/profile`);
    for (let v = 0; v < 1 + (i % 3); v++) {
      out.push({ key, ts: BigInt(1000 - v), seq: BigInt(i * 3 + v), value: i % 11 === 0 && v === 0 ? undefined : new Uint8Array((i * 37) % 300).fill(i & 0xff) });
    }
  }
  return tableOrder(out);
}

test("flips in every block of a larger table: the first, last and some middle bits of each", () => {
  const entries = bigTable();
  const { path, reader } = writeAndOpen(entries, { blockBytesTarget: 1024 });
  const layout = reader.layout();
  reader.close();
  assert.ok(layout.dataBlocks.length > 50, `${layout.dataBlocks.length} data blocks`);
  assert.ok(layout.index.length > 2048, `index of ${layout.index.length} bytes`);
  const good = readAll(path);
  const keys = entries.filter((_, i) => i % 5 === 0).map((e) => e.key);
  const flipped = `${tempDir()}/flipped.sst`;
  const blocks = [...layout.dataBlocks, layout.index, layout.filter, layout.meta, layout.footer];
  let cases = 0;
  for (const b of blocks) {
    const bits = [0, 7, b.length * 8 - 1, b.length * 4 + 3, (b.length * 8 * 0.37) | 0, (b.length - 4) * 8 + 5];
    for (const bit of bits) {
      const at = b.offset * 8 + bit;
      const bad = good.slice();
      bad[at >> 3] ^= 1 << (at & 7);
      writeAll(flipped, bad);
      expectCorruption(readEverything(flipped, keys), flipped, b.offset, `block at ${b.offset}, bit ${bit}`);
      cases++;
    }
  }
  assert.ok(cases > 300);
});

test("a bad data block is found by the read that needs it: get, seek and iteration alike", () => {
  const entries = bigTable();
  const { path, reader } = writeAndOpen(entries, { blockBytesTarget: 1024 });
  const layout = reader.layout();
  reader.close();
  const victim = layout.dataBlocks[10];
  const bad = readAll(path);
  bad[victim.offset + 20] ^= 0x10;
  const flipped = `${tempDir()}/flipped.sst`;
  writeAll(flipped, bad);
  const r = TableReader.open(platform, core, flipped, new BlockCache());
  // A key whose block is intact still reads.
  assert.ok(r.get(entries[0].key, 2n ** 63n) !== undefined);
  // The first key of the bad block: the index names block 10.
  let inVictim: Uint8Array | undefined;
  for (let i = 0; i < entries.length; i++) {
    const key = entries[i].key;
    const block = r.index.findBlock(key, 0xffffffff, 0xffffffff);
    if (block === 10) {
      inVictim = key;
      break;
    }
  }
  assert.ok(inVictim !== undefined);
  const cases: Array<[string, () => unknown]> = [
    ["get", () => r.get(inVictim!, 2n ** 63n)],
    ["seek", () => r.cursor().seek(inVictim!)],
    ["seekBefore from the next block", () => r.cursor().seekBefore(r.index.lastKey(10), 0n)],
    ["forward scan", () => [...r.entries()]],
    ["reverse scan", () => [...r.entries({ reverse: true })]],
  ];
  for (const [what, fn] of cases) {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expectCorruption(error, flipped, victim.offset, what);
  }
  r.close();
});

test("a truncated file is detected at open, at every length", () => {
  const { path, meta, reader } = writeAndOpen(example);
  reader.close();
  const good = readAll(path);
  const cut = `${tempDir()}/cut.sst`;
  for (let length = 0; length < meta.bytes; length++) {
    writeAll(cut, good.subarray(0, length));
    expectCorruption(readEverything(cut, []), cut, length < 96 ? 0 : length - 96, `truncated to ${length}`);
  }
});

test("a truncated large table, and one with bytes appended, are detected at open", () => {
  const { path, meta, reader } = writeAndOpen(bigTable(), { blockBytesTarget: 1024 });
  const layout = reader.layout();
  reader.close();
  const good = readAll(path);
  const cut = `${tempDir()}/cut.sst`;
  const lengths = new Set<number>([1, 95, 96, 97, meta.bytes - 1, meta.bytes - 96, layout.index.offset, layout.filter.offset + 1]);
  for (const b of layout.dataBlocks.slice(0, 20)) (lengths.add(b.offset), lengths.add(b.offset + b.length - 1));
  for (const length of lengths) {
    writeAll(cut, good.subarray(0, length));
    expectCorruption(readEverything(cut, []), cut, length < 96 ? 0 : length - 96, `truncated to ${length}`);
  }
  const longer = new Uint8Array(good.length + 3);
  longer.set(good);
  writeAll(cut, longer);
  expectCorruption(readEverything(cut, []), cut, longer.length - 96, "three bytes appended");
});

test("a block copied to another offset fails its checksum there (the offset is bound into it)", () => {
  // Equal-sized entries make equal-sized blocks, so two can be swapped without changing the layout.
  const entries = Array.from({ length: 200 }, (_, i) => entry(`key-${String(i).padStart(5, "0")}`, 1, i, "v".repeat(40)));
  const { path, reader } = writeAndOpen(entries, { blockBytesTarget: 512 });
  const blocks = reader.layout().dataBlocks;
  reader.close();
  const pairs = blocks.flatMap((x, i) => blocks.slice(i + 1).filter((y) => y.length === x.length).map((y) => [x, y]));
  assert.ok(pairs.length > 0, `no two blocks of equal length among ${blocks.map((x) => x.length)}`);
  const [a, b] = pairs[0];
  const bytes = readAll(path);
  const blockA = bytes.slice(a.offset, a.offset + a.length);
  bytes.copyWithin(a.offset, b.offset, b.offset + b.length);
  bytes.set(blockA, b.offset);
  const swapped = `${tempDir()}/swapped.sst`;
  writeAll(swapped, bytes);
  expectCorruption(readEverything(swapped, []), swapped, a.offset, "swapped blocks");
});

/** Rewrites the checksum of the block at [offset, offset + length) for `kind`, as a buggy writer would have. */
function reseal(bytes: Uint8Array, kind: number, offset: number, length: number): void {
  const end = offset + length - 4;
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(end, blockChecksum(core, kind, offset, bytes.subarray(offset, end)), true);
}

test("blocks with valid checksums but malformed contents (a writer bug) are refused, not misread", () => {
  const { path, reader } = writeAndOpen(example);
  reader.close();
  const good = readAll(path);
  const bad = `${tempDir()}/bad.sst`;
  // Data block 0 is bytes 0..83 (docs/table-format.md): entry 1 starts at 27, entry 2 at 46,
  // the restart array at 72. Index: its entry's handle length is at 118.
  const cases: Array<[string, (b: Uint8Array) => void, number, RegExp]> = [
    ["shared longer than the previous key", (b) => ((b[27] = 9), reseal(b, 1, 0, 84)), 0, /shares 9 key bytes/],
    ["shared > 0 at a restart", (b) => ((b[0] = 1), reseal(b, 1, 0, 84)), 0, /shares 1 key bytes|malformed/],
    ["an entry running past the entries", (b) => ((b[48] = 0x7f), reseal(b, 1, 0, 84)), 0, /runs past/],
    ["a restart point out of range", (b) => ((b[72] = 200), reseal(b, 1, 0, 84)), 0, /restart point/],
    ["a restart count that does not fit", (b) => ((b[76] = 99), reseal(b, 1, 0, 84)), 0, /restart count/],
    ["an index handle with the wrong length", (b) => ((b[118] = 83), reseal(b, 2, 84, 50)), 84, /data blocks end at|starts at/],
    ["an index entry that is a tombstone", (b) => ((b[86] = 0), reseal(b, 2, 84, 50)), 84, /not a block handle|malformed|runs past|ends at/],
    ["filter probes out of range", (b) => ((b[142] = 31), reseal(b, 3, 134, 20)), 134, /probes/],
    ["meta largest key not the index's", (b) => ((b[168] = 0x75), reseal(b, 4, 154, 20)), 154, /largest key/],
  ];
  for (const [what, damage, offset, message] of cases) {
    const bytes = good.slice();
    damage(bytes);
    writeAll(bad, bytes);
    const error = readEverything(bad, example.map((e) => e.key));
    expectCorruption(error, bad, offset, what);
    assert.match((error as Error).message, message, what);
  }
});


/** Where `needle` first occurs in bytes[from, to), or -1. */
function find(bytes: Uint8Array, needle: Uint8Array, from: number, to: number): number {
  outer: for (let i = from; i + needle.length <= to; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

test("a data block whose last entry is not the one its index entry names (checksums valid): reading the block is a CorruptionError, so doctor and scans see it", () => {
  // One entry per block: block 0 holds k3, block 1 holds k5. The index entry of block 0
  // is rewritten to k2 (same length, still in order) and resealed, as a writer bug would
  // leave it. docs/table-format.md (Corruption) lists "a block that disagrees with the
  // index" as a CorruptionError of the data block: before the fix the block was read as
  // valid (a scan, doctor's check of every block), and get("k3") still goes to block 1 and
  // answers "not in this table" (the index sends it past block 0, which it never reads).
  const dir = tempDir();
  const path = `${dir}/000001.sst`;
  const value = new Uint8Array(40).fill(7);
  writeTable(platform, core, path, [entry("k3", 3, 3, value), entry("k5", 5, 5, value)], { blockBytesTarget: 64 });
  const probe = TableReader.open(platform, core, path, new BlockCache());
  const layout = probe.layout();
  probe.close();
  assert.is(layout.dataBlocks.length, 2, "one entry per data block");
  const bytes = readAll(path);
  const at = find(bytes, enc.encode("k3"), layout.index.offset, layout.index.offset + layout.index.length);
  assert.ok(at > 0, "the index holds block 0's last key");
  bytes[at + 1] = "2".charCodeAt(0);
  reseal(bytes, BlockKind.INDEX, layout.index.offset, layout.index.length);
  const bad = `${dir}/000002.sst`;
  writeAll(bad, bytes);

  const reader = TableReader.open(platform, core, bad, new BlockCache());
  try {
    let error: unknown;
    try {
      reader.blockAt(0);
    } catch (e) {
      error = e;
    }
    assert.instance(error, CorruptionError, `block 0 read as valid: ${error}`);
    assert.is((error as CorruptionError).file, bad);
  } finally {
    reader.close();
  }
});

test.after(cleanup);
test.run();
