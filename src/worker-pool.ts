/**
 * WorkerPool: a per-process (per Platform object) pool of worker threads that run the
 * engine's own roles ("durability", "actor", "replay-pages") one job after another, so that opening a
 * database does not pay a thread start (and, in Node from sources, a loader start) each
 * time: a closed database's threads go back to the pool and the next open takes them.
 *
 *   const worker = workerPool(platform).spawn(init)   // a WorkerHandle, as platform.spawnWorker
 *   workerPool(platform).prewarm(2)                  // start threads now, in parallel, for spawns to come
 *
 * How: every pooled thread runs the "pooled" role (below), which waits for
 * `{ [POOL]: "run", init }`, runs `init` with src/worker-main.ts's `runWorker` on a port of
 * its own, then posts `{ [POOL]: "done" }` and waits again. A job's WorkerHandle (a lease)
 * passes messages both ways while the job runs; its `terminate()` waits for "done" (the
 * engine terminates after its role said "closed", or, for "replay-pages", after setting its
 * stop word, so "done" follows at once) and gives
 * the thread back, or terminates the thread for real if "done" does not come within
 * LEASE_DONE_WAIT_MS_MAX (a role still running) or the thread failed.
 *
 * Idle threads are unref'd (they never keep a process alive); a thread idle for
 * `idleWorkerMsMax` asks to retire and the parent terminates it if it is still idle then
 * (the parent decides, so a job is never handed to a thread that is exiting).
 *
 * Memory (docs/ARCHITECTURE.md, "Decision: worker threads are pooled per process"): a
 * closed database's shared memory, and every page of it that was touched, is freed only
 * when every thread that held it has collected its last reference. A pooled thread idle
 * for COLLECT_IDLE_MS collects its garbage (platform.collectGarbage), since an idle thread
 * allocates nothing and would otherwise keep its last jobs' memories until it retires
 * (retiring frees them too: the thread's isolate goes). And where the runtime's collector
 * does not count shared memories (Node's V8), each database's memory is weighed
 * (platform.weighSharedMemory) on the opening thread and on each pooled thread that runs a
 * job on it, so that dropped memories bring a collection as dropped ArrayBuffers do.
 *
 * Invariants: a thread runs one job at a time; a job's messages reach only its own
 * lease (messages that arrive after a lease ended are dropped on both sides); no state
 * survives a job: roles keep theirs in locals, attach their own Core to the job's memory
 * and detach it before they return (src/wal/durability-worker.ts, src/engine/actor.ts,
 * src/engine/replay-pages.ts);
 * only roles in POOLED_ROLES are pooled (the "module" role imports arbitrary modules,
 * whose module state would outlive the job, so it keeps a thread of its own).
 * Threads: a pool belongs to the thread that made it (the opening thread); the "pooled"
 * role runs in the pool's threads.
 */
import type { ParentPort, Platform, WorkerHandle, WorkerInit } from "./platform.ts";
import { registerWorkerRole, runWorker } from "./worker-main.ts";
import { MessageQueue } from "./message-queue.ts";

/** Tag of the pool's control messages; role messages never carry it. Exported for tests. */
export const POOL = "__shardlinePool";
/** How long an idle thread waits for a job before it asks to retire, ms. */
export const IDLE_WORKER_MS_MAX = 5_000;
/**
 * How long a thread is idle before it collects its garbage, ms: far longer than a thread
 * waits between two jobs when databases are opened and closed in a loop (a close gives it
 * back, the next open takes it: 5-30 ms, over 100 ms in Deno on a loaded machine), so a
 * loop does not pay a full collection (5-50 ms of the thread, more in Deno, which an open
 * then waits for) per cycle: there the runtime's own collector (in Node, prompted by the
 * memories' weights) has to do.
 */
export const COLLECT_IDLE_MS = 1_000;
/**
 * How long a lease's terminate() waits for its job to end before it terminates the thread,
 * ms. After a role said "closed" its job ends at once; a role still running (an open that
 * failed half way) is terminated after this wait, so it bounds that path's delay too.
 */
const LEASE_DONE_WAIT_MS_MAX = 250;
/**
 * What a thread's collector is told a database's shared memory weighs
 * (platform.weighSharedMemory), bytes: about 4 times what an empty closed database's memory
 * keeps resident (1.1 MiB), so that V8, which starts a major collection once external
 * memory grew by 64 MiB, collects after at most 16 memories dropped (or taken). Measured
 * (Node 20, bundle, 600 open/close cycles, no forced collection): RSS over the start,
 * median / max, +362 / +703 MiB without weights; weights of 1, 2, 4, 8 MiB: +50 / +81,
 * +27 / +41, +13 / +22, +10 / +16; open p90 6-11 ms without, 10-20 ms at 4 MiB (the
 * collections it brings forward).
 */
export const MEMORY_WEIGHT_BYTES = 4 << 20;
/** The roles whose jobs keep no state between jobs. */
const POOLED_ROLES = new Set(["durability", "actor", "replay-pages"]);

type Control =
  | { [POOL]: "run"; init: WorkerInit }
  | { [POOL]: "done" }
  | { [POOL]: "retire" };

function controlOf(message: unknown): Control[typeof POOL] | undefined {
  return typeof message === "object" && message !== null ? (message as Record<string, unknown>)[POOL] as Control[typeof POOL] : undefined;
}


/** One job on a pooled thread, as its spawner sees it. */
class Lease {
  readonly inbox = new MessageQueue();
  readonly errorListeners: Array<(error: Error) => void> = [];
  ended = false;
  done = false;
  #doneWaiters: Array<() => void> = [];

  jobDone(): void {
    this.done = true;
    for (const resolve of this.#doneWaiters.splice(0)) resolve();
  }

  /** Resolves true once the job is done, false after `ms`. */
  waitDone(ms: number): Promise<boolean> {
    if (this.done) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#doneWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

/** A pooled thread. */
class PooledThread {
  lease: Lease | undefined;
  dead = false;
  constructor(readonly worker: WorkerHandle) {}
}

export class WorkerPool {
  readonly #idle: PooledThread[] = [];
  #placeholder: { module: WebAssembly.Module; memory: WebAssembly.Memory } | undefined;

  constructor(
    private readonly platform: Platform,
    /** How long a thread started from now on stays idle before it retires, ms. */
    public idleWorkerMsMax = IDLE_WORKER_MS_MAX,
  ) {}

  /** Idle threads in the pool now (for tests and stats). */
  get idleThreads(): number {
    return this.#idle.length;
  }

  /** Starts threads until `count` are idle, all at once, so that the next spawns find them started. */
  prewarm(count: number, module: WebAssembly.Module): void {
    this.#placeholder ??= { module, memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }) };
    while (this.#idle.length < count) this.#idle.push(this.#start());
  }

  /** Runs `init` on a pooled thread (its role must be one of POOLED_ROLES); a WorkerHandle like platform.spawnWorker's. */
  spawn(init: WorkerInit): WorkerHandle {
    if (!POOLED_ROLES.has(init.role)) return this.platform.spawnWorker(init);
    this.platform.weighSharedMemory?.(init.memory, MEMORY_WEIGHT_BYTES);
    this.#placeholder ??= { module: init.module, memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }) };
    const thread = this.#idle.pop() ?? this.#start();
    const lease = new Lease();
    thread.lease = lease;
    thread.worker.ref();
    thread.worker.postMessage({ [POOL]: "run", init } satisfies Control);
    return this.#handle(thread, lease);
  }

  #start(): PooledThread {
    const { module, memory } = this.#placeholder!;
    const args: PooledArgs = { idleWorkerMsMax: this.idleWorkerMsMax, collectIdleMs: COLLECT_IDLE_MS };
    const worker = this.platform.spawnWorker({ role: "pooled", module, memory, args });
    const thread = new PooledThread(worker);
    worker.unref();
    worker.onMessage((message) => {
      const control = controlOf(message);
      if (control === "done") return thread.lease?.jobDone();
      if (control === "retire") return this.#retire(thread);
      if (thread.lease && !thread.lease.ended) thread.lease.inbox.deliver(message);
    });
    worker.onError((error) => {
      thread.dead = true;
      this.#drop(thread);
      const lease = thread.lease;
      if (lease && !lease.ended) for (const listener of lease.errorListeners) listener(error);
    });
    return thread;
  }

  #handle(thread: PooledThread, lease: Lease): WorkerHandle {
    const worker = thread.worker;
    return {
      postMessage: (message) => {
        if (!lease.ended) worker.postMessage(message);
      },
      onMessage: (listener) => lease.inbox.listen(listener),
      onError: (listener) => void lease.errorListeners.push(listener),
      unref: () => {
        if (!lease.ended) worker.unref();
      },
      ref: () => {
        if (!lease.ended) worker.ref();
      },
      terminate: async () => {
        if (lease.ended) return;
        const done = thread.dead ? false : await lease.waitDone(LEASE_DONE_WAIT_MS_MAX);
        lease.ended = true;
        thread.lease = undefined;
        if (done && !thread.dead) {
          worker.unref();
          this.#idle.push(thread);
        } else {
          thread.dead = true;
          await worker.terminate();
        }
      },
    };
  }

  /** An idle thread asked to retire: end it if it is still idle (a job may have been posted to it since). */
  #retire(thread: PooledThread): void {
    if (thread.lease || thread.dead || !this.#idle.includes(thread)) return;
    this.#drop(thread);
    thread.dead = true;
    void thread.worker.terminate();
  }

  #drop(thread: PooledThread): void {
    const at = this.#idle.indexOf(thread);
    if (at >= 0) this.#idle.splice(at, 1);
  }
}

const pools = new WeakMap<Platform, WorkerPool>();

/** The pool of `platform` in this thread (one per Platform object, so wrapped platforms get their own). */
export function workerPool(platform: Platform): WorkerPool {
  let pool = pools.get(platform);
  if (!pool) pools.set(platform, (pool = new WorkerPool(platform)));
  return pool;
}

// ---- the pooled thread's side -------------------------------------------------------

/** What a pooled thread is told when it starts (its WorkerInit's args). */
export interface PooledArgs {
  idleWorkerMsMax: number;
  collectIdleMs: number;
}

/**
 * Runs jobs one after another; asks to retire after idleWorkerMsMax without one, and
 * collects its garbage after collectIdleMs without one, from a task of its own, so that no
 * frame of a job is on the stack then; at start, as soon as it is idle (what loading the
 * code left: about 1 MiB per thread in Bun, before the job that keeps the thread busy for
 * as long as its database is open). Weighs each job's memory in this thread, so that a
 * thread that runs job after job without ever being idle for collectIdleMs collects them
 * as it goes.
 */
async function runPooled(platform: Platform, init: WorkerInit, port: ParentPort): Promise<void> {
  const { idleWorkerMsMax, collectIdleMs } = init.args as PooledArgs;
  let job: MessageQueue | undefined;
  let retireTimer: ReturnType<typeof setTimeout> | undefined;
  let collectTimer: ReturnType<typeof setTimeout> | undefined;
  const idle = (collectAfterMs = collectIdleMs) => {
    job = undefined;
    collectTimer = setTimeout(() => platform.collectGarbage?.(), collectAfterMs);
    retireTimer = setTimeout(() => port.postMessage({ [POOL]: "retire" } satisfies Control), idleWorkerMsMax);
  };
  const run = async (jobInit: WorkerInit) => {
    clearTimeout(retireTimer);
    clearTimeout(collectTimer);
    platform.weighSharedMemory?.(jobInit.memory, MEMORY_WEIGHT_BYTES);
    const inbox = (job = new MessageQueue());
    const jobPort: ParentPort = { postMessage: (message) => port.postMessage(message), onMessage: (listener) => inbox.listen(listener) };
    await runWorker(platform, jobInit, jobPort);
    port.postMessage({ [POOL]: "done" } satisfies Control);
    idle();
  };
  // Idle first: a "run" the port already holds is delivered as the listener is added.
  idle(0);
  port.onMessage((message) => {
    const control = controlOf(message);
    if (control === "run") void run((message as { init: WorkerInit }).init);
    else if (control === undefined) job?.deliver(message);
  });
  await new Promise<never>(() => {}); // the thread lives until the pool terminates it
}

registerWorkerRole("pooled", runPooled);
