/**
 * TableCursor: a position in one table's entries, in table order (key ascending, then ts
 * descending), moving both ways. The engine merges many of these, and memtable cursors,
 * for `scan`; the API is shaped for that:
 *
 *   seekFirst() / seek(key, ts?)        first entry at or after (key, ts); ts defaults to
 *                                       2^64-1, i.e. the first entry with key >= `key`
 *   seekLast()  / seekBefore(key, ts?)  last entry strictly before (key, ts); with the
 *                                       default ts, the last entry with key < `key`
 *   next() / prev()                     step; false (and not valid) past either end
 *   key, ts, seq, value, isTombstone    the current entry
 *
 * Every positioning call returns `valid`. Seeking with an explicit ts lets a merging
 * iterator re-position exactly on an entry when it changes direction.
 *
 * Lifetimes: `key` is a view of the cursor's own buffer, valid until the cursor moves;
 * `value` is a view into a cached block, valid until the cursor leaves that block: the
 * block's buffer then goes back to the cache's pool once the cache evicted it, and the next
 * miss of any reader on the cache reads another block into it. Copy what is kept (every
 * engine caller does), and never modify the view (it aliases the block cache). `entry()`
 * returns copies.
 * Cost: a step decodes one entry in place (no allocation); `key`, `ts`, `seq` and `value`
 * allocate only when read; block changes go through the block cache.
 *
 * Invariants: valid ⇔ positioned on an entry; every entry a cursor visits was in a block
 * whose checksum was verified when it was read from disk. A block that disagrees with
 * the index throws CorruptionError naming that block.
 * Threads: the thread of its reader; not re-entrant.
 */
import type { Block } from "./block.ts";
import { BlockCursor } from "./block-cursor.ts";
import { ClosedError } from "../errors.ts";
import type { TableEntry } from "./format.ts";
import { hi32, lo32 } from "./key-order.ts";
import type { TableIndex } from "./table-index.ts";

/** What a cursor needs from its reader. */
export interface CursorSource {
  readonly path: string;
  readonly closed: boolean;
  readonly index: TableIndex;
  /** Data block i, from the cache or read and verified. */
  blockAt(i: number): Block;
}

const U32_MAX = 0xffffffff;

export class TableCursor {
  #source: CursorSource;
  #index: TableIndex;
  readonly #block = new BlockCursor();
  /** Index of the block the block cursor is on; -1 before the first positioning. */
  #blockIndex = -1;
  #keyView: Uint8Array | undefined;

  constructor(source: CursorSource) {
    this.#source = source;
    this.#index = source.index;
  }

  get valid(): boolean {
    return this.#blockIndex >= 0 && this.#block.valid;
  }

  /** Index of the data block the cursor is in (for tests and statistics). */
  get blockIndex(): number {
    return this.#blockIndex;
  }

  seekFirst(): boolean {
    this.#check();
    this.#load(0);
    return this.#block.seekFirst();
  }

  seekLast(): boolean {
    this.#check();
    this.#load(this.#index.count - 1);
    return this.#block.seekLast();
  }

  /** First entry at or after (key, ts); with the default ts, the first entry with key >= `key`. */
  seek(key: Uint8Array, ts?: bigint): boolean {
    return ts === undefined ? this.seekParts(key, U32_MAX, U32_MAX) : this.seekParts(key, hi32(ts), lo32(ts));
  }

  /** Last entry strictly before (key, ts); with the default ts, the last entry with key < `key`. */
  seekBefore(key: Uint8Array, ts?: bigint): boolean {
    return ts === undefined ? this.seekBeforeParts(key, U32_MAX, U32_MAX) : this.seekBeforeParts(key, hi32(ts), lo32(ts));
  }

  /** `seek` with ts as two u32 halves. */
  seekParts(key: Uint8Array, tsHi: number, tsLo: number): boolean {
    this.#check();
    const i = this.#index.findBlock(key, tsHi, tsLo);
    if (i === this.#index.count) {
      this.#block.invalidate();
      return false;
    }
    this.#load(i);
    if (!this.#block.seekGE(key, tsHi, tsLo)) {
      throw this.#block.block!.corrupt(`the index says block ${i} ends at or after the sought entry, but the block ends before it`);
    }
    return true;
  }

  /** `seekBefore` with ts as two u32 halves. */
  seekBeforeParts(key: Uint8Array, tsHi: number, tsLo: number): boolean {
    this.#check();
    const i = this.#index.findBlock(key, tsHi, tsLo);
    if (i === this.#index.count) return this.seekLast();
    this.#load(i);
    if (this.#block.seekLT(key, tsHi, tsLo)) return true;
    if (i === 0) return false;
    this.#load(i - 1);
    return this.#block.seekLast();
  }

  next(): boolean {
    if (!this.valid) return false;
    this.#check();
    this.#keyView = undefined;
    if (this.#block.next()) return true;
    const i = this.#blockIndex + 1;
    if (i >= this.#index.count) return false;
    this.#load(i);
    return this.#block.seekFirst();
  }

  prev(): boolean {
    if (!this.valid) return false;
    this.#check();
    this.#keyView = undefined;
    if (this.#block.prev()) return true;
    const i = this.#blockIndex - 1;
    if (i < 0) return false;
    this.#load(i);
    return this.#block.seekLast();
  }

  /** The current key: a view valid until the cursor moves. */
  get key(): Uint8Array {
    return (this.#keyView ??= this.#block.keyBuffer.subarray(0, this.#block.keyLength));
  }
  get keyLength(): number {
    return this.#block.keyLength;
  }
  /** The buffer whose [0, keyLength) is the current key, the same for the cursor's life (no view made: a scan's rows read it in place). */
  get keyBuffer(): Uint8Array {
    return this.#block.keyBuffer;
  }
  get ts(): bigint {
    return this.#block.ts;
  }
  get seq(): bigint {
    return this.#block.seq;
  }
  get tsHi(): number {
    return this.#block.tsHi;
  }
  get tsLo(): number {
    return this.#block.tsLo;
  }
  get seqHi(): number {
    return this.#block.seqHi;
  }
  get seqLo(): number {
    return this.#block.seqLo;
  }
  get isTombstone(): boolean {
    return this.#block.isTombstone;
  }
  /** The current value (a read-only view into the cached block, valid until the cursor leaves the block), undefined for a tombstone. */
  get value(): Uint8Array | undefined {
    return this.#block.value;
  }

  /** Current key compared with `key` (negative: the current key sorts first). No allocation. */
  compareKey(key: Uint8Array): number {
    return this.#block.compareKey(key);
  }

  /** Current entry compared with (key, ts): negative if the current entry sorts first. */
  compareTo(key: Uint8Array, tsHi: number, tsLo: number): number {
    return this.#block.compareTo(key, tsHi, tsLo);
  }

  /** The current entry, copied. */
  entry(): TableEntry {
    const value = this.#block.value;
    return { key: this.#block.keyBuffer.slice(0, this.#block.keyLength), ts: this.#block.ts, seq: this.#block.seq, value: value?.slice() };
  }

  /** Leaves its block (unpinned) and becomes a cursor not yet positioned (TableReader.releaseCursor). */
  detach(): void {
    this.#block.detach();
    this.#blockIndex = -1;
    this.#keyView = undefined;
  }

  /** Moves onto block i. Always asks the source (so the cache sees every use and keeps it recent). */
  #load(i: number): void {
    this.#keyView = undefined;
    const block = this.#source.blockAt(i);
    if (block !== this.#block.block) this.#block.reset(block);
    this.#blockIndex = i;
  }

  #check(): void {
    if (this.#source.closed) throw new ClosedError(`table ${this.#source.path}`);
  }
}
