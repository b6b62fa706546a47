// A segment that became shorter than the size the scanner read at its start (a reader
// following a log whose file another handle cut, e.g. an open that removed a torn tail):
// the reads come back short. The scanner took the record the short read cut for one it
// could complete from the file and read the same bytes again, without end (found by review,
// 2026-12-04). It must stop at the bytes the file still has, handing out every whole
// record before them.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import type { FileHandle } from "../../src/platform.ts";
import { recordBytes, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { readSegmentHeader } from "../../src/wal/segment-files.ts";
import { SegmentScanner } from "../../src/wal/segment-scanner.ts";
import { cleanup, openLog, platform, segmentPaths, tempDir } from "./helpers.ts";

const test = suite("wal scanner short read");
const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
const READS_MAX = 10_000; // a scan of this small file needs a handful

/** The file, counting reads: past READS_MAX the scanner is spinning (a test must not hang). */
function counted(file: FileHandle): FileHandle & { reads: number } {
  const wrapped = {
    path: file.path,
    reads: 0,
    read(buf: Uint8Array, position: number): number {
      if (++wrapped.reads > READS_MAX) throw new Error(`${wrapped.reads} reads: the scanner is spinning on a short read`);
      return file.read(buf, position);
    },
    write: (buf: Uint8Array, position: number) => file.write(buf, position),
    writev: (bufs: readonly Uint8Array[], position: number) => file.writev(bufs, position),
    datasync: () => file.datasync(),
    sync: () => file.sync(),
    truncate: (length: number) => file.truncate(length),
    size: () => file.size(),
    close: () => file.close(),
  };
  return wrapped;
}

test("a segment cut behind the scanner's back: it hands out the whole records before the cut and stops, without reading for ever", async () => {
  const dir = tempDir();
  const log = await openLog(dir);
  const payload = new Uint8Array(1000).fill(7);
  const RECORDS = 100;
  for (let i = 0; i < RECORDS; i++) await log.append([payload]);
  await log.close();
  const path = segmentPaths(dir).at(-1)!;
  const header = readSegmentHeader(core, platform, path);
  if ("invalid" in header) throw new Error(header.invalid);
  const file = counted(platform.open(path, "read"));
  const scanner = new SegmentScanner(core, file, header); // reads the file's size now
  const each = recordBytes(payload.length);
  const cutAt = SEGMENT_HEADER_BYTES + 40 * each + 300; // inside record 40
  const writer = platform.open(path, "readwrite");
  writer.truncate(cutAt);
  writer.close();
  try {
    const got = [...scanner.read()].length;
    assert.is(got, 40, "the whole records before the cut");
    assert.ok(scanner.stopped !== undefined && scanner.stopped !== "limit", `stopped: ${scanner.stopped}`);
    assert.ok(file.reads < 100, `${file.reads} reads`);
  } finally {
    scanner.close();
  }
});

test.after(cleanup);
test.run();
