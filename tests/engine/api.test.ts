// The public API: put/get/delete/batch/scan/snapshot/flush/stats/close, keys and values
// as bytes or strings, every scan bound, typed errors for bad input, limits named. From a
// review (2026-12-05), each seen failing before its fix: a snapshot option that is not one
// (or another database's) was read at NaN; unknown scan, enqueue, subscribe and faults
// option names were ignored; attach with a bad handle threw a WebAssembly LinkError, and
// past THREADS_MAX an internal CoreError. put(k, v, { sync: true }) ignored its options
// (2026-12-07, seen failing before its fix).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { BATCH_OPS_MAX, ClosedError, KEY_BYTES_MAX, ShardlineError, VALUE_BYTES_MAX } from "../../src/engine/public.ts";
import type { Database } from "../../src/engine/public.ts";
import { rejects, throwsA } from "../harness/assert.ts";
import { attach, cleanup, dec, enc, open, rows, tempDir, text } from "./helpers.ts";

const test = suite("engine api");

test("put returns a commit timestamp; get reads it back; delete removes it", async () => {
  const db = await open(tempDir());
  const t1 = await db.put("a", "1");
  assert.is(typeof t1, "bigint");
  assert.is(text(db.get("a")), "1");
  const t2 = await db.put("a", enc.encode("2"));
  assert.ok(t2 > t1, "timestamps grow within a shard");
  assert.is(text(db.get(enc.encode("a"))), "2");
  const t3 = await db.delete("a");
  assert.ok(t3 > t2);
  assert.is(db.get("a"), undefined);
  assert.is(db.get("never"), undefined);
  await db.close();
});

test("keys and values are bytes: the empty key, binary keys, empty values", async () => {
  const db = await open(tempDir());
  await db.put(new Uint8Array(0), "empty key");
  await db.put(Uint8Array.from([0, 255, 0]), new Uint8Array(0));
  assert.is(text(db.get("")), "empty key");
  assert.equal(db.get(Uint8Array.from([0, 255, 0])), new Uint8Array(0));
  const value = db.get("");
  value![0] = 0; // a copy: changing it changes nothing stored
  assert.is(text(db.get("")), "empty key");
  await db.close();
});

test("batch applies puts and deletes atomically and resolves with the highest timestamp", async () => {
  const db = await open(tempDir());
  await db.put("gone", "x");
  const before = db.stats().shards.map((s) => s.commitTimestamp);
  const ts = await db.batch([
    { type: "put", key: "b1", value: "1" },
    { type: "delete", key: "gone" },
    { type: "put", key: "b2", value: "2" },
    { type: "put", key: "b1", value: "1-again" },
  ]);
  const after = db.stats().shards.map((s) => s.commitTimestamp);
  assert.is(ts, after.reduce((m, t, i) => (t > before[i] && t > m ? t : m), 0n));
  assert.is(text(db.get("b1")), "1-again", "the later operation on a key wins");
  assert.is(text(db.get("b2")), "2");
  assert.is(db.get("gone"), undefined);
  assert.is(await db.batch([]), 0n, "an empty batch writes nothing");
  await db.close();
});

test("scan: key order over all shards, every bound, reverse, limit", async () => {
  const db = await open(tempDir(), { shards: 4 });
  const keys = ["a", "b", "ba", "bb", "c", "d\u00ff", "e"];
  for (const k of keys) await db.put(k, `v${k}`);
  await db.delete("c");
  assert.equal(rows(db.scan()), ["a=va", "b=vb", "ba=vba", "bb=vbb", "d\u00ff=vd\u00ff", "e=ve"]);
  assert.equal(rows(db.scan({ prefix: "b" })), ["b=vb", "ba=vba", "bb=vbb"]);
  assert.equal(rows(db.scan({ gte: "b", lt: "bb" })), ["b=vb", "ba=vba"]);
  assert.equal(rows(db.scan({ gt: "b", lte: "bb" })), ["ba=vba", "bb=vbb"]);
  assert.equal(rows(db.scan({ reverse: true, limit: 3 })), ["e=ve", "d\u00ff=vd\u00ff", "bb=vbb"]);
  assert.equal(rows(db.scan({ prefix: "b", reverse: true })), ["bb=vbb", "ba=vba", "b=vb"]);
  assert.equal(rows(db.scan({ gt: "a", lt: "bb", reverse: true })), ["ba=vba", "b=vb"]);
  assert.equal(rows(db.scan({ gte: "z" })), []);
  assert.equal(rows(db.scan({ limit: 0 })), []);
  // break ends a scan cleanly
  for (const [k] of db.scan()) {
    assert.is(dec.decode(k), "a");
    break;
  }
  await db.close();
});

test("a snapshot sees the database as it was, for get and scan, until released", async () => {
  const db = await open(tempDir());
  await db.put("k", "old");
  await db.put("x", "1");
  const snap = db.snapshot();
  await db.put("k", "new");
  await db.delete("x");
  await db.put("y", "2");
  assert.is(text(db.get("k", { snapshot: snap })), "old");
  assert.is(text(db.get("x", { snapshot: snap })), "1");
  assert.is(db.get("y", { snapshot: snap }), undefined);
  assert.equal(rows(db.scan({ snapshot: snap })), ["k=old", "x=1"]);
  assert.equal(rows(db.scan()), ["k=new", "y=2"]);
  assert.is(db.stats().liveSnapshots, 1);
  snap.release();
  assert.ok(snap.released);
  assert.is(db.stats().liveSnapshots, 0);
  throwsA(() => db.get("k", { snapshot: snap }), ShardlineError);
  {
    using s2 = db.snapshot();
    assert.is(text(db.get("k", { snapshot: s2 })), "new");
  }
  assert.is(db.stats().liveSnapshots, 0, "using releases it");
  await db.close();
});

test("bad input: TypeErrors for wrong types, RangeErrors naming the limits", async () => {
  const db = await open(tempDir());
  await rejects(() => db.put(42 as unknown as string, "v"), TypeError);
  await rejects(() => db.put("k", null as unknown as string), TypeError);
  await rejects(() => db.delete({} as unknown as string), TypeError);
  throwsA(() => db.get(7 as unknown as string), TypeError);
  // A read's options: { snapshot } only (an array passed the object check: review, 2026-12-06).
  throwsA(() => db.get("k", [] as never), TypeError);
  throwsA(() => db.has("k", { snapshto: undefined } as never), TypeError);
  const key = await rejects(() => db.put(new Uint8Array(KEY_BYTES_MAX + 1), "v"), RangeError);
  assert.match(key.message, /2048 bytes \(KEY_BYTES_MAX\)/);
  const value = await rejects(() => db.put("k", new Uint8Array(VALUE_BYTES_MAX + 1)), RangeError);
  assert.match(value.message, /1048576 bytes \(VALUE_BYTES_MAX\)/);
  await rejects(() => db.batch("no" as unknown as []), TypeError);
  await rejects(() => db.batch([{ type: "upsert", key: "k" } as never]), TypeError);
  await rejects(() => db.batch(Array.from({ length: BATCH_OPS_MAX + 1 }, () => ({ type: "delete" as const, key: "k" }))), (e) => e instanceof RangeError && /BATCH_OPS_MAX/.test(e.message));
  throwsA(() => db.scan({ limit: -1 }), RangeError);
  throwsA(() => db.scan({ limit: 1.5 }), RangeError);
  // A limit of the wrong type is a TypeError, not a RangeError saying "got 1" (review, 2026-12-06).
  for (const limit of ["1", null, 1n, true]) throwsA(() => db.scan({ limit } as never), TypeError);
  throwsA(() => db.scan({ reverse: "yes" as unknown as boolean }), TypeError);
  // The limits themselves work.
  await db.put(new Uint8Array(KEY_BYTES_MAX).fill(1), new Uint8Array(VALUE_BYTES_MAX).fill(2));
  assert.is(db.get(new Uint8Array(KEY_BYTES_MAX).fill(1))!.length, VALUE_BYTES_MAX);
  await db.close();
  await rejects(() => open(tempDir(), { shards: 0 }), RangeError);
  await rejects(() => open(tempDir(), { durability: "fast" as "full" }), RangeError);
  await rejects(() => open(tempDir(), { memtableBytesMax: 100_000 }), (e) => e instanceof RangeError && /multiple of 65536/.test(e.message));
  await rejects(() => open(""), TypeError);
});

test("a small memtable lowers the value limit to a quarter of it, named", async () => {
  const db = await open(tempDir(), { memtableBytesMax: 64 * 1024 });
  await db.put("k", new Uint8Array(16 * 1024));
  const e = await rejects(() => db.put("k", new Uint8Array(16 * 1024 + 1)), RangeError);
  assert.match(e.message, /16384 bytes \(a quarter of memtableBytesMax\)/);
  await db.close();
});

test("after close every call is a ClosedError (code SHARDLINE_CLOSED); close is idempotent", async () => {
  const db = await open(tempDir());
  await db.put("k", "v");
  await db.close();
  await db.close();
  const e = await rejects(() => db.put("k", "v"), ClosedError);
  assert.is((e as ClosedError).code, "SHARDLINE_CLOSED");
  await rejects(() => db.delete("k"), ClosedError);
  await rejects(() => db.batch([]), ClosedError);
  await rejects(() => db.flush(), ClosedError);
  throwsA(() => db.get("k"), ClosedError);
  throwsA(() => db.scan(), ClosedError);
  throwsA(() => db.snapshot(), ClosedError);
  throwsA(() => db.share(), ClosedError);
});

test("an existing database keeps its shard count; a different one is refused", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 3 });
  await db.put("k", "v");
  await db.close();
  await rejects(() => open(dir, { shards: 4 }), (e) => e instanceof RangeError && /3 shards/.test(e.message));
  const again = await open(dir);
  assert.is(again.stats().shards.length, 3);
  assert.is(text(again.get("k")), "v");
  await again[Symbol.asyncDispose]();
});

test("stats: per shard, WAL, paths, flushes, compactions, in a documented shape", async () => {
  const db = await open(tempDir(), { shards: 2 });
  await Promise.all(Array.from({ length: 50 }, (_, i) => db.put(`k${i}`, "v")));
  const s = db.stats();
  assert.is(s.shards.length, 2);
  assert.is(s.shards[0].commitTimestamp + s.shards[1].commitTimestamp, 50n);
  assert.ok(s.wal.syncs >= 1 && s.wal.syncedRecords >= 50);
  assert.ok(s.wal.durableLsn <= s.wal.currentLsn);
  assert.is(s.paths.fast, 50);
  assert.is(s.paths.channel, 0);
  assert.is(s.state, "open");
  assert.ok(s.recovery !== undefined);
  assert.equal(s.shards[0].compactionDebt, { merges: 0, bytes: 0 });
  assert.is(s.shards[0].subscribers, 0);
  assert.is(s.coordination?.mode, "auto");
  if (s.coordination?.locked) assert.is(s.coordination.holder?.pid, process.pid, "the lock holder is this process");
  assert.is(s.writeQueue.depth, 0);
  await db.close();
});

test("get, getString, has and scan refuse a snapshot option that is not a snapshot (TypeError), not read at NaN", async () => {
  const db = await open(tempDir());
  await db.put("a", "1");
  const s = db.snapshot();
  // A plausible slip: the snapshot's seq, or a number, instead of the snapshot.
  throwsA(() => db.get("a", { snapshot: s.seq as never }), TypeError, "get with { snapshot: bigint }");
  throwsA(() => db.getString("a", { snapshot: 5 as never }), TypeError, "getString with { snapshot: 5 }");
  throwsA(() => db.has("a", { snapshot: "x" as never }), TypeError, "has with { snapshot: 'x' }");
  throwsA(() => db.scan({ snapshot: 5 as never }), TypeError, "scan with { snapshot: 5 }");
  s.release();
  await db.close();
});

test("a snapshot taken on another database is refused, not used as a point in this one's order", async () => {
  const one = await open(tempDir());
  const other = await open(tempDir());
  await one.put("k", "one");
  const foreign = other.snapshot(); // seq from the other database's log: nothing of `one` pins it
  let got: unknown;
  let error: unknown;
  try {
    got = one.getString("k", { snapshot: foreign });
  } catch (e) {
    error = e;
  }
  foreign.release();
  await one.close();
  await other.close();
  assert.ok(error instanceof TypeError || error instanceof RangeError, `read with another database's snapshot returned ${JSON.stringify(got)} instead of being refused`);
});

test("scan options: an unknown name is a TypeError naming the nearest, not silently a full scan", async () => {
  const db = await open(tempDir());
  await db.put("user:1", "a");
  await db.put("zzz", "b");
  let error: unknown;
  let rowsSeen = 0;
  try {
    for (const _ of db.scan({ prefx: "user:" } as never)) rowsSeen++;
  } catch (e) {
    error = e;
  }
  await db.close();
  assert.ok(error instanceof TypeError && /prefix/.test((error as Error).message), `scan({ prefx }) was accepted and read ${rowsSeen} rows (the whole database)`);
});

test("enqueue and subscribe options: an unknown name is a TypeError naming the nearest", async () => {
  const db = await open(tempDir());
  let e: unknown;
  try {
    await db.enqueue([{ type: "put", key: "k", value: "v" }], { timeout: 5 } as never);
  } catch (x) {
    e = x;
  }
  let feedError: unknown;
  try {
    const feed = db.subscribe({ prefx: "user:" } as never);
    await feed.return?.();
  } catch (x) {
    feedError = x;
  }
  await db.close();
  assert.ok(e instanceof TypeError && /timeoutMs/.test(e.message), `enqueue with { timeout: 5 }: ${e instanceof Error ? e.message : "accepted, written"}`);
  assert.ok(feedError instanceof TypeError && /prefix/.test((feedError as Error).message), "subscribe({ prefx }) was accepted (a feed of every key)");
});

test("put and delete given options (put(k, v, { sync: true }), as in LevelDB) are a TypeError naming durability, nothing written", async () => {
  const db = await open(tempDir(), { durability: "async" });
  const put = await rejects(() => db.put("k", "v", { sync: true } as never), TypeError, "put with { sync: true } was accepted");
  assert.match(put.message, /put takes no options: durability is the database's/);
  assert.is(db.get("k"), undefined, "the refused put wrote nothing");
  await db.put("k", "v");
  await rejects(() => db.delete("k", { sync: true } as never), (e) => e instanceof TypeError && /delete takes no options/.test(e.message), "delete with { sync: true } was accepted");
  assert.is(text(db.get("k")), "v", "the refused delete removed nothing");
  await db.put("k", "w", undefined); // an explicit undefined is no option
  assert.is(text(db.get("k")), "w");
  await db.close();
});

test("open: faults, an option the README does not list, of the wrong type is a TypeError", async () => {
  // README Options: "an option not listed here is a TypeError naming it".
  let e: unknown;
  try {
    await (await open(tempDir(), { faults: 5 } as never)).close();
  } catch (x) {
    e = x;
  }
  assert.ok(e instanceof TypeError, `open({ faults: 5 }): ${e === undefined ? "opened a database" : String(e)}`);
});

test("attach given a handle without its memory is a TypeError (README), not a WebAssembly LinkError", async () => {
  const db = await open(tempDir(), { shards: 1 });
  const handle = db.share();
  let error: unknown;
  try {
    const h = await attach({ ...handle, memory: undefined as never });
    await h.close();
  } catch (e) {
    error = e;
  }
  await db.close();
  assert.ok(error instanceof TypeError, `got ${(error as Error)?.name}: ${(error as Error)?.message}`);
});

test("attach past the thread limit (THREADS_MAX 256) rejects with a ShardlineError or RangeError, not an internal CoreError", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024 });
  const handles: Database[] = [];
  let error: unknown;
  for (let i = 0; i < 300 && error === undefined; i++) {
    try {
      handles.push(await attach(db.share()));
    } catch (e) {
      error = e;
    }
  }
  for (const h of handles) await h.close();
  await db.close();
  assert.ok(error !== undefined, "some attach was refused");
  const e = error as Error & { code?: string };
  assert.ok(
    (e instanceof ShardlineError && typeof e.code === "string") || e instanceof RangeError,
    `attach number ${handles.length + 1} rejected with ${e.name}: ${e.message} (code ${e.code})`,
  );
});

// Review 2026-12-06, seen failing before its fix: ENGINE.md says the next step of an
// unfinished iterator after close() throws ClosedError, "one never stepped included"; a scan
// over an empty range answered done (scan.ts checked only inside its loop over rows).
test("a scan of an empty range made before close, stepped after close: ClosedError, not done", async () => {
  const db = await open(tempDir());
  await db.put("k", "v");
  const scan = db.scan({ prefix: "nothing-here:" });
  await db.close();
  throwsA(() => scan.next(), ClosedError);
});

test.after(cleanup);
test.run();
