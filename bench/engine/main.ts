/**
 * bench/engine: the database (open/put/get/scan, src/engine) in the runtime running this
 * file. Every key is 16 random bytes, every value 100 bytes (bench/lib/data.ts, the
 * harness's seeds), default options (4 shards) unless a row says otherwise.
 *
 * - put, durability "async", one thread: ns/op as `await db.put` in a loop, and as a loop
 *   that does not await (every put fired, then the last one awaited); target <= 500 ns/op;
 *   the share of puts that took the fast path (the rest went to the shard's actor);
 * - durable put (durability "full"): puts per second with 1, 16 and 256 in flight, with
 *   p50/p99 per put and WAL records per fdatasync (db.stats().wal);
 * - the channel path (`fastWrite: false`): one put at a time, awaited, p50/p99, async and full;
 *   and 256 awaited puts in flight: puts/s and p50/p99;
 * - one change-feed subscriber (in a worker, reading every event): async puts/s (256 in
 *   flight) with it, divided by without;
 * - get hit and miss, ns/op over a whole loop and p50/p99 of individually timed gets, on
 *   two databases, each after db.flush() and after waiting (polling stats, with a limit)
 *   until no frozen memtable is left: one with few enough keys for its 4 MiB memtables,
 *   one with 1 MiB memtables and enough keys that nearly all of them are in table files.
 *   For each: block-cache lookups per get, and the share of sampled hits that read a table
 *   block (the block cache's counters in db.stats() around each get);
 * - scan: rows per second over 10,000-row scans, on both of those databases;
 * - puts/s from 2 worker threads at once against 1 (bench/harness/put-worker.ts);
 * - memory: RSS growth of this process for 1 million keys (async puts, then db.flush()
 *   and the memtable flushes), with the memtable, table and Wasm memory bytes;
 * - RSS of databases opened and closed, in a process of its own running the package entry
 *   (bench/engine/rss.mjs): per database held open (10 at once), after 100 open/close
 *   cycles, after closing the 10, and once the pool's idle threads retired.
 *
 * Every database is opened in a fresh directory under one temporary root, closed and
 * removed after its measurement; the root is removed at the end. A full run takes about
 * 40 s per runtime on the 2-core development VM, --quick about 10 s (its figures mean little).
 *
 * Prints a readable table and `SHARDLINE-BENCH {json}`. usage: <runtime> bench/engine/main.ts [--quick]
 */
import { spawnSync } from "node:child_process";
import process from "node:process";
import { bindDatabaseApi, type Database, type DatabaseOptions } from "../../src/engine/public.ts";
import { timerCostNs } from "../harness/measure.ts";
import { compareBytes, randomKeys, rng, shuffled, ValuePool } from "../lib/data.ts";
import { currentPlatform } from "../lib/platform.ts";
import { median, percentile } from "../lib/timing.ts";
import { SEEDS } from "../workloads/bench-data.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import type { SubscriberResult } from "./subscriber-worker.ts";
import { workersRound } from "./workers.ts";

const args = "Deno" in globalThis ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args : process.argv.slice(2);
const quick = args.includes("--quick");
const platform = await currentPlatform();
const { open } = bindDatabaseApi(platform);

const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const MIB = 1 << 20;
const SIZES = {
  /** Puts per round of the one-thread async put (rounds: with more than one, the first is a discarded warm-up). */
  putCount: quick ? 10_000 : 100_000,
  putRounds: quick ? 1 : 4,
  /** A put loop that runs longer stops (checked every 256 puts); its ns/op is over the puts it did. */
  putCapMs: quick ? 1_000 : 4_000,
  /** How long each in-flight depth of durable puts runs. */
  durableMs: quick ? 100 : 2_000,
  /**
   * Pairs of subscriber phases (one without, one with), each phase's measured puts and
   * warm-up puts before them, and the memtables of each phase's database: large enough
   * that no phase flushes (80,000 puts of these sizes take about 3.5 MiB of each of the 4
   * shards' memtables).
   */
  subscriberPairs: quick ? 1 : 8,
  subscriberPhasePuts: quick ? 2_000 : 60_000,
  subscriberWarmupPuts: quick ? 2_000 : 20_000,
  subscriberMemtableBytes: 16 * MIB,
  /** Awaited puts on the channel path, per durability. */
  channelSamples: quick ? 100 : 2_000,
  /**
   * Channel-path puts before those measured, on the same database: a fresh database's
   * first ~2,000 channel puts took twice as long as later ones (p50 87-95 µs against ~44 µs
   * in Node; scratch, 2026-12-06): both threads' code not yet optimised, and the memtable's
   * and the rings' first pages mapped (~12 µs a page on this VM: docs/PERFORMANCE.md).
   */
  channelWarmupPuts: quick ? 50 : 2_000,
  /** Keys of the read database sized to fit its (default, 4 MiB) memtables. */
  memtableKeys: quick ? 5_000 : 50_000,
  /** Keys of the table read database, and its memtable size per shard. */
  tableKeys: quick ? 20_000 : 200_000,
  tableMemtableBytes: quick ? MIB / 4 : MIB,
  /** Gets timed as a whole loop, and individually timed gets for p50/p99. */
  getCount: quick ? 20_000 : 200_000,
  getSamples: quick ? 2_000 : 20_000,
  /** Hit gets checked one by one for whether they read a table (db.stats() around each). */
  fromTablesSample: quick ? 200 : 1_000,
  scanRows: 10_000,
  scans: quick ? 2 : 20,
  /** Puts per worker, and rounds (1 and 2 workers each; the figure is the median). */
  workerPutsEach: quick ? 2_000 : 100_000,
  workerRounds: quick ? 1 : 3,
  memoryKeys: quick ? 10_000 : 1_000_000,
  /** Longest wait for memtable flushes to finish. */
  settleLimitMs: 30_000,
};
const PUT_TARGET_NS = 500;
/** Awaited puts into each put database before the timed loop. */
const WARM_PUTS = quick ? 1_000 : 5_000;

const root = platform.makeTempDir("shardline-bench-engine-");
const values = new ValuePool(VALUE_BYTES, SEEDS.values);
let dirs = 0;

/** Opens a database in a fresh directory, runs `body` on it, then closes it and removes the directory. */
async function fresh<T>(name: string, options: DatabaseOptions, body: (db: Database) => Promise<T>): Promise<T> {
  const dir = `${root}/${name}-${dirs++}`;
  const db = await open(dir, options);
  try {
    return await body(db);
  } finally {
    await db.close();
    platform.removeAll(dir);
  }
}

/** The largest of `xs` (no spread: JavaScriptCore caps arguments at 64 Ki). */
function maxOf(xs: readonly number[]): number {
  let m = 0;
  for (const x of xs) if (x > m) m = x;
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Layout {
  tables: number;
  tableBytes: number;
  memtableBytes: number;
  frozenMemtables: number;
  flushes: number;
  shardsWithTables: number;
}

function layout(db: Database): Layout {
  const s = db.stats();
  return {
    tables: s.shards.reduce((n, x) => n + x.tables, 0),
    tableBytes: s.shards.reduce((n, x) => n + x.tableBytes, 0),
    memtableBytes: s.shards.reduce((n, x) => n + x.memtableBytesUsed, 0),
    frozenMemtables: s.shards.reduce((n, x) => n + x.frozenMemtables, 0),
    flushes: s.flushes,
    shardsWithTables: s.shards.filter((x) => x.tables > 0).length,
  };
}

/** Waits (polling stats) until no shard has a frozen memtable waiting for its flush; false if it gave up. */
async function settle(db: Database): Promise<{ settled: boolean; waitedMs: number }> {
  const t = performance.now();
  while (layout(db).frozenMemtables > 0) {
    if (performance.now() - t > SIZES.settleLimitMs) return { settled: false, waitedMs: performance.now() - t };
    await sleep(10);
  }
  return { settled: true, waitedMs: performance.now() - t };
}

function blockLookups(db: Database): number {
  const c = db.stats().blockCache as { hits: number; misses: number };
  return c.hits + c.misses;
}

function paths(db: Database): { fast: number; channel: number } {
  const p = db.stats().paths.thisHandle;
  return { fast: p.fast, channel: p.channel };
}

/** Writes keys[0..n) with awaited async puts (loading a read database). */
async function load(db: Database, keys: readonly Uint8Array[]): Promise<void> {
  for (let i = 0; i < keys.length; i++) await db.put(keys[i], values.at(i));
  await db.flush();
}

// ---- 1. put, durability "async", one thread ---------------------------------------------

interface PutFigures {
  count: number;
  /** `for (...) await db.put(k, v)` */
  awaitNsPerOp: number;
  /** `for (...) p = db.put(k, v)` then `await p` (the last one) */
  fireNsPerOp: number;
  /** the same loop, until every put of it had resolved */
  fireAllSettledNsPerOp: number;
  /** Share of the puts that took the fast path (the rest: the channel, e.g. while a memtable was full). */
  awaitFastShare: number;
  fireFastShare: number;
  /** Memtable flushes during a round (median). */
  flushesPerRound: number;
  /** Rounds stopped at SIZES.putCapMs (their ns/op is over the puts done). */
  cappedRounds: string[];
  targetNs: number;
  awaitMet: boolean;
  fireMet: boolean;
}

async function asyncPuts(): Promise<PutFigures> {
  const n = SIZES.putCount;
  const keys = randomKeys(n, KEY_BYTES, SEEDS.putKeys);
  const awaited: number[] = [];
  const fired: number[] = [];
  const settled: number[] = [];
  const awaitFast: number[] = [];
  const fireFast: number[] = [];
  const flushes: number[] = [];
  /** Rounds that stopped at the time cap, and how far they got. */
  const capped: string[] = [];
  const pending: Array<Promise<bigint>> = new Array(n);
  // Both variants start after the same awaited warm-up puts (other keys) in their database,
  // past a fresh database's first memtable freezes (a channel write in flight sends the
  // shard's later writes to the channel too, which a loop that never yields never ends).
  const warm = randomKeys(WARM_PUTS, KEY_BYTES, SEEDS.putKeys + 500);
  const warmUp = async (db: Database) => {
    for (let i = 0; i < warm.length; i++) await db.put(warm[i], values.at(n + i));
    await db.flush();
    return paths(db);
  };
  const share = (db: Database, before: { fast: number; channel: number }) => {
    const p = paths(db);
    return (p.fast - before.fast) / Math.max(1, p.fast - before.fast + p.channel - before.channel);
  };
  for (let round = 0; round < SIZES.putRounds; round++) {
    const measured = round > 0 || SIZES.putRounds === 1; // round 0 warms up
    await fresh("put-await", { durability: "async" }, async (db) => {
      const before = await warmUp(db);
      const t = performance.now();
      const deadline = t + SIZES.putCapMs;
      let i = 0;
      while (i < n) {
        const end = Math.min(n, i + 256);
        for (; i < end; i++) await db.put(keys[i], values.at(i));
        if (performance.now() > deadline) break;
      }
      const ms = performance.now() - t;
      if (measured) {
        awaited.push((ms * 1e6) / i);
        awaitFast.push(share(db, before));
        flushes.push(layout(db).flushes);
        if (i < n) capped.push(`awaited: ${i} of ${n}`);
      }
    });
    await fresh("put-fire", { durability: "async" }, async (db) => {
      const before = await warmUp(db);
      const t = performance.now();
      const deadline = t + SIZES.putCapMs;
      let i = 0;
      while (i < n) {
        const end = Math.min(n, i + 256);
        for (; i < end; i++) pending[i] = db.put(keys[i], values.at(i));
        if (performance.now() > deadline) break;
      }
      await pending[i - 1];
      const ms = performance.now() - t;
      await Promise.all(pending.slice(0, i));
      const all = performance.now() - t;
      if (measured) {
        fired.push((ms * 1e6) / i);
        settled.push((all * 1e6) / i);
        fireFast.push(share(db, before));
        if (i < n) capped.push(`not awaited: ${i} of ${n}`);
      }
    });
  }
  pending.fill(undefined as unknown as Promise<bigint>);
  const awaitNsPerOp = median(awaited);
  const fireNsPerOp = median(fired);
  return {
    count: n,
    awaitNsPerOp,
    fireNsPerOp,
    fireAllSettledNsPerOp: median(settled),
    awaitFastShare: median(awaitFast),
    fireFastShare: median(fireFast),
    flushesPerRound: median(flushes),
    cappedRounds: capped,
    targetNs: PUT_TARGET_NS,
    awaitMet: awaitNsPerOp <= PUT_TARGET_NS,
    fireMet: fireNsPerOp <= PUT_TARGET_NS,
  };
}

// ---- 2. durable puts with 1, 16, 256 in flight -------------------------------------------

interface DurableFigures {
  perSecond: number;
  p50Us: number;
  p99Us: number;
  /** The slowest put. */
  maxUs: number;
  puts: number;
  /** Group WAL fdatasyncs during the run, and group WAL records per sync (db.stats().wal). */
  syncs: number;
  recordsPerSync: number;
  /**
   * Puts acknowledged per group WAL sync. Differs from recordsPerSync when puts take the
   * channel path: the actor logs a group of them in its partition logs and puts one marker
   * record in the group WAL.
   */
  putsPerSync: number;
  /** Share of the puts that took the fast path (the rest: the channel). */
  fastShare: number;
}

async function durable(depth: number, keys: readonly Uint8Array[]): Promise<DurableFigures> {
  return fresh(`durable-${depth}`, { durability: "full" }, async (db) => {
    for (let i = 0; i < 50; i++) await db.put(keys[i], values.at(i)); // warm up
    const before = db.stats().wal;
    const pathsBefore = paths(db);
    const started = performance.now();
    const latencies = await lanes(db, depth, keys, SIZES.durableMs);
    const seconds = (performance.now() - started) / 1000;
    const after = db.stats().wal;
    const syncs = after.syncs - before.syncs;
    const p = paths(db);
    const fast = p.fast - pathsBefore.fast;
    return {
      perSecond: latencies.length / seconds,
      p50Us: median(latencies),
      p99Us: percentile(latencies, 99),
      maxUs: maxOf(latencies),
      puts: latencies.length,
      syncs,
      recordsPerSync: (after.syncedRecords - before.syncedRecords) / Math.max(1, syncs),
      putsPerSync: latencies.length / Math.max(1, syncs),
      fastShare: fast / Math.max(1, fast + p.channel - pathsBefore.channel),
    };
  });
}

// ---- 3. the channel path --------------------------------------------------------------

interface ChannelFigures {
  p50Us: number;
  p99Us: number;
  maxUs: number;
  samples: number;
  /** Puts this handle sent over the channel (should be all of them). */
  channelShare: number;
}

async function channelPath(durability: "async" | "full", keys: readonly Uint8Array[]): Promise<ChannelFigures> {
  return fresh(`channel-${durability}`, { durability, fastWrite: false }, async (db) => {
    for (let i = 0; i < SIZES.channelWarmupPuts; i++) await db.put(keys[i % keys.length], values.at(i)); // warm up
    const samples: number[] = [];
    for (let i = 0; i < SIZES.channelSamples; i++) {
      const k = (SIZES.channelWarmupPuts + i) % keys.length;
      const t = performance.now();
      await db.put(keys[k], values.at(k));
      samples.push((performance.now() - t) * 1000);
    }
    const p = paths(db);
    return { p50Us: median(samples), p99Us: percentile(samples, 99), maxUs: maxOf(samples), samples: samples.length, channelShare: p.channel / (p.fast + p.channel) };
  });
}

/** Puts per second on the channel path (`fastWrite: false`) with `depth` awaited puts in flight, and their p50. */
async function channelInFlight(durability: "async" | "full", depth: number, keys: readonly Uint8Array[]): Promise<{ perSecond: number; p50Us: number; p99Us: number }> {
  return fresh(`channel-${durability}-${depth}`, { durability, fastWrite: false }, async (db) => {
    for (let i = 0; i < SIZES.channelWarmupPuts; i++) await db.put(keys[i % keys.length], values.at(i)); // warm up
    const started = performance.now();
    const latencies = await lanes(db, depth, keys, SIZES.durableMs);
    return { perSecond: latencies.length / ((performance.now() - started) / 1000), p50Us: median(latencies), p99Us: percentile(latencies, 99) };
  });
}

/** `count` puts in `depth` lanes of awaited puts; returns `count`. */
async function putsInLanes(db: Database, depth: number, keys: readonly Uint8Array[], count: number, firstKey = 0): Promise<number> {
  let next = firstKey;
  const end = firstKey + count;
  async function lane(): Promise<void> {
    while (next < end) {
      const i = next++ % keys.length;
      await db.put(keys[i], values.at(i));
    }
  }
  await Promise.all(Array.from({ length: depth }, lane));
  return count;
}

/** `depth` lanes of awaited puts for `ms`: every put's latency in µs. */
async function lanes(db: Database, depth: number, keys: readonly Uint8Array[], ms: number): Promise<number[]> {
  const latencies: number[] = [];
  let next = 0;
  const deadline = performance.now() + ms;
  async function lane(): Promise<void> {
    while (performance.now() < deadline) {
      const i = next++ % keys.length;
      const t = performance.now();
      await db.put(keys[i], values.at(i));
      latencies.push((performance.now() - t) * 1000);
    }
  }
  await Promise.all(Array.from({ length: depth }, lane));
  return latencies;
}

interface SubscriberFigures {
  /** Median puts/s of the phases without a subscriber. */
  withoutPerSecond: number;
  /** Median puts/s of the phases with one. */
  withPerSecond: number;
  /** Median over the pairs of (with / without) (issue 10's target: at least 0.8). */
  ratio: number;
  /** Each pair's with / without, in order. */
  pairRatios: number[];
  /** Each phase's puts/s, in the order run (pairs alternate: without, with; with, without; ...). */
  phasesPerSecond: number[];
  /** Events the subscribers read: every put of their phases, checked. */
  eventsRead: number;
  /** The longest wait, after a phase's puts, for its subscriber to read the last event. */
  catchUpMsMax: number;
}

/**
 * Async puts/s, 256 awaited in flight, SIZES.subscriberPhasePuts puts a phase, in
 * SIZES.subscriberPairs pairs of phases: one without a subscriber and one with, the order
 * alternating from pair to pair (without then with, with then without, ...) so that a drift
 * over the run (the collector, the other threads' share of 2 cores) favours neither side.
 * Each pair gives with / without; the figure is the median of those ratios. Every phase
 * runs in a database of its own, opened for it: its memtables start empty and hold the whole
 * phase, and no flush or compaction of an earlier phase runs during it. (When the phases
 * shared one database, its memtables filled every other phase or so; those phases ran
 * flushes, compactions and channel-path puts, at 45,000–120,000 puts/s against
 * 260,000–420,000 for the others, with or without a subscriber, and the ratio ranged from
 * 0.5 to 1.4 from run to run.) The subscriber is a worker thread reading every event (it
 * reads the group WAL; writers keep their path): a thread whose puts all resolve at once
 * (the fast path under "async") never yields to its event loop, so a subscriber on it would
 * read nothing until the phase ended. A "with" phase counts only when its subscriber read
 * every one of the phase's puts.
 */
async function subscriberRatio(keys: readonly Uint8Array[]): Promise<SubscriberFigures> {
  const options = { durability: "async", memtableBytesMax: SIZES.subscriberMemtableBytes } as const;
  // Before the measured puts, a warm-up (the same in both phases) that a subscriber reads in
  // full: what is measured is a subscriber that is running, not one starting (its worker's
  // modules compiled and its reading code optimised on one of the 2 cores, during the puts).
  const phase = async (db: Database, caughtUp: (events: number) => Promise<void>) => {
    await putsInLanes(db, 256, keys, SIZES.subscriberWarmupPuts);
    await db.flush();
    await caughtUp(SIZES.subscriberWarmupPuts);
    const t = performance.now();
    const n = await putsInLanes(db, 256, keys, SIZES.subscriberPhasePuts, SIZES.subscriberWarmupPuts);
    const perSecond = n / ((performance.now() - t) / 1000);
    const stats = db.stats();
    if (stats.flushes > 0) throw new Error(`a subscriber phase flushed ${stats.flushes} memtables: SIZES.subscriberMemtableBytes is too small for its puts`);
    return { puts: n, perSecond };
  };
  let eventsRead = 0;
  let catchUpMsMax = 0;
  const without = () => fresh("subscriber-without", options, (db) => phase(db, async () => {}));
  const withSubscriber = () =>
    fresh("subscriber-with", options, async (db) => {
      const handle = db.share();
      const counters = new Int32Array(new SharedArrayBuffer(8));
      const subscriber = runModuleInWorker(platform, {
        module: handle.module,
        memory: handle.memory,
        url: new URL("./subscriber-worker.ts", import.meta.url).href,
        exportName: "readEveryEvent",
        data: { handle, counters },
      }) as Promise<SubscriberResult>;
      while (db.get("bench/subscribed") === undefined) await sleep(1);
      // Its events: its own "bench/subscribed", the warm-up, the phase's puts, and "bench/caught-up".
      const during = await phase(db, async (warmup) => {
        while (Atomics.load(counters, 1) < 1 + warmup) await sleep(1);
      });
      const t = performance.now();
      const events = 1 + SIZES.subscriberWarmupPuts + during.puts + 1;
      Atomics.store(counters, 0, events);
      await db.put("bench/caught-up", "1"); // the one more event that wakes a waiting next()
      const result = await subscriber;
      catchUpMsMax = Math.max(catchUpMsMax, performance.now() - t);
      if (result.eventsRead !== events) throw new Error(`the subscriber read ${result.eventsRead} events of ${events}`);
      eventsRead += result.eventsRead;
      return during;
    });
  const withouts: number[] = [];
  const withs: number[] = [];
  const pairRatios: number[] = [];
  const phasesPerSecond: number[] = [];
  for (let pair = 0; pair < SIZES.subscriberPairs; pair++) {
    let withoutOne: number;
    let withOne: number;
    if (pair % 2 === 0) {
      withoutOne = (await without()).perSecond;
      withOne = (await withSubscriber()).perSecond;
      phasesPerSecond.push(withoutOne, withOne);
    } else {
      withOne = (await withSubscriber()).perSecond;
      withoutOne = (await without()).perSecond;
      phasesPerSecond.push(withOne, withoutOne);
    }
    withouts.push(withoutOne);
    withs.push(withOne);
    pairRatios.push(withOne / withoutOne);
  }
  return { withoutPerSecond: median(withouts), withPerSecond: median(withs), ratio: median(pairRatios), pairRatios, phasesPerSecond, eventsRead, catchUpMsMax };
}

// ---- 4, 5. get and scan ----------------------------------------------------------------

interface GetFigures {
  /** Whole-loop time per get. */
  nsPerOp: number;
  /** Individually timed gets (each includes one performance.now() pair). */
  p50Ns: number;
  p99Ns: number;
  /** Block-cache lookups per get: > 0 means the get read table blocks. */
  blockLookupsPerGet: number;
}

interface ScanFigures {
  rowsPerSecond: number;
  rowsPerScan: number;
  scans: number;
  scanP50Ms: number;
}

interface ReadFigures {
  keys: number;
  memtableBytesMax: number;
  layout: Layout;
  settled: boolean;
  settleWaitMs: number;
  /**
   * Share of hit gets (a sample, outside the timed loops) that read a table block: the
   * block cache counted a lookup during that get (a key found in a memtable skips the
   * tables, and bloom filters skip tables without it).
   */
  hitsFromTablesShare: number;
  hitsSampled: number;
  hit: GetFigures;
  miss: GetFigures;
  scan: ScanFigures;
}

function timeGets(db: Database, keys: readonly Uint8Array[], expectHit: boolean): GetFigures {
  const n = SIZES.getCount;
  let found = 0;
  for (let i = 0; i < Math.min(n, 2_000); i++) if (db.get(keys[i % keys.length]) !== undefined) found++; // warm up
  found = 0;
  const lookups0 = blockLookups(db);
  const t = performance.now();
  for (let i = 0; i < n; i++) if (db.get(keys[i % keys.length]) !== undefined) found++;
  const ms = performance.now() - t;
  const lookups = blockLookups(db) - lookups0;
  if (found !== (expectHit ? n : 0)) throw new Error(`${expectHit ? "hits" : "misses"}: ${found} of ${n} gets found a value`);
  const samples: number[] = new Array(SIZES.getSamples);
  for (let i = 0; i < samples.length; i++) {
    const key = keys[(i * 7919) % keys.length];
    const s = performance.now();
    db.get(key);
    samples[i] = (performance.now() - s) * 1e6;
  }
  return { nsPerOp: (ms * 1e6) / n, p50Ns: median(samples), p99Ns: percentile(samples, 99), blockLookupsPerGet: lookups / n };
}

function timeScans(db: Database, sortedKeys: readonly Uint8Array[]): ScanFigures {
  const rows = SIZES.scanRows;
  const room = Math.max(1, sortedKeys.length - rows);
  const next = rng(SEEDS.scanStarts);
  const run = (gte: Uint8Array) => {
    let n = 0;
    let bytes = 0;
    for (const [, v] of db.scan({ gte, limit: rows })) {
      bytes += v.length;
      n++;
    }
    if (bytes !== n * VALUE_BYTES) throw new Error("scan: a value of the wrong size");
    return n;
  };
  run(sortedKeys[0]); // warm up
  const perScan: number[] = [];
  let total = 0;
  const t = performance.now();
  for (let s = 0; s < SIZES.scans; s++) {
    const st = performance.now();
    total += run(sortedKeys[next() % room]);
    perScan.push(performance.now() - st);
  }
  const ms = performance.now() - t;
  return { rowsPerSecond: total / (ms / 1000), rowsPerScan: total / SIZES.scans, scans: SIZES.scans, scanP50Ms: median(perScan) };
}

/** Gets `sample` keys one by one, reading the block cache's counters around each. */
function tableServedShare(db: Database, keys: readonly Uint8Array[], sample: number): number {
  let fromTables = 0;
  for (let i = 0; i < sample; i++) {
    const before = blockLookups(db);
    db.get(keys[(i * 104_729) % keys.length]);
    if (blockLookups(db) > before) fromTables++;
  }
  return fromTables / sample;
}

async function reads(kind: "memtable" | "tables"): Promise<ReadFigures> {
  const count = kind === "memtable" ? SIZES.memtableKeys : SIZES.tableKeys;
  const memtableBytesMax = kind === "memtable" ? 4 * MIB : SIZES.tableMemtableBytes;
  const keys = randomKeys(count, KEY_BYTES, SEEDS.readKeys);
  const misses = randomKeys(Math.min(count, 50_000), KEY_BYTES, SEEDS.missKeys);
  return fresh(`reads-${kind}`, { durability: "async", memtableBytesMax }, async (db) => {
    await load(db, keys);
    const { settled, waitedMs } = await settle(db);
    const l = layout(db);
    const hitOrder = shuffled(keys, SEEDS.getOrder);
    const hit = timeGets(db, hitOrder, true);
    const miss = timeGets(db, misses, false);
    const scan = timeScans(db, [...keys].sort(compareBytes));
    const hitsSampled = Math.min(count, SIZES.fromTablesSample);
    const hitsFromTablesShare = tableServedShare(db, hitOrder, hitsSampled);
    return { keys: count, memtableBytesMax, layout: l, settled, settleWaitMs: waitedMs, hitsFromTablesShare, hitsSampled, hit, miss, scan };
  });
}

// ---- 6. workers ------------------------------------------------------------------------

async function workers(): Promise<{ putsEach: number; rounds: number; oneWorkerPerSecond: number; twoWorkersPerSecond: number; ratio: number }> {
  const one: number[] = [];
  const two: number[] = [];
  const capMs = 120_000;
  for (let r = 0; r < SIZES.workerRounds; r++) {
    one.push((await fresh("workers-1", { durability: "async" }, (db) => workersRound(db, 1, SIZES.workerPutsEach, capMs))).opsPerSecond);
    two.push((await fresh("workers-2", { durability: "async" }, (db) => workersRound(db, 2, SIZES.workerPutsEach, capMs))).opsPerSecond);
  }
  const oneWorkerPerSecond = median(one);
  const twoWorkersPerSecond = median(two);
  return { putsEach: SIZES.workerPutsEach, rounds: SIZES.workerRounds, oneWorkerPerSecond, twoWorkersPerSecond, ratio: twoWorkersPerSecond / oneWorkerPerSecond };
}

// ---- 7. memory -------------------------------------------------------------------------

interface MemoryFigures {
  keys: number;
  rssBeforeBytes: number;
  /** RSS after open, before any put, minus before. */
  rssOpenBytes: number;
  /** RSS after the puts, db.flush() and the memtable flushes, minus before open. */
  rssDeltaBytes: number;
  rssDeltaPerKeyBytes: number;
  heapUsedDeltaBytes: number;
  memtableBytes: number;
  tableBytes: number;
  tables: number;
  wasmMemoryBytes: number;
  settled: boolean;
  putNsPerOp: number;
}

async function memory(): Promise<MemoryFigures> {
  const n = SIZES.memoryKeys;
  const rssBefore = process.memoryUsage().rss;
  const heapBefore = process.memoryUsage().heapUsed;
  return fresh("memory", { durability: "async" }, async (db) => {
    const rssOpen = process.memoryUsage().rss;
    // Keys made one at a time (randomKeys' sequence), so no million-key array is in the figure.
    const next = rng(SEEDS.putKeys + 1000);
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      const key = new Uint8Array(KEY_BYTES);
      for (let j = 0; j < KEY_BYTES; j += 4) {
        const r = next();
        key[j] = r & 0xff;
        key[j + 1] = (r >>> 8) & 0xff;
        key[j + 2] = (r >>> 16) & 0xff;
        key[j + 3] = r >>> 24;
      }
      await db.put(key, values.at(i));
    }
    const putMs = performance.now() - t;
    await db.flush();
    const { settled } = await settle(db);
    const usage = process.memoryUsage();
    const l = layout(db);
    return {
      keys: n,
      rssBeforeBytes: rssBefore,
      rssOpenBytes: rssOpen - rssBefore,
      rssDeltaBytes: usage.rss - rssBefore,
      rssDeltaPerKeyBytes: (usage.rss - rssBefore) / n,
      heapUsedDeltaBytes: usage.heapUsed - heapBefore,
      memtableBytes: l.memtableBytes,
      tableBytes: l.tableBytes,
      tables: l.tables,
      wasmMemoryBytes: db.share().memory.buffer.byteLength,
      settled,
      putNsPerOp: (putMs * 1e6) / n,
    };
  });
}

// ---- open and close ----------------------------------------------------------------------

interface OpenCloseFigures {
  cycles: number;
  /** The first open: creates the database, and starts the pool's threads if none are idle. */
  firstOpenMs: number;
  openP50Ms: number;
  openP99Ms: number;
  closeP50Ms: number;
  closeP99Ms: number;
  rssBeforeBytes: number;
  /** RSS after the cycles, less RSS before them (the threads stay pooled; memories are collected lazily). */
  rssDeltaBytes: number;
}

/**
 * Open and close of an empty database, `cycles` times in one directory (so it is a reopen
 * after the first): open and close p50/p99 and RSS before and after. Reported, never
 * asserted: a figure of this machine, its disk (the fsyncs of the lock and the log) and load.
 */
async function openClose(): Promise<OpenCloseFigures> {
  const cycles = quick ? 2 : 100;
  const dir = `${root}/open-close`;
  const rssBefore = process.memoryUsage().rss;
  const openMs: number[] = [];
  const closeMs: number[] = [];
  for (let i = 0; i <= cycles; i++) {
    let t = performance.now();
    const db = await open(dir);
    openMs.push(performance.now() - t);
    t = performance.now();
    await db.close();
    closeMs.push(performance.now() - t);
  }
  const [first, ...opens] = openMs;
  platform.removeAll(dir);
  return {
    cycles,
    firstOpenMs: first,
    openP50Ms: percentile(opens, 50),
    openP99Ms: percentile(opens, 99),
    closeP50Ms: percentile(closeMs.slice(1), 50),
    closeP99Ms: percentile(closeMs.slice(1), 99),
    rssBeforeBytes: rssBefore,
    rssDeltaBytes: process.memoryUsage().rss - rssBefore,
  };
}

// ---- RSS of databases opened and closed, in a process of its own -------------------------

interface RssRun {
  /** Whether the child could force full collections of its main thread before each reading. */
  gc: boolean;
  /** RSS at each reading (bench/engine/rss.mjs), bytes; firstRetired, cyclesRetired and retired not in --quick. */
  readings: Record<string, number>;
  /** RSS at the same moments before the forced collections. */
  unforced: Record<string, number>;
  /** The process's threads at each reading (Linux). */
  threads: Record<string, number | undefined>;
  cycles: number;
  cycleMs: number;
  retireWaitMs: number;
  seconds: number;
}

type RssFigures =
  | ({ status: "ok"; entry: string; perDbBytes: number; perCycleBytes: number } & RssRun)
  | { status: "failed"; entry: string; reason: string };

/**
 * bench/engine/rss.mjs in a new process of this runtime, on the package entry (what an
 * application runs; Node's without the TypeScript loader, which its workers would load
 * too), with the flags that let it force collections. Reported, never asserted.
 */
function rssRun(): RssFigures {
  const repo = new URL("../../", import.meta.url);
  const entries = { node: "dist/node/mod.js", bun: "runtimes/bun/mod.ts", deno: "dist/deno/mod.js" } as const;
  const entry = entries[platform.runtime];
  const script = new URL("./rss.mjs", import.meta.url).pathname;
  const dir = `${root}/rss`;
  platform.mkdir(dir);
  const rest = [script, new URL(entry, repo).href, dir, String(quick ? 2 : 100), String(quick ? 0 : 7_000)];
  const argv = platform.runtime === "node" ? ["--expose-gc", ...rest] : platform.runtime === "deno" ? ["run", "-A", "--v8-flags=--expose-gc", ...rest] : rest;
  const child = spawnSync(process.execPath, argv, { encoding: "utf8", timeout: 5 * 60_000 });
  platform.removeAll(dir);
  const line = child.stdout?.split("\n").find((l) => l.startsWith("SHARDLINE-RSS "));
  if (child.status !== 0 || !line) {
    return { status: "failed", entry, reason: `exited with ${child.status ?? child.signal}: ${(child.stderr ?? "").trim().split("\n").slice(-3).join(" | ")}` };
  }
  const run = JSON.parse(line.slice("SHARDLINE-RSS ".length)) as RssRun;
  const x = run.readings;
  return { status: "ok", entry, ...run, perDbBytes: (x.open10 - x.open1) / 9, perCycleBytes: (x.cycles - x.first) / run.cycles };
}

// ---- the run ---------------------------------------------------------------------------

const started = performance.now();
/** Wall time of each part, seconds. */
const sectionSeconds: Record<string, number> = {};
async function section<T>(name: string, body: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await body();
  } finally {
    sectionSeconds[name] = (performance.now() - t) / 1000;
  }
}
let results;
const durableKeys = randomKeys(quick ? 20_000 : 200_000, KEY_BYTES, SEEDS.durableKeys);
/** Each part of the run, in the order a full run takes them (memory first, while the process has allocated the least). */
const parts = {
  memory,
  openClose,
  rss: async () => rssRun(),
  put: asyncPuts,
  durable: async () => {
    const inFlight: Record<string, DurableFigures> = {};
    for (const depth of [1, 16, 256]) inFlight[depth] = await durable(depth, durableKeys);
    return inFlight;
  },
  channel: async () => ({ async: await channelPath("async", durableKeys), full: await channelPath("full", durableKeys) }),
  channel256: async () => ({ async: await channelInFlight("async", 256, durableKeys), full: await channelInFlight("full", 256, durableKeys) }),
  subscriber: () => subscriberRatio(durableKeys),
  readsMemtable: () => reads("memtable"),
  readsTables: () => reads("tables"),
  workers,
};
/** `--only=subscriber,channel`: run those parts, print their figures as JSON, write no report (for measuring one change). */
const only = args.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",");
if (only) {
  const unknown = only.filter((name) => !(name in parts));
  if (unknown.length > 0) throw new TypeError(`--only: no part named ${unknown.join(", ")} (parts: ${Object.keys(parts).join(", ")})`);
  try {
    const figures: Record<string, unknown> = {};
    for (const name of only) figures[name] = await section(name, parts[name as keyof typeof parts] as () => Promise<unknown>);
    console.log(JSON.stringify({ runtime: platform.runtime, quick, figures, sectionSeconds }, null, 1));
  } finally {
    platform.removeAll(root);
  }
  process.exit(0);
}
try {
  const mem = await section("memory", parts.memory);
  const openCloseFigures = await section("openClose", parts.openClose);
  const rss = await section("rss", parts.rss);
  const put = await section("put", parts.put);
  const inFlight = await section("durable", parts.durable);
  const channel = await section("channel", parts.channel);
  const channel256 = await section("channel256", parts.channel256);
  const subscriber = await section("subscriber", parts.subscriber);
  const memtableRead = await section("readsMemtable", parts.readsMemtable);
  const tableRead = await section("readsTables", parts.readsTables);
  const w = await section("workers", parts.workers);
  results = {
    runtime: platform.runtime,
    runtimeVersion: platform.runtimeVersion,
    quick,
    sizes: SIZES,
    timerCostNs: timerCostNs(),
    put,
    inFlight,
    channel,
    channel256,
    subscriber,
    reads: { memtable: memtableRead, tables: tableRead },
    workers: w,
    memory: mem,
    openClose: openCloseFigures,
    rss,
    seconds: (performance.now() - started) / 1000,
    sectionSeconds,
  };
} finally {
  platform.removeAll(root);
}

const count = (x: number) => Math.round(x).toLocaleString("en-US");
const us = (x: number) => (x < 10 ? `${x.toFixed(1)} us` : `${x.toFixed(0)} us`);
const ns = (x: number) => `${x.toFixed(0)} ns`;
const mib = (x: number) => `${(x / MIB).toFixed(1)} MiB`;
const pct = (x: number) => `${(x * 100).toFixed(x < 1 && x > 0.999 ? 2 : 1)}%`;
const r = results;
const met = (ok: boolean) => (ok ? "met" : "MISSED");
const readRows = (kind: "memtable" | "tables"): Array<[string, string]> => {
  const x = r.reads[kind];
  const where = `${count(x.keys)} keys, ${mib(x.memtableBytesMax)} memtables, after db.flush() and the memtable flushes: ` +
    `${x.layout.tables} tables (${mib(x.layout.tableBytes)}), ${mib(x.layout.memtableBytes)} in memtables; ` +
    `${pct(x.hitsFromTablesShare)} of ${x.hitsSampled} hits read a table` +
    (x.settled ? "" : `; GAVE UP waiting for ${x.layout.frozenMemtables} frozen memtables`);
  const g = (name: string, f: GetFigures): [string, string] => [
    `  get ${name}: loop / p50 / p99 (block lookups per get)`,
    `${ns(f.nsPerOp)} / ${ns(f.p50Ns)} / ${ns(f.p99Ns)} (${f.blockLookupsPerGet.toFixed(2)})`,
  ];
  return [
    [`reads, ${kind === "memtable" ? "keys sized to fit the memtables" : "keys flushed to table files"}`, where],
    g("hit", x.hit),
    g("miss", x.miss),
    [`  scan, ${count(x.scan.rowsPerScan)}-row scans (${x.scan.scans})`, `${count(x.scan.rowsPerSecond)} rows/s, p50 ${x.scan.scanP50Ms.toFixed(2)} ms per scan`],
  ];
};
const rows: Array<[string, string]> = [
  [`async put, \`await db.put\` each (${count(r.put.count)} puts/round)`, `${ns(r.put.awaitNsPerOp)}/op, ${pct(r.put.awaitFastShare)} fast path; target <= ${PUT_TARGET_NS} ns: ${met(r.put.awaitMet)}`],
  [`async put, fired without await, then await the last`, `${ns(r.put.fireNsPerOp)}/op (all settled ${ns(r.put.fireAllSettledNsPerOp)}), ${pct(r.put.fireFastShare)} fast path; target: ${met(r.put.fireMet)}`],
  ...r.put.cappedRounds.map((c): [string, string] => [`  stopped at the ${SIZES.putCapMs / 1000} s cap`, c]),
  ...[1, 16, 256].map((d): [string, string] => {
    const f = r.inFlight[d];
    return [`durable put ("full"), ${d} in flight`, `${count(f.perSecond)}/s, ${f.recordsPerSync.toFixed(1)} WAL records (${f.putsPerSync.toFixed(1)} puts)/sync, ${pct(f.fastShare)} fast path, p50 ${us(f.p50Us)}, p99 ${us(f.p99Us)}, max ${us(f.maxUs)}`];
  }),
  ...(["async", "full"] as const).map((d): [string, string] => {
    const f = r.channel[d];
    return [`channel path (fastWrite: false), "${d}", one awaited put`, `p50 ${us(f.p50Us)}, p99 ${us(f.p99Us)}, max ${us(f.maxUs)} (${f.samples} puts, ${pct(f.channelShare)} via channel)`];
  }),
  ...(["async", "full"] as const).map((d): [string, string] => {
    const f = r.channel256[d];
    return [`channel path (fastWrite: false), "${d}", 256 in flight`, `${count(f.perSecond)}/s, p50 ${us(f.p50Us)}, p99 ${us(f.p99Us)}`];
  }),
  [`async puts, 256 in flight: one subscriber / none`, `median of ${r.subscriber.pairRatios.length} pairs' with / without: ${r.subscriber.ratio.toFixed(2)} (pairs ${r.subscriber.pairRatios.map((x) => x.toFixed(2)).join(", ")}; medians ${count(r.subscriber.withPerSecond)}/s with, ${count(r.subscriber.withoutPerSecond)}/s without; ${count(r.subscriber.eventsRead)} events read in a worker, caught up ${r.subscriber.catchUpMsMax.toFixed(0)} ms after the puts at most)`],
  ...readRows("memtable"),
  ...readRows("tables"),
  [`async puts from worker threads (${count(r.workers.putsEach)} each)`, `1: ${count(r.workers.oneWorkerPerSecond)}/s, 2: ${count(r.workers.twoWorkersPerSecond)}/s, ratio ${r.workers.ratio.toFixed(2)}x`],
  [`memory, ${count(r.memory.keys)} keys (16 B + 100 B), RSS growth`, `${mib(r.memory.rssDeltaBytes)} (${r.memory.rssDeltaPerKeyBytes.toFixed(0)} B/key; ${mib(r.memory.rssOpenBytes)} of it at open)`],
  [`  memtables / tables / Wasm memory`, `${mib(r.memory.memtableBytes)} / ${mib(r.memory.tableBytes)} (${r.memory.tables} tables) / ${mib(r.memory.wasmMemoryBytes)}${r.memory.settled ? "" : " (flushes NOT settled)"}`],
  [`  those puts, awaited`, `${ns(r.memory.putNsPerOp)}/op`],
  [`open+close of an empty database (${r.openClose.cycles} cycles, one directory)`, `open p50 ${r.openClose.openP50Ms.toFixed(1)} ms, p99 ${r.openClose.openP99Ms.toFixed(1)} ms (first, creating it: ${r.openClose.firstOpenMs.toFixed(0)} ms); close p50 ${r.openClose.closeP50Ms.toFixed(1)} ms, p99 ${r.openClose.closeP99Ms.toFixed(1)} ms`],
  [`  RSS before / after the cycles`, `${mib(r.openClose.rssBeforeBytes)} / ${mib(r.openClose.rssBeforeBytes + r.openClose.rssDeltaBytes)} (${r.openClose.rssDeltaBytes >= 0 ? "+" : ""}${mib(r.openClose.rssDeltaBytes)})`],
  ...rssRows(r.rss),
];
/** The rows of bench/engine/rss.mjs's figures: RSS over its start, after forced collections unless said. */
function rssRows(f: RssFigures): Array<[string, string]> {
  if (f.status !== "ok") return [[`RSS of open and closed databases (${f.entry})`, `FAILED: ${f.reason}`]];
  const x = f.readings;
  const signed = (bytes: number) => `${bytes >= 0 ? "+" : ""}${mib(bytes)}`;
  const over = (name: string) => (x[name] === undefined ? "—" : signed(x[name] - x.start));
  const retired = x.retired === undefined ? "" : `; all threads retired: ${over("retired")} (${over("firstRetired")} after the first alone, ${over("cyclesRetired")} after the cycles)`;
  return [
    [`RSS, own process (${f.entry}${f.gc ? "" : ", NO forced collections"}), start`, `${mib(x.start)}`],
    [`  per database held open (10 at once)`, `${mib(f.perDbBytes)}`],
    [`  over start: first open+close / ${f.cycles} cycles more / 10 closed`, `${over("first")} / ${over("cycles")} (${(f.perCycleBytes / 1024).toFixed(0)} KiB per cycle; ${signed(f.unforced.cycles - x.start)} before the forced collection) / ${over("closed10")}${retired}`],
  ];
}

console.log(`\nbench/engine on ${r.runtime} ${r.runtimeVersion}${quick ? " (quick: figures mean little)" : ""}, ${r.seconds.toFixed(1)} s; performance.now() pair ${r.timerCostNs.toFixed(0)} ns`);
for (const [name, figure] of rows) console.log(`  ${name.padEnd(64)} ${figure}`);
console.log(`  target async put <= ${PUT_TARGET_NS} ns/op from one thread: awaited ${met(r.put.awaitMet)}, not awaited ${met(r.put.fireMet)}`);
console.log(`SHARDLINE-BENCH ${JSON.stringify({ bench: "engine", ...results })}`);
process.exit(0);
