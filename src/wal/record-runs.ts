/**
 * Reads a log's valid records from an LSN to its end as runs of whole records in shared
 * memory, for recovery's replay (src/engine/replay.ts), which hands each run to the core
 * as it is instead of taking the records out one by one.
 *
 * Per segment file, a buffer of the file's bytes (the SegmentScanner's, BUFFER_BYTES) is
 * validated in the core (walValidate: framing, header and payload checksums, LSN binding);
 * the validated prefix is handed out as a run, and reading goes on from the first record
 * that did not fit. A record larger than the buffer is read whole into a block of its own
 * (16 MiB, allocated when one is met) and its payload checksum checked there, or, when it
 * is only counted, checked piece by piece in the buffer (its header was checked by
 * walValidate). The
 * same checks as readRecords (read-records.ts): a segment followed by another must end
 * cleanly (end of file, or zeros to the end) exactly where the next one starts, else
 * CorruptionError; the last segment ends at its first invalid position (recovery cut any
 * torn tail before this runs).
 *
 * Invariants: runs come in LSN order, without gaps or overlap, starting with the record of
 * the segment holding `fromLsn` (records below `fromLsn` in that segment are handed out
 * too: the caller skips them, as readRecords did, so they are still checked); a run's
 * bytes are valid only until the generator is resumed.
 * Recovery (recovery.ts) counts a segment's records with the same reader.
 *
 * Threads: the calling thread (its own file handles and buffers).
 */
import type { Core } from "../core/core.ts";
import type { Platform } from "../platform.ts";
import { RECORD_HEADER_BYTES, RECORD_LENGTH_MAX, recordBytes, SEGMENT_HEADER_BYTES, Stop } from "./format.ts";
import { type SegmentEnd, walkSegments } from "./read-records.ts";
import { BUFFER_BYTES, SegmentScanner, type StopReason } from "./segment-scanner.ts";

/** Whole, valid log records at `address` in shared memory: `bytes` bytes, the first at `lsn`. */
export interface RecordRun {
  kind: "run";
  lsn: number;
  address: number;
  bytes: number;
  /** How many records. */
  records: number;
}

/** One valid record too large for a run: its payload (`length` bytes) at `address` (0 when only counted). */
export interface LargeRecord {
  kind: "large";
  lsn: number;
  address: number;
  length: number;
}

/** Size of the block a record larger than the read buffer is read into (the largest payload the format frames). */
const LARGE_BLOCK_BYTES = (RECORD_LENGTH_MAX + 64) & ~63;

/** The runs from the segment holding `fromLsn` on, up to `endLsn` (exclusive, a record boundary) or the log's end. */
export function* readRecordRuns(core: Core, platform: Platform, dir: string, fromLsn = 0, endLsn = Infinity, fromHeld = false): Generator<RecordRun | LargeRecord> {
  const large = new LargeRecordBlock(core);
  try {
    yield* walkSegments(core, platform, dir, fromLsn, (scanner, end) => segmentRuns(core, scanner, large, end), endLsn, fromHeld);
  } finally {
    large.free();
  }
}

/** Counts a segment's valid records from its first one (for recovery, which needs no payload), and where they end. */
export function countSegmentRecords(core: Core, scanner: SegmentScanner): SegmentEnd & { records: number } {
  let records = 0;
  const runs = segmentRuns(core, scanner, undefined);
  for (;;) {
    const next = runs.next();
    if (next.done) return { ...next.value, records };
    records += next.value.kind === "run" ? next.value.records : 1;
  }
}

function readFully(scanner: SegmentScanner, into: Uint8Array, position: number): number {
  let got = 0;
  while (got < into.length) {
    const n = scanner.file.read(into.subarray(got), position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/** The block a record larger than the read buffer is read into, allocated when one is met. */
class LargeRecordBlock {
  address = 0;
  constructor(private readonly core: Core) {}
  get(): number {
    if (this.address === 0) {
      const address = this.core.exports.coreAlloc(LARGE_BLOCK_BYTES) >>> 0;
      if (address < 64) throw new RangeError("no shared memory left to read a large log record");
      this.address = address;
    }
    return this.address;
  }
  free(): void {
    if (this.address !== 0) this.core.exports.coreFree(this.address, LARGE_BLOCK_BYTES);
    this.address = 0;
  }
}

/**
 * The runs of one segment (its scanner's file and buffer), from its first record to where
 * valid records stop, or to `endLsn`, and why they stop there.
 */
function* segmentRuns(core: Core, scanner: SegmentScanner, large: LargeRecordBlock | undefined, endLsn = Infinity): Generator<RecordRun | LargeRecord, SegmentEnd> {
  const buffer = scanner.bufferAddress;
  const limited = scanner.offsetOf(endLsn) < scanner.fileSize;
  const size = limited ? scanner.offsetOf(endLsn) : scanner.fileSize;
  const salt = scanner.header.salt;
  let offset = SEGMENT_HEADER_BYTES;
  for (;;) {
    if (offset >= size) return { stopped: limited ? "limit" : "end-of-file", offset };
    const read = scanner.peek(offset, size - offset).length;
    if (read === 0) return { stopped: "end-of-file", offset };
    const valid = core.exports.walValidate(buffer, read, salt, BigInt(scanner.lsnAt(offset))) >>> 0;
    const records = core.u32[(core.result + 16) >>> 2];
    const reason = core.u32[(core.result + 24) >>> 2];
    const needed = core.u32[(core.result + 28) >>> 2];
    // The header of a record that did not fit, read before the buffer is handed out.
    const word = reason === Stop.PARTIAL ? core.u32[(buffer + valid + 4) >>> 2] : 0;
    const storedPayloadCrc = reason === Stop.PARTIAL ? core.u32[(buffer + valid + 8) >>> 2] : 0;
    if (valid > 0) {
      yield { kind: "run", lsn: scanner.lsnAt(offset), address: buffer, bytes: valid, records };
      offset += valid;
    }
    if (reason === Stop.END) continue;
    if (reason === Stop.PARTIAL) {
      if (offset + needed > size) {
        // Fewer bytes left than the record needs: zeros there are just the end of the
        // data (e.g. the last bytes of a full segment), anything else is torn.
        return { stopped: scanner.zeroFrom(offset) ? "zero" : "past-end-of-file", offset };
      }
      if (needed <= BUFFER_BYTES) {
        if (valid === 0) throw new Error(`log segment ${scanner.file.path}: a ${needed}-byte record at offset ${offset} does not fit a ${read}-byte read`);
        continue; // read again from the record's start
      }
      // Larger than the buffer: its header was valid; read its payload and check it, into
      // the large-record block when the caller wants the payload, else piece by piece
      // through the buffer.
      const length = word & RECORD_LENGTH_MAX;
      const block = large?.get();
      let crc = 0;
      for (let done = 0; done < length; ) {
        const piece = block === undefined ? Math.min(BUFFER_BYTES, length - done) : length - done;
        const at = block === undefined ? buffer : block + done;
        if (readFully(scanner, core.u8.subarray(at, at + piece), offset + RECORD_HEADER_BYTES + done) !== piece) return { stopped: "past-end-of-file", offset };
        crc = core.exports.crc32c(crc, at, piece) >>> 0;
        done += piece;
      }
      if (crc !== storedPayloadCrc) return { stopped: "bad-payload-checksum", offset };
      yield { kind: "large", lsn: scanner.lsnAt(offset), address: block ?? 0, length };
      offset += recordBytes(length);
      continue;
    }
    return { stopped: STOP_NAMES[reason] ?? "bad-type", offset };
  }
}

const STOP_NAMES: Record<number, StopReason> = {
  [Stop.ZERO]: "zero",
  [Stop.TYPE]: "bad-type",
  [Stop.HEADER_CRC]: "bad-header-checksum",
  [Stop.PAYLOAD_CRC]: "bad-payload-checksum",
};
