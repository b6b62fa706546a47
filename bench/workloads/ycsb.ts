/**
 * YCSB core workloads A to E (Cooper et al., "Benchmarking Cloud Serving Systems with
 * YCSB", SoCC 2010), from one thread, one operation at a time:
 * - load phase: `ycsb.records` records (16-byte keys in YCSB's hashed order, 1,000-byte
 *   values: YCSB's default record of 10 fields × 100 bytes, stored as one value) written
 *   the fastest way each system offers, then flushed; not measured;
 * - run phases A, B, C, D, E, in that order on the loaded store (YCSB's recommended
 *   order, except that E runs after D on the same store instead of on a fresh load; the
 *   sequences are built so that each holds whatever ran before it: bench/workloads/ycsb-data.ts).
 *   Each is a warm-up (`warmupFraction` of its operations, not measured) and then its
 *   measured operations in `rounds` consecutive rounds.
 * Operations: read = `get` (must return a value of the record size); update = `put` of a
 * new whole value to an existing key (a blind write; YCSB's bindings for key-value
 * stores differ here); insert = `put` of a new key; scan = `scan(start, length)` (must
 * return between `scanMin` and `length` rows). A put is awaited before the next operation
 * (lmdb-put: one transaction per put). Every operation is timed on its own (one
 * `performance.now()` pair each, included in the throughput as in YCSB's client).
 * Figures: ops/s from the median round (round time / operations), and p50/p99 per
 * operation type (`byType`) pooled over the measured rounds. A wrong answer fails the
 * result. Non-durable modes take part, as in the put workloads (Deno KV has none).
 * Threads: the harness's main thread.
 */
import { type Figures, type Round, summarize } from "../harness/measure.ts";
import type { Sizes } from "../harness/sizes.ts";
import type { ValuePool } from "../lib/data.ts";
import { median, percentile } from "../lib/timing.ts";
import type { Store } from "../systems/system.ts";
import { nonDurableParticipation } from "./puts.ts";
import type { Job, JobContext, Workload } from "./workload.ts";
import { INSERT, OP_NAMES, READ, SCAN, UPDATE, YCSB_SPECS, type YcsbSequence } from "./ycsb-data.ts";

interface Stretch {
  /** Index of the first operation not run. */
  end: number;
  ms: number;
  capped: boolean;
}

/** Runs operations [from, to) of `seq` in order, timing each into `lat` (ms); stops at the cap. */
async function runOps(store: Store, seq: YcsbSequence, values: ValuePool, valueBytes: number, from: number, to: number, lat: Float64Array, capMs: number): Promise<Stretch> {
  const { type, key, scanLength, scanMin, valueBase } = seq;
  let wrong = 0;
  let firstWrong = "";
  const started = performance.now();
  const deadline = started + capMs;
  let i = from;
  for (; i < to; i++) {
    const t = performance.now();
    if (t > deadline) break;
    switch (type[i]) {
      case READ: {
        let v = store.get(key[i]);
        if (v instanceof Promise) v = await v;
        if (v === undefined || v.length !== valueBytes) {
          if (wrong++ === 0) firstWrong = `read ${i} returned ${v === undefined ? "nothing" : `${v.length} bytes`}`;
        }
        break;
      }
      case UPDATE:
      case INSERT: {
        const pending = store.put(key[i], values.at(valueBase + i));
        if (pending !== undefined) await pending;
        break;
      }
      case SCAN: {
        let rows = store.scan(key[i], scanLength[i]);
        if (typeof rows !== "number") rows = await rows;
        if (rows < scanMin[i] || rows > scanLength[i]) {
          if (wrong++ === 0) firstWrong = `scan ${i} of ${scanLength[i]} rows returned ${rows} (at least ${scanMin[i]} expected)`;
        }
        break;
      }
    }
    lat[i] = performance.now() - t;
  }
  const ms = performance.now() - started;
  if (wrong > 0) throw new Error(`wrong answers in ${seq.spec.id}: ${wrong} (first: ${firstWrong})`);
  return { end: i, ms, capped: i < to };
}

async function runSequence(ctx: JobContext, store: Store, seq: YcsbSequence, values: ValuePool): Promise<Figures> {
  const { sizes } = ctx;
  const valueBytes = sizes.ycsb.valueBytes;
  const lat = new Float64Array(seq.length);
  // The warm-up, then the measured rounds: always the next operations of the sequence, so
  // a round stopped at the cap ends the workload (later operations may read its inserts).
  let at = (await runOps(store, seq, values, valueBytes, 0, seq.warm, lat, sizes.roundCapMs)).end;
  const measuredFrom = at;
  const rounds: Round[] = [];
  for (let r = 0; r < sizes.rounds; r++) {
    const stretch = await runOps(store, seq, values, valueBytes, at, Math.min(seq.length, at + seq.perRound), lat, sizes.roundCapMs);
    rounds.push({ ms: stretch.ms, ops: stretch.end - at, capped: stretch.capped });
    at = stretch.end;
    if (stretch.capped) break;
  }
  const figures = summarize(rounds, seq.perRound);
  const byType: NonNullable<Figures["byType"]> = {};
  for (let t = 0; t < OP_NAMES.length; t++) {
    const us: number[] = [];
    for (let i = measuredFrom; i < at; i++) if (seq.type[i] === t) us.push(lat[i] * 1000);
    if (us.length > 0) byType[OP_NAMES[t]] = { ops: us.length, p50Us: median(us), p99Us: percentile(us, 99) };
  }
  figures.byType = byType;
  figures.latencySamples = at - measuredFrom;
  return figures;
}

export function ycsbJob(sizes: Sizes): Job {
  const y = sizes.ycsb;
  const workloads: Workload[] = YCSB_SPECS.map((spec) => {
    const measured = spec.id === "ycsb-e" ? y.scanOperations : y.operations;
    const perRound = Math.floor(measured / sizes.rounds);
    return {
      id: spec.id,
      group: "ycsb",
      title: `YCSB ${spec.letter}: ${spec.what}, non-durable ack`,
      short: `YCSB ${spec.letter}`,
      unit: "op",
      latency: "op",
      durability: "non-durable",
      count: perRound,
      valueBytes: y.valueBytes,
      description: `YCSB workload ${spec.letter} (${spec.what}; ${spec.distribution === "latest" ? "YCSB's latest distribution: the newest records are the most popular" : "scrambled zipfian key choice, constant 0.99"}${spec.id === "ycsb-e" ? `; scan lengths uniform in 1..${y.maxScanLength}` : ""}): ${measured} operations from one thread, one at a time, in ${sizes.rounds} round(s) of ${perRound}, after a warm-up of ${sizes.warmup ? Math.round(measured * sizes.warmupFraction) : 0}, on a store loaded with ${y.records} records (16-byte keys in hashed order, ${y.valueBytes}-byte values) and flushed, shared by A to E in that order; every operation timed on its own, p50/p99 per operation type; updates and inserts acknowledged without waiting for the disk`,
    };
  });
  return {
    id: "ycsb",
    workloads,
    participation: nonDurableParticipation,
    async run(ctx, system, wanted) {
      const data = ctx.data.ycsb;
      const dir = ctx.freshDir();
      const store = await system.open(dir, { valueBytes: y.valueBytes });
      try {
        await store.load(data.records, (i) => data.values.at(i));
        await store.flush();
        const out: Record<string, Figures> = {};
        for (const seq of data.sequences) {
          if (wanted.has(seq.spec.id)) out[seq.spec.id] = await runSequence(ctx, store, seq, data.values);
        }
        return out;
      } finally {
        await store.close();
        ctx.removeDir(dir);
      }
    },
  };
}
