/**
 * WorkerPool: a per-process (per Platform object) pool of worker threads that run the
 * engine's own roles ("durability", "actor", "replay-pages"), so that opening a database
 * does not pay a thread start (and, in Node from sources, a loader start) each time, and so
 * that databases held open together share threads: a closed database's threads go back to
 * the pool and the next open takes them, and a database opened while no thread is idle puts
 * its durability worker and its actor on threads that already run those roles for other
 * databases, up to JOBS_PER_THREAD_MAX each (an idle Node worker thread alone is ~8 MiB
 * resident: two per database held open was 20 MiB a database).
 *
 *   const worker = workerPool(platform).spawn(init)        // a WorkerHandle, as platform.spawnWorker
 *   workerPool(platform).prewarm(["durability", "actor"])  // start, in parallel, the threads those spawns will need
 *
 * How: every pooled thread runs the "pooled" role (below), which waits for
 * `{ [POOL]: "run", job, init }`, runs `init` with src/worker-main.ts's `runWorker` on a
 * port of its own, then posts `{ [POOL]: "done", job }`. A job's WorkerHandle (a lease)
 * passes messages both ways while the job runs, wrapped as `{ [POOL]: "to" | "from", job,
 * message }`; its `terminate()` waits for "done" (the engine terminates after its role
 * said "closed", or, for "replay-pages", after setting its stop word, so "done" follows at
 * once) and gives the thread back once no job is left on it, or ends the thread for real if
 * "done" does not come within LEASE_DONE_WAIT_MS_MAX (LEASE_DONE_AFTER_CLOSED_MS_MAX once
 * the role said "closed": it is returning) (a role still running: a thread that
 * still runs other jobs then takes no new one and ends with its last) or the thread failed.
 *
 * Sharing (SHARED_ROLES: "durability" and "actor"): a thread runs jobs of one role only, so
 * that an actor, which may wait synchronously for a durability worker (ring room, a flush's
 * durability), never waits for a job of its own thread. A job of a shared role waits for
 * work through `jobIdle` and gives the thread up between steps through `jobTurn`:
 * - alone on its thread, `jobIdle` is a plain Atomics.wait on the job's wake word (the
 *   cheapest wake there is, as before pooling); with others, Atomics.waitAsync, so that the
 *   thread's event loop runs every job's wake; `jobTurn` hands the thread over after a job
 *   ran JOB_SLICE_MS without waiting, so a busy database's actor does not starve another's.
 * - handing a job to a thread whose only job may be asleep in Atomics.wait: the spawner
 *   adds 1 to the thread's mail word, posts "run", then adds 1 to every job's wake word
 *   (`init.wakeAddress`, which wakes nothing but the job's loop: it re-scans and sleeps
 *   again) and notifies it. A sleeping job wakes; a job about to sleep either sees the mail
 *   word changed (`jobIdle` then yields a task instead of waiting, and the "run" comes in),
 *   or its Atomics.wait finds the wake word changed since it read it and returns at once.
 *   (Sequentially consistent atomics on both sides, the Dekker handshake of the WAL ring's
 *   sleeping flag.)
 * What sharing costs: jobs on one thread take turns between steps, and an actor's flush or
 * merge is one synchronous step: it delays the channel writes, memtable freezes and flushes
 * of the other databases on its thread by as long as it runs (as a database's own merges
 * always delayed its own), up to seconds for a merge of large tables; and two databases'
 * fdatasyncs on one durability thread run one after the other. One crashed thread fails
 * every database with a job on it.
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
 * Invariants: a thread runs jobs of one role at a time, at most JOBS_PER_THREAD_MAX, and
 * only one job of a role that is not shared; a job's messages reach only its own lease
 * (messages that arrive after a lease ended are dropped on both sides); no state survives a
 * job and no job sees another's: roles keep theirs in locals, attach their own Core to the
 * job's memory and detach it before they return (src/wal/durability-worker.ts,
 * src/engine/actor.ts, src/engine/replay-pages.ts), and module state they use (scratch
 * buffers) is used only between two awaits;
 * only roles in POOLED_ROLES are pooled (the "module" role imports arbitrary modules,
 * whose module state would outlive the job, so it keeps a thread of its own). A job of a
 * wrapped Platform (Platform.pooledOn: the tests' power-loss wrapper) runs on the base's
 * pool, on the Platform its wrapper module makes, in the job's thread, for that job only
 * (spawnJob; the module is imported once per thread and keeps no state of a job).
 * Threads: a pool belongs to the thread that made it (the opening thread); the "pooled"
 * role, `jobIdle` and `jobTurn` run in the pool's threads; a thread's mail word is written
 * by the spawner and read by the thread.
 */
import type { ParentPort, Platform, PlatformWrapper, WorkerHandle, WorkerInit } from "./platform.ts";
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
 * ms. A role still running (an open that failed half way) is terminated after this wait, so
 * it bounds that path's delay too.
 */
const LEASE_DONE_WAIT_MS_MAX = 250;
/**
 * The same wait once the role said "closed": its job ends at once (it returns and the thread
 * posts "done"), unless the machine is so busy that the thread does not run for a while.
 * A thread whose "done" came after LEASE_DONE_WAIT_MS_MAX was ended for real, and the next
 * open started threads again (under a loaded CI, tests/engine/worker-pool.test.ts saw one
 * of a closed database's two threads gone).
 */
const LEASE_DONE_AFTER_CLOSED_MS_MAX = 10_000;
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
/** The roles whose jobs share threads (each waits through jobIdle and takes turns through jobTurn). */
const SHARED_ROLES = new Set(["durability", "actor"]);
/**
 * How many databases' jobs of one role a thread runs at most. Measured with 10 databases
 * open (Node, bench/engine rss): per database 20.1 MiB with a thread each; 4 to a thread
 * takes 20 threads down to 6. More would save less and let more databases wait on each
 * other's merges.
 */
export const JOBS_PER_THREAD_MAX = 4;
/** How long a job that shares its thread runs before jobTurn hands the thread over, ms. */
const JOB_SLICE_MS = 5;


type Control =
  | { [POOL]: "run"; job: number; init: WorkerInit; mailed: boolean; wrapper?: PlatformWrapper }
  | { [POOL]: "to"; job: number; message: unknown }
  | { [POOL]: "from"; job: number; message: unknown }
  | { [POOL]: "done"; job: number }
  | { [POOL]: "retire" }
  /** To a thread back on the idle list: start the idle timers again (see terminate). */
  | { [POOL]: "idle" };

function controlOf(message: unknown): Control | undefined {
  return typeof message === "object" && message !== null && POOL in message ? message as Control : undefined;
}

/** One job on a pooled thread, as its spawner sees it. */
class Lease {
  readonly inbox = new MessageQueue();
  readonly errorListeners: Array<(error: Error) => void> = [];
  ended = false;
  done = false;
  /** Its role posted { type: "closed" }: its job is returning (LEASE_DONE_AFTER_CLOSED_MS_MAX). */
  saidClosed = false;
  /** The handle's terminate() once called: a second call gets the same promise. */
  terminating: Promise<void> | undefined;
  /** Whether this job keeps the process alive (its handle's ref/unref). */
  referenced = true;
  #doneWaiters: Array<(done: boolean) => void> = [];

  constructor(readonly id: number, readonly init: WorkerInit) {}

  jobDone(): void {
    this.done = true;
    for (const resolve of this.#doneWaiters.splice(0)) resolve(true);
  }

  /** Its thread died: "done" will never come, and a terminate() waiting for it goes on now. */
  threadDied(): void {
    for (const resolve of this.#doneWaiters.splice(0)) resolve(false);
  }

  /** Resolves true once the job is done, false after `ms` or once its thread died. */
  waitDone(ms: number): Promise<boolean> {
    if (this.done) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.#doneWaiters.push((done) => {
        clearTimeout(timer);
        resolve(done);
      });
    });
  }

  /** Wakes the job's loop if it sleeps (see the header: handing a job to a thread). */
  wake(): void {
    const at = this.init.wakeAddress;
    if (at === undefined) return;
    const i32 = new Int32Array(this.init.memory.buffer);
    Atomics.add(i32, at >>> 2, 1);
    Atomics.notify(i32, at >>> 2);
  }
}

/** A pooled thread. */
class PooledThread {
  /** The jobs it runs now, by id. */
  readonly jobs = new Map<number, Lease>();
  /** The role of its jobs while it has any. */
  role: string | undefined;
  dead = false;
  /** Takes no new job and ends with its last (a job of it did not end when terminated). */
  draining = false;
  constructor(readonly worker: WorkerHandle, readonly mail: Int32Array) {}

  /** Refs the thread while any of its jobs wants the process kept alive. */
  syncRef(): void {
    for (const lease of this.jobs.values()) {
      if (lease.referenced) return this.worker.ref();
    }
    this.worker.unref();
  }
}

export class WorkerPool {
  readonly #idle: PooledThread[] = [];
  readonly #busy = new Set<PooledThread>();
  #nextJob = 1;
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

  /** Threads running jobs now (for tests and stats). */
  get busyThreads(): number {
    return this.#busy.size;
  }

  /**
   * Starts, all at once, the threads that spawns of `roles` would start one by one: one
   * for each role that no idle thread and no shared thread with room would take.
   */
  prewarm(roles: string[], module: WebAssembly.Module): void {
    this.#placeholder ??= { module, memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }) };
    const needed = roles.filter((role) => !(SHARED_ROLES.has(role) && this.#sharedThread(role))).length;
    while (this.#idle.length < needed) this.#idle.push(this.#start());
  }

  /**
   * Runs `init` on a pooled thread (its role must be one of POOLED_ROLES), on the
   * thread's Platform or the one `wrapper` makes of it (spawnJob); a WorkerHandle like
   * platform.spawnWorker's.
   */
  spawn(init: WorkerInit, wrapper?: PlatformWrapper): WorkerHandle {
    if (!POOLED_ROLES.has(init.role)) return this.platform.spawnWorker(init);
    this.platform.weighSharedMemory?.(init.memory, MEMORY_WEIGHT_BYTES);
    this.#placeholder ??= { module: init.module, memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }) };
    const shared = this.#idle.length === 0 && SHARED_ROLES.has(init.role) && init.wakeAddress !== undefined ? this.#sharedThread(init.role) : undefined;
    const thread = shared ?? this.#idle.pop() ?? this.#start();
    const lease = new Lease(this.#nextJob++, init);
    const others = [...thread.jobs.values()];
    thread.role = init.role;
    thread.jobs.set(lease.id, lease);
    this.#busy.add(thread);
    thread.syncRef();
    if (shared) Atomics.add(thread.mail, 0, 1);
    try {
      thread.worker.postMessage({ [POOL]: "run", job: lease.id, init, mailed: shared !== undefined, wrapper } satisfies Control);
    } catch (error) {
      // Not posted (init cannot be cloned): the thread never hears of the job.
      if (shared) Atomics.sub(thread.mail, 0, 1);
      thread.jobs.delete(lease.id);
      if (thread.jobs.size === 0) {
        this.#busy.delete(thread);
        thread.role = undefined;
        this.#idle.push(thread);
      }
      thread.syncRef();
      throw error;
    }
    for (const other of others) other.wake();
    return this.#handle(thread, lease);
  }

  /** A live thread running jobs of `role` with room for one more, the least loaded. */
  #sharedThread(role: string): PooledThread | undefined {
    let best: PooledThread | undefined;
    for (const thread of this.#busy) {
      if (thread.role !== role || thread.dead || thread.draining || thread.jobs.size >= JOBS_PER_THREAD_MAX) continue;
      if (!best || thread.jobs.size < best.jobs.size) best = thread;
    }
    return best;
  }

  #start(): PooledThread {
    const { module, memory } = this.#placeholder!;
    const mail = new Int32Array(new SharedArrayBuffer(4));
    const args: PooledArgs = { idleWorkerMsMax: this.idleWorkerMsMax, collectIdleMs: COLLECT_IDLE_MS, mail };
    const worker = this.platform.spawnWorker({ role: "pooled", module, memory, args });
    const thread = new PooledThread(worker, mail);
    worker.unref();
    worker.onMessage((message) => {
      const control = controlOf(message);
      if (control?.[POOL] === "from") {
        const lease = thread.jobs.get(control.job);
        if ((control.message as { type?: unknown } | null)?.type === "closed" && lease) lease.saidClosed = true;
        if (lease && !lease.ended) lease.inbox.deliver(control.message);
      } else if (control?.[POOL] === "done") thread.jobs.get(control.job)?.jobDone();
      else if (control?.[POOL] === "retire") this.#retire(thread);
    });
    worker.onError((error) => {
      thread.dead = true;
      this.#drop(thread);
      for (const lease of thread.jobs.values()) {
        if (!lease.ended) for (const listener of lease.errorListeners) listener(error);
        lease.threadDied();
      }
    });
    return thread;
  }

  #handle(thread: PooledThread, lease: Lease): WorkerHandle {
    const worker = thread.worker;
    return {
      postMessage: (message) => {
        if (!lease.ended) worker.postMessage({ [POOL]: "to", job: lease.id, message } satisfies Control);
      },
      onMessage: (listener) => lease.inbox.listen(listener),
      onError: (listener) => void lease.errorListeners.push(listener),
      unref: () => {
        if (lease.ended) return;
        lease.referenced = false;
        thread.syncRef();
      },
      ref: () => {
        if (lease.ended) return;
        lease.referenced = true;
        thread.syncRef();
      },
      // Once: a second call while the first waits gets the first's promise (two calls put
      // the thread on the idle list twice, and two later jobs shared it: review, 2026-12-06).
      terminate: () => (lease.terminating ??= this.#terminate(thread, lease)),
    };
  }

  /** Ends `lease` (terminate of its handle, once): the thread goes back to the idle list, or ends. */
  async #terminate(thread: PooledThread, lease: Lease): Promise<void> {
    if (lease.ended) return;
    const done = thread.dead ? false : await lease.waitDone(lease.saidClosed ? LEASE_DONE_AFTER_CLOSED_MS_MAX : LEASE_DONE_WAIT_MS_MAX);
    lease.ended = true;
    thread.jobs.delete(lease.id);
    if (!done) thread.draining = true;
    if (thread.jobs.size > 0 && !thread.dead) return thread.syncRef();
    this.#busy.delete(thread);
    thread.role = undefined;
    const worker = thread.worker;
    if (thread.draining || thread.dead) {
      thread.dead = true;
      await worker.terminate();
    } else {
      worker.unref();
      this.#idle.push(thread);
      // Its job may have ended long before this lease did (a durability job that failed
      // at start, an actor whose run threw): the thread's retire request then came while
      // the lease still held it, was refused, and was never made again, so the thread
      // stayed for good (review, 2026-12-06). It times its idleness again from now.
      worker.postMessage({ [POOL]: "idle" } satisfies Control);
    }
  }

  /** An idle thread asked to retire: end it if it is still idle (a job may have been posted to it since). */
  #retire(thread: PooledThread): void {
    if (thread.jobs.size > 0 || thread.dead || !this.#idle.includes(thread)) return;
    this.#drop(thread);
    thread.dead = true;
    void thread.worker.terminate();
  }

  #drop(thread: PooledThread): void {
    const at = this.#idle.indexOf(thread);
    if (at >= 0) this.#idle.splice(at, 1);
    this.#busy.delete(thread);
  }
}

const pools = new WeakMap<Platform, WorkerPool>();

/**
 * The pool of `platform` in this thread: one per Platform object, so wrapped platforms get
 * their own, except one that names the pool its jobs run on (Platform.pooledOn).
 */
export function workerPool(platform: Platform): WorkerPool {
  const owner = platform.pooledOn?.base ?? platform;
  let pool = pools.get(owner);
  if (!pool) pools.set(owner, (pool = new WorkerPool(owner)));
  return pool;
}

/** What the engine starts its roles with: on `platform`'s pool, each job on `platform` (see Platform.pooledOn). */
export function spawnJob(platform: Platform, init: WorkerInit): WorkerHandle {
  const on = platform.pooledOn;
  // A role the pool does not run goes to a thread of its own: through the wrapper itself.
  if (on && !POOLED_ROLES.has(init.role)) return platform.spawnWorker(init);
  return workerPool(platform).spawn(init, on?.wrapper);
}

// ---- the pooled thread's side -------------------------------------------------------

/** What a pooled thread is told when it starts (its WorkerInit's args). */
export interface PooledArgs {
  idleWorkerMsMax: number;
  collectIdleMs: number;
  /** The thread's mail word (see the header), or undefined where nothing shares the thread. */
  mail?: Int32Array;
}

/** Jobs running on this thread now (0 outside a pooled thread). */
let threadJobs = 0;
/** This thread's mail word, and how many of the "run"s counted in it this thread has taken. */
let mail: Int32Array | undefined;
let mailTaken = 0;
/** When the job that runs now last got the thread (performance.now()). */
let turnStartMs = 0;

/** A task queued behind every task ready now (setImmediate where the runtime has it: setTimeout(0) waits 1-4 ms). */
const queueTask: (run: () => void) => void = typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
  ? (run) => (globalThis as unknown as { setImmediate: (run: () => void) => void }).setImmediate(run)
  : (run) => void setTimeout(run, 0);

function nextTask(): Promise<void> {
  return new Promise((resolve) => queueTask(resolve));
}

/** Whether a job was handed to this thread and its "run" not yet taken (see the header). */
function mailWaiting(): boolean {
  return mail !== undefined && Atomics.load(mail, 0) !== mailTaken;
}

function turnStarts(): void {
  turnStartMs = performance.now();
}

/**
 * A job's wait for work on its wake word (`Atomics.wait(i32, index, expected, timeoutMs)`
 * semantics: returns at a notify, a changed word or the timeout): synchronous while the job
 * is alone on its thread (undefined is returned), else a promise to await. See the header.
 */
export function jobIdle(i32: Int32Array, index: number, expected: number, timeoutMs: number): Promise<void> | undefined {
  if (threadJobs <= 1) {
    if (mailWaiting()) return nextTask().then(turnStarts);
    Atomics.wait(i32, index, expected, timeoutMs);
    return undefined;
  }
  const result = Atomics.waitAsync(i32, index, expected, timeoutMs);
  return result.async ? result.value.then(turnStarts) : undefined;
}

/**
 * Between two steps of a job's loop: undefined while the job may go on, or a promise to
 * await, after which the thread's other jobs have had their turn (JOB_SLICE_MS), or a job
 * handed to this thread has come in (a job alone on its thread and never idle would
 * otherwise never let its "run" in, and that database's open would wait for ever).
 */
export function jobTurn(): Promise<void> | undefined {
  if (threadJobs <= 1) return mailWaiting() ? nextTask().then(turnStarts) : undefined;
  if (performance.now() - turnStartMs < JOB_SLICE_MS) return undefined;
  return nextTask().then(turnStarts);
}

/**
 * Runs its jobs as they come; asks to retire after idleWorkerMsMax without one, and
 * collects its garbage after collectIdleMs without one, from a task of its own, so that no
 * frame of a job is on the stack then; at start, as soon as it is idle (what loading the
 * code left: about 1 MiB per thread in Bun, before the job that keeps the thread busy for
 * as long as its database is open). Weighs each job's memory in this thread, so that a
 * thread that runs job after job without ever being idle for collectIdleMs collects them
 * as it goes.
 */
async function runPooled(platform: Platform, init: WorkerInit, port: ParentPort): Promise<void> {
  const { idleWorkerMsMax, collectIdleMs } = init.args as PooledArgs;
  mail = (init.args as PooledArgs).mail;
  const jobs = new Map<number, MessageQueue>();
  let retireTimer: ReturnType<typeof setTimeout> | undefined;
  let collectTimer: ReturnType<typeof setTimeout> | undefined;
  const idle = (collectAfterMs = collectIdleMs) => {
    collectTimer = setTimeout(() => platform.collectGarbage?.(), collectAfterMs);
    retireTimer = setTimeout(() => port.postMessage({ [POOL]: "retire" } satisfies Control), idleWorkerMsMax);
  };
  const run = async (id: number, jobInit: WorkerInit, mailed: boolean, wrapper: PlatformWrapper | undefined) => {
    if (mailed) mailTaken++;
    clearTimeout(retireTimer);
    clearTimeout(collectTimer);
    platform.weighSharedMemory?.(jobInit.memory, MEMORY_WEIGHT_BYTES);
    const inbox = new MessageQueue();
    jobs.set(id, inbox);
    threadJobs = jobs.size;
    turnStarts();
    const jobPort: ParentPort = {
      postMessage: (message) => port.postMessage({ [POOL]: "from", job: id, message } satisfies Control),
      onMessage: (listener) => inbox.listen(listener),
    };
    await runWorker(platform, jobInit, jobPort, wrapper);
    jobs.delete(id);
    threadJobs = jobs.size;
    port.postMessage({ [POOL]: "done", job: id } satisfies Control);
    if (jobs.size === 0) idle();
  };
  // Idle first: a "run" the port already holds is delivered as the listener is added.
  idle(0);
  port.onMessage((message) => {
    const control = controlOf(message);
    if (control?.[POOL] === "run") void run(control.job, control.init, control.mailed, control.wrapper);
    else if (control?.[POOL] === "to") jobs.get(control.job)?.deliver(control.message);
    else if (control?.[POOL] === "idle" && jobs.size === 0) {
      clearTimeout(retireTimer);
      clearTimeout(collectTimer);
      idle();
    }
  });
  await new Promise<never>(() => {}); // the thread lives until the pool terminates it
}

registerWorkerRole("pooled", runPooled);
