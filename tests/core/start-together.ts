/**
 * Workers that start at once, for the core's concurrency tests: `startTogether` (main
 * thread) runs `count` workers over the core's memory and lets them go only when all of
 * them wait at a barrier in shared memory (`waitForStart`, worker side), so their work
 * overlaps instead of following their start-up times.
 *
 *   barrier: 2 x i32 in shared memory: [0] workers arrived, [1] 0 until released
 */
import type { Core } from "../../src/core/core.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { currentPlatform } from "../harness/platform.ts";

/** How long the main thread waits for every worker to arrive before it releases those that did. */
const ARRIVE_WAIT_MS_MAX = 60_000;

/**
 * Starts `count` workers running `exportName` of `url` with `data(worker, barrier)`, waits
 * until they all arrived at the barrier, releases them, and returns their results and the
 * barrier's address (a 64-byte block of the core's heap).
 */
export async function startTogether<T>(core: Core, count: number, url: string, exportName: string, data: (worker: number, barrier: number) => unknown): Promise<{ runs: Array<Promise<T>>; barrier: number }> {
  const platform = await currentPlatform();
  const barrier = core.exports.coreAlloc(64) >>> 0;
  const words = new Int32Array(core.memory.buffer, barrier, 2);
  Atomics.store(words, 0, 0);
  Atomics.store(words, 1, 0);
  const runs = Array.from({ length: count }, (_, worker) =>
    runModuleInWorker(platform, { module: core.module, memory: core.memory, url, exportName, data: data(worker, barrier) }) as Promise<T>
  );
  const deadline = Date.now() + ARRIVE_WAIT_MS_MAX;
  while (Atomics.load(words, 0) < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
  Atomics.store(words, 1, 1);
  Atomics.notify(words, 1);
  return { runs, barrier };
}

/** Worker side: arrives at the barrier and waits until the main thread releases every worker. */
export function waitForStart(memory: WebAssembly.Memory, barrier: number): void {
  const words = new Int32Array(memory.buffer, barrier, 2);
  Atomics.add(words, 0, 1);
  while (Atomics.load(words, 1) === 0) Atomics.wait(words, 1, 0, 100);
}
