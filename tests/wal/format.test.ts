// The on-disk format, checked against docs/wal-format.md: the worked example byte for
// byte, segment headers, names, and the LSN binding of record checksums.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { decodeSegmentHeader, encodeSegmentHeader, parseSegmentFileName, recordBytes, segmentFileName } from "../../src/wal/format.ts";
import { cleanup, enc, openLog, readAll, segmentPaths, tempDir } from "./helpers.ts";

const test = suite("wal format");
const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });

/** crc32c as the doc defines it, via the core (checked against vectors in tests/core). */
const crc = (bytes: Uint8Array) => core.crc32c(bytes);
function u32(n: number): Uint8Array {
  return new Uint8Array(new Uint32Array([n]).buffer);
}
function u64(n: number): Uint8Array {
  return new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
}
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), (at += p.length));
  return out;
};

/** A record built by hand from the grammar, independent of the writer. */
function record(salt: number, lsn: number, payload: Uint8Array): Uint8Array {
  const word = (1 << 24) | payload.length;
  const payloadCrc = crc(payload);
  const headerCrc = crc(concat(u32(salt), u64(lsn), u32(word), u32(payloadCrc)));
  const bytes = new Uint8Array(recordBytes(payload.length));
  bytes.set(concat(u32(headerCrc), u32(word), u32(payloadCrc), payload));
  return bytes;
}

test("segment file names carry the number (8 digits) and the first LSN (16 hex digits)", () => {
  assert.is(segmentFileName(1, 0), "00000001-0000000000000000.wal");
  assert.is(segmentFileName(42, 0x1f400), "00000042-000000000001f400.wal");
  assert.equal(parseSegmentFileName("00000042-000000000001f400.wal"), { segmentNumber: 42, firstLsn: 0x1f400 });
  assert.is(parseSegmentFileName("00000042-000000000001f400.wal.tmp"), undefined);
  assert.is(parseSegmentFileName("LOCK"), undefined);
});

test("segment header: 48 bytes as the grammar says, and a flipped bit anywhere invalidates it", () => {
  const header = { segmentNumber: 7, firstLsn: 4096, salt: 0x1234abcd, syncBytesMax: 8 << 20, createdUnixMs: 1_700_000_000_000 };
  const bytes = encodeSegmentHeader(core, header);
  assert.is(bytes.length, 48);
  assert.equal([...bytes.subarray(0, 8)], [0x53, 0x4c, 0x57, 0x4c, 1, 0, 48, 0]);
  assert.equal(decodeSegmentHeader(core, bytes), header);
  const view = new DataView(bytes.buffer);
  assert.is(view.getUint32(44, true), crc(bytes.subarray(0, 44)));
  for (let bit = 0; bit < 48 * 8; bit++) {
    const copy = bytes.slice();
    copy[bit >> 3] ^= 1 << (bit & 7);
    assert.ok("invalid" in decodeSegmentHeader(core, copy), `bit ${bit}`);
  }
  assert.ok("invalid" in decodeSegmentHeader(core, bytes.subarray(0, 47)));
});

test("the worked example: a new log appending 'hello' and 'log!' writes exactly these bytes", async () => {
  const dir = tempDir();
  const log = await openLog(dir, { segmentBytesMax: 1 << 20, bufferBytes: 8 << 20 });
  assert.is(await log.append("hello"), 0n);
  assert.is(await log.append("log!"), 24n);
  assert.is(log.currentLsn, 40n);
  await log.close();
  const [path] = segmentPaths(dir);
  assert.ok(path.endsWith("/00000001-0000000000000000.wal"));
  const file = readAll(path);
  const header = decodeSegmentHeader(core, file.subarray(0, 48));
  assert.not.ok("invalid" in header);
  const salt = (header as { salt: number }).salt;
  assert.equal([...file.subarray(0, 32)], [
    0x53, 0x4c, 0x57, 0x4c, 1, 0, 48, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ...u32(salt), 0x00, 0x00, 0x80, 0x00,
  ]);
  const expected = concat(record(salt, 0, enc.encode("hello")), record(salt, 24, enc.encode("log!")));
  assert.is(expected.length, 40);
  assert.equal([...file.subarray(48, 88)], [...expected]);
  assert.equal([...file.subarray(52, 56)], [5, 0, 0, 1], "word: type 1, length 5");
  assert.equal([...file.subarray(65, 72)], [0, 0, 0, 0, 0, 0, 0], "seven bytes of padding: 12 + 5 = 17, up to 24");
  assert.ok(file.subarray(88).every((b) => b === 0), "zero tail after the last record");
});

test("a record's checksum binds it to its LSN: the same bytes one place later are invalid", async () => {
  const salt = 99;
  const a = record(salt, 0, enc.encode("hello"));
  const moved = record(salt, 24, enc.encode("hello"));
  assert.not.equal([...a.subarray(0, 4)], [...moved.subarray(0, 4)], "header checksums differ by LSN");
  assert.equal([...a.subarray(4)], [...moved.subarray(4)], "everything else is equal");
  const otherSalt = record(salt + 1, 0, enc.encode("hello"));
  assert.not.equal([...a.subarray(0, 4)], [...otherSalt.subarray(0, 4)], "and by salt");
});

test.after(cleanup);
test.run();
