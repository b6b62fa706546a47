// Reading a log while it is written: a reader bounded by the durable LSN must not judge
// what lies beyond that bound, where the durability worker may be writing at that moment.
// The segment scanner used to report the half-written record past the bound as
// "bad-payload-checksum", so a change feed or a following stream failed with "below the
// durable LSN" (found by tests/engine/model-threads.test.ts with feeds reading the log).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { LogTail } from "../../src/wal/log-tail.ts";
import { readRecords } from "../../src/wal/read-records.ts";
import { readSegmentHeader } from "../../src/wal/segment-files.ts";
import { SegmentScanner } from "../../src/wal/segment-scanner.ts";
import { observedReads } from "../harness/observed-reads.ts";
import { cleanup, dec, enc, openLog, platform, readAll, segmentPaths, tempDir, writeAll } from "./helpers.ts";

const test = suite("wal live tail");
const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });

/** A log of three records whose third is torn, as if still being written; returns it and the third record's LSN. */
async function logWithRecordInFlight(): Promise<{ dir: string; path: string; bound: number }> {
  const dir = tempDir();
  const log = await openLog(dir);
  for (const text of ["one", "two", "three-being-written"]) await log.append(enc.encode(text));
  await log.close();
  const [path] = segmentPaths(dir);
  const lsns = [...readRecords(core, platform, dir)].map((r) => r.lsn);
  const bytes = readAll(path);
  bytes[SEGMENT_HEADER_BYTES + (lsns[2] - lsns[0]) + 16] ^= 0xff; // a payload byte of the third
  writeAll(path, bytes);
  return { dir, path, bound: lsns[2] };
}

test("a scanner bounded below a half-written record stops at the bound, not at a bad checksum", async () => {
  const { path, bound } = await logWithRecordInFlight();
  const header = readSegmentHeader(core, platform, path);
  if ("invalid" in header) throw new Error(header.invalid);
  const scanner = SegmentScanner.open(core, platform, path, header);
  const got = [...scanner.read(bound, true)].map((r) => dec.decode(r.payload));
  scanner.close();
  assert.equal(got, ["one", "two"]);
  assert.is(scanner.stopped, "limit");
});

test("a log tail reads up to the bound while the record after it is half-written", async () => {
  const { dir, bound } = await logWithRecordInFlight();
  const tail = new LogTail(core, platform, dir, 0);
  try {
    const got = [...tail.read(bound)].map((r) => dec.decode(r.payload));
    assert.equal(got.slice(-2), ["one", "two"]);
    assert.is(tail.next, bound);
  } finally {
    tail.close();
  }
});

test("a tail that follows a log a record at a time reads up to its bound, not a buffer of the segment's preallocated zeros each time", async () => {
  const dir = tempDir();
  const log = await openLog(dir);
  let bytesRead = 0;
  const counting = observedReads(platform, () => {}, (_path, n) => void (bytesRead += n));
  const tail = new LogTail(core, counting, dir, 0);
  try {
    const got: string[] = [];
    for (let i = 0; i < 50; i++) {
      await log.append(enc.encode(`record-${i}`));
      for (const r of tail.read(Number(log.durableLsn))) got.push(dec.decode(r.payload));
    }
    assert.is(got.length, 50);
    assert.is(got[49], "record-49");
    // Each read fills from the tail's position up to the bound (a few dozen bytes here);
    // it used to fill the whole 1 MiB buffer from the segment's zeros: 50 MiB in all.
    assert.ok(bytesRead < 64 * 1024, `${bytesRead} bytes read for 50 records`);
  } finally {
    tail.close();
    await log.close();
  }
});

test.after(cleanup);
test.run();
