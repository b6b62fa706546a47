/**
 * Writes from two worker threads at once against one worker: the main thread opens a
 * store and hands it to workers (System.shareWriters / attachWorker, bench/harness/
 * put-worker.ts); each worker writes `workerPutsEach` random keys of its own, non-durable
 * acknowledgement. Throughput is all puts over the span from the first worker's start to
 * the last one's end (after a barrier, so thread start-up is not in it). Reports the
 * two-worker aggregate, the one-worker figure and the speedup (goal: at least 1.6x on 2
 * cores). Engines that cannot take writes from two threads are listed with the reason.
 * Threads: the harness's main thread, plus the workers it starts and always terminates.
 */
import { type Figures, type Round, summarize } from "../harness/measure.ts";
import type { PutWorkerMessage } from "../harness/put-worker.ts";
import { putWorkersSpan, runPutWorkers } from "../harness/put-workers.ts";
import type { Sizes } from "../harness/sizes.ts";
import { type System, Unsupported } from "../systems/system.ts";
import { SEEDS } from "./bench-data.ts";
import type { Job, JobContext, Participation } from "./workload.ts";

function participation(system: System): Participation {
  if (system.durability !== "non-durable") return system.noNonDurable ? { run: false, reason: system.noNonDurable } : undefined;
  if (system.noWorkers || !system.shareWriters || !system.attachWorker) {
    return { run: false, reason: system.noWorkers ?? "no writes from worker threads" };
  }
  return { run: true, comparable: true };
}

async function workersRound(ctx: JobContext, system: System, workers: number, count: number): Promise<Round> {
  const dir = ctx.freshDir();
  const store = await system.open(dir, { valueBytes: ctx.sizes.valueBytes });
  try {
    const shared = await system.shareWriters!(store, dir);
    const messages = await runPutWorkers(Array.from({ length: workers }, (_, w) => ({
      systemId: system.id,
      handle: shared.handle,
      keySeed: SEEDS.workerKeys + w,
      keyBytes: ctx.sizes.keyBytes,
      valueBytes: ctx.sizes.valueBytes,
      valueSeed: SEEDS.values,
      valueBase: w * count,
      count,
      capMs: ctx.sizes.roundCapMs,
    })));
    for (const m of messages) {
      if (m.type !== "error") continue;
      // A peer that cannot be opened in a worker is unavailable there; shardline failing to attach is a failure.
      if (m.stage === "attach" && (m.unsupported || system.family !== "shardline")) throw new Unsupported(`in a worker: ${m.message}`);
      throw new Error(`worker failed: ${m.message}`);
    }
    const done = messages as Array<Extract<PutWorkerMessage, { type: "done" }>>;
    await shared.release?.();
    return { ...putWorkersSpan(done), capped: done.some((m) => m.capped) };
  } finally {
    await store.close();
    ctx.removeDir(dir);
  }
}

export function twoWorkersJob(sizes: Sizes): Job {
  const count = sizes.workerPutsEach;
  return {
    id: "workers",
    workloads: [{
      id: "workers",
      group: "workers",
      title: "puts from 2 workers at once (vs 1), non-durable ack",
      short: "2 workers",
      unit: "put",
      latency: "none",
      durability: "non-durable",
      count,
      valueBytes: sizes.valueBytes,
      description: `${count} puts of random 16-byte keys per worker, ${sizes.valueBytes}-byte values; two workers at once against one worker alone`,
    }],
    participation,
    async run(ctx, system) {
      const one: Round[] = [];
      const two: Round[] = [];
      if (ctx.sizes.warmup) {
        const warm = Math.max(1, Math.round(count * ctx.sizes.warmupFraction));
        await workersRound(ctx, system, 1, warm);
        await workersRound(ctx, system, 2, warm);
      }
      for (let r = 0; r < ctx.sizes.rounds; r++) {
        one.push(await workersRound(ctx, system, 1, count));
        two.push(await workersRound(ctx, system, 2, count));
      }
      const figures: Figures = summarize(two, 2 * count);
      const single = summarize(one, count);
      figures.extra = { oneWorkerOpsPerSecond: single.opsPerSecond, speedup: figures.opsPerSecond / single.opsPerSecond };
      return { workers: figures };
    },
  };
}
