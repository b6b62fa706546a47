/**
 * The public surface of `shardline`, bound to a runtime's Platform by each runtime entry
 * (runtimes/<rt>/mod.ts), so users never see a Platform.
 */
import type { Platform } from "../platform.ts";
import { Database, type DatabaseHandle } from "./database.ts";
import { openDatabase } from "./open.ts";
import type { DatabaseOptions } from "./options.ts";

export { Database } from "./database.ts";
export type { BatchOperation, CoordinationInfo, DatabaseHandle, DatabaseStats, Key, RecoveryInfo, ScanOptions, Snapshot, Value } from "./database.ts";
export type { Coordination, DatabaseOptions, Durability, WriteQueueOptions } from "./options.ts";
export { BATCH_BYTES_MAX, BATCH_OPS_MAX } from "./options.ts";
export { KEY_BYTES_MAX, SHARDS_MAX, VALUE_BYTES_MAX } from "../core/core.ts";
export { ClosedError, CorruptionError, DatabaseExistsError, DatabaseNotFoundError, FileSystemError, FollowerDirectoryError, LockedError, MemoryFullError, ReadOnlyError, ReaderEvictedError, LockUnavailableError, QueueClosedError, QueueFullError, FeedHistoryError, FeedOverflowError, ShardlineError, SnapshotReleasedError, TimeoutError, WalFailedError } from "../errors.ts";
export type { EnqueueOptions, WriteQueueStats } from "./write-queue.ts";
export type { ChangeEvent } from "./change-feed.ts";
export type { ScanIterator } from "./scan.ts";
// The types stats() returns parts of, so that users can name them.
export type { BlockCacheStats } from "../table/block-cache.ts";
export type { LockRecord } from "../lock.ts";
export type { ReaderSlotInfo } from "./reader-slots.ts";
export type { LiveReaderStats } from "./live-reader.ts";

export interface DatabaseApi {
  /** Opens (creating if needed) the database in `dir`, recovering it first. */
  open(dir: string, options?: DatabaseOptions): Promise<Database>;
  /** In a worker thread: a handle on a database another thread opened (`db.share()`). */
  attach(handle: DatabaseHandle): Promise<Database>;
}

/** @internal The runtime entries bind their Platform with it; tests import it from here. */
export function bindDatabaseApi(platform: Platform): DatabaseApi {
  return {
    open: (dir, options) => openDatabase(platform, dir, options),
    attach: (handle) => Database.attach(platform, handle),
  };
}
