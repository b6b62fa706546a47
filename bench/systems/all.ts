/**
 * Every system the harness knows, in report order: shardline first, then the peers.
 * `--system` picks by id ("lmdb-put") or family ("lmdb"). Threads: any.
 */
import { classicLevelNoSync, classicLevelSync } from "./classic-level.ts";
import { denoKv } from "./deno-kv.ts";
import { lmdbPut, lmdbPutFlushed, lmdbPutSync } from "./lmdb.ts";
import { shardlineAsync, shardlineFull } from "./shardline.ts";
import { sqliteFull, sqliteNormal } from "./sqlite.ts";
import type { System } from "./system.ts";

export const ALL_SYSTEMS: readonly System[] = [
  shardlineAsync,
  shardlineFull,
  lmdbPut,
  lmdbPutFlushed,
  lmdbPutSync,
  sqliteNormal,
  sqliteFull,
  classicLevelNoSync,
  classicLevelSync,
  denoKv,
];

export function systemById(id: string): System | undefined {
  return ALL_SYSTEMS.find((s) => s.id === id);
}

/** The systems `names` select (ids or families); all of them when `names` is empty. */
export function selectSystems(names: readonly string[]): System[] {
  if (names.length === 0) return [...ALL_SYSTEMS];
  return ALL_SYSTEMS.filter((s) => names.includes(s.id) || names.includes(s.family));
}
