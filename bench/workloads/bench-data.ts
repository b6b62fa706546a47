/**
 * BenchData: the keys and values of one run, generated once from fixed seeds
 * (bench/lib/data.ts) and handed to every system alike. Keys are 16 bytes; values come
 * from ValuePools (distinct bytes per write, no allocation while measuring).
 * Each list is made on first use and kept for the run. Threads: main thread.
 */
import { compareBytes, randomKeys, randomStrings, sequentialKeys, shuffled, ValuePool } from "../lib/data.ts";
import { type Sizes, sustainedPuts } from "../harness/sizes.ts";
import { makeYcsbData, type YcsbData } from "./ycsb-data.ts";

/** Seeds: one per key list, fixed forever so every run writes the same keys. */
export const SEEDS = {
  putKeys: 1,
  durableKeys: 3,
  readKeys: 4,
  missKeys: 5,
  getOrder: 6,
  values: 7,
  largeValues: 8,
  scanStarts: 9,
  hugeValues: 10,
  stringKeys: 11,
  stringValues: 12,
  stringReadKeys: 13,
  sustainedKeys: 14,
  sustainedValues: 15,
  ycsb: 20,
  workerKeys: 100,
};

/**
 * Memtable bytes per shard (shardline's memtableBytesMax) for the recovery workload: with
 * the default 4 shards, room for a 256 MiB log's records and their index nodes, so the log
 * is not flushed to tables (and trimmed) before it can be recovered.
 */
export const RECOVERY_MEMTABLE_BYTES = 128 << 20;

export class BenchData {
  readonly #sizes: Sizes;
  readonly #cache = new Map<string, unknown>();
  constructor(sizes: Sizes) {
    this.#sizes = sizes;
  }

  #once<T>(name: string, make: () => T): T {
    if (!this.#cache.has(name)) this.#cache.set(name, make());
    return this.#cache.get(name) as T;
  }

  /** Random keys for the put workloads (the 1 KiB variant uses a prefix of them). */
  get putKeys(): Uint8Array[] {
    const s = this.#sizes;
    return this.#once("putKeys", () => randomKeys(Math.max(s.putCount, s.putLargeCount, s.pathCount), s.keyBytes, SEEDS.putKeys));
  }
  get sequentialKeys(): Uint8Array[] {
    return this.#once("sequentialKeys", () => sequentialKeys(this.#sizes.putCount, this.#sizes.keyBytes));
  }
  get durableKeys(): Uint8Array[] {
    const s = this.#sizes;
    return this.#once("durableKeys", () => randomKeys(Math.max(...Object.values(s.durableCount)), s.keyBytes, SEEDS.durableKeys));
  }
  /** Keys loaded before the read workloads. */
  get readKeys(): Uint8Array[] {
    return this.#once("readKeys", () => randomKeys(this.#sizes.readKeys, this.#sizes.keyBytes, SEEDS.readKeys));
  }
  /** The loaded keys in the order gets ask for them (a fixed shuffle, repeated to getCount). */
  get hitKeys(): Uint8Array[] {
    return this.#once("hitKeys", () => {
      const order = shuffled(this.readKeys, SEEDS.getOrder);
      return Array.from({ length: this.#sizes.getCount }, (_, i) => order[i % order.length]);
    });
  }
  /** Keys that were never written (random 16-byte keys from another seed). */
  get missKeys(): Uint8Array[] {
    return this.#once("missKeys", () => randomKeys(this.#sizes.getCount, this.#sizes.keyBytes, SEEDS.missKeys));
  }
  /** Start keys of the scans: loaded keys with at least scanRows keys at or after them. */
  get scanStarts(): Uint8Array[] {
    return this.#once("scanStarts", () => {
      const sorted = [...this.readKeys].sort(compareBytes);
      const room = Math.max(1, sorted.length - this.#sizes.scanRows);
      const order = shuffled(Array.from({ length: room }, (_, i) => i), SEEDS.scanStarts);
      return Array.from({ length: this.#sizes.scans }, (_, i) => sorted[order[i % order.length]]);
    });
  }
  get values(): ValuePool {
    return this.#once("values", () => new ValuePool(this.#sizes.valueBytes, SEEDS.values));
  }
  get largeValues(): ValuePool {
    return this.#once("largeValues", () => new ValuePool(this.#sizes.largeValueBytes, SEEDS.largeValues));
  }
  /** Values of the 16 KiB put workload (a larger pool, so that thousands of them are distinct). */
  get hugeValues(): ValuePool {
    return this.#once("hugeValues", () => new ValuePool(this.#sizes.hugeValueBytes, SEEDS.hugeValues, 16 << 20));
  }

  /** Random string keys of the string put workload. */
  get stringPutKeys(): string[] {
    const s = this.#sizes;
    return this.#once("stringPutKeys", () => randomStrings(s.stringPutCount, s.stringKeyChars, SEEDS.stringKeys));
  }
  /** String values, one per write (the string put workload, and the values loaded for string gets). */
  get stringValues(): string[] {
    const s = this.#sizes;
    return this.#once("stringValues", () => randomStrings(Math.max(s.stringPutCount, s.readKeys), s.stringValueChars, SEEDS.stringValues));
  }
  /** String keys loaded before the string gets. */
  get stringReadKeys(): string[] {
    const s = this.#sizes;
    return this.#once("stringReadKeys", () => randomStrings(s.readKeys, s.stringKeyChars, SEEDS.stringReadKeys));
  }
  /** The loaded string keys in the order the string gets ask for them (the same shuffle as hitKeys). */
  get stringHitKeys(): string[] {
    return this.#once("stringHitKeys", () => {
      const order = shuffled(this.stringReadKeys, SEEDS.getOrder);
      return Array.from({ length: this.#sizes.stringGetCount }, (_, i) => order[i % order.length]);
    });
  }

  /** Puts of the sustained load: enough 16-byte keys and values to write `factor` times shardline's memtables. */
  get sustainedKeys(): Uint8Array[] {
    return this.#once("sustainedKeys", () => randomKeys(sustainedPuts(this.#sizes), this.#sizes.keyBytes, SEEDS.sustainedKeys));
  }
  get sustainedValues(): ValuePool {
    return this.#once("sustainedValues", () => new ValuePool(this.#sizes.sustained.valueBytes, SEEDS.sustainedValues));
  }

  /** The YCSB records and the operation sequences of workloads A to E. */
  get ycsb(): YcsbData {
    return this.#once("ycsb", () => makeYcsbData(this.#sizes, SEEDS.ycsb));
  }
}
