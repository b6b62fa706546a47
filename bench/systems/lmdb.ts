/**
 * lmdb-js (the `lmdb` package, LMDB's copy-on-write B+tree behind a native addon), in its
 * two write modes:
 * - "lmdb-put": `db.put` with the defaults: writes issued in one event turn commit as one
 *   transaction, and the promise resolves once that transaction is committed and flushed
 *   to disk (overlappingSync) — durable on resolve (checked with strace: one fdatasync
 *   per transaction);
 * - "lmdb-putsync": `db.putSync` on an environment opened with `noSync: true`: each call
 *   commits its own transaction and nothing is ever synced — not durable.
 * Keys and values are raw bytes (`keyEncoding`/`encoding` "binary"); reads use the
 * synchronous `db.get` (a copy of the value) and `getRange`.
 *
 * Threads: one environment per thread; a worker opens the same path itself (lmdb-js
 * supports that), and writers from several threads take LMDB's single write lock in turn.
 */
import { packageVersion } from "./package-version.ts";
import { reasonOf, type Store, touch, type System, type WorkerWriter } from "./system.ts";

interface LmdbDb {
  put(key: Uint8Array, value: Uint8Array): Promise<boolean>;
  putSync(key: Uint8Array, value: Uint8Array): boolean;
  get(key: Uint8Array): Uint8Array | undefined;
  getRange(options: { start: Uint8Array; limit: number }): Iterable<{ key: Uint8Array; value: Uint8Array }>;
  transactionSync<T>(fn: () => T): T;
  flushed: Promise<boolean>;
  close(): Promise<void>;
}
interface LmdbModule {
  open(options: Record<string, unknown>): LmdbDb;
}

let loaded: Promise<LmdbModule | string> | undefined;
function load(): Promise<LmdbModule | string> {
  loaded ??= import("lmdb").then((m) => m as unknown as LmdbModule, (e) => `lmdb failed to load: ${reasonOf(e)}`);
  return loaded;
}

const MAP_BYTES = 4 << 30;

function openDb(lmdb: LmdbModule, dir: string, noSync: boolean): LmdbDb {
  return lmdb.open({ path: dir, keyEncoding: "binary", encoding: "binary", mapSize: MAP_BYTES, noSync });
}

function store(db: LmdbDb, batched: boolean): Store {
  return {
    writeStyle: batched ? "turn" : "sync",
    put: batched ? (k, v) => db.put(k, v) : (k, v) => void db.putSync(k, v),
    readStyle: "sync",
    get: (k) => db.get(k),
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
    async load(keys, values) {
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

function lmdbSystem(id: string, mode: string, batched: boolean): System {
  const system: System = {
    id,
    name: "lmdb-js",
    library: `lmdb ${packageVersion("lmdb")}`,
    mode,
    family: "lmdb",
    synchronousWrites: !batched,
    durability: batched ? "durable" : "non-durable",
    readApi: batched ? undefined : "get (sync, copies); getRange",
    alsoNonDurable: batched
      ? "durable on resolve: a stronger guarantee than this workload asks; shown because the goals compare with it"
      : undefined,
    async available() {
      const lmdb = await load();
      return typeof lmdb === "string" ? lmdb : true;
    },
    async open(dir) {
      return store(openDb((await load()) as LmdbModule, dir, !batched), batched);
    },
    shareWriters: async (_store, dir) => ({ handle: { dir, noSync: !batched } }),
    async attachWorker(handle): Promise<WorkerWriter> {
      const { dir, noSync } = handle as { dir: string; noSync: boolean };
      const lmdb = await load();
      if (typeof lmdb === "string") throw new Error(lmdb);
      const db = openDb(lmdb, dir, noSync);
      return {
        writeStyle: noSync ? "sync" : "turn",
        put: noSync ? (k, v) => void db.putSync(k, v) : (k, v) => db.put(k, v),
        close: () => db.close(),
      };
    },
  };
  return system;
}

export const lmdbPut = lmdbSystem("lmdb-put", "put, batched per event turn", true);
export const lmdbPutSync = lmdbSystem("lmdb-putsync", "putSync, noSync", false);
