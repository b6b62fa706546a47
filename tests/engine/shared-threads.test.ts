// Databases held open together share the pool's threads (src/worker-pool.ts, "Sharing"):
// a database opened while no pooled thread is idle runs its durability worker and its
// actor on threads that already run those roles for others, up to JOBS_PER_THREAD_MAX each.
// Whatever shares a thread, every database keeps each of its acknowledged writes and none
// of another's: writes on both paths (fastWrite off sends every write through the actor),
// both durability modes, 64 KiB memtables so that every actor flushes while the others
// commit, closes racing each other, then a reopen on threads of their own; and
// SIGKILL of a process whose databases share threads.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/database.ts";
import { openDatabase } from "../../src/engine/open.ts";
import type { DatabaseOptions } from "../../src/engine/options.ts";
import type { Platform } from "../../src/platform.ts";
import { JOBS_PER_THREAD_MAX, workerPool } from "../../src/worker-pool.ts";
import { cleanup, eventually, open, platform, rows, tempDir, text } from "./helpers.ts";
import { linesUntilExit, spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { KILL_DB_OPTIONS, KILL_KEYS } from "./fixtures/kill-shape.ts";
import { after, checkAcknowledged } from "./kill-check.ts";

const killFixture = new URL("./fixtures/shared-kill-writer.ts", import.meta.url).pathname;

const test = suite("engine shared threads");
test.after.each(cleanup);

const CONFIGS: DatabaseOptions[] = [
  { durability: "full" },
  { durability: "async", walBatchIntervalUs: 20_000 },
  { fastWrite: false },
  { durability: "full", fastWrite: false },
  {},
  { durability: "async", fastWrite: false, walBatchIntervalUs: 20_000 },
];
const WRITES = 2_400;
const KEYS = 900;
const IN_FLIGHT = 40;

/** Writes to database `i`: puts and deletes over KEYS keys, IN_FLIGHT at a time on distinct keys; returns the model. */
async function write(db: Database, i: number): Promise<Map<string, string>> {
  const model = new Map<string, string>();
  for (let n = 0; n < WRITES; n += IN_FLIGHT) {
    const acks: Promise<unknown>[] = [];
    for (let m = n; m < n + IN_FLIGHT; m++) {
      const key = `k${String((m * 7919) % KEYS).padStart(4, "0")}`;
      if (m % 5 === 4) {
        acks.push(db.delete(key));
        model.delete(key);
      } else {
        const value = `db${i}-${m}-${"v".repeat(m % 300)}`;
        acks.push(db.put(key, value));
        model.set(key, value);
      }
    }
    await Promise.all(acks);
  }
  return model;
}

function expected(model: Map<string, string>): string[] {
  return [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
}

test("six databases held open together run on four threads, and each keeps every acknowledged write and none of another's", async () => {
  const own: Platform = { ...platform }; // a pool of its own: no idle thread left by other tests
  const pool = workerPool(own);
  const dirs = CONFIGS.map(() => tempDir());
  const dbs: Database[] = [];
  for (const [i, config] of CONFIGS.entries()) {
    dbs.push(await openDatabase(own, dirs[i], { shards: 2, memtableBytesMax: 64 * 1024, ...config }));
  }
  const threadsMax = 2 * Math.ceil(CONFIGS.length / JOBS_PER_THREAD_MAX);
  assert.ok(pool.busyThreads <= threadsMax, `${pool.busyThreads} threads run ${CONFIGS.length} databases' jobs (at most ${threadsMax})`);
  assert.is(pool.idleThreads, 0);

  const models = await Promise.all(dbs.map((db, i) => write(db, i)));
  for (const [i, db] of dbs.entries()) {
    assert.ok(db.stats().flushes > 0, `database ${i} flushed memtables while sharing threads`);
    assert.equal(rows(db.scan()), expected(models[i]), `database ${i} before close`);
  }
  await Promise.all(dbs.map((db) => db.close()));
  assert.is(pool.busyThreads, 0, "every thread went back to the pool");

  for (const [i, dir] of dirs.entries()) {
    const again = await open(dir);
    assert.equal(rows(again.scan()), expected(models[i]), `database ${i} after reopen`);
    await again.close();
  }
});

test("a database opened beside an idle one takes the idle one's threads, and both keep working and syncing", async () => {
  const own: Platform = { ...platform };
  const pool = workerPool(own);
  const first = await openDatabase(own, tempDir(), { durability: "full" });
  await first.put("a", "1");
  await new Promise((resolve) => setTimeout(resolve, 50)); // its durability worker and actor asleep
  // "async": its durability worker gathers each batch for up to walBatchIntervalUs in a wait
  // that only its timeout ends (writers wake no worker that is not asleep), on a shared thread.
  const second = await openDatabase(own, tempDir(), { durability: "async", walBatchIntervalUs: 2_000, fastWrite: false });
  assert.is(pool.busyThreads, 2, "the second database's jobs went to the first one's two threads");
  await Promise.all([second.put("b", "2"), first.put("c", "3")]);
  await second.flush(); // resolves once the batch's timeout ended the gather and the worker synced
  assert.ok(second.stats().wal.durableLsn >= second.stats().wal.currentLsn, "the second database's writes are durable");
  await second.close();
  await first.put("d", "4"); // the first database's jobs run alone again
  assert.equal(rows(first.scan()), ["a=1", "c=3", "d=4"]);
  await first.close();
});

test("a database opened beside a busy one starts: the busy one's jobs, never idle, still take the new jobs in", async () => {
  const own: Platform = { ...platform };
  const busy = await openDatabase(own, tempDir(), { durability: "full", fastWrite: false, memtableBytesMax: 64 * 1024 });
  let stop = false;
  let acknowledged = 0;
  // Four loops of 64 writes in flight on the channel path, each batch awaiting its sync:
  // the actor and the durability worker always find the next requests waiting.
  const loops = Array.from({ length: 4 }, async (_, loop) => {
    for (let round = 0; !stop; round++) {
      await Promise.all(Array.from({ length: 64 }, (_, i) => busy.put(`l${loop}-${i}`, `r${round}`)));
      acknowledged += 64;
    }
  });
  await eventually(() => acknowledged >= 2_000, "the busy database is under load");
  const next = await openDatabase(own, tempDir(), { durability: "full" });
  await next.put("k", "v");
  stop = true;
  await Promise.all(loops);
  assert.is(text(next.get("k")), "v");
  await next.close();
  await busy.close();
});

test("SIGKILL of a process whose three databases share threads, 6 rounds: each keeps every acknowledged put", async () => {
  const dirs = [tempDir(), tempDir(), tempDir()];
  const lastAcked = dirs.map(() => new Map<number, [number, number]>());
  let acks = 0;
  for (let round = 0; round < 6; round++) {
    const child = spawnChild(runtimeName(), killFixture, [String(round), ...dirs]);
    const ready = await child.nextLine();
    if (ready !== "ready 2") child.kill("SIGKILL");
    assert.is(ready, "ready 2", "the three databases' six jobs run on two threads");
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 150));
    child.kill("SIGKILL");
    for await (const line of linesUntilExit(child)) {
      const m = /^ack (\d) (\d+)$/.exec(line);
      if (!m) continue;
      const [d, i] = [Number(m[1]), Number(m[2])];
      const seen = lastAcked[d].get(i % KILL_KEYS);
      if (!seen || after([round, i], seen)) lastAcked[d].set(i % KILL_KEYS, [round, i]);
      acks++;
    }
    assert.is((await child.waitExit()).signal, "SIGKILL", child.stderr());
    for (const [d, dir] of dirs.entries()) {
      const db = await open(dir, KILL_DB_OPTIONS);
      try {
        checkAcknowledged(db, `round ${round}, database ${d}`, lastAcked[d]);
      } finally {
        await db.close();
      }
    }
  }
  assert.ok(acks > 0, "puts were acknowledged before the kills");
});

test.run();
