/**
 * Workload and Job: what the harness measures, and the unit it runs.
 *
 * A Workload is one row of the report (e.g. "get-hit"). A Job runs one or more workloads
 * for one system at a time (the read job loads a store once and measures get hits, misses
 * and scans on it). For each system a job states how it takes part (`participation`):
 * - run, comparable: the system's mode means what the workload asks (same durability);
 * - run, not comparable: it runs, and the report labels the difference (`note`);
 * - not applicable: it is listed with the reason and not run;
 * - undefined: not listed, because another mode of the same engine takes part.
 *
 * Invariants: every system that runs gets the same keys, values and counts (from
 * JobContext.data); each round opens a fresh store in a fresh directory under the run's
 * root (the same disk as the fdatasync floor) and closes it and removes the directory
 * before the next round — except where the workload is a sequence on one loaded store
 * (the reads, and YCSB A to E, which run one after another on one load, as YCSB does).
 * Threads: the harness's main thread.
 */
import type { Platform } from "../../src/platform.ts";
import type { Floor } from "../harness/floor.ts";
import type { Figures } from "../harness/measure.ts";
import type { Sizes } from "../harness/sizes.ts";
import type { Durability, System } from "../systems/system.ts";
import type { BenchData } from "./bench-data.ts";

export interface Workload {
  id: string;
  /** `--workload` also matches this: "put", "durable", "paths", "reads", "ycsb", "sustained", "workers", "recovery". */
  group: string;
  title: string;
  /** A few words for the chart's axis. */
  short: string;
  /** What one operation is: "put", "get", "row", "record", "op" (a YCSB operation of any type). */
  unit: string;
  /** What p50/p99 are per: "op" (one operation), "scan" (one whole scan) or "none". */
  latency: "op" | "scan" | "none";
  /** The acknowledgement it asks for, or "n/a" for reads and recovery. */
  durability: Durability | "n/a";
  /** Operations per round (per worker for the two-worker workload). */
  count: number;
  valueBytes: number;
  description: string;
}

export type Participation =
  | { run: true; comparable: boolean; note?: string; evenIfUnavailable?: boolean }
  | { run: false; reason: string }
  | undefined;

export interface JobContext {
  platform: Platform;
  sizes: Sizes;
  floor: Floor;
  data: BenchData;
  /** A fresh, empty directory for one round of one system (removed by `removeDir`). */
  freshDir(): string;
  removeDir(dir: string): void;
}

/** What a job produced for one system: figures per workload id, or why one could not run. */
export type JobOutcome = Record<string, Figures | { unavailable: string }>;

export interface Job {
  id: string;
  workloads: Workload[];
  participation(system: System): Participation;
  /** Runs the `wanted` workloads (a subset of `workloads`) for `system`. */
  run(ctx: JobContext, system: System, wanted: ReadonlySet<string>): Promise<JobOutcome>;
}

/** The mode of each engine that stands for it where durability does not matter (reads). */
export function isRepresentative(system: System): boolean {
  return system.readApi !== undefined;
}
