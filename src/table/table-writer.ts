/**
 * TableWriter: writes one immutable table file (docs/table-format.md) from entries
 * given in table order, streaming finished data blocks to the file through a bounded
 * write buffer, so memory holds one data block, the write buffer, the growing index
 * block and 8 bytes of filter hashes per distinct key, never the table.
 *
 * Publication (the default, `atomicRename: true`): the writer writes `<path>.tmp`, then
 * on `finish` fdatasyncs it, checks its size, renames it to `<path>` and fsyncs the
 * directory. A crash at any point therefore never leaves a partial file under `<path>`;
 * at worst a `<path>.tmp` the engine deletes when it opens. With `atomicRename: false` it
 * writes `<path>` directly (created exclusively) and the caller owns that guarantee. A
 * table is never replaced: `<path>` must not exist.
 *
 * Invariants
 * - Entries strictly increase in (key asc, ts desc) order: an out-of-order entry or a
 *   repeated (key, ts) is a programming error and throws an Error; a key, value, ts or
 *   seq outside its limits throws a RangeError naming the limit.
 * - Any error (bad input, I/O) fails the writer: the file is closed and removed, and every
 *   later call throws. `writeTable` also aborts when the entries' iterator throws.
 * - A data block is cut before an entry that would take it past `blockBytesTarget`, so
 *   blocks exceed the target only when a single entry does.
 * - Block offsets recorded in the index are the exact file positions the blocks are written
 *   at (`#written + #buffered`), and after `finish` the file size equals the bytes written.
 * Threads: the thread that created it (its FileHandle and hasher belong to that thread).
 */
import type { FileHandle, Platform } from "../platform.ts";
import { BlockBuilder } from "./block-builder.ts";
import { BloomFilterBuilder } from "./bloom-filter.ts";
import {
  BLOCK_HANDLE_BYTES,
  BlockKind,
  DATA_BLOCK_BYTES_MAX,
  decodeFooter,
  encodeBlockHandle,
  encodeFooter,
  encodeMeta,
  ENTRY_HEADER_BYTES_MAX,
  FOOTER_BYTES,
  INDEX_BLOCK_BYTES_MAX,
  KEY_BYTES_MAX,
  META_BLOCK_BYTES_MAX,
  RESTART_INTERVAL_ENTRIES_MAX,
  TABLE_ENTRIES_MAX,
  TABLE_KEYS_MAX,
  type TableEntry,
  type TableHasher,
  type TableMeta,
  U64_MAX,
  VALUE_BYTES_MAX,
} from "./format.ts";
import { compareByteRanges } from "./key-order.ts";

export interface TableWriterOptions {
  /** Cut a data block before an entry that would take it past this size. Default 4096. */
  blockBytesTarget?: number;
  /** Store a key whole (a restart point) every this many entries of a block. Default 16. */
  restartIntervalEntries?: number;
  /** Bloom filter bits per distinct key. Default 10 (7 probes, ~0.8% false positives). */
  bloomBitsPerKey?: number;
  /** Finished blocks are gathered into writes of up to this size. Default 256 KiB. */
  writeBufferBytes?: number;
  /** Write `<path>.tmp` and rename on finish (default true); false writes `<path>` directly. */
  atomicRename?: boolean;
  /** The index block's limit (a RangeError past it; `full` before it). Default and most INDEX_BLOCK_BYTES_MAX; smaller in tests. */
  indexBytesMax?: number;
}

export const BLOCK_BYTES_TARGET_DEFAULT = 4096;
export const BLOCK_BYTES_TARGET_MIN = 64;
export const BLOCK_BYTES_TARGET_MAX = 256 * 1024;
export const RESTART_INTERVAL_ENTRIES_DEFAULT = 16;
export const BLOOM_BITS_PER_KEY_DEFAULT = 10;
export const WRITE_BUFFER_BYTES_DEFAULT = 256 * 1024;
export const WRITE_BUFFER_BYTES_MIN = 4096;
export const WRITE_BUFFER_BYTES_MAX = 16 * 1024 * 1024;
/** Suffix of the file a table is written to before it is renamed into place. */
export const TABLE_TMP_SUFFIX = ".tmp";

function integerOption(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

/** The directory holding `path`. */
export function parentDir(path: string): string {
  const slash = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (slash < 0) return ".";
  return slash === 0 ? path.slice(0, 1) : path.slice(0, slash);
}

/**
 * How much room `full` leaves in the index: every version of the key being written must
 * still fit, and each can end a data block (one index entry of up to a whole key). A key
 * has at most one version per live snapshot plus one (version-gc.ts; 1,024 snapshots):
 * 1,025 entries of ~2 KiB, ~2.2 MB.
 */
const TABLE_FULL_MARGIN_INDEX_BYTES = 8 * 1024 * 1024;
/** Distinct keys `full` leaves room for: the next key starts a new table. */
const TABLE_FULL_MARGIN_KEYS = 1;

export class TableWriter {
  readonly path: string;
  /** The file being written: `<path>.tmp`, or `<path>` without atomicRename. */
  readonly writePath: string;
  readonly blockBytesTarget: number;
  #platform: Platform;
  #hasher: TableHasher;
  #atomic: boolean;
  #file: FileHandle | undefined;
  #state: "open" | "finished" | "failed" = "open";

  #data: BlockBuilder;
  #index: BlockBuilder;
  readonly #indexBytesMax: number;
  #filter: BloomFilterBuilder;
  #handle = new Uint8Array(BLOCK_HANDLE_BYTES);

  #buffer: Uint8Array;
  #buffered = 0;
  #written = 0;

  #lastKey = new Uint8Array(KEY_BYTES_MAX);
  #lastKeyLength = 0;
  #lastTs = 0n;
  #entries = 0;
  #tombstones = 0;
  #dataBlocks = 0;
  #smallestKey: Uint8Array | undefined;
  #minTs = U64_MAX;
  #maxTs = 0n;
  #maxSeq = 0n;

  private constructor(platform: Platform, hasher: TableHasher, path: string, options: TableWriterOptions) {
    this.path = path;
    this.blockBytesTarget = integerOption("blockBytesTarget", options.blockBytesTarget, BLOCK_BYTES_TARGET_DEFAULT, BLOCK_BYTES_TARGET_MIN, BLOCK_BYTES_TARGET_MAX);
    const restartInterval = integerOption("restartIntervalEntries", options.restartIntervalEntries, RESTART_INTERVAL_ENTRIES_DEFAULT, 1, RESTART_INTERVAL_ENTRIES_MAX);
    const writeBufferBytes = integerOption("writeBufferBytes", options.writeBufferBytes, WRITE_BUFFER_BYTES_DEFAULT, WRITE_BUFFER_BYTES_MIN, WRITE_BUFFER_BYTES_MAX);
    this.#filter = new BloomFilterBuilder(hasher, options.bloomBitsPerKey ?? BLOOM_BITS_PER_KEY_DEFAULT);
    this.#platform = platform;
    this.#hasher = hasher;
    this.#atomic = options.atomicRename ?? true;
    this.writePath = this.#atomic ? path + TABLE_TMP_SUFFIX : path;
    this.#data = new BlockBuilder(restartInterval, this.blockBytesTarget * 2, DATA_BLOCK_BYTES_MAX, "data block");
    this.#indexBytesMax = integerOption("indexBytesMax", options.indexBytesMax, INDEX_BLOCK_BYTES_MAX, 64 * 1024, INDEX_BLOCK_BYTES_MAX);
    this.#index = new BlockBuilder(RESTART_INTERVAL_ENTRIES_DEFAULT, 4096, this.#indexBytesMax, "index block (write smaller tables)");
    this.#buffer = new Uint8Array(writeBufferBytes);
  }

  /** Starts a table at `path` (which must not exist). */
  static create(platform: Platform, hasher: TableHasher, path: string, options: TableWriterOptions = {}): TableWriter {
    const writer = new TableWriter(platform, hasher, path, options);
    if (platform.stat(path) !== undefined) throw new Error(`table ${path} already exists; tables are immutable and never replaced`);
    writer.#file = platform.open(writer.writePath, writer.#atomic ? "truncate" : "createExclusive");
    return writer;
  }

  get entries(): number {
    return this.#entries;
  }

  /**
   * True when this table should end before its next key: a few thousand more entries
   * could take its index (one entry per data block, each up to a whole key) or its count
   * of distinct keys past their limits. A writer of many tables (a merge) starts the next
   * one at a key boundary then; entries of the current key still fit (TABLE_FULL_MARGIN).
   */
  get full(): boolean {
    const margin = Math.min(TABLE_FULL_MARGIN_INDEX_BYTES, this.#indexBytesMax / 8);
    return this.#index.bytes > this.#indexBytesMax - margin || this.#filter.keys >= TABLE_KEYS_MAX - TABLE_FULL_MARGIN_KEYS;
  }

  /** The file size if the table were finished now (exact for what is written, an upper bound for the rest). */
  get bytesEstimate(): number {
    const pendingIndexEntry = ENTRY_HEADER_BYTES_MAX + KEY_BYTES_MAX + BLOCK_HANDLE_BYTES + 4;
    return this.#written + this.#buffered + this.#data.bytes + this.#index.bytes + pendingIndexEntry + this.#filter.bytes + META_BLOCK_BYTES_MAX + FOOTER_BYTES;
  }

  /** Adds the next entry; `value` undefined is a tombstone. */
  add(key: Uint8Array, ts: bigint, seq: bigint, value: Uint8Array | undefined): void {
    this.#expectOpen();
    try {
      this.#add(key, ts, seq, value);
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  #add(key: Uint8Array, ts: bigint, seq: bigint, value: Uint8Array | undefined): void {
    if (!(key instanceof Uint8Array)) throw new TypeError("key must be a Uint8Array");
    if (key.length > KEY_BYTES_MAX) throw new RangeError(`key is ${key.length} bytes; the limit is ${KEY_BYTES_MAX} bytes (KEY_BYTES_MAX)`);
    if (value !== undefined) {
      if (!(value instanceof Uint8Array)) throw new TypeError("value must be a Uint8Array or undefined (a tombstone)");
      if (value.length > VALUE_BYTES_MAX) throw new RangeError(`value is ${value.length} bytes; the limit is ${VALUE_BYTES_MAX} bytes (VALUE_BYTES_MAX)`);
    }
    if (typeof ts !== "bigint" || ts < 0n || ts > U64_MAX) throw new RangeError(`ts must be a u64 bigint, got ${ts}`);
    if (typeof seq !== "bigint" || seq < 0n || seq > U64_MAX) throw new RangeError(`seq must be a u64 bigint, got ${seq}`);
    if (this.#entries >= TABLE_ENTRIES_MAX) throw new RangeError(`a table holds at most ${TABLE_ENTRIES_MAX} entries (TABLE_ENTRIES_MAX)`);
    let newKey = true;
    if (this.#entries > 0) {
      const c = compareByteRanges(key, 0, key.length, this.#lastKey, 0, this.#lastKeyLength);
      if (c < 0 || (c === 0 && ts >= this.#lastTs)) {
        throw new Error(
          `table entries out of order: (${hex(key)}, ts ${ts}) after (${hex(this.#lastKey.subarray(0, this.#lastKeyLength))}, ts ${this.#lastTs}); ` +
            "entries must increase by key and, within a key, decrease by ts, with no (key, ts) twice",
        );
      }
      newKey = c !== 0;
    }
    if (newKey) this.#filter.addKey(key);
    const data = this.#data;
    if (!data.empty && data.bytes + data.entryBytesMax(key.length, value === undefined ? -1 : value.length) > this.blockBytesTarget) {
      this.#finishDataBlock();
    }
    data.add(key, ts, seq, value);

    if (this.#entries === 0) this.#smallestKey = key.slice();
    this.#lastKey.set(key);
    this.#lastKeyLength = key.length;
    this.#lastTs = ts;
    this.#entries++;
    if (value === undefined) this.#tombstones++;
    if (ts < this.#minTs) this.#minTs = ts;
    if (ts > this.#maxTs) this.#maxTs = ts;
    if (seq > this.#maxSeq) this.#maxSeq = seq;
  }

  /** Writes the index, filter, meta block and footer, syncs and publishes the table. */
  finish(): TableMeta {
    this.#expectOpen();
    try {
      return this.#finish();
    } catch (error) {
      this.abort();
      throw error;
    }
  }

  #finish(): TableMeta {
    if (this.#entries === 0) throw new RangeError("a table holds at least one entry; write no table instead");
    this.#finishDataBlock();
    const hasher = this.#hasher;
    const indexOffset = this.#position;
    const index = this.#index.finish(hasher, BlockKind.INDEX, indexOffset);
    this.#append(index);
    const filterOffset = this.#position;
    const filter = this.#filter.finish(filterOffset);
    this.#append(filter);
    const metaOffset = this.#position;
    const largestKey = this.#lastKey.slice(0, this.#lastKeyLength);
    const meta = encodeMeta(hasher, this.#smallestKey!, largestKey, metaOffset);
    this.#append(meta);
    const footerOffset = this.#position;
    const footer = encodeFooter(hasher, {
      indexOffset,
      indexLength: index.length,
      filterOffset,
      filterLength: filter.length,
      metaOffset,
      metaLength: meta.length,
      dataBlocks: this.#dataBlocks,
      entries: this.#entries,
      tombstones: this.#tombstones,
      minTs: this.#minTs,
      maxTs: this.#maxTs,
      maxSeq: this.#maxSeq,
    }, footerOffset);
    // The reader's checks, applied to what is about to be written: a writer bug fails here, not at open.
    const check = decodeFooter(hasher, footer, footerOffset);
    if ("invalid" in check) throw new Error(`TableWriter: the footer it built is invalid: ${check.invalid}`);
    this.#append(footer);
    this.#flushBuffer();
    const bytes = footerOffset + FOOTER_BYTES;
    const file = this.#file!;
    file.datasync();
    const size = file.size();
    if (size !== bytes) throw new Error(`table ${this.writePath} is ${size} bytes after writing ${bytes}`);
    this.#file = undefined;
    file.close();
    if (this.#atomic) this.#platform.rename(this.writePath, this.path);
    this.#state = "finished";
    // From here the table exists under its final name; a failed directory fsync is
    // reported but the (complete, valid) file stays for the engine's cleanup to judge.
    this.#platform.fsyncDir(parentDir(this.path));
    return {
      path: this.path,
      bytes,
      entries: this.#entries,
      smallestKey: this.#smallestKey!,
      largestKey,
      minTs: this.#minTs,
      maxTs: this.#maxTs,
      maxSeq: this.#maxSeq,
      tombstones: this.#tombstones,
    };
  }

  /** Abandons the table: closes and removes the file being written. Safe to call at any time. */
  abort(): void {
    if (this.#state !== "open") return;
    this.#state = "failed";
    const file = this.#file;
    this.#file = undefined;
    try {
      file?.close();
    } catch {
      // already failing; the unlink below is what matters
    }
    try {
      if (this.#platform.stat(this.writePath) !== undefined) this.#platform.unlink(this.writePath);
    } catch {
      // a leftover .tmp is removed by the engine on open
    }
  }

  get #position(): number {
    return this.#written + this.#buffered;
  }

  #finishDataBlock(): void {
    const data = this.#data;
    if (data.empty) return;
    const offset = this.#position;
    const block = data.finish(this.#hasher, BlockKind.DATA, offset);
    if (block.length > DATA_BLOCK_BYTES_MAX) throw new Error(`data block of ${block.length} bytes exceeds DATA_BLOCK_BYTES_MAX`);
    this.#append(block);
    this.#index.add(this.#lastKey.subarray(0, this.#lastKeyLength), this.#lastTs, 0n, encodeBlockHandle(this.#handle, offset, block.length));
    this.#dataBlocks++;
    data.reset();
  }

  #append(bytes: Uint8Array): void {
    const buffer = this.#buffer;
    if (this.#buffered + bytes.length > buffer.length) this.#flushBuffer();
    if (bytes.length >= buffer.length) {
      this.#file!.write(bytes, this.#written);
      this.#written += bytes.length;
      return;
    }
    buffer.set(bytes, this.#buffered);
    this.#buffered += bytes.length;
  }

  #flushBuffer(): void {
    if (this.#buffered === 0) return;
    this.#file!.write(this.#buffer.subarray(0, this.#buffered), this.#written);
    this.#written += this.#buffered;
    this.#buffered = 0;
  }

  #expectOpen(): void {
    if (this.#state !== "open") throw new Error(`table writer for ${this.path} is ${this.#state}`);
  }
}

/**
 * Writes `entries` (in table order) as the table `path` and returns its metadata. If the
 * entries are out of order, over a limit, or their iterator throws, nothing is left behind.
 */
export function writeTable(platform: Platform, hasher: TableHasher, path: string, entries: Iterable<TableEntry>, options: TableWriterOptions = {}): TableMeta {
  const writer = TableWriter.create(platform, hasher, path, options);
  try {
    for (const e of entries) writer.add(e.key, e.ts, e.seq, e.value);
    return writer.finish();
  } finally {
    writer.abort(); // no-op once finished
  }
}

function hex(bytes: Uint8Array): string {
  const shown = bytes.length > 32 ? bytes.subarray(0, 32) : bytes;
  let s = "";
  for (const b of shown) s += b.toString(16).padStart(2, "0");
  return `0x${s}${bytes.length > 32 ? `... (${bytes.length} bytes)` : ""}`;
}
