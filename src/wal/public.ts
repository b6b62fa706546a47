/**
 * The public surface of `shardline/wal`, bound to a runtime's Platform by each runtime
 * entry (runtimes/<rt>/wal.ts), so users never see a Platform.
 */
import { publicError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { Log, type LogOptions, type SharedLogHandle } from "./log.ts";

export { Log } from "./log.ts";
export type { Coordination, Durability, LogData, LogLimits, LogOptions, LogRecord, LogStats, RecoveryReport, SharedLogHandle, StreamOptions } from "./log.ts";
export { ClosedError, CorruptionError, FileSystemError, LockedError, ShardlineError, WalFailedError } from "../errors.ts";
export { LogTrimmedError } from "./log-tail.ts";

export interface LogApi {
  /** Opens (creating if needed) the log in `dir`; recovery runs first. */
  openLog(dir: string, options?: LogOptions): Promise<Log>;
  /** In a worker thread: a handle on a log another thread opened (`log.share()`). */
  attachLog(handle: SharedLogHandle): Promise<Log>;
}

/** @internal The runtime entries bind their Platform with it; tests import it from here. */
export function bindLogApi(platform: Platform): LogApi {
  return {
    openLog: (dir, options) => Log.open(platform, dir, options).catch((error) => Promise.reject(publicError(error))),
    attachLog: (handle) => Log.attach(platform, handle),
  };
}
