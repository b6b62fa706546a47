// The shared memory's heap moving past the size it had when a thread made its views.
// Before docs/ARCHITECTURE.md "Decision: the whole shared memory is reserved at open",
// the memory started small and grew on demand, and each thread's typed-array views kept
// the length they had when made: the actor wrote a reply into a worker's thread block
// beyond its views (RangeError, database FAILED), and a scan cut a key at the end of the
// reading thread's views. These tests put heap blocks beyond the size the memory used to
// start with, then touch them from threads that attached before and after.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { cleanup, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine memory growth");
const MIB = 1024 * 1024;
const workerUrl = new URL("./fixtures/memory-growth-worker.ts", import.meta.url).href;

test("worker attached after memory growth writes on the channel path", async () => {
  // One shard of 4 MiB: the memory used to start at 36 MiB (src/engine/open.ts initialBytes).
  const db = await open(tempDir(), { shards: 1, fastWrite: false });
  const handle = db.share();
  // Another thread's allocations move the heap 128 MiB further, as new memtables would.
  const filler = await Core.attach(handle.module, handle.memory);
  for (let i = 0; i < 2; i++) assert.ok(filler.exports.coreAlloc(64 * MIB) >>> 0 >= 64, "64 MiB block");
  assert.ok(filler.exports.coreHeapTop() >>> 0 > 128 * MIB, "the heap reaches beyond 128 MiB");
  // A worker attached now gets its thread block (with its reply slots) up there.
  const counts = await runModuleInWorker(platform, {
    module: handle.module,
    memory: handle.memory,
    url: workerUrl,
    exportName: "putAfterGrowth",
    data: { handle, count: 20 },
  }) as { fast: number; channel: number };
  assert.equal(counts, { fast: 0, channel: 20 });
  for (let i = 0; i < 20; i++) assert.is(text(db.get(`g-${i}`)), `value-${i}`);
  assert.is(db.stats().state, "open");
  filler.detach();
  await db.close();
});

const KEY_BYTES = 2000;
const VALUE_BYTES = 2000;
/** Enough 4 KB versions to fill one 64 MiB memtable and a third of the next. */
const WRITES = 22_000;
const keyOf = (i: number) => `k${String(i).padStart(8, "0")}`.padEnd(KEY_BYTES, "x");

test("scan after memory growth returns whole 2000-byte keys (opener and attached worker)", async () => {
  // One shard with a 64 MiB memtable: the memory used to start at 96 MiB, the first memtable
  // inside it; the second, made by the actor when the first is full, crossed that end.
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * MIB, durability: "async" });
  const handle = db.share();
  const go = new SharedArrayBuffer(4);
  let attached!: () => void;
  const workerAttached = new Promise<void>((resolve) => (attached = resolve));
  const scanned = runModuleInWorker(platform, {
    module: handle.module,
    memory: handle.memory,
    url: workerUrl,
    exportName: "scanAfterGrowth",
    data: { handle, go },
    onMessage: (m) => (m as { type?: string }).type === "attached" && attached(),
  }) as Promise<number[]>;
  // A failure before the go must not leave the worker polling for it with the database open.
  const stopWorker = () => Atomics.store(new Int32Array(go), 0, 1);
  try {
    await Promise.race([workerAttached, scanned]);
    await scanThenCompare(db, scanned, stopWorker);
  } finally {
    stopWorker();
    await scanned.catch(() => {});
    await db.close();
  }
});

async function scanThenCompare(db: Awaited<ReturnType<typeof open>>, scanned: Promise<number[]>, stopWorker: () => void): Promise<void> {
  // Ascending keys from one thread: inside a memtable, key order is address order, so the
  // scan meets the version that straddles a stale view's end before any beyond it.
  const value = "v".repeat(VALUE_BYTES);
  const pending = new Set<Promise<unknown>>();
  for (let i = 0; i < WRITES; i++) {
    const p = db.put(keyOf(i), value).finally(() => pending.delete(p));
    pending.add(p);
    if (pending.size >= 64) await Promise.race(pending);
  }
  await Promise.all(pending);

  const keys: Uint8Array[] = [];
  for (const [key] of db.scan()) keys.push(key);
  stopWorker(); // the go: it scans now
  const lengths = { opener: keys.map((k) => k.length), "attached worker": await scanned };
  const wrong = Object.entries(lengths).flatMap(([where, all]) => {
    const cut = all.findIndex((n) => n !== KEY_BYTES);
    return all.length === WRITES && cut === -1 ? [] : [`${where}: ${all.length} keys, key ${cut} is ${all[cut]} bytes`];
  });
  assert.equal(wrong, [], wrong.join("; "));
  for (let i = 0; i < WRITES; i += 997) assert.is(text(keys[i]), keyOf(i));
}

test.after.each(cleanup);
test.run();
