/**
 * How the harness times things: rounds with a discarded warm-up, medians over rounds,
 * per-operation latency samples where one operation's latency means something (durable
 * puts, gets, scans), and the loops that drive a store the same way for every system.
 *
 * Figures: `nsPerOp` is the median over rounds of (round time / operations done), so for
 * sub-microsecond operations it comes from total time, never from summing timer reads;
 * `p50Us`/`p99Us` come from individually timed operations pooled over the measured rounds
 * (they include one `performance.now()` pair each; the runtime's timer cost is in the
 * report). A round that passes `roundCapMs` stops early and marks the result `capped`.
 *
 * Threads: the harness's main thread (and put-worker.ts for `putLoop`).
 */
import type { ValuePool } from "../lib/data.ts";
import { median, percentile } from "../lib/timing.ts";
import type { WriteStyle } from "../systems/system.ts";
import type { Sizes } from "./sizes.ts";

export interface Round {
  ms: number;
  /** Operations done (fewer than asked only when capped). */
  ops: number;
  capped: boolean;
  latenciesUs?: number[];
}

export interface Figures {
  /** Operations asked per measured round (the same for every system). */
  ops: number;
  rounds: number;
  nsPerOp: number;
  opsPerSecond: number;
  p50Us?: number;
  p99Us?: number;
  latencySamples?: number;
  /** Present (true) when a round hit the time cap; `opsDoneMin` says how far the shortest got. */
  capped?: boolean;
  opsDoneMin?: number;
  /** Workload-specific figures (speedup, rows per scan, recovered bytes, ...). */
  extra?: Record<string, number>;
  /** Workload-specific labels (what exactly was measured). */
  variant?: string;
  /**
   * Latency per kind of operation in a mixed workload (YCSB: read, update, insert, scan),
   * each from individually timed operations pooled over the measured rounds.
   */
  byType?: Record<string, { ops: number; p50Us: number; p99Us: number }>;
}

export function summarize(rounds: Round[], asked: number): Figures {
  const nsPerOp = median(rounds.map((r) => (r.ms * 1e6) / Math.max(1, r.ops)));
  const figures: Figures = { ops: asked, rounds: rounds.length, nsPerOp, opsPerSecond: 1e9 / nsPerOp };
  const latencies = rounds.flatMap((r) => r.latenciesUs ?? []);
  if (latencies.length > 0) {
    figures.p50Us = median(latencies);
    figures.p99Us = percentile(latencies, 99);
    figures.latencySamples = latencies.length;
  }
  if (rounds.some((r) => r.capped)) {
    figures.capped = true;
    figures.opsDoneMin = Math.min(...rounds.map((r) => r.ops));
  }
  return figures;
}

/** A warm-up round (discarded; unless sizes.warmup is false), then `sizes.rounds` measured rounds of `count` operations. */
export async function measureRounds(sizes: Sizes, count: number, round: (count: number, index: number) => Promise<Round>): Promise<Figures> {
  if (sizes.warmup) await round(Math.max(1, Math.round(count * sizes.warmupFraction)), -1);
  const rounds: Round[] = [];
  for (let i = 0; i < sizes.rounds; i++) rounds.push(await round(count, i));
  return summarize(rounds, count);
}

/** A writer of keys and values of type T (bytes, or strings for the string workloads). */
export interface Writer<T = Uint8Array> {
  readonly writeStyle: WriteStyle;
  put(key: T, value: T): Promise<unknown> | undefined;
}

/** Values handed out by index (a ValuePool, or precomputed strings). */
export interface Values<T = Uint8Array> {
  at(i: number): T;
}

/**
 * Writes keys[0..count) one after another from this thread, each acknowledged the way
 * the writer's style says (see WriteStyle); values are values.at(valueBase + i).
 */
export async function putLoop<T>(writer: Writer<T>, keys: readonly T[], values: Values<T>, count: number, capMs: number, valueBase = 0): Promise<Round> {
  const started = performance.now();
  const deadline = started + capMs;
  let i = 0;
  switch (writer.writeStyle) {
    case "sync":
      while (i < count) {
        const end = Math.min(count, i + 256);
        for (; i < end; i++) writer.put(keys[i], values.at(valueBase + i));
        if (performance.now() > deadline) break;
      }
      break;
    case "await":
      while (i < count) {
        const end = Math.min(count, i + 256);
        for (; i < end; i++) await writer.put(keys[i], values.at(valueBase + i));
        if (performance.now() > deadline) break;
      }
      break;
    case "turn": {
      // Every write of the round in one event turn: one transaction, awaited as a whole.
      const pending: Array<Promise<unknown> | undefined> = new Array(count);
      for (; i < count; i++) pending[i] = writer.put(keys[i], values.at(valueBase + i));
      await Promise.all(pending);
      break;
    }
  }
  const ms = performance.now() - started;
  return { ms, ops: i, capped: i < count };
}

/**
 * Writes keys[0..count) with `depth` writes kept in flight (one async lane per write in
 * flight), timing each write from its call to its acknowledgement. A synchronous store
 * cannot overlap writes, so its lanes take turns: depth changes nothing for it.
 */
export async function laneLoop(writer: Writer, keys: readonly Uint8Array[], values: ValuePool, count: number, depth: number, capMs: number): Promise<Round> {
  const latenciesUs: number[] = [];
  let next = 0;
  let capped = false;
  const started = performance.now();
  const deadline = started + capMs;
  async function lane(): Promise<void> {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t = performance.now();
      if (t > deadline) {
        capped = true;
        return;
      }
      const pending = writer.put(keys[i], values.at(i));
      if (pending !== undefined) await pending;
      latenciesUs.push((performance.now() - t) * 1000);
    }
  }
  await Promise.all(Array.from({ length: depth }, lane));
  const ms = performance.now() - started;
  return { ms, ops: latenciesUs.length, capped, latenciesUs };
}

/** Median cost of one `performance.now()` pair in this runtime, in ns (context for latency samples). */
export function timerCostNs(): number {
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    const n = 20_000;
    const t = performance.now();
    let sink = 0;
    for (let i = 0; i < n; i++) sink += performance.now();
    samples.push(((performance.now() - t) * 1e6) / n);
    if (sink === 0) console.log(sink);
  }
  return median(samples);
}
