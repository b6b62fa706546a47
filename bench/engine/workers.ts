/**
 * bench/engine's writers in worker threads (bench/harness/put-workers.ts, as the harness's
 * two-worker workload), on a database this thread opened itself.
 * The main thread opens the database, hands `db.share()` to `workers` threads running
 * bench/harness/put-worker.ts (system "shardline-async": it attaches with `attach(handle)`
 * from runtimes/<runtime>/mod.ts and awaits each put), lets them all go at once from a
 * barrier, and takes the span from the first worker's start to the last one's end.
 * Each worker writes `count` random 16-byte keys of its own seed, 100-byte values.
 * Threads: the main thread, plus the workers it starts and always terminates.
 */
import type { Database } from "../../src/engine/public.ts";
import type { PutWorkerMessage } from "../harness/put-worker.ts";
import { putWorkersSpan, runPutWorkers } from "../harness/put-workers.ts";
import { SEEDS } from "../workloads/bench-data.ts";

export interface WorkersRound {
  workers: number;
  ops: number;
  ms: number;
  opsPerSecond: number;
}

/** One round: `workers` threads writing `count` puts each into `db` (opened with durability "async"). */
export async function workersRound(db: Database, workers: number, count: number, capMs: number): Promise<WorkersRound> {
  const handle = db.share();
  const messages = await runPutWorkers(Array.from({ length: workers }, (_, w) => ({
    systemId: "shardline-async",
    handle,
    keySeed: SEEDS.workerKeys + w,
    keyBytes: 16,
    valueBytes: 100,
    valueSeed: SEEDS.values,
    valueBase: w * count,
    count,
    capMs,
  })));
  for (const m of messages) if (m.type === "error") throw new Error(`worker failed (${m.stage}): ${m.message}`);
  const done = messages as Array<Extract<PutWorkerMessage, { type: "done" }>>;
  if (done.some((m) => m.capped)) throw new Error(`a worker stopped at the ${capMs} ms cap`);
  const { ms, ops } = putWorkersSpan(done);
  return { workers, ops, ms, opsPerSecond: ops / (ms / 1000) };
}
