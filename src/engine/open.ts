/**
 * Opening a database: lock, manifest, logs, replay, then the worker threads.
 *
 *   1. take the directory lock (one writer process; LockedError after coordinationTimeoutMs);
 *   2. read MANIFEST (a new database writes an empty one); an existing database keeps its
 *      shard count, since shards decide where keys live; a directory without MANIFEST but
 *      with table files or log segments is refused (CorruptionError), never started anew;
 *   3. delete what a crash left half done: tables not named by the manifest, temp files;
 *   4. open the group WAL (its recovery cuts a torn tail, docs/wal-format.md) with its ring
 *      in the database's shared memory, and recover every shard's partition log;
 *      A group WAL that ends below its floor (a salvage cut, RECOVERY.md G4a) is set aside,
 *      or, when records past the checkpoint are left, replayed and flushed to tables after
 *      step 5 and the open made again (flushBelowFloor);
 *   5. replay, from each log's checkpoint, every operation into its shard's memtable,
 *      streaming each log once in LSN order (replayed versions get seq 0: visible to every
 *      snapshot); when the replay fills a shard's memtables, it freezes the active one
 *      and, with FROZEN_MAX frozen, flushes the oldest to a table before going on, never
 *      moving a checkpoint past a record still to replay (replay.ts); a record that was
 *      already flushed is harmless (a version is identified by key and timestamp);
 *   6. raise every shard's commit counter past every timestamp on disk, so new writes sort
 *      after old ones;
 *   7. start the actor (the durability worker started with the log).
 * Both run on threads of the per-process worker pool (src/worker-pool.ts): started at the
 * beginning of the open, alongside its file work, when none are idle; taken from the pool,
 * already started, when a closed database gave its threads back. The durability worker
 * opens its new segment while the partition logs are recovered; the replay waits for it.
 * A batch is one record, so after a crash it is replayed whole or not at all.
 *
 * Threads: the opening thread. Everything else starts after replay.
 */
import { compileCore, Core, MEMORY_BYTES_LIMIT, STATUS_LIMIT } from "../core/core.ts";
import { makeDirDurable } from "../durable-dirs.ts";
import { CorruptionError, DatabaseExistsError, DatabaseNotFoundError, FollowerDirectoryError, LockedError, LockUnavailableError, publicError, WalFailedError } from "../errors.ts";
import { acquireDirLock, type DirLock } from "../lock.ts";
import { hasErrorCode, type Platform, type WorkerHandle } from "../platform.ts";
import { spawnJob, workerPool } from "../worker-pool.ts";
import { FailCode, Ring, RING_HEADER_BYTES, RingState, WalStatus } from "../wal/format.ts";
import { Log, type RecoveryReport } from "../wal/log.ts";
import { RingView } from "../wal/ring.ts";
import { listSegmentFiles, listSegmentFilesIfAny } from "../wal/segment-files.ts";
import { readDurableMark } from "../wal/durable-mark.ts";
import type { ActorArgs, ActorMessage } from "./actor.ts";
import { type CoordinationChoice, Database, type RecoveryInfo } from "./database.ts";
import { openReadOnly } from "./open-read-only.ts";
import { awaitDurableBeyond, type FlushEnv, flushShard, partitionDir, publishManifest } from "./flush.ts";
import { FOLLOWER_FILE_NAME, MANIFEST_NAME, manifestCore, type ManifestData, newDatabaseId, newManifest, readManifest, tableNumberOf, writeManifest } from "./manifest.ts";
import { IDENTITY_NAME, keepIdentity } from "./identity.ts";
import { FROZEN_MAX, MemtableManager } from "./memtables.ts";
import { type DatabaseOptions, DEFAULT_SHARDS, refuseUnfitMemory, REQUEST_QUEUE_BYTES, type ResolvedOptions, resolveOptions, valueBytesMaxFor } from "./options.ts";
import { PartitionLog } from "./partition-log.ts";
import { encodeCommit } from "./records.ts";
import { abandonmentOf } from "./batch-assembler.ts";
import { durableMarkPath, ReaderRetention, readersDir } from "./reader-slots.ts";
import { replay, type Replayed } from "./replay.ts";
import { REPLAY_PAGES_BYTES_MIN, startReplayPages } from "./replay-pages.ts";
import { DbState, EngineShared } from "./shared-state.ts";

const MIB = 1024 * 1024;
/**
 * Shared memory beyond every shard's memtables (FROZEN_MAX + 3 each) and the rings: scanner
 * and replay buffers, ThreadBlocks, the pending rings, and arenas retired while a read was
 * still in them (reused once it ends; a write that finds no room meanwhile is refused with
 * MemoryFullError).
 */
const MEMORY_SLACK_BYTES = 512 * MIB;
/**
 * How long a failed open waits for its started actor to close, ms: past its current step
 * (a flush or merge of what recovery left, seconds at most for large tables).
 */
const ACTOR_STOP_WAIT_MS = 30_000;

/**
 * Not options a user can pass: how shardline's own parts open a database.
 * `followerCheckpoint`: a follower's checkpoint (src/replicate/follower.ts) opens the
 * follower directory holding FOLLOWER as its writer and flushes every memtable at close;
 * every other writer open refuses such a directory (a write there would fork it).
 */
export interface OpenPurpose {
  followerCheckpoint?: boolean;
  /**
   * The group WAL's recovery report of an open that flushed a log ending below its floor
   * (LogFlushedBelowFloor): this open is the second, and reports both.
   */
  flushedBelowFloor?: RecoveryReport;
  /** The first open's directory lock, kept for the second (no other process opens between them). */
  heldLock?: Coordinated;
}

type Coordinated = { lock: DirLock | undefined; coordination: CoordinationChoice };

/**
 * Thrown by an open whose group WAL ended below its floor with records still to replay
 * (R10, docs/RECOVERY.md G4a) once it has replayed them and flushed them to tables: the
 * open is then made again, and finds a log the tables hold whole (R9).
 */
class LogFlushedBelowFloor extends Error {
  /** The open's lock, kept for the open made again (set as the open unwinds). */
  held: Coordinated | undefined;
  constructor(readonly report: RecoveryReport) {
    super("the group WAL ended below its floor; its records were flushed to tables");
  }
}

export async function openDatabase(platform: Platform, dir: string, options: DatabaseOptions = {}, purpose: OpenPurpose = {}): Promise<Database> {
  try {
    try {
      return await openResolved(platform, dir, options, purpose);
    } catch (error) {
      if (!(error instanceof LogFlushedBelowFloor)) throw error;
      return await openResolved(platform, dir, options, { ...purpose, flushedBelowFloor: error.report, heldLock: error.held });
    }
  } catch (error) {
    throw publicError(error);
  }
}

/** `createIfMissing` and `errorIfExists`, judged before anything is created or locked. */
function checkExistence(platform: Platform, dir: string, o: ResolvedOptions): void {
  if (!o.createIfMissing && !platform.stat(`${dir}/${MANIFEST_NAME}`)) {
    if (platform.stat(dir)?.isDirectory) refuseIfNotNew(platform, dir); // a lost MANIFEST says so
    throw new DatabaseNotFoundError(dir);
  }
  if (o.errorIfExists && platform.stat(`${dir}/${MANIFEST_NAME}`)) throw new DatabaseExistsError(dir);
}

async function openResolved(platform: Platform, dir: string, options: DatabaseOptions, purpose: OpenPurpose): Promise<Database> {
  if (typeof dir !== "string" || dir.length === 0) throw new TypeError("database directory must be a non-empty string");
  const o = resolveOptions(options);
  if (o.readOnly) return openReadOnly(platform, dir, o, refuseIfNotNew);
  checkExistence(platform, dir, o);
  // A new database's shards, before anything is made on disk (an existing one's: below).
  if (!platform.stat(`${dir}/${MANIFEST_NAME}`)) refuseUnfitMemory(o.shards ?? DEFAULT_SHARDS, o);
  if (!purpose.followerCheckpoint && platform.stat(`${dir}/${FOLLOWER_FILE_NAME}`)) throw new FollowerDirectoryError(dir);
  // The durability worker and the actor: their threads start now, alongside the file work.
  workerPool(platform).prewarm(["durability", "actor"], await compileCore());
  // The directory's own entry too: a writer killed between its mkdir and the fsync of the
  // parent left one only the page cache holds (durable-dirs.ts).
  makeDirDurable(platform, dir, "fsync-entry");
  makeDirDurable(platform, `${dir}/tables`);
  const { lock, coordination } = purpose.heldLock ?? (await coordinate(platform, dir, o));
  let log: Log | undefined;
  let actor: WorkerHandle | undefined;
  /** Asks a started actor to close and waits (bounded) until it did; see the catch below. */
  let stopActor: (() => Promise<void>) | undefined;
  try {
    const existing = readManifest(await manifestCore(), platform, dir);
    // The MANIFEST this open acts on is durable by name before it acts: a writer killed
    // between a MANIFEST's rename and its fsync of the directory left a MANIFEST whose data
    // was durable and whose name was not; this open deleted what it no longer names, and a
    // power loss then brought the old one back, naming deleted tables (review of power
    // loss, 2026-12-06). One fsync of the directory per open.
    if (existing) platform.fsyncDir(dir);
    // Again under the lock: an open that waited for it may find the database another open
    // made meanwhile (checkExistence ran before the wait).
    if (existing && o.errorIfExists) throw new DatabaseExistsError(dir);
    if (!existing) refuseIfNotNew(platform, dir);
    if (existing && o.shards !== undefined && o.shards !== existing.shards) {
      throw new RangeError(`${dir} was created with ${existing.shards} shards; open it with shards: ${existing.shards} or leave shards out`);
    }
    const shards = existing?.shards ?? o.shards ?? DEFAULT_SHARDS;
    refuseUnfitMemory(shards, o);
    const core = await Core.create({
      shards,
      memoryBytesMax: Math.min(MEMORY_BYTES_LIMIT, shards * o.memtableBytesMax * (FROZEN_MAX + 3) + o.walBufferBytes + REQUEST_QUEUE_BYTES + (o.faults.memorySlackBytes ?? MEMORY_SLACK_BYTES)),
    });
    let manifest: ManifestData = existing ?? writeManifest(core, platform, dir, newManifest(shards));
    // A database made before MANIFESTs named it gets its id now (a follower's copy keeps its
    // writer's), and IDENTITY holds it, for a MANIFEST rebuilt by doctor (identity.ts).
    if (!manifest.databaseId && !purpose.followerCheckpoint) manifest = writeManifest(core, platform, dir, { ...manifest, databaseId: newDatabaseId() });
    if (manifest.databaseId) keepIdentity(platform, dir, manifest.databaseId);
    makeDirDurable(platform, readersDir(dir));
    const retention = new ReaderRetention(platform, dir, o.readerRetainBytesMax, manifest, (bytes) => core.crc32c(bytes));
    removeOrphans(platform, dir, manifest, retention);

    // Seqs are group-WAL LSNs: a new group WAL starts beyond every seq already in a table,
    // and at or past the checkpoint (replay starts there: a record below it would be
    // skipped). A log that a salvage cut below this floor is set aside (G4a, R9), or first
    // flushed to tables when records past the checkpoint are left (R10: flushBelowFloor).
    const lostLog = purpose.followerCheckpoint ? undefined : refuseLostLog(platform, dir, manifest, o.salvage);
    if (lostLog) manifest = renewIdentity(core, platform, dir, manifest);
    const startLsn = Math.ceil(Math.max(Number(manifest.maxSeq) + 1, manifest.groupCheckpoint, lostLog?.markLsn ?? 0) / 8) * 8;
    log = await Log.open(platform, `${dir}/wal`, {
      segmentBytesMax: o.walSegmentBytesMax,
      bufferBytes: o.walBufferBytes,
      batchIntervalUs: o.walBatchIntervalUs,
      durability: o.durability,
      salvage: o.salvage,
      coordination: "single-process-unsafe",
      faults: o.faults.groupLog,
    }, {
      core,
      startLsn,
      // A follower's log ends where it applied its stream, below the snapshot's maxSeq until
      // it catches up, and its checkpoint must leave it there (follower.ts): no floor (G4a).
      heldBelow: purpose.followerCheckpoint ? undefined : manifest.groupCheckpoint,
      deferStart: true,
      durableMarkPath: durableMarkPath(dir),
      // Replay (below) reads and checks every segment from the checkpoint's on, once.
      readerChecksFromLsn: manifest.groupCheckpoint,
      // A follower's salvage would not fork its writer's history: it keeps the writer's id.
      beforeSalvageLoss: purpose.followerCheckpoint ? undefined : () => void (manifest = renewIdentity(core, platform, dir, manifest)),
    });
    manifest = refuseMissingSegments(core, platform, dir, manifest, o.salvage);
    const group = new RingView(core, log.ringAddress);

    const requestRing = core.exports.coreAlloc(RING_HEADER_BYTES + REQUEST_QUEUE_BYTES) >>> 0;
    if (requestRing < STATUS_LIMIT) throw new RangeError("no shared memory for the actor's request queue");
    if (core.exports.walRingFormat(requestRing, REQUEST_QUEUE_BYTES, 0, 0n, REQUEST_QUEUE_BYTES - 64) !== WalStatus.OK) {
      throw new RangeError("cannot format the actor's request queue");
    }
    const shared = EngineShared.create(core, {
      groupRing: log.ringAddress,
      requestRing,
      durabilityFull: o.durability === "full",
      shards,
      valueBytesMax: valueBytesMaxFor(o.memtableBytesMax),
    });
    const memtables = new MemtableManager(core, platform, dir, shared, o.memtableBytesMax);
    for (let shard = 0; shard < shards; shard++) core.exports.shardInstallActive(shard, memtables.create(shard));
    if (!o.fastWrite) for (let shard = 0; shard < shards; shard++) core.exports.shardSetFastWrite(shard, 0);

    const partitionEnds: number[] = [];
    const partitionReports = [];
    for (let shard = 0; shard < shards; shard++) {
      makeDirDurable(platform, partitionDir(dir, shard));
      const recovered = PartitionLog.recover(core, platform, partitionDir(dir, shard), o.salvage);
      partitionEnds.push(recovered.nextLsn);
      partitionReports.push(recovered.report);
    }
    const env: FlushEnv = { core, platform, dir, shared, memtables, groupDurable: () => group.durableLsn, awaitGroupDurable: (seq) => awaitDurableBeyond(group, seq), partitionEnds: () => partitionEnds, manifest, retention };
    // The durability worker opened its new segment meanwhile; the replay reads the
    // segments, so it must not find that one half made.
    await log.started;
    // A long replay: another thread maps the memtables' pages ahead of it (replay-pages.ts).
    const replayBytes = Number(log.currentLsn) - manifest.groupCheckpoint;
    const helper = replayBytes >= REPLAY_PAGES_BYTES_MIN ? startReplayPages(platform, core, shards) : undefined;
    let replayed: Replayed;
    try {
      // Up to where recovery found the records end: past it is the last segment's
      // preallocated zeros, which recovery has just read (and the new segment, empty).
      replayed = replay(env, shards, log.openedAtLsn);
    } finally {
      await helper?.stop();
    }
    manifest = env.manifest;
    if (log.recovery?.decisions.includes("R10")) flushBelowFloor(env, log, purpose);
    memtables.reclaim();
    // Fragments of a large batch at the log's end, without their commit: the writer that
    // logged them died before the commit was durable, and no commit will come. Say so in
    // the log, before any new write, for every reader after us (abandonmentOf). A
    // follower's checkpoint is the exception: its log is a copy whose commit may still come.
    if (replayed.groupPendingFrom !== undefined && !purpose.followerCheckpoint) {
      log.appendNow(encodeCommit(abandonmentOf(replayed.groupPendingFrom)));
    }
    for (let shard = 0; shard < shards; shard++) {
      const onDisk = BigInt(manifest.maxTs[shard]);
      const max = replayed.maxTs[shard] > onDisk ? replayed.maxTs[shard] : onDisk;
      core.exports.shardRaiseCounter(shard, max);
      shared.setRecoveredTs(shard, max);
    }

    const recovery: RecoveryInfo = {
      groupLog: purpose.flushedBelowFloor && log.recovery ? mergeReports(purpose.flushedBelowFloor, log.recovery) : log.recovery,
      partitions: partitionReports,
      replayedRecords: replayed.records,
      replayedOperations: replayed.operations,
    };
    const args: ActorArgs = {
      dir,
      shared: shared.address,
      memtableBytes: o.memtableBytesMax,
      partitionEnds,
      cacheBytesMax: o.blockCacheBytesMax,
      memtables: [...memtables.info].map(([address, info]) => ({ address, shard: info.shard, partitionMins: [...info.partitionMins] })),
      manifest,
      readerRetainBytesMax: o.readerRetainBytesMax,
      flushOnClose: purpose.followerCheckpoint === true,
      faults: o.faults.actor,
    };
    actor = spawnJob(platform, { role: "actor", module: core.module, memory: core.memory, args, wakeAddress: requestRing + Ring.WAKE_SEQ });
    const started = actor;
    let actorDoneResolve!: () => void;
    const actorDone = new Promise<void>((resolve) => (actorDoneResolve = resolve));
    // After "ready", the actor reports its own failures through the shared state; if its
    // thread dies instead, nobody else will answer the channel: fail the database here.
    const lost = (why: string) => {
      if (shared.actorStopped) return;
      group.setState(RingState.FAILED, FailCode.OTHER, "EACTOR");
      new RingView(core, requestRing).setState(RingState.FAILED, FailCode.OTHER, "EACTOR");
      shared.state = DbState.FAILED;
      shared.markActorStopped();
      onLost?.(why);
    };
    stopActor = async () => {
      if (shared.state === DbState.OPEN) shared.state = DbState.CLOSING;
      new RingView(core, requestRing).setState(RingState.CLOSING);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([actorDone, new Promise<void>((resolve) => (timer = setTimeout(resolve, ACTOR_STOP_WAIT_MS)))]);
      clearTimeout(timer);
    };
    let onLost: ((why: string) => void) | undefined;
    let onFailed: ((message: string) => void) | undefined;
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      started.onMessage((message) => {
        const m = message as ActorMessage | { type: "error"; message: string };
        if (m.type === "ready") {
          ready = true;
          resolve();
        } else if (m.type === "closed") actorDoneResolve();
        else if (m.type === "failed" || m.type === "error") {
          if (!ready) reject(actorFailedAtOpen(dir, m.message));
          else if (m.type === "error") lost(m.message);
          else onFailed?.(m.message);
          actorDoneResolve();
        }
      });
      started.onError((error) => {
        if (!ready) reject(actorFailedAtOpen(dir, error.message, error));
        else lost(error.message);
        actorDoneResolve();
      });
    });
    started.unref();
    const db = new Database(core, platform, dir, shared.address, o.durability, o.blockCacheBytesMax, { log, actor: started, actorDone, lock, recovery, coordination }, o.writeQueue);
    onLost = (why) => db.actorLost(why);
    onFailed = (message) => db.actorFailed(message);
    return db;
  } catch (error) {
    // An actor that started keeps running until told to close: its thread may run other
    // databases' actors (src/worker-pool.ts), so terminate() cannot end it by ending the
    // thread, and it must not flush or merge once the lock below is released.
    await stopActor?.();
    await actor?.terminate();
    await log?.close().catch(() => {}); // the open's own error is the one to report
    if (error instanceof LogFlushedBelowFloor) error.held = { lock, coordination };
    else lock?.release();
    throw error;
  }
}

/** An open whose actor (its thread or its role) failed before it was ready: typed, as every later failure of it is. */
function actorFailedAtOpen(dir: string, why: string, cause?: Error): WalFailedError {
  return new WalFailedError(`database ${dir} could not open: its actor failed (the thread that writes memtables and tables): ${why}`, { cause: cause ?? new Error(why) });
}

/**
 * G4a, R10: the group WAL ends below its floor (a salvage cut between the checkpoint and
 * maxSeq), and replay has put the records left past the checkpoint in memtables. They are
 * flushed to tables, and the checkpoint moved to the log's end, so that the tables hold
 * every record of the log; then the open is made again (LogFlushedBelowFloor), and that one
 * sets the log aside (R9) and begins a new one above maxSeq. Nothing is appended to the log
 * meanwhile. A crash in between leaves either the same log and checkpoint (this repeats; a
 * version flushed twice is harmless, being identified by key and timestamp) or the tables
 * holding the whole log (R9 next).
 */
function flushBelowFloor(env: FlushEnv, log: Log, purpose: OpenPurpose): void {
  if (purpose.flushedBelowFloor) {
    throw new CorruptionError(`group WAL in ${env.dir}/wal still ends below its floor after its records were flushed to tables`, `${env.dir}/wal`);
  }
  for (let shard = 0; shard < env.shared.shards; shard++) {
    if (env.memtables.usedFraction(shard) > 0) env.memtables.freeze(shard, (s) => flushShard(env, s));
    while (env.memtables.frozenCount(shard) > 0) flushShard(env, shard);
  }
  const end = env.groupDurable();
  if (env.manifest.groupCheckpoint < end) publishManifest(env, { ...structuredClone(env.manifest), groupCheckpoint: end });
  throw new LogFlushedBelowFloor(log.recovery!);
}

/**
 * Two opens' group-WAL reports as one: the first found the log (and cut it, under salvage),
 * the second set it aside. The log's counts are the first's (the second read the same log).
 */
function mergeReports(first: RecoveryReport, second: RecoveryReport): RecoveryReport {
  return {
    segmentsRead: first.segmentsRead,
    records: first.records,
    segmentsLeftToReader: first.segmentsLeftToReader,
    bytesCut: first.bytesCut + second.bytesCut,
    decisions: [...first.decisions, ...second.decisions],
    corruptSegments: [...first.corruptSegments, ...second.corruptSegments],
  };
}

/** File-system errors that mean the lock protocol cannot work in this directory at all. */
const LOCK_UNSUPPORTED = ["ENOTSUP", "EOPNOTSUPP", "ENOSYS", "EPERM", "EACCES"];

/** Step 1: the directory lock per `coordination` (see DatabaseOptions). */
async function coordinate(platform: Platform, dir: string, o: ResolvedOptions): Promise<Coordinated> {
  if (o.coordination === "single-process-unsafe") return { lock: undefined, coordination: { mode: o.coordination, locked: false } };
  try {
    const lock = await acquireDirLock(platform, dir, { timeoutMs: o.coordinationTimeoutMs });
    return { lock, coordination: { mode: o.coordination, locked: true } };
  } catch (error) {
    if (error instanceof LockedError || !LOCK_UNSUPPORTED.some((code) => hasErrorCode(error, code))) throw error;
    if (o.coordination === "required") throw new LockUnavailableError(dir, { cause: error });
    return { lock: undefined, coordination: { mode: o.coordination, locked: false, reason: (error as Error).message } };
  }
}

/** What a directory without MANIFEST holds that only an existing database writes. */
export interface DataWithoutManifest {
  /** `tables/*.sst` files. */
  tableFiles: number;
  /** Segment files of the group WAL (`wal/`). */
  groupLogSegments: number;
  /** `shard-NNN/` directories that hold segment files. */
  partitionLogs: number;
}

/**
 * RECOVERY.md G1b: a group WAL with no segment at all (wal/ emptied, or gone) while the
 * durable mark (readers/DURABLE) says records up to LSN m were synced, m past the
 * checkpoint: those records, acknowledged and in no table, went with the log. The open
 * began a new log over them without a word, and doctor said 0 errors (review of the CLI,
 * 2026-12-06). CorruptionError; with salvage, the open goes on without them (the caller
 * renews the database's id, and the new log starts past the mark, so that LSNs only grow).
 */
function refuseLostLog(platform: Platform, dir: string, manifest: ManifestData, salvage: boolean): { markLsn: number } | undefined {
  const markLsn = readDurableMark(platform, durableMarkPath(dir));
  if (markLsn === undefined || markLsn <= manifest.groupCheckpoint) return undefined;
  const wal = `${dir}/wal`;
  if (listSegmentFilesIfAny(platform, wal).length > 0) return undefined;
  if (!salvage) {
    throw new CorruptionError(
      `group WAL in ${wal} holds no segment, but the durable mark says records up to LSN ${markLsn} were synced, past the checkpoint at ${manifest.groupCheckpoint}: those writes are in no table and their log is missing; restore it, or open with salvage: true (shardline doctor --repair --salvage) to go on without them`,
      wal,
      0,
    );
  }
  return { markLsn };
}

/**
 * The group WAL's first segment must hold the checkpoint, unless it is segment 1 (a log
 * begun anew starts beyond every seq in a table: RECOVERY.md G1). The writer trims only
 * segments wholly below its checkpoint, so a later segment starting past it means the
 * segments before it were lost with records no table holds: CorruptionError (G5), or
 * under `salvage` the loss is accepted, the checkpoint moved to where the log starts (so
 * the next open does not refuse again) and the database given a new id (renewIdentity).
 * Returns the manifest to go on with.
 */
function refuseMissingSegments(core: Core, platform: Platform, dir: string, manifest: ManifestData, salvage: boolean): ManifestData {
  const first = listSegmentFiles(platform, `${dir}/wal`)[0];
  if (!first || first.number <= 1 || first.firstLsn <= manifest.groupCheckpoint) return manifest;
  if (!salvage) {
    throw new CorruptionError(
      `group WAL in ${dir}/wal starts at LSN ${first.firstLsn} (segment ${first.number}), past the checkpoint at ${manifest.groupCheckpoint}: the segments before it, holding writes no table holds, are missing; restore them, or open with salvage: true (shardline doctor --repair --salvage) to go on without those writes`,
      first.path,
      0,
    );
  }
  return renewIdentity(core, platform, dir, { ...manifest, groupCheckpoint: first.firstLsn });
}

/**
 * Salvage forks the history (RECOVERY.md): records given up are acknowledged writes that a
 * publisher may have shipped and followers applied, and the LSNs they held will hold other
 * records. The database takes a new id, durably before anything is given up, so that every
 * stream and follower of the old history refuses the new one (a publisher at start, a
 * follower at its first message: SHARDLINE_REPLICATION_FORK) instead of splicing them.
 */
function renewIdentity(core: Core, platform: Platform, dir: string, manifest: ManifestData): ManifestData {
  // IDENTITY first: a crash between the two leaves the new id only in IDENTITY, which the
  // next open puts back to the MANIFEST's (nothing was given up yet), or, were the MANIFEST
  // lost meanwhile, which a repair takes (a fork declared early: followers refuse, none is
  // spliced). The other order left the new id only in the MANIFEST, and a repair after its
  // loss named the forked history with the old id (tests/engine/lifecycle-crash.test.ts).
  const databaseId = newDatabaseId();
  keepIdentity(platform, dir, databaseId);
  return writeManifest(core, platform, dir, { ...manifest, databaseId });
}

/**
 * Table files and log segments in `dir`. A new database writes its MANIFEST before any of
 * them exists (tables name it, logs are opened after it), so finding one without a
 * MANIFEST means the MANIFEST was lost, not that the database is new.
 */
export function dataWithoutManifest(platform: Platform, dir: string): DataWithoutManifest {
  const isDir = (path: string) => platform.stat(path)?.isDirectory === true;
  const segmentsIn = (path: string) => listSegmentFilesIfAny(platform, path).length;
  const tableFiles = isDir(`${dir}/tables`) ? platform.readdir(`${dir}/tables`).filter((name) => name.endsWith(".sst") && platform.stat(`${dir}/tables/${name}`)?.isFile).length : 0;
  const partitionLogs = platform.readdir(dir).filter((name) => /^shard-\d{3,}$/.test(name) && segmentsIn(`${dir}/${name}`) > 0).length;
  return { tableFiles, groupLogSegments: segmentsIn(`${dir}/wal`), partitionLogs };
}

/** "12 table files, a group WAL (3 segments) and 4 partition logs": what `found` counts, in words. */
export function dataWithoutManifestText(found: DataWithoutManifest): string {
  const parts: string[] = [];
  if (found.tableFiles > 0) parts.push(`${found.tableFiles} table ${found.tableFiles === 1 ? "file" : "files"}`);
  if (found.groupLogSegments > 0) parts.push(`a group WAL (${found.groupLogSegments} ${found.groupLogSegments === 1 ? "segment" : "segments"})`);
  if (found.partitionLogs > 0) parts.push(`${found.partitionLogs} partition ${found.partitionLogs === 1 ? "log" : "logs"}`);
  return parts.length <= 1 ? parts.join("") : `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
}

/**
 * Step 2 without a MANIFEST (docs/RECOVERY.md, M1 and M1a): a directory that holds table
 * files or log segments is an existing database whose MANIFEST is gone. Starting a new one
 * there would delete every table as an orphan, so refuse and touch nothing.
 */
function refuseIfNotNew(platform: Platform, dir: string): void {
  const found = dataWithoutManifest(platform, dir);
  if (found.tableFiles === 0 && found.groupLogSegments === 0 && found.partitionLogs === 0) return;
  throw new CorruptionError(
    `${MANIFEST_NAME} missing in ${dir}, but it holds ${dataWithoutManifestText(found)}: it is an existing database whose ${MANIFEST_NAME} was lost, ` +
      `so open refuses to start a new one there (that would delete the tables as orphans); nothing was changed. ` +
      `Run \`shardline doctor --repair ${dir}\` to rebuild the ${MANIFEST_NAME} from the table files`,
    `${dir}/${MANIFEST_NAME}`,
  );
}

/**
 * Deletes table files no manifest names (a crash mid-flush or mid-compaction: unless a live
 * reader in another process is at an older MANIFEST, reader-slots.ts) and temp files;
 * files only (F1, F2), never a directory or anything else of those names (F5).
 * A table numbered at or past the MANIFEST's nextTableNumber goes whatever the readers
 * hold: no MANIFEST ever named it (each names only tables below its own nextTableNumber,
 * which never decreases), so no reader can read it; it is what a writer killed between
 * writing a table and publishing the MANIFEST left, and this writer's next flush takes
 * its number. A MANIFEST that names such a table is refused when it is read
 * (decodeManifest), so none of these is named.
 */
function removeOrphans(platform: Platform, dir: string, manifest: ManifestData, retention: ReaderRetention): void {
  let removed = 0;
  for (const name of platform.readdir(`${dir}/tables`)) {
    const number = tableNumberOf(name);
    const orphanName = name.endsWith(".tmp") || (number !== undefined && number >= manifest.nextTableNumber);
    // Only files: the engine makes nothing else in tables/ (a directory named so is the
    // user's: RECOVERY.md F5, leave it).
    if (orphanName && platform.stat(`${dir}/tables/${name}`)?.isFile) {
      platform.unlink(`${dir}/tables/${name}`);
      removed++;
    }
  }
  if (removed > 0) platform.fsyncDir(`${dir}/tables`);
  // Judging the readers' slots also deletes those of dead processes (doctor counts them
  // among what an open fixes).
  retention.removeDroppedTables(manifest, retention.floor(manifest));
  if (platform.stat(`${dir}/MANIFEST.tmp`)) platform.unlink(`${dir}/MANIFEST.tmp`);
  if (platform.stat(`${dir}/${IDENTITY_NAME}.tmp`)) platform.unlink(`${dir}/${IDENTITY_NAME}.tmp`);
}
