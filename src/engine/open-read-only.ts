/**
 * Opening a database with `readOnly: true`: what `open` does (src/engine/open.ts), minus
 * everything that writes, on a Platform that refuses every change (src/read-only-platform.ts).
 *
 *   - no directory lock (a reader may open a database a writer holds: the CLI's read
 *     commands do) and no thread: no durability worker, no actor;
 *   - the database must exist (DatabaseNotFoundError; a directory that lost its MANIFEST
 *     gets the CorruptionError open gives), and a follower's directory must have caught
 *     up to its snapshot's tables (DatabaseNotFoundError until then: refuseFollowerBehindTables);
 *   - the group WAL and the partition logs are recovered as open recovers them, but a log
 *     that needs a repair (a torn tail to cut, a half-made segment to delete, salvage)
 *     fails the open with ReadOnlyError instead: open it read-write once;
 *   - the log not yet flushed to tables is replayed into memtables in memory only; if the
 *     replay would have to flush (the memtables cannot hold it), ReadOnlyError too;
 *   - the group WAL's ring exists (the read paths and stats read it) but is CLOSED: a
 *     write through a handle attached with `attach(db.share())` gets ClosedError; the
 *     opener's own writes get ReadOnlyError (src/engine/database.ts).
 * docs/RECOVERY.md ("Read-only open") has the decision and its why.
 *
 * Invariants: nothing in the directory changes but the handle's slot in `readers/` (and
 * `readers/` itself where it is missing); what the handle shows is what the writer made
 * durable as of its last refresh (src/engine/live-reader.ts), or the database as it was
 * at open when no slot can be written (a read-only file system).
 * Threads: the opening thread only.
 */
import { Core, MEMORY_BYTES_LIMIT, STATUS_LIMIT } from "../core/core.ts";
import { CorruptionError, DatabaseExistsError, DatabaseNotFoundError, ReaderEvictedError, ReadOnlyError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { readOnlyPlatform } from "../read-only-platform.ts";
import { Ring, RING_HEADER_BYTES, RingState, WalStatus } from "../wal/format.ts";
import { logLimits } from "../wal/log.ts";
import { recoverLog, type RecoveryReport } from "../wal/recovery.ts";
import { RingView } from "../wal/ring.ts";
import { Database, type RecoveryInfo } from "./database.ts";
import { type FlushEnv, partitionDir } from "./flush.ts";
import { decodeManifest, FOLLOWER_FILE_NAME, MANIFEST_NAME, manifestCore, readManifestBytes } from "./manifest.ts";
import { FROZEN_MAX, MemtableManager, sameBytes } from "./memtables.ts";
import { refuseUnfitMemory, REQUEST_QUEUE_BYTES, type ResolvedOptions, valueBytesMaxFor } from "./options.ts";
import { replay } from "./replay.ts";
import { EngineShared } from "./shared-state.ts";
import { LiveReader, type View } from "./live-reader.ts";
import { type ManifestData } from "./manifest.ts";
import { durableMarkPath, ReaderSlot } from "./reader-slots.ts";
import { readDurableMark } from "../wal/durable-mark.ts";
import { MEMORY_WEIGHT_BYTES } from "../worker-pool.ts";
import { listSegmentFilesIfAny } from "../wal/segment-files.ts";

const MIB = 1024 * 1024;
/** Memory beyond the memtables and rings a view needs: replay's state and indexes, read buffers, a large record's block. */
const READ_ONLY_SCRATCH_BYTES = 128 * MIB;

/** `refuseIfNotNew` of open.ts: a directory without MANIFEST that holds data is a lost MANIFEST. */
export type RefuseIfNotNew = (platform: Platform, dir: string) => void;

export async function openReadOnly(base: Platform, dir: string, o: ResolvedOptions, refuseIfNotNew: RefuseIfNotNew): Promise<Database> {
  const platform = readOnlyPlatform(base, dir);
  if (!platform.stat(`${dir}/${MANIFEST_NAME}`)) {
    if (platform.stat(dir)?.isDirectory) refuseIfNotNew(platform, dir);
    throw new DatabaseNotFoundError(dir, "readOnly is true");
  }
  if (o.errorIfExists) throw new DatabaseExistsError(dir);
  // The slot first, claiming everything, before any MANIFEST or log is read (reader-slots.ts).
  const slot = ReaderSlot.create(base, dir);
  const startedAtMs = Date.now();
  try {
    const build = () => buildView(platform, dir, o, slot !== undefined);
    const first = slot ? await firstBuild(build, slot, dir) : await build();
    if (slot) first.db.follow(new LiveReader(base, dir, slot, first, build, o.refreshIntervalMs, startedAtMs));
    return first.db;
  } catch (error) {
    slot?.release();
    throw error;
  }
}

/**
 * The open's build, as a refresh's (LiveReader #buildClaimed): one the writer evicted us
 * during (it may have trimmed a segment the build was about to open: a raw ENOENT) starts
 * again, claiming everything first, up to FIRST_BUILD_ATTEMPTS_MAX times; then
 * ReaderEvictedError. Before, the open rejected with the raw error.
 */
async function firstBuild(build: () => Promise<View>, slot: ReaderSlot, dir: string): Promise<View> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await build();
    } catch (error) {
      if (!slot.evicted) throw error;
      if (attempt >= FIRST_BUILD_ATTEMPTS_MAX) throw new ReaderEvictedError(dir);
      slot.reclaim();
    }
  }
}

const FIRST_BUILD_ATTEMPTS_MAX = 3;

/** How often a view's build starts again because the writer trimmed the log it was reading. */
const BUILD_ATTEMPTS_MAX = 8;

/**
 * A view of the database as the files are now: the tables of the current MANIFEST and the
 * group WAL replayed from its checkpoint, up to the writer's durable mark when `live` and
 * there is one (else to the log's end, which must then need no repair).
 */
async function buildView(platform: Platform, dir: string, o: ResolvedOptions, live: boolean): Promise<View> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await buildViewOnce(platform, dir, o, live);
    } catch (error) {
      if (!(error instanceof ViewLogTrimmedError)) throw error;
      // The same after every read of the MANIFEST: no writer is moving it on, the segments
      // are missing. CorruptionError, as the docs name it (it escaped as a plain Error, and
      // the command line printed no pointer to doctor: review of the CLI, 2026-12-06).
      if (attempt >= BUILD_ATTEMPTS_MAX) throw new CorruptionError(`${dir}/wal: ${error.message} after ${attempt} reads of the MANIFEST: segments holding records no table holds are missing`, `${dir}/wal`, 0);
    }
  }
}

/** The log from a MANIFEST's checkpoint was trimmed by a writer that published a newer one meanwhile (or is missing). */
class ViewLogTrimmedError extends Error {}

async function buildViewOnce(platform: Platform, dir: string, o: ResolvedOptions, live: boolean): Promise<View> {
  const probe = await manifestCore();
  // One read: the view's change detection compares these very bytes (live-reader.ts).
  const manifestBytes = readManifestBytes(platform, dir);
  if (!manifestBytes) throw new DatabaseNotFoundError(dir, "readOnly is true");
  const manifest = decodeManifest(probe, manifestBytes, `${dir}/${MANIFEST_NAME}`);
  if (o.shards !== undefined && o.shards !== manifest.shards) {
    throw new RangeError(`${dir} was created with ${manifest.shards} shards; open it with shards: ${manifest.shards} or leave shards out`);
  }
  // After the MANIFEST: the mark then covers every version its tables hold.
  const durableLsn = live ? readDurableMark(platform, durableMarkPath(dir)) : undefined;
  const shards = manifest.shards;
  refuseUnfitMemory(shards, o);
  const core = await Core.create({
    shards,
    memoryBytesMax: Math.min(MEMORY_BYTES_LIMIT, shards * o.memtableBytesMax * (FROZEN_MAX + 3) + o.walBufferBytes + REQUEST_QUEUE_BYTES + READ_ONLY_SCRATCH_BYTES),
  });
  // Node's collector counts nothing for a shared memory: make it count this one (worker-pool.ts).
  platform.weighSharedMemory?.(core.memory, MEMORY_WEIGHT_BYTES);
  try {
    const { db, append } = await replayView(core, platform, dir, o, manifest, manifestBytes, durableLsn);
    return { db, append, source: { manifestVersion: manifest.version, checkpoint: manifest.groupCheckpoint, durableLsn, manifestBytes } };
  } catch (error) {
    core.detach();
    throw error;
  }
}

/** Replays the log into `core`'s memtables and makes the Database of the view (and its append, with a mark). */
async function replayView(core: Core, platform: Platform, dir: string, o: ResolvedOptions, manifest: ManifestData, manifestBytes: Uint8Array, durableLsn: number | undefined): Promise<{ db: Database; append: View["append"] }> {
  const shards = manifest.shards;
  const groupDir = `${dir}/wal`;
  let recovered: { nextLsn: number; salt: number; report: RecoveryReport } | undefined;
  if (durableLsn !== undefined) {
    // A writer published what is durable: read below it, judge nothing past it (it may be
    // being written), repair nothing. The segments from the checkpoint must all be there.
    const segments = listSegmentFilesIfAny(platform, groupDir);
    // (A log's first segment, number 1, may start past the checkpoint: nothing was below it.
    // A later first segment that does was preceded by one the writer trimmed.)
    const first = segments[0];
    if (manifest.groupCheckpoint < durableLsn && (!first || (first.firstLsn > manifest.groupCheckpoint && first.number > 1))) {
      throw new ViewLogTrimmedError(`the group WAL no longer holds LSN ${manifest.groupCheckpoint}`);
    }
    // A log begun anew past the checkpoint is taken on trust only with the MANIFEST still
    // the one read: a writer that set its log aside (RECOVERY.md G4a: R10 flushed it to
    // tables and moved the checkpoint, then R9 began segment 1 above them) does so after
    // publishing a new MANIFEST, and this one's tables lack what the old log held.
    if (first && first.number === 1 && first.firstLsn > manifest.groupCheckpoint && !sameBytes(readManifestBytes(platform, dir) ?? new Uint8Array(0), manifestBytes)) {
      throw new ViewLogTrimmedError("the group WAL was begun anew after the MANIFEST was read");
    }
  } else if (platform.stat(groupDir)?.isDirectory) {
    recovered = recoverLog(core, platform, groupDir, { salvage: false, readOnly: true });
  }
  const logEnd = durableLsn ?? recovered?.nextLsn ?? 0;
  refuseFollowerBehindTables(platform, dir, manifest, logEnd);
  const startLsn = Math.max(logEnd, Math.ceil((Number(manifest.maxSeq) + 1) / 8) * 8);
  const group = closedRing(core, o.walBufferBytes, logLimits({ segmentBytesMax: o.walSegmentBytesMax, bufferBytes: o.walBufferBytes }).recordBytesMax, recovered?.salt ?? 0, startLsn);
  const requests = closedRing(core, REQUEST_QUEUE_BYTES, REQUEST_QUEUE_BYTES - 64, 0, 0);
  const shared = EngineShared.create(core, {
    groupRing: group.ring,
    requestRing: requests.ring,
    durabilityFull: o.durability === "full",
    shards,
    valueBytesMax: valueBytesMaxFor(o.memtableBytesMax),
  });
  const memtables = new MemtableManager(core, platform, dir, shared, o.memtableBytesMax);
  for (let shard = 0; shard < shards; shard++) core.exports.shardInstallActive(shard, memtables.create(shard));

  const partitionEnds: number[] = [];
  const partitionReports: RecoveryReport[] = [];
  for (let shard = 0; shard < shards; shard++) {
    // Not made yet (a writer killed right after its first MANIFEST, or still opening): no log.
    if (!platform.stat(partitionDir(dir, shard))?.isDirectory) {
      partitionEnds.push(0);
      partitionReports.push({ segmentsRead: 0, records: 0, segmentsLeftToReader: 0, bytesCut: 0, decisions: ["R1"], corruptSegments: [] });
      continue;
    }
    const recoveredPartition = recoverLog(core, platform, partitionDir(dir, shard), { salvage: false, readOnly: true });
    partitionEnds.push(recoveredPartition.nextLsn);
    partitionReports.push(recoveredPartition.report);
  }
  // A view never flushes: a flush the replay would need fails at once (the closed ring's
  // durable LSN never moves, so waiting for it, as a writer's flush does, would never end).
  const cannotFlush = (): never => {
    throw new ReadOnlyError(dir, REPLAY_FLUSH_REFUSED);
  };
  const env: FlushEnv = { core, platform, dir, shared, memtables, groupDurable: () => group.durableLsn, awaitGroupDurable: cannotFlush, partitionEnds: () => partitionEnds, manifest };
  const replayed = replayInMemory(env, shards, dir, durableLsn);
  memtables.reclaim();
  for (let shard = 0; shard < shards; shard++) {
    const onDisk = BigInt(manifest.maxTs[shard]);
    core.exports.shardRaiseCounter(shard, replayed.maxTs[shard] > onDisk ? replayed.maxTs[shard] : onDisk);
    shared.setRecoveredTs(shard, core.exports.shardCommitCounter(shard)); // no writer here: every timestamp came from the files
  }
  const recovery: RecoveryInfo = {
    groupLog: recovered?.report,
    partitions: partitionReports,
    replayedRecords: replayed.records,
    replayedOperations: replayed.operations,
  };
  const db = new Database(core, platform, dir, shared.address, o.durability, o.blockCacheBytesMax, {
    log: undefined,
    actor: undefined,
    actorDone: Promise.resolve(),
    lock: undefined,
    recovery,
    coordination: { mode: o.coordination, locked: false, reason: "readOnly: no lock is taken" },
    readOnly: true,
    manifest,
  }, o.writeQueue);
  if (durableLsn === undefined) return { db, append: undefined };
  let end = durableLsn;
  let pendingFrom = replayed.groupPendingFrom;
  const append = (endLsn: number): boolean => {
    if (endLsn <= end) return true;
    let more: ReturnType<typeof replay>;
    try {
      more = replay(env, shards, endLsn, { fromLsn: pendingFrom ?? end });
    } catch (error) {
      if (error instanceof ReadOnlyError) return false; // it would have to flush: the caller builds a new view
      throw error;
    }
    memtables.reclaim();
    for (let shard = 0; shard < shards; shard++) {
      core.exports.shardRaiseCounter(shard, more.maxTs[shard]);
      shared.setRecoveredTs(shard, core.exports.shardCommitCounter(shard));
    }
    pendingFrom = more.groupPendingFrom;
    end = endLsn;
    // The new visible point: reads from now on see the appended versions (seq < it),
    // snapshots taken before keep their own, lower one.
    for (const field of [Ring.RESERVE_HEAD, Ring.PUBLISHED_END, Ring.DURABLE_LSN]) Atomics.store(core.u64, (group.ring + field) >>> 3, BigInt(endLsn));
    return true;
  };
  return { db, append };
}

/**
 * A follower's directory whose log does not yet reach past its tables' records
 * (followerConsistentLsn): it was bootstrapped from a snapshot whose tables hold writes
 * past the snapshot's LSN (a quiet shard holds the writer's checkpoint back while the other
 * shards flush and merge), and the follower has not applied the stream that far. Its
 * tables, merged past that LSN, and its log, short of their end, make no state the writer
 * ever had (a put its delete dropped in a merge is missing, a later write of a busy shard
 * is there beside an earlier quiet shard's missing one): refused until the follower has
 * caught up (src/replicate/follower.ts waits for that before it shows its `db`). A
 * writer's own directory never ends below its tables: every flushed record was durable first.
 */
function refuseFollowerBehindTables(platform: Platform, dir: string, manifest: ManifestData, logEnd: number): void {
  const needed = followerConsistentLsn(platform, dir, manifest);
  if (logEnd >= needed) return;
  throw new DatabaseNotFoundError(dir, "readOnly is true", `the follower there has applied its stream up to LSN ${logEnd}, and its snapshot's tables hold writes of the log up to LSN ${needed}: open it again once the follower has caught up`);
}

/**
 * Where a follower directory's log must reach before its tables and log together are a
 * state the writer had: past every record whose versions its tables hold. 0 for a
 * directory that is no follower's. The FOLLOWER record's consistentLsn says so for the
 * tables its snapshot came with (src/replicate/snapshot.ts: the writer's durable mark when
 * it was taken); the MANIFEST's maxSeq (the newest record a table holds, when its versions
 * carry their LSN: a replay's do not) is the only bound a snapshot made before that field
 * gives. The follower's own checkpoints flush only what it applied. One judgement for the
 * follower (follower.ts), read-only opens and doctor; a record this cannot parse is the
 * follower's to refuse when it opens.
 */
export function followerConsistentLsn(platform: Platform, dir: string, manifest: ManifestData): number {
  const path = `${dir}/${FOLLOWER_FILE_NAME}`;
  if (!platform.stat(path)) return 0;
  let consistentLsn: number | undefined;
  try {
    const found = (JSON.parse(new TextDecoder().decode(platform.readFile(path))) as { consistentLsn?: unknown }).consistentLsn;
    if (Number.isSafeInteger(found)) consistentLsn = found as number;
  } catch {
    // judged by the follower when it opens
  }
  return consistentLsnOf(manifest, consistentLsn);
}

/** followerConsistentLsn, given the FOLLOWER record's consistentLsn (the follower has it read and checked already). */
export function consistentLsnOf(manifest: ManifestData, recorded: number | undefined): number {
  const tablesThrough = Number(manifest.maxSeq);
  return Math.max(recorded ?? 0, tablesThrough > 0 ? tablesThrough + 1 : 0);
}

/** A ring formatted at `startLsn` (everything below it reads as durable) and CLOSED: nothing drains it. */
function closedRing(core: Core, capacity: number, recordBytesMax: number, salt: number, startLsn: number): RingView {
  const at = core.exports.coreAlloc(RING_HEADER_BYTES + capacity) >>> 0;
  if (at < STATUS_LIMIT) throw new RangeError("no shared memory for a ring");
  if (core.exports.walRingFormat(at, capacity, salt, BigInt(startLsn), recordBytesMax) !== WalStatus.OK) throw new RangeError("cannot format a ring");
  const ring = new RingView(core, at);
  ring.setState(RingState.CLOSED);
  return ring;
}

/** What a read-only open's ReadOnlyError names when the log not yet flushed does not fit its memtables. */
export const REPLAY_FLUSH_REFUSED = "the replay's flush";

/** The replay, which must not flush: if it tries, the log does not fit the memtables. */
function replayInMemory(env: FlushEnv, shards: number, dir: string, groupEndLsn = Infinity): ReturnType<typeof replay> {
  try {
    return replay(env, shards, groupEndLsn);
  } catch (error) {
    if (!(error instanceof ReadOnlyError)) throw error;
    throw new ReadOnlyError(
      dir,
      REPLAY_FLUSH_REFUSED,
      `: the log not yet flushed to tables does not fit the memtables (${error.what}); open it read-write once, which flushes it, or read-only with a larger memtableBytesMax`,
    );
  }
}
