// Large atomic batches (docs/ENGINE.md, "Large atomic batches"): up to BATCH_OPS_MAX
// operations and BATCH_BYTES_MAX bytes, logged as fragment records and one commit record,
// inserted by the actor into private memtables under the held commit record. Readers see
// none or all of a batch, replay applies all or none of it, change feeds deliver it once,
// and SIGKILL at any moment leaves all or none of the batch in flight.
//
// SHARDLINE_LARGE_BATCH_KILL_ROUNDS sets the SIGKILL rounds (default 4).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { linesUntilExit, spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import type { Database } from "../../src/engine/database.ts";
import { BATCH_BYTES_MAX, BATCH_OPS_MAX, SMALL_BATCH_BYTES_MAX, SMALL_BATCH_OPS_MAX } from "../../src/engine/options.ts";
import { LARGE_BATCH_OPTIONS, LARGE_BATCH_PUTS, largeKey, largeValue } from "./fixtures/large-batch-shape.ts";
import { cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine large batches");
const KILL_ROUNDS = Number(process.env.SHARDLINE_LARGE_BATCH_KILL_ROUNDS ?? 4);
const fixture = new URL("./fixtures/large-batch-writer.ts", import.meta.url).pathname;
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));
const pad = (i: number) => String(i).padStart(6, "0");

test.after.each(cleanup);

function countKeys(db: Database, prefix: string): number {
  let n = 0;
  for (const [key] of db.scan({ prefix })) {
    void key;
    n++;
  }
  return n;
}

test("a batch of 100,000 puts: readers see none or all of it while the actor commits it, all of it after, and after reopen", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 4, durability: "async" });
  const n = 100_000;
  const ops = Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `k${pad(i)}`, value: `v${i}` }));
  let done = false;
  const written = db.batch(ops).then((ts) => {
    done = true;
    return ts;
  });
  const probes = [0, 1, 4_999, 50_000, 77_777, n - 1].map((i) => ops[i].key);
  let polls = 0;
  let torn = 0;
  while (!done) {
    // One snapshot per poll: separate gets each read their own visible point, and the
    // batch becoming visible between two of them is not a tear.
    const snapshot = db.snapshot();
    const seen = probes.map((k) => db.get(k, { snapshot }) !== undefined);
    snapshot.release();
    if (seen.some(Boolean) && !seen.every(Boolean)) torn++;
    // Without a snapshot, once a get sees the batch every later one must too.
    const live = probes.map((k) => db.get(k) !== undefined);
    if (live.indexOf(true) >= 0 && live.indexOf(false, live.indexOf(true)) >= 0) torn++;
    polls++;
    await tick();
  }
  const ts = await written;
  assert.is(torn, 0, `a reader saw part of the batch (${torn} of ${polls} polls)`);
  assert.ok(ts > 0n);
  assert.is(countKeys(db, "k"), n);
  assert.is(text(db.get(`k${pad(n - 1)}`)), `v${n - 1}`);
  await db.close();
  const again = await open(dir, { shards: 4 });
  assert.is(countKeys(again, "k"), n, "every operation after reopen");
  assert.is(text(again.get(`k${pad(12_345)}`)), "v12345");
  await again.close();
});

test("a batch of 64 MiB of keys and values (64 values of nearly 1 MiB) is written whole and survives reopen", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 2 });
  const valueBytes = Math.floor(BATCH_BYTES_MAX / 64) - 64;
  const ops = Array.from({ length: 64 }, (_, i) => ({ type: "put" as const, key: `big${pad(i)}`, value: new Uint8Array(valueBytes).fill(i + 1) }));
  await db.batch(ops);
  const check = (d: Database, when: string) => {
    for (let i = 0; i < 64; i++) {
      const value = d.get(`big${pad(i)}`);
      assert.ok(value && value.length === valueBytes && value[0] === i + 1 && value[valueBytes - 1] === i + 1, `${when}: value ${i}`);
    }
  };
  check(db, "after the batch");
  await db.close();
  const again = await open(dir, { shards: 2 });
  check(again, "after reopen");
  await again.close();
});

test("a large batch with deletes and a key written twice, small memtables (flushes in the batch and in replay): the last operation on a key wins", async () => {
  const dir = tempDir();
  const options = { shards: 2, memtableBytesMax: 64 * 1024, durability: "full" } as const;
  const db = await open(dir, options);
  for (let i = 0; i < 2_000; i++) await db.put(`old${pad(i)}`, "old");
  const ops: Array<{ type: "put" | "delete"; key: string; value?: string }> = [];
  for (let i = 0; i < 2_000; i += 2) ops.push({ type: "delete", key: `old${pad(i)}` });
  for (let i = 0; i < 20_000; i++) ops.push({ type: "put", key: `new${pad(i)}`, value: "x".repeat(200) });
  ops.push({ type: "put", key: "twice", value: "first" });
  ops.push({ type: "put", key: "twice", value: "second" });
  ops.push({ type: "delete", key: `new${pad(7)}` });
  await db.batch(ops as Parameters<Database["batch"]>[0]);
  const check = (d: Database, when: string) => {
    assert.is(countKeys(d, "old"), 1_000, `${when}: half of the old keys deleted`);
    assert.is(text(d.get(`old${pad(2)}`)), undefined, `${when}: a deleted key`);
    assert.is(text(d.get(`old${pad(3)}`)), "old", `${when}: a kept key`);
    assert.is(countKeys(d, "new"), 19_999, `${when}: the batch's puts but the one it deleted`);
    assert.is(text(d.get("twice")), "second", `${when}: the later of two puts of one key`);
  };
  check(db, "after the batch");
  await db.close();
  const again = await open(dir, options);
  check(again, "after reopen");
  for (let i = 0; i < 3_000; i++) await again.put(`after${pad(i)}`, "y".repeat(100));
  await again.flush();
  check(again, "after later writes and flushes");
  await again.close();
  const third = await open(dir, options);
  check(third, "after a second reopen");
  await third.close();
});

test("a change feed delivers every operation of a large batch once, in commit-timestamp order per shard, among small writes", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 2, durability: "async" });
  const feed = db.subscribe();
  const n = 20_000;
  const ops = Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `f${pad(i)}`, value: "z".repeat(300) }));
  const small = (async () => {
    for (let i = 0; i < 200; i++) await db.put(`s${pad(i)}`, "small");
  })();
  await db.batch(ops);
  await small;
  const seen = new Set<string>();
  const lastTs = [0n, 0n];
  let events = 0;
  for await (const event of feed) {
    assert.ok(event.commitTs > lastTs[event.shard], `shard ${event.shard}: ${event.commitTs} after ${lastTs[event.shard]}`);
    lastTs[event.shard] = event.commitTs;
    const key = new TextDecoder().decode(event.key);
    assert.not.ok(seen.has(key), `${key} delivered twice`);
    seen.add(key);
    if (++events === n + 200) break;
  }
  assert.is(seen.size, n + 200);
  await db.close();
});

test("a subscription started while a large batch is being committed gets all of the batch or none of it", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 2, durability: "async" });
  const n = 30_000;
  const ops = Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `m${pad(i)}`, value: "m".repeat(300) }));
  const written = db.batch(ops);
  await new Promise((resolve) => setTimeout(resolve, 5));
  const feed = db.subscribe();
  await written;
  await db.put("end", "marker");
  let batchEvents = 0;
  for await (const event of feed) {
    if (new TextDecoder().decode(event.key) === "end") break;
    batchEvents++;
  }
  assert.ok(batchEvents === 0 || batchEvents === n, `the subscription got ${batchEvents} of the batch's ${n} operations`);
  await db.close();
});

test("batch limits: BATCH_OPS_MAX and BATCH_BYTES_MAX for batch(), the small limits for enqueue()", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, writeQueue: { capacity: 4 } });
  const tooMany = Array.from({ length: BATCH_OPS_MAX + 1 }, () => ({ type: "delete" as const, key: "k" }));
  await db.batch(tooMany).then(() => assert.unreachable("too many operations"), (e) => assert.ok(e instanceof RangeError && /BATCH_OPS_MAX/.test(e.message), String(e)));
  const value = new Uint8Array(1024 * 1024 - 1024);
  const tooBig = Array.from({ length: Math.ceil(BATCH_BYTES_MAX / value.length) + 1 }, (_, i) => ({ type: "put" as const, key: `k${i}`, value }));
  await db.batch(tooBig).then(() => assert.unreachable("too many bytes"), (e) => assert.ok(e instanceof RangeError && /BATCH_BYTES_MAX/.test(e.message), String(e)));
  const notSmall = Array.from({ length: SMALL_BATCH_OPS_MAX + 1 }, (_, i) => ({ type: "put" as const, key: `q${i}`, value: "v" }));
  await db.enqueue(notSmall).then(() => assert.unreachable("enqueue of a large batch"), (e) => assert.ok(e instanceof RangeError && /limit is 1000 \(per enqueue request; batch\(\) takes more\)/.test(e.message), String(e)));
  // The enqueue limits are named by what a user can act on, not by constants the package does not export.
  const half = new Uint8Array(SMALL_BATCH_BYTES_MAX / 2);
  const notSmallBytes = [0, 1].map((i) => ({ type: "put" as const, key: `h${i}`, value: half }));
  await db.enqueue(notSmallBytes).then(() => assert.unreachable("enqueue of a large batch's bytes"), (e) => assert.ok(e instanceof RangeError && e.message.includes(`per enqueue request: the smaller of ${SMALL_BATCH_BYTES_MAX} and twice memtableBytesMax; batch() takes more`) && !/SMALL_BATCH/.test(e.message), String(e)));
  await db.batch(notSmall);
  assert.is(text(db.get(`q${SMALL_BATCH_OPS_MAX}`)), "v");
  await db.close();
});

test(`SIGKILL while large batches are written, ${KILL_ROUNDS} rounds: exactly one batch's keys are there, at least the last acknowledged`, async () => {
  const dir = tempDir();
  let committed = -1;
  let killedMidBatch = 0;
  for (let round = 0; round < KILL_ROUNDS; round++) {
    const child = spawnChild(runtimeName(), fixture, [dir, String(committed + 1)]);
    await child.waitFor("ready");
    await new Promise((resolve) => setTimeout(resolve, 300 + Math.random() * 1500));
    child.kill("SIGKILL");
    let acked = committed;
    for await (const line of linesUntilExit(child)) {
      const m = /^ack (\d+)$/.exec(line);
      if (m) acked = Math.max(acked, Number(m[1]));
    }
    const { signal } = await child.waitExit();
    assert.is(signal, "SIGKILL", `round ${round}: ${child.stderr()}`);
    const db = await open(dir, LARGE_BATCH_OPTIONS);
    try {
      // Batch b's keys are all there or none; only one batch's are (each deletes the one before).
      const present: number[] = [];
      for (let b = Math.max(0, committed); b <= acked + 1; b++) {
        const count = countKeys(db, `b${b}-`);
        assert.ok(count === 0 || count === LARGE_BATCH_PUTS, `round ${round}: batch ${b} has ${count} of its ${LARGE_BATCH_PUTS} keys`);
        if (count > 0) present.push(b);
      }
      if (acked >= 0) {
        assert.is(present.length, 1, `round ${round}: batches present ${JSON.stringify(present)} (acknowledged up to ${acked})`);
        assert.ok(present[0] >= acked, `round ${round}: batch ${present[0]} there, but ${acked} was acknowledged`);
        if (present[0] > acked) killedMidBatch++;
        const b = present[0];
        assert.is(text(db.get(largeKey(b, LARGE_BATCH_PUTS - 1))), largeValue(b, LARGE_BATCH_PUTS - 1));
        committed = b;
      } else {
        assert.ok(present.length <= 1, `round ${round}: batches present ${JSON.stringify(present)}`);
        committed = present[0] ?? -1;
      }
    } finally {
      await db.close();
    }
  }
  console.log(`  [large batch kill] ${KILL_ROUNDS} rounds, last committed batch ${committed}, ${killedMidBatch} rounds committed a batch whose acknowledgement was lost`);
  assert.ok(committed >= 0, "some batch was committed");
});

test.run();
