/**
 * BlockCursor: a position in one block (data or index), decoding entries in place.
 *
 * Forward steps decode the next entry onto the key held in `keyBuffer` (prefix
 * compression). Seeks binary-search the restart points, whose keys are stored whole and
 * compared in the block without copying, then step forward. Backward steps use an
 * interval cache: the entries of one restart interval decoded once (their offsets and
 * key copies), so a reverse scan costs one forward decode per entry, as a forward scan
 * does, instead of one per entry per step.
 *
 * Invariants
 * - When valid, `keyBuffer[0, keyLength)` is the current entry's key, and `#restart` is
 *   the restart interval that holds the current entry.
 * - Every decoded length is checked against the block (no read outside
 *   [0, restartsOffset)), against KEY_BYTES_MAX and VALUE_BYTES_MAX, and shared is 0 at a
 *   restart; a violation is a CorruptionError naming the file and the block's offset.
 * - The block's bytes do not change while the cursor is on it, so `value` views stay
 *   valid until it leaves the block (then the buffer may be reused: table-cursor.ts); they
 *   alias the block cache and must not be modified.
 * Threads: the thread that created it; not re-entrant.
 */
import type { Block } from "./block.ts";
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "./format.ts";
import { compareByteRanges, compareTsDescending } from "./key-order.ts";
import { readVarint, varintEnd } from "./varint.ts";

const EMPTY = new Uint8Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_VIEW = new DataView(EMPTY.buffer);

export class BlockCursor {
  #block: Block | undefined;
  #bytes: Uint8Array = EMPTY;
  #view: DataView = EMPTY_VIEW;
  /** End of the entries (start of the restart array). */
  #limit = 0;
  /** Offset of the current entry, -1 when not valid. */
  #offset = -1;
  /** Offset after the current entry. */
  #next = 0;
  /** Restart interval of the current entry. */
  #restart = 0;
  #tsAt = 0;
  #valueAt = 0;
  /** -1 for a tombstone. */
  #valueLength = -1;

  /** The current key is keyBuffer[0, keyLength). */
  readonly keyBuffer = new Uint8Array(KEY_BYTES_MAX);
  keyLength = 0;

  // Interval cache for backward steps: entries of restart interval #ivRestart.
  #ivRestart = -1;
  #ivCount = 0;
  // Allocated on the first backward step: most cursors only go forward.
  #ivOffsets = EMPTY_I32;
  #ivKeyEnds = EMPTY_I32;
  #ivKeys = EMPTY;

  /** Leaves its block (unpinned) and becomes not valid, as a new cursor: for cursors kept to be used again. */
  detach(): void {
    this.#block?.unpin();
    this.#block = undefined;
    this.#bytes = EMPTY;
    this.#view = EMPTY_VIEW;
    this.#offset = -1;
    this.#ivRestart = -1;
    this.keyLength = 0;
  }

  /** Moves onto `block`; the cursor is not valid until positioned. */
  reset(block: Block): void {
    // Pin before unpinning: the same block must never be recycled in between.
    block.pin();
    this.#block?.unpin();
    this.#block = block;
    this.#bytes = block.bytes;
    this.#view = block.view;
    this.#limit = block.restartsOffset;
    this.#offset = -1;
    this.#ivRestart = -1;
  }

  get block(): Block | undefined {
    return this.#block;
  }

  get valid(): boolean {
    return this.#offset >= 0;
  }

  invalidate(): void {
    this.#offset = -1;
  }

  /** High and low halves of the current entry's ts, and of its seq. */
  get tsHi(): number {
    return this.#view.getUint32(this.#tsAt + 4, true);
  }
  get tsLo(): number {
    return this.#view.getUint32(this.#tsAt, true);
  }
  get seqHi(): number {
    return this.#view.getUint32(this.#tsAt + 12, true);
  }
  get seqLo(): number {
    return this.#view.getUint32(this.#tsAt + 8, true);
  }
  get ts(): bigint {
    return this.#view.getBigUint64(this.#tsAt, true);
  }
  get seq(): bigint {
    return this.#view.getBigUint64(this.#tsAt + 8, true);
  }
  get isTombstone(): boolean {
    return this.#valueLength < 0;
  }
  get valueLength(): number {
    return this.#valueLength;
  }
  /** A read-only view of the current value in the block; undefined for a tombstone. */
  get value(): Uint8Array | undefined {
    return this.#valueLength < 0 ? undefined : this.#bytes.subarray(this.#valueAt, this.#valueAt + this.#valueLength);
  }
  /** Offset of the current value in the block's bytes. */
  get valueOffset(): number {
    return this.#valueAt;
  }

  /** Current entry compared with (key, ts as hi/lo): negative if the current entry sorts before it. */
  compareTo(key: Uint8Array, tsHi: number, tsLo: number): number {
    const c = compareByteRanges(this.keyBuffer, 0, this.keyLength, key, 0, key.length);
    if (c !== 0) return c;
    return compareTsDescending(this.tsHi, this.tsLo, tsHi, tsLo);
  }

  /** Current key compared with `key`. */
  compareKey(key: Uint8Array): number {
    return compareByteRanges(this.keyBuffer, 0, this.keyLength, key, 0, key.length);
  }

  seekFirst(): boolean {
    this.#restart = 0;
    this.keyLength = 0;
    this.#decode(0, true);
    return true;
  }

  seekLast(): boolean {
    const block = this.#block!;
    this.#fillInterval(block.restartCount - 1);
    this.#positionCached(this.#ivCount - 1);
    return true;
  }

  /** First entry at or after (key, ts); false (not valid) if every entry sorts before it. */
  seekGE(key: Uint8Array, tsHi: number, tsLo: number): boolean {
    const r = this.#lastRestartBefore(key, tsHi, tsLo);
    this.#restart = r < 0 ? 0 : r;
    this.keyLength = 0;
    this.#decode(this.#block!.restart(this.#restart), true);
    while (this.compareTo(key, tsHi, tsLo) < 0) {
      if (!this.next()) return false;
    }
    return true;
  }

  /** Last entry strictly before (key, ts); false (not valid) if none in this block. */
  seekLT(key: Uint8Array, tsHi: number, tsLo: number): boolean {
    const r = this.#lastRestartBefore(key, tsHi, tsLo);
    if (r < 0) {
      this.#offset = -1;
      return false;
    }
    this.#fillInterval(r);
    let j = this.#ivCount - 1;
    for (; j > 0; j--) {
      const start = this.#keyStart(j);
      const c = compareByteRanges(this.#ivKeys, start, this.#ivKeyEnds[j], key, 0, key.length);
      if (c < 0) break;
      if (c === 0) {
        const tsAt = this.#tsOffsetOf(this.#ivOffsets[j]);
        if (compareTsDescending(this.#view.getUint32(tsAt + 4, true), this.#view.getUint32(tsAt, true), tsHi, tsLo) < 0) break;
      }
    }
    this.#positionCached(j);
    return true;
  }

  next(): boolean {
    if (this.#offset < 0) return false;
    const at = this.#next;
    if (at >= this.#limit) {
      this.#offset = -1;
      return false;
    }
    const block = this.#block!;
    if (this.#restart + 1 < block.restartCount) {
      const nextRestart = block.restart(this.#restart + 1);
      if (at === nextRestart) {
        this.#restart++;
        this.keyLength = 0; // a restart entry shares nothing: decode checks shared = 0
      } else if (at > nextRestart) {
        throw block.corrupt(`entry at ${at} straddles restart point ${this.#restart + 1} at ${nextRestart}`);
      }
    }
    this.#decode(at, true);
    return true;
  }

  prev(): boolean {
    if (this.#offset < 0) return false;
    const current = this.#offset;
    const r = this.#restart;
    if (this.#ivRestart !== r) this.#fillInterval(r);
    let j = 0;
    while (j < this.#ivCount && this.#ivOffsets[j] !== current) j++;
    if (j === this.#ivCount) throw this.#block!.corrupt(`entry at ${current} is not on the entry chain of restart interval ${r}`);
    if (j > 0) {
      this.#positionCached(j - 1);
      return true;
    }
    if (r === 0) {
      this.#offset = -1;
      return false;
    }
    this.#fillInterval(r - 1);
    this.#positionCached(this.#ivCount - 1);
    return true;
  }

  /** Largest restart index whose entry sorts before (key, ts), or -1. */
  #lastRestartBefore(key: Uint8Array, tsHi: number, tsLo: number): number {
    const block = this.#block!;
    const bytes = this.#bytes;
    const view = this.#view;
    let lo = 0;
    let hi = block.restartCount - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = block.restart(mid);
      // A restart entry: shared = 0, so the whole key is in the block.
      const shared = readVarint(bytes, at, this.#limit);
      const unshared = shared === 0 ? readVarint(bytes, varintEnd, this.#limit) : -1;
      const valueField = unshared >= 0 ? readVarint(bytes, varintEnd, this.#limit) : -1;
      const tsAt = varintEnd;
      const keyAt = tsAt + 16;
      if (valueField < 0 || unshared > KEY_BYTES_MAX || keyAt + unshared > this.#limit) {
        throw block.corrupt(`restart entry ${mid} at ${at} is malformed`);
      }
      let c = compareByteRanges(bytes, keyAt, keyAt + unshared, key, 0, key.length);
      if (c === 0) c = compareTsDescending(view.getUint32(tsAt + 4, true), view.getUint32(tsAt, true), tsHi, tsLo);
      if (c < 0) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /**
   * Decodes the entry at `at` onto the current key (keyBuffer[0, keyLength) must hold the
   * previous entry's key, or keyLength = 0 at a restart). With `copyKey` false the key is
   * already in place and only checked for length.
   */
  #decode(at: number, copyKey: boolean): void {
    const bytes = this.#bytes;
    const limit = this.#limit;
    const shared = readVarint(bytes, at, limit);
    const unshared = shared >= 0 ? readVarint(bytes, varintEnd, limit) : -1;
    const valueField = unshared >= 0 ? readVarint(bytes, varintEnd, limit) : -1;
    if (valueField < 0) throw this.#block!.corrupt(`entry at ${at}: malformed header`);
    const tsAt = varintEnd;
    const keyAt = tsAt + 16;
    const valueLength = valueField - 1;
    const keyLength = shared + unshared;
    if (copyKey ? shared > this.keyLength : keyLength !== this.keyLength) throw this.#block!.corrupt(`entry at ${at}: shares ${shared} key bytes with a key of ${this.keyLength}`);
    if (keyLength > KEY_BYTES_MAX) throw this.#block!.corrupt(`entry at ${at}: key of ${keyLength} bytes exceeds KEY_BYTES_MAX`);
    if (valueLength > VALUE_BYTES_MAX) throw this.#block!.corrupt(`entry at ${at}: value of ${valueLength} bytes exceeds VALUE_BYTES_MAX`);
    const end = keyAt + unshared + (valueLength > 0 ? valueLength : 0);
    if (end > limit) throw this.#block!.corrupt(`entry at ${at} runs past the entries (ends at ${end}, entries end at ${limit})`);
    if (copyKey) {
      const key = this.keyBuffer;
      for (let i = 0; i < unshared; i++) key[shared + i] = bytes[keyAt + i];
      this.keyLength = keyLength;
    }
    this.#offset = at;
    this.#next = end;
    this.#tsAt = tsAt;
    this.#valueAt = keyAt + unshared;
    this.#valueLength = valueLength;
  }

  /** Where the ts of the entry at `at` is (skips its three varints; the entry was decoded before). */
  #tsOffsetOf(at: number): number {
    readVarint(this.#bytes, at, this.#limit);
    readVarint(this.#bytes, varintEnd, this.#limit);
    readVarint(this.#bytes, varintEnd, this.#limit);
    return varintEnd;
  }

  #keyStart(j: number): number {
    return j === 0 ? 0 : this.#ivKeyEnds[j - 1];
  }

  /** Decodes restart interval `r` into the interval cache; leaves the cursor on its last entry. */
  #fillInterval(r: number): void {
    const block = this.#block!;
    const end = r + 1 < block.restartCount ? block.restart(r + 1) : this.#limit;
    let at = block.restart(r);
    this.keyLength = 0;
    this.#restart = r;
    let count = 0;
    let keyBytes = 0;
    while (at < end) {
      this.#decode(at, true);
      if (count === this.#ivOffsets.length) {
        const offsets = new Int32Array(Math.max(32, count * 2));
        offsets.set(this.#ivOffsets);
        this.#ivOffsets = offsets;
        const ends = new Int32Array(offsets.length);
        ends.set(this.#ivKeyEnds);
        this.#ivKeyEnds = ends;
      }
      if (keyBytes + this.keyLength > this.#ivKeys.length) {
        const keys = new Uint8Array(Math.max(this.#ivKeys.length * 2, keyBytes + this.keyLength, 4096));
        keys.set(this.#ivKeys.subarray(0, keyBytes));
        this.#ivKeys = keys;
      }
      const keys = this.#ivKeys;
      const key = this.keyBuffer;
      for (let i = 0; i < this.keyLength; i++) keys[keyBytes + i] = key[i];
      keyBytes += this.keyLength;
      this.#ivOffsets[count] = at;
      this.#ivKeyEnds[count] = keyBytes;
      count++;
      at = this.#next;
    }
    if (at !== end) throw block.corrupt(`restart interval ${r} ends at ${at}, not at ${end}`);
    this.#ivCount = count;
    this.#ivRestart = r;
  }

  /** Positions on entry `j` of the interval cache. */
  #positionCached(j: number): void {
    const start = this.#keyStart(j);
    const length = this.#ivKeyEnds[j] - start;
    const keys = this.#ivKeys;
    const key = this.keyBuffer;
    for (let i = 0; i < length; i++) key[i] = keys[start + i];
    this.keyLength = length;
    this.#restart = this.#ivRestart;
    this.#decode(this.#ivOffsets[j], false);
  }
}
