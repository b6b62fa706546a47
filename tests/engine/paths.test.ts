// The two write paths: the fast path (into the core from the calling thread) and the
// channel path (a message to the shard's actor), alone and interleaved on one shard, with
// commit timestamps strictly increasing per shard and one thread's writes applied in the
// order it made them, whichever path each took.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { cleanup, enc, open, tempDir, text } from "./helpers.ts";

const test = suite("engine paths");

test("fastWrite: false sends every write through the actor; nothing takes the fast path", async () => {
  const dir = tempDir();
  const db = await open(dir, { fastWrite: false, shards: 2 });
  const stamps: bigint[] = [];
  for (let i = 0; i < 50; i++) stamps.push(await db.put(`k${i}`, `v${i}`));
  await db.batch([{ type: "put", key: "b1", value: "1" }, { type: "delete", key: "k0" }]);
  await db.delete("k1");
  const stats = db.stats();
  assert.is(stats.paths.fast, 0);
  assert.is(stats.paths.channel, 53, "operations: 50 puts, a batch of 2, a delete");
  assert.equal(stats.paths.thisHandle, { fast: 0, channel: 53 });
  assert.is(db.get("k0"), undefined);
  assert.is(db.get("k1"), undefined);
  assert.is(text(db.get("k49")), "v49");
  assert.is(text(db.get("b1")), "1");
  await db.close();
  const again = await open(dir);
  assert.is(text(again.get("k49")), "v49", "channel writes are durable and recovered");
  assert.is(again.get("k0"), undefined);
  assert.is(text(again.get("b1")), "1");
  await again.close();
});

test("both paths interleaved on one shard: timestamps strictly increase, program order holds", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1 });
  // White box: toggle the shard's fast-path switch from this thread, between writes that
  // are all in flight at once, so the two paths really interleave on shard 0.
  const handle = db.share();
  const core = await Core.attach(handle.module, handle.memory);
  // Rounds of 7 writes in flight, alternating the path (while a channel write of this
  // thread is in flight its later writes to the shard follow it, so a round stays on one).
  const stamps: bigint[] = [];
  const expected = new Map<string, string>();
  for (let round = 0; round < 60; round++) {
    core.exports.shardSetFastWrite(0, round % 2);
    const pending: Array<Promise<bigint>> = [];
    for (let j = 0; j < 7; j++) {
      const i = round * 7 + j;
      const key = `k${i % 37}`;
      const value = `v${i}`;
      expected.set(key, value);
      pending.push(i % 11 === 5 ? db.batch([{ type: "put", key, value }]) : db.put(key, value));
    }
    stamps.push(...(await Promise.all(pending)));
  }
  core.exports.shardSetFastWrite(0, 1);
  core.detach();
  for (let i = 1; i < stamps.length; i++) {
    assert.ok(stamps[i] > stamps[i - 1], `write ${i} has timestamp ${stamps[i]} after ${stamps[i - 1]}`);
  }
  const paths = db.stats().paths;
  assert.ok(paths.fast > 0 && paths.channel > 0, `both paths taken: ${JSON.stringify(paths)}`);
  assert.is(paths.fast + paths.channel, 420);
  for (const [key, value] of expected) assert.is(text(db.get(key)), value, `last write to ${key} wins`);
  await db.close();
  const again = await open(dir);
  for (const [key, value] of expected) assert.is(text(again.get(key)), value, `${key} after reopen`);
  await again.close();
});

test("a full memtable sends writes to the actor, which freezes it; nothing is lost", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  const value = new Uint8Array(8 * 1024).fill(7);
  const pending: Array<Promise<bigint>> = [];
  // Issued without awaiting: the memtable fills long before the actor can freeze it.
  for (let i = 0; i < 200; i++) pending.push(db.put(`k${String(i).padStart(3, "0")}`, value));
  const stamps = await Promise.all(pending);
  for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] > stamps[i - 1]);
  const stats = db.stats();
  assert.ok(stats.paths.channel > 0, `some writes found the memtable full: ${JSON.stringify(stats.paths)}`);
  assert.ok(stats.paths.fast > 0);
  for (let i = 0; i < 200; i++) assert.equal(db.get(`k${String(i).padStart(3, "0")}`), value);
  await db.flush();
  await db.close();
  const again = await open(dir);
  let n = 0;
  for (const [k, v] of again.scan()) {
    assert.is(text(k), `k${String(n).padStart(3, "0")}`);
    assert.equal(v, value);
    n++;
  }
  assert.is(n, 200);
  await again.close();
});

test("durability full: a write resolves only once durable (durable LSN covers it), on both paths", async () => {
  const db = await open(tempDir(), { shards: 1 });
  await db.put("a", "1");
  let s = db.stats();
  assert.ok(s.wal.durableLsn >= s.wal.currentLsn, "fast path: durable when resolved");
  const handle = db.share();
  const core = await Core.attach(handle.module, handle.memory);
  core.exports.shardSetFastWrite(0, 0);
  await db.put("b", enc.encode("2"));
  core.exports.shardSetFastWrite(0, 1);
  core.detach();
  s = db.stats();
  assert.ok(s.wal.durableLsn >= s.wal.currentLsn, "channel path: its marker is durable when resolved");
  assert.is(s.paths.channel, 1);
  await db.close();
});

test("channel requests from one thread keep their order when the request queue is full", async () => {
  // 40 puts to one key without awaiting, alternating ~900 KiB and tiny values: the 4 MiB
  // request queue fills, and a tiny request must not slip in ahead of a big one waiting.
  const db = await open(tempDir(), { shards: 1, fastWrite: false, durability: "async" });
  const big = (i: number) => `${i}:`.padEnd(900 * 1024, "x");
  const valueAt = (i: number) => (i % 2 === 0 ? big(i) : `${i}`);
  const puts = Array.from({ length: 40 }, (_, i) => db.put("k", valueAt(i)));
  const timestamps = await Promise.all(puts);
  for (let i = 1; i < timestamps.length; i++) assert.ok(timestamps[i] > timestamps[i - 1], `put ${i} committed after put ${i - 1}`);
  assert.is(text(db.get("k")), valueAt(39));
  await db.close();
});

test.after(cleanup);
test.run();
