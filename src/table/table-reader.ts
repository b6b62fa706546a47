/**
 * TableReader: an open table file (docs/table-format.md). Opening reads and checks the
 * footer, then the index, filter and meta blocks (one read: they are contiguous at the
 * end of the file) and keeps them in memory; data blocks are read on demand through the
 * thread's BlockCache and checksum-verified when they come from disk (not on cache hits).
 *
 * Offers point lookups at a snapshot (`get`), the bloom filter alone (`mayContain`),
 * cursors in both directions (table-cursor.ts), the table's metadata, and `close`.
 *
 * Invariants
 * - Any inconsistency found on disk is a CorruptionError naming the file and the offset
 *   of the block it is in (the footer's offset for the footer, or for a file too short
 *   to have one, offset 0); I/O failures are the platform's errors, unchanged.
 * - Every read checks the byte count it got back; a short read is reported as corruption
 *   (the file is shorter than its own footer says).
 * - After `close`, every method throws ClosedError and the cache holds none of its blocks.
 * Threads: the thread that opened it (the FileHandle, the hasher and the cache belong to it).
 */
import { ClosedError, CorruptionError } from "../errors.ts";
import type { FileHandle, Platform } from "../platform.ts";
import { Block } from "./block.ts";
import { BlockCursor } from "./block-cursor.ts";
import type { BlockCache } from "./block-cache.ts";
import { BloomFilter } from "./bloom-filter.ts";
import {
  BlockKind,
  decodeFooter,
  decodeMeta,
  FOOTER_BYTES,
  KEY_BYTES_MAX,
  type TableEntry,
  type TableFooter,
  type TableHasher,
  type TableMeta,
  U64_MAX,
} from "./format.ts";
import { compareKeys } from "./key-order.ts";
import { type CursorSource, TableCursor } from "./table-cursor.ts";
import { TableIndex } from "./table-index.ts";

/** What makes the copies a lookup hands out (src/engine/value-copies.ts). */
export interface Copier {
  copy(source: Uint8Array, from: number, to: number): Uint8Array;
}

/** How a point lookup hands out the value it found. */
export const ValueRead = {
  /** A view of the bytes where they are (valid until the reader's next lookup): for `has`. */
  VIEW: 0,
  /** A copy of the bytes. */
  COPY: 1,
  /** The bytes decoded as UTF-8 (invalid sequences become U+FFFD), without a copy of them. */
  TEXT: 2,
} as const;
export type ValueRead = (typeof ValueRead)[keyof typeof ValueRead];

/** ignoreBOM: a leading U+FEFF is part of the value (core.ts `utf8`). */
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** The newest visible version of a key in one table. `value` undefined: a tombstone. */
export interface TableGetResult {
  ts: bigint;
  seq: bigint;
  /** A copy the caller owns. */
  value: Uint8Array | undefined;
}

/** Where each block of a table lies (for tools and tests). */
export interface TableLayout {
  dataBlocks: Array<{ offset: number; length: number }>;
  index: { offset: number; length: number };
  filter: { offset: number; length: number };
  meta: { offset: number; length: number };
  footer: { offset: number; length: number };
}

const U32_MAX = 0xffffffff;
/** Cursors a reader keeps for the next scans. */
const SPARE_CURSORS_MAX = 2;

export class TableReader implements CursorSource {
  readonly path: string;
  /** This reader's id in the block cache. */
  readonly fileId: number;
  readonly meta: TableMeta;
  readonly footer: TableFooter;
  readonly index: TableIndex;
  readonly filter: BloomFilter;
  #file: FileHandle;
  #hasher: TableHasher;
  #cache: BlockCache;
  #closed = false;
  #getCursor: TableCursor | undefined;
  /** Cursors given back by ended scans (at most SPARE_CURSORS_MAX). */
  #spareCursors: TableCursor[] = [];
  /** Reads a block from disk against the index (#checkAgainstIndex); holds no block between calls. */
  readonly #checker = new BlockCursor();

  private constructor(path: string, file: FileHandle, hasher: TableHasher, cache: BlockCache, footer: TableFooter, index: TableIndex, filter: BloomFilter, meta: TableMeta) {
    this.path = path;
    this.#file = file;
    this.#hasher = hasher;
    this.#cache = cache;
    this.fileId = cache.newFileId();
    this.footer = footer;
    this.index = index;
    this.filter = filter;
    this.meta = meta;
  }

  /** Opens and checks `path`; data blocks will be read through `cache`. */
  static open(platform: Platform, hasher: TableHasher, path: string, cache: BlockCache): TableReader {
    const file = platform.open(path, "read");
    try {
      return TableReader.#read(file, hasher, path, cache);
    } catch (error) {
      file.close();
      throw error;
    }
  }

  static #read(file: FileHandle, hasher: TableHasher, path: string, cache: BlockCache): TableReader {
    const size = file.size();
    if (size < FOOTER_BYTES) throw new CorruptionError(`table ${path} is ${size} bytes, shorter than its ${FOOTER_BYTES}-byte footer`, path, 0);
    const footerOffset = size - FOOTER_BYTES;
    const footerBytes = readExactly(file, path, footerOffset, FOOTER_BYTES, "footer");
    const footer = decodeFooter(hasher, footerBytes, footerOffset);
    if ("invalid" in footer) throw new CorruptionError(`footer at offset ${footerOffset} of ${path}: ${footer.invalid}`, path, footerOffset);

    // Index, filter and meta are contiguous between the data and the footer: one read.
    const tail = readExactly(file, path, footer.indexOffset, footerOffset - footer.indexOffset, "index, filter and meta blocks");
    const indexBlock = Block.verify(hasher, BlockKind.INDEX, path, footer.indexOffset, tail.subarray(0, footer.indexLength));
    const filterStart = footer.filterOffset - footer.indexOffset;
    const filter = BloomFilter.verify(hasher, path, footer.filterOffset, tail.subarray(filterStart, filterStart + footer.filterLength));
    const metaStart = footer.metaOffset - footer.indexOffset;
    const keys = decodeMeta(hasher, tail.subarray(metaStart, metaStart + footer.metaLength), footer.metaOffset);
    if ("invalid" in keys) throw new CorruptionError(`meta block at offset ${footer.metaOffset} of ${path}: ${keys.invalid}`, path, footer.metaOffset);
    const index = TableIndex.decode(indexBlock, footer.dataBlocks, footer.indexOffset);

    if (compareKeys(keys.largestKey, index.lastKey(index.count - 1)) !== 0) {
      throw new CorruptionError(`meta block at offset ${footer.metaOffset} of ${path}: largest key differs from the index's last key`, path, footer.metaOffset);
    }
    if (compareKeys(keys.smallestKey, keys.largestKey) > 0) {
      throw new CorruptionError(`meta block at offset ${footer.metaOffset} of ${path}: smallest key sorts after the largest`, path, footer.metaOffset);
    }
    if (filter.keys > footer.entries) {
      throw new CorruptionError(`filter block at offset ${footer.filterOffset} of ${path}: ${filter.keys} keys for ${footer.entries} entries`, path, footer.filterOffset);
    }
    const meta: TableMeta = {
      path,
      bytes: size,
      entries: footer.entries,
      smallestKey: keys.smallestKey,
      largestKey: keys.largestKey,
      minTs: footer.minTs,
      maxTs: footer.maxTs,
      maxSeq: footer.maxSeq,
      tombstones: footer.tombstones,
    };
    return new TableReader(path, file, hasher, cache, footer, index, filter, meta);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Number of data blocks. */
  get dataBlocks(): number {
    return this.index.count;
  }

  /** False when `key` is certainly not in this table (bloom filter only). */
  mayContain(key: Uint8Array): boolean {
    this.#check();
    if (key.length > KEY_BYTES_MAX) return false;
    return this.filter.mayContain(key);
  }

  /**
   * The newest version of `key` (highest ts) among those with seq <= `snapshotSeq`, or
   * undefined when this table has none. `value` undefined in the result is a tombstone.
   * Without `copy` the value is a view into the block (valid only until the next lookup on
   * this reader: the block's buffer may then hold another block, block.ts): for existence
   * checks that never read it.
   */
  get(key: Uint8Array, snapshotSeq: bigint, copy = true): TableGetResult | undefined {
    this.#check();
    if (key.length > KEY_BYTES_MAX) throw new RangeError(`key is ${key.length} bytes; the limit is ${KEY_BYTES_MAX} bytes (KEY_BYTES_MAX)`);
    if (snapshotSeq < 0n) return undefined;
    if (!this.filter.mayContain(key)) return undefined;
    const snapshot = snapshotSeq > U64_MAX ? U64_MAX : snapshotSeq;
    const c = this.#seekVisible(key, Number(snapshot >> 32n), Number(snapshot & 0xffffffffn));
    if (c === undefined) return undefined;
    const value = c.value;
    return { ts: c.ts, seq: c.seq, value: value === undefined || !copy ? value : value.slice() };
  }

  /**
   * The engine's point lookup: `get` for a seq bound below 2^53 (a JS number: seq <=
   * `seqMax`), with the key's filter hashes computed once by the caller (filterHash1,
   * filterHash2) and no BigInt arithmetic. The value as `read` says (ValueRead): a copy (by
   * `copies`), the block's own bytes (valid until the next lookup on this
   * reader), or its UTF-8 text.
   */
  getVisible(key: Uint8Array, seqMax: number, h1: number, h2: number, read: ValueRead, copies: Copier): { ts: bigint; value: Uint8Array | string | undefined } | undefined {
    this.#check();
    if (seqMax < 0 || !this.filter.mayContainHashed(h1, h2)) return undefined;
    const c = this.#seekVisible(key, Math.floor(seqMax / 0x100000000), seqMax >>> 0);
    if (c === undefined) return undefined;
    const value = c.value;
    if (value === undefined || read === ValueRead.VIEW) return { ts: c.ts, value };
    return { ts: c.ts, value: read === ValueRead.TEXT ? utf8.decode(value) : copies.copy(value, 0, value.length) };
  }

  /** The shared cursor on the newest version of `key` with seq <= (sHi, sLo), or undefined. */
  #seekVisible(key: Uint8Array, sHi: number, sLo: number): TableCursor | undefined {
    const c = (this.#getCursor ??= new TableCursor(this));
    for (let ok = c.seekParts(key, U32_MAX, U32_MAX); ok && c.compareKey(key) === 0; ok = c.next()) {
      const seqHi = c.seqHi;
      if (seqHi < sHi || (seqHi === sHi && c.seqLo <= sLo)) return c;
    }
    return undefined;
  }

  /** A cursor not positioned yet: one given back by `releaseCursor`, or a new one. */
  cursor(): TableCursor {
    this.#check();
    return this.#spareCursors.pop() ?? new TableCursor(this);
  }

  /**
   * Takes back a cursor of this reader that its user will not touch again (a scan that
   * ended), to hand out again: a scan then allocates no cursor (each holds a key buffer of
   * KEY_BYTES_MAX). It leaves its block in every case, kept or not, so the block's buffer
   * can be reused.
   */
  releaseCursor(c: TableCursor): void {
    c.detach();
    if (this.#closed || this.#spareCursors.length >= SPARE_CURSORS_MAX) return;
    this.#spareCursors.push(c);
  }

  /**
   * Every entry as copies, in order from the first with key >= `from`, or in reverse
   * from the last with key < `before` (or the last). Convenience over `cursor()`.
   */
  *entries(options: { from?: Uint8Array; reverse?: boolean; before?: Uint8Array } = {}): Generator<TableEntry> {
    const c = this.cursor();
    if (options.reverse) {
      for (let ok = options.before ? c.seekBefore(options.before) : c.seekLast(); ok; ok = c.prev()) yield c.entry();
    } else {
      for (let ok = options.from ? c.seek(options.from) : c.seekFirst(); ok; ok = c.next()) yield c.entry();
    }
  }

  /** Data block `i`: from the cache, or read from disk, verified and cached. */
  blockAt(i: number): Block {
    this.#check();
    const offset = this.index.offsets[i];
    const cached = this.#cache.get(this.fileId, offset);
    if (cached !== undefined) return cached;
    const bytes = this.#cache.buffers.take(this.index.lengths[i]);
    readInto(this.#file, this.path, offset, bytes, `data block ${i}`);
    const block = Block.verify(this.#hasher, BlockKind.DATA, this.path, offset, bytes);
    this.#checkAgainstIndex(i, block);
    block.pool = this.#cache.buffers;
    this.#cache.insert(this.fileId, offset, block);
    return block;
  }

  /**
   * A block read from disk agrees with the index (docs/table-format.md, Corruption): its
   * last entry is index entry i, and its first sorts after index entry i - 1. A block that
   * holds more or less than the index says would send a lookup to the wrong block, whose
   * answer ("absent") would be wrong with every checksum right. Once per read from disk.
   */
  #checkAgainstIndex(i: number, block: Block): void {
    const c = this.#checker;
    const index = this.index;
    c.reset(block);
    try {
      c.seekLast();
      if (c.compareTo(index.lastKey(i), index.tsHi[i], index.tsLo[i]) !== 0) throw block.corrupt(`data block ${i}'s last entry is not the one the index names`);
      if (i > 0) {
        c.seekFirst();
        if (c.compareTo(index.lastKey(i - 1), index.tsHi[i - 1], index.tsLo[i - 1]) <= 0) throw block.corrupt(`data block ${i}'s first entry is not after block ${i - 1}'s last`);
      }
    } finally {
      c.detach();
    }
  }

  layout(): TableLayout {
    const f = this.footer;
    const dataBlocks: TableLayout["dataBlocks"] = [];
    for (let i = 0; i < this.index.count; i++) dataBlocks.push({ offset: this.index.offsets[i], length: this.index.lengths[i] });
    return {
      dataBlocks,
      index: { offset: f.indexOffset, length: f.indexLength },
      filter: { offset: f.filterOffset, length: f.filterLength },
      meta: { offset: f.metaOffset, length: f.metaLength },
      footer: { offset: this.meta.bytes - FOOTER_BYTES, length: FOOTER_BYTES },
    };
  }

  /** Closes the file and drops this table's blocks from the cache. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#spareCursors = [];
    // The point-lookup cursor leaves its block, so that its buffer goes back to the pool.
    this.#getCursor?.detach();
    this.#getCursor = undefined;
    this.#cache.dropFile(this.fileId);
    this.#file.close();
  }

  #check(): void {
    if (this.#closed) throw new ClosedError(`table ${this.path}`);
  }
}

/** `length` bytes at `position`, or a CorruptionError if the file ends first. */
function readExactly(file: FileHandle, path: string, position: number, length: number, what: string): Uint8Array {
  const bytes = new Uint8Array(length);
  readInto(file, path, position, bytes, what);
  return bytes;
}

/** Fills `bytes` from `position`, or a CorruptionError if the file ends first. */
function readInto(file: FileHandle, path: string, position: number, bytes: Uint8Array, what: string): void {
  const length = bytes.length;
  let done = 0;
  while (done < length) {
    const n = file.read(done === 0 ? bytes : bytes.subarray(done), position + done);
    if (n <= 0) {
      throw new CorruptionError(`${what} at offset ${position} of ${path}: the file ends after ${done} of its ${length} bytes`, path, position);
    }
    done += n;
  }
  if (done !== length) throw new CorruptionError(`${what} at offset ${position} of ${path}: read ${done} bytes, expected ${length}`, path, position);
}
