/**
 * SQLite as a key-value store, through each runtime's own binding: better-sqlite3 in Node,
 * `bun:sqlite` in Bun, `node:sqlite` in Deno (better-sqlite3 does not load in Bun or Deno,
 * and node:sqlite is not in Node 20). One table `kv (k BLOB PRIMARY KEY, v BLOB) WITHOUT
 * ROWID`, prepared statements, one autocommit `INSERT OR REPLACE` per put, WAL journal:
 * - "sqlite-normal": `synchronous=NORMAL`: a commit is not synced (only checkpoints are),
 *   so it survives a process crash but not power loss — not durable;
 * - "sqlite-full": `synchronous=FULL`: every commit syncs the WAL — durable.
 * The bindings are synchronous, so writes go one at a time whatever the workload's depth.
 * The string workloads use a table `kv (k TEXT PRIMARY KEY, v TEXT)` and bind JS strings.
 *
 * Threads: one connection per thread; a worker opens its own connection to the same file,
 * and writers wait for SQLite's write lock (busy_timeout).
 */
import { runtimeName } from "../../runtimes/current.ts";
import { packageVersion } from "./package-version.ts";
import { type CrashRecovery, reasonOf, type Store, type StringStore, type System, touch, type WorkerWriter } from "./system.ts";

type Row = Record<string, unknown>;
interface Statement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): Row | undefined | null;
  iterate(...params: unknown[]): Iterable<Row>;
}
interface Connection {
  exec(sql: string): void;
  prepare(sql: string): Statement;
  close(): void;
}
interface Binding {
  /** e.g. "better-sqlite3 12.10.0" */
  name: string;
  connect(path: string): Connection;
}

// Module names in variables, so no runtime resolves another runtime's built-in ahead of time.
const BUN_SQLITE = "bun:sqlite";
const NODE_SQLITE = "node:sqlite";
const BETTER_SQLITE3 = "better-sqlite3";

async function loadBinding(): Promise<Binding> {
  switch (runtimeName()) {
    case "bun": {
      const { Database } = await import(BUN_SQLITE);
      return { name: "bun:sqlite", connect: (path) => new Database(path) as Connection };
    }
    case "deno": {
      const { DatabaseSync } = await import(NODE_SQLITE);
      return { name: "node:sqlite", connect: (path) => new DatabaseSync(path) as Connection };
    }
    default: {
      const Database = (await import(BETTER_SQLITE3)).default as new (path: string) => Connection;
      return { name: `better-sqlite3 ${packageVersion("better-sqlite3")}`, connect: (path) => new Database(path) };
    }
  }
}

let loaded: Promise<Binding | string> | undefined;
function load(): Promise<Binding | string> {
  loaded ??= loadBinding().then((binding) => {
    // Prove it works (a binding can import and still fail at its first call).
    const c = binding.connect(":memory:");
    const version = c.prepare("SELECT sqlite_version() AS v").get()?.v;
    c.close();
    return { ...binding, name: `${binding.name} (SQLite ${version})` };
  }).catch((e) => `the SQLite binding of ${runtimeName()} failed to load: ${reasonOf(e)}`);
  return loaded;
}

type Synchronous = "NORMAL" | "FULL";

function connect(binding: Binding, dir: string, synchronous: Synchronous, type: "BLOB" | "TEXT" = "BLOB"): { db: Connection; insert: Statement } {
  const db = binding.connect(`${dir}/kv.sqlite`);
  db.exec("PRAGMA busy_timeout = 60000");
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${synchronous}`);
  db.exec(`CREATE TABLE IF NOT EXISTS kv (k ${type} PRIMARY KEY, v ${type} NOT NULL) WITHOUT ROWID`);
  return { db, insert: db.prepare("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)") };
}

function store(db: Connection, insert: Statement): Store {
  const select = db.prepare("SELECT v FROM kv WHERE k = ?");
  const range = db.prepare("SELECT k, v FROM kv WHERE k >= ? ORDER BY k LIMIT ?");
  return {
    writeStyle: "sync",
    put: (k, v) => void insert.run(k, v),
    readStyle: "sync",
    get: (k) => (select.get(k)?.v as Uint8Array | undefined) ?? undefined,
    scan(start, limit) {
      let n = 0;
      let bytes = 0;
      for (const row of range.iterate(start, limit)) {
        bytes += (row.v as Uint8Array).length;
        n++;
      }
      touch(bytes);
      return n;
    },
    load: async (keys, values) => loadAll(db, insert, keys, values),
    // A checkpoint copies the WAL into the database file and syncs it.
    flush: async () => db.exec("PRAGMA wal_checkpoint(TRUNCATE)"),
    close: async () => db.close(),
  };
}

/** Loads keys and values in transactions of 10,000 inserts. */
function loadAll<K>(db: Connection, insert: Statement, keys: readonly K[], values: (i: number) => K): void {
  const CHUNK = 10_000;
  for (let i = 0; i < keys.length; i += CHUNK) {
    db.exec("BEGIN");
    for (let j = i; j < Math.min(keys.length, i + CHUNK); j++) insert.run(keys[j], values(j));
    db.exec("COMMIT");
  }
}

function stringStore(db: Connection, insert: Statement): StringStore {
  const select = db.prepare("SELECT v FROM kv WHERE k = ?");
  return {
    writeStyle: "sync",
    put: (k, v) => void insert.run(k, v),
    readStyle: "sync",
    get: (k) => (select.get(k)?.v as string | undefined) ?? undefined,
    load: async (keys, values) => loadAll(db, insert, keys, values),
    flush: async () => db.exec("PRAGMA wal_checkpoint(TRUNCATE)"),
    close: async () => db.close(),
  };
}

/**
 * Crash recovery of a WAL database (the recovery workload): the writer turns automatic
 * checkpoints off (`wal_autocheckpoint = 0`), so the log grows to the workload's size
 * instead of being copied into the database file every 1,000 pages; commits are
 * transactions of the writer's puts, `synchronous = NORMAL` (in the WAL, so they survive
 * a process crash). After kill -9 the first connection finds no other connection on the
 * wal-index (`-shm`) and rebuilds it by reading and checksumming the whole WAL; the first
 * read does that, so `reopen` is connect + one point SELECT. SQLite logs whole pages: a
 * WAL of the same size holds fewer puts than a record log.
 */
function sqliteCrashRecovery(): CrashRecovery {
  return {
    mode: "connect + first SELECT after kill -9: wal-index rebuilt from the WAL (wal_autocheckpoint=0, transactions of 10,000 puts)",
    isLog: (name) => name.endsWith("-wal"),
    async openWriter(dir) {
      const binding = await load();
      if (typeof binding === "string") throw new Error(binding);
      const { db, insert } = connect(binding, dir, "NORMAL");
      db.exec("PRAGMA wal_autocheckpoint = 0");
      return {
        write: async (keys, values) => {
          db.exec("BEGIN");
          for (let i = 0; i < keys.length; i++) insert.run(keys[i], values(i));
          db.exec("COMMIT");
        },
      };
    },
    async reopen(dir, probe, valueBytes) {
      const binding = await load();
      if (typeof binding === "string") throw new Error(binding);
      const db = binding.connect(`${dir}/kv.sqlite`);
      try {
        const v = db.prepare("SELECT v FROM kv WHERE k = ?").get(probe)?.v as Uint8Array | undefined;
        if (v?.length !== valueBytes) throw new Error(`SQLite recovered without the first key written (${v === undefined ? "missing" : `${v.length} bytes`})`);
      } catch (e) {
        db.close();
        throw e;
      }
      return async () => db.close();
    },
  };
}

function sqliteSystem(id: string, synchronous: Synchronous): System {
  const system: System = {
    id,
    name: "SQLite",
    library: "SQLite",
    mode: `WAL, synchronous=${synchronous}`,
    family: "sqlite",
    synchronousWrites: true,
    durability: synchronous === "FULL" ? "durable" : "non-durable",
    readApi: synchronous === "NORMAL" ? "prepared SELECT (sync)" : undefined,
    stringReadApi: synchronous === "NORMAL" ? "prepared SELECT (sync), TEXT columns" : undefined,
    crashRecovery: synchronous === "NORMAL" ? sqliteCrashRecovery() : undefined,
    async available() {
      const binding = await load();
      if (typeof binding === "string") return binding;
      system.library = binding.name;
      return true;
    },
    async open(dir) {
      const { db, insert } = connect((await load()) as Binding, dir, synchronous);
      return store(db, insert);
    },
    async openStrings(dir) {
      const { db, insert } = connect((await load()) as Binding, dir, synchronous, "TEXT");
      return stringStore(db, insert);
    },
    shareWriters: async (_store, dir) => ({ handle: { dir } }),
    async attachWorker(handle): Promise<WorkerWriter> {
      const binding = await load();
      if (typeof binding === "string") throw new Error(binding);
      const { db, insert } = connect(binding, (handle as { dir: string }).dir, synchronous);
      return { writeStyle: "sync", put: (k, v) => void insert.run(k, v), close: async () => db.close() };
    },
  };
  return system;
}

export const sqliteNormal = sqliteSystem("sqlite-normal", "NORMAL");
export const sqliteFull = sqliteSystem("sqlite-full", "FULL");
