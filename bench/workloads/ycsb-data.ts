/**
 * The records and operation sequences of the YCSB core workloads (bench/workloads/ycsb.ts),
 * generated once per run from fixed seeds, so every system runs exactly the same
 * operations in the same order.
 *
 * Records: keynum k (0 <= k < records) has the 16-byte key FNV-1a-64(k) ‖ k (both
 * big-endian): YCSB's hashed insert order ("user" + fnvhash64(k)), so neighbouring
 * keynums land far apart in key order. Its value is record value k of the YCSB pool.
 *
 * Each workload's sequence is YCSB's CoreWorkload with requestdistribution=zipfian
 * (D: latest): an operation is drawn from the proportions, then its key:
 * - zipfian (A, B, C, E): ScrambledZipfian over records + expected new keys (YCSB:
 *   operations × insert proportion × 2), redrawn while above the newest record;
 * - latest (D): SkewedLatest over the records inserted so far;
 * - an insert takes the next keynum of the workload's own insert range (D and E insert
 *   distinct keys, so each sequence holds whatever ran before it);
 * - a scan (E) has a length uniform in 1..maxScanLength, and `scanMin` records how many
 *   rows it must return at least: the rows at or after its start key among the loaded
 *   records and this workload's earlier inserts (rows another workload inserted can only
 *   add to that), capped at the length.
 * The first `warm` operations of a sequence are its warm-up (run, not measured).
 * Threads: any.
 */
import type { Sizes } from "../harness/sizes.ts";
import { ValuePool } from "../lib/data.ts";
import { fnv64, ScrambledZipfian, SkewedLatest, uniform } from "../lib/zipfian.ts";

export const READ = 0;
export const UPDATE = 1;
export const INSERT = 2;
export const SCAN = 3;
export const OP_NAMES = ["read", "update", "insert", "scan"] as const;

export interface YcsbSpec {
  id: "ycsb-a" | "ycsb-b" | "ycsb-c" | "ycsb-d" | "ycsb-e";
  letter: string;
  /** Proportions of read, update, insert, scan (adding up to 1). */
  mix: [number, number, number, number];
  distribution: "zipfian" | "latest";
  what: string;
}

export const YCSB_SPECS: readonly YcsbSpec[] = [
  { id: "ycsb-a", letter: "A", mix: [0.5, 0.5, 0, 0], distribution: "zipfian", what: "update heavy: 50% reads, 50% updates" },
  { id: "ycsb-b", letter: "B", mix: [0.95, 0.05, 0, 0], distribution: "zipfian", what: "read mostly: 95% reads, 5% updates" },
  { id: "ycsb-c", letter: "C", mix: [1, 0, 0, 0], distribution: "zipfian", what: "read only: 100% reads" },
  { id: "ycsb-d", letter: "D", mix: [0.95, 0, 0.05, 0], distribution: "latest", what: "read latest: 95% reads favouring recent inserts, 5% inserts" },
  { id: "ycsb-e", letter: "E", mix: [0, 0, 0.05, 0.95], distribution: "zipfian", what: "short ranges: 95% scans of up to 100 rows, 5% inserts" },
];

export interface YcsbSequence {
  spec: YcsbSpec;
  /** Operations in all (warm-up first). */
  length: number;
  /** The first `warm` operations are the warm-up. */
  warm: number;
  /** Measured operations (length - warm), and per measured round. */
  measured: number;
  perRound: number;
  type: Uint8Array;
  key: Uint8Array[];
  /** Scans: rows asked, and the fewest rows the answer may have. */
  scanLength: Uint8Array;
  scanMin: Uint8Array;
  /** Updates and inserts write values.at(valueBase + operation index). */
  valueBase: number;
}

export interface YcsbData {
  records: Uint8Array[];
  values: ValuePool;
  sequences: YcsbSequence[];
}

/** The 16-byte key of keynum k: FNV-1a-64(k) then k, big-endian. */
export function ycsbKey(k: number): Uint8Array {
  const key = new Uint8Array(16);
  const view = new DataView(key.buffer);
  const [hi, lo] = fnv64(k);
  view.setUint32(0, hi);
  view.setUint32(4, lo);
  view.setUint32(8, Math.floor(k / 4294967296));
  view.setUint32(12, k >>> 0);
  return key;
}

/** Where workload E's inserts start (D's start right after the records): far apart, never overlapping. */
const E_INSERT_BASE = 2 ** 32;

/** Fenwick tree over ranks: how many present keys rank at or after a given rank. */
class Present {
  readonly #tree: Int32Array;
  #count = 0;
  constructor(readonly size: number) {
    this.#tree = new Int32Array(size + 1);
  }
  add(rank: number): void {
    this.#count++;
    for (let i = rank + 1; i <= this.size; i += i & -i) this.#tree[i]++;
  }
  /** Present keys ranked below `rank`. */
  #below(rank: number): number {
    let n = 0;
    for (let i = rank; i > 0; i -= i & -i) n += this.#tree[i];
    return n;
  }
  atOrAfter(rank: number): number {
    return this.#count - this.#below(rank);
  }
}

function sequence(sizes: Sizes, spec: YcsbSpec, index: number, records: Uint8Array[], seed: number): YcsbSequence {
  const y = sizes.ycsb;
  const n = y.records;
  const measured = spec.id === "ycsb-e" ? y.scanOperations : y.operations;
  const warm = sizes.warmup ? Math.round(measured * sizes.warmupFraction) : 0;
  const length = warm + measured;
  const random = uniform(seed + index);
  const type = new Uint8Array(length);
  const keynum = new Float64Array(length);
  const scanLength = new Uint8Array(length);
  const insertBase = spec.id === "ycsb-e" ? E_INSERT_BASE : n;
  const [read, update, insert] = spec.mix;
  const expectedNew = Math.round(measured * insert * 2);
  const zipfian = new ScrambledZipfian(n + expectedNew, random);
  const latest = new SkewedLatest(n - 1, random);
  /** Logical index of the newest record (records, then this workload's inserts). */
  let newest = n - 1;
  const physical = (logical: number) => (logical < n ? logical : insertBase + (logical - n));
  const choose = () => {
    if (spec.distribution === "latest") return latest.next(newest);
    let k: number;
    do k = zipfian.next();
    while (k > newest);
    return k;
  };
  for (let i = 0; i < length; i++) {
    const u = random();
    const t = u < read ? READ : u < read + update ? UPDATE : u < read + update + insert ? INSERT : SCAN;
    type[i] = t;
    if (t === INSERT) {
      newest++;
      keynum[i] = physical(newest);
    } else {
      keynum[i] = physical(choose());
      if (t === SCAN) scanLength[i] = 1 + Math.floor(random() * y.maxScanLength);
    }
  }
  const key = Array.from(keynum, (k) => (k < n ? records[k] : ycsbKey(k)));

  // The fewest rows each scan may return: rank every key this sequence can see.
  const scanMin = new Uint8Array(length);
  if (spec.mix[3] > 0) {
    const keys = [...records, ...key.filter((_, i) => type[i] === INSERT)];
    const order = keys.map((_, i) => i).sort((a, b) => compare(keys[a], keys[b]));
    const rank = new Map<Uint8Array, number>();
    order.forEach((k, r) => rank.set(keys[k], r));
    const present = new Present(keys.length);
    for (let r = 0; r < n; r++) present.add(rank.get(records[r])!);
    for (let i = 0; i < length; i++) {
      if (type[i] === INSERT) present.add(rank.get(key[i])!);
      else if (type[i] === SCAN) scanMin[i] = Math.min(scanLength[i], present.atOrAfter(rank.get(key[i])!));
    }
  }
  return { spec, length, warm, measured, perRound: Math.floor(measured / sizes.rounds), type, key, scanLength, scanMin, valueBase: n + index * length };
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

export function makeYcsbData(sizes: Sizes, seed: number): YcsbData {
  const records = Array.from({ length: sizes.ycsb.records }, (_, k) => ycsbKey(k));
  const values = new ValuePool(sizes.ycsb.valueBytes, seed);
  const sequences = YCSB_SPECS.map((spec, i) => sequence(sizes, spec, i, records, seed + 1));
  return { records, values, sequences };
}
