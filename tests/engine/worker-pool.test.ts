// The per-process pool of worker threads (src/worker-pool.ts): a closed database's
// durability worker and actor threads run the next database's, which sees nothing of the
// first; idle threads retire after idleWorkerMsMax and never keep a process alive; an idle
// thread collects its garbage and keeps nothing of its last job.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { compileCore } from "../../src/core/core.ts";
import { MessageQueue } from "../../src/message-queue.ts";
import type { ParentPort, Platform } from "../../src/platform.ts";
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

test.run();
