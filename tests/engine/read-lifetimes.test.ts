// Readers that outlive flushes and compactions. A scan, a read at a snapshot and a plain
// get keep every table file and memtable they may still read alive until they end, whatever
// the same thread or another one does meanwhile: here the tables a suspended scan opened are
// merged away and deleted (checked on disk) while the scan waits, the same thread reads
// (which makes it load the new table set), and the scan must still return exactly the rows
// of its snapshot. The interleavings are forced by the test, not left to timing: each test
// waits until the files are gone before it resumes the scan.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { startWriters } from "./fixtures/attach-writer.ts";
import { cleanup, dec, eventually, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine read lifetimes");
const KEYS = 600;
const key = (i: number) => `k${String(i).padStart(4, "0")}`;
const valueOf = (round: number, i: number) => `r${round}-${i}-`.padEnd(100, "x");
type Db = Awaited<ReturnType<typeof open>>;

/** The table files in `dir` now. */
const tableFiles = (dir: string) => platform.readdir(`${dir}/tables`).filter((n) => n.endsWith(".sst"));

/**
 * A database with round 0 of every key written: part of it in at least one table, the rest
 * in the active memtable (so a scan reads both kinds of source), and no merge yet.
 */
async function loaded(blockCacheBytesMax?: number): Promise<{ db: Db; dir: string }> {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024, durability: "async", blockCacheBytesMax });
  for (let i = 0; i < KEYS; i++) await db.put(key(i), valueOf(0, i));
  await eventually(() => db.stats().shards[0].tables > 0 && db.stats().shards[0].frozenMemtables === 0, "part of round 0 in a table");
  assert.is(db.stats().compactions, 0, "no merge yet");
  return { db, dir };
}

/** Writes rounds of overwrites, calling `between()` after each, until `done()`. */
async function writeRoundsUntil(db: Db, done: () => boolean, between: () => void = () => {}): Promise<number> {
  let round = 0;
  const start = Date.now();
  while (!done()) {
    round++;
    for (let i = 0; i < KEYS; i += 3) await db.put(key(i), valueOf(round, i));
    between();
    await new Promise((r) => setTimeout(r, 1));
    if (Date.now() - start > 60_000) throw new Error(`gave up after ${round} rounds: the scan's tables were never merged away`);
  }
  return round;
}

/** Asserts `rows` are exactly round 0 of keys [from, KEYS). */
function assertRound0(rows: Array<[Uint8Array, Uint8Array]>, from: number, what: string): void {
  assert.is(rows.length, KEYS - from, `${what}: row count`);
  rows.forEach(([k, v], j) => {
    assert.is(dec.decode(k), key(from + j), `${what}: key`);
    assert.is(dec.decode(v), valueOf(0, from + j), `${what}: value of ${key(from + j)}`);
  });
}

test("a get whose lookup first opens its shard's tables still finds the key in a memtable (the tables' checksums are staged over the key it staged)", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < 2000; i++) await db.put(`k${String(i).padStart(5, "0")}`, "x".repeat(100));
  await eventually(() => db.stats().shards[0].tables > 0, "tables");
  await db.close();
  const again = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  await again.put("hot", "in the memtable");
  // The first read of this handle opens the shard's tables, inside the lookup.
  assert.is(text(again.get("hot")), "in the memtable");
  assert.is(text(again.get("k00007")), "x".repeat(100));
  await again.close();
});

test("scan survives a compaction triggered by its own thread's reads", async () => {
  const { db, dir } = await loaded();
  const opened = tableFiles(dir);
  const compactions = db.stats().compactions;
  const scan = db.scan()[Symbol.iterator]();
  const first = scan.next();
  assert.is(text(first.value![0]), key(0));
  const gone = () => db.stats().compactions > compactions && opened.every((f) => !tableFiles(dir).includes(f));
  const rounds = await writeRoundsUntil(db, gone);
  // The same thread reads: it loads the new table set (the scan's tables are gone from it).
  assert.is(text(db.get(key(3))), valueOf(rounds, 3));
  assert.is(text(db.get(key(1))), valueOf(0, 1));
  const rest: Array<[Uint8Array, Uint8Array]> = [];
  for (let r = scan.next(); !r.done; r = scan.next()) rest.push(r.value);
  assertRound0(rest, 1, "the scan after the compaction");
  console.log(`  [read lifetimes] ${rounds} rounds of overwrites, ${db.stats().compactions - compactions} merges during the scan`);
  await db.close();
});

test("a snapshot read across compactions returns exactly its data (get and a suspended scan at it)", async () => {
  const { db, dir } = await loaded();
  const snapshot = db.snapshot();
  const opened = tableFiles(dir);
  const compactions = db.stats().compactions;
  const scan = db.scan({ snapshot })[Symbol.iterator]();
  const head: Array<[Uint8Array, Uint8Array]> = [];
  for (let j = 0; j < 10; j++) head.push(scan.next().value!);
  let reads = 0;
  const gone = () => db.stats().compactions > compactions && opened.every((f) => !tableFiles(dir).includes(f));
  // Reads at the snapshot between the rounds, so the thread keeps loading new table sets.
  const rounds = await writeRoundsUntil(db, gone, () => {
    for (let i = 0; i < KEYS; i += 41, reads++) assert.is(text(db.get(key(i), { snapshot })), valueOf(0, i), `get ${key(i)} at the snapshot`);
  });
  for (let i = 0; i < KEYS; i++) assert.is(text(db.get(key(i), { snapshot })), valueOf(0, i), `get ${key(i)} at the snapshot`);
  const rest: Array<[Uint8Array, Uint8Array]> = [];
  for (let r = scan.next(); !r.done; r = scan.next()) rest.push(r.value);
  assertRound0([...head, ...rest], 0, "the suspended scan at the snapshot");
  assertRound0([...db.scan({ snapshot })], 0, "a new scan at the snapshot");
  assert.is(text(db.get(key(0))), valueOf(rounds, 0), "the latest value outside the snapshot");
  snapshot.release();
  console.log(`  [read lifetimes] ${rounds} rounds, ${reads} reads at the snapshot, ${db.stats().compactions - compactions} merges`);
  await db.close();
});

test("a scan on one thread survives an attached worker writing enough to compact", async () => {
  const { db, dir } = await loaded();
  const opened = tableFiles(dir);
  const compactions = db.stats().compactions;
  const scan = db.scan()[Symbol.iterator]();
  const head = [scan.next().value!];
  // Two attached workers write keys w<worker>-<i> (after every k… key) until they are done.
  const runs = startWriters(platform, db.share(), { count: 4000, inFlight: 32, valueBytes: 200 });
  let writing = true;
  const finished = Promise.all(runs).finally(() => {
    writing = false;
  });
  // Meanwhile this thread serves gets and full scans (each loads the newest table set).
  let reads = 0;
  const gone = () => db.stats().compactions > compactions && opened.every((f) => !tableFiles(dir).includes(f));
  while (!gone()) {
    assert.is(text(db.get(key(reads % KEYS))), valueOf(0, reads % KEYS));
    reads++;
    if (reads % 50 === 0) for (const _ of db.scan({ lt: "k0010" })) { /* a short scan on the new set */ }
    if (!writing) break;
    await new Promise((r) => setTimeout(r, 1));
  }
  await finished;
  // A worker's writes may all have finished before the actor merged the scan's tables.
  await eventually(gone, "the scan's tables are merged away");
  assert.is(db.get("w0-0") !== undefined, true, "the workers' writes are visible to a new read");
  const rest: Array<[Uint8Array, Uint8Array]> = [];
  for (let r = scan.next(); !r.done; r = scan.next()) rest.push(r.value);
  assertRound0([...head, ...rest], 0, "the scan started before the workers wrote");
  console.log(`  [read lifetimes] ${reads} reads on the scan's thread, ${db.stats().compactions - compactions} merges by the actor`);
  await db.close();
});

test("a scan suspended when its handle closes: its next step throws ClosedError", async () => {
  const { db } = await loaded();
  const scan = db.scan()[Symbol.iterator]();
  assert.is(text(scan.next().value![0]), key(0));
  await db.close();
  let error: unknown;
  try {
    scan.next();
  } catch (e) {
    error = e;
  }
  assert.is((error as Error)?.name, "ClosedError", String(error));
  assert.is(scan.next().done, true, "the iteration is over");
});

test("scans that end hand their table cursors to the next scans while another scan is suspended on the same tables", async () => {
  const { db } = await loaded(16 * 1024);
  await db.flush();
  const suspended = db.scan({ gte: key(100) });
  const firstRows: Array<[Uint8Array, Uint8Array]> = [];
  for (let i = 0; i < 50; i++) firstRows.push(suspended.next().value as [Uint8Array, Uint8Array]);
  // Many short scans end (their cursors go back to the readers and come out again for the
  // next one), reading other places of the same tables, with a small block cache churning.
  for (let s = 0; s < 300; s++) {
    const from = (s * 37) % (KEYS - 20);
    const rows = [...db.scan({ gte: key(from), limit: 1 + (s % 20) })];
    assert.is(rows.length, 1 + (s % 20), `scan ${s}`);
    rows.forEach(([k, v], j) => {
      assert.is(dec.decode(k), key(from + j), `scan ${s}: key`);
      assert.is(dec.decode(v), valueOf(0, from + j), `scan ${s}: value`);
    });
  }
  // The suspended scan's cursors were never handed out: it goes on exactly where it was.
  for (let r = suspended.next(); !r.done; r = suspended.next()) firstRows.push(r.value);
  assertRound0(firstRows, 100, "the suspended scan");
  await db.close();
});

test.after(cleanup);
test.run();
