/**
 * Opening a database for a command (`stats`, `get`, `put`, `delete`, `scan`; the reading
 * ones open it read-only: no lock, so they work while a program has it open), with the
 * failures a user can act on turned into CliErrors: no database at that path, the
 * directory locked by someone else (naming the holder), corruption (pointing at `doctor`).
 * Threads: the main thread of the command line.
 */
import { Core } from "../core/core.ts";
import type { Database } from "../engine/database.ts";
import { MANIFEST_NAME } from "../engine/manifest.ts";
import { dataWithoutManifest, dataWithoutManifestText } from "../engine/open.ts";
import { REPLAY_FLUSH_REFUSED } from "../engine/open-read-only.ts";
import { MEMTABLE_BYTES_DEFAULT, MEMTABLE_BYTES_MAX } from "../engine/options.ts";
import { bindDatabaseApi } from "../engine/public.ts";
import { CorruptionError, FollowerDirectoryError, LockedError, LockUnavailableError, ReadOnlyError } from "../errors.ts";
import type { LockHolderInfo } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { CliError, LOCK_WAIT_MS_DEFAULT } from "./io.ts";

export function holderText(holder: LockHolderInfo | undefined): string {
  return holder ? `pid ${holder.pid} (${holder.runtime})` : "a holder whose lock file is still being written";
}

/** Throws a CliError unless `dir` holds a database (a MANIFEST). */
export function requireDatabase(platform: Platform, dir: string): void {
  const stat = platform.stat(dir);
  if (!stat) throw new CliError(`${dir} does not exist`, 1, "check the path; `shardline put` creates a new database");
  if (!stat.isDirectory) throw new CliError(`${dir} is not a directory`, 1, "a shardline database is a directory");
  if (!platform.stat(`${dir}/${MANIFEST_NAME}`)) {
    const found = dataWithoutManifest(platform, dir);
    if (found.tableFiles + found.groupLogSegments + found.partitionLogs > 0) {
      throw new CliError(`${dir} has lost its ${MANIFEST_NAME}: it holds ${dataWithoutManifestText(found)}`, 1, `run \`shardline doctor --repair ${dir}\` to rebuild it`);
    }
    throw new CliError(`${dir} is not a shardline database (it has no ${MANIFEST_NAME})`, 1, "check the path; `shardline put` creates a new database");
  }
}

export interface OpenForCliOptions {
  /** Create the database if `dir` holds none (only `put` does). */
  create?: boolean;
  /** How long to wait for the directory lock, ms. */
  waitMs?: number;
  /** Open with `readOnly: true` (get, scan, stats): no lock, no thread, nothing written. */
  readOnly?: boolean;
}

/**
 * Opens the database in `dir` (recovering it, as every open does), or throws a CliError
 * saying why not. A read-only open replays the log not yet flushed into memtables in memory;
 * a writer with larger memtables than the default may have left more than they hold, so the
 * open is tried again with memtables 4 times larger, up to MEMTABLE_BYTES_MAX.
 */
export async function openForCli(platform: Platform, dir: string, options: OpenForCliOptions = {}): Promise<Database> {
  if (!options.create) requireDatabase(platform, dir);
  const readOnly = options.readOnly ?? false;
  for (let memtableBytesMax = MEMTABLE_BYTES_DEFAULT; ; memtableBytesMax *= 4) {
    try {
      return await bindDatabaseApi(platform).open(dir, { coordinationTimeoutMs: options.waitMs ?? LOCK_WAIT_MS_DEFAULT, readOnly, memtableBytesMax });
    } catch (error) {
      const logTooLarge = readOnly && error instanceof ReadOnlyError && error.what === REPLAY_FLUSH_REFUSED;
      if (!logTooLarge || memtableBytesMax * 4 > MEMTABLE_BYTES_MAX) throw explainOpenError(error, dir);
    }
  }
}

/** A CliError for what `open` threw, or the error itself when there is nothing to add. */
export function explainOpenError(error: unknown, dir: string): unknown {
  if (error instanceof LockedError) {
    return new CliError(
      `database ${dir} is locked by ${holderText(error.holder)}: another program has it open`,
      1,
      "close the database there and try again, or wait longer for the lock with --wait <ms>; `shardline doctor` shows who holds it",
    );
  }
  if (error instanceof LockUnavailableError) {
    return new CliError(error.message, 1, "the file system refused the lock protocol; see docs/CLI.md");
  }
  // Before ReadOnlyError, which it extends: no command may write there, and none needs to in order to read.
  if (error instanceof FollowerDirectoryError) {
    return new CliError(`${dir} is a follower's directory (it holds FOLLOWER): only its follower writes to it`, 1, "read it with get, scan or stats; write to the database it follows");
  }
  if (error instanceof ReadOnlyError) {
    return new CliError(`cannot read ${dir} without changing it: ${error.message}`, 1, "open it once with a command that writes (or from your program) so that it recovers, then read it");
  }
  if (error instanceof CorruptionError) {
    return new CliError(`cannot open ${dir}: ${error.message}`, 1, `run \`shardline doctor ${dir}\` for a full report`);
  }
  return error;
}

/**
 * A small core for tools that read files without opening the database (`doctor`, `wal
 * dump`): checksums, and the buffers log scanners read segments into.
 */
export function toolCore(): Promise<Core> {
  return Core.create({ shards: 1, memoryBytesMax: 64 * 1024 * 1024 });
}
