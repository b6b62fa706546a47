/**
 * lmdb-js (the `lmdb` package, LMDB's copy-on-write B+tree behind a native addon), in three
 * write modes:
 * - "lmdb-put": `db.put` with the defaults: writes issued in one event turn commit as one
 *   transaction, and the promise resolves when that transaction is COMMITTED (lmdb 3.5.6
 *   write.js, resolveWrites/resolveCommit at TXN_COMMITTED), set once mdb_txn_commit
 *   returned (src/writer.cpp). With `overlappingSync` (the default everywhere but Windows)
 *   that commit fdatasyncs the data written so far and writes a meta page naming the
 *   transaction before it returns (mdb.c, mdb_txn_commit), but that meta page is synced
 *   only by the next transaction's sync: not durable on resolve (a power loss can take the
 *   transaction back; `.flushed` resolves once it is durable), yet every resolve waits for
 *   an fdatasync (`ackAfterSync`: with syncs failing, the put fails; review 2026-12-06).
 *   strace (bench/README.md): puts issued in consecutive event turns resolve while the
 *   fdatasync that makes them durable is still running.
 * - "lmdb-put-flushed": the same `db.put` on an environment opened with
 *   `separateFlushed: true`, each put awaited until its promise's `.flushed` resolves (the
 *   fdatasync covering its transaction returned) — durable on resolve.
 * - "lmdb-putsync": `db.putSync` on an environment opened with `noSync: true`: each call
 *   commits its own transaction and nothing is ever synced — not durable.
 * Keys and values are raw bytes (`keyEncoding`/`encoding` "binary"); reads use the
 * synchronous `db.get` (a copy of the value) and `getRange`. The string workloads open the
 * same mode with `keyEncoding: "ordered-binary"` (lmdb-js's default, which takes string
 * keys) and `encoding: "string"`, so `get` returns the string.
 *
 * Threads: one environment per thread; a worker opens the same path itself (lmdb-js
 * supports that), and writers from several threads take LMDB's single write lock in turn.
 */
import { packageVersion } from "./package-version.ts";
import { reasonOf, type Store, type StringStore, touch, type System, type WorkerWriter } from "./system.ts";

interface LmdbDb<T = Uint8Array> {
  put(key: T, value: T): Promise<boolean>;
  putSync(key: T, value: T): boolean;
  get(key: T): T | undefined;
  getRange(options: { start: Uint8Array; limit: number }): Iterable<{ key: Uint8Array; value: Uint8Array }>;
  transactionSync<T>(fn: () => T): T;
  flushed: Promise<boolean>;
  close(): Promise<void>;
}
interface LmdbModule {
  open<T = Uint8Array>(options: Record<string, unknown>): LmdbDb<T>;
}

let loaded: Promise<LmdbModule | string> | undefined;
function load(): Promise<LmdbModule | string> {
  loaded ??= import("lmdb").then((m) => m as unknown as LmdbModule, (e) => `lmdb failed to load: ${reasonOf(e)}`);
  return loaded;
}

const MAP_BYTES = 4 << 30;

/** How a mode writes: putSync without syncs, put (resolves at commit), or put awaited until flushed. */
type WriteMode = "putsync" | "put" | "flushed";

function openDb(lmdb: LmdbModule, dir: string, mode: WriteMode): LmdbDb {
  return lmdb.open({ path: dir, keyEncoding: "binary", encoding: "binary", mapSize: MAP_BYTES, noSync: mode === "putsync", separateFlushed: mode === "flushed" });
}

function openStringDb(lmdb: LmdbModule, dir: string, mode: WriteMode): LmdbDb<string> {
  return lmdb.open<string>({ path: dir, keyEncoding: "ordered-binary", encoding: "string", mapSize: MAP_BYTES, noSync: mode === "putsync", separateFlushed: mode === "flushed" });
}

/** A put as the mode acknowledges it. */
function putOf<T>(db: LmdbDb<T>, mode: WriteMode): (key: T, value: T) => Promise<unknown> | undefined {
  if (mode === "putsync") return (k, v) => void db.putSync(k, v);
  if (mode === "put") return (k, v) => db.put(k, v);
  return (k, v) => (db.put(k, v) as Promise<boolean> & { flushed: Promise<boolean> }).flushed;
}

/** What the byte and string stores share: writes, point reads, the bulk load, flush and close. */
function common<T>(db: LmdbDb<T>, mode: WriteMode) {
  return {
    writeStyle: mode === "putsync" ? ("sync" as const) : ("turn" as const),
    put: putOf(db, mode),
    readStyle: "sync" as const,
    get: (k: T) => db.get(k),
    async load(keys: readonly T[], values: (i: number) => T) {
      const CHUNK = 10_000;
      for (let i = 0; i < keys.length; i += CHUNK) {
        db.transactionSync(() => {
          for (let j = i; j < Math.min(keys.length, i + CHUNK); j++) db.putSync(keys[j], values(j));
        });
      }
      await db.flushed;
    },
    flush: async () => void (await db.flushed),
    close: () => db.close(),
  };
}

function stringStore(db: LmdbDb<string>, mode: WriteMode): StringStore {
  return common(db, mode);
}

function store(db: LmdbDb, mode: WriteMode): Store {
  return {
    ...common(db, mode),
    scan(start, limit) {
      let n = 0;
      let bytes = 0;
      for (const { value } of db.getRange({ start, limit })) {
        bytes += value.length;
        n++;
      }
      touch(bytes);
      return n;
    },
  };
}

function lmdbSystem(id: string, label: string, mode: WriteMode): System {
  const system: System = {
    id,
    name: "lmdb-js",
    library: `lmdb ${packageVersion("lmdb")}`,
    mode: label,
    family: "lmdb",
    synchronousWrites: mode === "putsync",
    durability: mode === "flushed" ? "durable" : "non-durable",
    ackAfterSync: mode === "put",
    readApi: mode === "putsync" ? "get (sync, copies); getRange" : undefined,
    stringReadApi: mode === "putsync" ? "get (sync), encoding: \"string\"" : undefined,
    async available() {
      const lmdb = await load();
      return typeof lmdb === "string" ? lmdb : true;
    },
    async open(dir) {
      return store(openDb((await load()) as LmdbModule, dir, mode), mode);
    },
    async openStrings(dir) {
      return stringStore(openStringDb((await load()) as LmdbModule, dir, mode), mode);
    },
    shareWriters: async (_store, dir) => ({ handle: { dir, mode } }),
    async attachWorker(handle): Promise<WorkerWriter> {
      const { dir, mode } = handle as { dir: string; mode: WriteMode };
      const lmdb = await load();
      if (typeof lmdb === "string") throw new Error(lmdb);
      const db = openDb(lmdb, dir, mode);
      return {
        writeStyle: mode === "putsync" ? "sync" : "turn",
        put: putOf(db, mode),
        close: () => db.close(),
      };
    },
  };
  return system;
}

export const lmdbPut = lmdbSystem("lmdb-put", "put, batched per event turn (resolves at commit)", "put");
export const lmdbPutFlushed = lmdbSystem("lmdb-put-flushed", "put, batched per event turn, awaited until .flushed", "flushed");
export const lmdbPutSync = lmdbSystem("lmdb-putsync", "putSync, noSync", "putsync");
