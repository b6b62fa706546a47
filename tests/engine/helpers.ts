/** Shared helpers for the engine tests: the platform, the database API, temp dirs, text. */
import { currentPlatform } from "../harness/platform.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { writeAll } from "../wal/helpers.ts";

export const platform = await currentPlatform();
export const { open, attach } = bindDatabaseApi(platform);
export const enc = new TextEncoder();
export const dec = new TextDecoder();
export const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : dec.decode(bytes));

const made: string[] = [];
export function tempDir(prefix = "shardline-db-"): string {
  const dir = platform.makeTempDir(prefix);
  made.push(dir);
  return dir;
}
export function cleanup(): void {
  // A directory that cannot be removed is reported, not thrown: thrown from uvu's after.each
  // hook, it would replace the failure of the test that left it (and end the suite).
  // With each directory, the graveyard a power-loss platform keeps beside it until its
  // crash (tests/harness/power-loss-platform.ts): a test that failed before the crash left it.
  for (const dir of made.splice(0)) {
    for (const path of [dir, `${dir}.power-loss-graveyard`]) {
      try {
        platform.removeAll(path);
      } catch (error) {
        console.log(`  cleanup: could not remove ${path}: ${(error as Error).message}`);
      }
    }
  }
}

/**
 * Options that make 1 MiB puts fill the group WAL ring (its smallest, 4 MiB) while every
 * fdatasync takes 300 ms: the next write waits behind the ring gate (src/engine/database.ts).
 */
export const SLOW_SMALL_RING = {
  shards: 1,
  durability: "async",
  memtableBytesMax: 64 * 1024 * 1024,
  walBufferBytes: 4 * 1024 * 1024,
  faults: { groupLog: { syncDelayMs: 300 } },
} as const;

/** The first `count` keys `${prefix}N` that a core of the database's shard count routes to `shard`. */
export function keysOfShard(router: { shardOf(key: Uint8Array): number }, prefix: string, shard: number, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (router.shardOf(enc.encode(`${prefix}${i}`)) === shard) keys.push(`${prefix}${i}`);
  return keys;
}

/** Rows of a scan as "key=value" strings. */
export function rows(iterable: Iterable<[Uint8Array, Uint8Array]>): string[] {
  return [...iterable].map(([k, v]) => `${dec.decode(k)}=${dec.decode(v)}`);
}

/** Waits (polling, never asserting on time) until `done()`; gives up after `limitMs` so a bug fails instead of hanging. */
export async function eventually(done: () => boolean, what: string, limitMs = 30_000): Promise<void> {
  const start = Date.now();
  while (!done()) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Waits (bounded) until the actor has nothing left to flush or merge: no frozen memtable,
 * no compaction debt, and the compaction count unchanged over `quietPolls` polls 5 ms apart.
 */
export async function backgroundSettled(db: { stats(): { compactions: number; shards: Array<{ frozenMemtables: number; compactionDebt: { merges: number } }> } }, limitMs = 15_000, quietPolls = 20): Promise<void> {
  const start = Date.now();
  let quiet = 0;
  let last = -1;
  while (quiet < quietPolls) {
    if (Date.now() - start > limitMs) throw new Error("gave up waiting for flushes and merges to settle");
    const s = db.stats();
    const idle = s.shards.every((sh) => sh.frozenMemtables === 0 && sh.compactionDebt.merges === 0);
    quiet = idle && s.compactions === last ? quiet + 1 : 0;
    last = s.compactions;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads the file at `path`, lets `change` edit its bytes in place, writes them back and syncs them (a damaged file, made durable). */
export function rewriteFile(path: string, change: (bytes: Uint8Array) => void): void {
  const bytes = platform.readFile(path);
  change(bytes);
  writeAll(path, bytes);
}
