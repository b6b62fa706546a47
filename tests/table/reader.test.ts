// Writer/reader round trips and the reader's API: metadata, get at snapshots (seq not
// following ts), versions spanning blocks, the largest key and value, cursor lifetimes,
// and close.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../../src/core/core.ts";
import { ClosedError } from "../../src/errors.ts";
import type { TableEntry } from "../../src/table/format.ts";
import { throwsA } from "../harness/assert.ts";
import { cleanup, enc, entry, modelGet, plain, writeAndOpen } from "./helpers.ts";

const test = suite("table reader");
const ALL = 2n ** 64n - 1n;

test("round trip: 5,000 entries with the defaults; metadata agrees between writer and reader", () => {
  const entries: TableEntry[] = [];
  for (let i = 0; i < 2500; i++) {
    const key = enc.encode(`account/${String(i).padStart(5, "0")}`);
    entries.push(entry(key, 20, 2 * i + 1, `balance=${i * 3}`), entry(key, 10, 2 * i, i % 4 === 0 ? undefined : `balance=${i}`));
  }
  const { reader, meta } = writeAndOpen(entries);
  assert.equal({ ...reader.meta }, { ...meta });
  assert.is(meta.entries, 5000);
  assert.is(meta.tombstones, 625);
  assert.equal([meta.minTs, meta.maxTs, meta.maxSeq], [10n, 20n, 4999n]);
  assert.ok(reader.dataBlocks > 30, `${reader.dataBlocks} blocks of ~4 KiB`);
  assert.equal([...reader.entries()].map(plain), entries.map(plain));
  for (let i = 0; i < entries.length; i += 7) {
    const e = entries[i];
    const got = reader.get(e.key, e.seq);
    assert.equal(plain({ key: e.key, ...got! }), plain(e), `get at its own seq ${e.seq}`);
  }
  assert.is(reader.get(enc.encode("account/99999"), ALL), undefined);
  assert.is(reader.get(enc.encode("account/"), ALL), undefined, "a prefix of keys is not a key");
  reader.close();
});

test("get returns the newest visible version, even when seq does not follow ts", () => {
  const entries = [entry("k", 9, 50, "ts9"), entry("k", 5, 10, "ts5"), entry("k", 1, 60), entry("l", 3, 1, "l")];
  const { reader } = writeAndOpen(entries);
  const at = (s: bigint) => reader.get(enc.encode("k"), s);
  assert.equal(at(ALL), { ts: 9n, seq: 50n, value: enc.encode("ts9") });
  assert.equal(at(55n), { ts: 9n, seq: 50n, value: enc.encode("ts9") });
  assert.equal(at(49n), { ts: 5n, seq: 10n, value: enc.encode("ts5") });
  assert.equal(at(10n), { ts: 5n, seq: 10n, value: enc.encode("ts5") });
  assert.is(at(9n), undefined);
  assert.is(at(-1n), undefined);
  assert.equal(at(2n ** 70n), at(ALL), "a snapshot above u64 sees everything");
  // A tombstone is a result (value undefined), not "absent".
  const onlyTomb = writeAndOpen([entry("gone", 4, 4)]).reader;
  assert.equal(onlyTomb.get(enc.encode("gone"), 4n), { ts: 4n, seq: 4n, value: undefined });
  onlyTomb.close();
  reader.close();
});

test("600 versions of one key span many blocks: get at every snapshot, seek to every version", () => {
  const entries: TableEntry[] = [entry("a", 1, 1, "before")];
  for (let ts = 600; ts >= 1; ts--) entries.push(entry("hot", ts, (ts * 7919) % 601, ts % 5 === 0 ? undefined : `v${ts}`));
  entries.push(entry("z", 1, 1, "after"));
  const { reader } = writeAndOpen(entries, { blockBytesTarget: 256, restartIntervalEntries: 4 });
  assert.ok(reader.dataBlocks > 40);
  const hot = enc.encode("hot");
  for (let s = 0n; s <= 601n; s += 3n) {
    const want = modelGet(entries, hot, s);
    const got = reader.get(hot, s);
    assert.equal(got === undefined ? undefined : plain({ key: hot, ...got }), plain(want), `snapshot ${s}`);
  }
  const c = reader.cursor();
  for (let i = 1; i <= 600; i += 13) {
    assert.ok(c.seek(hot, entries[i].ts));
    assert.equal(plain(c.entry()), plain(entries[i]));
    assert.ok(c.seekBefore(hot, entries[i].ts));
    assert.equal(plain(c.entry()), plain(entries[i - 1]));
  }
  assert.ok(c.seekBefore(hot));
  assert.equal(plain(c.entry()), plain(entries[0]));
  assert.ok(c.seek(hot, 0n) && c.compareKey(enc.encode("z")) === 0, "past the oldest version: the next key");
  reader.close();
});

test("the largest key and value, the empty key and the empty value round-trip", () => {
  const bigKey = new Uint8Array(KEY_BYTES_MAX).fill(0xee);
  const bigValue = new Uint8Array(VALUE_BYTES_MAX);
  for (let i = 0; i < bigValue.length; i++) bigValue[i] = (i * 31) & 0xff;
  const entries = [entry(new Uint8Array(0), 3, 3, new Uint8Array(0)), entry(new Uint8Array(0), 2, 2), entry("m", 1, 1, bigValue), entry(bigKey, 1, 1, bigValue), entry(bigKey, 0, 0, "")];
  const { reader, meta } = writeAndOpen(entries);
  assert.equal([...meta.smallestKey], []);
  assert.equal([...meta.largestKey], [...bigKey]);
  assert.equal([...reader.entries()].map(plain), entries.map(plain));
  assert.equal([...reader.entries({ reverse: true })].map(plain), entries.map(plain).reverse());
  assert.equal(reader.get(new Uint8Array(0), ALL), { ts: 3n, seq: 3n, value: new Uint8Array(0) });
  assert.equal(reader.get(bigKey, ALL)!.value, bigValue);
  assert.equal(reader.get(bigKey, 0n), { ts: 0n, seq: 0n, value: new Uint8Array(0) });
  throwsA(() => reader.get(new Uint8Array(KEY_BYTES_MAX + 1), ALL), RangeError);
  assert.is(reader.mayContain(new Uint8Array(KEY_BYTES_MAX + 1)), false);
  reader.close();
});

test("cursor: views and copies, ends, and the convenience iterator's bounds", () => {
  const entries = ["a", "b", "c", "d"].map((k, i) => entry(k, 1, i, `value-${k}`));
  const { reader } = writeAndOpen(entries, { blockBytesTarget: 64 });
  const c = reader.cursor();
  assert.is(c.valid, false, "not positioned yet");
  assert.is(c.next(), false);
  assert.ok(c.seek(enc.encode("b")));
  const key = c.key;
  const copy = c.entry();
  assert.equal([...key], [...enc.encode("b")]);
  assert.equal(c.value, enc.encode("value-b"));
  assert.is(c.isTombstone, false);
  assert.equal([c.ts, c.seq], [1n, 1n]);
  c.next();
  assert.equal([...copy.key], [...enc.encode("b")], "entry() copies survive moves");
  assert.is(c.seek(enc.encode("e")), false, "nothing at or after e");
  assert.is(c.valid, false);
  assert.ok(c.seekBefore(enc.encode("e")));
  assert.equal([...c.key], [...enc.encode("d")]);
  assert.is(c.seekBefore(enc.encode("a")), false, "nothing before the first key");
  assert.ok(c.seek(new Uint8Array(0)));
  assert.equal([...c.key], [...enc.encode("a")]);
  assert.equal([...reader.entries({ from: enc.encode("bb") })].map((e) => e.key[0]), [99, 100]);
  assert.equal([...reader.entries({ reverse: true, before: enc.encode("c") })].map((e) => e.key[0]), [98, 97]);
  reader.close();
});

test("after close every call throws ClosedError, cursors included", () => {
  const { reader } = writeAndOpen([entry("a", 1, 1, "x"), entry("b", 1, 1, "y")]);
  const c = reader.cursor();
  c.seekFirst();
  reader.close();
  reader.close();
  throwsA(() => reader.get(enc.encode("a"), ALL), ClosedError);
  throwsA(() => reader.mayContain(enc.encode("a")), ClosedError);
  throwsA(() => reader.cursor(), ClosedError);
  throwsA(() => c.next(), ClosedError);
  throwsA(() => c.seekFirst(), ClosedError);
});

test.after(cleanup);
test.run();
