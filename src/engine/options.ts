/**
 * Database options: defaults, limits and validation (TypeError for a wrong type,
 * RangeError naming the limit for a value out of range). Documented in README.md.
 * Threads: pure.
 */
import { KEY_BYTES_MAX, MEMORY_BYTES_LIMIT, SHARDS_MAX, VALUE_BYTES_MAX } from "../core/core.ts";
import { rejectUnknownNames } from "../nearest-name.ts";
import { CACHE_BYTES_MAX_DEFAULT } from "../table/block-cache.ts";
import type { FaultPlan } from "../platform-faults.ts";

import type { Coordination, Durability } from "../wal/log.ts";

/** The same meanings as the log's own options (src/wal/log.ts). */
export type { Coordination, Durability };

export interface DatabaseOptions {
  /** Number of shards (1 to 256); fixed when the database is created. Default 4. */
  shards?: number;
  /** "full" (default): a write resolves after the fdatasync covering it. "async": after the memtable insert. */
  durability?: Durability;
  /** Fast path on (default). false: every write goes to the shard's actor. */
  fastWrite?: boolean;
  /** async durability: the longest a write waits before its sync, in microseconds. Default 1000. */
  walBatchIntervalUs?: number;
  /**
   * Memtable size per shard, bytes (a multiple of 64 KiB, 64 KiB to 1 GiB). Default 4 MiB.
   * Values may be at most a quarter of it (and at most VALUE_BYTES_MAX).
   */
  memtableBytesMax?: number;
  /** Group WAL segment size, bytes (2 MiB to 1 GiB). Default 64 MiB. */
  walSegmentBytesMax?: number;
  /** The group WAL's shared buffer, bytes (a power of two, 4 MiB to 256 MiB). Default 4 MiB. */
  walBufferBytes?: number;
  /** "auto" (default) or "required": one writer process per directory; "single-process-unsafe": no lock. */
  coordination?: Coordination;
  /** How long a second open waits for the directory lock before LockedError, ms. Default 1000. */
  coordinationTimeoutMs?: number;
  /** Table block cache per thread, bytes. Default 32 MiB. */
  blockCacheBytesMax?: number;
  /** Open even with corruption in the middle of a log, cutting it there (reported in `stats().recovery`). */
  salvage?: boolean;
  /** The queue behind `db.enqueue` (src/engine/write-queue.ts); every handle has its own, with this config. */
  writeQueue?: WriteQueueOptions;
  /** false: opening a directory without a database fails with DatabaseNotFoundError, creating nothing. Default true. */
  createIfMissing?: boolean;
  /** true: opening a directory that already holds a database fails with DatabaseExistsError. Default false. */
  errorIfExists?: boolean;
  /**
   * true: open for reading only (get, scan, snapshots, stats; writes reject with
   * ReadOnlyError). Takes no directory lock and starts no thread; it changes nothing in the
   * directory but its own slot file in `readers/`, and follows the writer (refreshed by
   * reads every refreshIntervalMs and by refresh(): docs/RECOVERY.md, "Read-only open"). Default false.
   */
  readOnly?: boolean;
  /**
   * readOnly: a read starts a refresh in the background (the handle follows the writer's
   * durable log and MANIFEST: docs/ENGINE.md "Live readers") when the last one started more
   * than this long ago, in ms (0 to 2,147,483,647; 0: at every read, one at a time). Reads
   * never wait for it; `await db.refresh()` does. Default 100.
   */
  refreshIntervalMs?: number;
  /**
   * Writer: the most bytes of old log segments and dropped tables one live read-only handle
   * may keep from deletion (src/engine/reader-slots.ts); a reader past it is evicted (its
   * reads get ReaderEvictedError until it refreshes). 0 to 2^53-1. Default 1 GiB.
   */
  readerRetainBytesMax?: number;
  /**
   * @internal Left out of the published declarations (tsconfig stripInternal).
   * For tests only: make the group log's durability worker or the actor fail its n-th write
   * or sync (src/platform-faults.ts), to prove the database fails stop; or give the
   * shared memory `memorySlackBytes` beyond its memtables and rings instead of 512 MiB,
   * to reach a full shared memory in a few MiB of writes.
   */
  faults?: DatabaseFaults;
}

/** For tests only (DatabaseOptions.faults, which the published declarations leave out). */
export interface DatabaseFaults {
  groupLog?: FaultPlan;
  actor?: FaultPlan;
  memorySlackBytes?: number;
}

/** `db.enqueue`'s queue (README.md, docs/ENGINE.md "Queued writes"). */
export interface WriteQueueOptions {
  /** Requests admitted and not yet started, at most (1 to 1,000,000). Default 1024. */
  capacity?: number;
  /** Requests in one group: written together, acknowledged after one durability wait (1 to capacity). Default 64 (or capacity if smaller). */
  maxBatch?: number;
  /** How long a group waits for more requests before it starts, microseconds (0 to 1,000,000). Default 0. */
  maxGroupDelayUs?: number;
  /** Default timeout of a request that has not started, ms (0 = none, up to 2,147,483,647). Default 0. */
  timeoutMs?: number;
}

export interface ResolvedWriteQueueOptions {
  capacity: number;
  maxBatch: number;
  maxGroupDelayUs: number;
  timeoutMs: number;
}

/** The largest timeout a timer can hold (setTimeout's limit), ms. */
export const TIMEOUT_MS_MAX = 2_147_483_647;
export const WRITE_QUEUE_CAPACITY_MAX = 1_000_000;

/** Validates `writeQueue` (TypeError / RangeError naming `writeQueue.<field>`). */
export function resolveWriteQueueOptions(options: WriteQueueOptions | undefined): ResolvedWriteQueueOptions {
  if (options !== undefined && (typeof options !== "object" || options === null || Array.isArray(options))) throw new TypeError("writeQueue must be an object");
  const o = options ?? {};
  rejectUnknownNames(o, WRITE_QUEUE_OPTION_NAMES, "writeQueue.");
  const capacity = integer("writeQueue.capacity", o.capacity, 1, WRITE_QUEUE_CAPACITY_MAX, 1024);
  return {
    capacity,
    maxBatch: integer("writeQueue.maxBatch", o.maxBatch, 1, capacity, Math.min(64, capacity)),
    maxGroupDelayUs: integer("writeQueue.maxGroupDelayUs", o.maxGroupDelayUs, 0, 1_000_000, 0),
    timeoutMs: integer("writeQueue.timeoutMs", o.timeoutMs, 0, TIMEOUT_MS_MAX, 0),
  };
}

/** The largest value a database with this memtable size accepts. */
export function valueBytesMaxFor(memtableBytesMax: number): number {
  return Math.min(VALUE_BYTES_MAX, Math.floor(memtableBytesMax / 4));
}

/** Every key DatabaseOptions has: any other is refused (TypeError naming the nearest). */
const OPTION_NAMES: readonly (keyof DatabaseOptions)[] = [
  "shards", "durability", "fastWrite", "walBatchIntervalUs", "memtableBytesMax", "walSegmentBytesMax", "walBufferBytes",
  "coordination", "coordinationTimeoutMs", "blockCacheBytesMax", "salvage", "writeQueue", "createIfMissing", "errorIfExists",
  "readOnly", "refreshIntervalMs", "readerRetainBytesMax", "faults",
];
const WRITE_QUEUE_OPTION_NAMES: readonly (keyof WriteQueueOptions)[] = ["capacity", "maxBatch", "maxGroupDelayUs", "timeoutMs"];

export interface ResolvedOptions {
  shards: number | undefined;
  createIfMissing: boolean;
  errorIfExists: boolean;
  readOnly: boolean;
  refreshIntervalMs: number;
  readerRetainBytesMax: number;
  durability: Durability;
  fastWrite: boolean;
  walBatchIntervalUs: number;
  memtableBytesMax: number;
  walSegmentBytesMax: number;
  walBufferBytes: number;
  coordination: Coordination;
  coordinationTimeoutMs: number;
  blockCacheBytesMax: number;
  salvage: boolean;
  writeQueue: ResolvedWriteQueueOptions;
  faults: DatabaseFaults;
}

const MIB = 1024 * 1024;
export const DEFAULT_SHARDS = 4;
export const MEMTABLE_BYTES_MIN = 64 * 1024;
export const MEMTABLE_BYTES_MAX = 1024 * MIB;
/** memtableBytesMax when the options do not say. */
export const MEMTABLE_BYTES_DEFAULT = 4 * MIB;
/** The actor's request queue, bytes (it bounds the channel path's queue). */
export const REQUEST_QUEUE_BYTES = 4 * MIB;
/** Most operations in one atomic batch (`batch`). */
export const BATCH_OPS_MAX = 1_000_000;
/** Most key and value bytes in one atomic batch (`batch`). */
export const BATCH_BYTES_MAX = 64 * MIB;
/**
 * A batch within both small limits is written as one record (fast path, or one channel
 * request); a larger one as a large batch: fragments and a commit record (docs/ENGINE.md,
 * "Large atomic batches"). `enqueue` takes small batches only.
 */
export const SMALL_BATCH_OPS_MAX = 1000;
/** Most key and value bytes in a small batch (with its operation headers it fits the staging area). */
export const SMALL_BATCH_BYTES_MAX = VALUE_BYTES_MAX + KEY_BYTES_MAX;
/** Most bytes a large batch's fragment records hold (keys, values, operation and record headers). */
export const BATCH_LOG_BYTES_MAX = BATCH_BYTES_MAX + BATCH_OPS_MAX * 28;

/**
 * The small-batch limit of a database: SMALL_BATCH_BYTES_MAX, or twice memtableBytesMax when
 * that is less (valueBytesMax is a quarter of it then), so that the actor can always apply
 * one small batch within the frozen memtables a shard may have (src/engine/actor.ts #commit).
 */
export function smallBatchBytesMaxFor(valueBytesMax: number): number {
  return Math.min(SMALL_BATCH_BYTES_MAX, valueBytesMax * 8);
}
/** A batch's operation headers in the staging area, and the core's scratch per operation. */
export const BATCH_STAGED_OP_BYTES = 8;
export const BATCH_SCRATCH_OP_BYTES = 12;

function integer(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw new RangeError(`${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}, got ${JSON.stringify(value)}`);
  return value as T;
}

export function resolveOptions(given: DatabaseOptions = {}): ResolvedOptions {
  if (typeof given !== "object" || given === null) throw new TypeError("options must be an object");
  // Each option read once, into a copy: fastWrite was read up to three times, salvage and
  // others twice, so a getter could pass the checks with one value and be used with another
  // (review of the write paths, 2026-12-06).
  const options: DatabaseOptions = { ...given };
  rejectUnknownNames(options, OPTION_NAMES);
  for (const name of ["createIfMissing", "errorIfExists", "readOnly"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "boolean") throw new TypeError(`${name} must be a boolean`);
  }
  const memtableBytesMax = integer("memtableBytesMax", options.memtableBytesMax, MEMTABLE_BYTES_MIN, MEMTABLE_BYTES_MAX, MEMTABLE_BYTES_DEFAULT);
  if (memtableBytesMax % (64 * 1024) !== 0) throw new RangeError(`memtableBytesMax must be a multiple of 65536, got ${memtableBytesMax}`);
  const walBufferBytes = integer("walBufferBytes", options.walBufferBytes, 4 * MIB, 256 * MIB, 4 * MIB);
  if ((walBufferBytes & (walBufferBytes - 1)) !== 0) throw new RangeError(`walBufferBytes must be a power of two, got ${walBufferBytes}`);
  if (options.fastWrite !== undefined && typeof options.fastWrite !== "boolean") throw new TypeError("fastWrite must be a boolean");
  if (options.salvage !== undefined && typeof options.salvage !== "boolean") throw new TypeError("salvage must be a boolean");
  return {
    shards: options.shards === undefined ? undefined : integer("shards", options.shards, 1, SHARDS_MAX, DEFAULT_SHARDS),
    createIfMissing: options.createIfMissing ?? true,
    errorIfExists: options.errorIfExists ?? false,
    readOnly: options.readOnly ?? false,
    refreshIntervalMs: integer("refreshIntervalMs", options.refreshIntervalMs, 0, TIMEOUT_MS_MAX, 100),
    readerRetainBytesMax: integer("readerRetainBytesMax", options.readerRetainBytesMax, 0, Number.MAX_SAFE_INTEGER, 1024 * MIB),
    durability: oneOf("durability", options.durability, ["full", "async"], "full"),
    fastWrite: options.fastWrite ?? true,
    walBatchIntervalUs: integer("walBatchIntervalUs", options.walBatchIntervalUs, 0, 1_000_000, 1000),
    memtableBytesMax,
    walSegmentBytesMax: integer("walSegmentBytesMax", options.walSegmentBytesMax, 2 * MIB, 1024 * MIB, 64 * MIB),
    walBufferBytes,
    coordination: oneOf("coordination", options.coordination, ["auto", "required", "single-process-unsafe"], "auto"),
    coordinationTimeoutMs: integer("coordinationTimeoutMs", options.coordinationTimeoutMs, 0, 3_600_000, 1000),
    blockCacheBytesMax: integer("blockCacheBytesMax", options.blockCacheBytesMax, 0, 4096 * MIB, CACHE_BYTES_MAX_DEFAULT),
    salvage: options.salvage ?? false,
    writeQueue: resolveWriteQueueOptions(options.writeQueue),
    faults: resolveFaults(options.faults),
  };
}

const FAULT_NAMES = ["groupLog", "actor", "memorySlackBytes"] as const;
const FAULT_PLAN_NAMES = ["failWriteAt", "partialWriteAt", "failSyncAt", "failSyncWhileExists", "code", "syncDelayMs"] as const;

/** The test-only `faults` option, checked like the others (a slip must not pass silently). */
function resolveFaults(faults: unknown): DatabaseFaults {
  if (faults === undefined) return {};
  if (typeof faults !== "object" || faults === null) throw new TypeError("faults must be an object");
  rejectUnknownNames(faults, FAULT_NAMES, "faults.");
  const f = faults as DatabaseFaults;
  for (const name of ["groupLog", "actor"] as const) {
    const plan = f[name];
    if (plan === undefined) continue;
    if (typeof plan !== "object" || plan === null) throw new TypeError(`faults.${name} must be an object`);
    rejectUnknownNames(plan, FAULT_PLAN_NAMES, `faults.${name}.`);
  }
  if (f.memorySlackBytes !== undefined) integer("faults.memorySlackBytes", f.memorySlackBytes, 0, MEMORY_BYTES_LIMIT, 0);
  return f;
}

/**
 * Memtables a shard needs at the least to run: its active one, the fresh one a freeze puts
 * in its place while the frozen one waits for its flush, and the spare a channel commit
 * reserves (actor.ts #roomFor). Below that, writes would fail the database at its first
 * freeze; above it and below FROZEN_MAX + 3, they wait for flushes when the memory is full.
 */
const MEMTABLES_PER_SHARD_MIN = 3;

/**
 * RangeError when the shared memory (at most MEMORY_BYTES_LIMIT, wasm32 addresses) cannot
 * hold what `shards` memtables of memtableBytesMax need to run (MEMTABLES_PER_SHARD_MIN each),
 * with the log's and the request queue's buffers: before anything is made on disk. Each
 * option alone is within its limits; their product is not. (Found 2026-12-06: 4 shards of
 * 1 GiB memtables made a database on disk and then failed with MemoryFullError's advice to
 * end long scans.) A read-only open is refused the same way (its view replays into the
 * same memtables): it gave MemoryFullError, advice for writes (review of the limits).
 */
export function refuseUnfitMemory(shards: number, o: ResolvedOptions): void {
  const needed = shards * o.memtableBytesMax * MEMTABLES_PER_SHARD_MIN + o.walBufferBytes + REQUEST_QUEUE_BYTES;
  if (needed <= MEMORY_BYTES_LIMIT) return;
  const fits = Math.floor((MEMORY_BYTES_LIMIT - o.walBufferBytes - REQUEST_QUEUE_BYTES) / (shards * MEMTABLES_PER_SHARD_MIN) / 65536) * 65536;
  throw new RangeError(
    `${shards} shards with memtableBytesMax ${o.memtableBytesMax} need ${needed} bytes of shared memory (${MEMTABLES_PER_SHARD_MIN} memtables a shard, the log's buffer and the request queue), over its limit of ${MEMORY_BYTES_LIMIT}: ` +
      `use fewer shards or a memtableBytesMax of at most ${fits}`,
  );
}
