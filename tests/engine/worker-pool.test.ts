// The per-process pool of worker threads (src/worker-pool.ts): a closed database's
// durability worker and actor threads run the next database's, which sees nothing of the
// first; idle threads retire after idleWorkerMsMax and never keep a process alive; an idle
// thread collects its garbage and keeps nothing of its last job; a job that said "closed"
// is waited for, however late its thread runs.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { compileCore } from "../../src/core/core.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { MessageQueue } from "../../src/message-queue.ts";
import type { ParentPort, Platform, WorkerHandle, WorkerInit } from "../../src/platform.ts";
import { registerWorkerRole, runWorker } from "../../src/worker-main.ts";
import { POOL, type PooledArgs, WorkerPool, workerPool } from "../../src/worker-pool.ts";
import { spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, eventually, open, platform, rows, tempDir, text } from "./helpers.ts";

const test = suite("engine worker pool");
test.after.each(cleanup);

test("a closed database's threads serve the next database, which sees none of the first's state", async () => {
  // A pool of its own (as tests/engine/shared-threads.test.ts): the process's pool holds
  // whatever earlier files left (idle threads that retire during the open below, leases
  // that end late, a database still open whose threads a database opened with no idle
  // thread shares: "(1 idle)", seen twice on a loaded machine; reproduced with one held
  // open, "(0 idle)"), and the counts below would move with it.
  const own: Platform = { ...platform };
  const pool = workerPool(own);
  const { open } = bindDatabaseApi(own);
  const first = tempDir();
  const a = await open(first, { shards: 2 });
  await a.put("only-in-a", "a");
  await a.close();
  assert.ok(pool.idleThreads >= 2, `the two threads went back to the pool (${pool.idleThreads} idle)`);
  const walBefore = platform.readdir(`${first}/wal`).map((name) => `${name}:${platform.stat(`${first}/wal/${name}`)!.size}`);

  const second = tempDir();
  const idleBefore = pool.idleThreads;
  const b = await open(second, { shards: 3, durability: "full" });
  assert.is(pool.idleThreads, idleBefore - 2, "the second open took two pooled threads");
  assert.is(b.get("only-in-a"), undefined);
  await b.put("only-in-b", "b");
  await b.batch([{ type: "put", key: "x", value: "1" }, { type: "put", key: "y", value: "2" }]);
  await b.flush();
  assert.equal(rows(b.scan()), ["only-in-b=b", "x=1", "y=2"]);
  assert.is(b.stats().shards.length, 3);
  await b.close();
  const walAfter = platform.readdir(`${first}/wal`).map((name) => `${name}:${platform.stat(`${first}/wal/${name}`)!.size}`);
  assert.equal(walAfter, walBefore, "the pooled durability worker never wrote the first database's log again");

  const again = await open(second);
  assert.is(text(again.get("only-in-b")), "b");
  assert.is(text(again.get("y")), "2");
  assert.is(again.get("only-in-a"), undefined);
  await again.close();
  const firstAgain = await open(first);
  assert.is(text(firstAgain.get("only-in-a")), "a");
  assert.is(firstAgain.get("only-in-b"), undefined);
  await firstAgain.close();
});

test("idle threads retire after idleWorkerMsMax", async () => {
  const pool = new WorkerPool(platform, 50);
  pool.prewarm(["durability", "actor"], await compileCore());
  assert.is(pool.idleThreads, 2);
  await eventually(() => pool.idleThreads === 0, "idle pooled threads retire");
});

test("idle pooled threads never keep the process alive", async () => {
  const child = spawnChild(runtimeName(), new URL("./fixtures/pool-exit.ts", import.meta.url).pathname);
  try {
    const line = await child.nextLine();
    assert.match(line, /^closed idle=\d+$/);
    assert.ok(Number(line.split("=")[1]) >= 2, line);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exit = await Promise.race([
      child.exited,
      new Promise<"alive">((resolve) => (timer = setTimeout(() => resolve("alive"), 30_000))),
    ]);
    clearTimeout(timer);
    assert.ok(exit !== "alive", "the process ended with idle threads in the pool (idleWorkerMsMax 120 s)");
    assert.is((exit as { code: number | null }).code, 0, child.stderr());
  } finally {
    child.kill();
  }
});

// The pooled thread's loop, run here on a port of the test's (a thread's heap cannot be
// looked into from outside): after a job, once idle, it collects, and the job's memory is
// gone. A reference the loop kept (its job's init, a queue holding a message, a listener)
// would keep the memory, and in a real thread every page the database touched, until the
// thread retires.
registerWorkerRole("test-pooled-job", async (_platform, init, port) => {
  Atomics.store(new Int32Array(init.memory.buffer), 0, 1);
  port.postMessage("ran");
  await new Promise((resolve) => setTimeout(resolve, 1));
});

test("a pooled thread collects once idle and keeps no reference to its last job's memory", async () => {
  let collections = 0;
  let weighed = 0;
  const spy: Platform = {
    ...platform,
    collectGarbage: () => {
      collections++;
      return platform.collectGarbage!();
    },
    weighSharedMemory: (memory, bytes) => {
      weighed++;
      platform.weighSharedMemory?.(memory, bytes);
    },
  };
  const toThread = new MessageQueue();
  const fromThread: unknown[] = [];
  const port: ParentPort = { postMessage: (message) => void fromThread.push(message), onMessage: (listener) => toThread.listen(listener) };
  const module = await compileCore();
  const args: PooledArgs = { idleWorkerMsMax: 60_000, collectIdleMs: 10 };
  void runWorker(spy, { role: "pooled", module, memory: new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }), args }, port);
  await eventually(() => collections === 1, "the thread collects as soon as it is idle at start");

  const ref = ((memory: WebAssembly.Memory) => {
    toThread.deliver({ [POOL]: "run", job: 1, init: { role: "test-pooled-job", module, memory }, mailed: false });
    return new WeakRef(memory);
  })(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }));
  await eventually(() => fromThread.some((m) => (m as Record<string, unknown>)[POOL] === "done"), "the job ends");
  assert.ok(fromThread.some((m) => (m as Record<string, unknown>)[POOL] === "from" && (m as { message: unknown }).message === "ran"), "the job's message came out wrapped with its job");
  assert.is(weighed, 1, "the thread weighed the job's memory");
  await eventually(() => collections === 2, "the thread collects once idle after the job");
  assert.is(ref.deref(), undefined, "nothing in the pooled thread kept the job's memory");
});

// A lease's terminate() runs once, however often it is called (review, 2026-12-06): two calls
// at once put the thread on the idle list twice, and two later jobs shared it.

/** A platform whose spawned "threads" are recorded fakes (no thread runs): the pool's bookkeeping alone. */
function fakePool() {
  const workers: Array<{ posted: unknown[]; terminated: number; emit(message: unknown): void; crash(error: Error): void }> = [];
  const fake: Platform = {
    ...platform,
    weighSharedMemory: undefined,
    spawnWorker: (_init: WorkerInit): WorkerHandle => {
      let listener: ((message: unknown) => void) | undefined;
      const errorListeners: Array<(error: Error) => void> = [];
      const w = {
        posted: [] as unknown[],
        terminated: 0,
        emit: (message: unknown) => listener?.(message),
        /** As a thread that died: the pool hears its error. */
        crash: (error: Error) => errorListeners.forEach((l) => l(error)),
      };
      workers.push(w);
      return {
        postMessage: (message: unknown) => void w.posted.push(message),
        onMessage: (l: (message: unknown) => void) => void (listener = l),
        onError: (l: (error: Error) => void) => void errorListeners.push(l),
        ref: () => {},
        unref: () => {},
        terminate: async () => void w.terminated++,
      } as unknown as WorkerHandle;
    },
  } as Platform;
  const pool = new WorkerPool(fake, 60_000);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const init = (role: string, wakeAddress?: number) => ({ role, module: {} as WebAssembly.Module, memory, args: {}, wakeAddress }) as unknown as WorkerInit;
  const runs = (w: { posted: unknown[] }) => w.posted.filter((m) => (m as Record<string, unknown>)[POOL] === "run") as Array<{ job: number; mailed: boolean }>;
  const jobOf = (w: { posted: unknown[] }) => runs(w)[0].job;
  return { pool, workers, init, jobOf, runs };
}

test("worker pool: a job's handle terminated twice at once puts its thread on the idle list once (two later jobs get two threads)", async () => {
  const { pool, workers, init, jobOf } = fakePool();
  const handle = pool.spawn(init("durability"));
  assert.is(workers.length, 1);
  workers[0].emit({ [POOL]: "done", job: jobOf(workers[0]) });
  await Promise.all([handle.terminate(), handle.terminate()]);
  assert.is(pool.idleThreads, 1, "one thread, idle once");
  pool.spawn(init("actor"));
  pool.spawn(init("durability"));
  assert.is(pool.busyThreads, 2, "two jobs of two databases' roles on two threads, not both on one (a blocking actor loop would never let the second's run in)");
});

test("worker pool: a job's handle terminated twice at once, its job not ended, terminates its thread once", async () => {
  const { pool, workers, init } = fakePool();
  const handle = pool.spawn(init("durability"));
  await Promise.all([handle.terminate(), handle.terminate()]); // each waits LEASE_DONE_WAIT_MS_MAX (250 ms)
  assert.is(workers[0].terminated, 1, "the thread is terminated once");
  assert.is(pool.idleThreads + pool.busyThreads, 0);
});

test("worker pool: a job whose role said \"closed\" but whose \"done\" comes late (a starved thread) goes back to the idle list, not terminated", async () => {
  // Seen failing under a loaded CI: "done" came more than LEASE_DONE_WAIT_MS_MAX (250 ms)
  // after the role's "closed", the thread was ended for real, and a closed database left one
  // idle thread instead of two (the first test of this file).
  const { pool, workers, init, jobOf } = fakePool();
  const handle = pool.spawn(init("durability"));
  const job = jobOf(workers[0]);
  workers[0].emit({ [POOL]: "from", job, message: { type: "closed" } });
  const terminated = handle.terminate();
  await new Promise((resolve) => setTimeout(resolve, 400));
  workers[0].emit({ [POOL]: "done", job });
  await terminated;
  assert.is(workers[0].terminated, 0, "the thread was not terminated");
  assert.is(pool.idleThreads, 1, "it is idle, ready for the next job");
});

// Review of the worker pool, 2026-12-07: a thread that died while a database's close()
// waited for its job's "done" (the role had said "closed": a wait of up to 10 s) left the
// wait to time out, since the pool's error handler never ended it; close() hung that long.
test("worker pool: a thread that dies while a lease waits for its \"done\" (its role said closed) ends that wait at once", async () => {
  const { pool, workers, init, jobOf } = fakePool();
  const handle = pool.spawn(init("durability", 0));
  workers[0].emit({ [POOL]: "from", job: jobOf(workers[0]), message: { type: "closed" } });
  const terminated = handle.terminate();
  await new Promise((resolve) => setTimeout(resolve, 20));
  workers[0].crash(new Error("worker exited with code 1 before it was terminated"));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([terminated.then(() => "ended"), new Promise((resolve) => (timer = setTimeout(() => resolve("still waiting"), 2_000)))]);
  clearTimeout(timer);
  assert.is(outcome, "ended", "terminate() waits (up to 10 s) for a \"done\" from a thread that died");
  assert.is(workers[0].terminated, 1, "the dead thread is terminated, not given back to the idle list");
  assert.is(pool.idleThreads, 0);
});

// Guards from the same review (held): the parent decides whether an idle thread retires,
// so a retire request that crosses a new job's "run" is refused, and a thread that retired
// never gets a job; a shared thread's runs are "mailed" exactly after its first job.
test("worker pool: a retire request crossing a new job's run is refused; a thread that retired gets no job later", async () => {
  const { pool, workers, init, runs, jobOf } = fakePool();
  pool.prewarm(["durability"], {} as WebAssembly.Module);
  assert.is(pool.idleThreads, 1);
  const handle = pool.spawn(init("durability", 0));
  workers[0].emit({ [POOL]: "retire" }); // sent by the thread before it saw the "run"
  assert.is(workers[0].terminated, 0, "a thread with a job is not retired");
  workers[0].emit({ [POOL]: "done", job: jobOf(workers[0]) });
  await handle.terminate();
  assert.is(pool.idleThreads, 1);
  assert.ok(workers[0].posted.some((m) => (m as Record<string, unknown>)[POOL] === "idle"), "the thread was told to time its idleness again");
  workers[0].emit({ [POOL]: "retire" });
  assert.is(workers[0].terminated, 1, "an idle thread that asks to retire is ended");
  pool.spawn(init("durability", 0));
  assert.is(workers.length, 2, "the next job starts a new thread");
  assert.is(runs(workers[0]).length, 1, "the retired thread got no job");
});

test("worker pool: four jobs of a shared role on one thread, each run once and mailed after the first; a fifth gets a thread of its own; messages reach their own job only", () => {
  const { pool, workers, init, runs } = fakePool();
  const handles = [0, 1, 2, 3, 4].map(() => pool.spawn(init("actor", 0)));
  assert.is(workers.length, 2);
  assert.equal(runs(workers[0]).map((r) => r.mailed), [false, true, true, true]);
  assert.equal(runs(workers[1]).map((r) => r.mailed), [false]);
  const ids = [...runs(workers[0]), ...runs(workers[1])].map((r) => r.job);
  assert.is(new Set(ids).size, 5, "five distinct jobs");
  const seen: unknown[][] = handles.map(() => []);
  handles.forEach((h, i) => h.onMessage((m) => seen[i].push(m)));
  workers[0].emit({ [POOL]: "from", job: ids[1], message: "for the second" });
  assert.equal(seen.map((s) => s.length), [0, 1, 0, 0, 0]);
});

test.run();
