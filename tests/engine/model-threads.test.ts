// Multi-threaded model test (issue 10): the opener and two attached workers run random
// put / delete / batch / un-awaited bursts / get / scan (bounds, reverse, limit) / snapshot
// reads at once, on both write paths, checked against a model of every acknowledged write.
//
// Exact despite the threads: each thread owns its keys (tests/engine/fixtures/model-thread.ts
// `chooseKeys`: per thread 9 keys on shard 0, 9 on shard 1, one on each of shards 2 and 3, so
// 90% of the traffic goes to two shards and two stay quiet) and checks them exactly after
// each of its operations; it checks other threads' keys against their programs, which it
// rebuilds from the seed (values name writer, key and sequence number; reads never go back;
// a whole-range read is a cut of the writer's program; a snapshot reads the same twice). The
// opener opens and closes change feeds (readers of the group WAL, putting each shard's
// operations back in timestamp order) and checks their events; the second option set has
// fastWrite off, the third durability "async".
// 64 KiB memtables (values up to their quarter, 16 KiB): flushes and compactions happen
// during the run. After each phase every thread hands its model to the opener, which closes,
// reopens and checks every key of every thread exactly; the workers attach again.
//
// Deterministic per thread from SHARDLINE_MODEL_SEED (the interleaving is not; the checks
// hold for any). SHARDLINE_MODEL_ROUNDS runs that many seeds (seed, seed+1, ...);
// SHARDLINE_MODEL_OPS and SHARDLINE_MODEL_PHASES scale a round. scripts/soak-model.sh soaks.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { Core } from "../../src/core/core.ts";
import { ReadContext } from "../../src/engine/read-context.ts";
import type { Database } from "../../src/engine/public.ts";
import { type DatabaseOptions, valueBytesMaxFor } from "../../src/engine/options.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { chooseKeys, describe, History, makeValue, type ModelConfig, runThread, type ThreadInput, type ThreadResult } from "./fixtures/model-thread.ts";
import { cleanup, dec, enc, open, platform, rows, tempDir } from "./helpers.ts";

const test = suite("engine model, three threads");

const SEED = Number(process.env.SHARDLINE_MODEL_SEED ?? 1010);
const ROUNDS = Number(process.env.SHARDLINE_MODEL_ROUNDS ?? 1);
const PHASES = Number(process.env.SHARDLINE_MODEL_PHASES ?? 3);
const OPS = Number(process.env.SHARDLINE_MODEL_OPS ?? 320);
const THREADS = 3;
const MEMTABLE = 64 * 1024;
const RUNTIME = process.env.SHARDLINE_TEST_RUNTIME ?? "node";
const FIXTURE = new URL("./fixtures/model-thread.ts", import.meta.url).href;

interface Totals {
  fast: number;
  channel: number;
  flushes: number;
  compactions: number;
  feedEvents: number;
  phaseMs: number[];
  threadMs: number[];
  ops: Record<string, number>;
  /** The least room left above the shared memory's heap top after a phase (its top only rises): how near full the heap came. */
  heapRoomBytesMin: number;
}

/** After a reopen: every key of every thread is exactly what its model says (and its model is its program's end state). */
function checkReopened(db: Database, cfg: ModelConfig, phase: number, results: ThreadResult[]): void {
  const expected: Array<[string, Uint8Array]> = [];
  for (const result of results) {
    const t = result.thread;
    const model = new Map(result.model.map(([k, seq, len]) => [k, { seq, len }]));
    const program = new History(cfg, t, phase).finalModel();
    assert.equal(
      [...model.entries()].sort((a, b) => a[0] - b[0]),
      [...program.entries()].map(([k, w]): [number, { seq: number; len: number | undefined }] => [k, { seq: w.seq, len: w.len }]).sort((a, b) => a[0] - b[0]),
      `thread ${t}'s model is the end state of its program`,
    );
    cfg.keys[t].forEach((key, k) => {
      const w = model.get(k);
      const want = w === undefined ? undefined : makeValue(t, k, w.seq, w.len);
      const got = db.get(key);
      if (describe(got) !== describe(want) || (got && want && !got.every((b, i) => b === want[i]))) {
        assert.unreachable(`after the reopen following phase ${phase}: ${key} (thread ${t}) = ${describe(got)}, its model says ${describe(want)}`);
      }
      if (want) expected.push([key, want]);
    });
  }
  expected.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const rows = [...db.scan()];
  assert.equal(rows.map(([k]) => dec.decode(k)), expected.map(([k]) => k), `after the reopen following phase ${phase}: the keys of a full scan`);
  rows.forEach(([, v], i) => assert.ok(v.length === expected[i][1].length && v.every((b, j) => b === expected[i][1][j]), `after the reopen following phase ${phase}: scan row ${expected[i][0]}`));
}

async function runModel(options: DatabaseOptions, seed: number, totals: Totals, feeds: boolean): Promise<void> {
  const dir = tempDir();
  let db = await open(dir, options);
  let open_ = true;
  try {
    const shared = db.share();
    const core = await Core.attach(shared.module, shared.memory);
    const keys = chooseKeys(THREADS, (key) => core.shardOf(enc.encode(key)));
    core.detach();
    const cfg: ModelConfig = { seed, threads: THREADS, opsPerPhase: OPS, valueBytesMax: valueBytesMaxFor(options.memtableBytesMax!), keys, feeds };
    let models: ThreadInput["model"][] = keys.map(() => []);
    for (let phase = 0; phase < PHASES; phase++) {
      const phaseStart = Date.now();
      const handle = db.share();
      const barrier = new SharedArrayBuffer(4);
      const input = (thread: number): ThreadInput => ({ cfg, thread, phase, model: models[thread], barrier });
      const runs: Array<Promise<ThreadResult>> = [];
      for (let t = 1; t < THREADS; t++) {
        runs.push(runModuleInWorker(platform, { module: handle.module, memory: handle.memory, url: FIXTURE, exportName: "modelThread", data: { handle, input: input(t) } }) as Promise<ThreadResult>);
      }
      runs.unshift(runThread(db, input(0)));
      const settled = await Promise.allSettled(runs);
      const probe = await Core.attach(handle.module, handle.memory);
      totals.heapRoomBytesMin = Math.min(totals.heapRoomBytesMin, (probe.exports.coreHeapLimit() >>> 0) - (probe.exports.coreHeapTop() >>> 0));
      probe.detach();
      const stats = db.stats();
      totals.flushes += stats.flushes;
      totals.compactions += stats.compactions;
      open_ = false;
      await db.close();
      // Every thread's failure: the first is often only a consequence (a thread waiting at
      // the start line for one that failed to attach).
      const failures = settled.flatMap((s, t) => (s.status === "rejected" ? [`thread ${t}: ${(s.reason as Error)?.message ?? s.reason}`] : []));
      if (failures.length > 0) throw new Error(failures.join("; "));
      const results = settled.map((s) => (s as PromiseFulfilledResult<ThreadResult>).value);
      for (const r of results) {
        totals.fast += r.paths.fast;
        totals.channel += r.paths.channel;
        totals.feedEvents += r.feedEvents;
        for (const [op, n] of Object.entries(r.counts)) totals.ops[op] = (totals.ops[op] ?? 0) + n;
      }
      models = results.map((r) => r.model);
      db = await open(dir, options);
      open_ = true;
      checkReopened(db, cfg, phase, results);
      totals.phaseMs.push(Date.now() - phaseStart);
      totals.threadMs.push(Math.max(...results.map((r) => r.ms)));
    }
  } finally {
    if (open_) await db.close();
  }
}

async function rounds(name: string, options: DatabaseOptions, feeds = true): Promise<Totals> {
  const totals: Totals = { fast: 0, channel: 0, flushes: 0, compactions: 0, feedEvents: 0, phaseMs: [], threadMs: [], ops: {}, heapRoomBytesMin: Infinity };
  const started = Date.now();
  for (let round = 0; round < ROUNDS; round++) {
    const seed = SEED + round;
    try {
      await runModel(options, seed, totals, feeds);
    } catch (error) {
      const replay = `SHARDLINE_MODEL_SEED=${seed} SHARDLINE_MODEL_OPS=${OPS} SHARDLINE_MODEL_PHASES=${PHASES} node scripts/test.mjs --runtime ${RUNTIME} tests/engine/model-threads`;
      const e = new Error(`model-threads FAILED: seed ${seed}, runtime ${RUNTIME}, ${name} (replay: ${replay}): ${(error as Error)?.message ?? error}`);
      e.stack = `${e.message}\n${(error as Error)?.stack ?? ""}`;
      console.log(e.message);
      throw e;
    }
  }
  console.log(`  model-threads ${RUNTIME} ${name}: seeds ${SEED}..${SEED + ROUNDS - 1}, ${((Date.now() - started) / 1000).toFixed(1)}s, ${JSON.stringify({ ...totals, ops: undefined })} ops ${JSON.stringify(totals.ops)}`);
  return totals;
}

const BASE: DatabaseOptions = { shards: 4, memtableBytesMax: MEMTABLE, durability: "full" };

test("three threads on the fast path, change feeds coming and going on the opener, reopens between phases", async () => {
  const totals = await rounds("fastWrite: true", BASE);
  if (OPS * PHASES >= 600) assert.ok(totals.fast > 0 && totals.channel > 0, `writes took both paths (fast ${totals.fast}, channel ${totals.channel})`);
  if (OPS * PHASES >= 600) assert.ok(totals.flushes >= 4 && totals.compactions >= 1, `flushes (${totals.flushes}) and compactions (${totals.compactions}) happened`);
  if (OPS * PHASES >= 600) assert.ok(totals.feedEvents > 0, `change feeds delivered events (${totals.feedEvents})`);
});

test("three threads with fastWrite: false (every write through the actor)", async () => {
  const totals = await rounds("fastWrite: false", { ...BASE, fastWrite: false });
  assert.is(totals.fast, 0, "no write took the fast path");
  assert.ok(totals.channel > 0);
  if (OPS * PHASES >= 600) assert.ok(totals.flushes >= 4 && totals.compactions >= 1, `flushes (${totals.flushes}) and compactions (${totals.compactions}) happened`);
});

// Under "async" a write resolves before it is durable and each thread's flush() asks the
// durability worker for a sync (Ring.FLUSH_REQUESTS) while the others write: reads, feeds and
// the reopen after each phase's clean close must still see every acknowledged write.
test("three threads under durability \"async\", flush() from every thread", async () => {
  const totals = await rounds("durability: async", { ...BASE, durability: "async" });
  assert.ok((totals.ops.flush ?? 0) > 0, `flushes were asked for (${JSON.stringify(totals.ops)})`);
  if (OPS * PHASES >= 600) assert.ok(totals.fast > 0 && totals.flushes >= 4, `fast-path writes (${totals.fast}) and memtable flushes (${totals.flushes}) happened`);
});

// The shared memory near full: 5 MiB beyond its memtables and rings instead of 512 MiB.
// Each thread's staging block takes 1.1 MiB of it (with 2 MiB, the workers could not
// attach), which leaves about 1.2 MiB of heap once both workers are attached (measured:
// coreHeapLimit - coreHeapTop), for which frozen memtables, value copies and scans compete
// while memtables freeze and flush. No write may be lost or fail, and no read may see a
// stale or torn view. Without change feeds: each holds a 1 MiB log read buffer from that
// headroom, and a feed refused for want of it (a RangeError saying so) is the documented
// limit, not a defect.
test("three threads on a shared memory near full (5 MiB of slack)", async () => {
  const totals = await rounds("memorySlackBytes: 5 MiB", { ...BASE, faults: { memorySlackBytes: 5 * 1024 * 1024 } }, false);
  if (OPS * PHASES >= 600) assert.ok(totals.flushes >= 4, `memtable flushes (${totals.flushes}) happened`);
  // That the memory was near full at all (a review found nothing showing it, 2026-12-07):
  // with 512 MiB of slack the heap keeps ~530 MB above its top, here ~1.5 MB.
  assert.ok(totals.heapRoomBytesMin < 2 * 1024 * 1024, `the heap's room above its top fell to ${totals.heapRoomBytesMin} bytes`);
});

// Found by the model above (seed 5005 under Bun: a foreign scan saw half of a batch). A scan
// without a snapshot reads every shard's memtable list, then pins the table version (opening
// files), then reads S (src/engine/scan.ts scanRows). A memtable the actor installs in between
// (a freeze) is in no list, yet the writes published into it before S is read have seq < S:
// the scan misses them, and of a batch over two shards it returns one half. Deterministic
// here: the pin waits while a worker fills shard 0 until the actor freezes it and then writes
// a batch over both shards on the fast path. Fixed by the check after S (read-context.ts
// pinRead, step 3b): a freeze in between starts the read again.
test("a scan sees all or nothing of a batch published while it pins its tables (a freeze in between)", async () => {
  const db = await open(tempDir(), { shards: 2, memtableBytesMax: MEMTABLE, durability: "async" });
  const handle = db.share();
  const core = await Core.attach(handle.module, handle.memory);
  const of = (prefix: string, shard: number, n: number) => {
    const out: string[] = [];
    for (let i = 0; out.length < n; i++) if (core.shardOf(enc.encode(prefix + i)) === shard) out.push(prefix + i);
    return out;
  };
  const [a] = of("a", 0, 1);
  const [b] = of("b", 1, 1);
  const fill = of("fill", 0, 16);
  core.detach();
  await db.put(a, "old");
  await db.put(b, "old");
  const sync = new SharedArrayBuffer(8);
  const line = new Int32Array(sync);
  const worker = runModuleInWorker(platform, {
    module: handle.module,
    memory: handle.memory,
    url: new URL("./fixtures/scan-freeze-race.ts", import.meta.url).href,
    exportName: "freezeThenBatch",
    data: { handle, sync, fill, a, b },
  });
  const pin = ReadContext.prototype.pin;
  let armed = true;
  ReadContext.prototype.pin = function (shards) {
    if (armed) {
      armed = false;
      Atomics.store(line, 0, 1);
      Atomics.notify(line, 0);
      const deadline = Date.now() + 60_000;
      while (Atomics.load(line, 1) === 0) {
        if (Date.now() > deadline) throw new Error("the worker never wrote its batch");
        Atomics.wait(line, 1, 0, 100);
      }
    }
    return pin.call(this, shards);
  };
  try {
    let scanned: string[];
    try {
      scanned = rows(db.scan()).filter((r) => r === `${a}=old` || r === `${a}=new` || r === `${b}=old` || r === `${b}=new`);
    } finally {
      ReadContext.prototype.pin = pin;
    }
    await worker;
    assert.ok(scanned.join() === `${a}=new,${b}=new` || scanned.join() === `${a}=old,${b}=old`, `the scan returned half of the batch: ${scanned.join(", ")}`);
  } finally {
    // A failure before the go (the scan throwing before its pin) must not leave the worker
    // waiting on a database never closed: stop it, then wait for it either way.
    Atomics.compareExchange(line, 0, 0, 2);
    Atomics.notify(line, 0);
    await worker.catch(() => {});
    await db.close();
  }
});

test.after(cleanup);
test.run();
