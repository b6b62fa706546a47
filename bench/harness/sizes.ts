/**
 * Sizes of every workload, full and `--quick`. The same sizes apply to every system in a
 * run (the honesty rule: same keys, values and counts for everyone); the report prints
 * them. Full sizes are chosen so the whole run (three runtimes, bench/core and bench/wal
 * included) takes about ten minutes on the 2-core development VM; `--quick` only proves
 * that everything runs, in seconds, and its figures mean nothing.
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
  durableCount: { 1: 1_000, 16: 4_000, 256: 8_192 },
  pathCount: 50_000,
  readKeys: 50_000,
  getCount: 50_000,
  latencySamples: 10_000,
  scanRows: 10_000,
  scans: 20,
  workerPutsEach: 50_000,
  recoveryLogBytes: 256 * MIB,
  floorSamples: 500,
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
  durableCount: { 1: 20, 16: 64, 256: 512 },
  pathCount: 2_000,
  readKeys: 2_000,
  getCount: 2_000,
  latencySamples: 500,
  scanRows: 1_000,
  scans: 2,
  workerPutsEach: 2_000,
  recoveryLogBytes: 4 * MIB,
  floorSamples: 50,
};
