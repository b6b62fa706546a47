// What `shardline` exports besides the three names each runtime entry binds itself
// (`open`, `attach`, `runtime`): shared by runtimes/{node,bun,deno}/mod.ts.
//
// The values are named one by one because src/engine/public.ts also exports `bindDatabaseApi`,
// the Platform binder only the entries and tests use: `export *` of public.ts would export
// it at run time from every bundle, although the published declarations strip it. Types
// cost nothing at run time and follow public.ts as it is (its declarations hide the binder).
// tests/package/exports.test.ts checks that public.ts exports no other value but the
// binder; tests/package/install.test.ts that the installed package exports exactly the
// public names (README "Exports") in Node, Bun and Deno.

export { Database } from "../../src/engine/public.ts";
export { BATCH_BYTES_MAX, BATCH_OPS_MAX, KEY_BYTES_MAX, SHARDS_MAX, VALUE_BYTES_MAX } from "../../src/engine/public.ts";
export {
  ClosedError,
  CorruptionError,
  DatabaseExistsError,
  DatabaseNotFoundError,
  FeedHistoryError,
  FeedOverflowError,
  FileSystemError,
  LockedError,
  LockUnavailableError,
  MemoryFullError,
  QueueClosedError,
  QueueFullError,
  ReadOnlyError,
  ReaderEvictedError,
  FollowerDirectoryError,
  ShardlineError,
  SnapshotReleasedError,
  TimeoutError,
  WalFailedError,
} from "../../src/engine/public.ts";
export type * from "../../src/engine/public.ts";
