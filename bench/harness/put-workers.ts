/**
 * Starting bench/harness/put-worker.ts threads for a round: one thread per job, all let go
 * at once from a barrier once every one of them is ready (so thread start-up and attaching
 * are not in the timed span), then each one's final message. Used by the harness's
 * two-worker workload (bench/workloads/two-workers.ts) and by bench/engine.
 * Threads: the calling (main) thread, plus the workers it starts and always terminates.
 */
import { Worker } from "node:worker_threads";
import type { PutWorkerJob, PutWorkerMessage } from "./put-worker.ts";

const WORKER_URL = new URL("./put-worker.ts", import.meta.url);
/** Longest a worker may take to attach and reach the barrier. */
const READY_LIMIT_MS = 60_000;

/** Runs one put-worker per job; resolves with their messages, in job order. */
export async function runPutWorkers(jobs: ReadonlyArray<Omit<PutWorkerJob, "barrier">>): Promise<PutWorkerMessage[]> {
  const running: Worker[] = [];
  try {
    const barrier = new SharedArrayBuffer(8);
    const words = new Int32Array(barrier);
    const outcomes = jobs.map((job) => {
      const worker = new Worker(WORKER_URL, { workerData: { ...job, barrier } satisfies PutWorkerJob });
      running.push(worker);
      return new Promise<PutWorkerMessage>((resolve) => {
        worker.once("message", resolve);
        worker.once("error", (e) => resolve({ type: "error", stage: "run", unsupported: false, message: String(e) }));
        worker.once("exit", (code) => resolve({ type: "error", stage: "run", unsupported: false, message: `worker exited with code ${code}` }));
      });
    });
    const readyBy = performance.now() + READY_LIMIT_MS;
    while (Atomics.load(words, 0) < jobs.length) {
      if (performance.now() > readyBy) throw new Error(`workers not ready within ${READY_LIMIT_MS} ms`);
      await new Promise((r) => setTimeout(r, 1));
    }
    Atomics.store(words, 1, 1);
    Atomics.notify(words, 1);
    return await Promise.all(outcomes);
  } finally {
    await Promise.all(running.map((w) => w.terminate()));
  }
}

/** The span from the first worker's start to the last one's end, and the puts done. */
export function putWorkersSpan(done: ReadonlyArray<Extract<PutWorkerMessage, { type: "done" }>>): { ms: number; ops: number } {
  const ms = Math.max(...done.map((m) => m.endMs)) - Math.min(...done.map((m) => m.startMs));
  return { ms, ops: done.reduce((s, m) => s + m.ops, 0) };
}
