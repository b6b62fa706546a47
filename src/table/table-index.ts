/**
 * TableIndex: a table's index block, decoded once when the table opens and kept in
 * memory as flat arrays, so finding the data block for a key is a binary search over
 * plain memory with no decoding (docs/table-format.md, `index-block`).
 *
 * Index entry i is the LAST entry (key, ts) of data block i, with seq 0 and the block's
 * handle (offset:u64, length:u32) as its value. So the first block whose last entry is
 * at or after a target (key, ts) is the only block that can hold the first entry at or
 * after that target.
 *
 * Invariants (checked by `decode`, CorruptionError naming the index block otherwise)
 * - exactly `dataBlocks` entries, each a value of BLOCK_HANDLE_BYTES with seq 0;
 * - block 0 starts at offset 0, each block starts where the previous ends, the last
 *   ends at the index block's offset; every length is in [BLOCK_BYTES_MIN, DATA_BLOCK_BYTES_MAX];
 * - last entries strictly increase in (key asc, ts desc) order.
 * Threads: immutable after decode; the reader's thread.
 */
import type { Block } from "./block.ts";
import { BlockCursor } from "./block-cursor.ts";
import { BLOCK_BYTES_MIN, BLOCK_HANDLE_BYTES, DATA_BLOCK_BYTES_MAX } from "./format.ts";
import { compareByteRanges, compareTsDescending } from "./key-order.ts";

export class TableIndex {
  private constructor(
    readonly count: number,
    readonly offsets: Float64Array,
    readonly lengths: Uint32Array,
    /** Last keys of the blocks, back to back; key i is keys[keyEnds[i-1] (or 0), keyEnds[i]). */
    readonly keys: Uint8Array,
    readonly keyEnds: Uint32Array,
    readonly tsHi: Uint32Array,
    readonly tsLo: Uint32Array,
  ) {}

  /** Decodes and checks the index block of a table whose data blocks end at `dataEnd`. */
  static decode(block: Block, dataBlocks: number, dataEnd: number): TableIndex {
    const offsets = new Float64Array(dataBlocks);
    const lengths = new Uint32Array(dataBlocks);
    const keyEnds = new Uint32Array(dataBlocks);
    const tsHi = new Uint32Array(dataBlocks);
    const tsLo = new Uint32Array(dataBlocks);
    let keys = new Uint8Array(Math.max(64, dataBlocks * 16));
    let keyBytes = 0;
    let expectedOffset = 0;
    let n = 0;
    const cursor = new BlockCursor();
    cursor.reset(block);
    for (let ok = cursor.seekFirst(); ok; ok = cursor.next()) {
      if (n === dataBlocks) throw block.corrupt(`more entries than the footer's ${dataBlocks} data blocks`);
      const value = cursor.value;
      if (value === undefined || value.length !== BLOCK_HANDLE_BYTES || cursor.seqHi !== 0 || cursor.seqLo !== 0) {
        throw block.corrupt(`entry ${n} is not a block handle`);
      }
      const view = new DataView(value.buffer, value.byteOffset, BLOCK_HANDLE_BYTES);
      const offset = view.getUint32(0, true) + view.getUint32(4, true) * 0x100000000;
      const length = view.getUint32(8, true);
      if (offset !== expectedOffset) throw block.corrupt(`data block ${n} starts at ${offset}, expected ${expectedOffset}`);
      if (length < BLOCK_BYTES_MIN || length > DATA_BLOCK_BYTES_MAX) throw block.corrupt(`data block ${n} length ${length} out of range`);
      expectedOffset = offset + length;
      const keyLength = cursor.keyLength;
      if (n > 0) {
        const start = n === 1 ? 0 : keyEnds[n - 2];
        let c = compareByteRanges(keys, start, keyEnds[n - 1], cursor.keyBuffer, 0, keyLength);
        if (c === 0) c = compareTsDescending(tsHi[n - 1], tsLo[n - 1], cursor.tsHi, cursor.tsLo);
        if (c >= 0) throw block.corrupt(`entry ${n} is not after entry ${n - 1}`);
      }
      if (keyBytes + keyLength > keys.length) {
        const grown = new Uint8Array(Math.max(keys.length * 2, keyBytes + keyLength));
        grown.set(keys.subarray(0, keyBytes));
        keys = grown;
      }
      keys.set(cursor.keyBuffer.subarray(0, keyLength), keyBytes);
      keyBytes += keyLength;
      offsets[n] = offset;
      lengths[n] = length;
      keyEnds[n] = keyBytes;
      tsHi[n] = cursor.tsHi;
      tsLo[n] = cursor.tsLo;
      n++;
    }
    if (n !== dataBlocks) throw block.corrupt(`${n} entries, the footer says ${dataBlocks} data blocks`);
    if (expectedOffset !== dataEnd) throw block.corrupt(`data blocks end at ${expectedOffset}, the index starts at ${dataEnd}`);
    return new TableIndex(dataBlocks, offsets, lengths, keys.slice(0, keyBytes), keyEnds, tsHi, tsLo);
  }

  /** Start of block i's last key in `keys`. */
  keyStart(i: number): number {
    return i === 0 ? 0 : this.keyEnds[i - 1];
  }

  /** Block i's last key (a view). */
  lastKey(i: number): Uint8Array {
    return this.keys.subarray(this.keyStart(i), this.keyEnds[i]);
  }

  /** First block whose last entry is at or after (key, ts); `count` if none. */
  findBlock(key: Uint8Array, tsHi: number, tsLo: number): number {
    let lo = 0;
    let hi = this.count;
    const keys = this.keys;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      let c = compareByteRanges(keys, this.keyStart(mid), this.keyEnds[mid], key, 0, key.length);
      if (c === 0) c = compareTsDescending(this.tsHi[mid], this.tsLo[mid], tsHi, tsLo);
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
