/**
 * Reads a log's valid records from an LSN to its end, synchronously: for recovery's replay
 * (after recovery has cut any torn tail) and for tools. Readers never block a writer; this
 * is meant for logs nobody is appending to, or for reading up to a known durable point.
 *
 * Invariants: yields records in LSN order, each checked (framing, both checksums, LSN
 * binding); a segment that ends before the next one starts is reported as corruption; a
 * last segment torn at its creation ends the log.
 * Threads: the calling thread (its own file handles and buffer).
 */
import type { Core } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { listSegmentFiles, onlyZerosAfterHeader, readSegmentHeader } from "./segment-files.ts";
import { SegmentScanner, type StopReason } from "./segment-scanner.ts";
import { LogTrimmedError } from "./log-tail.ts";

export interface LogRecordBytes {
  lsn: number;
  payload: Uint8Array;
}

/** Why reading a segment stopped, and at which file offset its records end. */
export interface SegmentEnd {
  stopped: StopReason;
  offset: number;
}

/**
 * Opens each segment of `dir` from the one holding `fromLsn` on, hands its scanner to
 * `read` (which yields what it reads and returns where the segment's records end), then
 * checks that the next segment starts exactly there: the one walk behind readRecords and
 * readRecordRuns (record-runs.ts). With `endLsn` (a record boundary, e.g. a durable mark)
 * nothing at or past it is read: segments starting there are not opened, and the one
 * holding it is read only up to it (its `read` stops with "limit"). Every record below
 * `endLsn` must be there: a log whose last segment's records end below it is corruption
 * (docs/wal-format.md R8: a reader of the durable mark misses acknowledged writes
 * otherwise, as the command line's scan did, printing fewer rows with exit 0).
 * With `fromHeld`, the records from `fromLsn` must be there too: a log whose first segment
 * left starts past it lost them to a trim, and the walk throws LogTrimmedError instead of
 * starting at that segment (a live reader's append of the log to its view, whose writer
 * trimmed under it, showed later writes without earlier ones: review, 2026-12-06).
 */
export function* walkSegments<T>(
  core: Core,
  platform: Platform,
  dir: string,
  fromLsn: number,
  read: (scanner: SegmentScanner, endLsn: number) => Generator<T, SegmentEnd>,
  endLsn = Infinity,
  fromHeld = false,
): Generator<T> {
  const segments = listSegmentFiles(platform, dir).filter((segment) => segment.firstLsn < endLsn);
  let start = 0;
  for (let i = 0; i < segments.length; i++) if (segments[i].firstLsn <= fromLsn) start = i;
  if (fromHeld && fromLsn < endLsn && !(segments[start]?.firstLsn <= fromLsn)) throw new LogTrimmedError(fromLsn, segments[0]?.firstLsn);
  for (let i = start; i < segments.length; i++) {
    const segment = segments[i];
    const header = readSegmentHeader(core, platform, segment.path);
    if ("invalid" in header) {
      // The last segment, torn at its creation (only zeros after its header): no records
      // yet, the log ends before it (docs/RECOVERY.md R2, R3; the next open deletes it).
      if (i === segments.length - 1 && onlyZerosAfterHeader(platform, segment.path)) return;
      throw new CorruptionError(`log segment ${segment.path}: ${header.invalid}`, segment.path, 0);
    }
    const scanner = SegmentScanner.open(core, platform, segment.path, header);
    try {
      const { stopped, offset } = yield* read(scanner, endLsn);
      const next = segments[i + 1];
      const clean = stopped === "end-of-file" || stopped === "limit" || (stopped === "zero" && scanner.zeroFrom(offset));
      if (next && (!clean || next.firstLsn !== scanner.lsnAt(offset))) {
        throw new CorruptionError(`log segment ${segment.path} ends at offset ${offset} (${stopped}) but the next segment starts at LSN ${next.firstLsn}`, segment.path, offset);
      }
      if (!next && endLsn !== Infinity && scanner.lsnAt(offset) < endLsn) {
        throw new CorruptionError(`log segment ${segment.path} ends at offset ${offset} (${stopped}), LSN ${scanner.lsnAt(offset)}, below the durable mark ${endLsn}: durable records are missing`, segment.path, offset);
      }
    } finally {
      scanner.close();
    }
  }
}

export function* readRecords(core: Core, platform: Platform, dir: string, fromLsn = 0): Generator<LogRecordBytes> {
  yield* walkSegments(core, platform, dir, fromLsn, function* (scanner): Generator<LogRecordBytes, SegmentEnd> {
    for (const record of scanner.read(Infinity, true)) {
      if (record.lsn >= fromLsn) yield { lsn: record.lsn, payload: record.payload! };
    }
    return { stopped: scanner.stopped!, offset: scanner.offset };
  });
}
