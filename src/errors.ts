/**
 * Errors: the error classes shardline throws at its users, each with a stable string
 * `code` (like Level's `LEVEL_*` codes) so callers can branch without parsing messages.
 *
 * Invariants: `code` never changes for a given class once published; messages may.
 * Platform failures are `PlatformError` (src/platform.ts) inside; the public API hands
 * them out as FileSystemError (`publicError`), with the PlatformError as `cause`.
 * Threads: plain values; any thread may create and throw them.
 */
import { PlatformError } from "./platform.ts";

/** Base class of every error shardline itself raises. */
export class ShardlineError extends Error {
  override name = "ShardlineError";
  constructor(
    message: string,
    /** Stable machine-readable code, "SHARDLINE_*". */
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A file-system operation failed where no more specific error applies (opening a path
 * that is a file, a directory without permission, a full disk while opening...). The
 * message names the operation and the path once; `cause` is the platform's error, whose
 * `code` is the OS code ("ENOTDIR", "EACCES", ...), also here as `osCode`.
 */
export class FileSystemError extends ShardlineError {
  override name = "FileSystemError";
  override readonly code = "SHARDLINE_FS";
  /** The OS error code, as on `cause.code` ("ENOENT", "ENOTDIR", "EACCES", ...). */
  readonly osCode: string;
  /** The operation that failed ("mkdir", "open(create)", ...), when known. */
  readonly operation: string | undefined;
  /** The path it failed on, when known. */
  readonly path: string | undefined;
  constructor(cause: Error & { code: string; operation?: string; path?: string }) {
    super(cause.message, "SHARDLINE_FS", { cause });
    this.osCode = cause.code;
    this.operation = cause.operation;
    this.path = cause.path;
  }
}

/**
 * A database opened with `readOnly: true` was asked to change something: a write, a flush,
 * or, during the open, a repair of a log or a flush the replay needed (`what` says which).
 */
export class ReadOnlyError extends ShardlineError {
  override name = "ReadOnlyError";
  override readonly code = "SHARDLINE_READ_ONLY";
  constructor(readonly dir: string, readonly what: string, detail = "") {
    super(`${what} refused: database ${dir} was opened with readOnly: true${detail}`, "SHARDLINE_READ_ONLY");
  }
}

/** A writer `open` of a follower's directory (src/replicate/follower.ts): only the follower writes there. */
export class FollowerDirectoryError extends ReadOnlyError {
  override name = "FollowerDirectoryError";
  constructor(dir: string) {
    super(dir, "writes");
    this.message = `database ${dir} is a follower's directory (it holds FOLLOWER): only its follower writes to it (openFollower); open it with readOnly: true to read it`;
  }
}

/**
 * A write found no room in the database's shared memory and was refused: nothing of it was
 * logged or applied, and the database stays open. The memory is full of memtable arenas
 * retired while a read (a scan held open) was still in them: each is reused once every read
 * that began before its retirement ended. End long-held scans, then retry.
 */
export class MemoryFullError extends ShardlineError {
  override name = "MemoryFullError";
  override readonly code = "SHARDLINE_MEMORY_FULL";
  constructor(dir: string) {
    super(`database ${dir}: no room in the shared memory for another memtable; memtables retired while a scan was still reading them are reused only once it ends: end long-held scans, then retry the write`, "SHARDLINE_MEMORY_FULL");
  }
}

/**
 * A read-only handle fell so far behind the writer (its reads would keep more than the
 * writer's `readerRetainBytesMax` of old log and tables) that the writer dropped its claim
 * on those files (src/engine/reader-slots.ts). Reads refuse until `await db.refresh()`,
 * which rebuilds the handle from the current files (or reopen it); snapshots and scans
 * taken before cannot be continued.
 */
export class ReaderEvictedError extends ShardlineError {
  override name = "ReaderEvictedError";
  override readonly code = "SHARDLINE_READER_EVICTED";
  constructor(readonly dir: string) {
    super(
      `read-only handle on ${dir} fell too far behind its writer, which no longer keeps the files it read: await db.refresh() (or reopen) to read the current state`,
      "SHARDLINE_READER_EVICTED",
    );
  }
}

/** `open` with `createIfMissing: false` where the directory holds no database (no MANIFEST). */
export class DatabaseNotFoundError extends ShardlineError {
  override name = "DatabaseNotFoundError";
  override readonly code = "SHARDLINE_NOT_FOUND";
  constructor(
    readonly dir: string,
    /** Why none was made: createIfMissing false, or readOnly (a read-only open creates nothing, whatever createIfMissing says). */
    why: "createIfMissing is false" | "readOnly is true" = "createIfMissing is false",
    /** Said instead of "no MANIFEST": why what the directory holds is not yet a database state (a follower catching up to its snapshot). */
    notYet?: string,
  ) {
    super(notYet ? `no database state in ${dir} yet: ${notYet}` : `no database in ${dir} (no MANIFEST) and ${why}; nothing was created`, "SHARDLINE_NOT_FOUND");
  }
}

/** `open` with `errorIfExists: true` where the directory already holds a database. */
export class DatabaseExistsError extends ShardlineError {
  override name = "DatabaseExistsError";
  override readonly code = "SHARDLINE_EXISTS";
  constructor(readonly dir: string) {
    super(`a database already exists in ${dir} and errorIfExists is true`, "SHARDLINE_EXISTS");
  }
}

/** What the public API throws for `error`: a PlatformError becomes a FileSystemError; the rest as it is. */
export function publicError(error: unknown): unknown {
  return error instanceof PlatformError ? new FileSystemError(error) : error;
}

/** Who holds a directory lock, as far as its lock file tells. */
export interface LockHolderInfo {
  pid: number;
  runtime: string;
  /** The holder is this very process (another open of the directory here, not yet closed). */
  thisProcess?: boolean;
}

/** Another live process (or another open in this process) holds the database (or shardline/wal log) directory. */
export class LockedError extends ShardlineError {
  override name = "LockedError";
  override readonly code = "SHARDLINE_LOCKED";
  constructor(
    /** The database (or log) directory that could not be locked. */
    readonly dir: string,
    /** The live holder seen at the last attempt, if its lock file could be read. */
    readonly holder: LockHolderInfo | undefined,
    options?: { cause?: unknown; kind?: "database" | "log" },
  ) {
    const log = options?.kind === "log";
    super(
      holder?.thisProcess
        ? `${log ? "log" : "database"} directory ${dir} is already open in this process (pid ${holder.pid}): close that handle first, or share it with workers (${log ? "log.share() and attachLog" : "db.share() and attach"})`
        : `${log ? "log" : "database"} directory ${dir} is locked by ` + (holder ? `pid ${holder.pid} (${holder.runtime})` : "another process whose lock file is still being written"),
      "SHARDLINE_LOCKED",
      options,
    );
  }
}

/**
 * The log (or the database) failed to write or sync and is in a failed state: this and
 * every later write rejects. The operating system's error is the `cause`. Never retried:
 * after a failed fsync the kernel may have dropped the data (fsyncgate), so nothing
 * written since the last good sync can be promised. Reopen to recover from the disk.
 */
export class WalFailedError extends ShardlineError {
  override name = "WalFailedError";
  override readonly code = "SHARDLINE_WAL_FAILED";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, "SHARDLINE_WAL_FAILED", options);
  }
}

/** Data on disk failed a checksum or is inconsistent; names the file and, where known, the offset. */
export class CorruptionError extends ShardlineError {
  override name = "CorruptionError";
  override readonly code = "SHARDLINE_CORRUPTION";
  constructor(
    message: string,
    /** The file in which the corruption was found. */
    readonly file: string,
    /** Byte offset in that file, when known. */
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(message, "SHARDLINE_CORRUPTION", options);
  }
}

/** A call on a log or database after `close()`. */
export class ClosedError extends ShardlineError {
  override name = "ClosedError";
  override readonly code: string = "SHARDLINE_CLOSED";
  constructor(what: string) {
    super(`${what} is closed`, "SHARDLINE_CLOSED");
  }
}

/**
 * `coordination: "required"` and the directory lock cannot be taken at all: the file
 * system refused the lock protocol (the OS error is the `cause`). Under "auto" such a
 * database opens without the lock and says so in `stats().coordination`.
 */
export class LockUnavailableError extends ShardlineError {
  override name = "LockUnavailableError";
  override readonly code = "SHARDLINE_LOCK_UNAVAILABLE";
  constructor(readonly dir: string, options?: { cause?: unknown }) {
    super(`cannot lock database directory ${dir}: ${(options?.cause as Error)?.message ?? "no lock available"}`, "SHARDLINE_LOCK_UNAVAILABLE", options);
  }
}

/** A snapshot was used after `release()`. */
export class SnapshotReleasedError extends ShardlineError {
  override name = "SnapshotReleasedError";
  override readonly code = "SHARDLINE_SNAPSHOT_RELEASED";
  constructor() {
    super("the snapshot was released", "SHARDLINE_SNAPSHOT_RELEASED");
  }
}

/** `db.enqueue`: the write queue already holds `capacity` requests that have not started. */
export class QueueFullError extends ShardlineError {
  override name = "QueueFullError";
  override readonly code = "SHARDLINE_QUEUE_FULL";
  constructor(
    /** The queue's capacity (the `writeQueue.capacity` option). */
    readonly capacity: number,
  ) {
    super(`the write queue is full (${capacity} requests waiting; writeQueue.capacity)`, "SHARDLINE_QUEUE_FULL");
  }
}

/**
 * `db.enqueue` after `close()` was called on that handle. A ClosedError, as every call on a
 * closed handle fails with, with a code of its own.
 */
export class QueueClosedError extends ClosedError {
  override name = "QueueClosedError";
  override readonly code: string = "SHARDLINE_QUEUE_CLOSED";
  constructor(what: string) {
    super(`the write queue of ${what}`);
  }
}

/**
 * A queued write waited longer than its `timeoutMs` without starting: nothing of it was
 * written. (Named "TimeoutError" like the DOM's, with a stable code.)
 */
export class TimeoutError extends ShardlineError {
  override name = "TimeoutError";
  override readonly code = "SHARDLINE_TIMEOUT";
  constructor(
    /** The timeout that expired, ms. */
    readonly timeoutMs: number,
  ) {
    super(`the queued write did not start within ${timeoutMs} ms; nothing was written`, "SHARDLINE_TIMEOUT");
  }
}

/**
 * A change-feed subscriber fell too far behind: the log it reads was flushed to tables and
 * trimmed before it read it (or, `reason` says, it would have to hold too many events).
 * Its iteration ends with this error; subscribe again (with `from` to catch up while the
 * WAL still holds the changes).
 */
export class FeedOverflowError extends ShardlineError {
  override name = "FeedOverflowError";
  override readonly code = "SHARDLINE_FEED_OVERFLOW";
  constructor(readonly reason: string) {
    super(`the change-feed subscriber fell behind: ${reason}; events were lost to it`, "SHARDLINE_FEED_OVERFLOW");
  }
}

/** `subscribe({ from })` asked for changes the WAL no longer holds (they were flushed to tables and trimmed). */
export class FeedHistoryError extends ShardlineError {
  override name = "FeedHistoryError";
  override readonly code = "SHARDLINE_FEED_HISTORY_GONE";
  constructor(readonly from: bigint, readonly shard: number, readonly flushedThrough: bigint) {
    super(`changes from commit timestamp ${from} are no longer in the WAL: shard ${shard} flushed through ${flushedThrough}`, "SHARDLINE_FEED_HISTORY_GONE");
  }
}
