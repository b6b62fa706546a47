/**
 * Worker role "replay-pages": while recovery's replay (replay.ts, on the opening thread)
 * fills memtables, another thread maps their pages ahead of it (pages-ahead.ts), so that
 * the page faults of the fresh arenas, ~12 µs each on this project's VM and half of a
 * long replay's time, are taken on the other core (docs/PERFORMANCE.md, "Recovery").
 *
 *   const helper = startReplayPages(platform, core, shards)   // before replay
 *   replay(...)
 *   await helper.stop()                                       // before the actor starts
 *
 * It runs on a pooled thread (src/worker-pool.ts) that is idle during open anyway, and
 * only for a replay of at least REPLAY_PAGES_BYTES_MIN of log: a thread's job costs a
 * message and, if no thread is idle, a thread start.
 *
 * Stop: the opener sets a word in shared memory (allocated from the core's heap, 8 bytes,
 * for the database's lifetime) and wakes the helper; the helper checks it between steps
 * and while it waits (at most STEP_WAIT_MS), then detaches its Core and returns, which
 * gives its thread back to the pool (the lease ends when the job returns: this role sends
 * no "closed"). Should it not end within the lease's wait (250 ms), the pool terminates
 * the thread and the actor gets a new one; the helper's ThreadBlock is then not given back
 * (a few KiB of the database's memory, until close).
 * Threads: the helper's own state is its own; it touches memtable pages the opening
 * thread's replay writes (an atomic add of 0: pages-ahead.ts says why no write is lost).
 */
import { Core, STATUS_LIMIT } from "../core/core.ts";
import type { ParentPort, Platform, WorkerHandle, WorkerInit } from "../platform.ts";
import { registerWorkerRole } from "../worker-main.ts";
import { spawnJob } from "../worker-pool.ts";
import { PagesAhead } from "./pages-ahead.ts";

/** A replay of less log than this runs without a helper, bytes. */
export const REPLAY_PAGES_BYTES_MIN = 16 << 20;
/** How far ahead of replay's reservation in each memtable the helper maps, bytes. */
const REPLAY_WINDOW_BYTES = 8 << 20;
/** How long the helper sleeps when it is ahead, ms. */
const STEP_WAIT_MS = 1;

interface ReplayPagesArgs {
  shards: number;
  /** Address of the stop word (i32, 0 while replay runs). */
  stopWord: number;
}

export interface ReplayPages {
  /** Tells the helper to stop and waits until its thread is back in the pool. */
  stop(): Promise<void>;
}

export function startReplayPages(platform: Platform, core: Core, shards: number): ReplayPages {
  const stopWord = core.exports.coreAllocPermanent(8, 8) >>> 0;
  if (stopWord < STATUS_LIMIT) return { stop: async () => {} }; // no memory for it: replay alone
  Atomics.store(core.i32, stopWord >>> 2, 0);
  const args: ReplayPagesArgs = { shards, stopWord };
  let worker: WorkerHandle;
  try {
    worker = spawnJob(platform, { role: "replay-pages", module: core.module, memory: core.memory, args });
  } catch {
    return { stop: async () => {} }; // no thread: replay alone
  }
  worker.onError(() => {}); // a helper that failed only leaves the faults to replay
  return {
    async stop() {
      Atomics.store(core.i32, stopWord >>> 2, 1);
      Atomics.notify(core.i32, stopWord >>> 2);
      await worker.terminate();
    },
  };
}

registerWorkerRole("replay-pages", async (_platform: Platform, init: WorkerInit, _port: ParentPort) => {
  const core = await Core.attach(init.module, init.memory);
  const { shards, stopWord } = init.args as ReplayPagesArgs;
  const pages = new PagesAhead(core, shards, undefined, { memtableWindowBytes: REPLAY_WINDOW_BYTES, firstSeenMoving: true });
  const stop = stopWord >>> 2;
  try {
    while (Atomics.load(core.i32, stop) === 0) {
      if (!pages.step()) Atomics.wait(core.i32, stop, 0, STEP_WAIT_MS);
    }
  } finally {
    core.detach();
  }
});
