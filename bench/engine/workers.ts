/**
 * bench/engine's writers in worker threads: the mechanism of the harness's two-worker
 * workload (bench/workloads/two-workers.ts), on a database this thread opened itself.
 * The main thread opens the database, hands `db.share()` to `workers` threads running
 * bench/harness/put-worker.ts (system "shardline-async": it attaches with `attach(handle)`
 * from runtimes/<runtime>/mod.ts and awaits each put), lets them all go at once from a
 * barrier, and takes the span from the first worker's start to the last one's end.
 * Each worker writes `count` random 16-byte keys of its own seed, 100-byte values.
 * Threads: the main thread, plus the workers it starts and always terminates.
 */
import { Worker } from "node:worker_threads";
import type { Database } from "../../src/engine/public.ts";
import type { PutWorkerJob, PutWorkerMessage } from "../harness/put-worker.ts";
import { SEEDS } from "../workloads/bench-data.ts";

const WORKER_URL = new URL("../harness/put-worker.ts", import.meta.url);
/** Longest a worker may take to attach and reach the barrier. */
const READY_LIMIT_MS = 60_000;

export interface WorkersRound {
  workers: number;
  ops: number;
  ms: number;
  opsPerSecond: number;
}

/** One round: `workers` threads writing `count` puts each into `db` (opened with durability "async"). */
export async function workersRound(db: Database, workers: number, count: number, capMs: number): Promise<WorkersRound> {
  const running: Worker[] = [];
  try {
    const handle = db.share();
    const barrier = new SharedArrayBuffer(8);
    const words = new Int32Array(barrier);
    const outcomes = Array.from({ length: workers }, (_, w) => {
      const job: PutWorkerJob = {
        systemId: "shardline-async",
        handle,
        keySeed: SEEDS.workerKeys + w,
        keyBytes: 16,
        valueBytes: 100,
        valueSeed: SEEDS.values,
        valueBase: w * count,
        count,
        capMs,
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
    for (const m of messages) if (m.type === "error") throw new Error(`worker failed (${m.stage}): ${m.message}`);
    const done = messages as Array<Extract<PutWorkerMessage, { type: "done" }>>;
    if (done.some((m) => m.capped)) throw new Error(`a worker stopped at the ${capMs} ms cap`);
    const ms = Math.max(...done.map((m) => m.endMs)) - Math.min(...done.map((m) => m.startMs));
    const ops = done.reduce((s, m) => s + m.ops, 0);
    return { workers, ops, ms, opsPerSecond: ops / (ms / 1000) };
  } finally {
    await Promise.all(running.map((w) => w.terminate()));
  }
}
