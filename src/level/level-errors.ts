/**
 * Level errors: shardline's errors (src/errors.ts) as the `LEVEL_*` codes abstract-level
 * consumers test for (abstract-level README, "Errors"). The shardline error stays the
 * `cause`, so nothing is lost. Threads: pure.
 */
import { ShardlineError } from "../errors.ts";

/** An error with an abstract-level `code`. */
export class LevelError extends Error {
  constructor(message: string, readonly code: string, options?: { cause?: unknown; name?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    if (options?.name) this.name = options.name;
  }
}

/** shardline error codes -> abstract-level codes. */
const LEVEL_CODE_OF: Record<string, string> = {
  SHARDLINE_CLOSED: "LEVEL_DATABASE_NOT_OPEN",
  SHARDLINE_CORRUPTION: "LEVEL_CORRUPTION",
  SHARDLINE_LOCKED: "LEVEL_LOCKED",
  SHARDLINE_LOCK_UNAVAILABLE: "LEVEL_LOCKED",
  SHARDLINE_WAL_FAILED: "LEVEL_IO_ERROR",
  SHARDLINE_FS: "LEVEL_IO_ERROR",
  SHARDLINE_READ_ONLY: "LEVEL_READONLY",
  SHARDLINE_SNAPSHOT_RELEASED: "LEVEL_SNAPSHOT_NOT_OPEN",
  SHARDLINE_NOT_FOUND: "LEVEL_DATABASE_NOT_OPEN",
  SHARDLINE_EXISTS: "LEVEL_DATABASE_NOT_OPEN",
};

/**
 * `error` as abstract-level reports it: a ShardlineError with a known code becomes a
 * LevelError with the matching LEVEL_* code (cause: the original); a RangeError about a
 * key or a value (over a limit) becomes LEVEL_INVALID_KEY / LEVEL_INVALID_VALUE; anything
 * else (a TypeError, an unknown error) is returned as is.
 */
export function levelError(error: unknown): unknown {
  if (error instanceof LevelError) return error;
  if (error instanceof ShardlineError) {
    const code = LEVEL_CODE_OF[error.code];
    return code ? new LevelError(error.message, code, { cause: error }) : error;
  }
  if (error instanceof RangeError) {
    if (/^key /.test(error.message)) return new LevelError(error.message, "LEVEL_INVALID_KEY", { cause: error });
    if (/^value /.test(error.message)) return new LevelError(error.message, "LEVEL_INVALID_VALUE", { cause: error });
  }
  return error;
}

/** What an iterator's call rejects with once its `signal` aborted (abstract-level's AbortError). */
export function abortError(cause: unknown): LevelError {
  return new LevelError("Operation has been aborted", "LEVEL_ABORTED", { cause, name: "AbortError" });
}
