// Validation of log bytes read back from disk (recovery, readers, the doctor).
//
// `validateRecords` walks consecutive records at the start of a buffer, checking framing
// and both checksums (docs/wal-format.md), and says why it stopped. `findValidHeader`
// looks at every 8-aligned position for a record header whose checksum holds for that
// position's LSN; recovery uses it to tell a torn tail from corruption in the middle,
// at 20 checksummed bytes per candidate instead of a whole payload.
//
// Pure functions of the buffer; any thread. Results go to the calling thread's result
// area: +16 u64 records validated, +24 u32 stop reason, +28 u32 bytes needed.

import { crc32cUpdate } from "./crc32c";
import { currentThreadBlock, TB_RESULT } from "./thread";
import { headerCrc, RECORD_HEADER_BYTES, RECORD_LENGTH_MAX, RECORD_TYPE_FULL, recordBytes } from "./walring";

/** The buffer ended exactly at a record boundary. */
export const STOP_END: u32 = 0;
/** A record starts (its header is valid) but does not fit in the buffer: `needed` bytes. */
export const STOP_PARTIAL: u32 = 1;
/** A zero word: the end of the data (zero tail). */
export const STOP_ZERO: u32 = 2;
/** A word with an unknown type. */
export const STOP_TYPE: u32 = 3;
/** The header checksum fails (torn, stale, foreign or corrupt). */
export const STOP_HEADER_CRC: u32 = 4;
/** The payload checksum fails. */
export const STOP_PAYLOAD_CRC: u32 = 5;

function stop(count: u64, reason: u32, needed: u32): void {
  const result = currentThreadBlock() + TB_RESULT;
  store<u64>(result, count, 16);
  store<u32>(result, reason, 24);
  store<u32>(result, needed, 28);
}

/**
 * Bytes of complete, valid records at the start of `buffer` (`length` bytes of a segment
 * whose first byte is at LSN `lsn`, 8-aligned), under `salt`.
 */
export function validateRecords(buffer: usize, length: u32, salt: u32, lsn: u64): u32 {
  let at: u32 = 0;
  let count: u64 = 0;
  while (true) {
    if (at + RECORD_HEADER_BYTES > length) {
      if (at == length) stop(count, STOP_END, 0);
      else stop(count, STOP_PARTIAL, RECORD_HEADER_BYTES);
      return at;
    }
    const record = buffer + <usize>at;
    const word = load<u32>(record, 4);
    if (word == 0) {
      stop(count, STOP_ZERO, 0);
      return at;
    }
    // The header's checksum first: a header it proves with another type was written so (a
    // newer format, STOP_TYPE: corruption to the caller), where one it does not prove is
    // torn or foreign bytes (taken for a torn tail before: review of the WAL, 2026-12-06).
    const payloadCrc = load<u32>(record, 8);
    if (headerCrc(salt, lsn + <u64>at, word, payloadCrc) != load<u32>(record)) {
      stop(count, STOP_HEADER_CRC, 0);
      return at;
    }
    if (word >>> 24 != RECORD_TYPE_FULL) {
      stop(count, STOP_TYPE, 0);
      return at;
    }
    const payloadLength = word & RECORD_LENGTH_MAX;
    const size = <u32>recordBytes(payloadLength);
    if (<u64>at + <u64>size > <u64>length) {
      stop(count, STOP_PARTIAL, size);
      return at;
    }
    if (crc32cUpdate(0, record + RECORD_HEADER_BYTES, payloadLength) != payloadCrc) {
      stop(count, STOP_PAYLOAD_CRC, 0);
      return at;
    }
    at += size;
    count++;
  }
}

/**
 * The first 8-aligned offset at or after `start` where a record header is valid for its
 * LSN (`lsn` is the LSN of offset 0), of any type (a newer format's is a record too), or
 * `length` if there is none. The payload is not checked: the caller does that for the
 * candidate.
 */
export function findValidHeader(buffer: usize, length: u32, salt: u32, lsn: u64, start: u32): u32 {
  if (start >= length) return length; // also keeps the rounding below from wrapping
  let at = (start + 7) & ~7;
  while (at + RECORD_HEADER_BYTES <= length) {
    const record = buffer + <usize>at;
    const word = load<u32>(record, 4);
    if (word != 0 && headerCrc(salt, lsn + <u64>at, word, load<u32>(record, 8)) == load<u32>(record)) return at;
    at += 8;
  }
  return length;
}
