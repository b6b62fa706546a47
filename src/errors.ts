/**
 * Errors: the error classes shardline throws at its users, each with a stable string
 * `code` (like Level's `LEVEL_*` codes) so callers can branch without parsing messages.
 *
 * Invariants: `code` never changes for a given class once published; messages may.
 * Platform failures are `PlatformError` (src/platform.ts), not these.
 * Threads: plain values; any thread may create and throw them.
 */

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

/** Who holds a directory lock, as far as its lock file tells. */
export interface LockHolderInfo {
  pid: number;
  runtime: string;
}

/** Another live process (or another open in this process) holds the database directory. */
export class LockedError extends ShardlineError {
  override name = "LockedError";
  override readonly code = "SHARDLINE_LOCKED";
  constructor(
    /** The database directory that could not be locked. */
    readonly dir: string,
    /** The live holder seen at the last attempt, if its lock file could be read. */
    readonly holder: LockHolderInfo | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `database directory ${dir} is locked by ` +
        (holder ? `pid ${holder.pid} (${holder.runtime})` : "another process whose lock file is still being written"),
      "SHARDLINE_LOCKED",
      options,
    );
  }
}
