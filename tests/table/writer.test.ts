// The writer: publication by tmp + rename (no file under the final name until the table is
// complete and synced, nothing left behind when it fails), streaming to disk, input checks
// (order, duplicates, limits) and options.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../../src/core/core.ts";
import type { TableEntry } from "../../src/table/format.ts";
import { BlockCache } from "../../src/table/block-cache.ts";
import { TableReader } from "../../src/table/table-reader.ts";
import { parentDir, TableWriter, writeTable } from "../../src/table/table-writer.ts";
import { throwsA } from "../harness/assert.ts";
import { cleanup, core, entry, plain, platform, tempDir } from "./helpers.ts";

const test = suite("table writer");

const exists = (path: string) => platform.stat(path) !== undefined;
const many = (n: number, valueBytes = 100): TableEntry[] =>
  Array.from({ length: n }, (_, i) => entry(`k${String(i).padStart(7, "0")}`, 1, i, new Uint8Array(valueBytes).fill(i & 0xff)));

test("writes <path>.tmp while open, renames to <path> on finish", () => {
  const dir = tempDir();
  const path = `${dir}/000007.sst`;
  const writer = TableWriter.create(platform, core, path);
  assert.is(writer.writePath, `${path}.tmp`);
  for (const e of many(100)) writer.add(e.key, e.ts, e.seq, e.value);
  assert.ok(exists(`${path}.tmp`));
  assert.not.ok(exists(path), "nothing under the final name before finish");
  const estimate = writer.bytesEstimate;
  const meta = writer.finish();
  assert.ok(estimate >= meta.bytes && estimate < meta.bytes + 16 * 1024, `estimate ${estimate} for ${meta.bytes} bytes`);
  assert.ok(exists(path));
  assert.not.ok(exists(`${path}.tmp`));
  assert.is(platform.stat(path)!.size, meta.bytes);
  assert.equal(platform.readdir(dir), ["000007.sst"]);
  throwsA(() => writer.add(new Uint8Array(1), 1n, 1n, undefined), Error);
  throwsA(() => writer.finish(), Error);
});

test("streams: blocks reach the file before finish, through a bounded write buffer", () => {
  const dir = tempDir();
  const path = `${dir}/t.sst`;
  const writer = TableWriter.create(platform, core, path, { writeBufferBytes: 4096 });
  const sizes: number[] = [];
  const entries = many(3000, 100); // ~350 KB
  entries.forEach((e, i) => {
    writer.add(e.key, e.ts, e.seq, e.value);
    if (i % 500 === 499) sizes.push(platform.stat(`${path}.tmp`)!.size);
  });
  assert.ok(sizes[0] > 0, "written during add");
  for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i] > sizes[i - 1], `grows: ${sizes}`);
  const last = sizes[sizes.length - 1];
  const meta = writer.finish();
  assert.ok(meta.bytes - last < 64 * 1024, "only the tail (last blocks, index, filter, footer) waits for finish");
  const reader = TableReader.open(platform, core, path, new BlockCache());
  assert.is([...reader.entries()].length, 3000);
  reader.close();
});

test("an entries iterator that throws midway leaves no file at all", () => {
  const dir = tempDir();
  const path = `${dir}/t.sst`;
  function* failing() {
    yield* many(2000, 200); // enough to have written blocks to the .tmp
    throw new Error("source failed");
  }
  const error = throwsA(() => writeTable(platform, core, path, failing(), { writeBufferBytes: 4096 }), Error);
  assert.is(error.message, "source failed");
  assert.equal(platform.readdir(dir), []);
});

test("out-of-order and duplicate entries are programming errors: thrown, file removed", () => {
  const cases: Array<[string, TableEntry[]]> = [
    ["keys descending", [entry("b", 1, 1, "x"), entry("a", 1, 2, "x")]],
    ["ts ascending within a key", [entry("a", 1, 1, "x"), entry("a", 2, 2, "x")]],
    ["the same (key, ts) twice", [entry("a", 5, 1, "x"), entry("a", 5, 2)]],
    ["an extension before its prefix", [entry("ab", 1, 1), entry("a", 1, 1)]],
    ["the empty key after another", [entry("a", 1, 1), entry("", 1, 1)]],
    ["late in a long run", [...many(500), entry("k0000001", 0, 0)]],
  ];
  for (const [what, entries] of cases) {
    const dir = tempDir();
    const error = throwsA(() => writeTable(platform, core, `${dir}/t.sst`, entries), Error, what);
    assert.match(error.message, /out of order/, what);
    assert.not.ok(error instanceof RangeError, what);
    assert.equal(platform.readdir(dir), [], `${what}: nothing left`);
  }
  // The same key with descending ts and the extension after its prefix are fine.
  const dir = tempDir();
  writeTable(platform, core, `${dir}/ok.sst`, [entry("", 9, 1), entry("a", 5, 1), entry("a", 4, 1), entry("a\0", 9, 1), entry("ab", 1, 1)]);
});

test("limits: key, value, ts and seq out of range are RangeErrors naming the limit; nothing left", () => {
  const cases: Array<[string, TableEntry, RegExp]> = [
    ["key too long", entry(new Uint8Array(KEY_BYTES_MAX + 1), 1, 1, "v"), /KEY_BYTES_MAX/],
    ["value too long", entry("k", 1, 1, new Uint8Array(VALUE_BYTES_MAX + 1)), /VALUE_BYTES_MAX/],
    ["negative ts", { key: new Uint8Array(1), ts: -1n, seq: 1n, value: undefined }, /ts must be a u64/],
    ["ts above u64", { key: new Uint8Array(1), ts: 2n ** 64n, seq: 1n, value: undefined }, /ts must be a u64/],
    ["seq above u64", { key: new Uint8Array(1), ts: 1n, seq: 2n ** 64n, value: undefined }, /seq must be a u64/],
  ];
  for (const [what, bad, message] of cases) {
    const dir = tempDir();
    // After 50 good entries (limits are checked before order), so blocks were already written.
    const error = throwsA(() => writeTable(platform, core, `${dir}/t.sst`, [...many(50), bad], { writeBufferBytes: 4096 }), RangeError, what);
    assert.match(error.message, message, what);
    assert.equal(platform.readdir(dir), [], `${what}: nothing left`);
  }
});

test("an empty table is refused; a table is never replaced", () => {
  const dir = tempDir();
  throwsA(() => writeTable(platform, core, `${dir}/empty.sst`, []), RangeError);
  assert.equal(platform.readdir(dir), []);
  writeTable(platform, core, `${dir}/t.sst`, many(3));
  const error = throwsA(() => writeTable(platform, core, `${dir}/t.sst`, many(3)), Error);
  assert.match(error.message, /already exists/);
  assert.equal(platform.readdir(dir), ["t.sst"]);
});

test("atomicRename false writes <path> directly, exclusively, and removes it on failure", () => {
  const dir = tempDir();
  const path = `${dir}/direct.sst`;
  const writer = TableWriter.create(platform, core, path, { atomicRename: false });
  assert.is(writer.writePath, path);
  writer.add(new Uint8Array([1]), 1n, 1n, undefined);
  assert.ok(exists(path));
  throwsA(() => writer.add(new Uint8Array([0]), 1n, 1n, undefined), Error);
  assert.not.ok(exists(path), "removed after the failure");
  const meta = writeTable(platform, core, path, many(10), { atomicRename: false });
  assert.is(platform.stat(path)!.size, meta.bytes);
  assert.equal(platform.readdir(dir), ["direct.sst"]);
});

test("abort removes the file; later calls throw", () => {
  const dir = tempDir();
  const writer = TableWriter.create(platform, core, `${dir}/t.sst`);
  for (const e of many(10)) writer.add(e.key, e.ts, e.seq, e.value);
  writer.abort();
  writer.abort();
  assert.equal(platform.readdir(dir), []);
  throwsA(() => writer.finish(), Error);
});

test("options are checked", () => {
  const dir = tempDir();
  const bad: object[] = [
    { blockBytesTarget: 63 }, { blockBytesTarget: 256 * 1024 + 1 }, { blockBytesTarget: 1.5 },
    { restartIntervalEntries: 0 }, { restartIntervalEntries: 129 },
    { bloomBitsPerKey: 0 }, { bloomBitsPerKey: 31 },
    { writeBufferBytes: 1024 }, { writeBufferBytes: 32 * 1024 * 1024 },
  ];
  for (const options of bad) throwsA(() => TableWriter.create(platform, core, `${dir}/t.sst`, options), RangeError, JSON.stringify(options));
  assert.equal(platform.readdir(dir), []);
});

test("blocks are cut at the target, and exceed it only for one large entry", () => {
  const entries = [...many(300, 50), entry("z-big", 1, 1, new Uint8Array(20_000))];
  const dir = tempDir();
  const meta = writeTable(platform, core, `${dir}/t.sst`, entries, { blockBytesTarget: 1024 });
  const reader = TableReader.open(platform, core, meta.path, new BlockCache());
  const blocks = reader.layout().dataBlocks;
  for (const b of blocks.slice(0, -1)) assert.ok(b.length <= 1024, `block of ${b.length}`);
  assert.ok(blocks[blocks.length - 1].length > 20_000, "the large entry has a block of its own");
  assert.equal(plain([...reader.entries({ from: entries[300].key })][0]), plain(entries[300]));
  reader.close();
});

test("parentDir", () => {
  assert.is(parentDir("/a/b/c.sst"), "/a/b");
  assert.is(parentDir("/c.sst"), "/");
  assert.is(parentDir("c.sst"), ".");
  assert.is(parentDir("a/c.sst"), "a");
});

test.after(cleanup);
test.run();
