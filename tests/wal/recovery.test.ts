// Recovery, one test per row of the decision table in docs/wal-format.md (R1-R8), plus the
// exhaustive cases: the last record cut at every byte offset, every single bit flipped in
// the last record, zero-filled tails, and stale records from an older segment or log.
// From the review of the WAL, second pass (2026-12-06), seen failing before the fix: a record
// with a valid header and another type (a newer format) at the end of the last segment was
// cut as a torn tail, and a segment header off the 8-byte LSN grid failed as an internal
// RangeError, not a CorruptionError.
// End-to-end cases go through openLog; the exhaustive loops call recoverLog directly, on
// a fresh copy of the same files each time.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { CorruptionError } from "../../src/errors.ts";
import { encodeSegmentHeader, recordBytes, SEGMENT_HEADER_BYTES, segmentFileName } from "../../src/wal/format.ts";
import { recoverLog } from "../../src/wal/recovery.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, collect, dec, enc, openLog, openLogRefusal, platform, readAll, segmentPaths, tempDir, writeAll } from "./helpers.ts";

const test = suite("wal recovery");
const core = await Core.create({ shards: 1, memoryBytesMax: 256 << 20 });
/** Small segments (4 KiB) rotate often; the 64 KiB buffer makes syncBytesMax 64 KiB. */
const SMALL = { segmentBytesMax: 4096, bufferBytes: 64 * 1024 };

/** A closed log in a new dir holding `records`; returns the dir and their LSNs. */
async function makeLog(records: string[], options: object = SMALL) {
  const dir = tempDir();
  const log = await openLog(dir, options);
  const lsns = await log.append(records);
  await log.close();
  return { dir, lsns };
}

const texts = (n: number, prefix = "rec") => Array.from({ length: n }, (_, i) => `${prefix}-${i}-${"x".repeat(i % 17)}`);

/** Copies every file of a log dir into a fresh dir (to run recovery on the same bytes again). */
function copyDir(dir: string): string {
  const to = tempDir();
  for (const name of platform.readdir(dir)) {
    if (name.endsWith(".wal")) writeAll(`${to}/${name}`, readAll(`${dir}/${name}`));
  }
  return to;
}

/** Byte offset in the last segment where the data ends (first zero word after the records). */
function dataEnd(bytes: Uint8Array): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  let at = SEGMENT_HEADER_BYTES;
  while (at + 12 <= bytes.length && view.getUint32(at + 4, true) !== 0) at += recordBytes(view.getUint32(at + 4, true) & 0xffffff);
  return at;
}

test("R1: an empty directory is a new log at LSN 0", async () => {
  const log = await openLog(tempDir(), SMALL);
  assert.equal(log.recovery!.decisions, ["R1"]);
  assert.is(log.currentLsn, 0n);
  await log.close();
});

test("R0: a segment whose creation stopped before its rename (name.creating) is deleted; the log goes on at its end", async () => {
  const { dir, lsns } = await makeLog(texts(300));
  const paths = segmentPaths(dir);
  const name = paths[paths.length - 1].split("/").pop()!;
  const next = `${String(Number(name.slice(0, 8)) + 1).padStart(8, "0")}-${(Number(lsns[lsns.length - 1]) + 1000).toString(16).padStart(16, "0")}.wal.creating`;
  writeAll(`${dir}/${next}`, readAll(paths[0]).subarray(0, 20)); // a torn header, as a power loss leaves it
  writeAll(`${dir}/notes.creating`, enc.encode("not a segment's: kept"));
  const log = await openLog(dir, SMALL);
  assert.equal(log.recovery!.decisions, ["R0", "R6"]);
  assert.equal(platform.readdir(dir).filter((n) => n.endsWith(".creating")), ["notes.creating"]);
  assert.is(segmentPaths(dir).length, paths.length);
  assert.is(await log.append("next"), lsns[lsns.length - 1] + BigInt(recordBytes(enc.encode(texts(300)[299]).length)));
  await log.close();
});

test("R2: a last segment that was being created (torn header, zeros after) is deleted", async () => {
  const { dir, lsns } = await makeLog(texts(300));
  const paths = segmentPaths(dir);
  assert.ok(paths.length >= 3, `${paths.length} segments`);
  const last = readAll(paths[paths.length - 1]);
  // The next segment's file, created with a torn header: the first 20 header bytes, then zeros.
  const name = paths[paths.length - 1].split("/").pop()!;
  const number = Number(name.slice(0, 8)) + 1;
  const next = `${dir}/${String(number).padStart(8, "0")}-${(Number(lsns[lsns.length - 1]) + 1000).toString(16).padStart(16, "0")}.wal`;
  const torn = new Uint8Array(4096);
  torn.set(last.subarray(0, 20));
  writeAll(next, torn);
  const log = await openLog(dir, SMALL);
  assert.equal(log.recovery!.decisions, ["R2", "R6"]);
  assert.is(segmentPaths(dir).length, paths.length);
  assert.equal((await collect(log)).map((r) => r.text), texts(300));
  await log.close();
});

test("R3: the only segment, torn at creation, is deleted and the log starts anew", async () => {
  const dir = tempDir();
  writeAll(`${dir}/00000001-0000000000000000.wal`, new Uint8Array(4096));
  const log = await openLog(dir, SMALL);
  assert.equal(log.recovery!.decisions, ["R3"]);
  assert.is(log.currentLsn, 0n);
  assert.is(await log.append("fresh"), 0n);
  await log.close();
});

test("R4: a segment whose header is corrupt, with data after it, is corruption (salvage keeps the segments before it)", async () => {
  const { dir } = await makeLog(texts(300));
  const paths = segmentPaths(dir);
  const middle = readAll(paths[1]);
  middle[10] ^= 0x40;
  writeAll(paths[1], middle);
  const salvageCopy = copyDir(dir);
  const error = await rejects(() => openLog(dir, SMALL), CorruptionError);
  assert.ok(error.message.includes(paths[1]), error.message);
  assert.is((error as CorruptionError).file, paths[1]);
  const log = await openLog(salvageCopy, { ...SMALL, salvage: true });
  assert.equal(log.recovery!.decisions, ["R4"]);
  assert.is(log.recovery!.corruptSegments.length, paths.length - 1);
  assert.is(segmentPaths(salvageCopy).length, 1);
  const kept = await collect(log);
  assert.ok(kept.length > 0 && kept.length < 300);
  assert.equal(kept.map((r) => r.text), texts(300).slice(0, kept.length));
  await log.append("after salvage");
  await log.close();
});

test("R4 under salvage of the first segment: the log begins again past every LSN it had handed out (LSNs only grow)", async () => {
  const { dir, lsns } = await makeLog(texts(300));
  const paths = segmentPaths(dir);
  const first = readAll(paths[0]);
  first[10] ^= 0x40; // its header
  writeAll(paths[0], first);
  const log = await openLog(dir, { ...SMALL, salvage: true });
  try {
    assert.equal(log.recovery!.decisions, ["R4"]);
    assert.is(log.recovery!.corruptSegments.length, paths.length);
    const next = await log.append("after salvage");
    assert.ok(next > lsns[lsns.length - 1], `the first record after the salvage took LSN ${next}, at or below the last one handed out before (${lsns[lsns.length - 1]})`);
  } finally {
    await log.close();
  }
});

test("R4, not R2: the last segment's header corrupt with records after it is corruption, never deleted as a torn creation", async () => {
  const { dir } = await makeLog(texts(300));
  const paths = segmentPaths(dir);
  const last = paths[paths.length - 1];
  const bytes = readAll(last);
  bytes[20] ^= 0x01;
  writeAll(last, bytes);
  const error = (await rejects(() => openLog(dir, SMALL), CorruptionError)) as CorruptionError;
  assert.is(error.file, last);
  assert.is(segmentPaths(dir).length, paths.length, "nothing deleted");
});

test("R4: a missing middle segment, a foreign segment or a renamed one is corruption", async () => {
  const gap = await makeLog(texts(300));
  platform.unlink(segmentPaths(gap.dir)[1]);
  await rejects(() => openLog(gap.dir, SMALL), (e) => e instanceof CorruptionError && /missing/.test(e.message));

  const mine = await makeLog(texts(300));
  const other = await makeLog(texts(300, "other"));
  const target = segmentPaths(mine.dir)[1];
  writeAll(target, readAll(segmentPaths(other.dir)[1]));
  await rejects(() => openLog(mine.dir, SMALL), (e) => e instanceof CorruptionError && /another log/.test(e.message));

  const renamed = await makeLog(texts(300));
  const [first] = segmentPaths(renamed.dir);
  platform.rename(first, first.replace("00000001-", "00000000-"));
  await rejects(() => openLog(renamed.dir, SMALL), CorruptionError);
});

test("R5: a bad record in a segment that is not the last is corruption naming segment and offset (salvage cuts there)", async () => {
  const { dir } = await makeLog(texts(300));
  const paths = segmentPaths(dir);
  const bytes = readAll(paths[0]);
  const offset = SEGMENT_HEADER_BYTES + recordBytes(enc.encode(texts(1)[0]).length) + 14; // inside record 2's payload
  bytes[offset] ^= 1;
  writeAll(paths[0], bytes);
  const salvageCopy = copyDir(dir);
  const error = (await rejects(() => openLog(dir, SMALL), CorruptionError)) as CorruptionError;
  assert.is(error.file, paths[0]);
  assert.is(error.offset, SEGMENT_HEADER_BYTES + recordBytes(enc.encode(texts(1)[0]).length));
  const log = await openLog(salvageCopy, { ...SMALL, salvage: true });
  assert.equal(log.recovery!.decisions, ["R5"]);
  assert.equal((await collect(log)).map((r) => r.text), texts(1));
  await log.close();
});

test("R6: a clean log reopens without cutting anything, keeping its zero tail", async () => {
  const { dir, lsns } = await makeLog(texts(50), { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 });
  const [path] = segmentPaths(dir);
  const size = readAll(path).length;
  const log = await openLog(dir, SMALL);
  assert.equal(log.recovery!.decisions, ["R6"]);
  assert.is(log.recovery!.bytesCut, 0);
  assert.is(readAll(path).length, size, "zero tail kept");
  assert.is(log.currentLsn, lsns[49] + BigInt(recordBytes(enc.encode(texts(50)[49]).length)));
  await log.close();
});

test("R7: the last record cut at every byte offset is a torn tail: cut, fsynced, and the log continues there", async () => {
  const records = texts(20);
  const { dir, lsns } = await makeLog(records, { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 });
  const [path] = segmentPaths(dir);
  const pristine = readAll(path);
  const lastStart = SEGMENT_HEADER_BYTES + Number(lsns[19]);
  const lastEnd = dataEnd(pristine);
  for (let cut = lastStart; cut < lastEnd; cut++) {
    const copy = tempDir();
    writeAll(`${copy}/${path.split("/").pop()}`, pristine.subarray(0, cut));
    const r = recoverLog(core, platform, copy);
    // The header checksum's first bytes are zero for one log in 256 (the salt is random):
    // cut there, what is left of the record is all zeros, a clean end that is kept (R6).
    const zeroTail = pristine.subarray(lastStart, cut).every((b) => b === 0);
    assert.equal(r.report.decisions, [zeroTail ? "R6" : "R7"], `cut at ${cut}`);
    assert.is(r.report.records, 19, `cut at ${cut}`);
    assert.is(r.nextLsn, Number(lsns[19]), `cut at ${cut}`);
    assert.is(readAll(`${copy}/${path.split("/").pop()}`).length, zeroTail ? cut : lastStart, `file truncated to the valid prefix (cut at ${cut})`);
  }
  // End to end: open a torn log, append, reopen: everything is there and in order.
  writeAll(path, pristine.subarray(0, lastEnd - 3));
  let log = await openLog(dir, SMALL);
  assert.equal(log.recovery!.decisions, ["R7"]);
  assert.is(await log.append("continues"), lsns[19]);
  await log.close();
  log = await openLog(dir, SMALL);
  assert.equal(log.recovery!.decisions, ["R6"]);
  assert.equal((await collect(log)).map((r) => r.text), [...records.slice(0, 19), "continues"]);
  await log.close();
});

test("a torn last record whose surviving bytes are all zero (its header checksum starts with 0x00) is a zero tail, kept as R6", async () => {
  const { dir, lsns } = await makeLog(texts(20), { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 });
  const [path] = segmentPaths(dir);
  const name = path.split("/").pop()!;
  const lastStart = SEGMENT_HEADER_BYTES + Number(lsns[19]);
  const torn = readAll(path).slice(0, lastStart + 2);
  torn[lastStart] = 0; // what one log in 256 writes there
  torn[lastStart + 1] = 0;
  for (const cut of [lastStart + 1, lastStart + 2]) {
    const copy = tempDir();
    writeAll(`${copy}/${name}`, torn.subarray(0, cut));
    const r = recoverLog(core, platform, copy);
    assert.equal(r.report.decisions, ["R6"], `cut at ${cut}`);
    assert.is(r.report.records, 19);
    assert.is(r.nextLsn, Number(lsns[19]));
    assert.is(readAll(`${copy}/${name}`).length, cut, "the zero tail is kept");
  }
});

test("R7: every single bit flipped in the last record's header or payload cuts just that record", async () => {
  const { dir, lsns } = await makeLog(texts(10), { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 });
  const [path] = segmentPaths(dir);
  const pristine = readAll(path);
  const start = SEGMENT_HEADER_BYTES + Number(lsns[9]);
  const payloadEnd = start + 12 + enc.encode(texts(10)[9]).length;
  const name = path.split("/").pop()!;
  for (let bit = start * 8; bit < payloadEnd * 8; bit++) {
    const bytes = pristine.slice();
    bytes[bit >> 3] ^= 1 << (bit & 7);
    const copy = tempDir();
    writeAll(`${copy}/${name}`, bytes);
    const r = recoverLog(core, platform, copy);
    assert.is(r.report.records, 9, `bit ${bit}`);
    assert.is(r.nextLsn, Number(lsns[9]), `bit ${bit}`);
    // A flip that zeroes the word ends the data cleanly; anything else is a torn tail.
    assert.ok(["R6", "R7"].includes(r.report.decisions[0]), `bit ${bit}: ${r.report.decisions}`);
    platform.removeAll(copy);
  }
});

test("R6: a zero-filled tail (preallocated space, or a record zeroed before its sync) ends the log cleanly", async () => {
  const { dir, lsns } = await makeLog(texts(10), { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 });
  const [path] = segmentPaths(dir);
  const bytes = readAll(path);
  bytes.fill(0, SEGMENT_HEADER_BYTES + Number(lsns[8]));
  writeAll(path, bytes);
  const log = await openLog(dir, SMALL);
  assert.equal(log.recovery!.decisions, ["R6"]);
  assert.equal((await collect(log)).map((r) => r.text), texts(8));
  await log.close();
});

test("stale records (from an older segment of this log, or from another log) after the data are never taken as records", async () => {
  for (const source of ["older segment", "another log"]) {
    const { dir } = await makeLog(texts(300));
    const paths = segmentPaths(dir);
    const last = readAll(paths[paths.length - 1]);
    const end = dataEnd(last);
    const donor = source === "older segment" ? readAll(paths[0]) : readAll(segmentPaths((await makeLog(texts(300))).dir)[0]);
    // Paste well-formed records from the donor right after this segment's data.
    last.set(donor.subarray(SEGMENT_HEADER_BYTES, SEGMENT_HEADER_BYTES + Math.min(last.length - end, 2000)), end);
    writeAll(paths[paths.length - 1], last);
    const log = await openLog(dir, SMALL);
    assert.equal(log.recovery!.decisions, ["R7"], source);
    assert.equal((await collect(log)).map((r) => r.text), texts(300), source);
    await log.close();
  }
});

test("R8: a valid record beyond syncBytesMax after a bad one is corruption in the middle (salvage cuts and reports it)", async () => {
  const records = Array.from({ length: 1500 }, (_, i) => `r${i}-${"y".repeat(60)}`);
  const { dir, lsns } = await makeLog(records, { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 });
  const [path] = segmentPaths(dir);
  const bytes = readAll(path);
  const at = SEGMENT_HEADER_BYTES + Number(lsns[10]) + 20;
  bytes[at] ^= 0x10;
  writeAll(path, bytes);
  const salvageCopy = copyDir(dir);
  const error = (await rejects(() => openLog(dir, SMALL), CorruptionError)) as CorruptionError;
  assert.is(error.file, path);
  assert.is(error.offset, SEGMENT_HEADER_BYTES + Number(lsns[10]));
  assert.ok(/salvage/.test(error.message));
  const log = await openLog(salvageCopy, { ...SMALL, salvage: true });
  assert.equal(log.recovery!.decisions, ["R8"]);
  assert.ok(log.recovery!.bytesCut > 64 * 1024);
  assert.equal((await collect(log)).map((r) => dec.decode(enc.encode(r.text))), records.slice(0, 10));
  await log.close();
});

test("R7, not R8: a bad record with valid ones only within syncBytesMax after it is taken for a torn tail", async () => {
  const records = Array.from({ length: 100 }, (_, i) => `r${i}-${"z".repeat(60)}`);
  const { dir, lsns } = await makeLog(records, { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 });
  const [path] = segmentPaths(dir);
  const bytes = readAll(path);
  bytes[SEGMENT_HEADER_BYTES + Number(lsns[90]) + 20] ^= 0x10;
  writeAll(path, bytes);
  const log = await openLog(dir, SMALL);
  assert.equal(log.recovery!.decisions, ["R7"]);
  assert.equal((await collect(log)).map((r) => r.text), records.slice(0, 90));
  await log.close();
});

/** A record of `type` with valid checksums for `lsn` under `salt` (docs/wal-format.md's grammar). */
function frame(core: Core, salt: number, lsn: number, type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(recordBytes(payload.length));
  const view = new DataView(out.buffer);
  const word = (type << 24) | payload.length;
  const payloadCrc = core.crc32c(payload);
  const h = new Uint8Array(20);
  const hv = new DataView(h.buffer);
  hv.setUint32(0, salt, true);
  hv.setBigUint64(4, BigInt(lsn), true);
  hv.setUint32(12, word, true);
  hv.setUint32(16, payloadCrc, true);
  view.setUint32(0, core.crc32c(h), true);
  view.setUint32(4, word, true);
  view.setUint32(8, payloadCrc, true);
  out.set(payload, 12);
  return out;
}

test("a record of another type with valid checksums at the end of the last segment is reported as corruption (a newer format), not cut as a torn tail", async () => {
  // docs/wal-format.md: "a record with a valid checksum and another type is reported as
  // corruption (a newer format)". walValidate stops at the type before it looks at the
  // checksum, and findValidHeader counts only FULL records: in the last segment, such a
  // record (and a FULL one a newer writer put after it) is taken for a torn tail (R7) and
  // truncated away, with nothing said but bytesCut.
  const dir = tempDir();
  const first = await openLog(dir, SMALL);
  const lsns = await first.append(["a", "b", "c"]);
  const end = Number(first.durableLsn);
  await first.close();
  const [path] = segmentPaths(dir);
  const bytes = readAll(path);
  const salt = new DataView(bytes.buffer, bytes.byteOffset).getUint32(24, true);
  const firstLsn = 0;
  const newer = frame(core, salt, end, 2, enc.encode("a record of a newer format"));
  const after = frame(core, salt, end + newer.length, 1, enc.encode("and a full one after it"));
  const offset = SEGMENT_HEADER_BYTES + (end - firstLsn);
  const grown = new Uint8Array(Math.max(bytes.length, offset + newer.length + after.length));
  grown.set(bytes);
  grown.set(newer, offset);
  grown.set(after, offset + newer.length);
  writeAll(path, grown);
  assert.is(lsns.length, 3);

  const error = await openLogRefusal(dir, SMALL, (log) => `opened with ${log.recovery?.decisions} (bytesCut ${log.recovery?.bytesCut}); the segment is now ${readAll(path).length} bytes, the newer record gone`);
  assert.ok(error instanceof CorruptionError, `refused with ${error}`);
});

test("a segment whose header (checksum valid, name agreeing) puts its first LSN off the 8-byte grid is a CorruptionError naming it, not an internal RangeError", async () => {
  // Every record occupies a multiple of 8 bytes from LSN 0, so no segment of a log starts
  // at an LSN off the grid: such a header is on-disk inconsistency (README, Errors:
  // CorruptionError, "data on disk ... is inconsistent", with `file`). Recovery takes it
  // (R6) and openLog fails formatting its buffer: "cannot format the log buffer (status 5)".
  const dir = tempDir();
  const path = `${dir}/${segmentFileName(1, 4)}`;
  writeAll(path, encodeSegmentHeader(core, { segmentNumber: 1, firstLsn: 4, salt: 0x1234abcd, syncBytesMax: 64 * 1024, createdUnixMs: 0 }));
  const error = await openLogRefusal(dir, SMALL, (log) => `opened at LSN ${log.currentLsn}`);
  assert.ok(error instanceof CorruptionError, `refused with ${(error as Error)?.name}: ${(error as Error)?.message}`);
  assert.is((error as CorruptionError).file, path);
});

test.after(cleanup);
test.run();
