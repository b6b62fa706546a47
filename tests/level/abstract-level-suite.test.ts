// abstract-level's own test suite (`abstract-level/test`, run with tape as that package
// documents) against shardline/level (src/level/), in whichever runtime runs the corpus.
// The tape run happens while this file loads; each of its top-level tests then becomes one
// uvu test that fails with the tape assertions that failed in it, so the suite's results
// count in tests/run.ts's totals like any other test.
import { createRequire } from "node:module";
import { suite } from "uvu";
import { bindLevel, type ShardlineLevelOptions } from "../../src/level/shardline-level.ts";
import { DatabaseExistsError, DatabaseNotFoundError } from "../../src/errors.ts";
import { cleanup, open, tempDir } from "../engine/helpers.ts";

const require = createRequire(import.meta.url);
const tape = require("tape");
const abstractLevelSuite = require("abstract-level/test");

type Db = Awaited<ReturnType<typeof open>>;

/**
 * The suite makes a few thousand databases, most used for one small test. Opening a
 * shardline database starts threads and reserves memory, so the suite shares them: a Level
 * "location" maps to an open database that stays open when the Level closes it (so a
 * reopen finds its data, as it would on disk). Tests run one at a time, so a location not
 * touched while LOCATIONS_KEPT newer ones were made is done with (the sublevel half of the
 * suite never closes its parents): its database is emptied and handed to the next new
 * location. A location a long test keeps using (a setup test's) stays its own.
 * SHARDLINE_LEVEL_SUITE_SHARED=0 opens a real database in its own directory for every
 * location instead; the suite then leaves more databases open at once than a process can
 * hold (each reserves its whole memory, over 512 MiB of address space, at open: Bun stops
 * at ~136) and its later tests fail to open.
 */
const LOCATIONS_KEPT = 32;
const byLocation = new Map<string, Db>();
/** The number of locations made when each location was last touched. */
const lastTouched = new Map<string, number>();
let made = 0;
const idle: Db[] = [];
const everyDb = new Set<Db>();

/** `db` as the adapter sees it (touching its location), except that close() leaves it open. */
function keptOpen(db: Db, location: string): Db {
  return new Proxy(db, {
    get(target, name) {
      lastTouched.set(location, made);
      if (name === "close") return async () => {};
      const value = Reflect.get(target, name, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

async function emptied(db: Db): Promise<Db> {
  for (;;) {
    const keys: Array<{ type: "delete"; key: Uint8Array }> = [];
    for (const [key] of db.scan({ limit: 1000 })) keys.push({ type: "delete", key });
    if (keys.length === 0) return db;
    await db.batch(keys);
  }
}

const sharedDatabases = (await import("node:process")).env.SHARDLINE_LEVEL_SUITE_SHARED !== "0";
const ShardlineLevel = bindLevel(sharedDatabases ? {
  async open(location: string, options?: Parameters<typeof open>[1]) {
    // What open checks on a real directory, for a location.
    if (options?.createIfMissing === false && !byLocation.has(location)) throw new DatabaseNotFoundError(location);
    if (options?.errorIfExists === true && byLocation.has(location)) throw new DatabaseExistsError(location);
    let db = byLocation.get(location);
    if (db === undefined) {
      made++;
      for (const [old, touched] of lastTouched) {
        if (made - touched <= LOCATIONS_KEPT) continue;
        lastTouched.delete(old);
        idle.push(await emptied(byLocation.get(old)!));
        byLocation.delete(old);
      }
      db = idle.pop() ?? (await open(tempDir("shardline-level-"), { ...options, createIfMissing: true, errorIfExists: false }));
      everyDb.add(db);
      byLocation.set(location, db);
    }
    lastTouched.set(location, made);
    return keptOpen(db, location);
  },
} : { open });

/**
 * Databases as cheap as shardline allows: one shard, the smallest memtable and log buffer,
 * "async" durability (a write is visible once in the memtable; nothing here needs a sync).
 */
const CHEAP: ShardlineLevelOptions["shardline"] = { shards: 1, durability: "async", memtableBytesMax: 1024 * 1024, walBufferBytes: 4 * 1024 * 1024, walSegmentBytesMax: 2 * 1024 * 1024 };

interface TapeTest {
  name: string;
  asserts: number;
  failures: string[];
}

const started = Date.now();
/** SHARDLINE_LEVEL_SUITE_VERBOSE=1: each tape test's name and time on stderr, as it ends. */
const verbose = (await import("node:process")).env.SHARDLINE_LEVEL_SUITE_VERBOSE === "1";
let testStarted = Date.now();
const harness = tape.createHarness();
const byId = new Map<number, TapeTest>();
const topLevel: TapeTest[] = [];
const stream = harness.createStream({ objectMode: true });
stream.on("data", (row: { type: string; id?: number; test?: number; name?: string; parent?: number; ok?: boolean; skip?: unknown; todo?: unknown; operator?: string; actual?: unknown; expected?: unknown; error?: { stack?: string } }) => {
  if (row.type === "test") {
    const parent = row.parent === undefined ? undefined : byId.get(row.parent);
    const entry = parent ?? { name: row.name ?? "", asserts: 0, failures: [] };
    byId.set(row.id!, entry);
    if (!parent) topLevel.push(entry);
    if (!parent && verbose) {
      console.error(`  [abstract-level suite] ${Date.now() - testStarted} ms (${everyDb.size} databases, ${idle.length} idle), then: ${entry.name}`);
      testStarted = Date.now();
    }
  } else if (row.type === "assert") {
    const entry = byId.get(row.test!);
    if (!entry) return;
    entry.asserts++;
    if (!row.ok && !row.todo && !row.skip) {
      const detail = row.error?.stack ?? `${row.operator}: expected ${String(row.expected)}, actual ${String(row.actual)}`;
      entry.failures.push(`${row.name}: ${detail}`);
      if (verbose) console.error(`  [abstract-level suite] FAILED in ${entry.name}: ${row.name}: ${detail.split("\n").slice(0, 3).join(" | ")}`);
    }
  }
});
const finished = new Promise<void>((resolve) => harness.onFinish(() => resolve()));

let locations = 0;
abstractLevelSuite({
  test: harness,
  factory: (options?: ShardlineLevelOptions) => new ShardlineLevel(sharedDatabases ? `location-${++locations}` : tempDir("shardline-level-"), { ...options, shardline: CHEAP }),
});
await finished;
for (const db of everyDb) await db.close();
cleanup();

const failed = topLevel.filter((t) => t.failures.length > 0).length;
console.log(`  [abstract-level suite] ${topLevel.length} tape tests, ${topLevel.reduce((n, t) => n + t.asserts, 0)} assertions, ${failed} failed, ${((Date.now() - started) / 1000).toFixed(1)} s`);

const test = suite("abstract-level suite on shardline/level");
for (const t of topLevel) {
  test(t.name, () => {
    if (t.failures.length > 0) throw new Error(`${t.failures.length} tape assertion(s) failed:\n${t.failures.join("\n")}`);
  });
}
test.run();
