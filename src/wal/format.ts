/**
 * The log's on-disk format (docs/wal-format.md): constants shared with the core
 * (assembly/walring.ts, assembly/walscan.ts), segment headers and segment file names.
 *
 * Segment header (SEGMENT_HEADER_BYTES = 48, little-endian):
 *   +0 u32 magic "SLWL"   +4 u16 version   +6 u16 headerBytes   +8 u64 segmentNumber
 *   +16 u64 firstLsn      +24 u32 salt     +28 u32 syncBytesMax  +32 u64 createdUnixMs
 *   +40 u32 reserved      +44 u32 headerCrc = crc32c(bytes 0..43)
 *
 * Threads: pure functions; any thread.
 */
import type { Core } from "../core/core.ts";

/** LSNs stay below this (assembly/walring.ts LSN_LIMIT: exact in a JavaScript number); every record starts at a multiple of 8. */
export const LSN_LIMIT = 2 ** 53;

export const SEGMENT_MAGIC = 0x4c574c53;
export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 48;
export const RECORD_HEADER_BYTES = 12;
export const RECORD_TYPE_FULL = 1;
/** Largest payload the format can frame (24-bit length). */
export const RECORD_LENGTH_MAX = 0xffffff;
/** Largest payload shardline accepts in one record, before other limits lower it. */
export const RECORD_BYTES_MAX = 4 * 1024 * 1024;
export const RING_HEADER_BYTES = 256;

/** Ring states (assembly/walring.ts). */
export const RingState = { OPEN: 0, CLOSING: 1, CLOSED: 2, FAILED: 3 } as const;
/** Ring call statuses (assembly/walring.ts). */
export const WalStatus = { OK: 0, FULL: 1, TOO_LARGE: 2, FAILED: 3, CLOSED: 4, BAD_ARGUMENT: 5 } as const;
/** Why a failed ring failed. */
export const FailCode = { NONE: 0, WRITE: 1, SYNC: 2, ROTATE: 3, OTHER: 4 } as const;
/** Why record validation stopped (assembly/walscan.ts). */
export const Stop = { END: 0, PARTIAL: 1, ZERO: 2, TYPE: 3, HEADER_CRC: 4, PAYLOAD_CRC: 5 } as const;

/** A formatted ring's first word (assembly/walring.ts RING_MAGIC, "WRNG"). */
export const RING_MAGIC = 0x474e5257;

/** Ring header fields (byte offsets, assembly/walring.ts). */
export const Ring = {
  /** RING_MAGIC once formatted (walRingFormat). */
  MAGIC: 0,
  CAPACITY: 4,
  DATA: 8,
  SALT: 12,
  RECORD_MAX: 16,
  STATE: 20,
  FAIL_CODE: 24,
  FAIL_TEXT: 32,
  FAIL_TEXT_BYTES: 32,
  RESERVE_HEAD: 64,
  DRAIN_TAIL: 128,
  DRAIN_SEQ: 136,
  WORKER_SLEEPING: 140,
  WAKE_SEQ: 144,
  DURABLE_LSN: 192,
  DURABLE_SEQ: 200,
  SYNCS: 208,
  SYNCED_RECORDS: 216,
  PUBLISHED_END: 224,
  PUBLISH_WAITERS: 232,
  PUBLISH_SEQ: 236,
  /** +1 by a flush that wants a sync now, before it wakes the worker (JavaScript only: the core never touches it). */
  FLUSH_REQUESTS: 240,
} as const;

/** Bytes a record with `payloadLength` bytes of payload occupies (header, payload, padding). */
export function recordBytes(payloadLength: number): number {
  return (RECORD_HEADER_BYTES + payloadLength + 7) & ~7;
}

export interface SegmentHeader {
  segmentNumber: number;
  firstLsn: number;
  salt: number;
  syncBytesMax: number;
  createdUnixMs: number;
}

/** `00000001-0000000000000000.wal`: number (8 decimal digits), first LSN (16 hex digits). */
export function segmentFileName(segmentNumber: number, firstLsn: number): string {
  return `${String(segmentNumber).padStart(8, "0")}-${firstLsn.toString(16).padStart(16, "0")}.wal`;
}

const SEGMENT_NAME = /^(\d{8,})-([0-9a-f]{16})\.wal$/;

/**
 * A segment is made under its name plus this suffix and renamed once its header is synced,
 * so a listing (a trim, a reader) never sees a segment whose header may not be on disk.
 */
export const SEGMENT_CREATING_SUFFIX = ".creating";

/** True for a segment file whose creation stopped before its rename (recovery deletes it, R0). */
export function isCreatingSegmentName(name: string): boolean {
  return name.endsWith(SEGMENT_CREATING_SUFFIX) && SEGMENT_NAME.test(name.slice(0, -SEGMENT_CREATING_SUFFIX.length));
}

/** Number and first LSN a segment file's name claims, or undefined for other files. */
export function parseSegmentFileName(name: string): { segmentNumber: number; firstLsn: number } | undefined {
  const m = SEGMENT_NAME.exec(name);
  if (!m) return undefined;
  return { segmentNumber: Number(m[1]), firstLsn: parseInt(m[2], 16) };
}

/** The 48-byte header, with its checksum computed by the core. */
export function encodeSegmentHeader(core: Core, header: SegmentHeader): Uint8Array {
  const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SEGMENT_MAGIC, true);
  view.setUint16(4, FORMAT_VERSION, true);
  view.setUint16(6, SEGMENT_HEADER_BYTES, true);
  view.setBigUint64(8, BigInt(header.segmentNumber), true);
  view.setBigUint64(16, BigInt(header.firstLsn), true);
  view.setUint32(24, header.salt, true);
  view.setUint32(28, header.syncBytesMax, true);
  view.setBigUint64(32, BigInt(header.createdUnixMs), true);
  view.setUint32(44, core.crc32c(bytes.subarray(0, 44)), true);
  return bytes;
}

/** The header, or a reason it is not a valid one. */
export function decodeSegmentHeader(core: Core, bytes: Uint8Array): SegmentHeader | { invalid: string } {
  if (bytes.length < SEGMENT_HEADER_BYTES) return { invalid: `shorter than the ${SEGMENT_HEADER_BYTES}-byte header` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, SEGMENT_HEADER_BYTES);
  if (view.getUint32(0, true) !== SEGMENT_MAGIC) return { invalid: "bad magic" };
  if (view.getUint32(44, true) !== core.crc32c(bytes.subarray(0, 44))) return { invalid: "header checksum mismatch" };
  const version = view.getUint16(4, true);
  if (version !== FORMAT_VERSION) return { invalid: `format version ${version}, this build reads ${FORMAT_VERSION}` };
  if (view.getUint16(6, true) !== SEGMENT_HEADER_BYTES) return { invalid: "unexpected header size" };
  return {
    segmentNumber: Number(view.getBigUint64(8, true)),
    firstLsn: Number(view.getBigUint64(16, true)),
    salt: view.getUint32(24, true),
    syncBytesMax: view.getUint32(28, true),
    createdUnixMs: Number(view.getBigUint64(32, true)),
  };
}

/** A random 32-bit salt for a new log. */
export function newSalt(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}
