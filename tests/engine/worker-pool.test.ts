// The per-process pool of worker threads (src/worker-pool.ts): a closed database's
// durability worker and actor threads run the next database's, which sees nothing of the
// first; idle threads retire after idleWorkerMsMax and never keep a process alive; an idle
// thread collects its garbage and keeps nothing of its last job; a job that said "closed"
// is waited for, however late its thread runs.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { compileCore } from "../../src/core/core.ts";
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
  const pool = workerPool(platform);
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
  const workers: Array<{ posted: unknown[]; terminated: number; emit(message: unknown): void }> = [];
  const fake: Platform = {
    ...platform,
    weighSharedMemory: undefined,
    spawnWorker: (_init: WorkerInit): WorkerHandle => {
      let listener: ((message: unknown) => void) | undefined;
      const w = {
        posted: [] as unknown[],
        terminated: 0,
        emit: (message: unknown) => listener?.(message),
      };
      workers.push(w);
      return {
        postMessage: (message: unknown) => void w.posted.push(message),
        onMessage: (l: (message: unknown) => void) => void (listener = l),
        onError: () => {},
        ref: () => {},
        unref: () => {},
        terminate: async () => void w.terminated++,
      } as unknown as WorkerHandle;
    },
  } as Platform;
  const pool = new WorkerPool(fake, 60_000);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const init = (role: string) => ({ role, module: {} as WebAssembly.Module, memory, args: {} }) as unknown as WorkerInit;
  const jobOf = (w: { posted: unknown[] }) => (w.posted.find((m) => (m as Record<string, unknown>)[POOL] === "run") as { job: number }).job;
  return { pool, workers, init, jobOf };
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

test.run();
