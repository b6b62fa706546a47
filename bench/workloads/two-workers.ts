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
import { Worker } from "node:worker_threads";
import { type Figures, type Round, summarize } from "../harness/measure.ts";
import type { PutWorkerJob, PutWorkerMessage } from "../harness/put-worker.ts";
import type { Sizes } from "../harness/sizes.ts";
import { type System, Unsupported } from "../systems/system.ts";
import { SEEDS } from "./bench-data.ts";
import type { Job, JobContext, Participation } from "./workload.ts";

const WORKER_URL = new URL("../harness/put-worker.ts", import.meta.url);
/** Longest a worker may take to attach and reach the barrier. */
const READY_LIMIT_MS = 60_000;

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
  const running: Worker[] = [];
  try {
    const shared = await system.shareWriters!(store, dir);
    const barrier = new SharedArrayBuffer(8);
    const words = new Int32Array(barrier);
    const outcomes = Array.from({ length: workers }, (_, w) => {
      const job: PutWorkerJob = {
        systemId: system.id,
        handle: shared.handle,
        keySeed: SEEDS.workerKeys + w,
        keyBytes: ctx.sizes.keyBytes,
        valueBytes: ctx.sizes.valueBytes,
        valueSeed: SEEDS.values,
        valueBase: w * count,
        count,
        capMs: ctx.sizes.roundCapMs,
        barrier,
      };
      const worker = new Worker(WORKER_URL, { workerData: job });
      running.push(worker);
      return new Promise<PutWorkerMessage>((resolve) => {
        worker.once("message", resolve);
        worker.once("error", (e) => resolve({ type: "error", stage: "run", unsupported: false, message: String(e) }));
        worker.once("exit", (code) => resolve({ type: "error", stage: "run", unsupported: false, message: `worker exited with code ${code}` }));
      });
    });
    const readyBy = performance.now() + READY_LIMIT_MS;
    while (Atomics.load(words, 0) < workers) {
      if (performance.now() > readyBy) throw new Error(`workers not ready within ${READY_LIMIT_MS} ms`);
      await new Promise((r) => setTimeout(r, 1));
    }
    Atomics.store(words, 1, 1);
    Atomics.notify(words, 1);
    const messages = await Promise.all(outcomes);
    for (const m of messages) {
      if (m.type !== "error") continue;
      // A peer that cannot be opened in a worker is unavailable there; shardline failing to attach is a failure.
      if (m.stage === "attach" && (m.unsupported || system.family !== "shardline")) throw new Unsupported(`in a worker: ${m.message}`);
      throw new Error(`worker failed: ${m.message}`);
    }
    const done = messages as Array<Extract<PutWorkerMessage, { type: "done" }>>;
    const ms = Math.max(...done.map((m) => m.endMs)) - Math.min(...done.map((m) => m.startMs));
    await shared.release?.();
    return { ms, ops: done.reduce((s, m) => s + m.ops, 0), capped: done.some((m) => m.capped) };
  } finally {
    await Promise.all(running.map((w) => w.terminate()));
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
