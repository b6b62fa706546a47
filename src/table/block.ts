/**
 * Block: one data or index block read from a table file, checksum-verified, with its
 * trailer parsed (docs/table-format.md, `block`). Immutable once made; the block cache
 * holds these, and cursors decode entries straight out of `bytes`.
 *
 * Invariants (checked by `Block.verify`, which is the only way to make one from file bytes)
 * - the checksum matched for this kind at this file offset;
 * - 1 <= restartCount, and the restart array fits before the trailer;
 * - restart[0] = 0, restart offsets strictly increase and lie below `restartsOffset`.
 * Entry contents are checked as cursors decode them (block-cursor.ts).
 *
 * Memory: a block read through a cache lives in a buffer of that cache's pool
 * (block-cache.ts, BlockBuffers), which is used again for another block once nothing can
 * read this one: the cache no longer holds it (`cached` false) and no cursor is positioned
 * on it (`pins` 0). A cursor pins the block it moves onto and unpins the one it leaves
 * (block-cursor.ts); whatever else takes a block from `TableReader.blockAt` must use it
 * before the next call into the same cache, and must not keep views into it. Reading a
 * block from disk therefore allocates nothing in the steady state: allocating a fresh
 * ArrayBuffer per cache miss cost more in garbage collection than the read itself
 * (docs/PERFORMANCE.md).
 * Threads: the reader's thread (the pin count and the pool are not thread-safe).
 */
import { CorruptionError } from "../errors.ts";
import type { BlockBuffers } from "./block-cache.ts";
import { BLOCK_BYTES_MIN, BLOCK_KIND_NAMES, BLOCK_TRAILER_BYTES, checksumMatches, type TableHasher } from "./format.ts";

export class Block {
  readonly view: DataView;
  /** Cursors positioned on this block now. */
  pins = 0;
  /** Held by the block cache now (set and cleared by BlockCache only). */
  cached = false;
  /** The pool `bytes` goes back to once nothing holds the block; undefined after that, or when not pooled. */
  pool: BlockBuffers | undefined;
  /** Where the restart array starts: entries occupy [0, restartsOffset). */
  readonly restartsOffset: number;
  readonly restartCount: number;

  private constructor(
    readonly bytes: Uint8Array,
    readonly kind: number,
    /** The table file, for error messages. */
    readonly file: string,
    /** Where the block starts in its file. */
    readonly fileOffset: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const trailer = bytes.length - BLOCK_TRAILER_BYTES;
    this.restartCount = trailer >= 0 ? this.view.getUint32(trailer, true) : 0;
    this.restartsOffset = trailer - 4 * this.restartCount;
  }

  /** The block in `bytes` (its whole extent, checksum last), or a CorruptionError naming file and offset. */
  static verify(hasher: TableHasher, kind: number, file: string, fileOffset: number, bytes: Uint8Array): Block {
    const name = BLOCK_KIND_NAMES[kind] ?? "block";
    if (bytes.length < BLOCK_BYTES_MIN) {
      throw new CorruptionError(`${name} at offset ${fileOffset} of ${file} is ${bytes.length} bytes, shorter than any block`, file, fileOffset);
    }
    if (!checksumMatches(hasher, kind, fileOffset, bytes)) {
      throw new CorruptionError(`${name} at offset ${fileOffset} of ${file}: checksum mismatch`, file, fileOffset);
    }
    const block = new Block(bytes, kind, file, fileOffset);
    const count = block.restartCount;
    if (count < 1 || block.restartsOffset < 1 || count > (bytes.length - BLOCK_TRAILER_BYTES) / 4) {
      throw block.corrupt(`restart count ${count} does not fit the block`);
    }
    let previous = -1;
    for (let i = 0; i < count; i++) {
      const r = block.restart(i);
      if ((i === 0 && r !== 0) || r <= previous || r >= block.restartsOffset) {
        throw block.corrupt(`restart point ${i} at ${r} is out of order or out of range`);
      }
      previous = r;
    }
    return block;
  }

  /** A cursor moves onto this block. */
  pin(): void {
    this.pins++;
  }

  /** A cursor leaves this block: its buffer goes back to the pool if the cache dropped it too. */
  unpin(): void {
    if (--this.pins === 0 && !this.cached) this.recycle();
  }

  /** Gives `bytes` back to the pool (once); the block must not be read afterwards. Caller checks pins and cached. */
  recycle(): void {
    const pool = this.pool;
    if (pool === undefined) return;
    this.pool = undefined;
    pool.give(this.bytes);
  }

  /** Offset in the block of restart point `i`. */
  restart(i: number): number {
    return this.view.getUint32(this.restartsOffset + 4 * i, true);
  }

  /** A CorruptionError about this block, naming the file and the block's offset. */
  corrupt(message: string): CorruptionError {
    const name = BLOCK_KIND_NAMES[this.kind] ?? "block";
    return new CorruptionError(`${name} at offset ${this.fileOffset} of ${this.file}: ${message}`, this.file, this.fileOffset);
  }

  get length(): number {
    return this.bytes.length;
  }
}
