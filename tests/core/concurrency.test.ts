// Four workers insert 50,000 keys each into ONE shared memtable at the same time, some
// keys common to all workers. Afterwards every (key, version) is present exactly once,
// the list is in strict order, and each shard's commit counter equals the number of
// timestamps taken from it, each taken exactly once, and a point lookup of every key
// finds its newest version. Then the same with the fast path's deferred linking, while
// this thread walks the list (each walk links what is pending first), so that writers,
// the walks and full pending rings race for the memtable's link lock.
//
// Soak: `for i in $(seq 20); do <runtime> tests/run.ts concurrency; done`.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { type ConcurrencyJob, keyFor, valueFor } from "./concurrency-worker.ts";
import { startTogether } from "./start-together.ts";

const test = suite("memtable concurrency");
const WORKERS = 4;
const PER_WORKER = 50_000;
const SHARED_EVERY = 10;
const SHARDS = 4;

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

for (const deferred of [false, true]) {
test(`${WORKERS} workers x ${PER_WORKER} inserts into one memtable${deferred ? ", deferred linking, walks racing them" : ""}: every version once, in order, counters exact`, async () => {
  const core = await Core.create({ shards: SHARDS, memoryBytesMax: 512 << 20 });
  const mt = Memtable.create(core, 64 << 20);
  const { runs } = await startTogether<{ shards: Uint8Array; timestamps: Float64Array }>(core, WORKERS, new URL("./concurrency-worker.ts", import.meta.url).href, "insertShared",
    (worker, barrier) => ({ worker, count: PER_WORKER, sharedEvery: SHARED_EVERY, memtable: mt.address, barrier, deferred }) satisfies ConcurrencyJob);
  let finished = false;
  const all = Promise.all(runs).finally(() => void (finished = true));
  let walks = 0;
  if (deferred) {
    // Seeks from this thread while the workers insert: each links every pending node
    // first, then lands at or after its key.
    const probe = new TextEncoder();
    while (!finished) {
      const key = probe.encode(keyFor(walks % WORKERS, (walks * 7919) % PER_WORKER, SHARED_EVERY));
      const node = mt.seekGE(key, 1n << 62n);
      if (node !== 0) assert.ok(compareBytes(mt.entry(node).key, key) >= 0, `seekGE landed before its key`);
      walks++;
      await new Promise((r) => setTimeout(r, 0));
    }
  }
  const reports = await all;

  // Expected versions: key -> (ts -> value), from what each worker says it inserted.
  const expected = new Map<string, Map<number, string>>();
  const takenPerShard = Array.from({ length: SHARDS }, () => new Set<number>());
  let inserts = 0;
  reports.forEach(({ shards, timestamps }, worker) => {
    for (let i = 0; i < PER_WORKER; i++) {
      const key = keyFor(worker, i, SHARED_EVERY);
      const ts = timestamps[i];
      const taken = takenPerShard[shards[i]];
      assert.not.ok(taken.has(ts), `timestamp ${ts} of shard ${shards[i]} handed out twice`);
      taken.add(ts);
      let versions = expected.get(key);
      if (!versions) expected.set(key, (versions = new Map()));
      versions.set(ts, valueFor(worker, i));
      inserts++;
    }
  });
  assert.is(inserts, WORKERS * PER_WORKER);

  // Each shard's counter equals the number of timestamps taken from it, and they are 1..n.
  for (let shard = 0; shard < SHARDS; shard++) {
    const taken = takenPerShard[shard];
    assert.is(core.exports.shardCommitCounter(shard), BigInt(taken.size), `shard ${shard} counter`);
    for (let ts = 1; ts <= taken.size; ts++) assert.ok(taken.has(ts), `shard ${shard} is missing timestamp ${ts}`);
  }

  // The list holds exactly those versions, in strict (key asc, ts desc) order.
  const dec = new TextDecoder();
  let count = 0;
  let prevKey: Uint8Array | undefined;
  let prevTs = 0n;
  for (const entry of mt.entries()) {
    if (prevKey) {
      const c = compareBytes(prevKey, entry.key);
      assert.ok(c < 0 || (c === 0 && prevTs > entry.ts), `order broken at ${dec.decode(entry.key)}@${entry.ts}`);
    }
    prevKey = entry.key;
    prevTs = entry.ts;
    const key = dec.decode(entry.key);
    const want = expected.get(key)?.get(Number(entry.ts));
    assert.is(dec.decode(entry.value!), want, `${key}@${entry.ts}`);
    count++;
  }
  assert.is(count, inserts, "every version present exactly once");
  assert.is(mt.count, inserts);
  const sharedKeys = [...expected.entries()].filter(([k]) => k.startsWith("shared-"));
  assert.is(sharedKeys.length, PER_WORKER / SHARED_EVERY);
  for (const [key, versions] of sharedKeys) assert.is(versions.size, WORKERS, `${key} has one version per worker`);

  // A point lookup (through the key index, which the workers filled concurrently, shared
  // keys racing to replace each other's versions) finds every key's newest version.
  const enc = new TextEncoder();
  for (const [key, versions] of expected) {
    const newest = Math.max(...versions.keys());
    const got = mt.getVisible(enc.encode(key), Number.MAX_SAFE_INTEGER);
    assert.is(got && Number(got.ts), newest, `${key}: newest version by point lookup`);
  }
  assert.is(mt.keyIndexFull, false, "the key index had room for every key (lookups used it)");
  if (deferred) assert.ok(walks > 0, "this thread walked the list while the workers inserted");
});
}

test.run();
