/**
 * `shardline doctor <dir>`: checks a database directory without opening it, and says what
 * it finds, each finding with a severity:
 *
 *   lock       who holds `LOCK.d` (pid, runtime, since when), and lock files left by holders
 *              that are gone (stale);
 *   readers    the writer's durable mark and every read-only handle's slot (`readers/`):
 *              whose, since when, which MANIFEST version and log it still reads, what that
 *              keeps from deletion; slots of processes that are gone;
 *   manifest   `MANIFEST` reads and its checksum matches; a `MANIFEST.tmp` left behind;
 *   tables     every table the manifest lists exists, has the size the manifest says, and
 *              its footer, index, filter, meta and every data block pass their checksums;
 *              every entry decodes and the count matches the footer; table files the
 *              manifest does not name (orphans of an interrupted flush or compaction);
 *   logs       the group WAL (`wal/`) and every shard's partition log (`shard-NNN/`):
 *              the chain of segment headers, every record's checksums and LSN binding, and
 *              that every record is an engine record; a torn tail (what a crash leaves,
 *              which open cuts) is told apart from corruption in the middle (which open
 *              refuses), by the same rules as recovery (src/wal/recovery.ts).
 *
 * Severities: "ok" (checked, fine), "warning" (not a loss: what a normal open tidies up, or
 * worth knowing), "error" (damage: data that cannot be read back, or a log open refuses).
 * Exit status 0 without errors, 1 with errors (or a refused or failed repair), 2 usage.
 *
 * Read-only unless `--repair` (but for its own reader slot in `readers/`, held while a live
 * writer has the lock, so that the tables of the MANIFEST it read stay: removed at the end;
 * a slot of a doctor killed meanwhile is a dead process's, which the writer deletes). With
 * `--repair`, if some finding is one a normal open fixes (torn log
 * tails, orphan table files, temp files, stale lock files, segments torn at creation), it
 * opens and closes the database (which takes the lock, recovers and tidies), refusing while
 * a live holder has the lock, and checks again. `--salvage` with `--repair` opens with
 * `salvage: true`, cutting a log at corruption in its middle (what follows is lost; the
 * cut segments are kept in `<log>/corrupt/`). A MANIFEST that is missing while table files
 * or logs are there (open refuses such a directory) is rebuilt first, from the tables'
 * footers and meta blocks (`rebuildManifest`), and the open then replays the logs whole.
 *
 * Threads: the main thread of the command line.
 */
import { Core, KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../core/core.ts";
import { partitionDir } from "../engine/flush.ts";
import { FOLLOWER_FILE_NAME, MANIFEST_NAME, type ManifestData, newManifest, readManifest, type TableRecord, tableFileName, tableNumberOf, tableRecord, writeManifest } from "../engine/manifest.ts";
import { readIdentity } from "../engine/identity.ts";
import { loggedOperations } from "../engine/logged-operations.ts";
import { dataWithoutManifest, dataWithoutManifestText } from "../engine/open.ts";
import { followerConsistentLsn } from "../engine/open-read-only.ts";
import { bindDatabaseApi } from "../engine/public.ts";
import { BatchAssembler } from "../engine/batch-assembler.ts";
import { decodeRecord, KIND_COMMIT, KIND_FRAGMENT, KIND_OPERATIONS } from "../engine/records.ts";
import { type RecoveryReport, segmentChainProblem } from "../wal/recovery.ts";
import { CorruptionError, LockedError, ReaderEvictedError } from "../errors.ts";
import { DURABLE_MARK_NAME, durableMarkPath, listReaderSlots, logBytesBelow, READERS_DIR_NAME, ReaderSlot, readersDir } from "../engine/reader-slots.ts";
import { readDurableMark } from "../wal/durable-mark.ts";
import { DELETING_NAME, readDeletingNote } from "../engine/table-deletions.ts";
import { acquireDirLock, LOCK_DIR_NAME, readLockHolders } from "../lock.ts";
import { type Platform, unlinkIfPresent } from "../platform.ts";
import { BlockCache } from "../table/block-cache.ts";
import { compareEntries, compareKeys } from "../table/key-order.ts";
import type { TableMeta } from "../table/format.ts";
import { TableReader } from "../table/table-reader.ts";
import type { SegmentHeader } from "../wal/format.ts";
import { creatingSegmentNames, listSegmentFiles, listSegmentFilesIfAny, onlyZerosAfterHeader, readSegmentHeader } from "../wal/segment-files.ts";
import { SegmentScanner, type StopReason } from "../wal/segment-scanner.ts";
import { explainOpenError, holderText, toolCore } from "./database.ts";
import { bytesText, type Progress, progress, table } from "./format.ts";
import { terminalSafe } from "./terminal-safe.ts";
import type { CliContext } from "./io.ts";
import { CliError, EXIT_FAILURE, EXIT_OK, toJson } from "./io.ts";

export type Severity = "ok" | "warning" | "error";

export interface Finding {
  severity: Severity;
  /** What was checked: "directory", "lock", "manifest", "tables", "wal", "partition logs". */
  check: string;
  /** The file or directory concerned, relative to the database directory. */
  file: string;
  message: string;
  /**
   * How it is fixed: by a normal open (`--repair`), by rebuilding the MANIFEST from the
   * table files before that open (`--repair`), or only by `--repair --salvage` (losing data).
   */
  repair?: "open" | "rebuild" | "salvage";
  /** `--repair` must not open the database while this stands (it would make things worse). */
  blocksRepair?: boolean;
}

export interface DoctorReport {
  dir: string;
  findings: Finding[];
  summary: { errors: number; warnings: number; ok: number };
  checked: {
    tables: number;
    tableBytes: number;
    dataBlocks: number;
    entries: number;
    logs: number;
    segments: number;
    records: number;
    logBytes: number;
  };
  /** A live holder of the directory lock, if any. */
  lockedBy?: { pid: number; runtime: string } | "unknown";
}

export interface DoctorOptions {
  json?: boolean;
  repair?: boolean;
  salvage?: boolean;
}

/** Most problems reported per file before the rest are summed up in one finding. */
const PROBLEMS_PER_FILE_MAX = 5;

class Examination {
  readonly findings: Finding[] = [];
  readonly checked: DoctorReport["checked"] = { tables: 0, tableBytes: 0, dataBlocks: 0, entries: 0, logs: 0, segments: 0, records: 0, logBytes: 0 };
  lockedBy: DoctorReport["lockedBy"];
  /** The group WAL's durable mark, read before the logs are (so it is never past what they hold). */
  durableMark: number | undefined;
  progress: Progress = { advance() {}, stop() {} };

  constructor(
    readonly platform: Platform,
    readonly core: Core,
    readonly dir: string,
  ) {}

  add(severity: Severity, check: string, file: string, message: string, extra: Partial<Finding> = {}): void {
    this.findings.push({ severity, check, file, message, ...extra });
  }

  rel(path: string): string {
    return path.startsWith(`${this.dir}/`) ? path.slice(this.dir.length + 1) : path;
  }

  size(path: string): number {
    return this.platform.stat(path)?.size ?? 0;
  }
}

/** Runs every check on `dir` (read-only). */
async function examine(ctx: CliContext, dir: string, core: Core, showProgress: boolean): Promise<DoctorReport> {
  const { platform } = ctx;
  const stat = platform.stat(dir);
  if (!stat) throw new CliError(`${dir} does not exist`, EXIT_FAILURE, "check the path");
  if (!stat.isDirectory) throw new CliError(`${dir} is not a directory`, EXIT_FAILURE, "a shardline database is a directory");
  const hasManifest = platform.stat(`${dir}/${MANIFEST_NAME}`) !== undefined;
  const hasWal = platform.stat(`${dir}/wal`)?.isDirectory === true;
  const hasTables = platform.stat(`${dir}/tables`)?.isDirectory === true;
  if (!hasManifest && !hasWal && !hasTables) {
    throw new CliError(`${dir} is not a shardline database (it has no ${MANIFEST_NAME}, wal/ or tables/)`, EXIT_FAILURE, "check the path");
  }
  const x = new Examination(platform, core, dir);

  checkLock(x);
  // A live writer deletes the tables a merge replaced and the segments below its checkpoint
  // as it goes: doctor holds a reader slot while it checks, as a read-only handle does
  // (written before the MANIFEST is read, then at its version: src/engine/reader-slots.ts),
  // or it reports tables of the MANIFEST it read as lost when a merge deleted them since.
  const slot = x.lockedBy ? takeSlot(x) : undefined;
  try {
    return await examineHolding(ctx, x, slot, { hasManifest, hasTables, showProgress });
  } finally {
    slot?.release();
  }
}

/** A reader slot for this check, or undefined (with a warning) where none can be written. */
function takeSlot(x: Examination): ReaderSlot | undefined {
  try {
    return ReaderSlot.create(x.platform, x.dir);
  } catch (error) {
    x.add("warning", "readers", READERS_DIR_NAME, `no reader slot could be written for this check (${(error as Error).message}): a table the live writer deletes meanwhile may be reported missing`);
    return undefined;
  }
}

async function examineHolding(ctx: CliContext, x: Examination, slot: ReaderSlot | undefined, { hasManifest, hasTables, showProgress }: { hasManifest: boolean; hasTables: boolean; showProgress: boolean }): Promise<DoctorReport> {
  const { platform, dir } = x;
  const manifest = checkManifest(x, hasManifest, hasTables);
  let slotKept = true;
  try {
    if (slot && manifest) slot.update(manifest.version, 0);
  } catch (error) {
    if (!(error instanceof ReaderEvictedError)) throw error;
    slotKept = false;
  }
  const readersAtOlderVersions = checkReaders(x, manifest, slot);
  const shards = manifest?.shards ?? Math.max(-1, ...partitionDirsOnDisk(platform, dir)) + 1;

  // Everything the remaining checks read, for the progress bar.
  const tableFiles = hasTables ? platform.readdir(`${dir}/tables`).sort() : [];
  const logDirs = [`${dir}/wal`, ...Array.from({ length: shards }, (_, s) => partitionDir(dir, s))];
  let total = 0;
  for (const name of tableFiles) total += x.size(`${dir}/tables/${name}`);
  for (const logDir of logDirs) for (const seg of segmentsForProgress(platform, logDir)) total += x.size(seg.path);
  x.progress = progress(ctx.io, total, showProgress);
  // Routes keys as the database does, to check each table's shard (a manifest's count).
  const router = manifest ? await Core.create({ shards: manifest.shards, memoryBytesMax: 16 * 1024 * 1024 }) : undefined;
  try {
    checkTables(x, manifest, router, tableFiles, hasTables, readersAtOlderVersions);
    checkLogs(x, manifest, shards);
  } finally {
    router?.detach();
    x.progress.stop();
  }
  if (slot && (!slotKept || slot.evicted)) {
    x.add("warning", "readers", READERS_DIR_NAME, "the writer evicted this check's reader slot (it kept more than the writer's retainBytesMax): a table or segment reported missing may have been deleted by the writer meanwhile, not lost; run doctor again");
  }

  const summary = { errors: 0, warnings: 0, ok: 0 };
  for (const f of x.findings) {
    if (f.severity === "error") summary.errors++;
    else if (f.severity === "warning") summary.warnings++;
    else summary.ok++;
  }
  return { dir, findings: x.findings, summary, checked: x.checked, ...(x.lockedBy ? { lockedBy: x.lockedBy } : {}) };
}

/** The log's segments for the progress bar's total; none where listing them fails (checkLog reports why). */
function segmentsForProgress(platform: Platform, logDir: string): Array<{ path: string }> {
  try {
    return listSegmentFilesIfAny(platform, logDir);
  } catch {
    return [];
  }
}

function checkLock(x: Examination): void {
  const holders = readLockHolders(x.platform, x.dir);
  if (holders.length === 0) {
    x.add("ok", "lock", LOCK_DIR_NAME, "not held: no program has the database open");
    return;
  }
  for (const h of holders) {
    const file = `${LOCK_DIR_NAME}/${h.file}`;
    const r = h.record;
    if (h.foreign) {
      x.add("warning", "lock", file, `${h.reason}: no program's lock; open and --repair leave it where it is`);
      continue;
    }
    if (h.alive) {
      x.lockedBy = r ? { pid: r.pid, runtime: r.runtime } : "unknown";
      const who = r ? `pid ${r.pid} (${r.runtime}${r.kernelLock ? ", kernel lock" : ""}) since ${r.acquiredAt}` : `a holder whose lock file is still being written (${h.reason})`;
      x.add("warning", "lock", file, `held by ${who}: another program has the database open, so the end of a log may still be being written; --repair refuses until it is closed`);
    } else {
      const who = r ? `pid ${r.pid} (${r.runtime}), which is gone (${h.reason})` : `a holder that never finished writing it (${h.reason})`;
      x.add("warning", "lock", file, `stale lock file left by ${who}; --repair (or the next open) removes it`, { repair: "open" });
    }
  }
}

/**
 * The read-only handles' slots (src/engine/reader-slots.ts) and the writer's durable mark:
 * who reads the database from other processes, and what each keeps from deletion. Returns
 * how many live readers are at a MANIFEST version older than the current one.
 */
/**
 * An error finding if `rel` (a directory of the database's layout) exists but is not a
 * directory: every open fails on it (review of doctor, 2026-12-08: a file `tables` was
 * reported as a missing directory "the next open creates" with exit 0, and a file `readers`
 * ended doctor with a bare ENOTDIR). True if so.
 */
function notADirectory(x: Examination, check: string, rel: string): boolean {
  const stat = x.platform.stat(`${x.dir}/${rel}`);
  if (stat === undefined || stat.isDirectory) return false;
  x.add("error", check, rel, `${rel} is a file, not a directory: every open of the database fails on it (move it away; --repair does not touch it)`);
  return true;
}

function checkReaders(x: Examination, manifest: ManifestData | undefined, own: ReaderSlot | undefined): number {
  const { platform, dir } = x;
  if (notADirectory(x, "readers", READERS_DIR_NAME)) return 0;
  const mark = readDurableMark(platform, durableMarkPath(dir));
  x.durableMark = mark;
  if (mark !== undefined) x.add("ok", "readers", `${READERS_DIR_NAME}/${DURABLE_MARK_NAME}`, `durable mark at LSN ${mark}: read-only handles read the group WAL up to it`);
  let older = 0;
  for (const slot of listReaderSlots(platform, dir)) {
    const file = `${READERS_DIR_NAME}/${slot.file}`;
    if (own && `${readersDir(dir)}/${slot.file}` === own.path) continue;
    const r = slot.record;
    if (slot.unreadable) {
      x.add("warning", "readers", file, `cannot be read by this process (${slot.reason}): it keeps nothing from deletion, and the writer leaves it where it is`);
      continue;
    }
    if (!slot.alive) {
      x.add("warning", "readers", file, `slot of a read-only handle of pid ${r?.pid ?? "?"} (${r?.runtime ?? "?"}), which is gone; the writer (its next flush or compaction) deletes it`, { repair: "open" });
      continue;
    }
    if (!r) {
      x.add("ok", "readers", file, "slot of a live read-only handle, being written");
      continue;
    }
    const behindVersion = manifest !== undefined && r.manifestVersion < manifest.version;
    if (behindVersion) older++;
    // Segments wholly below the checkpoint (the writer would trim them) that this reader's LSN still needs.
    const logBytes = manifest && r.lsn < manifest.groupCheckpoint ? logBytesBelow(platform, dir, manifest.groupCheckpoint) - logBytesBelow(platform, dir, r.lsn) : 0;
    const keeps = manifest && r.lsn < manifest.groupCheckpoint ? `the group WAL from LSN ${r.lsn} (${manifest.groupCheckpoint - r.lsn} bytes behind the checkpoint)` : "no log behind the checkpoint";
    x.add(
      "ok",
      "readers",
      file,
      `live read-only handle of pid ${r.pid} (${r.runtime}) since ${r.openedAt}, last refreshed ${r.updatedAt}: reads MANIFEST version ${r.manifestVersion}` +
        `${manifest ? ` of ${manifest.version}` : ""}, keeps ${keeps}${behindVersion ? " and the tables dropped since its version" : ""}${logBytes > 0 ? ` (${bytesText(logBytes)} of segments)` : ""}`,
    );
  }
  return older;
}

function checkManifest(x: Examination, hasManifest: boolean, hasTables: boolean): ManifestData | undefined {
  const { platform, dir } = x;
  if (platform.stat(`${dir}/${MANIFEST_NAME}.tmp`)) {
    x.add("warning", "manifest", `${MANIFEST_NAME}.tmp`, "left by an interrupted manifest update (the previous MANIFEST is the valid one); --repair (or the next open) removes it", { repair: "open" });
  }
  if (!hasManifest) {
    const found = dataWithoutManifest(platform, dir);
    if (found.tableFiles === 0 && found.groupLogSegments === 0 && found.partitionLogs === 0) {
      x.add("error", "manifest", MANIFEST_NAME, "missing: an open would start a new, empty database here");
      return undefined;
    }
    x.add(
      "error",
      "manifest",
      MANIFEST_NAME,
      `missing, but the directory holds ${dataWithoutManifestText(found)}: the list of tables, the log checkpoints and the replay floors are lost, so open refuses it; ` +
        "--repair rebuilds the MANIFEST from the table files (shard count from the shard-NNN directories and where the data routes) and replays every record the logs still hold",
      { repair: "rebuild" },
    );
    return undefined;
  }
  try {
    const manifest = readManifest(x.core, platform, dir)!;
    x.add("ok", "manifest", MANIFEST_NAME, `version ${manifest.version}, ${manifest.shards} shards, ${manifest.tables.length} tables, checksum ok`);
    return manifest;
  } catch (error) {
    if (!(error instanceof CorruptionError)) throw error;
    x.add("error", "manifest", MANIFEST_NAME, `${error.message}: the database cannot be opened; table files and logs are checked on their own below`, { blocksRepair: true });
    return undefined;
  }
}

/** shard-NNN directories present, by shard number. */
function partitionDirsOnDisk(platform: Platform, dir: string): number[] {
  const out: number[] = [];
  for (const name of platform.readdir(dir)) {
    const m = /^shard-(\d{3,})$/.exec(name);
    if (m && platform.stat(`${dir}/${name}`)?.isDirectory) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

function checkTables(x: Examination, manifest: ManifestData | undefined, router: Core | undefined, names: string[], hasTables: boolean, readersAtOlderVersions = 0): void {
  const { dir } = x;
  const problemsBefore = x.findings.length;
  if (!hasTables) {
    if (notADirectory(x, "tables", "tables")) return;
    x.add(manifest && manifest.tables.length > 0 ? "error" : "warning", "tables", "tables", "the tables/ directory is missing" + (manifest && manifest.tables.length > 0 ? `, with the ${manifest.tables.length} tables the manifest lists` : " (the next open creates it)"));
    return;
  }
  const present = new Set(names);
  const live = new Map<string, TableRecord>();
  for (const record of manifest?.tables ?? []) live.set(tableFileName(record.number), record);

  for (const [name, record] of live) {
    const file = `tables/${name}`;
    if (manifest && (record.shard < 0 || record.shard >= manifest.shards)) {
      x.add("error", "tables", file, `the manifest lists it for shard ${record.shard}, but the database has ${manifest.shards} shards`);
    }
    if (!present.has(name)) {
      x.add("error", "tables", file, `listed by the manifest (shard ${record.shard}, ${record.entries} entries) but missing: its data is lost`);
      continue;
    }
    verifyTable(x, `${dir}/${file}`, manifest && router ? { record, manifest, router } : undefined);
  }
  for (const name of names) {
    if (live.has(name)) continue;
    const file = `tables/${name}`;
    if (!x.platform.stat(`${dir}/${file}`)?.isFile) {
      x.add("warning", "tables", file, "not a file (the engine makes only files in tables/): not part of the database; open and --repair leave it");
    } else if (name.endsWith(".tmp")) {
      x.add("warning", "tables", file, "temporary file of an interrupted flush or compaction; --repair (or the next open) deletes it", { repair: "open" });
      x.progress.advance(x.size(`${dir}/${file}`), file);
    } else if (name.endsWith(".sst") && tableNumberOf(name) === undefined) {
      x.add("warning", "tables", file, "not a name the engine gives its tables (NNNNNN.sst): not part of the database; open and --repair leave it");
      x.progress.advance(x.size(`${dir}/${file}`), file);
    } else if (name.endsWith(".sst")) {
      if (manifest && x.lockedBy && tableNumberOf(name)! >= manifest.nextTableNumber) {
        x.add("warning", "tables", file, `not named by the manifest this check read (version ${manifest.version}): most likely written since by the program that has the database open; else left by an interrupted flush or compaction, which --repair (or the next open) deletes`, { repair: "open" });
        x.progress.advance(x.size(`${dir}/${file}`), file);
      } else if (manifest && readersAtOlderVersions > 0) {
        x.add("ok", "tables", file, `not named by the manifest: dropped by a compaction, kept while ${plural(readersAtOlderVersions, "live read-only handle")} at an older MANIFEST version may read it (see readers)`);
        x.progress.advance(x.size(`${dir}/${file}`), file);
      } else if (manifest) {
        x.add("warning", "tables", file, "not named by the manifest (left by an interrupted flush or compaction, never part of the database); --repair (or the next open) deletes it", { repair: "open" });
        x.progress.advance(x.size(`${dir}/${file}`), file);
      } else {
        verifyTable(x, `${dir}/${file}`, undefined); // no manifest to tell live from orphan: check it all
      }
    }
  }
  if (!x.findings.slice(problemsBefore).some((f) => f.severity === "error")) {
    const c = x.checked;
    x.add("ok", "tables", "tables", `${plural(c.tables, "table")} (${bytesText(c.tableBytes)}), ${plural(c.dataBlocks, "data block")}, ${plural(c.entries, "entry", "entries")}: every checksum ok`);
  }
}

/**
 * What the manifest says of a table it lists, and a core routing keys by its shard count:
 * a table's keys must route to the shard it is listed for (a get looks only there), and
 * the manifest's timestamp counters must be at or above the table's (a new write takes
 * the next timestamp: below a table's, an older version would shadow it).
 */
type Listing = { record: TableRecord; manifest: ManifestData; router: Core };

function verifyTable(x: Examination, path: string, listing: Listing | undefined): void {
  const record = listing?.record;
  const file = x.rel(path);
  const fileBytes = x.size(path);
  let advanced = 0;
  const advance = (bytes: number) => {
    advanced += bytes;
    x.progress.advance(bytes, file);
  };
  let reader: TableReader;
  try {
    reader = TableReader.open(x.platform, x.core, path, new BlockCache({ cacheBytesMax: 0 }));
  } catch (error) {
    x.add("error", "tables", file, error instanceof CorruptionError ? error.message : `cannot be read: ${(error as Error).message}`);
    advance(fileBytes);
    return;
  }
  try {
    x.checked.tables++;
    x.checked.tableBytes += reader.meta.bytes;
    if (record && record.bytes !== reader.meta.bytes) {
      x.add("error", "tables", file, `is ${reader.meta.bytes} bytes, but the manifest says ${record.bytes}`);
    }
    if (record && record.entries !== reader.meta.entries) {
      x.add("error", "tables", file, `holds ${reader.meta.entries} entries by its footer, but the manifest says ${record.entries}`);
    }
    if (listing) checkCounters(x, file, listing, reader.meta.maxTs, reader.meta.maxSeq);
    let bad = 0;
    for (let i = 0; i < reader.dataBlocks; i++) {
      try {
        reader.blockAt(i);
      } catch (error) {
        if (!(error instanceof CorruptionError)) throw error;
        if (++bad <= PROBLEMS_PER_FILE_MAX) x.add("error", "tables", file, error.message);
      }
      advance(reader.index.lengths[i]);
    }
    x.checked.dataBlocks += reader.dataBlocks;
    if (bad > PROBLEMS_PER_FILE_MAX) x.add("error", "tables", file, `${bad - PROBLEMS_PER_FILE_MAX} more data blocks fail their checksum`);
    if (bad === 0) {
      // Every block is intact: decode every entry (what a scan would do), in key order, from
      // the footer's smallest key to its largest, each routed to the table's shard.
      let entries = 0;
      try {
        const c = reader.cursor();
        let previous: { key: Uint8Array; ts: bigint } | undefined;
        let problem: string | undefined;
        for (let ok = c.seekFirst(); ok; ok = c.next()) {
          entries++;
          if (problem) continue;
          const key = c.key.slice();
          const ts = c.ts;
          if (previous === undefined && compareKeys(key, reader.meta.smallestKey) !== 0) problem = "its first key is not the smallest key its meta block names";
          else if (previous !== undefined && compareEntries(previous.key, previous.ts, key, ts) >= 0) problem = `entry ${entries} is not after entry ${entries - 1} in key order: gets and scans of it disagree`;
          else if (listing && listing.router.shardOf(key) !== listing.record.shard) problem = `entry ${entries}'s key routes to shard ${listing.router.shardOf(key)}, but the manifest lists the table for shard ${listing.record.shard}: a get of it looks elsewhere`;
          previous = { key, ts };
        }
        if (!problem && previous && compareKeys(previous.key, reader.meta.largestKey) !== 0) problem = "its last key is not the largest key its meta block names";
        if (problem) x.add("error", "tables", file, problem);
        if (entries !== reader.meta.entries) x.add("error", "tables", file, `holds ${entries} entries, but its footer says ${reader.meta.entries}`);
      } catch (error) {
        if (!(error instanceof CorruptionError)) throw error;
        x.add("error", "tables", file, error.message);
      }
      x.checked.entries += entries;
    }
  } finally {
    reader.close();
    advance(Math.max(0, fileBytes - advanced));
  }
}

/** The manifest's counters against a table it lists: the record's maxTs, the shard's maxTs, maxSeq. */
function checkCounters(x: Examination, file: string, { record, manifest }: Listing, maxTs: bigint, maxSeq: bigint): void {
  if (record.maxTs !== String(maxTs)) x.add("error", "tables", file, `its newest version has timestamp ${maxTs}, but the manifest's record says ${record.maxTs}`);
  const shardMaxTs = manifest.maxTs[record.shard];
  if (shardMaxTs !== undefined && BigInt(shardMaxTs) < maxTs) {
    x.add("error", "tables", file, `holds timestamp ${maxTs}, above the manifest's maxTs ${shardMaxTs} for shard ${record.shard}: a write made now would read back as an older version`);
  }
  if (BigInt(manifest.maxSeq) < maxSeq) x.add("error", "tables", file, `holds sequence ${maxSeq}, above the manifest's maxSeq ${manifest.maxSeq}`);
}

function checkLogs(x: Examination, manifest: ManifestData | undefined, shards: number): void {
  const { dir, platform } = x;
  const group = checkLog(x, `${dir}/wal`, "wal", shards, manifest === undefined ? { rebuilt: true } : { checkpoint: manifest.groupCheckpoint });
  if (group) {
    x.add("ok", "wal", "wal", `group WAL: ${plural(group.segments, "segment")} (${bytesText(group.bytes)}), ${plural(group.records, "record")}: every checksum ok`);
    if (manifest && group.segments > 0 && !isFollowerDir(platform, dir)) checkGroupFloor(x, manifest, group.endLsn);
    if (manifest && isFollowerDir(platform, dir)) checkFollowerCaughtUp(x, manifest, group.endLsn);
  }
  const totals = { logs: 0, segments: 0, records: 0, bytes: 0 };
  let bad = 0;
  for (let shard = 0; shard < shards; shard++) {
    const logDir = partitionDir(dir, shard);
    if (!platform.stat(logDir)?.isDirectory) {
      x.add("warning", "partition logs", x.rel(logDir), `shard ${shard} has no partition log directory (the next open creates an empty one)`);
      continue;
    }
    const r = checkLog(x, logDir, "partition logs", shards, manifest === undefined ? { rebuilt: true } : { checkpoint: manifest.partitionCheckpoints[shard] ?? 0 });
    if (!r) {
      bad++;
      continue;
    }
    totals.logs++;
    totals.segments += r.segments;
    totals.records += r.records;
    totals.bytes += r.bytes;
  }
  if (shards > 0 && bad === 0) {
    x.add("ok", "partition logs", "shard-*", `${plural(totals.logs, "partition log")}: ${plural(totals.segments, "segment")} (${bytesText(totals.bytes)}), ${plural(totals.records, "record")}: every checksum ok`);
  }
  if (manifest) {
    for (const shard of partitionDirsOnDisk(platform, dir)) {
      if (shard >= manifest.shards) {
        x.add("warning", "partition logs", x.rel(partitionDir(dir, shard)), `a partition log for shard ${shard}, but the database has ${manifest.shards} shards: open ignores it`);
      }
    }
  }
}

/**
 * RECOVERY.md G4a: a group WAL that ends below its floor (where the next seq must go: above
 * the tables' maxSeq, at or past the checkpoint) is what a salvage cut leaves, or an open
 * that stopped after one; the next open sets it aside (R9), first flushing to tables the
 * records past the checkpoint when there are some (R10). Not in a follower's directory,
 * whose log trails its snapshot's maxSeq until it catches up (its opens take no floor).
 */
function checkGroupFloor(x: Examination, manifest: ManifestData, endLsn: number): void {
  const floor = Math.ceil(Math.max(Number(manifest.maxSeq) + 1, manifest.groupCheckpoint) / 8) * 8;
  if (endLsn >= floor) return;
  const past = endLsn > manifest.groupCheckpoint;
  x.add(
    "warning",
    "wal",
    "wal",
    `the group WAL ends at LSN ${endLsn}, below LSN ${floor} where new records must begin (above the tables' maxSeq ${manifest.maxSeq}${manifest.groupCheckpoint > Number(manifest.maxSeq) ? `, at the checkpoint ${manifest.groupCheckpoint}` : ""}), as a salvage cut leaves it: ` +
      (past ? `--repair (or the next open) replays its records past the checkpoint at ${manifest.groupCheckpoint}, flushes them to tables, then moves the log to wal/corrupt/ and begins a new one (RECOVERY.md G4a, R10 and R9)` : "--repair (or the next open) moves the log, whose records the tables hold, to wal/corrupt/ and begins a new one (RECOVERY.md G4a, R9)"),
    { repair: "open" },
  );
}

/**
 * Where replay reads a log from: the MANIFEST's checkpoint for it, or, when the MANIFEST is
 * lost, where a rebuilt one puts it (the log's first segment: rebuildCheckpoint).
 */
type ReplayStart = { checkpoint: number } | { rebuilt: true };

/**
 * RECOVERY.md G1b: the group WAL holds no segment while the durable mark is past the
 * checkpoint: records synced and in no table are gone with the log, and open refuses it
 * (doctor said 0 errors while every read refused the database: review of the CLI,
 * 2026-12-06). True when it said so.
 */
function lostLogBelowMark(x: Examination, check: string, rel: string, start: ReplayStart, segments: number): boolean {
  if (check !== "wal" || segments > 0 || !("checkpoint" in start) || x.durableMark === undefined || x.durableMark <= start.checkpoint) return false;
  x.add("error", check, rel, `the log holds no segment, but the durable mark says records up to LSN ${x.durableMark} were synced, past the checkpoint at ${start.checkpoint}: those writes are in no table and their log is missing; open refuses this database (restore the log, or --repair --salvage opens it without them)`, { repair: "salvage" });
  return true;
}

/**
 * Checks one log directory by the rules of src/wal/recovery.ts and of replay
 * (src/engine/replay.ts: the records' sizes and shards, large batches assembled from the
 * checkpoint on), without changing it. Returns what it read when the log has no error
 * (warnings allowed), undefined otherwise.
 */
function checkLog(x: Examination, logDir: string, check: string, shards: number, start: ReplayStart): { segments: number; records: number; bytes: number; endLsn: number } | undefined {
  const { platform, core } = x;
  const rel = x.rel(logDir);
  const errorsBefore = x.findings.filter((f) => f.severity === "error").length;
  const hasErrors = () => x.findings.filter((f) => f.severity === "error").length > errorsBefore;
  if (!platform.stat(logDir)?.isDirectory) {
    if (notADirectory(x, check, rel)) return undefined;
    if (!lostLogBelowMark(x, check, rel, start, 0)) x.add("warning", check, rel, "the log directory is missing (the next open starts an empty log)");
    return undefined;
  }
  x.checked.logs++;
  if (platform.stat(`${logDir}/corrupt`)?.isDirectory) {
    const kept = platform.readdir(`${logDir}/corrupt`).length;
    if (kept > 0) x.add("warning", check, `${rel}/corrupt`, `${kept} files an earlier open set aside from this log (segments and the bytes a salvage cut gave up, or a whole log below its floor: RECOVERY.md G4, G4a) are kept here for inspection: nothing reads them`);
  }
  for (const name of creatingSegmentNames(platform, logDir)) {
    const what = x.lockedBy ? "a segment the writer holding the lock may be creating now, or one" : "a segment";
    x.add("warning", check, `${rel}/${name}`, `${what} whose creation stopped before its rename (R0): never part of the log; --repair (or the next open) deletes it`, { repair: "open" });
  }
  let listed;
  try {
    listed = listSegmentFiles(platform, logDir);
  } catch (error) {
    if (!(error instanceof CorruptionError)) throw error;
    x.add("error", check, x.rel(error.file ?? logDir), `${error.message} (open refuses this log; --repair does not touch it)`);
    return undefined;
  }
  /** endLsn: where the log's valid records end (where the next open goes on). */
  const result = { segments: 0, records: 0, bytes: 0, endLsn: 0 };

  // A last segment with no valid header and nothing but zeros was being created (R2/R3).
  while (listed.length > 0) {
    const last = listed[listed.length - 1];
    const header = readSegmentHeader(core, platform, last.path);
    if (!("invalid" in header) || !onlyZerosAfterHeader(platform, last.path)) break;
    x.add("warning", check, `${rel}/${last.name}`, `segment torn at creation (${header.invalid}, only zeros after it): it holds no records; --repair (or the next open) deletes it`, { repair: "open" });
    x.progress.advance(x.size(last.path), `${rel}/${last.name}`);
    listed.pop();
  }

  // The writer trims only segments wholly below the checkpoint, and a log begun anew starts
  // with segment 1: a group WAL whose first segment is numbered above 1 and starts past the
  // checkpoint lost the segments before it, with records never flushed (RECOVERY.md G5).
  const first = listed[0];
  lostLogBelowMark(x, check, rel, start, listed.length);
  if (first && check === "wal" && "checkpoint" in start && first.number > 1 && first.firstLsn > start.checkpoint) {
    x.add("error", check, `${rel}/${first.name}`, `the log starts at LSN ${first.firstLsn} (segment ${first.number}), past the checkpoint at ${start.checkpoint}: the segments before it, holding records not in any table, are missing; open refuses this log (--repair --salvage opens it without them, losing those records)`, { repair: "salvage" });
  }
  const replayFrom = "checkpoint" in start ? start.checkpoint : (first?.firstLsn ?? 0);
  const batches = new BatchAssembler(replayFrom);
  let salt = 0;
  let previous: { number: number; endLsn: number } | undefined;
  for (let i = 0; i < listed.length; i++) {
    const seg = listed[i];
    const file = `${rel}/${seg.name}`;
    const isLast = i === listed.length - 1;
    const fileBytes = x.size(seg.path);
    const header = readSegmentHeader(core, platform, seg.path);
    const problem = segmentChainProblem(header, seg, i === 0 ? undefined : salt, previous);
    if (problem !== undefined) {
      const rest = listed.length - i - 1;
      x.add("error", check, file, `corrupt segment: ${problem}; open refuses this log (--repair --salvage moves this segment${rest > 0 ? ` and the ${rest} after it` : ""} aside, losing their records)` + (rest > 0 ? `; the ${rest} later segments were not checked` : ""), { repair: "salvage" });
      for (const s of listed.slice(i)) x.progress.advance(x.size(s.path), file);
      return undefined;
    }
    if (i === 0) salt = (header as SegmentHeader).salt;
    const h = header as SegmentHeader;
    const scanner = SegmentScanner.open(core, platform, seg.path, h);
    let scanned = 0;
    try {
      let badRecords = 0;
      for (const record of scanner.read(Infinity, true)) {
        result.records++;
        scanned += record.bytes;
        x.progress.advance(record.bytes, file);
        const why = engineRecordProblem(record.payload!, shards) ?? (record.lsn >= replayFrom ? batchProblem(batches, record.lsn, record.payload!) : undefined);
        if (why !== undefined && ++badRecords <= PROBLEMS_PER_FILE_MAX) {
          x.add("error", check, file, `record at LSN ${record.lsn} passes its checksums but is not a valid engine record: ${why}; open refuses to replay it`);
        }
      }
      if (badRecords > PROBLEMS_PER_FILE_MAX) x.add("error", check, file, `${badRecords - PROBLEMS_PER_FILE_MAX} more records are not valid engine records`);
      result.segments++;
      result.bytes += fileBytes;
      const end = scanner.offset;
      result.endLsn = scanner.lsnAt(end);
      const cleanEnd = scanner.stopped === "end-of-file" || (scanner.stopped === "zero" && scanner.zeroFrom(end));
      if (!isLast) {
        if (!cleanEnd) {
          x.add("error", check, file, `corrupt at offset ${end} (${stopText(scanner.stopped)}), before later segments: a segment synced before the next one existed cannot have a torn tail, so open refuses this log (--repair --salvage cuts it there, keeping the cut bytes and the later segments in corrupt/; the database loses their records)`, { repair: "salvage" });
          return undefined;
        }
        previous = { number: h.segmentNumber, endLsn: scanner.lsnAt(end) };
        continue;
      }
      const mark = check === "wal" ? x.durableMark : undefined;
      if (mark !== undefined && scanner.lsnAt(end) < mark) {
        x.add("error", check, file, `corrupt at offset ${end} (${cleanEnd ? "zeros" : stopText(scanner.stopped)}): the valid records end at LSN ${scanner.lsnAt(end)}, below the durable mark at LSN ${mark} (every record below it was synced), so this is not a torn tail; open refuses this log (--repair --salvage cuts it at offset ${end}, keeping the cut bytes in corrupt/; the database loses what follows)`, { repair: "salvage" });
        continue;
      }
      if (!cleanEnd) {
        const beyond = scanner.findValidRecord(end + h.syncBytesMax);
        if (beyond >= 0) {
          x.add("error", check, file, `corrupt at offset ${end} (${stopText(scanner.stopped)}): a valid record follows at offset ${beyond}, beyond what one crash leaves unsynced (${h.syncBytesMax} bytes), so open refuses this log (--repair --salvage cuts it at offset ${end}, keeping the cut bytes in corrupt/; the database loses what follows)`, { repair: "salvage" });
        } else {
          // Recovery's rule R7: what follows a bad record within one sync window cannot have
          // been acknowledged (the sync that would have covered it did not complete).
          const within = scanner.findValidRecord(end) >= 0;
          x.add(
            "warning",
            check,
            file,
            `torn tail: the ${scanner.fileSize - end} bytes after offset ${end} (${stopText(scanner.stopped)}) are not a valid record, as a crash in the middle of a write leaves them` +
              (within ? `; the valid records after it lie within one sync window (${h.syncBytesMax} bytes), so they were never acknowledged and are cut with it` : "") +
              "; --repair (or the next open) cuts them",
            { repair: "open" },
          );
        }
      }
    } finally {
      scanner.close();
      x.progress.advance(Math.max(0, fileBytes - scanned), file);
    }
  }
  x.checked.segments += result.segments;
  x.checked.records += result.records;
  x.checked.logBytes += result.bytes;
  return hasErrors() ? undefined : result;
}

/** Why a segment scan stopped before the end of the file, in words. */
function stopText(reason: StopReason | undefined): string {
  switch (reason) {
    case "zero":
      return "zeros, then other bytes";
    case "bad-type":
      return "not a record header";
    case "bad-header-checksum":
      return "record header checksum mismatch";
    case "bad-payload-checksum":
      return "record payload checksum mismatch";
    case "past-end-of-file":
      return "a record cut short by the end of the file";
    default:
      return reason ?? "unknown";
  }
}

/** Why `payload` is not an engine record open can replay, or undefined when it is one (RECOVERY.md Y1, Y2, Y2a). */
function engineRecordProblem(payload: Uint8Array, shards: number): string | undefined {
  try {
    const record = decodeRecord(payload);
    if (record.kind === KIND_OPERATIONS || record.kind === KIND_FRAGMENT) {
      for (const op of record.ops) {
        if (shards > 0 && op.shard >= shards) return `it names shard ${op.shard} of ${shards}`;
        if (op.key.length > KEY_BYTES_MAX) return `an operation's key is ${op.key.length} bytes, over KEY_BYTES_MAX (${KEY_BYTES_MAX})`;
        if ((op.value?.length ?? 0) > VALUE_BYTES_MAX) return `an operation's value is ${op.value!.length} bytes, over VALUE_BYTES_MAX (${VALUE_BYTES_MAX})`;
      }
    } else if (record.kind === KIND_COMMIT) {
      for (const s of record.shards) if (shards > 0 && s.shard >= shards) return `its batch commit names shard ${s.shard} of ${shards}`;
    } else if (shards > 0 && record.shard >= shards) {
      return `its marker names shard ${record.shard} of ${shards}`;
    }
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Why replay would refuse the large batch `payload` belongs to (RECOVERY.md Y4d), or undefined. */
function batchProblem(batches: BatchAssembler, lsn: number, payload: Uint8Array): string | undefined {
  try {
    batches.add(lsn, payload);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

interface RepairOutcome {
  performed: boolean;
  /** What was done, or why nothing was. */
  actions: string[];
  error?: string;
}

/**
 * A follower's log short of what its snapshot's tables hold (followerConsistentLsn): nothing
 * is damaged, but no state can be read yet (read-only opens refuse it), which the readers'
 * line alone does not say (review of the follower's catch-up, 2026-12-07).
 */
function checkFollowerCaughtUp(x: Examination, manifest: ManifestData, logEnd: number): void {
  const needed = followerConsistentLsn(x.platform, x.dir, manifest);
  if (logEnd >= needed) return;
  x.add("warning", "wal", "wal", `the follower has applied its stream up to LSN ${logEnd}, and its snapshot's tables hold writes of the log up to LSN ${needed}: read-only opens of this directory are refused until openFollower brings it there`);
}

/** No writer but the follower opens a follower's directory (src/engine/open.ts): not --repair's open either. */
const FOLLOWER_NOTE = "this is a follower's directory (it holds FOLLOWER): only its follower opens it to write, and its next start (openFollower) tidies what a normal open would";

function isFollowerDir(platform: Platform, dir: string): boolean {
  return platform.stat(`${dir}/${FOLLOWER_FILE_NAME}`) !== undefined;
}

async function repair(ctx: CliContext, core: Core, report: DoctorReport, salvage: boolean): Promise<RepairOutcome> {
  const fixable = report.findings.filter((f) => f.repair === "open" || f.repair === "rebuild" || (salvage && f.repair === "salvage"));
  const needSalvage = report.findings.filter((f) => f.repair === "salvage");
  if (fixable.length === 0) {
    const note = needSalvage.length > 0 ? " (corruption in the middle of a log needs --repair --salvage, which loses the records after it)" : "";
    return { performed: false, actions: [`nothing --repair can fix${note}`] };
  }
  if (report.lockedBy) {
    const who = report.lockedBy === "unknown" ? holderText(undefined) : holderText(report.lockedBy);
    return { performed: false, actions: [], error: `refusing to repair: the database is locked by ${who}, which has it open; close it there first` };
  }
  if (isFollowerDir(ctx.platform, report.dir)) return { performed: false, actions: [], error: `refusing to repair: ${FOLLOWER_NOTE}` };
  const blocker = report.findings.find((f) => f.blocksRepair);
  if (blocker) return { performed: false, actions: [], error: `refusing to repair: ${blocker.file}: ${blocker.message}` };
  const actions: string[] = [];
  let rebuilt = false;
  if (report.findings.some((f) => f.repair === "rebuild")) {
    const outcome = await rebuildManifest(ctx, core, report);
    if ("error" in outcome) return { performed: false, actions: [], error: `refusing to rebuild the ${MANIFEST_NAME}: ${outcome.error}` };
    actions.push(outcome.action);
    rebuilt = true;
  }
  let db;
  try {
    db = await bindDatabaseApi(ctx.platform).open(report.dir, { coordinationTimeoutMs: 0, salvage });
  } catch (error) {
    // A MANIFEST this repair wrote and the open refused goes again: the directory is left as
    // it was, and a later --repair (after the cause is fixed) can rebuild it. Not when the
    // open found the directory locked: the rebuild released its lock before this open took
    // it, and a writer that opened the directory in between holds that MANIFEST now (and
    // may have replaced it already): deleted, the writer's database had none (review of
    // doctor --repair, 2026-12-07).
    if (rebuilt && !(error instanceof LockedError)) {
      unlinkIfPresent(ctx.platform, `${report.dir}/${MANIFEST_NAME}`);
      ctx.platform.fsyncDir(report.dir);
      actions.length = 0;
    }
    if (error instanceof LockedError) return { performed: false, actions: [], error: `refusing to repair: the database is locked by ${holderText(error.holder)}, which has it open; close it there first` };
    const explained = explainOpenError(error, report.dir);
    const undone = rebuilt ? ` (the rebuilt ${MANIFEST_NAME} was removed again)` : "";
    return { performed: actions.length > 0, actions, error: `repair failed: ${(explained as Error).message ?? String(explained)}${undone}` };
  }
  try {
    const recovery = db.stats().recovery;
    const describe = (name: string, r: RecoveryReport | undefined) => {
      if (!r) return;
      if (r.bytesCut > 0) actions.push(`${name}: cut ${r.bytesCut} bytes (recovery decisions ${r.decisions.join(" ")})`);
      if (r.corruptSegments.length > 0) actions.push(`${name}: set ${r.corruptSegments.length} files aside in corrupt/ (${r.corruptSegments.join(", ")})`);
      if (r.decisions.some((d) => d === "R0" || d === "R2" || d === "R3")) actions.push(`${name}: deleted a segment torn at creation`);
    };
    describe("wal", recovery?.groupLog);
    recovery?.partitions.forEach((r, shard) => describe(`shard ${shard}`, r));
  } finally {
    await db.close();
  }
  for (const f of fixable) {
    if (f.repair === "rebuild") continue;
    if (f.check === "tables") actions.push(`${f.file}: deleted`);
    else if (f.check === "lock") actions.push(`${f.file}: stale lock file removed`);
    else if (f.check === "manifest") actions.push(`${f.file}: removed`);
  }
  actions.push("opened and closed the database: recovered, replayed the logs, tidied the directory");
  return { performed: true, actions };
}

/**
 * Writes a MANIFEST for a directory that lost its own (docs/RECOVERY.md, row M1a), under
 * the directory lock, or says why it cannot be done safely. What a table file tells about
 * itself is enough to list it: its number (the file name), its shard (where its keys route,
 * under the shard count rebuildShardCount tells from the shard-NNN directories and the data),
 * and its size, entry counts, key range, timestamps and seq (footer and meta block). What
 * is lost and how it is replaced:
 *   - which table files were live: every intact `.sst` is listed (an orphan of an
 *     interrupted flush or merge holds versions the database has anyway, or versions that
 *     newer ones shadow, and a version is identified by key and ts, so listing it is harmless),
 *     but those `tables/DELETING` names: a writer deletes dropped tables only behind that
 *     durable note, and what a crash left of a merge's inputs may hold a put without the
 *     tombstone the merge dropped with it (table-deletions.ts);
 *   - each table's tier: 0 (tiers only steer which tables merge next);
 *   - the log checkpoints: where each log's first segment starts (rebuildCheckpoints), so
 *     the next open replays every record the logs still hold (replaying a version a table
 *     has is harmless); the replay floors: 0. Nothing acknowledged is
 *     lost; the price is that a key deleted on one write path after a put on the other can
 *     reappear if a merge had already dropped its tombstone (what replay floors prevent).
 * A damaged table file, or no shard count up to the shard-NNN directories under which the
 * logs' records and every table's keys route where they are, makes it refuse.
 */
async function rebuildManifest(ctx: CliContext, core: Core, report: DoctorReport): Promise<{ action: string } | { error: string }> {
  const { platform } = ctx;
  const dir = report.dir;
  const damaged = report.findings.find((f) => f.check === "tables" && f.severity === "error");
  if (damaged) return { error: `${damaged.file}: ${damaged.message}; a damaged table file cannot be listed` };
  // Records replay would refuse (a shard past the count the shard-NNN directories give, a
  // key over its limit, a broken batch): the open after the rebuild would fail.
  const unreplayable = report.findings.find((f) => (f.check === "wal" || f.check === "partition logs") && f.severity === "error" && f.repair !== "salvage");
  if (unreplayable) return { error: `${unreplayable.file}: ${unreplayable.message}` };
  const dirs = partitionDirsOnDisk(platform, dir);
  if (dirs.length === 0 || dirs[dirs.length - 1] !== dirs.length - 1) {
    return { error: `the shard count is unknown: the shard-NNN directories (${dirs.map((s) => partitionDir("", s).slice(1)).join(", ") || "none"}) are not shard-000 to shard-${String(dirs.length - 1).padStart(3, "0")}` };
  }
  // The tables a writer was deleting when it stopped (table-deletions.ts): a MANIFEST had
  // dropped them, and what a crash left of a merge's inputs may hold puts whose tombstones
  // it dropped.
  const deleting = readDeletingNote(platform, dir, (bytes) => core.crc32c(bytes));
  if (deleting === "damaged") return { error: `tables/${DELETING_NAME} is damaged: the table files a writer was deleting cannot be told, and listing them could bring deleted keys back` };
  const found = readTablesForRebuild(platform, core, dir, new Set(deleting));
  if ("error" in found) return found;
  const shards = rebuildShardCount(platform, core, dir, dirs.length, found);
  if (typeof shards !== "number") return shards;
  // Every key of a table routes to one shard under `shards` (rebuildShardCount): its smallest's.
  const tables = found.map((t) => tableRecord(t.keyHashes[0] % shards, t.number, 0, t.meta));
  const lock = await acquireDirLock(platform, dir, { timeoutMs: 0 }).catch((error: Error) => error);
  if (lock instanceof Error) return { error: `cannot take the directory lock: ${lock.message}` };
  try {
    if (platform.stat(`${dir}/${MANIFEST_NAME}`)) return { error: `a ${MANIFEST_NAME} appeared in ${dir} meanwhile` };
    const numberUsed = Math.max(0, ...deleting.map((name) => tableNumberOf(name)!));
    writeManifest(core, platform, dir, manifestFromTables(shards, tables, rebuildCheckpoints(platform, dir, shards), readIdentity(platform, dir), numberUsed));
  } finally {
    lock.release();
  }
  return {
    action:
      `${MANIFEST_NAME}: rebuilt from ${plural(tables.length, "table file")} (${shards} shards, ${shards === dirs.length ? "from the shard-NNN directories" : `where the logs' records and the tables' keys route (the shard-NNN directories go up to ${dirs.length - 1}: the rest are not the database's)`}; every table at tier 0); ` +
      "the log checkpoints and replay floors it held are lost, so the open below replayed every record the logs still hold: no acknowledged write is lost, " +
      "but a key deleted on one write path after a put on the other can reappear if a merge had already dropped its tombstone",
  };
}

/**
 * A table file the rebuild lists: its number, what its footer and meta block say, and the
 * shard hashes (xxh32: a key's shard is its hash % the count) of its keys: the meta block's
 * smallest and largest, then each key the table holds.
 */
type FoundTable = { name: string; number: number; meta: TableMeta; keyHashes: Uint32Array };

/**
 * Every table file in `<dir>/tables` (by the engine's names, files only), read, with the
 * shard hash (xxh32, assembly/xxhash32.ts) of each of its keys, or why one cannot be. The
 * hashes are what rebuildShardCount judges a shard count by: 4 bytes a key, for a step
 * that already read every block (checkTables).
 */
function readTablesForRebuild(platform: Platform, hasher: Core, dir: string, deleting: ReadonlySet<string>): FoundTable[] | { error: string } {
  const found: FoundTable[] = [];
  const names = platform.stat(`${dir}/tables`)?.isDirectory ? platform.readdir(`${dir}/tables`).sort() : [];
  for (const name of names) {
    // Only the names the engine gives (tableNumberOf): 0000001.sst beside 000001.sst named
    // table 1 twice, and the rebuilt MANIFEST was refused (review, 2026-12-06). Others are
    // left, as open leaves them (RECOVERY.md F5), and so is a directory so named.
    const number = tableNumberOf(name);
    if (number === undefined || deleting.has(name) || !platform.stat(`${dir}/tables/${name}`)?.isFile) continue;
    let reader: TableReader;
    try {
      reader = TableReader.open(platform, hasher, `${dir}/tables/${name}`, new BlockCache({ cacheBytesMax: 0 }));
    } catch (error) {
      return { error: `tables/${name} cannot be read: ${(error as Error).message}` };
    }
    try {
      const keyHashes = new Uint32Array(2 + reader.meta.entries);
      keyHashes[0] = hasher.hash32(reader.meta.smallestKey);
      keyHashes[1] = hasher.hash32(reader.meta.largestKey);
      const cursor = reader.cursor();
      let n = 2;
      for (let ok = cursor.seekFirst(); ok && n < keyHashes.length; ok = cursor.next()) keyHashes[n++] = hasher.hash32(cursor.key);
      reader.releaseCursor(cursor);
      found.push({ name, number, meta: reader.meta, keyHashes: keyHashes.subarray(0, n) });
    } catch (error) {
      return { error: `tables/${name} cannot be read: ${(error as Error).message}` };
    } finally {
      reader.close();
    }
  }
  return found.sort((a, b) => a.number - b.number);
}

/**
 * The shard count of a directory that lost its MANIFEST: the largest count, up to the
 * number of shard-NNN directories (every open makes them, up to its count), under which
 * every operation the logs hold routes to the shard its record names and every key of a
 * table routes to the table's one shard (a key's shard is xxh32(key) % count). The
 * directories alone are not enough: one made by hand past the count (which open ignores)
 * made a rebuild of 5 shards for a database of 4, whose rows then routed to shards that did
 * not hold them; and a table's end keys alone are not enough either (a middle key can
 * disprove a count both ends fit: review of the session's changes, 2026-12-06). Any count
 * that survives routes every row on disk where it is, so taking the largest loses none.
 */
function rebuildShardCount(platform: Platform, core: Core, dir: string, dirCount: number, tables: readonly FoundTable[]): number | { error: string } {
  // The counts no evidence has disproved yet, from 1 to dirCount (a list that only shrinks).
  let fits = Array.from({ length: dirCount }, (_, i) => i + 1);
  for (const t of tables) {
    const first = t.keyHashes[0];
    for (const hash of t.keyHashes) if (fits.some((n) => hash % n !== first % n)) fits = fits.filter((n) => hash % n === first % n);
  }
  const checkpoints = rebuildCheckpoints(platform, dir, dirCount);
  const logs = { ...newManifest(dirCount), groupCheckpoint: checkpoints.group, partitionCheckpoints: checkpoints.partitions };
  try {
    for (const { op } of loggedOperations(core, platform, dir, logs, dirCount)) {
      const hash = core.hash32(op.key);
      if (fits.some((n) => hash % n !== op.shard)) fits = fits.filter((n) => hash % n === op.shard);
    }
  } catch (error) {
    return { error: `the logs cannot be read to tell the shard count: ${(error as Error).message}` };
  }
  if (fits.length > 0) return fits[fits.length - 1];
  return { error: `the shard count is unknown: under no count from 1 to ${dirCount} (the shard-NNN directories) do the logs' records and the tables' keys route to the shards that hold them` };
}

/**
 * A rebuilt MANIFEST's checkpoints: where each log's first segment starts. The writer trims
 * only segments wholly below its checkpoint, so every record below that start is in a table
 * (and a large batch whose first fragment lies there: RECOVERY.md Y4c); replay reads every
 * record from there on, whatever tables also hold (Y6). From 0 instead, a batch commit whose
 * first fragments were trimmed would be taken for one to apply, and refused (Y4d).
 */
function rebuildCheckpoints(platform: Platform, dir: string, shards: number): { group: number; partitions: number[] } {
  // A log directory that is missing holds nothing (the open creates it; before, its readdir
  // threw ENOENT out of --repair).
  const start = (logDir: string) => (listSegmentFilesIfAny(platform, logDir)[0]?.firstLsn ?? 0);
  return { group: start(`${dir}/wal`), partitions: Array.from({ length: shards }, (_, shard) => start(partitionDir(dir, shard))) };
}

/**
 * A manifest listing `tables`, with the logs' checkpoints at their first segments and replay
 * floors at 0, naming the database `databaseId` (IDENTITY's, so that its followers go on;
 * a new id without one), its next table number above `numberUsed` (the highest a
 * tables/DELETING note names: those numbers were given, and a table given one again would
 * be left out of the next rebuild while the note stands).
 */
function manifestFromTables(shards: number, tables: TableRecord[], checkpoints: { group: number; partitions: number[] }, databaseId: string | undefined, numberUsed: number): ManifestData {
  const manifest = newManifest(shards);
  if (databaseId) manifest.databaseId = databaseId;
  manifest.tables = tables;
  manifest.groupCheckpoint = checkpoints.group;
  manifest.partitionCheckpoints = checkpoints.partitions;
  manifest.nextTableNumber = Math.max(numberUsed, ...tables.map((t) => t.number)) + 1;
  let maxSeq = 0n;
  const maxTs = new Array<bigint>(shards).fill(0n);
  for (const t of tables) {
    if (BigInt(t.maxTs) > maxTs[t.shard]) maxTs[t.shard] = BigInt(t.maxTs);
    if (BigInt(t.maxSeq) > maxSeq) maxSeq = BigInt(t.maxSeq);
  }
  manifest.maxTs = maxTs.map(String);
  manifest.maxSeq = String(maxSeq);
  return manifest;
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function severityText(s: Severity): string {
  return s === "error" ? "ERROR" : s === "warning" ? "warning" : "ok";
}

/** Wraps `text` to `width` columns (on spaces; words longer than that are broken). */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (let word of text.split(" ")) {
    while (word.length > width) {
      if (line) {
        lines.push(line);
        line = "";
      }
      lines.push(word.slice(0, width));
      word = word.slice(width);
    }
    if (!line) line = word;
    else if (line.length + 1 + word.length <= width) line += ` ${word}`;
    else {
      lines.push(line);
      line = word;
    }
  }
  if (line) lines.push(line);
  return lines.join("\n");
}

function renderReport(ctx: CliContext, report: DoctorReport, title: string): string {
  const columns = ctx.io.columns;
  const fileWidth = columns ? Math.max(16, Math.floor(columns * 0.3)) : Infinity;
  const messageWidth = columns ? Math.max(30, columns - fileWidth - 30) : Infinity;
  const rows = report.findings.map((f) => [
    severityText(f.severity),
    f.check,
    // What is on disk (a file's name) may hold control characters: escaped before the
    // wrap, which breaks lines with its own newlines (before, an ESC cleared the screen).
    Number.isFinite(fileWidth) ? wrap(terminalSafe(f.file), fileWidth) : terminalSafe(f.file),
    Number.isFinite(messageWidth) ? wrap(terminalSafe(f.message), messageWidth) : terminalSafe(f.message),
  ]);
  const { errors, warnings, ok } = report.summary;
  return `${title}\n${table(["severity", "check", "file", "finding"], rows)}${plural(errors, "error")}, ${plural(warnings, "warning")}, ${ok} ok\n`;
}

export async function doctorCommand(ctx: CliContext, dir: string, o: DoctorOptions): Promise<number> {
  const core = await toolCore();
  try {
    const showProgress = !o.json;
    const before = await examine(ctx, dir, core, showProgress);
    if (!o.repair) {
      if (o.json) ctx.io.stdout(toJson(before));
      else {
        ctx.io.stdout(renderReport(ctx, before, `shardline doctor ${terminalSafe(dir)}`));
        const fixable = before.findings.filter((f) => f.repair === "open" || f.repair === "rebuild").length;
        if (fixable > 0 && isFollowerDir(ctx.platform, dir)) ctx.io.stdout(`${fixable} of these a normal open fixes: ${FOLLOWER_NOTE}\n`);
        else if (fixable > 0) ctx.io.stdout(`${fixable} of these a normal open fixes: run \`shardline doctor --repair ${terminalSafe(dir)}\` to fix them now\n`);
      }
      return before.summary.errors > 0 ? EXIT_FAILURE : EXIT_OK;
    }
    const outcome = await repair(ctx, core, before, o.salvage === true);
    const after = outcome.performed ? await examine(ctx, dir, core, showProgress) : undefined;
    const final = after ?? before;
    const status = outcome.error !== undefined || final.summary.errors > 0 ? EXIT_FAILURE : EXIT_OK;
    if (o.json) {
      ctx.io.stdout(toJson({ ...before, repair: { ...outcome, ...(after ? { after } : {}) } }));
    } else {
      ctx.io.stdout(renderReport(ctx, before, `shardline doctor ${terminalSafe(dir)}`));
      ctx.io.stdout(`\nrepair:\n${outcome.actions.map((a) => `  ${terminalSafe(a)}\n`).join("")}`);
      if (outcome.error) ctx.io.stdout(`  ${terminalSafe(outcome.error)}\n`);
      if (after) ctx.io.stdout(`\n${renderReport(ctx, after, "after repair:")}`);
    }
    if (outcome.error) ctx.io.stderr(`shardline doctor: ${terminalSafe(outcome.error)}\n`);
    return status;
  } finally {
    core.detach();
  }
}
