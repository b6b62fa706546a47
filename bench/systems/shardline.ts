/**
 * shardline itself, run from its sources through the runtime's entry
 * (runtimes/<runtime>/mod.ts, picked with runtimeName()), in two modes:
 * - "shardline-async": `open(dir, { durability: "async" })`: `put` resolves once the
 *   write is in the memtable and the log buffer; durable within the batch interval — not
 *   durable on acknowledgement;
 * - "shardline-full": `open(dir, { durability: "full" })`: `put` resolves after the
 *   fdatasync that covers it — durable.
 * Reads are the synchronous `db.get` and `db.scan`. Writers in workers use `db.share()`
 * and `attach(handle)`; the change feed is `db.subscribe()`. Databases open with the
 * engine's defaults (4 shards of 4 MiB memtables) unless a workload asks for `shards` or
 * `memtableBytesMax` (the sustained load states them). The string workloads pass JS
 * strings to `db.put` and `db.getString` (the engine encodes and decodes UTF-8 in place);
 * an engine without `getString` has its `db.get` bytes decoded with a TextDecoder.
 *
 * Until the engine lands, the entry has no `open`: both modes are then unavailable with
 * that reason, exactly like a peer that will not load, and the recovery workload falls
 * back to the write-ahead log on its own (`openLog` from runtimes/<runtime>/wal.ts).
 * Optional parts the engine does not have yet (share/attach, subscribe, batch) are
 * detected when used and reported as unavailable for that workload, never as a crash.
 *
 * `SHARDLINE_BENCH_ENGINE=<module URL>` runs the harness against a stand-in module with
 * the same API instead of runtimes/<runtime>/mod.ts (to check the harness itself before
 * the engine exists); the report then names that module as the library, never shardline.
 *
 * Threads: a database belongs to the thread that opened (or attached) it.
 */
import { runtimeName } from "../../runtimes/current.ts";
import { readFileSync } from "node:fs";
import process from "node:process";
import { type EngineStats, reasonOf, type Store, type StringStore, type System, touch, Unsupported, type WorkerWriter } from "./system.ts";

export interface ShardlineOptions {
  shards?: number;
  durability?: "full" | "async";
  fastWrite?: boolean;
  walBatchIntervalUs?: number;
  memtableBytesMax?: number;
  walSegmentBytesMax?: number;
}
interface Db {
  put(key: Uint8Array | string, value: Uint8Array | string): Promise<unknown>;
  get(key: Uint8Array | string): Uint8Array | undefined;
  getString?(key: Uint8Array | string): string | undefined;
  scan(options: { gte?: Uint8Array; limit?: number }): Iterable<[Uint8Array, Uint8Array]>;
  batch?(ops: Array<{ type: "put"; key: Uint8Array | string; value: Uint8Array | string }>): Promise<unknown>;
  flush(): Promise<unknown>;
  close(): Promise<unknown>;
  share?(): unknown;
  subscribe?(options: { signal?: AbortSignal }): AsyncIterable<unknown>;
  stats?(): { shards: Array<{ memtableBytesMax: number }>; flushes: number; compactions: number };
}
interface Engine {
  open(dir: string, options?: ShardlineOptions): Promise<Db>;
  attach?(handle: unknown): Promise<Db>;
}
interface LogLike {
  readonly currentLsn: bigint;
  appendNow(data: Uint8Array): bigint;
  flushUntil(lsn?: bigint): Promise<unknown>;
  stream(options: { from?: bigint }): AsyncIterable<{ lsn: bigint; data: Uint8Array }>;
  readonly recovery?: { records: number; segmentsRead: number };
  close(): Promise<void>;
}
export interface WalApi {
  openLog(dir: string, options?: { durability?: "full" | "async"; bufferBytes?: number }): Promise<LogLike>;
}

const rt = runtimeName();
const STAND_IN = process.env.SHARDLINE_BENCH_ENGINE || undefined;
const ENTRY = STAND_IN ?? `runtimes/${rt}/mod.ts`;
const VERSION = (() => {
  try {
    return String(JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")).version);
  } catch {
    return "unknown";
  }
})();

let engine: Promise<Engine | string> | undefined;
/** The engine's entry for this runtime, or why it cannot be used. */
export function loadEngine(): Promise<Engine | string> {
  engine ??= import(STAND_IN ?? new URL(`../../${ENTRY}`, import.meta.url).href).then(
    (mod: Partial<Engine>) =>
      typeof mod.open === "function"
        ? (mod as Engine)
        : `${ENTRY} does not export open() yet (the engine has not landed)`,
    (e) => `${ENTRY} failed to load: ${reasonOf(e)}`,
  );
  return engine;
}

let wal: Promise<WalApi | string> | undefined;
/** The write-ahead log on its own (`shardline/wal`), or why it cannot be used. */
export function loadWal(): Promise<WalApi | string> {
  wal ??= import(new URL(`../../runtimes/${rt}/wal.ts`, import.meta.url).href).then(
    (mod: Partial<WalApi>) => typeof mod.openLog === "function" ? (mod as WalApi) : `runtimes/${rt}/wal.ts has no openLog()`,
    (e) => `runtimes/${rt}/wal.ts failed to load: ${reasonOf(e)}`,
  );
  return wal;
}

const databases = new WeakMap<Store, Db>();

function store(db: Db): Store {
  const s: Store = {
    writeStyle: "await",
    put: (k, v) => db.put(k, v),
    readStyle: "sync",
    get: (k) => db.get(k),
    scan(start, limit) {
      let n = 0;
      let bytes = 0;
      for (const [, v] of db.scan({ gte: start, limit })) {
        bytes += v.length;
        n++;
      }
      touch(bytes);
      return n;
    },
    load: (keys, values) => loadAll(db, keys, values),
    flush: async () => void (await db.flush()),
    close: async () => void (await db.close()),
    subscribe: typeof db.subscribe === "function"
      ? (signal) => db.subscribe!({ signal })
      : undefined,
    engineStats(): EngineStats | undefined {
      if (typeof db.stats !== "function") return undefined;
      const st = db.stats();
      return { memtableBytesTotal: st.shards.reduce((n, x) => n + x.memtableBytesMax, 0), flushes: st.flushes, compactions: st.compactions };
    },
  };
  databases.set(s, db);
  return s;
}

/** Loads keys and values in batches of 1,000 (puts one by one where the engine has no batch), then flushes. */
async function loadAll<K extends Uint8Array | string>(db: Db, keys: readonly K[], values: (i: number) => K): Promise<void> {
  const CHUNK = 1000;
  for (let i = 0; i < keys.length; i += CHUNK) {
    const end = Math.min(keys.length, i + CHUNK);
    if (typeof db.batch === "function") {
      const ops = [];
      for (let j = i; j < end; j++) ops.push({ type: "put" as const, key: keys[j], value: values(j) });
      await db.batch(ops);
    } else {
      for (let j = i; j < end; j++) await db.put(keys[j], values(j));
    }
  }
  await db.flush();
}

function stringStore(db: Db): StringStore {
  const decoder = new TextDecoder();
  const getString = db.getString?.bind(db);
  return {
    writeStyle: "await",
    put: (k, v) => db.put(k, v),
    readStyle: "sync",
    get: getString ?? ((k) => {
      const v = db.get(k);
      return v === undefined ? undefined : decoder.decode(v);
    }),
    load: (keys, values) => loadAll(db, keys, values),
    flush: async () => void (await db.flush()),
    close: async () => void (await db.close()),
  };
}

function shardlineSystem(id: string, durability: "async" | "full"): System {
  return {
    id,
    name: STAND_IN ? "stand-in (not shardline)" : "shardline",
    library: STAND_IN ? `STAND-IN ENGINE ${STAND_IN} (not shardline)` : `shardline ${VERSION} (sources, ${ENTRY})`,
    mode: `durability: "${durability}"`,
    family: "shardline",
    durability: durability === "full" ? "durable" : "non-durable",
    readApi: durability === "async" ? "get, scan (sync)" : undefined,
    stringReadApi: durability === "async" ? "getString (sync)" : undefined,
    async available() {
      const e = await loadEngine();
      return typeof e === "string" ? e : true;
    },
    async open(dir, options) {
      const e = (await loadEngine()) as Engine;
      const opts: ShardlineOptions = { durability };
      if (options.fastWrite === false) opts.fastWrite = false;
      if (options.shards !== undefined) opts.shards = options.shards;
      if (options.memtableBytesMax !== undefined) opts.memtableBytesMax = options.memtableBytesMax;
      return store(await e.open(dir, opts));
    },
    async openStrings(dir) {
      const e = (await loadEngine()) as Engine;
      return stringStore(await e.open(dir, { durability }));
    },
    async shareWriters(s) {
      const db = databases.get(s);
      const e = await loadEngine();
      if (!db || typeof db.share !== "function" || typeof e === "string" || typeof e.attach !== "function") {
        throw new Unsupported("db.share() / attach(handle) are not in the engine yet");
      }
      return { handle: db.share() };
    },
    async attachWorker(handle): Promise<WorkerWriter> {
      const e = await loadEngine();
      if (typeof e === "string" || typeof e.attach !== "function") throw new Unsupported("attach(handle) is not in the engine yet");
      const db = await e.attach(handle);
      return { writeStyle: "await", put: (k, v) => db.put(k, v), close: async () => void (await db.close?.()) };
    },
  };
}

export const shardlineAsync = shardlineSystem("shardline-async", "async");
export const shardlineFull = shardlineSystem("shardline-full", "full");
