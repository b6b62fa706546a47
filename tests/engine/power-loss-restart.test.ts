// A kill -9, a restart, then a power loss (review of power loss, 2026-12-06; power loss
// alone, swept at every operation of first opens, flushes, merges, rotations, large
// batches, the channel path and replay, lost nothing). The power-loss platform
// (tests/harness/power-loss-platform.ts) journals every mutating operation of every thread
// and, at the crash, keeps only what an fdatasync or a directory fsync made durable. Here
// the first process "dies" at a chosen operation: `crashAtOperation` stops its I/O there
// (the operation ran, it got EIO, every later call fails), and it is abandoned. Then the
// journal's crash flag is cleared (its shared slots, read from the buffer the wrapper hands
// its workers): a kill, unlike a power loss, leaves the page cache as it was, so the
// restart, through the same wrapper, sees every file and entry the dead process made, and
// what it makes durable is journaled on top. Then the power fails (`p.crash()`), and the
// directory is opened through the real platform and checked against what was acknowledged.
//
// The crash point is not a fixed operation number (the actor's and the durability worker's
// operations interleave differently from run to run): this thread watches the journal,
// holding its lock while it reads, and sets the crash on the operation it wants while a
// slow fdatasync (faults.*.syncDelayMs, 100 ms, before the sync) holds the other thread
// just before it.
//
// Both tests lost acknowledged data, seen failing before their fixes, because an open took
// what it found in the page cache (a MANIFEST or a log segment whose rename the dead
// process never fsynced into its directory) as durable, and built on it without first
// making it so: open now fsyncs the directory of the MANIFEST it read, and the log's
// writer the log directory of the segment it continues.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cpSync } from "node:fs";
import type { Database } from "../../src/engine/database.ts";
import type { DatabaseOptions } from "../../src/engine/options.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { type Platform, PlatformError } from "../../src/platform.ts";
import { bounded, type PowerLossPlatform, withPowerLoss } from "../harness/power-loss-platform.ts";
import { cleanup, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine power loss after a kill and a restart");
test.after.each(cleanup);

// ---- what was acknowledged -------------------------------------------------------------

interface Op {
  value: string | undefined;
  acked: boolean;
}
/** Every operation issued, per key, oldest first. */
type Model = Map<string, Op[]>;

/** The states a key may be in: the outcome of its last acknowledged op or of any later one. */
function allowed(ops: Op[]): Set<string | undefined> {
  let last = -1;
  for (let i = 0; i < ops.length; i++) if (ops[i].acked) last = i;
  const out = new Set<string | undefined>();
  if (last < 0) out.add(undefined);
  for (let i = Math.max(0, last); i < ops.length; i++) out.add(ops[i].value);
  return out;
}

function record(model: Model, key: string, value: string | undefined): Op {
  const op: Op = { value, acked: false };
  model.set(key, [...(model.get(key) ?? []), op]);
  return op;
}

async function put(db: Database, model: Model, key: string, value: string): Promise<void> {
  const op = record(model, key, value);
  await db.put(key, value);
  op.acked = true;
}

async function del(db: Database, model: Model, key: string): Promise<void> {
  const op = record(model, key, undefined);
  await db.delete(key);
  op.acked = true;
}

/** What is wrong: keys whose value their history does not allow, keys never written, or a read that failed. */
function problemsOf(db: Database, model: Model): string[] {
  const problems: string[] = [];
  try {
    for (const [key, ops] of model) {
      const value = text(db.get(key));
      if (allowed(ops).has(value)) continue;
      const last = [...ops].reverse().find((o) => o.acked);
      problems.push(`${key} holds ${value === undefined ? "nothing" : value.slice(0, 24)}; last acknowledged: ${last ? (last.value === undefined ? "delete" : last.value.slice(0, 24)) : "none"}`);
    }
    for (const [k] of db.scan()) if (!model.has(text(k)!)) problems.push(`${text(k)} was never written`);
  } catch (error) {
    problems.push(`a read failed: ${(error as Error).name}: ${(error as Error).message}`);
  }
  return problems;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pad = (i: number) => String(i).padStart(5, "0");
const val = (tag: string, i: number, n = 1000) => `${tag}:${i}:`.padEnd(n, "v");

async function until(done: () => boolean, what: string, limitMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for: ${what}`);
    await sleep(2);
  }
}

// ---- the journal (tests/harness/power-loss-platform.ts: its layout, read from here) ----

/** Int32 slots of the journal's header, and where its events start. */
const LOCK = 0, CRASHED = 1, END = 2, OPERATIONS = 5, CRASH_AT = 6, EVENTS_START = 64;

/** The journal's shared buffer (PowerLossPlatform.journalBuffer). */
let journalBuffer: SharedArrayBuffer | undefined;
const slots = () => new Int32Array(journalBuffer!, 0, 16);

/** The events journaled from byte `at` on, and where they end. */
function eventsFrom(at: number): { events: Array<Record<string, unknown>>; end: number } {
  const view = new DataView(journalBuffer!);
  const end = Atomics.load(slots(), END);
  const events: Array<Record<string, unknown>> = [];
  while (at < end) {
    const json = view.getUint32(at);
    const extra = view.getUint32(at + 4);
    events.push(JSON.parse(new TextDecoder().decode(new Uint8Array(journalBuffer!, at + 8, json).slice())));
    at += 8 + json + extra;
  }
  return { events, end: at };
}

/** Runs `fn` holding the journal's lock: no thread does a mutating operation meanwhile. */
function underJournalLock<T>(fn: () => T): T {
  const i32 = slots();
  while (Atomics.compareExchange(i32, LOCK, 0, 1) !== 0);
  try {
    return fn();
  } finally {
    Atomics.store(i32, LOCK, 0);
    Atomics.notify(i32, LOCK, 1);
  }
}

/**
 * Until the wrapper has crashed: reads each new event (holding the journal's lock) and
 * hands it to `watch`, which may set the crash with `crashAfter(n)`: n operations after
 * the last one journaled.
 */
function watchUntilCrash(p: PowerLossPlatform, watch: (event: Record<string, unknown>, crashAfter: (n: number) => void) => void): void {
  let at = EVENTS_START;
  const started = Date.now();
  const crashAfter = (n: number) => Atomics.store(slots(), CRASH_AT, Atomics.load(slots(), OPERATIONS) + n);
  while (!p.crashed) {
    if (Date.now() - started > 20_000) throw new Error("the crash point never came");
    underJournalLock(() => {
      const { events, end } = eventsFrom(at);
      at = end;
      for (const event of events) watch(event, crashAfter);
    });
  }
}

/** The kill is over: the page cache stays, the process is gone; I/O through the wrapper works again. */
function restartAfterKill(): void {
  Atomics.store(slots(), CRASH_AT, 0);
  Atomics.store(slots(), CRASHED, 0);
}

function lastEvent(): Record<string, unknown> {
  const { events } = eventsFrom(EVENTS_START);
  return events[events.length - 1];
}

/**
 * `p` as seen by an opener whose power fails right after a chosen call of its own (on the
 * calling thread): `when(method, args)` true cuts the power just after that call returned.
 */
function powerFailsAfter(p: PowerLossPlatform, when: (method: string, args: unknown[]) => boolean): Platform {
  return new Proxy(p, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const out = value.apply(target, args);
        if (!target.crashed && when(String(prop), args)) {
          target.crash();
          throw new PlatformError(`power failed after ${String(prop)}`, "EIO");
        }
        return out;
      };
    },
  }) as Platform;
}

const BASE: DatabaseOptions = { shards: 1, durability: "full", coordination: "single-process-unsafe" };

// ---- the tests -------------------------------------------------------------------------

// A merge replaces the MANIFEST (MANIFEST.tmp, fdatasync, rename, fsync <dir>) and then
// deletes its inputs. The process is killed right after the rename. The restart reads the
// new MANIFEST from the page cache and deletes the four inputs as tables no MANIFEST names
// (RECOVERY.md F1: removeOrphans -> removeDroppedTables, each deletion fsynced in tables/),
// without making the rename it relies on durable first. The power fails before anything
// fsyncs <dir>: the old MANIFEST is back, naming the four deleted tables, and the merge's
// output is an orphan (F1b). Every key in the tables is lost ("named by the MANIFEST but
// missing"). Seen failing in Node, Bun and Deno.
/**
 * The restart (another process, which finds the page cache the dead one left) puts one key
 * and closes; then the power fails, and the directory, opened through the real platform,
 * must read every acknowledged write.
 */
async function restartThenPowerLoss(p: PowerLossPlatform, dir: string, options: DatabaseOptions, model: Model): Promise<void> {
  restartAfterKill();
  await putAfterRestartThenPowerLoss(p, dir, options, model);
}

/** The restart (through `p`) puts one key and closes; the power fails; every acknowledged write must read. */
async function putAfterRestartThenPowerLoss(p: PowerLossPlatform, dir: string, options: DatabaseOptions, model: Model): Promise<void> {
  const second = await bindDatabaseApi(p).open(dir, options);
  await put(second, model, "restart", "acknowledged");
  await second.close();
  p.crash();
  const reopened = await open(dir, options);
  try {
    const problems = problemsOf(reopened, model);
    assert.ok(problems.length === 0, `after the kill, the restart and the power loss: ${problems.length} wrong: ${problems.slice(0, 4).join("; ")}`);
  } finally {
    await reopened.close();
  }
}

/**
 * Three tier-0 tables (with deletes) and about 80 KiB of puts in the log, under 3/4 of a
 * 128 KiB memtable (nothing frozen at open); then a put makes the actor flush a fourth
 * table and merge the four, and the process is killed right after the merge's MANIFEST
 * rename: what that kill leaves, for a restart through `p`.
 */
async function killedAfterMergeManifestRename(): Promise<{ p: PowerLossPlatform; dir: string; options: DatabaseOptions; model: Model }> {
  const options = { ...BASE, memtableBytesMax: 128 * 1024 };
  const template = `${tempDir()}/db`;
  platform.mkdir(template);
  const model: Model = new Map();
  {
    const db = await open(template, options);
    let i = 0;
    while (db.stats().shards[0].tables < 3) {
      await put(db, model, `k${pad(i)}`, val("k", i));
      if (i % 3 === 0 && i > 90) await del(db, model, `k${pad(i - 90)}`);
      i++;
      await until(() => db.stats().shards[0].frozenMemtables === 0, "no frozen memtable");
    }
    for (let j = 0; db.stats().shards[0].memtableBytesUsed < 80 * 1024; j++) await put(db, model, `m${pad(j)}`, val("m", j));
    assert.is(db.stats().shards[0].tables, 3);
    assert.is(db.stats().shards[0].frozenMemtables, 0);
    await db.close();
  }
  const root = tempDir();
  const dir = `${root}/db`;
  cpSync(template, dir, { recursive: true });
  const p = withPowerLoss(platform, root, { seed: 7, unsynced: "drop", entries: "fsynced" });
  journalBuffer = p.journalBuffer;
  // The actor's fdatasyncs sleep 100 ms first (a slow disk): the window in which this thread
  // sets the crash on the MANIFEST's rename, right after the write of MANIFEST.tmp.
  const first = await bindDatabaseApi(p).open(dir, { ...options, faults: { actor: { syncDelayMs: 100 } } });
  // A put that takes the memtable over 3/4: the actor freezes and flushes it (table 4, the
  // first table rename), then merges the four tables (its output: the second).
  const trigger = record(model, "trigger", val("t", 0, 24_000));
  const triggered = first.put("trigger", trigger.value!).then(() => void (trigger.acked = true), () => {});
  let tableRenames = 0;
  let manifestTmp: unknown;
  watchUntilCrash(p, (e, crashAfter) => {
    if (e.op === "rename" && /\/tables\/\d+\.sst\.tmp$/.test(String(e.from))) tableRenames++;
    else if (tableRenames === 2 && e.op === "open" && String(e.path).endsWith("/db/MANIFEST.tmp")) manifestTmp = e.handle;
    else if (manifestTmp !== undefined && e.op === "resize" && e.handle === manifestTmp) crashAfter(2); // its fdatasync, its rename
  });
  await bounded(triggered);
  await bounded(first.close());
  const last = lastEvent();
  assert.ok(last.op === "rename" && String(last.to) === `${dir}/MANIFEST`, `the kill came right after the merge's MANIFEST rename, not at ${JSON.stringify(last)}`);
  return { p, dir, options, model };
}

test("kill -9 right after a merge's MANIFEST rename, a restart, then a power loss: every acknowledged write reads (the restart makes that MANIFEST's name durable before deleting the tables it no longer names)", async () => {
  const { p, dir, options, model } = await killedAfterMergeManifestRename();
  await restartThenPowerLoss(p, dir, options, model);
});

// The same kill; the restart deletes the merge's inputs (a DELETING note, the unlinks, an
// fsync of tables/) and the power fails right then, before anything else fsyncs <dir>
// (the group log's open does, as a side effect). Without open's own fsync of <dir> after
// it read the MANIFEST, the old MANIFEST is back, naming four deleted tables; the test
// above lets the restart run to its close, whose later fsyncs of <dir> hid that (mutation
// review of the sync call sites, 2026-12-08: removing that fsync failed no test).
test("kill -9 right after a merge's MANIFEST rename, a restart that deletes the merge's inputs, the power fails at once: the MANIFEST read names only tables that are there", async () => {
  const { p, dir, options, model } = await killedAfterMergeManifestRename();
  restartAfterKill();
  let tablesUnlinked = 0;
  const restart = powerFailsAfter(p, (method, args) => {
    if (method === "unlink" && /\/tables\/\d+\.sst$/.test(String(args[0]))) tablesUnlinked++;
    return method === "fsyncDir" && String(args[0]) === `${dir}/tables` && tablesUnlinked > 0;
  });
  const second: Database | Error = await bindDatabaseApi(restart).open(dir, options).catch((error) => error as Error);
  if (!(second instanceof Error)) {
    await bounded(second.close());
    assert.unreachable("the restart's open went on past the deletion of the merge's inputs");
    return;
  }
  assert.ok(p.crashed, `the restart failed before the power did: ${second.message}`);
  const reopened = await open(dir, options);
  try {
    const problems = problemsOf(reopened, model);
    assert.ok(problems.length === 0, `after the kill, the restart's deletions and the power loss: ${problems.length} wrong: ${problems.slice(0, 4).join("; ")}`);
  } finally {
    await reopened.close();
  }
});

// The durability worker rotates to a new segment: `<name>.creating`, header and zeros,
// fdatasync, rename to `<name>`, fsync wal/. The process is killed right after the rename.
// The restart's log recovery finds that segment last and continues it (SegmentWriter.open
// syncs its data, "what a killed writer left in the page cache is part of the log from now
// on", but never fsyncs wal/, which would make its name durable). The restart's put is
// written there, fdatasynced and acknowledged. The power fails: the segment's entry was
// never made durable, so the segment is gone, and recovery finds a log that ends cleanly
// at the previous segment's end (R6): the acknowledged put is silently lost. The same
// holds for a new database's first segment. Seen failing in Node, Bun and Deno.
test("kill -9 right after a WAL segment's rename, a restart that writes into that segment, then a power loss: the restart's acknowledged put reads (the segment's name is made durable before it is continued)", async () => {
  // Template: 1.75 MiB of group WAL in 2 MiB segments (16 MiB memtables: no flush).
  const options = { ...BASE, memtableBytesMax: 16 * 1024 * 1024, walSegmentBytesMax: 2 * 1024 * 1024 };
  const root = tempDir();
  const dir = `${root}/db`;
  platform.mkdir(dir);
  const model: Model = new Map();
  {
    const db = await open(dir, options);
    for (let i = 0; i < 7; i++) await put(db, model, `w${i}`, val("w", i, 256 * 1024));
    await db.close();
  }
  const p = withPowerLoss(platform, root, { seed: 11, unsynced: "drop", entries: "fsynced" });
  journalBuffer = p.journalBuffer;
  // The log's fdatasyncs sleep 100 ms first: after each write to the new segment, its
  // fdatasync and its rename are 2 operations on, and this thread sets the crash there.
  const first = await bindDatabaseApi(p).open(dir, { ...options, faults: { groupLog: { syncDelayMs: 100 } } });
  const rotating = record(model, "rotating", val("r", 0, 512 * 1024));
  const written = first.put("rotating", rotating.value!).then(() => void (rotating.acked = true), () => {});
  let creating: { path: string; handle: unknown } | undefined;
  watchUntilCrash(p, (e, crashAfter) => {
    if (e.op === "open" && String(e.path).endsWith(".creating")) creating = { path: String(e.path), handle: e.handle };
    else if (creating && e.op === "resize" && e.handle === creating.handle) crashAfter(2);
  });
  await bounded(written);
  await bounded(first.close());
  const last = lastEvent();
  assert.ok(last.op === "rename" && String(last.from) === creating?.path, `the kill came right after the new segment's rename, not at ${JSON.stringify(last)}`);
  await restartThenPowerLoss(p, dir, options, model);
});

// A process creates the database's directory and is killed before it fsyncs the parent
// (makeDirDurable: mkdir, then fsync of the parent). The restart finds the directory in
// the page cache and took it as durable: it wrote the database into it, acknowledged a
// put, and the power loss took the whole directory, the put with it.
test("kill -9 right after the database directory's mkdir, a restart, then a power loss: the restart's acknowledged put reads (open makes the directory's own entry durable)", async () => {
  const root = tempDir();
  const dir = `${root}/db`;
  const model: Model = new Map();
  const p = withPowerLoss(platform, root, { seed: 12, unsynced: "drop", entries: "fsynced" });
  p.mkdir(dir); // the dead process's mkdir: in the page cache, never fsynced into root
  await putAfterRestartThenPowerLoss(p, dir, BASE, model);
});

test.run();
