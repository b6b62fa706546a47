/**
 * classic-level (LevelDB behind a native addon, the `level` family's Node store):
 * - "classic-level-nosync": `await db.put(k, v)` with the default `sync: false`: the write
 *   is in LevelDB's log and memtable, not synced — not durable;
 * - "classic-level-sync": `await db.put(k, v, { sync: true })`: LevelDB syncs its log
 *   before the put resolves (concurrent writers share a sync) — durable.
 * Keys and values are raw bytes ("view" encodings); reads use `getSync` (classic-level 3)
 * and an iterator read with `nextv`. Puts run on libuv's thread pool, so each resolves
 * on a later event-loop turn. The string workloads open it with the "utf8" encodings, so
 * `getSync` returns the string.
 *
 * Threads: one handle per directory per process (LevelDB's LOCK file), used by the thread
 * that opened it; no writes from workers.
 */
import { packageVersion } from "./package-version.ts";
import { type CrashRecovery, reasonOf, type Store, type StringStore, type System, touch } from "./system.ts";

interface Iterator {
  nextv(size: number): Promise<Array<[Uint8Array, Uint8Array]>>;
  close(): Promise<void>;
}
interface Level<T = Uint8Array> {
  open(): Promise<void>;
  put(key: T, value: T, options?: { sync?: boolean }): Promise<void>;
  del(key: T, options?: { sync?: boolean }): Promise<void>;
  batch(ops: Array<{ type: "put"; key: T; value: T }>, options?: { sync?: boolean }): Promise<void>;
  getSync(key: T): T | undefined;
  iterator(options: { gte: T; limit: number }): Iterator;
  close(): Promise<void>;
}
type LevelClass = new <T = Uint8Array>(dir: string, options: Record<string, unknown>) => Level<T>;

let loaded: Promise<LevelClass | string> | undefined;
function load(): Promise<LevelClass | string> {
  loaded ??= import("classic-level").then(
    (m) => (m as unknown as { ClassicLevel: LevelClass }).ClassicLevel,
    (e) => `classic-level failed to load: ${reasonOf(e)}`,
  );
  return loaded;
}

/** A key above every 16-byte benchmark key; written and deleted with sync to flush the log. */
const FLUSH_KEY = new Uint8Array(17).fill(0xff);

function store(db: Level, sync: boolean): Store {
  const options = { sync };
  return {
    writeStyle: "await",
    put: (k, v) => db.put(k, v, options),
    readStyle: "sync",
    get: (k) => db.getSync(k),
    async scan(start, limit) {
      const it = db.iterator({ gte: start, limit });
      let n = 0;
      let bytes = 0;
      try {
        for (;;) {
          const rows = await it.nextv(1000);
          if (rows.length === 0) break;
          for (const [, v] of rows) bytes += v.length;
          n += rows.length;
        }
      } finally {
        await it.close();
      }
      touch(bytes);
      return n;
    },
    load: (keys, values) => loadAll(db, keys, values),
    // LevelDB has no flush call; a synced write syncs the log with everything before it.
    async flush() {
      await db.put(FLUSH_KEY, FLUSH_KEY, { sync: true });
      await db.del(FLUSH_KEY, { sync: true });
    },
    close: () => db.close(),
  };
}

/** Loads keys and values in batches of 10,000. */
async function loadAll<K>(db: Level<K>, keys: readonly K[], values: (i: number) => K): Promise<void> {
  const CHUNK = 10_000;
  for (let i = 0; i < keys.length; i += CHUNK) {
    const ops = [];
    for (let j = i; j < Math.min(keys.length, i + CHUNK); j++) ops.push({ type: "put" as const, key: keys[j], value: values(j) });
    await db.batch(ops);
  }
}

/** Above every string key of the benchmark (ASCII): written and deleted with sync to flush the log. */
const FLUSH_STRING_KEY = "\u{10ffff}";

function stringStore(db: Level<string>, sync: boolean): StringStore {
  const options = { sync };
  return {
    writeStyle: "await",
    put: (k, v) => db.put(k, v, options),
    readStyle: "sync",
    get: (k) => db.getSync(k),
    load: (keys, values) => loadAll(db, keys, values),
    async flush() {
      await db.put(FLUSH_STRING_KEY, FLUSH_STRING_KEY, { sync: true });
      await db.del(FLUSH_STRING_KEY, { sync: true });
    },
    close: () => db.close(),
  };
}

/** LevelDB's largest write_buffer_size (it clips larger ones to 1 GiB). */
const WRITE_BUFFER_BYTES_MAX = 1 << 30;

/**
 * Crash recovery (the recovery workload): LevelDB writes its log until the memtable reaches
 * `writeBufferSize` and then turns it into a table, 4 MiB by default, so its log never
 * holds more. The writer and the reopen use the largest write buffer LevelDB accepts
 * (1 GiB), so the log grows to the workload's size; batches of the writer's puts,
 * `sync: false` (each batch is in the log, written to the OS, so it survives a process
 * crash). `open()` after kill -9 replays the log into a memtable and writes it to a
 * level-0 table before it returns (DBImpl::RecoverLogFile), then one `getSync`.
 */
function levelCrashRecovery(): CrashRecovery {
  const options = { keyEncoding: "view", valueEncoding: "view", writeBufferSize: WRITE_BUFFER_BYTES_MAX };
  return {
    mode: "open() + first get after kill -9: the log replayed and written to a table (writeBufferSize 1 GiB, batches of 10,000 puts)",
    isLog: (name) => name.endsWith(".log"),
    async openWriter(dir) {
      const Level = await load();
      if (typeof Level === "string") throw new Error(Level);
      const db = new Level(dir, options);
      await db.open();
      return {
        write: (keys, values) => db.batch(keys.map((key, i) => ({ type: "put" as const, key, value: values(i) }))),
      };
    },
    async reopen(dir, probe, valueBytes) {
      const Level = await load();
      if (typeof Level === "string") throw new Error(Level);
      const db = new Level(dir, options);
      await db.open();
      const v = db.getSync(probe);
      if (v?.length !== valueBytes) {
        await db.close();
        throw new Error(`LevelDB recovered without the first key written (${v === undefined ? "missing" : `${v.length} bytes`})`);
      }
      return () => db.close();
    },
  };
}

function levelSystem(id: string, sync: boolean): System {
  return {
    id,
    name: "classic-level",
    library: `classic-level ${packageVersion("classic-level")} (LevelDB)`,
    mode: sync ? "await put, sync: true" : "await put, sync: false",
    family: "classic-level",
    durability: sync ? "durable" : "non-durable",
    readApi: sync ? undefined : "getSync; iterator nextv(1000)",
    stringReadApi: sync ? undefined : "getSync, \"utf8\" encodings",
    crashRecovery: sync ? undefined : levelCrashRecovery(),
    noWorkers: "LevelDB locks its directory (LOCK): one open handle per process, so a second thread cannot write to it",
    async available() {
      const Level = await load();
      return typeof Level === "string" ? Level : true;
    },
    async open(dir) {
      const Level = (await load()) as LevelClass;
      const db = new Level(dir, { keyEncoding: "view", valueEncoding: "view" });
      await db.open();
      return store(db, sync);
    },
    async openStrings(dir) {
      const Level = (await load()) as LevelClass;
      const db = new Level<string>(dir, { keyEncoding: "utf8", valueEncoding: "utf8" });
      await db.open();
      return stringStore(db, sync);
    },
  };
}

export const classicLevelNoSync = levelSystem("classic-level-nosync", false);
export const classicLevelSync = levelSystem("classic-level-sync", true);
