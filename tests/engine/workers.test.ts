// Writes from two worker threads through `attach`, at once, while the actor freezes and
// flushes memtables under them: every acknowledged write is read back, from the main
// thread and after reopening, when the logs below the flushed memtables are gone. This
// proves the freeze handshake: a writer still inserting into a memtable being frozen is
// waited for before its table is written (a missed write would be in no table and in no
// remaining log, so the reopen would not find it).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startWriters, valueFor } from "./fixtures/attach-writer.ts";
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { cleanup, enc, eventually, open, platform, tempDir, text } from "./helpers.ts";

/** The memtable header's count of admitted fast-path writers (assembly/skiplist.ts MT_WRITERS). */
const MT_WRITERS = 28;

const test = suite("engine workers");
const PER_WORKER = 3000;
const VALUE_BYTES = 200;

async function writeFromTwoWorkers(durability: "full" | "async") {
  const dir = tempDir();
  const db = await open(dir, { shards: 2, memtableBytesMax: 64 * 1024, durability, walSegmentBytesMax: 2 * 1024 * 1024 });
  const handle = db.share();
  const runs = startWriters(platform, handle, { count: PER_WORKER, inFlight: 32, valueBytes: VALUE_BYTES });
  // The main thread reads while they write: a key it sees once keeps its value.
  let reads = 0;
  const seen = new Set<string>();
  let done = false;
  const reader = (async () => {
    while (!done) {
      for (let i = 0; i < PER_WORKER; i += 97) {
        const key = `w${i % 2}-${i}`;
        const value = db.get(key);
        if (value !== undefined) {
          assert.is(text(value), valueFor(i % 2, i, VALUE_BYTES));
          seen.add(key);
        } else assert.not.ok(seen.has(key), `${key} vanished after it was seen`);
        reads++;
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const counts = await Promise.all(runs);
  done = true;
  await reader;
  const stats = db.stats();
  assert.is(counts[0].fast + counts[0].channel, PER_WORKER);
  assert.is(counts[1].fast + counts[1].channel, PER_WORKER);
  assert.ok(counts[0].fast > 0 && counts[1].fast > 0, "both workers wrote on the fast path");
  assert.ok(stats.flushes >= 4, `memtables were flushed during the writes (${stats.flushes})`);
  for (let w = 0; w < 2; w++) {
    for (let i = 0; i < PER_WORKER; i++) assert.is(text(db.get(`w${w}-${i}`)), valueFor(w, i, VALUE_BYTES), `w${w}-${i}`);
  }
  assert.ok(reads > 0);
  await db.close();
  const again = await open(dir);
  const replayed = again.stats().recovery!.replayedOperations;
  assert.ok(replayed < 2 * PER_WORKER, `most writes came back from tables, not logs (${replayed} replayed)`);
  let n = 0;
  for (const [key, value] of again.scan()) {
    const m = /^w(\d)-(\d+)$/.exec(text(key)!);
    assert.ok(m, text(key));
    assert.is(text(value), valueFor(Number(m![1]), Number(m![2]), VALUE_BYTES));
    n++;
  }
  assert.is(n, 2 * PER_WORKER, "every acknowledged write after reopen");
  await again.close();
}

test("two workers put at once through attach while memtables flush (durability full)", () => writeFromTwoWorkers("full"));
test("two workers put at once through attach while memtables flush (durability async)", () => writeFromTwoWorkers("async"));

test("a freeze waits for a fast-path writer still inside the memtable; its write is in the flushed table", async () => {
  // White box, deterministic: this thread plays a fast-path writer that was admitted to
  // the active memtable (assembly/engine.ts enterActive: writers + 1) and has not linked
  // its node yet, while other writes fill the memtable until the actor freezes it.
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  const handle = db.share();
  const core = await Core.attach(handle.module, handle.memory);
  const e = core.exports;
  const i32 = new Int32Array(handle.memory.buffer);
  const mt = e.shardActiveMemtable(0) >>> 0;
  Atomics.add(i32, (mt + MT_WRITERS) >>> 2, 1); // admitted
  // Fill it until the actor freezes it (a put that finds it full waits in the channel
  // until the freeze is done, so none is awaited here).
  const fills: Array<Promise<bigint>> = [];
  for (let i = 0; e.shardActiveMemtable(0) >>> 0 === mt; i++) {
    if (i < 60) fills.push(db.put(`fill-${String(i).padStart(4, "0")}`, new Uint8Array(1024)));
    await new Promise((r) => setTimeout(r, 1));
    if (i > 5000) throw new Error("the actor never froze the full memtable");
  }
  const flushes = db.stats().flushes;
  await new Promise((r) => setTimeout(r, 200));
  assert.is(db.stats().flushes, flushes, "no flush while a writer is inside the frozen memtable");
  assert.is(e.shardMemtableList(0), 2, "the frozen memtable is still listed");
  // The writer links its node and leaves.
  const node = new Memtable(core, mt).insert(enc.encode("inside"), enc.encode("was waited for"), e.shardNextTimestamp(0), 0n);
  assert.ok(node >= 64, "the writer's node was linked");
  Atomics.sub(i32, (mt + MT_WRITERS) >>> 2, 1);
  await Promise.all(fills);
  await eventually(() => e.shardMemtableList(0) === 1 && db.stats().flushes > flushes, "the frozen memtable is flushed");
  core.detach();
  assert.is(text(db.get("inside")), "was waited for", "read back from the table");
  await db.close();
});

test.after(cleanup);
test.run();
