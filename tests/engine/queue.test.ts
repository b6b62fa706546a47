// Queued writes (`db.enqueue`, src/engine/write-queue.ts): a bounded FIFO with strict group
// commit. Capacity, FIFO order, timeouts and aborts before a request starts (and an abort
// after it started changing nothing), close draining, grouping into few syncs, exact
// counters, bad input failing alone, attached handles, and a model check after reopen.
// Nothing here asserts on timings: a request is held "running" by a group whose fdatasync
// is slowed by a fault (a request copies its operations when enqueued). The one test of
// maxGroupDelayUs (review, 2026-12-06) waits past the delay before it releases the running
// group, so the request behind it has no delay left: it must start at once, not 200 ms later.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { QueueClosedError, QueueFullError, ShardlineError, TimeoutError, WalFailedError, type WriteQueueStats } from "../../src/engine/public.ts";
import type { Database } from "../../src/engine/database.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { rejects } from "../harness/assert.ts";
import { WriteQueue, type WriteQueueSink } from "../../src/engine/write-queue.ts";
import { cleanup, eventually, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine queue");

const put = (key: string, value: string) => ({ type: "put" as const, key, value });

function queueStats(db: Database): WriteQueueStats {
  return db.stats().writeQueue;
}

/** The counter identities that always hold once no group runs. */
function checkIdentities(s: WriteQueueStats): void {
  assert.is(s.admitted, s.executed + s.timedOut + s.canceled + s.depth, "admitted = executed + timedOut + canceled + depth");
  assert.is(s.committed + s.failed, s.executed, "committed + failed = executed");
  assert.is(s.syncsSaved, Math.max(0, s.committed - s.physicalSyncs), "syncsSaved = committed - physicalSyncs");
}

const isAbortError = (e: Error) => e instanceof DOMException && e.name === "AbortError";

test("enqueue applies its operations atomically and resolves with a durable commit timestamp", async () => {
  const db = await open(tempDir(), { shards: 2 });
  await db.put("gone", "x");
  const ts = await db.enqueue([put("a", "1"), { type: "delete", key: "gone" }, put("b", "2")]);
  assert.is(typeof ts, "bigint");
  assert.ok(ts > 0n);
  assert.is(text(db.get("a")), "1");
  assert.is(text(db.get("b")), "2");
  assert.is(db.get("gone"), undefined);
  const s = db.stats();
  assert.ok(s.wal.durableLsn >= s.wal.currentLsn, "acknowledged only once durable");
  assert.is(await db.enqueue([]), 0n, "an empty request writes nothing");
  assert.equal(s.writeQueue, {
    depth: 0, admitted: 1, rejected: 0, timedOut: 0, canceled: 0, executed: 1, committed: 1, failed: 0,
    groupedBatches: 1, physicalSyncs: s.writeQueue.physicalSyncs, syncsSaved: s.writeQueue.syncsSaved,
  });
  assert.ok(s.writeQueue.physicalSyncs >= 1, "the request's own sync is counted");
  await db.close();
});

test("durability async: the queue still acknowledges only after the sync covering the write", async () => {
  const db = await open(tempDir(), { durability: "async", walBatchIntervalUs: 20_000 });
  for (let i = 0; i < 5; i++) {
    await db.enqueue([put(`k${i}`, "v")]);
    const wal = db.stats().wal;
    assert.ok(wal.durableLsn >= wal.currentLsn, "the only writer's record is durable when its request resolves");
  }
  await db.close();
});

test("a full queue rejects at once with QueueFullError, counted in rejected", async () => {
  const db = await open(tempDir(), { writeQueue: { capacity: 3, maxBatch: 1 } });
  const admitted = [0, 1, 2].map((i) => db.enqueue([put(`k${i}`, "v")]));
  assert.is(queueStats(db).depth, 3);
  const full = db.enqueue([put("over", "v")]);
  full.catch(() => {}); // handled below
  assert.is(queueStats(db).rejected, 1, "refused synchronously, before anything ran");
  const error = await rejects(() => full, QueueFullError);
  assert.is((error as ShardlineError).code, "SHARDLINE_QUEUE_FULL");
  assert.ok(error instanceof ShardlineError);
  await Promise.all(admitted);
  assert.is(db.get("over"), undefined);
  // Room again once they started.
  await db.enqueue([put("later", "v")]);
  const s = queueStats(db);
  assert.is(s.admitted, 4);
  assert.is(s.rejected, 1);
  assert.is(s.committed, 4);
  checkIdentities(s);
  await db.close();
});

test("FIFO: requests to one key commit in submit order and the last one wins", async () => {
  const db = await open(tempDir(), { shards: 4, writeQueue: { maxBatch: 16 } });
  const n = 200;
  const ts = await Promise.all(Array.from({ length: n }, (_, i) => db.enqueue([put("k", `v${i}`)])));
  for (let i = 1; i < n; i++) assert.ok(ts[i] > ts[i - 1], `request ${i} committed after request ${i - 1}`);
  assert.is(text(db.get("k")), `v${n - 1}`);
  const s = queueStats(db);
  assert.is(s.committed, n);
  assert.ok(s.groupedBatches >= n / 16);
  checkIdentities(s);
  await db.close();
});

test("FIFO: timestamps of requests to one shard increase in submit order", async () => {
  const db = await open(tempDir(), { shards: 1, writeQueue: { maxBatch: 8 } });
  const ts = await Promise.all(Array.from({ length: 100 }, (_, i) => db.enqueue([put(`key${i % 13}`, `v${i}`)])));
  for (let i = 1; i < ts.length; i++) assert.ok(ts[i] > ts[i - 1], `request ${i} after request ${i - 1}`);
  for (let j = 0; j < 13; j++) {
    const last = Math.max(...Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 13 === j));
    assert.is(text(db.get(`key${j}`)), `v${last}`);
  }
  await db.close();
});

test("a request times out before it starts: TimeoutError, nothing written; one that started is unaffected", async () => {
  // maxBatch 1: the first request runs alone, and its group's fdatasync takes 20 ms (a
  // request copies its operations when enqueued, so it can no longer be held at its start).
  const db = await open(tempDir(), { writeQueue: { maxBatch: 1, timeoutMs: 1 }, faults: { groupLog: { syncDelayMs: 20 } } });
  const [first, late, byDefault, patient] = await Promise.allSettled([
    db.enqueue([put("first", "1")], { timeoutMs: 0 }),
    db.enqueue([put("late", "x")], { timeoutMs: 1 }),
    db.enqueue([put("default", "x")]), // writeQueue.timeoutMs: 1
    db.enqueue([put("patient", "x")], { timeoutMs: 0 }),
  ]);
  assert.ok(first.status === "fulfilled" && first.value > 0n);
  assert.ok(late.status === "rejected" && late.reason instanceof TimeoutError);
  const e = (late as PromiseRejectedResult).reason as TimeoutError;
  assert.is(e.name, "TimeoutError");
  assert.is(e.code, "SHARDLINE_TIMEOUT");
  assert.ok(byDefault.status === "rejected" && byDefault.reason instanceof TimeoutError && byDefault.reason.timeoutMs === 1);
  assert.ok(patient.status === "fulfilled" && patient.value > 0n);
  assert.is(db.get("late"), undefined);
  assert.is(db.get("default"), undefined);
  assert.is(text(db.get("first")), "1");
  assert.is(text(db.get("patient")), "x");
  const s = queueStats(db);
  assert.is(s.timedOut, 2);
  assert.is(s.executed, 2);
  assert.is(s.committed, 2);
  checkIdentities(s);
  await db.close();
});

test("an abort before the start cancels (AbortError, nothing written); after the start it changes nothing", async () => {
  const db = await open(tempDir(), { writeQueue: { maxBatch: 1 } });
  // Before: the request is still queued when its signal aborts.
  const plain = new AbortController();
  const withReason = new AbortController();
  const a = db.enqueue([put("before-1", "x")], { signal: plain.signal });
  const b = db.enqueue([put("before-2", "x")], { signal: withReason.signal });
  b.catch(() => {}); // handled below, after a
  plain.abort();
  withReason.abort("changed my mind");
  const e1 = await rejects(() => a, isAbortError);
  assert.is(e1, plain.signal.reason, "an AbortError reason is the rejection itself");
  const e2 = await rejects(() => b, isAbortError);
  assert.is((e2 as Error & { cause?: unknown }).cause, "changed my mind");
  // After: the signal aborts once the request started (microtasks only: it is being written).
  const during = new AbortController();
  const c = db.enqueue([put("after", "written")], { signal: during.signal });
  for (let i = 0; i < 1000 && queueStats(db).executed < 1; i++) await Promise.resolve();
  assert.is(queueStats(db).executed, 1, "started");
  during.abort();
  assert.ok((await c) > 0n, "a started request resolves with its timestamp");
  assert.ok(during.signal.aborted);
  // During the sync: wait (microtasks only, so no durability wake-up can run) until it started.
  const syncing = new AbortController();
  const d = db.enqueue([put("during-sync", "written")], { signal: syncing.signal });
  for (let i = 0; i < 1000 && queueStats(db).executed < 2; i++) await Promise.resolve();
  assert.is(queueStats(db).executed, 2, "started");
  syncing.abort();
  assert.ok((await d) > 0n, "an abort during the sync does not pretend the write was cancelled");
  assert.is(text(db.get("during-sync")), "written");
  await db.flush();
  assert.is(db.get("before-1"), undefined);
  assert.is(db.get("before-2"), undefined);
  assert.is(text(db.get("after")), "written");
  const s = queueStats(db);
  assert.is(s.canceled, 2);
  assert.is(s.committed, 2);
  checkIdentities(s);
  await db.close();
});

test("a signal already aborted rejects at once and writes nothing", async () => {
  const db = await open(tempDir());
  const controller = new AbortController();
  controller.abort();
  const p = db.enqueue([put("never", "x")], { signal: controller.signal });
  p.catch(() => {}); // handled below
  assert.is(queueStats(db).rejected, 1, "refused synchronously");
  await rejects(() => p, isAbortError);
  await rejects(() => db.enqueue([put("never", "x")], { signal: AbortSignal.abort(new Error("why")) }), isAbortError);
  await db.flush();
  assert.is(db.get("never"), undefined);
  const s = queueStats(db);
  assert.is(s.admitted, 0);
  assert.is(s.rejected, 2);
  assert.is(s.canceled, 0);
  await db.close();
});

test("close drains what was admitted; later enqueues reject with QueueClosedError", async () => {
  const dir = tempDir();
  const db = await open(dir, { writeQueue: { maxBatch: 4, maxGroupDelayUs: 1_000_000 } });
  const admitted = Array.from({ length: 10 }, (_, i) => db.enqueue([put(`k${i}`, `v${i}`)]));
  const settled = Promise.allSettled(admitted);
  const closing = db.close();
  const e = await rejects(() => db.enqueue([put("late", "x")]), QueueClosedError);
  assert.is((e as ShardlineError).code, "SHARDLINE_QUEUE_CLOSED");
  const outcomes = await settled;
  assert.ok(outcomes.every((o) => o.status === "fulfilled" && o.value > 0n), "every request admitted before close ran and resolved");
  await closing;
  await rejects(() => db.enqueue([put("later", "x")]), QueueClosedError);
  const again = await open(dir);
  for (let i = 0; i < 10; i++) assert.is(text(again.get(`k${i}`)), `v${i}`);
  assert.is(again.get("late"), undefined);
  await again.close();
});

test("ready requests share syncs: 500 requests, maxBatch 64, few physical syncs", async () => {
  const db = await open(tempDir(), { shards: 4, writeQueue: { maxBatch: 64 } });
  const syncsBefore = db.stats().wal.syncs;
  const ts = await Promise.all(Array.from({ length: 500 }, (_, i) => db.enqueue([put(`k${i}`, `v${i}`)])));
  assert.is(ts.length, 500);
  const s = db.stats();
  const q = s.writeQueue;
  assert.is(q.executed, 500);
  assert.is(q.committed, 500);
  assert.ok(q.groupedBatches >= 8, `groups of at most 64 (${q.groupedBatches})`);
  assert.ok(q.physicalSyncs >= q.groupedBatches, "every group that wrote waited for at least one sync");
  assert.ok(q.physicalSyncs < q.executed, `fewer syncs (${q.physicalSyncs}) than requests`);
  assert.ok(q.physicalSyncs <= s.wal.syncs - syncsBefore, "counted syncs are real syncs of the group WAL");
  assert.is(q.syncsSaved, q.committed - q.physicalSyncs);
  checkIdentities(q);
  for (let i = 0; i < 500; i += 37) assert.is(text(db.get(`k${i}`)), `v${i}`);
  await db.close();
});

test("maxGroupDelayUs gathers requests from later ticks into one group; maxBatch ready starts it at once", async () => {
  const db = await open(tempDir(), { writeQueue: { maxBatch: 8, maxGroupDelayUs: 1_000_000 } });
  const pending: Promise<bigint>[] = [];
  for (let i = 0; i < 8; i++) {
    pending.push(db.enqueue([put(`k${i}`, "v")]));
    await new Promise((r) => setTimeout(r, 0));
  }
  await Promise.all(pending);
  const s = queueStats(db);
  assert.is(s.groupedBatches, 1, "one group of eight");
  assert.is(s.committed, 8);
  await db.close();
});

test("a request with bad input fails alone with its own error; the rest of its group commits", async () => {
  const db = await open(tempDir(), { writeQueue: { maxBatch: 64 } });
  const results = await Promise.allSettled([
    db.enqueue([put("good-1", "1")]),
    db.enqueue([{ type: "put", key: "bad-1", value: 42 as unknown as string }]),
    db.enqueue([put("good-2", "2")]),
    db.enqueue([put("x".repeat(5000), "too long a key")]),
    db.enqueue("not an array" as never),
    db.enqueue([{ type: "frob", key: "bad-3" } as never]),
    db.enqueue([put("good-3", "3")]),
  ]);
  const [g1, b1, g2, b2, b3, b4, g3] = results;
  for (const r of [g1, g2, g3]) assert.is(r.status, "fulfilled");
  assert.ok(b1.status === "rejected" && b1.reason instanceof TypeError);
  assert.ok(b2.status === "rejected" && b2.reason instanceof RangeError && /KEY_BYTES_MAX/.test(b2.reason.message));
  assert.ok(b3.status === "rejected" && b3.reason instanceof TypeError);
  assert.ok(b4.status === "rejected" && b4.reason instanceof TypeError);
  assert.is(text(db.get("good-1")), "1");
  assert.is(text(db.get("good-2")), "2");
  assert.is(text(db.get("good-3")), "3");
  assert.is(db.get("bad-1"), undefined);
  const s = queueStats(db);
  assert.is(s.groupedBatches, 1, "all in one group");
  assert.is(s.executed, 7);
  assert.is(s.committed, 3);
  assert.is(s.failed, 4);
  checkIdentities(s);
  await db.close();
});

test("counters are exact over a mix of outcomes", async () => {
  // Each group's fdatasync takes 10 ms: the third request times out behind the first group.
  const db = await open(tempDir(), { writeQueue: { capacity: 6, maxBatch: 2 }, faults: { groupLog: { syncDelayMs: 10 } } });
  const controller = new AbortController();
  const outcomes = [
    db.enqueue([put("hold", "h")]), // group 1 (with the next)
    db.enqueue([put("ok-1", "1")]),
    db.enqueue([put("timeout", "x")], { timeoutMs: 1 }), // times out behind the held group
    db.enqueue([put("cancel", "x")], { signal: controller.signal }),
    db.enqueue([{ type: "put", key: "bad", value: null as never }]),
    db.enqueue([put("ok-2", "2")]),
    db.enqueue([put("full", "x")]), // capacity 6: rejected
  ].map((p) => p.then(() => "ok", (e: Error) => e.name));
  controller.abort();
  assert.is(queueStats(db).depth, 5);
  assert.equal(await Promise.all(outcomes), ["ok", "ok", "TimeoutError", "AbortError", "TypeError", "ok", "QueueFullError"]);
  const s = queueStats(db);
  assert.equal(
    { ...s, physicalSyncs: 0, syncsSaved: 0 },
    { depth: 0, admitted: 6, rejected: 1, timedOut: 1, canceled: 1, executed: 4, committed: 3, failed: 1, groupedBatches: 2, physicalSyncs: 0, syncsSaved: 0 },
  );
  checkIdentities(s);
  await db.close();
});

test("an operation whose getter throws while enqueue copies it: refused at once with that error, counted in rejected", async () => {
  const db = await open(tempDir());
  const boom = new Error("boom");
  const bad = { type: "put", value: "v", get key(): string { throw boom; } };
  const e = await rejects(() => db.enqueue([put("ok", "1"), bad as never]));
  assert.is(e, boom, "the getter's own error");
  const s = queueStats(db);
  assert.is(s.rejected, 1, "counted as refused at once");
  assert.is(s.admitted, 0);
  checkIdentities(s);
  assert.is(db.get("ok"), undefined, "nothing of the request written");
  await db.close();
});

test("writeQueue options are validated, naming the option", async () => {
  const bad: Array<[unknown, new (...args: never[]) => Error, RegExp]> = [
    [5, TypeError, /writeQueue must be an object/],
    [{ capacity: 0 }, RangeError, /writeQueue\.capacity/],
    [{ capacity: 1_000_001 }, RangeError, /writeQueue\.capacity/],
    [{ capacity: "8" }, TypeError, /writeQueue\.capacity/],
    [{ capacity: 8, maxBatch: 9 }, RangeError, /writeQueue\.maxBatch/],
    [{ maxBatch: 0 }, RangeError, /writeQueue\.maxBatch/],
    [{ maxGroupDelayUs: 1_000_001 }, RangeError, /writeQueue\.maxGroupDelayUs/],
    [{ timeoutMs: -1 }, RangeError, /writeQueue\.timeoutMs/],
    [{ timeoutMs: 1.5 }, RangeError, /writeQueue\.timeoutMs/],
  ];
  for (const [writeQueue, Class, message] of bad) {
    await rejects(() => open(tempDir(), { writeQueue: writeQueue as never }), (e) => e instanceof Class && message.test(e.message), JSON.stringify(writeQueue));
  }
  const db = await open(tempDir(), { writeQueue: { capacity: 8 } });
  assert.equal(db.share().writeQueue, { capacity: 8, maxBatch: 8, maxGroupDelayUs: 0, timeoutMs: 0 });
  await rejects(() => db.enqueue([put("k", "v")], { timeoutMs: "1" as never }), TypeError);
  await rejects(() => db.enqueue([put("k", "v")], { timeoutMs: -1 }), RangeError);
  await rejects(() => db.enqueue([put("k", "v")], { signal: {} as never }), TypeError);
  await rejects(() => db.enqueue([put("k", "v")], 7 as never), TypeError);
  assert.is(queueStats(db).rejected, 4);
  assert.is(queueStats(db).admitted, 0);
  await db.close();
});

test("an attached handle in a worker has its own queue with the opener's writeQueue options", async () => {
  const db = await open(tempDir(), { writeQueue: { capacity: 8, maxBatch: 4 } });
  const handle = db.share();
  const result = (await runModuleInWorker(platform, {
    module: handle.module,
    memory: handle.memory,
    url: new URL("./fixtures/queue-writer.ts", import.meta.url).href,
    exportName: "enqueueFromWorker",
    data: { handle, count: 20 },
  })) as { committed: number; rejected: string[]; stats: WriteQueueStats; config: unknown };
  assert.equal(result.config, { capacity: 8, maxBatch: 4, maxGroupDelayUs: 0, timeoutMs: 0 });
  assert.is(result.committed, 8);
  assert.equal(result.rejected, Array(12).fill("SHARDLINE_QUEUE_FULL"));
  assert.is(result.stats.groupedBatches, 2);
  assert.is(result.stats.committed, 8);
  for (let i = 0; i < 8; i++) assert.is(text(db.get(`q${i}`)), `worker-${i}`);
  assert.is(db.get("q8"), undefined);
  assert.is(queueStats(db).admitted, 0, "the opener's queue is its own");
  await db.close();
});

test("a failed sync fails the group's requests with WalFailedError; later enqueues reject at once", async () => {
  const dir = tempDir();
  const db = await open(dir, { faults: { groupLog: { failSyncAt: 6 } } });
  const acked: number[] = [];
  let failure: unknown;
  for (let i = 0; i < 50 && failure === undefined; i++) {
    // Groups of three: the failing sync hits a whole group.
    const outcomes = await Promise.allSettled([0, 1, 2].map((j) => db.enqueue([put(`k${i}-${j}`, `v${i}`)])));
    outcomes.forEach((o, j) => (o.status === "fulfilled" ? acked.push(i * 3 + j) : (failure ??= o.reason)));
  }
  assert.ok(failure instanceof WalFailedError, String(failure));
  const rejectedBefore = queueStats(db).rejected;
  const later = db.enqueue([put("later", "x")]);
  later.catch(() => {});
  assert.is(queueStats(db).rejected, rejectedBefore + 1, "refused at once");
  await rejects(() => later, WalFailedError);
  const s = queueStats(db);
  assert.ok(s.failed >= 1);
  checkIdentities(s);
  await db.close();
  const again = await open(dir);
  for (const n of acked) assert.is(text(again.get(`k${Math.floor(n / 3)}-${n % 3}`)), `v${Math.floor(n / 3)}`);
  assert.is(again.get("later"), undefined);
  await again.close();
});

test("model check: after reopen, every resolved request's writes are there, and nothing of the others", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 3, writeQueue: { capacity: 4096, maxBatch: 32 } });
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  type Req = { ops: Array<{ type: "put"; key: string; value: string } | { type: "delete"; key: string }>; outcome?: "ok" | "error" };
  const requests: Req[] = [];
  const promises: Promise<void>[] = [];
  for (let round = 0; round < 6; round++) {
    const controllers: AbortController[] = [];
    for (let i = 0; i < 150; i++) {
      const ops: Req["ops"] = [];
      const count = 1 + rand(4);
      for (let j = 0; j < count; j++) {
        const key = `m${rand(60)}`;
        ops.push(rand(5) === 0 ? { type: "delete", key } : { type: "put", key, value: `r${round}-${i}-${j}` });
      }
      const request: Req = { ops };
      const controller = new AbortController();
      controllers.push(controller);
      requests.push(request);
      const badInput = rand(20) === 0;
      const submitted = badInput ? db.enqueue([...ops, { type: "put", key: "bad", value: 1 as never }]) : db.enqueue(ops, { signal: controller.signal });
      promises.push(submitted.then(() => void (request.outcome = "ok"), () => void (request.outcome = "error")));
    }
    // Cancel some that have not started yet.
    for (const c of controllers) if (rand(6) === 0) c.abort();
    await new Promise((r) => setTimeout(r, rand(3)));
  }
  await Promise.all(promises);
  const model = new Map<string, string | undefined>();
  for (const r of requests) {
    if (r.outcome !== "ok") continue;
    for (const op of r.ops) model.set(op.key, op.type === "put" ? op.value : undefined);
  }
  const s = queueStats(db);
  assert.is(s.committed, requests.filter((r) => r.outcome === "ok").length);
  assert.ok(s.canceled > 0 && s.failed > 0, "the mix had cancelled and failed requests");
  checkIdentities(s);
  await db.close();
  const again = await open(dir);
  for (let k = 0; k < 60; k++) assert.is(text(again.get(`m${k}`)), model.get(`m${k}`), `m${k}`);
  assert.is(again.get("bad"), undefined);
  await again.close();
});

test.after(cleanup);
test("maxGroupDelayUs: requests that already waited it behind a running group start when that group ends, without a second delay", async () => {
  // A fake sink (WriteQueueSink) holds the first group's durability wait until the request
  // that arrived meanwhile has waited longer than maxGroupDelayUs; then releases it.
  const DELAY_MS = 200;
  const started: string[] = [];
  let holdFirst: (() => void) | undefined;
  let waits = 0;
  const sink: WriteQueueSink<string> = {
    parse: (ops) => ops as string,
    apply: (name) => (started.push(name), { ts: BigInt(started.length), durableAt: 8 * started.length }),
    waitDurable: () => (waits++ === 0 ? new Promise<void>((resolve) => (holdFirst = resolve)) : Promise.resolve()),
    durableLsn: () => 0,
    syncs: () => 0,
    refusal: () => undefined,
    requestOpsMax: 1000,
    requestBytesMax: 1 << 20,
    tooManyOps: () => new RangeError("too many operations"),
    tooManyBytes: () => new RangeError("too many bytes"),
  };
  const queue = new WriteQueue({ capacity: 16, maxBatch: 16, maxGroupDelayUs: DELAY_MS * 1000, timeoutMs: 0 }, sink, "fake");
  const a = queue.enqueue("A");
  await eventually(() => holdFirst !== undefined, "the first group to start", 5000);
  const b = queue.enqueue("B"); // arrives while the first group waits for its durability
  await new Promise((r) => setTimeout(r, DELAY_MS * 1.5)); // B has now waited longer than maxGroupDelayUs
  holdFirst!();
  await a;
  await new Promise((r) => setTimeout(r, DELAY_MS / 2));
  const startedInTime = started.includes("B");
  await b;
  await queue.close();
  assert.ok(
    startedInTime,
    `B had waited ${DELAY_MS * 1.5} ms (maxGroupDelayUs ${DELAY_MS} ms) when the running group ended, yet had not started ${DELAY_MS / 2} ms later: the next group waited a fresh maxGroupDelayUs`,
  );
});

// The header: "close() resolves once nothing is queued or running". When every waiting
// request left (cancelled or timed out) while the queue waited out maxGroupDelayUs, the
// queue stayed "delaying" with nothing waiting, and close() waited for the delay's timer
// to run an empty group (review of the queue, 2026-12-07).
test("close() after the only waiting request was cancelled, or timed out, during maxGroupDelayUs resolves at once, not after the delay", async () => {
  const sink: WriteQueueSink<unknown> = {
    parse: (ops) => ops,
    apply: () => ({ ts: 1n, durableAt: 8 }),
    waitDurable: () => Promise.resolve(),
    durableLsn: () => 8,
    syncs: () => 0,
    refusal: () => undefined,
    requestOpsMax: 1000,
    requestBytesMax: 1 << 20,
    tooManyOps: () => new RangeError("too many operations"),
    tooManyBytes: () => new RangeError("too many bytes"),
  };
  for (const leave of ["cancelled", "timed out"]) {
    const queue = new WriteQueue({ capacity: 8, maxBatch: 8, maxGroupDelayUs: 1_000_000, timeoutMs: 0 }, sink, "fake");
    const controller = new AbortController();
    const request = queue.enqueue([put("k", "v")], leave === "cancelled" ? { signal: controller.signal } : { timeoutMs: 20 });
    controller.abort();
    await request.then(() => assert.unreachable(leave), () => {});
    assert.is(queue.stats().depth, 0, "nothing waits");
    let closed = false;
    const closing = queue.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 100)); // a tenth of the delay
    const closedInTime = closed;
    await closing;
    assert.ok(closedInTime, `${leave}: close() waited for the maxGroupDelayUs timer of a group with no request left`);
  }
});

test("the same through db.close(): a cancelled request does not keep the database's close waiting for maxGroupDelayUs", async () => {
  const db = await open(tempDir(), { writeQueue: { maxGroupDelayUs: 1_000_000 } });
  const controller = new AbortController();
  const request = db.enqueue([put("k", "v")], { signal: controller.signal });
  controller.abort();
  await request.then(() => assert.unreachable("cancelled"), () => {});
  let closed = false;
  const closing = db.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 600)); // a close with nothing queued takes well under this
  const closedInTime = closed;
  await closing;
  assert.ok(closedInTime, "db.close() waited out maxGroupDelayUs for a queue with nothing in it");
});

// enqueue() checked closed, the signal, the database's state and the capacity, and only then
// copied the caller's operations (ownOperations), which runs caller code (getters, Proxies):
// what that code did meanwhile went unseen. Now every read of the caller's objects comes
// first (review of the write queue, 2026-12-07; each of these failed before).
test("a signal aborted while enqueue copies the operations: the request is cancelled (AbortError), nothing written", async () => {
  const db = await open(tempDir());
  try {
    const controller = new AbortController();
    const op = { type: "put", key: "aborted-during-copy", get value(): string { controller.abort(); return "v"; } };
    const outcome = await db.enqueue([op as never], { signal: controller.signal }).then(() => "resolved", (e: Error) => e?.name);
    assert.is(outcome, "AbortError", "the signal aborted before the request started");
    assert.is(db.get("aborted-during-copy"), undefined, "a cancelled request wrote nothing");
  } finally {
    await db.close();
  }
});

test("capacity holds when an operation's getter enqueues while enqueue copies: depth never exceeds capacity", async () => {
  const db = await open(tempDir(), { writeQueue: { capacity: 1, maxBatch: 1 } });
  try {
    let inner: Promise<unknown> | undefined;
    const op = { type: "put", key: "outer", get value(): string { inner ??= db.enqueue([put("inner", "v")]).catch((e) => e); return "v"; } };
    const outer = db.enqueue([op as never]).catch((e) => e);
    const depth = db.stats().writeQueue.depth;
    await Promise.all([outer, inner]);
    assert.ok(depth <= 1, `depth ${depth} with capacity 1`);
  } finally {
    await db.close();
  }
});

test("close() called while enqueue copies the operations: the request is refused with QueueClosedError, not admitted after the drain", async () => {
  const db = await open(tempDir());
  let closing: Promise<void> | undefined;
  const op = { type: "put", key: "during-close", get value(): string { closing ??= db.close(); return "v"; } };
  const outcome = await db.enqueue([op as never]).then(() => "resolved", (e: Error) => e?.name);
  await closing;
  assert.is(outcome, "QueueClosedError", "enqueue after close() was called");
});

// A byte bound at admission: `capacity` counts requests, and a request was copied in full
// when admitted, whatever its size, though one over the per-request limit (1,000 operations,
// ~1 MiB) can never be written: the queue could hold capacity x any size (1,024 x 64 MiB).
test("queued bytes are bounded: requests over the per-request byte limit are not admitted and held while the queue is busy", async () => {
  const db = await open(tempDir(), { writeQueue: { capacity: 64, maxBatch: 1 }, faults: { groupLog: { syncDelayMs: 50 } } });
  try {
    const first = db.enqueue([put("first", "v")]); // holds the queue for one slow sync
    const huge = new Uint8Array(8 * 1024 * 1024); // 8x the most an enqueue request may hold
    const outcomes = Array.from({ length: 4 }, (_, i) => db.enqueue([{ type: "put", key: `huge${i}`, value: huge }]).then(() => "resolved", (e: Error) => e?.name));
    const depth = db.stats().writeQueue.depth; // "first" counts too: it starts at the end of this run of code
    await first;
    const names = await Promise.all(outcomes);
    assert.equal(names, ["RangeError", "RangeError", "RangeError", "RangeError"], "each refused at once, as over the per-request limit");
    assert.ok(depth <= 1, `${depth - 1} requests of 8 MiB each (${(depth - 1) * 8} MiB of copies) admitted and held behind "first", none of which can ever be written`);
  } finally {
    await db.close();
  }
});

test.run();
