/**
 * Worker thread of the two-worker workload (bench/workloads/two-workers.ts): attaches to
 * the store the main thread opened (System.attachWorker), makes its own keys from a fixed
 * seed, says it is ready, waits at the barrier, writes, and posts when it started and
 * ended (absolute times, `performance.timeOrigin + now()`, so the main thread can take
 * the span over all workers without a message delay in it).
 *
 * Protocol: workerData = PutWorkerJob; barrier words [0] ready count, [1] go flag.
 * Posts exactly one message: { type: "done", ... } or { type: "error", ... }.
 * Threads: this worker only.
 */
import { parentPort, workerData } from "node:worker_threads";
import { randomKeys, ValuePool } from "../lib/data.ts";
import { systemById } from "../systems/all.ts";
import { reasonOf, Unsupported, type WorkerWriter } from "../systems/system.ts";
import { putLoop } from "./measure.ts";

export interface PutWorkerJob {
  systemId: string;
  handle: unknown;
  keySeed: number;
  keyBytes: number;
  valueBytes: number;
  valueSeed: number;
  /** Offset into the value pool, so two workers write different values. */
  valueBase: number;
  count: number;
  capMs: number;
  barrier: SharedArrayBuffer;
}

export type PutWorkerMessage =
  | { type: "done"; startMs: number; endMs: number; ops: number; capped: boolean }
  | { type: "error"; stage: "attach" | "run"; unsupported: boolean; message: string };

const job = workerData as PutWorkerJob;
const post = (message: PutWorkerMessage) => parentPort!.postMessage(message);
const words = new Int32Array(job.barrier);

let writer: WorkerWriter | undefined;
try {
  const system = systemById(job.systemId);
  if (!system?.attachWorker) throw new Unsupported(`${job.systemId} has no writers in workers`);
  const available = await system.available();
  if (available !== true) throw new Unsupported(available);
  writer = await system.attachWorker(job.handle);
} catch (error) {
  post({ type: "error", stage: "attach", unsupported: error instanceof Unsupported, message: reasonOf(error) });
  Atomics.add(words, 0, 1);
}

if (writer) {
  try {
    const keys = randomKeys(job.count, job.keyBytes, job.keySeed);
    const values = new ValuePool(job.valueBytes, job.valueSeed);
    Atomics.add(words, 0, 1);
    Atomics.wait(words, 1, 0);
    const startMs = performance.timeOrigin + performance.now();
    const round = await putLoop(writer, keys, values, job.count, job.capMs, job.valueBase);
    const endMs = performance.timeOrigin + performance.now();
    await writer.close();
    post({ type: "done", startMs, endMs, ops: round.ops, capped: round.capped });
  } catch (error) {
    post({ type: "error", stage: "run", unsupported: false, message: reasonOf(error) });
  }
}
