/**
 * SegmentScanner: reads one segment file front to back and hands out its valid records,
 * stopping at the first position where no valid record starts (docs/wal-format.md).
 *
 * File bytes are read into a buffer in the core's shared memory (BUFFER_BYTES), where
 * the core validates a whole run of records per call (walValidate: framing, header and
 * payload checksums, LSN binding). A record larger than the buffer is checked in pieces.
 * The scanner is resumable: `read` continues from where the last call stopped, so a
 * follower can wait for more durable data and go on.
 *
 * Invariants: every record handed out passed both checksums at its own LSN; `offset` only
 * moves forward and always sits at a record boundary (or the stop position). A "view"
 * payload is a view of the buffer itself, valid only until the generator is resumed (the
 * next fill overwrites it): its reader decodes or copies it at once
 * (tests/wal/scanner-views.test.ts).
 * Threads: the thread that created it (its FileHandle and buffer belong to that thread).
 */
import type { Core } from "../core/core.ts";
import type { FileHandle, Platform } from "../platform.ts";
import {
  RECORD_HEADER_BYTES,
  RECORD_LENGTH_MAX,
  RECORD_TYPE_FULL,
  recordBytes,
  SEGMENT_HEADER_BYTES,
  type SegmentHeader,
  Stop,
} from "./format.ts";

/** Read buffer per scanner, in the core's shared memory. */
export const BUFFER_BYTES = 1 << 20;

export interface ScannedRecord {
  lsn: number;
  /** The payload: a copy, a passing view of the read buffer ("view"), or undefined when the caller asked for none. */
  payload: Uint8Array | undefined;
  /** Bytes the record occupies (header, payload, padding). */
  bytes: number;
}

export type StopReason = "end-of-file" | "zero" | "bad-type" | "bad-header-checksum" | "bad-payload-checksum" | "past-end-of-file" | "limit";

const STOP_NAMES: Record<number, StopReason> = {
  [Stop.ZERO]: "zero",
  [Stop.TYPE]: "bad-type",
  [Stop.HEADER_CRC]: "bad-header-checksum",
  [Stop.PAYLOAD_CRC]: "bad-payload-checksum",
};

export class SegmentScanner {
  /** File offset of the next record to read (or where reading stopped). */
  offset: number;
  /** Why the last `read` stopped; undefined while more may follow. */
  stopped: StopReason | undefined;
  #buffer: number;
  #fileSize: number;

  constructor(
    private readonly core: Core,
    readonly file: FileHandle,
    readonly header: SegmentHeader,
    startOffset = SEGMENT_HEADER_BYTES,
  ) {
    this.offset = startOffset;
    this.#fileSize = file.size();
    this.#buffer = core.exports.coreAlloc(BUFFER_BYTES) >>> 0;
    if (this.#buffer < 64) {
      throw new RangeError(`no shared memory left for a log read buffer (${BUFFER_BYTES} bytes): every open stream, change feed or follower of this log holds one, from its shared headroom; end those no longer read`);
    }
  }

  /** Opens `path` read-only and reads its header; the caller validated it already. */
  /** A scanner of the segment at `path`; the file is closed again if the scanner cannot be made (no read buffer left). */
  static open(core: Core, platform: Platform, path: string, header: SegmentHeader, startOffset?: number): SegmentScanner {
    const file = platform.open(path, "read");
    try {
      return new SegmentScanner(core, file, header, startOffset);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  lsnAt(offset: number): number {
    return this.header.firstLsn + (offset - SEGMENT_HEADER_BYTES);
  }

  offsetOf(lsn: number): number {
    return SEGMENT_HEADER_BYTES + (lsn - this.header.firstLsn);
  }

  /** Re-reads the file size (the file may have grown since the last read). */
  refreshSize(): void {
    this.#fileSize = this.file.size();
  }

  /**
   * Valid records from the current offset, at most up to LSN `untilLsn` (exclusive; a
   * record starting at or after it is left for a later call, stop reason "limit").
   * Payloads are copied when `payloads` is true; with "view" a payload is a view of the
   * read buffer in the core's memory, overwritten once the generator is resumed (a record
   * larger than the buffer is a copy of its own); with false there is none.
   */
  *read(untilLsn = Infinity, payloads: boolean | "view" = true): Generator<ScannedRecord> {
    const core = this.core;
    const buffer = this.#buffer;
    this.stopped = undefined;
    // Bytes the next fill must hold at least: the record the last fill cut (Stop.PARTIAL).
    let cut = 0;
    while (true) {
      if (this.lsnAt(this.offset) >= untilLsn) return this.#stop("limit");
      const available = Math.min(BUFFER_BYTES, this.#fileSize - this.offset);
      if (available <= 0) return this.#stop("end-of-file");
      // Up to the limit only (and the record it may cut): no record past it is handed out,
      // and a live log's tail, which reads to the durable LSN each time it advances, would
      // otherwise read a buffer of the preallocated segment's zeros at every wake-up.
      const wanted = Math.min(available, Math.max(this.offsetOf(untilLsn) - this.offset, cut));
      const read = this.#fill(wanted);
      cut = 0;
      if (read === 0) return this.#stop("end-of-file");
      // A short read: the file is shorter now than the size read before (another handle cut
      // it). It ends here, so a record this read cuts is judged against that end below;
      // judged against the old size it was refilled and cut again, for ever
      // (tests/wal/scanner-short-read.test.ts).
      if (read < wanted) this.#fileSize = this.offset + read;
      const valid = core.exports.walValidate(buffer, read, this.header.salt, BigInt(this.lsnAt(this.offset))) >>> 0;
      const reason = core.u32[(core.result + 24) >>> 2];
      const needed = core.u32[(core.result + 28) >>> 2];
      // Hand out the validated run.
      let at = 0;
      while (at < valid) {
        const lsn = this.lsnAt(this.offset);
        if (lsn >= untilLsn) return this.#stop("limit");
        const word = core.u32[(buffer + at + 4) >>> 2];
        const length = word & RECORD_LENGTH_MAX;
        const bytes = recordBytes(length);
        const from = buffer + at + RECORD_HEADER_BYTES;
        let payload: Uint8Array | undefined;
        if (payloads === "view") payload = core.u8.subarray(from, from + length);
        else payload = payloads ? core.copyOut(from, length) : undefined;
        at += bytes;
        this.offset += bytes;
        yield { lsn, payload, bytes };
      }
      // Whatever stopped validation lies at or past the limit: a live log's writer may be
      // writing there right now (tests/wal/live-tail.test.ts).
      if (this.lsnAt(this.offset) >= untilLsn) return this.#stop("limit");
      if (reason === Stop.END) continue;
      if (reason === Stop.PARTIAL) {
        if (this.offset + needed > this.#fileSize) {
          // Fewer bytes left than the record needs: zeros there are just the end of the
          // data (e.g. the last few bytes of a full segment), anything else is torn.
          return this.#stop(this.zeroFrom(this.offset) ? "zero" : "past-end-of-file");
        }
        cut = needed;
        if (needed <= BUFFER_BYTES) continue; // refill from the record's start
        // The large record's header sits where the validated run ended (`at`), not at the
        // start of the buffer: records may precede it in this read.
        const big = this.#readLarge(buffer + at, payloads !== false);
        if (!big) return;
        if (big.lsn >= untilLsn) return this.#stop("limit");
        this.offset += big.bytes;
        yield big;
        continue;
      }
      return this.#stop(STOP_NAMES[reason] ?? "bad-type");
    }
  }

  /**
   * A record larger than the buffer at the current offset, checked piece by piece. Its
   * header was already validated and is in the buffer at address `headerAt` (read before
   * the pieces overwrite the buffer).
   */
  #readLarge(headerAt: number, payloads: boolean): ScannedRecord | undefined {
    const core = this.core;
    const buffer = this.#buffer;
    const word = core.u32[(headerAt + 4) >>> 2];
    const storedPayloadCrc = core.u32[(headerAt + 8) >>> 2];
    const length = word & RECORD_LENGTH_MAX;
    if (word >>> 24 !== RECORD_TYPE_FULL) return void this.#stop("bad-type");
    const payload = payloads ? new Uint8Array(length) : undefined;
    let crc = 0;
    let done = 0;
    while (done < length) {
      const piece = Math.min(BUFFER_BYTES, length - done);
      const got = this.file.read(core.u8.subarray(buffer, buffer + piece), this.offset + RECORD_HEADER_BYTES + done);
      if (got !== piece) return void this.#stop("past-end-of-file");
      crc = core.exports.crc32c(crc, buffer, piece) >>> 0;
      payload?.set(core.u8.subarray(buffer, buffer + piece), done);
      done += piece;
    }
    if (crc !== storedPayloadCrc) return void this.#stop("bad-payload-checksum");
    return { lsn: this.lsnAt(this.offset), payload, bytes: recordBytes(length) };
  }

  #fill(bytes: number): number {
    const core = this.core;
    let done = 0;
    while (done < bytes) {
      const n = this.file.read(core.u8.subarray(this.#buffer + done, this.#buffer + bytes), this.offset + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  #stop(reason: StopReason): undefined {
    this.stopped = reason;
    return undefined;
  }

  /** File size seen by the last read. */
  get fileSize(): number {
    return this.#fileSize;
  }

  /** Reads `length` bytes at `offset` into the scanner's buffer and returns a view of them (valid until the next read). */
  peek(offset: number, length: number): Uint8Array {
    const n = Math.min(length, BUFFER_BYTES);
    const view = this.core.u8.subarray(this.#buffer, this.#buffer + n);
    const got = this.file.read(view, offset);
    return view.subarray(0, got);
  }

  /** Address of the scanner's buffer (for core scans over peeked bytes). */
  get bufferAddress(): number {
    return this.#buffer;
  }

  /** True when a complete, valid record starts exactly at `offset`. */
  recordAt(offset: number): boolean {
    const saved = this.offset;
    const savedStop = this.stopped;
    this.offset = offset;
    const first = this.read(Infinity, false).next();
    // A header the checksum proves, of a type this version does not know, is a record too
    // (a newer format's): it counts where recovery looks for records past a torn tail.
    const found = !first.done || this.stopped === "bad-type";
    this.offset = saved;
    this.stopped = savedStop;
    return found;
  }

  /** True when every byte from `offset` to the end of the file is zero. */
  zeroFrom(offset: number): boolean {
    for (let at = offset; at < this.#fileSize; ) {
      const chunk = this.peek(at, this.#fileSize - at);
      if (chunk.length === 0) return true;
      if (this.core.exports.bytesAllZero(this.#buffer, chunk.length) !== 1) return false;
      at += chunk.length;
    }
    return true;
  }

  /**
   * File offset of the first complete, valid record starting at or after `offset`
   * (8-aligned positions), or -1 if there is none. Candidates are found by header
   * checksum in the core, then checked whole.
   */
  findValidRecord(offset: number): number {
    const core = this.core;
    let at = (offset + 7) & ~7;
    while (at + RECORD_HEADER_BYTES <= this.#fileSize) {
      const chunk = this.peek(at, this.#fileSize - at);
      const q = core.exports.walFindValidHeader(this.#buffer, chunk.length, this.header.salt, BigInt(this.lsnAt(at)), 0) >>> 0;
      if (q + RECORD_HEADER_BYTES <= chunk.length) {
        if (this.recordAt(at + q)) return at + q;
        at += q + 8;
        continue;
      }
      // No candidate in this chunk; step on, re-reading the last partial header window.
      if (chunk.length <= RECORD_HEADER_BYTES + 8) break;
      at += (chunk.length - RECORD_HEADER_BYTES) & ~7;
    }
    return -1;
  }

  close(): void {
    if (this.#buffer === 0) return;
    this.core.exports.coreFree(this.#buffer, BUFFER_BYTES);
    this.#buffer = 0;
    this.file.close();
  }
}
