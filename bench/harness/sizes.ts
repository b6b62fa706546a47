/**
 * Sizes of every workload, full and `--quick`. The same sizes apply to every system in a
 * run (the honesty rule: same keys, values and counts for everyone); the report prints
 * them. Full sizes are chosen so the whole run (three runtimes, bench/core, bench/wal and
 * bench/engine included) takes about a quarter of an hour on the 2-core development VM
 * (the YCSB, sustained, 16 KiB and string workloads take about 2.6 minutes of it over the
 * three runtimes); `--quick` only proves that everything runs, in seconds, and its figures
 * mean nothing.
 * Threads: any.
 */

export interface Sizes {
  /** Measured rounds per (system, workload); the figure is their median. */
  rounds: number;
  /** Whether a warm-up round (of warmupFraction of the count, in its own store) runs first and is discarded. */
  warmup: boolean;
  warmupFraction: number;
  /** A round that runs longer stops early; the result is then marked as capped. */
  roundCapMs: number;
  keyBytes: number;
  valueBytes: number;
  largeValueBytes: number;
  /** Non-durable puts per round, 100-byte values (sequential and random keys). */
  putCount: number;
  /** Non-durable puts per round, 1 KiB values. */
  putLargeCount: number;
  /** Bytes per value of the 16 KiB put workload, and its puts per round. */
  hugeValueBytes: number;
  putHugeCount: number;
  /** The string workloads (put-rand-str, get-hit-str): characters per key and per value (ASCII), puts and gets per round. */
  stringKeyChars: number;
  stringValueChars: number;
  stringPutCount: number;
  stringGetCount: number;
  /** Durable puts per round, by the number kept in flight. */
  durableCount: { 1: number; 16: number; 256: number };
  /** Puts per round on the channel path and with a change-feed subscriber. */
  pathCount: number;
  /** Keys loaded before the read workloads. */
  readKeys: number;
  /** Gets per round (hits, and misses). */
  getCount: number;
  /** Individually timed operations for p50/p99 of gets. */
  latencySamples: number;
  /** Rows per scan. */
  scanRows: number;
  /** Scans per round. */
  scans: number;
  /** Puts per worker in the two-worker workload (one worker does the same count). */
  workerPutsEach: number;
  /** Size of the log the recovery workload recovers. */
  recoveryLogBytes: number;
  /** fdatasync samples for the floor. */
  floorSamples: number;
  /** YCSB core workloads A-E (bench/workloads/ycsb.ts). */
  ycsb: YcsbSizes;
  /** The sustained random-put load (bench/workloads/sustained.ts). */
  sustained: SustainedSizes;
}

export interface YcsbSizes {
  /** Records loaded before the run phases (YCSB's recordcount). */
  records: number;
  /** Bytes per record (YCSB's default record: 10 fields of 100 bytes, stored here as one value). */
  valueBytes: number;
  /** Measured operations of workloads A to D (YCSB's operationcount), split into `rounds` rounds. */
  operations: number;
  /** Measured operations of workload E (scans read up to maxScanLength rows each). */
  scanOperations: number;
  /** YCSB's maxscanlength: scan lengths are uniform in 1..maxScanLength. */
  maxScanLength: number;
}

export interface SustainedSizes {
  /** shardline's shards and memtable bytes per shard in this workload; the load is `factor` times their product. */
  shards: number;
  memtableBytesMax: number;
  factor: number;
  valueBytes: number;
  /** Every n-th put is timed on its own (the p50/p99 sample). */
  latencyEvery: number;
  /** The load stops here (and is marked capped) if a system is slower. */
  capMs: number;
}

const MIB = 1 << 20;

export const FULL: Sizes = {
  rounds: 3,
  warmup: true,
  warmupFraction: 0.2,
  roundCapMs: 6_000,
  keyBytes: 16,
  valueBytes: 100,
  largeValueBytes: 1024,
  putCount: 50_000,
  putLargeCount: 20_000,
  hugeValueBytes: 16 * 1024,
  putHugeCount: 2_000,
  stringKeyChars: 16,
  stringValueChars: 100,
  stringPutCount: 10_000,
  // As many as getCount: rounds of 20,000 lasted 15-60 ms, and one young collection or a
  // late optimisation moved a system's round by half (2026-12-07: the same build read 342k
  // to 905k gets/s in Deno from run to run).
  stringGetCount: 50_000,
  // ×16 and ×256 rounds of 4,000 and 8,192 puts lasted 30-100 ms for shardline and lmdb-js:
  // the first rounds of a process were still warming up (a Node round 80-230k puts/s from
  // the first to the fifth), and one 10-20 ms stall of a batch moved a round by a third.
  durableCount: { 1: 1_000, 16: 12_000, 256: 32_768 },
  pathCount: 50_000,
  readKeys: 50_000,
  getCount: 50_000,
  latencySamples: 10_000,
  scanRows: 10_000,
  // 34 a round, 102 in all: with fewer than 100 samples the nearest-rank p99 is the slowest
  // scan (review, 2026-12-06).
  scans: 34,
  workerPutsEach: 50_000,
  recoveryLogBytes: 256 * MIB,
  floorSamples: 500,
  ycsb: { records: 40_000, valueBytes: 1000, operations: 30_000, scanOperations: 3_000, maxScanLength: 100 },
  // shardline's defaults (src/engine/options.ts): 4 shards of 4 MiB memtables, so 160 MiB of
  // puts. 4 KiB values keep that to 40,801 puts: with 1 KiB values (161,320 puts) SQLite and
  // LevelDB, which pay per put, would take 15-20 s each per runtime.
  sustained: { shards: 4, memtableBytesMax: 4 * MIB, factor: 10, valueBytes: 4096, latencyEvery: 16, capMs: 60_000 },
};

export const QUICK: Sizes = {
  rounds: 1,
  // Each round opens a fresh store; in quick mode one is enough to prove the path works.
  warmup: false,
  warmupFraction: 0.2,
  roundCapMs: 2_000,
  keyBytes: 16,
  valueBytes: 100,
  largeValueBytes: 1024,
  putCount: 2_000,
  putLargeCount: 1_000,
  hugeValueBytes: 16 * 1024,
  putHugeCount: 100,
  stringKeyChars: 16,
  stringValueChars: 100,
  stringPutCount: 2_000,
  stringGetCount: 2_000,
  durableCount: { 1: 20, 16: 64, 256: 512 },
  pathCount: 2_000,
  readKeys: 2_000,
  getCount: 2_000,
  latencySamples: 500,
  scanRows: 1_000,
  scans: 2,
  workerPutsEach: 2_000,
  recoveryLogBytes: 1 * MIB,
  floorSamples: 50,
  ycsb: { records: 2_000, valueBytes: 1000, operations: 600, scanOperations: 60, maxScanLength: 100 },
  // The smallest memtables, so that the quick run still flushes and compacts (2.5 MiB of puts).
  sustained: { shards: 4, memtableBytesMax: 64 * 1024, factor: 10, valueBytes: 4096, latencyEvery: 16, capMs: 20_000 },
};

/** Puts of the sustained load: 16-byte keys and values adding up to `factor` times shardline's memtables (shards × memtableBytesMax). */
export function sustainedPuts(s: Sizes): number {
  const t = s.sustained;
  return Math.ceil((t.factor * t.shards * t.memtableBytesMax) / (s.keyBytes + t.valueBytes));
}
