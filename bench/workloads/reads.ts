/**
 * Reads after a flush: each engine (one mode per engine) is loaded with the same keys
 * and values, the fastest way it offers, then flushed (everything durable: where each
 * engine keeps the data then is its own; shardline's memtables hold all of these keys, so
 * its rows read memtables, not tables; bench/engine measures its reads from tables),
 * then measured:
 * - "get-hit": gets of loaded keys in a fixed shuffled order;
 * - "get-miss": gets of keys that were never written;
 * - "scan": reads of scanRows consecutive rows in key order from loaded start keys.
 * Every answer is checked (a hit must return a value of the right size, a miss nothing,
 * a scan exactly scanRows rows); a wrong answer fails the result instead of timing it.
 * - "get-hit-str": get-hit with JS strings: string keys loaded with string values through
 *   each system's string API (StringStore), then gets of loaded keys that must return the
 *   string (shardline: db.getString, which decodes the UTF-8 in place).
 * Gets: ns/op from whole rounds, p50/p99 from a separate pass timing each get. Scans:
 * rows per second, p50/p99 per whole scan.
 * Threads: the harness's main thread.
 */
import { type Figures, type Round, summarize } from "../harness/measure.ts";
import type { Sizes } from "../harness/sizes.ts";
import { median, percentile } from "../lib/timing.ts";
import type { Store, StringStore } from "../systems/system.ts";
import { isRepresentative, type Job, type JobContext, type Workload } from "./workload.ts";

/**
 * Gets of `keys[0..count)` in slices of 256, until done or `capMs` passed: how many were found,
 * and how many of those `right` rejects. The timed loop of get-hit, get-miss and get-hit-str.
 */
async function timedGets<K, V>(
  store: { readStyle: Store["readStyle"]; get(key: K): V | undefined | Promise<V | undefined> },
  keys: readonly K[],
  count: number,
  capMs: number,
  right: (value: V) => boolean,
): Promise<Round & { found: number; wrong: number }> {
  let found = 0;
  let wrong = 0;
  let i = 0;
  const started = performance.now();
  const deadline = started + capMs;
  while (i < count) {
    const end = Math.min(count, i + 256);
    if (store.readStyle === "sync") {
      for (; i < end; i++) {
        const v = store.get(keys[i]) as V | undefined;
        if (v !== undefined) {
          found++;
          if (!right(v)) wrong++;
        }
      }
    } else {
      for (; i < end; i++) {
        const v = await store.get(keys[i]);
        if (v !== undefined) {
          found++;
          if (!right(v)) wrong++;
        }
      }
    }
    if (performance.now() > deadline) break;
  }
  return { ms: performance.now() - started, ops: i, capped: i < count, found, wrong };
}

async function getPass(store: Store, keys: readonly Uint8Array[], count: number, hits: boolean, valueBytes: number, capMs: number): Promise<Round> {
  const { ms, ops, capped, found, wrong } = await timedGets(store, keys, count, capMs, (v: Uint8Array) => v.length === valueBytes);
  const expected = hits ? ops : 0;
  if (found !== expected || wrong > 0) {
    throw new Error(`wrong answers: ${found} of ${ops} ${hits ? "loaded" : "absent"} keys found (expected ${expected}), ${wrong} values of the wrong size`);
  }
  return { ms, ops, capped };
}

async function getLatencies(store: Store, keys: readonly Uint8Array[], samples: number): Promise<number[]> {
  const us: number[] = [];
  for (let i = 0; i < samples; i++) {
    const key = keys[i % keys.length];
    const t = performance.now();
    const v = store.get(key);
    if (v instanceof Promise) await v;
    us.push((performance.now() - t) * 1000);
  }
  return us;
}

async function gets(ctx: JobContext, store: Store, keys: readonly Uint8Array[], hits: boolean): Promise<Figures> {
  const { sizes } = ctx;
  await getPass(store, keys, Math.max(1, Math.round(sizes.getCount * sizes.warmupFraction)), hits, sizes.valueBytes, sizes.roundCapMs);
  const rounds: Round[] = [];
  for (let r = 0; r < sizes.rounds; r++) rounds.push(await getPass(store, keys, sizes.getCount, hits, sizes.valueBytes, sizes.roundCapMs));
  const figures = summarize(rounds, sizes.getCount);
  const us = await getLatencies(store, keys, sizes.latencySamples);
  figures.p50Us = median(us);
  figures.p99Us = percentile(us, 99);
  figures.latencySamples = us.length;
  return figures;
}

async function scans(ctx: JobContext, store: Store): Promise<Figures> {
  const { sizes } = ctx;
  const starts = ctx.data.scanStarts;
  const scanOnce = async (start: Uint8Array) => {
    const t = performance.now();
    const rows = await store.scan(start, sizes.scanRows);
    const ms = performance.now() - t;
    if (rows !== sizes.scanRows) throw new Error(`wrong answer: a scan of ${sizes.scanRows} rows returned ${rows}`);
    return ms;
  };
  await scanOnce(starts[0]); // warm-up
  const rounds: Round[] = [];
  const perScanUs: number[] = [];
  for (let r = 0; r < sizes.rounds; r++) {
    let total = 0;
    for (const start of starts) {
      const ms = await scanOnce(start);
      total += ms;
      perScanUs.push(ms * 1000);
    }
    rounds.push({ ms: total, ops: starts.length * sizes.scanRows, capped: false });
  }
  const figures = summarize(rounds, starts.length * sizes.scanRows);
  figures.p50Us = median(perScanUs);
  figures.p99Us = percentile(perScanUs, 99);
  figures.latencySamples = perScanUs.length;
  figures.extra = { rowsPerScan: sizes.scanRows, scansPerRound: starts.length };
  return figures;
}

export function readJob(sizes: Sizes): Job {
  const common = { group: "reads", durability: "n/a" as const, valueBytes: sizes.valueBytes };
  const loaded = `${sizes.readKeys} random 16-byte keys with ${sizes.valueBytes}-byte values, loaded and flushed (made durable; shardline then reads them from its memtables)`;
  const workloads: Workload[] = [
    { ...common, id: "get-hit", title: "get, key present (after a flush)", short: "get hit", unit: "get", latency: "op", count: sizes.getCount, description: `${sizes.getCount} gets of present keys in shuffled order; ${loaded}` },
    { ...common, id: "get-miss", title: "get, key absent (after a flush)", short: "get miss", unit: "get", latency: "op", count: sizes.getCount, description: `${sizes.getCount} gets of keys never written; ${loaded}` },
    { ...common, id: "scan", title: `scan of ${sizes.scanRows.toLocaleString("en-US")} rows`, short: `scan ${sizes.scanRows >= 1000 ? `${sizes.scanRows / 1000}k` : sizes.scanRows}`, unit: "row", latency: "scan", count: sizes.scans * sizes.scanRows, description: `${sizes.scans} scans of ${sizes.scanRows} rows in key order from loaded keys; ${loaded}` },
  ];
  return {
    id: "reads",
    workloads,
    participation: (system) => isRepresentative(system) ? { run: true, comparable: true, note: system.readApi } : undefined,
    async run(ctx, system, wanted) {
      const dir = ctx.freshDir();
      const store = await system.open(dir, { valueBytes: sizes.valueBytes });
      try {
        const values = ctx.data.values;
        await store.load(ctx.data.readKeys, (i) => values.at(i));
        await store.flush();
        const out: Record<string, Figures> = {};
        if (wanted.has("get-hit")) out["get-hit"] = await gets(ctx, store, ctx.data.hitKeys, true);
        if (wanted.has("get-miss")) out["get-miss"] = await gets(ctx, store, ctx.data.missKeys, false);
        if (wanted.has("scan")) out.scan = await scans(ctx, store);
        return out;
      } finally {
        await store.close();
        ctx.removeDir(dir);
      }
    },
  };
}

async function stringGetPass(store: StringStore, keys: readonly string[], count: number, chars: number, capMs: number): Promise<Round> {
  const { ms, ops, capped, found, wrong } = await timedGets(store, keys, count, capMs, (v: string) => typeof v === "string" && v.length === chars);
  if (found !== ops || wrong > 0) throw new Error(`wrong answers: ${found} of ${ops} loaded string keys found, ${wrong} answers not a string of ${chars} characters`);
  return { ms, ops, capped };
}

/** Gets of loaded string keys, each answer a string of the loaded length (as get-hit, with strings). */
export function stringReadJob(sizes: Sizes): Job {
  const workload: Workload = {
    id: "get-hit-str",
    group: "reads",
    title: "get of a string key, key present (after a flush)",
    short: "get hit str",
    unit: "get",
    latency: "op",
    durability: "n/a",
    count: sizes.stringGetCount,
    valueBytes: sizes.stringValueChars,
    description: `${sizes.stringGetCount} gets of present keys in shuffled order, each answer a JS string; ${sizes.readKeys} random ${sizes.stringKeyChars}-character string keys with ${sizes.stringValueChars}-character string values (ASCII) loaded through each system's string API and flushed; shardline reads with getString (UTF-8 decoded in place)`,
  };
  return {
    id: "reads-str",
    workloads: [workload],
    participation: (system) => isRepresentative(system) ? { run: true, comparable: true, note: system.stringReadApi ?? system.readApi } : undefined,
    async run(ctx, system) {
      const chars = sizes.stringValueChars;
      const dir = ctx.freshDir();
      const store = await system.openStrings(dir, { valueBytes: chars });
      try {
        const values = ctx.data.stringValues;
        await store.load(ctx.data.stringReadKeys, (i) => values[i]);
        await store.flush();
        const keys = ctx.data.stringHitKeys;
        const count = sizes.stringGetCount;
        await stringGetPass(store, keys, Math.max(1, Math.round(count * sizes.warmupFraction)), chars, sizes.roundCapMs);
        const rounds: Round[] = [];
        for (let r = 0; r < sizes.rounds; r++) rounds.push(await stringGetPass(store, keys, count, chars, sizes.roundCapMs));
        const figures = summarize(rounds, count);
        const us: number[] = [];
        for (let i = 0; i < sizes.latencySamples; i++) {
          const t = performance.now();
          const v = store.get(keys[i % keys.length]);
          if (v instanceof Promise) await v;
          us.push((performance.now() - t) * 1000);
        }
        figures.p50Us = median(us);
        figures.p99Us = percentile(us, 99);
        figures.latencySamples = us.length;
        return { "get-hit-str": figures };
      } finally {
        await store.close();
        ctx.removeDir(dir);
      }
    },
  };
}
