/**
 * The table file's on-disk format (docs/table-format.md): limits, block kinds, the
 * checksum every block ends with, the fixed-size footer and the meta block, and the
 * types writers and readers share.
 *
 * A table file is `data-block+ index-block filter-block meta-block footer`, all
 * contiguous, integers little-endian. Every block ends with
 * `crc32c(block bytes before the CRC ‖ kind:u8 ‖ fileOffset:u64)`, so a block is valid
 * only as the kind and at the offset it was written for.
 *
 * Invariants: FOOTER_BYTES never changes within a format version; `decodeFooter` and
 * `decodeMeta` return a value only if the checksum matched and every field is in range.
 * Threads: pure functions (one module-level scratch buffer, used synchronously); any thread.
 */
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../core/core.ts";

/** CRC-32C and XXH32 as the table code needs them; the engine passes its `Core`. */
export interface TableHasher {
  /** CRC-32C (Castagnoli) of `bytes`, continuing from `crc` (0 to start). */
  crc32c(bytes: Uint8Array, crc?: number): number;
  /** XXH32 of `bytes` with `seed`. */
  hash32(bytes: Uint8Array, seed: number): number;
}

/** One version of a key, as written to and read from a table. */
export interface TableEntry {
  key: Uint8Array;
  /** Per-shard commit timestamp (u64). */
  ts: bigint;
  /** Global commit sequence (u64): visible to a snapshot S iff seq <= S. */
  seq: bigint;
  /** undefined: a tombstone (deletion). */
  value: Uint8Array | undefined;
}

/** What a finished table holds, as the writer returns it and the reader reports it. */
export interface TableMeta {
  path: string;
  /** File size in bytes. */
  bytes: number;
  entries: number;
  smallestKey: Uint8Array;
  largestKey: Uint8Array;
  minTs: bigint;
  maxTs: bigint;
  maxSeq: bigint;
  tombstones: number;
}

export const TABLE_MAGIC = 0x42544c53; // "SLTB" in file order
export const TABLE_FORMAT_VERSION = 1;
export const FOOTER_BYTES = 96;
/** Bytes of a block's trailer: restartCount:u32 crc:u32 (data and index blocks). */
export const BLOCK_TRAILER_BYTES = 8;
/** Bytes of the filter block's trailer: probes:u32 keys:u32 crc:u32. */
export const FILTER_TRAILER_BYTES = 12;
/** Bytes of a block handle in an index entry's value: offset:u64 length:u32. */
export const BLOCK_HANDLE_BYTES = 12;
export const CRC_BYTES = 4;

/** Block kinds, bound into each block's checksum. */
export const BlockKind = { DATA: 1, INDEX: 2, FILTER: 3, META: 4, FOOTER: 5 } as const;
export type BlockKindValue = (typeof BlockKind)[keyof typeof BlockKind];
export const BLOCK_KIND_NAMES: Record<number, string> = { 1: "data block", 2: "index block", 3: "filter block", 4: "meta block", 5: "footer" };

export { KEY_BYTES_MAX, VALUE_BYTES_MAX };
/** Smallest data or index block: one entry with an empty key and a tombstone (19 bytes), one restart, the trailer. */
export const BLOCK_BYTES_MIN = 19 + 4 + 8;
/** Largest varint-prefixed entry header: shared, unshared, valueField (5 bytes each) + ts + seq. */
export const ENTRY_HEADER_BYTES_MAX = 3 * 5 + 16;
/**
 * Largest data block the format allows: one entry with the largest key and value, its
 * restart and the trailer, rounded up to 2 MiB. The writer never exceeds it and the reader
 * refuses a block handle above it before allocating anything.
 */
export const DATA_BLOCK_BYTES_MAX = 2 * 1024 * 1024;
/** The index is held in memory by every reader: at most 64 MiB (cut tables smaller). */
export const INDEX_BLOCK_BYTES_MAX = 64 * 1024 * 1024;
/** The filter is held in memory by every reader: at most 64 MiB. */
export const FILTER_BLOCK_BYTES_MAX = 64 * 1024 * 1024;
/** smallestLength:u16 smallest largestLength:u16 largest crc:u32. */
export const META_BLOCK_BYTES_MAX = 2 + KEY_BYTES_MAX + 2 + KEY_BYTES_MAX + CRC_BYTES;
/** Most distinct user keys in one table (the writer keeps 8 bytes of hashes per key). */
export const TABLE_KEYS_MAX = 1 << 24;
/** Most entries (versions) in one table. */
export const TABLE_ENTRIES_MAX = 0xffffffff;
/** Restart points per data block are the writer's choice; the option is bounded here. */
export const RESTART_INTERVAL_ENTRIES_MAX = 128;
/** Bloom filter probes are 1..30. */
export const BLOOM_PROBES_MAX = 30;
/** The smallest filter: 64 bits. */
export const BLOOM_BIT_BYTES_MIN = 8;
/** XXH32 seeds of the two filter hashes. Not 0: shard routing uses seed 0, and keys of one
 * shard share their seed-0 hash modulo the shard count. */
export const BLOOM_SEED_1 = 0x5eed0001;
export const BLOOM_SEED_2 = 0x5eed0002;

export const U64_MAX = 0xffffffffffffffffn;

const bindBytes = new Uint8Array(9);
const bindView = new DataView(bindBytes.buffer);

/** The checksum a block of `kind` at `fileOffset` ends with: crc32c(body ‖ kind:u8 ‖ fileOffset:u64). */
export function blockChecksum(hasher: TableHasher, kind: number, fileOffset: number, body: Uint8Array): number {
  bindBytes[0] = kind;
  bindView.setUint32(1, fileOffset % 0x100000000, true);
  bindView.setUint32(5, Math.floor(fileOffset / 0x100000000), true);
  return hasher.crc32c(bindBytes, hasher.crc32c(body) >>> 0) >>> 0;
}

/** True when the last 4 bytes of `block` are the checksum of the rest for `kind` at `fileOffset`. */
export function checksumMatches(hasher: TableHasher, kind: number, fileOffset: number, block: Uint8Array): boolean {
  if (block.length < CRC_BYTES) return false;
  const end = block.length - CRC_BYTES;
  const stored = (block[end] | (block[end + 1] << 8) | (block[end + 2] << 16) | (block[end + 3] << 24)) >>> 0;
  return stored === blockChecksum(hasher, kind, fileOffset, block.subarray(0, end));
}

/** The footer's fields (FOOTER_BYTES, the last bytes of the file). */
export interface TableFooter {
  indexOffset: number;
  indexLength: number;
  filterOffset: number;
  filterLength: number;
  metaOffset: number;
  metaLength: number;
  dataBlocks: number;
  entries: number;
  tombstones: number;
  minTs: bigint;
  maxTs: bigint;
  maxSeq: bigint;
}

function setU64(view: DataView, at: number, n: number): void {
  view.setUint32(at, n % 0x100000000, true);
  view.setUint32(at + 4, Math.floor(n / 0x100000000), true);
}

function getU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * 0x100000000;
}

/** The footer's 96 bytes for a footer written at `fileOffset`. */
export function encodeFooter(hasher: TableHasher, footer: TableFooter, fileOffset: number): Uint8Array {
  const bytes = new Uint8Array(FOOTER_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, TABLE_MAGIC, true);
  view.setUint16(4, TABLE_FORMAT_VERSION, true);
  view.setUint16(6, FOOTER_BYTES, true);
  setU64(view, 8, footer.indexOffset);
  view.setUint32(16, footer.indexLength, true);
  view.setUint32(20, footer.filterLength, true);
  setU64(view, 24, footer.filterOffset);
  setU64(view, 32, footer.metaOffset);
  view.setUint32(40, footer.metaLength, true);
  view.setUint32(44, footer.dataBlocks, true);
  setU64(view, 48, footer.entries);
  setU64(view, 56, footer.tombstones);
  view.setBigUint64(64, footer.minTs, true);
  view.setBigUint64(72, footer.maxTs, true);
  view.setBigUint64(80, footer.maxSeq, true);
  view.setUint32(88, 0, true);
  view.setUint32(92, blockChecksum(hasher, BlockKind.FOOTER, fileOffset, bytes.subarray(0, 92)), true);
  return bytes;
}

/**
 * The footer read from `bytes` (FOOTER_BYTES at `fileOffset`, the end of a file of
 * `fileBytes`), or the reason it is not a valid one. Checks magic, checksum, version,
 * and that the blocks it points to are contiguous, in order and within their limits.
 */
export function decodeFooter(hasher: TableHasher, bytes: Uint8Array, fileOffset: number): TableFooter | { invalid: string } {
  if (bytes.length !== FOOTER_BYTES) return { invalid: `footer is ${bytes.length} bytes, expected ${FOOTER_BYTES}` };
  const view = new DataView(bytes.buffer, bytes.byteOffset, FOOTER_BYTES);
  if (view.getUint32(0, true) !== TABLE_MAGIC) return { invalid: "bad magic (not a shardline table, or truncated)" };
  if (!checksumMatches(hasher, BlockKind.FOOTER, fileOffset, bytes)) return { invalid: "footer checksum mismatch" };
  const version = view.getUint16(4, true);
  if (version !== TABLE_FORMAT_VERSION) return { invalid: `format version ${version}, this build reads ${TABLE_FORMAT_VERSION}` };
  if (view.getUint16(6, true) !== FOOTER_BYTES) return { invalid: "unexpected footer size" };
  if (view.getUint32(88, true) !== 0) return { invalid: "reserved footer field is not zero" };
  const footer: TableFooter = {
    indexOffset: getU64(view, 8),
    indexLength: view.getUint32(16, true),
    filterLength: view.getUint32(20, true),
    filterOffset: getU64(view, 24),
    metaOffset: getU64(view, 32),
    metaLength: view.getUint32(40, true),
    dataBlocks: view.getUint32(44, true),
    entries: getU64(view, 48),
    tombstones: getU64(view, 56),
    minTs: view.getBigUint64(64, true),
    maxTs: view.getBigUint64(72, true),
    maxSeq: view.getBigUint64(80, true),
  };
  if (footer.indexOffset + footer.indexLength !== footer.filterOffset) return { invalid: "filter block does not follow the index block" };
  if (footer.filterOffset + footer.filterLength !== footer.metaOffset) return { invalid: "meta block does not follow the filter block" };
  if (footer.metaOffset + footer.metaLength !== fileOffset) return { invalid: "footer does not follow the meta block" };
  if (footer.indexLength < BLOCK_BYTES_MIN || footer.indexLength > INDEX_BLOCK_BYTES_MAX) return { invalid: `index length ${footer.indexLength} out of range` };
  if (footer.filterLength < BLOOM_BIT_BYTES_MIN + FILTER_TRAILER_BYTES || footer.filterLength > FILTER_BLOCK_BYTES_MAX) return { invalid: `filter length ${footer.filterLength} out of range` };
  if (footer.metaLength < 2 + 2 + CRC_BYTES || footer.metaLength > META_BLOCK_BYTES_MAX) return { invalid: `meta length ${footer.metaLength} out of range` };
  if (footer.dataBlocks < 1 || footer.indexOffset < footer.dataBlocks * BLOCK_BYTES_MIN) return { invalid: `data block count ${footer.dataBlocks} out of range` };
  if (footer.entries < footer.dataBlocks || footer.entries > TABLE_ENTRIES_MAX) return { invalid: `entry count ${footer.entries} out of range` };
  if (footer.tombstones > footer.entries) return { invalid: "more tombstones than entries" };
  if (footer.minTs > footer.maxTs) return { invalid: "minTs above maxTs" };
  return footer;
}

/** The meta block (smallest and largest key) for a block written at `fileOffset`. */
export function encodeMeta(hasher: TableHasher, smallestKey: Uint8Array, largestKey: Uint8Array, fileOffset: number): Uint8Array {
  const length = 2 + smallestKey.length + 2 + largestKey.length + CRC_BYTES;
  const bytes = new Uint8Array(length);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, smallestKey.length, true);
  bytes.set(smallestKey, 2);
  view.setUint16(2 + smallestKey.length, largestKey.length, true);
  bytes.set(largestKey, 4 + smallestKey.length);
  view.setUint32(length - CRC_BYTES, blockChecksum(hasher, BlockKind.META, fileOffset, bytes.subarray(0, length - CRC_BYTES)), true);
  return bytes;
}

/** The meta block's keys (copies), or the reason it is not a valid one. */
export function decodeMeta(hasher: TableHasher, bytes: Uint8Array, fileOffset: number): { smallestKey: Uint8Array; largestKey: Uint8Array } | { invalid: string } {
  if (!checksumMatches(hasher, BlockKind.META, fileOffset, bytes)) return { invalid: "meta block checksum mismatch" };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const end = bytes.length - CRC_BYTES;
  const smallestLength = view.getUint16(0, true);
  if (smallestLength > KEY_BYTES_MAX || 2 + smallestLength + 2 > end) return { invalid: "meta block: smallest key length out of range" };
  const largestLength = view.getUint16(2 + smallestLength, true);
  if (largestLength > KEY_BYTES_MAX || 4 + smallestLength + largestLength !== end) return { invalid: "meta block: largest key length out of range" };
  return {
    smallestKey: bytes.slice(2, 2 + smallestLength),
    largestKey: bytes.slice(4 + smallestLength, end),
  };
}

/** Block handles in index entries: offset:u64 length:u32. */
export function encodeBlockHandle(out: Uint8Array, offset: number, length: number): Uint8Array {
  const view = new DataView(out.buffer, out.byteOffset, BLOCK_HANDLE_BYTES);
  setU64(view, 0, offset);
  view.setUint32(8, length, true);
  return out;
}
