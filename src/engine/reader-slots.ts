/**
 * Reader slots: how live read-only handles in other processes (src/engine/live-reader.ts)
 * tell the writer what they still read, so that it deletes no log segment or table file
 * they need, and how the writer tells them what is durable.
 *
 *   <dir>/readers/DURABLE                        the group WAL's durable mark, written by
 *                                                the writer's durability worker
 *                                                (src/wal/durable-mark.ts)
 *   <dir>/readers/<pid>-<startTime>-<hex>.reader one per read-only handle, JSON:
 *     { pid, startTime, runtime, openedAt, updatedAt, manifestVersion, lsn }
 *                                                (and, for as long as they read, one per
 *                                                snapshot upload, src/replicate/snapshot.ts,
 *                                                and per change feed replaying `from`,
 *                                                src/engine/change-feed.ts, in the writer's
 *                                                own process)
 *   <dir>/readers/retain-<label>.reader          a retained slot (a replication publisher,
 *                                                src/replicate/publisher.ts): the same JSON,
 *                                                but not bound to its process's life
 *
 * A slot says: "I read tables of MANIFEST versions >= manifestVersion and may still read
 * the group WAL from LSN `lsn` on". Each slot has one writer, its reader, which replaces it
 * whole (write `<name>.tmp`, rename over `<name>`: another process sees the old or the new
 * record, never a torn one; no fsync, a slot means nothing after a power loss) and deletes
 * it on close. There is no shared file to lock: Node has no kernel file lock, and one file
 * per reader needs none.
 *
 * The writer (the opener during recovery, then the actor) consults the slots each time it
 * would delete something (ReaderRetention):
 * - log segments: trimmed below min(checkpoint, every live slot's lsn);
 * - legacy partition logs (nothing appends to them; a reader replays them from the
 *   checkpoints of the MANIFEST it read): trimmed below the checkpoints a MANIFEST of
 *   version v brought once every live slot's manifestVersion is at least v;
 * - table files no longer named by the MANIFEST (compaction inputs, orphans of a crash):
 *   a file the MANIFEST of version w dropped is deleted once every live slot's
 *   manifestVersion is at least w (a reader at version v reads the tables of v, which
 *   include it only if v < w). The writer remembers w for what it dropped itself, and
 *   writes what it remembers to `readers/DROPPED` (JSON { "<table file>": w }, a line, then
 *   its CRC-32C in 8 hex digits and a line; replaced by rename, not synced) for the writer
 *   after it; a file it finds unnamed at its open and
 *   not in DROPPED counts as dropped at that open's version. DROPPED is a hint that can
 *   only be short: table numbers are never reused, so an entry it holds is true, and one it
 *   lost (a crash, a power loss) falls back to the open's version, which keeps the file
 *   longer, never shorter. A slot is charged (below) only the dropped tables kept for it,
 *   those dropped at a version above its own; before, every slot below the current
 *   MANIFEST was charged every unnamed table on disk, and a reader up to date was evicted
 *   for tables an older reader held (tests/engine/live-reader-eviction.test.ts).
 * Why no needed file is ever deleted: the reader writes its slot (first with version 0 and
 * LSN 0: everything) BEFORE it reads a MANIFEST or the log, and keeps it at or below the
 * versions and checkpoints of everything it still reads; the writer publishes a MANIFEST
 * BEFORE it lists the slots and deletes. So for any file the reader may read, either the
 * writer's listing saw a slot that covers it, or the reader's slot write came after the
 * listing, and then so did its MANIFEST read, which found the new MANIFEST, which no longer
 * needs the file. A reader that finds the log trimmed under its own earlier read (the only
 * window: between a MANIFEST read and the slot update that follows it, when the slot
 * already covered it, there is none) reads the MANIFEST again.
 *
 * Liveness and limits: a slot whose process is dead (pid and start time, as the write lock
 * judges them: src/lock-holders.ts) is deleted by the writer; a retained slot counts as
 * live whoever wrote it (a publisher that restarts, even with its writer, resumes from the
 * LSN it stored) until its owner releases it; a live slot that makes the
 * writer keep more than `retainBytesMax` bytes (log behind the checkpoint plus dropped
 * tables) is evicted: the writer renames it to its tombstone `<name>.evicted`, and the
 * reader, finding its slot gone or the tombstone there, refuses reads with
 * ReaderEvictedError until `refresh()` rebuilds it from the current files. The tombstone is
 * what tells an eviction the reader's own rewrite undid (its rename puts a slot back: the
 * reader checks for the tombstone after each rewrite) from none; the reader removes it when
 * it claims everything again (reclaim), the writer only with a dead process's slot.
 * Threads: a ReaderSlot belongs to its handle's thread; a ReaderRetention to the writer's
 * owner thread. Processes: any number of readers, one writer (the directory lock).
 */
import { ReaderEvictedError, ReadOnlyError } from "../errors.ts";
import { LOCK_FILE_WRITE_GRACE_MS } from "../lock-holders.ts";
import type { Platform, RuntimeName } from "../platform.ts";
import { hasErrorCode, unlinkIfPresent } from "../platform.ts";
import { listSegmentFilesIfAny, trimSegments } from "../wal/segment-files.ts";
import { type ManifestData, tableFileName, tableNumberOf } from "./manifest.ts";
import { checksummedJsonText, parseChecksummedJson } from "./checksummed-json.ts";
import { deleteTablesNoted } from "./table-deletions.ts";
import { partitionDir } from "./flush.ts";

/**
 * How long after a drop its tables are not charged to readers (floor): the time a reader
 * that keeps refreshing needs to read the version that dropped them.
 */
export const DROP_GRACE_MS = LOCK_FILE_WRITE_GRACE_MS;

/** A slot's LSN when it reads no log at all (a snapshot upload's table claim: src/replicate/snapshot.ts). */
export const READS_NO_LOG = Number.MAX_SAFE_INTEGER;

export const READERS_DIR_NAME = "readers";
export const DURABLE_MARK_NAME = "DURABLE";
/** The writer's note of which MANIFEST version dropped each table file still on disk (ReaderRetention). */
export const DROPPED_NAME = "DROPPED";
/** The largest readers/DROPPED read (~25 bytes an entry: some 600,000 tables kept for readers). */
const DROPPED_BYTES_MAX = 16 * 1024 * 1024;
const SLOT_NAME = /^(\d+)-(\d+)-[0-9a-f]+\.reader(\.tmp|\.evicted)?$/;
const RETAINED_NAME = /^retain-([A-Za-z0-9_-]{1,128})\.reader(\.tmp|\.evicted)?$/;
/** What the writer renames an evicted slot to (its tombstone: see "Eviction" above). */
const EVICTED_SUFFIX = ".evicted";
/** Labels a retained slot may have (they name a file). */
export const RETAINED_LABEL = /^[A-Za-z0-9_-]{1,128}$/;
const SLOT_BYTES_MAX = 4096;

export function readersDir(dir: string): string {
  return `${dir}/${READERS_DIR_NAME}`;
}

export function durableMarkPath(dir: string): string {
  return `${readersDir(dir)}/${DURABLE_MARK_NAME}`;
}

export interface ReaderSlotRecord {
  pid: number;
  startTime: number;
  runtime: RuntimeName;
  /** ISO 8601 */
  openedAt: string;
  updatedAt: string;
  /** The oldest MANIFEST version whose tables the reader may still read (0: any). */
  manifestVersion: number;
  /** The oldest group-WAL LSN the reader may still read. */
  lsn: number;
}

export interface ReaderSlotInfo {
  /** File name in <dir>/readers. */
  file: string;
  /** undefined when the file holds no whole record. */
  record: ReaderSlotRecord | undefined;
  alive: boolean;
  reason: string;
  /**
   * The entry could not be read (not a file, or another user's file: EISDIR, EACCES...).
   * It claims nothing and is never deleted by the writer; stats and doctor list it.
   */
  unreadable?: boolean;
}

function parseSlot(bytes: Uint8Array): ReaderSlotRecord | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(bytes)) as Partial<ReaderSlotRecord>;
    if (typeof r !== "object" || r === null) return undefined;
    if (!Number.isSafeInteger(r.pid) || !Number.isSafeInteger(r.startTime)) return undefined;
    if (!Number.isSafeInteger(r.manifestVersion) || !Number.isSafeInteger(r.lsn)) return undefined;
    return r as ReaderSlotRecord;
  } catch {
    return undefined;
  }
}

/**
 * A slot file's record: "gone" when it is no longer there, "unreadable" when it cannot be
 * read (a directory, another user's file): one such entry must not fail the writer's
 * flushes, nor stats() (review, 2026-12-06: a directory named like a slot failed the
 * database at its next flush).
 */
function readSlot(platform: Platform, path: string): ReaderSlotRecord | undefined | "gone" | "unreadable" {
  let bytes: Uint8Array;
  try {
    // Judged by its size before it is read: a slot is a few hundred bytes (SLOT_BYTES_MAX).
    const stat = platform.stat(path);
    if (stat === undefined) return "gone";
    if (!stat.isFile) return "unreadable"; // a directory, or a FIFO whose read would block for ever
    if (stat.size > SLOT_BYTES_MAX) return undefined;
    bytes = platform.readFile(path);
  } catch (error) {
    return hasErrorCode(error, "ENOENT") ? "gone" : "unreadable";
  }
  return bytes.length > SLOT_BYTES_MAX ? undefined : parseSlot(bytes);
}

/**
 * Every slot file in `dir`'s readers directory, judged alive or dead (nothing is deleted);
 * with `withTemp`, also the `.tmp` files readers write their slots through (for the
 * writer, which deletes those of dead processes; listed to users they would count a
 * reader twice while it rewrites its slot).
 */
export function listReaderSlots(platform: Platform, dir: string, withTemp = false): ReaderSlotInfo[] {
  const out: ReaderSlotInfo[] = [];
  let names: string[];
  try {
    names = platform.readdir(readersDir(dir));
  } catch (error) {
    if (hasErrorCode(error, "ENOENT")) return out;
    throw error;
  }
  for (const file of names.sort()) {
    const retained = RETAINED_NAME.exec(file);
    if (retained) {
      if (retained[2] && !withTemp) continue;
      const record = readSlot(platform, `${readersDir(dir)}/${file}`);
      if (record === "gone") continue;
      if (record === "unreadable") {
        out.push({ file, record: undefined, alive: true, reason: "a retained slot this process cannot read", unreadable: true });
        continue;
      }
      out.push({ file, record: retained[2] ? undefined : record, alive: true, reason: "a retained slot (kept until released)" });
      continue;
    }
    const name = SLOT_NAME.exec(file);
    if (!name || (name[3] && !withTemp)) continue;
    const path = `${readersDir(dir)}/${file}`;
    const record = readSlot(platform, path);
    if (record === "gone") continue;
    const identity = { pid: Number(name[1]), startTime: Number(name[2]) };
    if (record === "unreadable") {
      const alive = platform.isProcessAlive(identity);
      out.push({ file, record: undefined, alive, reason: `this process cannot read it; its process is ${alive ? "alive" : "gone"}`, unreadable: true });
      continue;
    }
    if (platform.isProcessAlive(identity)) {
      out.push({ file, record: name[3] ? undefined : record, alive: true, reason: "its process is alive" });
    } else {
      out.push({ file, record: name[3] ? undefined : record, alive: false, reason: "its process is gone" });
    }
  }
  return out;
}

/**
 * readers/DROPPED's entries ([table file, version]); none when it is missing, fails its
 * checksum, or is not what the writer writes. Without the checksum one damaged digit (a
 * version lowered, still JSON) made an open delete a table a live reader still covered
 * (review, 2026-12-06).
 */
function readDroppedNote(platform: Platform, dir: string, crc32c: (bytes: Uint8Array) => number): Array<[string, number]> {
  try {
    const path = `${readersDir(dir)}/${DROPPED_NAME}`;
    if ((platform.stat(path)?.size ?? 0) > DROPPED_BYTES_MAX) return []; // not what a writer writes: not read whole
    const parsed = parseChecksummedJson(new TextDecoder().decode(platform.readFile(path)), crc32c);
    if (typeof parsed !== "object" || parsed === null) return [];
    return Object.entries(parsed).filter((e): e is [string, number] => tableNumberOf(e[0]) !== undefined && Number.isSafeInteger(e[1]) && e[1] > 0);
  } catch {
    return []; // missing, torn or foreign: the open's version stands in (the header)
  }
}

/** The reader's own slot. */
export class ReaderSlot {
  readonly path: string;
  readonly #tmp: string;
  readonly #record: ReaderSlotRecord;
  #released = false;
  #retained = false;
  /** A retained slot this call created (there was none): its creator discards it if it fails to start. */
  createdNow = false;

  readonly #tombstone: string;

  private constructor(private readonly platform: Platform, readonly dir: string, name: string, record: ReaderSlotRecord) {
    this.path = `${readersDir(dir)}/${name}`;
    this.#tmp = `${this.path}.tmp`;
    this.#tombstone = `${this.path}${EVICTED_SUFFIX}`;
    this.#record = record;
  }

  /**
   * A slot claiming every table (version 0) and the log from `lsn` (0: all of it;
   * READS_NO_LOG: none), or undefined when the directory cannot be written (a read-only
   * file system or no permission: the handle then shows the files as they are at open,
   * like a backup, and says so in stats().coordination; or a readOnly handle's platform).
   */
  static create(platform: Platform, dir: string, lsn = 0): ReaderSlot | undefined {
    const me = platform.processIdentity();
    const random = crypto.getRandomValues(new Uint8Array(6));
    const hex = Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("");
    const now = new Date().toISOString();
    const slot = new ReaderSlot(platform, dir, `${me.pid}-${me.startTime}-${hex}.reader`, {
      pid: me.pid,
      startTime: me.startTime,
      runtime: platform.runtime,
      openedAt: now,
      updatedAt: now,
      manifestVersion: 0,
      lsn,
    });
    try {
      if (!platform.stat(readersDir(dir))?.isDirectory) platform.mkdir(readersDir(dir), { recursive: true });
      slot.#write();
    } catch (error) {
      // ReadOnlyError: the read-only platform of a readOnly handle, which refuses before it
      // touches the disk (a `from` replay on such a handle: its live slot covers what it reads).
      if (hasErrorCode(error, "EROFS") || hasErrorCode(error, "EACCES") || hasErrorCode(error, "EPERM") || error instanceof ReadOnlyError) return undefined;
      throw error;
    }
    return slot;
  }

  /**
   * The retained slot `label` (`retain-<label>.reader`): the record it holds when it exists
   * (its LSN and version stand until updated), else a new one claiming every table (version
   * 0) and the log from `lsn` (what the log holds now: claiming LSN 0 would count the whole
   * history as held and get the slot evicted at once). Its `release` leaves the file in
   * place; `discard` deletes it.
   */
  static retained(platform: Platform, dir: string, label: string, lsn: number): ReaderSlot {
    if (!RETAINED_LABEL.test(label)) throw new RangeError(`a retained slot label must match ${RETAINED_LABEL}, got ${JSON.stringify(label)}`);
    const me = platform.processIdentity();
    const now = new Date().toISOString();
    const name = `retain-${label}.reader`;
    if (!platform.stat(readersDir(dir))?.isDirectory) platform.mkdir(readersDir(dir), { recursive: true });
    const found = readSlot(platform, `${readersDir(dir)}/${name}`);
    const kept = typeof found === "object" ? found : undefined; // not "gone", "unreadable" (the write below then fails) or unparsed
    const slot = new ReaderSlot(platform, dir, name, {
      pid: me.pid,
      startTime: me.startTime,
      runtime: platform.runtime,
      openedAt: now,
      updatedAt: now,
      manifestVersion: kept?.manifestVersion ?? 0,
      lsn: kept?.lsn ?? lsn,
    });
    slot.#retained = true;
    slot.createdNow = kept === undefined;
    slot.#removeTombstone(); // an eviction of the slot's last owner: this one starts from what it claims now
    slot.#write();
    return slot;
  }

  get record(): Readonly<ReaderSlotRecord> {
    return this.#record;
  }

  /**
   * Stores what the reader still reads; throws ReaderEvictedError if the writer evicted the
   * slot, before the rewrite or during it (the rewrite's rename may have put the slot back
   * after the writer renamed it to its tombstone: the tombstone says so).
   */
  update(manifestVersion: number, lsn: number): void {
    this.checkKept();
    if (manifestVersion === this.#record.manifestVersion && lsn === this.#record.lsn) return;
    this.#record.manifestVersion = manifestVersion;
    this.#record.lsn = lsn;
    this.#record.updatedAt = new Date().toISOString();
    this.#write();
    this.checkKept();
  }

  /** The writer evicted this slot (or someone deleted it): what the reader holds may be gone. */
  get evicted(): boolean {
    return !this.#released && (this.platform.stat(this.path) === undefined || this.platform.stat(this.#tombstone) !== undefined);
  }

  checkKept(): void {
    if (this.evicted) throw new ReaderEvictedError(this.dir);
  }

  /** Takes a new slot file after an eviction (claiming every table again, and the log from `lsn`). */
  reclaim(lsn = 0): void {
    this.#removeTombstone();
    this.#record.manifestVersion = 0;
    this.#record.lsn = lsn;
    this.#record.updatedAt = new Date().toISOString();
    this.#write();
  }

  /** Deletes the slot file (a retained slot's stays: `discard` deletes it). */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (!this.#retained) this.#unlinkFiles();
  }

  /** Deletes the slot file, retained or not: nothing is kept for it any more. */
  discard(): void {
    this.#released = true;
    this.#unlinkFiles();
  }

  #removeTombstone(): void {
    unlinkIfPresent(this.platform, this.#tombstone);
  }

  #unlinkFiles(): void {
    for (const path of [this.path, this.#tmp, this.#tombstone]) unlinkIfPresent(this.platform, path);
  }

  #write(): void {
    const file = this.platform.open(this.#tmp, "truncate");
    try {
      file.write(new TextEncoder().encode(JSON.stringify(this.#record)), 0);
    } finally {
      file.close();
    }
    this.platform.rename(this.#tmp, this.path);
  }
}

/** What the live readers still need: nothing below these may be deleted. */
export interface RetentionFloor {
  lsn: number;
  manifestVersion: number;
  /** Live slots (after dead ones were deleted and laggards evicted). */
  readers: number;
}

/** The writer's side: judges the slots each time it would delete a file. */
export class ReaderRetention {
  /** Table files this writer dropped, by name: the MANIFEST version that no longer names them. */
  readonly #droppedAt = new Map<string, number>();
  /** When this writer dropped tables at each MANIFEST version (Date.now()); older drops are unknown here. */
  readonly #droppedWhen = new Map<number, number>();
  /** The legacy partition logs' checkpoints as last changed, and the MANIFEST version that first held them. */
  #partitions: { checkpoints: number[]; version: number };
  /** What every live reader allows trimming the legacy partition logs below (a reader replays them from its MANIFEST's checkpoints). */
  #partitionLimits: number[] = [];

  /**
   * `opened`: the MANIFEST when this writer started. A table file it finds unnamed without
   * having dropped it (a previous writer's compaction or crash) counts as dropped at its
   * version (it was named by none at or after it); its partition checkpoints were held by
   * that version.
   */
  constructor(
    private readonly platform: Platform,
    private readonly dir: string,
    readonly retainBytesMax: number,
    opened: Pick<ManifestData, "version" | "partitionCheckpoints">,
    /** CRC-32C (Core.crc32c), for readers/DROPPED's checksum. */
    private readonly crc32c: (bytes: Uint8Array) => number,
  ) {
    this.openedVersion = opened.version;
    this.#partitions = { checkpoints: [...opened.partitionCheckpoints], version: opened.version };
    for (const [name, version] of readDroppedNote(platform, dir, crc32c)) if (version <= opened.version) this.#droppedAt.set(name, version);
  }

  private readonly openedVersion: number;

  /** Whether this writer dropped tables at `version` less than DROP_GRACE_MS ago. */
  #recentDrop(version: number): boolean {
    const when = this.#droppedWhen.get(version);
    return when !== undefined && Date.now() - when < DROP_GRACE_MS;
  }

  /** Tables the MANIFEST of `version` dropped (a compaction's inputs). */
  noteDropped(numbers: readonly number[], version: number): void {
    for (const number of numbers) this.#droppedAt.set(tableFileName(number), version);
    this.#droppedWhen.set(version, Date.now());
    // Only the grace matters (#recentDrop): forget the times of drops long past it.
    for (const [v, when] of this.#droppedWhen) if (Date.now() - when > 2 * DROP_GRACE_MS) this.#droppedWhen.delete(v);
    this.#writeDroppedNote();
  }

  /**
   * readers/DROPPED := what #droppedAt holds (a hint: see the header). A failure to write it
   * fails nothing: the note left is older, and every entry of it still true.
   */
  #writeDroppedNote(): void {
    const path = `${readersDir(this.dir)}/${DROPPED_NAME}`;
    try {
      const file = this.platform.open(`${path}.tmp`, "truncate");
      try {
        file.write(new TextEncoder().encode(checksummedJsonText(Object.fromEntries(this.#droppedAt), this.crc32c)), 0);
      } finally {
        file.close();
      }
      this.platform.rename(`${path}.tmp`, path);
    } catch {
      // the older note stands (above)
    }
  }

  /**
   * Deletes the slots of dead processes, evicts live ones that hold more than
   * retainBytesMax (given `manifest`, the current one), and returns what the rest need.
   */
  floor(manifest: ManifestData): RetentionFloor {
    const floor: RetentionFloor = { lsn: Infinity, manifestVersion: Infinity, readers: 0 };
    let dropped: Array<{ version: number; bytes: number }> | undefined;
    let oldestLsn: number | undefined;
    for (const slot of listReaderSlots(this.platform, this.dir, true)) {
      if (slot.unreadable) continue; // claims nothing, and is left where it is
      const path = `${readersDir(this.dir)}/${slot.file}`;
      const young = () => Date.now() - (this.platform.stat(path)?.mtimeMs ?? 0) < LOCK_FILE_WRITE_GRACE_MS;
      if (!slot.alive) {
        this.#unlink(path);
        continue;
      }
      const record = slot.record;
      if (!record) {
        // A live process's temp file, or a record that does not parse: it claims nothing
        // (the reader writes a whole slot before it reads anything).
        if (!young() && !slot.file.endsWith(".tmp") && !slot.file.endsWith(EVICTED_SUFFIX)) this.#unlink(path);
        continue;
      }
      // The log it holds is what is on disk from its LSN: a slot claiming LSN 0 (a reader
      // still building, or reclaiming) holds the segments there are, not the whole history
      // (before, a build outlasting the grace on a long-lived database was evicted at once).
      // (No wal/ yet: the next writer's open judges the slots, in removeOrphans, before its
      // log makes it; a live reader's slot made that open fail with ENOENT: review, 2026-12-06.)
      oldestLsn ??= listSegmentFilesIfAny(this.platform, `${this.dir}/wal`)[0]?.firstLsn ?? manifest.groupCheckpoint;
      const logBytes = Math.max(0, manifest.groupCheckpoint - Math.max(record.lsn, oldestLsn));
      // The dropped tables kept for this reader: those dropped after the version it reads
      // (a file dropped at version w is kept for readers below w: removeDroppedTables), but
      // not those dropped less than DROP_GRACE_MS ago: a reader cannot have read the
      // versions that dropped them yet, so one that refreshed after every write was charged
      // the whole input of each merge as it published (of a cascade of merges), and one
      // merge of more than retainBytesMax evicted every live reader (review, 2026-12-06).
      // What a reader keeps is thus at most retainBytesMax plus the last DROP_GRACE_MS of drops.
      let tableBytes = 0;
      if (record.manifestVersion < manifest.version) {
        dropped ??= this.#droppedTableSizes(manifest);
        for (const table of dropped) if (table.version > record.manifestVersion && !this.#recentDrop(table.version)) tableBytes += table.bytes;
      }
      const held = logBytes + tableBytes;
      // A reader still claiming everything (version 0) is reading its first MANIFEST: it
      // is given the grace a lock file gets before it counts as a laggard.
      // A stamp that is no date, or lies in the future (a clock stepped back, a damaged or
      // hostile slot), gives no grace: it kept such a slot from ever counting (review, 2026-12-06).
      const stampAgeMs = Date.now() - Date.parse(record.updatedAt);
      const settled = record.manifestVersion > 0 || !(stampAgeMs >= 0 && stampAgeMs <= LOCK_FILE_WRITE_GRACE_MS);
      if (held > this.retainBytesMax && settled) {
        this.#evict(path); // the reader finds its slot gone and its tombstone there
        continue;
      }
      floor.lsn = Math.min(floor.lsn, record.lsn);
      floor.manifestVersion = Math.min(floor.manifestVersion, record.manifestVersion);
      floor.readers++;
    }
    return floor;
  }

  /**
   * After a flush published `manifest`: judges the slots once, then trims the group WAL's
   * segments below its checkpoint and deletes the dropped tables no live reader needs.
   * Returns the floor it judged (flush.ts trims legacy partition logs by it).
   */
  afterFlush(manifest: ManifestData): void {
    const floor = this.floor(manifest);
    trimSegments(this.platform, `${this.dir}/wal`, Math.min(manifest.groupCheckpoint, floor.lsn));
    this.removeDroppedTables(manifest, floor);
    this.#trimPartitionLogs(manifest, floor);
  }

  /**
   * Trims each legacy partition log (nothing appends to them) below the checkpoint every
   * live reader has moved past: a reader replays them from the checkpoints of the MANIFEST
   * it read, so checkpoints a MANIFEST of version v brought apply once no reader is below v
   * (one claiming everything, version 0, is below every one).
   */
  #trimPartitionLogs(manifest: ManifestData, floor: RetentionFloor): void {
    const now = manifest.partitionCheckpoints;
    const last = this.#partitions;
    if (last.checkpoints.length !== now.length || last.checkpoints.some((c, i) => c !== now[i])) {
      this.#partitions = { checkpoints: [...now], version: manifest.version };
    }
    if (floor.manifestVersion >= this.#partitions.version) this.#partitionLimits = this.#partitions.checkpoints;
    this.#partitionLimits.forEach((lsn, shard) => trimSegments(this.platform, partitionDir(this.dir, shard), lsn));
  }

  /**
   * Deletes the table files `manifest` does not name (compaction inputs, what a crash left)
   * that no live reader may read: a file dropped at version w is needed by a reader at a
   * version below w only. `.tmp` files are left to open. Returns how many were deleted.
   *
   * Behind a durable note naming them (table-deletions.ts): a crash in the middle leaves
   * some of a merge's inputs, and with the MANIFEST lost too, `doctor --repair` would list
   * them (docs/RECOVERY.md M1a): a put left without the tombstone the merge dropped with it
   * read again. No order of deletion prevents that (deleting oldest number first did not:
   * review of doctor --repair, 2026-12-07); the rebuild leaves out what the note names.
   */
  removeDroppedTables(manifest: ManifestData, judged?: RetentionFloor): number {
    const dropped = this.#droppedTables(manifest);
    if (dropped.length === 0) return 0;
    const floor = (judged ?? this.floor(manifest)).manifestVersion;
    const doomed = dropped.filter((name) => floor >= (this.#droppedAt.get(name) ?? this.openedVersion)).sort();
    if (doomed.length === 0 || !deleteTablesNoted(this.platform, this.dir, doomed, this.crc32c, dropped)) return 0;
    for (const name of doomed) this.#droppedAt.delete(name);
    this.#writeDroppedNote();
    return doomed.length;
  }

  #droppedTables(manifest: ManifestData): string[] {
    const live = new Set(manifest.tables.map((t) => tableFileName(t.number)));
    // Only the engine's own names (RECOVERY.md F1), and only files: a file such as `old.sst`,
    // or a directory named like a table, is left (F5).
    return this.platform.readdir(`${this.dir}/tables`).filter((name) => tableNumberOf(name) !== undefined && !live.has(name) && this.platform.stat(`${this.dir}/tables/${name}`)?.isFile === true);
  }

  /** Each table file `manifest` does not name: the version that dropped it (as removeDroppedTables judges it), and its size. */
  #droppedTableSizes(manifest: ManifestData): Array<{ version: number; bytes: number }> {
    return this.#droppedTables(manifest).map((name) => ({
      version: this.#droppedAt.get(name) ?? this.openedVersion,
      bytes: this.platform.stat(`${this.dir}/tables/${name}`)?.size ?? 0,
    }));
  }

  #unlink(path: string): void {
    unlinkIfPresent(this.platform, path);
  }

  /** Evicts the slot at `path`: renames it to its tombstone (over an older one). */
  #evict(path: string): void {
    try {
      this.platform.rename(path, `${path}${EVICTED_SUFFIX}`);
    } catch (error) {
      if (!hasErrorCode(error, "ENOENT")) throw error;
    }
  }
}

/** Bytes of log segments, for `doctor` and stats: what the live readers keep behind the checkpoint. */
export function logBytesBelow(platform: Platform, dir: string, lsn: number): number {
  const segments = listSegmentFilesIfAny(platform, `${dir}/wal`);
  let bytes = 0;
  for (let i = 0; i + 1 < segments.length && segments[i + 1].firstLsn <= lsn; i++) bytes += platform.stat(segments[i].path)?.size ?? 0;
  return bytes;
}
