/**
 * Bloom filter over the distinct user keys of one table (docs/table-format.md,
 * `filter-block`): m = 8 × bitBytes bits, k probes by double hashing,
 *   h1 = xxh32(key, BLOOM_SEED_1), h2 = xxh32(key, BLOOM_SEED_2),
 *   g_i = (h1 + i × h2) mod 2^32, probe i sets/tests bit g_i mod m (i = 0..k-1),
 *   bit b is bit (b mod 8) of byte (b div 8).
 * With bitsPerKey = m/n bits per key, k = round(bitsPerKey × ln 2) (clamped to 1..30)
 * minimises the false-positive rate (1 - e^(-k/bitsPerKey))^k: ~0.82% at 10 bits/key.
 *
 * Invariants: a key added to the builder always tests positive in the filter it
 * finishes (no false negatives); the builder holds 8 bytes per key until `finish`, at
 * most TABLE_KEYS_MAX keys. Threads: the thread that created it (it hashes with that
 * thread's hasher).
 */
import { CorruptionError } from "../errors.ts";
import {
  BLOCK_KIND_NAMES,
  BLOOM_BIT_BYTES_MIN,
  BLOOM_PROBES_MAX,
  BLOOM_SEED_1,
  BLOOM_SEED_2,
  BlockKind,
  blockChecksum,
  checksumMatches,
  FILTER_BLOCK_BYTES_MAX,
  FILTER_TRAILER_BYTES,
  TABLE_KEYS_MAX,
  type TableHasher,
} from "./format.ts";

/** Bloom bits per key the writer accepts. */
export const BLOOM_BITS_PER_KEY_MAX = 30;

/** Probes for a filter of `bitsPerKey` bits per key: round(bitsPerKey × ln 2), 1..30. */
export function bloomProbes(bitsPerKey: number): number {
  return Math.min(BLOOM_PROBES_MAX, Math.max(1, Math.round(bitsPerKey * Math.LN2)));
}

/** Bytes of the bit array for `keys` keys at `bitsPerKey`: ceil(keys × bitsPerKey / 8), at least 8. */
export function bloomBitBytes(keys: number, bitsPerKey: number): number {
  return Math.max(BLOOM_BIT_BYTES_MIN, Math.ceil((keys * bitsPerKey) / 8));
}

export class BloomFilterBuilder {
  #h1 = new Uint32Array(1024);
  #h2 = new Uint32Array(1024);
  #keys = 0;

  constructor(
    private readonly hasher: TableHasher,
    readonly bitsPerKey: number,
  ) {
    if (!Number.isInteger(bitsPerKey) || bitsPerKey < 1 || bitsPerKey > BLOOM_BITS_PER_KEY_MAX) {
      throw new RangeError(`bloomBitsPerKey must be an integer from 1 to ${BLOOM_BITS_PER_KEY_MAX}, got ${bitsPerKey}`);
    }
  }

  get keys(): number {
    return this.#keys;
  }

  /** Adds one distinct user key (the caller adds each key once). */
  addKey(key: Uint8Array): void {
    const n = this.#keys;
    if (n >= TABLE_KEYS_MAX) throw new RangeError(`a table holds at most ${TABLE_KEYS_MAX} distinct keys (TABLE_KEYS_MAX)`);
    if (n === this.#h1.length) {
      const h1 = new Uint32Array(n * 2);
      h1.set(this.#h1);
      this.#h1 = h1;
      const h2 = new Uint32Array(n * 2);
      h2.set(this.#h2);
      this.#h2 = h2;
    }
    this.#h1[n] = filterHash1(this.hasher, key);
    this.#h2[n] = filterHash2(this.hasher, key);
    this.#keys = n + 1;
  }

  /** Size of the finished filter block. */
  get bytes(): number {
    return bloomBitBytes(this.#keys, this.bitsPerKey) + FILTER_TRAILER_BYTES;
  }

  /** The filter block (bits, probes, keys, checksum) for a block written at `fileOffset`. */
  finish(fileOffset: number): Uint8Array {
    const bitBytes = bloomBitBytes(this.#keys, this.bitsPerKey);
    const length = bitBytes + FILTER_TRAILER_BYTES;
    if (length > FILTER_BLOCK_BYTES_MAX) throw new RangeError(`the filter would be ${length} bytes; the limit is ${FILTER_BLOCK_BYTES_MAX} (FILTER_BLOCK_BYTES_MAX)`);
    const probes = bloomProbes(this.bitsPerKey);
    const block = new Uint8Array(length);
    const bits = bitBytes * 8;
    for (let n = 0; n < this.#keys; n++) {
      const h2 = this.#h2[n];
      let g = this.#h1[n];
      for (let i = 0; i < probes; i++) {
        const bit = g % bits;
        block[bit >>> 3] |= 1 << (bit & 7);
        g = (g + h2) >>> 0;
      }
    }
    const view = new DataView(block.buffer);
    view.setUint32(bitBytes, probes, true);
    view.setUint32(bitBytes + 4, this.#keys, true);
    view.setUint32(length - 4, blockChecksum(this.hasher, BlockKind.FILTER, fileOffset, block.subarray(0, length - 4)), true);
    this.#h1 = new Uint32Array(0);
    this.#h2 = new Uint32Array(0);
    return block;
  }
}

export class BloomFilter {
  private constructor(
    private readonly hasher: TableHasher,
    /** The bit array (its own copy). */
    readonly bits: Uint8Array,
    readonly probes: number,
    /** Distinct keys the filter was built over. */
    readonly keys: number,
  ) {}

  /** The filter in `block` (the whole filter block at `fileOffset` of `file`), or a CorruptionError. */
  static verify(hasher: TableHasher, file: string, fileOffset: number, block: Uint8Array): BloomFilter {
    const corrupt = (why: string) => new CorruptionError(`${BLOCK_KIND_NAMES[BlockKind.FILTER]} at offset ${fileOffset} of ${file}: ${why}`, file, fileOffset);
    const bitBytes = block.length - FILTER_TRAILER_BYTES;
    if (bitBytes < BLOOM_BIT_BYTES_MIN) throw corrupt(`${block.length} bytes is shorter than any filter`);
    if (!checksumMatches(hasher, BlockKind.FILTER, fileOffset, block)) throw corrupt("checksum mismatch");
    const view = new DataView(block.buffer, block.byteOffset, block.length);
    const probes = view.getUint32(bitBytes, true);
    const keys = view.getUint32(bitBytes + 4, true);
    if (probes < 1 || probes > BLOOM_PROBES_MAX) throw corrupt(`${probes} probes is out of range`);
    if (keys < 1 || keys > TABLE_KEYS_MAX) throw corrupt(`${keys} keys is out of range`);
    return new BloomFilter(hasher, block.slice(0, bitBytes), probes, keys);
  }

  /** False when `key` is certainly not in the table; true when it may be. */
  mayContain(key: Uint8Array): boolean {
    return this.mayContainHashed(filterHash1(this.hasher, key), filterHash2(this.hasher, key));
  }

  /**
   * `mayContain` for a key whose two hashes (filterHash1, filterHash2) the caller computed
   * once: a lookup probes every table of its shard with the same pair.
   */
  mayContainHashed(h1: number, h2: number): boolean {
    const bits = this.bits;
    const m = bits.length * 8;
    let g = h1;
    for (let i = 0; i < this.probes; i++) {
      const bit = g % m;
      if ((bits[bit >>> 3] & (1 << (bit & 7))) === 0) return false;
      g = (g + h2) >>> 0;
    }
    return true;
  }
}

/** The filter's first hash of `key` (h1 of the header): the same for every table. */
export function filterHash1(hasher: TableHasher, key: Uint8Array): number {
  return hasher.hash32(key, BLOOM_SEED_1) >>> 0;
}

/** The filter's second hash of `key` (h2 of the header). */
export function filterHash2(hasher: TableHasher, key: Uint8Array): number {
  return hasher.hash32(key, BLOOM_SEED_2) >>> 0;
}
