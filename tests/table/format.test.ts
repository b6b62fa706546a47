// The on-disk format, checked against docs/table-format.md: the worked example byte for
// byte (assembled here from the grammar, independently of the writer, and pinned as hex),
// varints, the checksum binding, and the footer.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  BlockKind,
  blockChecksum,
  decodeFooter,
  encodeFooter,
  FOOTER_BYTES,
  type TableFooter,
} from "../../src/table/format.ts";
import { readVarint, varintBytes, varintEnd, writeVarint } from "../../src/table/varint.ts";
import { cleanup, core, enc, entry, plain, readAll, writeAndOpen } from "./helpers.ts";

const test = suite("table format");

const crc = (bytes: Uint8Array, c = 0) => core.crc32c(bytes, c);
const u16 = (n: number) => new Uint8Array(new Uint16Array([n]).buffer);
const u32 = (n: number) => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: number | bigint) => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
const bytesOf = (...parts: Array<Uint8Array | number[] | string>) => {
  const arrays = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p instanceof Uint8Array ? p : new Uint8Array(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) (out.set(a, at), (at += a.length));
  return out;
};
/** blockCrc(kind, offset, body) as the grammar defines it. */
const blockCrc = (kind: number, offset: number, body: Uint8Array) => crc(bytesOf(body, [kind], u64(offset)));
/** A block: body then its crc. */
const sealed = (kind: number, offset: number, body: Uint8Array) => bytesOf(body, u32(blockCrc(kind, offset, body)));

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** The 270 bytes of the worked example, pinned: a change here is a format change. */
const EXAMPLE_HEX =
  "0005040700000000000000" + "6b00000000000000" + "6170706c65" + "726564" +
  "050000" + "0300000000000000" + "6700000000000000" +
  "020503" + "0500000000000000" + "6900000000000000" + "7269636f74" + "6f6b" +
  "00000000" + "01000000" + "be8a335d" +
  "00070d" + "0500000000000000" + "0000000000000000" + "61707269636f74" + "0000000000000000" + "54000000" +
  "00000000" + "01000000" + "4c38b772" +
  "4680c20420380108" + "07000000" + "02000000" + "d51896fa" +
  "05006170706c65" + "070061707269636f74" + "e33d9265" +
  "534c5442" + "0100" + "6000" + "5400000000000000" + "32000000" + "14000000" + "8600000000000000" +
  "9a00000000000000" + "14000000" + "01000000" + "0300000000000000" + "0100000000000000" +
  "0300000000000000" + "0700000000000000" + "6b00000000000000" + "00000000" + "0fd342f0";

test("crc32c continues: crc32c(a ‖ b) = crc32c(b, crc32c(a)), and the standard check value", () => {
  assert.is(crc(enc.encode("123456789")), 0xe3069283);
  const a = enc.encode("hello, ");
  const b = enc.encode("table");
  assert.is(crc(b, crc(a)), crc(bytesOf(a, b)));
});

test("varints: sizes at every boundary, round trips, and malformed input refused", () => {
  const buf = new Uint8Array(8);
  for (const v of [0, 1, 127, 128, 16383, 16384, 2097151, 2097152, 268435455, 268435456, 0xffffffff]) {
    const end = writeVarint(buf, 0, v);
    assert.is(end, varintBytes(v), `size of ${v}`);
    assert.is(readVarint(buf, 0, 8), v);
    assert.is(varintEnd, end);
    assert.is(readVarint(buf, 0, end - 1), -1, `${v} cut short`);
  }
  assert.is(readVarint(new Uint8Array([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 0, 6), -1, "longer than 5 bytes");
  assert.is(readVarint(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x7f]), 0, 5), -1, "above 2^32-1");
});

test("the checksum binds a block to its kind and its offset", () => {
  const body = enc.encode("same bytes");
  const c = blockChecksum(core, BlockKind.DATA, 4096, body);
  assert.is(c, blockCrc(1, 4096, body));
  assert.is.not(c, blockChecksum(core, BlockKind.INDEX, 4096, body));
  assert.is.not(c, blockChecksum(core, BlockKind.DATA, 4097, body));
  assert.is.not(c, blockChecksum(core, BlockKind.DATA, 4096 + 2 ** 32, body), "the high half of the offset counts");
});

test("the worked example: the writer's 270 bytes are the grammar's, byte for byte", () => {
  const entries = [entry("apple", 7, 107, "red"), entry("apple", 3, 103), entry("apricot", 5, 105, "ok")];
  const { path, meta, reader } = writeAndOpen(entries);
  const file = readAll(path);

  const dataBody = bytesOf(
    [0, 5, 4], u64(7), u64(107), "apple", "red",
    [5, 0, 0], u64(3), u64(103),
    [2, 5, 3], u64(5), u64(105), "ricot", "ok",
    u32(0), u32(1),
  );
  const data = sealed(1, 0, dataBody);
  assert.is(data.length, 84);
  const index = sealed(2, 84, bytesOf([0, 7, 13], u64(5), u64(0), "apricot", u64(0), u32(84), u32(0), u32(1)));
  assert.is(index.length, 50);
  // Filter bits from the definition: 7 probes into 64 bits per key.
  const bits = new Uint8Array(8);
  for (const key of ["apple", "apricot"]) {
    const h1 = core.hash32(enc.encode(key), 0x5eed0001);
    const h2 = core.hash32(enc.encode(key), 0x5eed0002);
    for (let i = 0, g = h1; i < 7; i++, g = (g + h2) >>> 0) bits[(g % 64) >> 3] |= 1 << (g % 64 & 7);
  }
  const filter = sealed(3, 134, bytesOf(bits, u32(7), u32(2)));
  const metaBlock = sealed(4, 154, bytesOf(u16(5), "apple", u16(7), "apricot"));
  const footer = sealed(5, 174, bytesOf(
    "SLTB", u16(1), u16(96), u64(84), u32(50), u32(20), u64(134), u64(154), u32(20), u32(1),
    u64(3), u64(1), u64(3), u64(7), u64(107), u32(0),
  ));
  const expected = bytesOf(data, index, filter, metaBlock, footer);
  assert.is(expected.length, 270);
  assert.is(hex(file), hex(expected));
  assert.is(hex(file), EXAMPLE_HEX, "pinned bytes (docs/table-format.md)");
  assert.equal([...bits], [0x46, 0x80, 0xc2, 0x04, 0x20, 0x38, 0x01, 0x08], "filter bits as the doc lists them");

  assert.equal(reader.layout(), {
    dataBlocks: [{ offset: 0, length: 84 }],
    index: { offset: 84, length: 50 },
    filter: { offset: 134, length: 20 },
    meta: { offset: 154, length: 20 },
    footer: { offset: 174, length: 96 },
  });
  assert.equal({ ...meta, path: "" }, { ...reader.meta, path: "" });
  assert.is(meta.bytes, 270);
  assert.is(meta.entries, 3);
  assert.is(meta.tombstones, 1);
  assert.equal([meta.minTs, meta.maxTs, meta.maxSeq], [3n, 7n, 107n]);
  assert.equal([...meta.smallestKey], [...enc.encode("apple")]);
  assert.equal([...meta.largestKey], [...enc.encode("apricot")]);
  // The lookups the doc describes.
  assert.equal(plain({ key: entries[0].key, ...reader.get(enc.encode("apple"), 200n)! }), plain(entries[0]));
  assert.equal(plain({ key: entries[1].key, ...reader.get(enc.encode("apple"), 104n)! }), plain(entries[1]));
  assert.is(reader.get(enc.encode("apple"), 100n), undefined);
  reader.close();
});

test("footer: encode/decode round trip; any flipped bit, a wrong offset or a wrong layout is invalid", () => {
  const footer: TableFooter = {
    indexOffset: 5000, indexLength: 300, filterOffset: 5300, filterLength: 1270, metaOffset: 6570, metaLength: 40,
    dataBlocks: 2, entries: 77, tombstones: 3, minTs: 5n, maxTs: 2n ** 63n, maxSeq: 2n ** 64n - 1n,
  };
  const bytes = encodeFooter(core, footer, 6610);
  assert.is(bytes.length, FOOTER_BYTES);
  assert.equal(decodeFooter(core, bytes, 6610), footer);
  assert.ok("invalid" in decodeFooter(core, bytes, 6611), "the same bytes at another offset");
  for (let bit = 0; bit < FOOTER_BYTES * 8; bit++) {
    const copy = bytes.slice();
    copy[bit >> 3] ^= 1 << (bit & 7);
    assert.ok("invalid" in decodeFooter(core, copy, 6610), `bit ${bit}`);
  }
  // Validly checksummed but inconsistent footers (a writer bug) are refused too.
  const gap = encodeFooter(core, { ...footer, filterOffset: 5301 }, 6610);
  assert.match((decodeFooter(core, gap, 6610) as { invalid: string }).invalid, /does not follow/);
  const noData = encodeFooter(core, { ...footer, dataBlocks: 0 }, 6610);
  assert.match((decodeFooter(core, noData, 6610) as { invalid: string }).invalid, /data block count/);
});

test.after(cleanup);
test.run();
