/**
 * LogTail: a resumable, synchronous reader of a live log's segment files, from an LSN up to
 * a bound the caller knows is written (the durable LSN), one segment after another.
 * Log streams (stream.ts) and change feeds (src/engine/change-feed.ts) read the log
 * through it while the durability worker appends and flushes trim it.
 *
 * Invariants: `next` only grows, and is a record boundary once the first record was handed
 * out (a stream may start inside a record: it gets the records starting at or after it);
 * every record handed out
 * passed both checksums at its own LSN (SegmentScanner); records come in LSN order with no
 * gap: a segment whose data ends below the bound must be followed by one starting exactly
 * where it ended, or the log is corrupt.
 *
 * Trimming: a segment the tail has open may be unlinked by a flush; its handle still reads
 * it (POSIX). A segment it has not opened yet may be gone: `read` then throws
 * LogTrimmedError and the reader decides (a stream fails, a feed overflows); so it does
 * when the segment after an unlinked one it read to its end is gone too.
 *
 * Threads: the thread that made it (its scanner's file handle and buffer are its own).
 */
import type { Core } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import { hasErrorCode, type Platform } from "../platform.ts";
import { SEGMENT_HEADER_BYTES } from "./format.ts";
import { listSegmentFiles, readSegmentHeader } from "./segment-files.ts";
import { type ScannedRecord, SegmentScanner } from "./segment-scanner.ts";

/**
 * The records at an LSN are no longer in the log: `trimBefore` (or, in a database, a flush)
 * removed their segment. Exported by `shardline/wal` (a stream from such an LSN rejects with
 * it); a RangeError, as an argument past what the log holds.
 */
export class LogTrimmedError extends RangeError {
  override name = "LogTrimmedError";
  readonly code = "SHARDLINE_LOG_TRIMMED";
  constructor(readonly lsn: number, readonly oldestLsn: number | undefined) {
    super(`LSN ${lsn} is no longer in the log (trimmed); the oldest record kept is at ${oldestLsn ?? "none"}`);
  }
}

export class LogTail {
  /** LSN of the next record to hand out. */
  next: number;
  readonly #from: number;
  #scanner: SegmentScanner | undefined;

  constructor(
    readonly core: Core,
    readonly platform: Platform,
    readonly dir: string,
    from: number,
    /** `from` is known to be a record boundary: start reading there instead of at its segment's start. */
    readonly fromIsBoundary = false,
  ) {
    this.next = from;
    this.#from = from;
  }

  /**
   * The records in [next, untilLsn), in order; `next` moves past each one handed out.
   * Payloads as SegmentScanner.read hands them out: copies by default; with "view", views
   * of the scanner's buffer, valid until the generator is resumed.
   */
  *read(untilLsn: number, payloads: true | "view" = true): Generator<ScannedRecord> {
    while (this.next < untilLsn) {
      const scanner = (this.#scanner ??= this.#open(this.next));
      scanner.refreshSize();
      for (const record of scanner.read(untilLsn, payloads)) {
        if (record.lsn < this.next) continue;
        this.next = record.lsn + record.bytes;
        yield record;
      }
      const stopped = scanner.stopped;
      if (stopped !== "limit" && stopped !== "zero" && stopped !== "end-of-file") {
        throw new CorruptionError(`log segment ${scanner.file.path}: ${stopped} at offset ${scanner.offset}, below the durable LSN`, scanner.file.path, scanner.offset);
      }
      // The records read end here: `next` moves past a record skipped for starting before
      // `from` too (else a stream starting inside the last one would read it for ever).
      const end = scanner.lsnAt(scanner.offset);
      if (end > this.next) this.next = end;
      // Read up to the bound, or this segment's data ends here: anything below the bound is
      // in the next segment, which must start exactly at this LSN.
      if (stopped === "limit" || this.next >= untilLsn) return;
      this.#closeScanner();
      const segments = listSegmentFiles(this.platform, this.dir);
      if (!segments.some((s) => s.firstLsn === this.next)) {
        // Every segment starting past `next`: the one that followed was trimmed too (this
        // tail read a segment a flush had unlinked, and fell further behind). A gap
        // between two segments that are there is corruption.
        if (segments.length === 0 || segments[0].firstLsn > this.next) throw new LogTrimmedError(this.next, segments[0]?.firstLsn);
        throw new CorruptionError(`log ${this.dir}: records end at LSN ${this.next} but the log is durable to ${untilLsn}`, this.dir);
      }
    }
  }

  /**
   * A scanner over the segment holding `lsn`, positioned at it (a record boundary). A trim
   * on another thread may unlink that segment between the listing and the open: then the
   * segments are listed again, and LSN `lsn` is gone (LogTrimmedError), not a failed disk.
   */
  #open(lsn: number): SegmentScanner {
    const segments = listSegmentFiles(this.platform, this.dir);
    if (segments.length === 0 || lsn < segments[0].firstLsn) throw new LogTrimmedError(lsn, segments[0]?.firstLsn);
    let segment = segments[0];
    for (const s of segments) if (s.firstLsn <= lsn) segment = s;
    try {
      const header = readSegmentHeader(this.core, this.platform, segment.path);
      if ("invalid" in header) throw new CorruptionError(`log segment ${segment.path}: ${header.invalid}`, segment.path, 0);
      const boundary = this.fromIsBoundary || lsn !== this.#from;
      return SegmentScanner.open(this.core, this.platform, segment.path, header, boundary ? SEGMENT_HEADER_BYTES + (lsn - header.firstLsn) : undefined);
    } catch (error) {
      if (!hasErrorCode(error, "ENOENT")) throw error;
      const now = listSegmentFiles(this.platform, this.dir);
      if (now.some((s) => s.path === segment.path)) throw error;
      throw new LogTrimmedError(lsn, now[0]?.firstLsn);
    }
  }

  #closeScanner(): void {
    this.#scanner?.close();
    this.#scanner = undefined;
  }

  close(): void {
    this.#closeScanner();
  }
}
