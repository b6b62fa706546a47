/**
 * Follower: a local database kept equal to a prefix of a writer's durable history by
 * applying the records its publisher (publisher.ts) put in a JetStream stream
 * (docs/REPLICATION.md).
 *
 * The follower's directory is a shardline database whose group WAL continues the
 * writer's LSN for LSN: each record from the stream is appended, byte for byte, to the
 * follower's own group WAL (src/wal/log.ts, with the durable mark the live readers follow),
 * and since an LSN is a record's byte position in the log, the record lands at the LSN it
 * has on the writer; the append's returned LSN is checked against it. So the applied LSN
 * is simply where the follower's log ends: it is stored atomically with the record itself
 * (one fdatasync covers both), recovery finds it after a crash (cutting a torn tail, which
 * was never applied), and the follower resumes the stream there. Its state is readable
 * through `follower.db`, a live read-only handle (src/engine/live-reader.ts) on the same
 * directory, which replays the log below the durable mark like any reader of a writer in
 * another process; more readers may open the directory with `readOnly: true`.
 *
 * Checkpoints: when `checkpointBytes` of log have been applied since the last one, the
 * follower closes its log, opens the directory with the engine's writer (the internal
 * `followerCheckpoint` purpose of openDatabase; every other writer open refuses a directory holding
 * FOLLOWER), flushes it into tables (which trims the log below the checkpoint, keeping
 * what live readers still read) and reopens its log, which must end where it did: the
 * engine appends nothing of its own.
 *
 * Appending: `appendNow`, one record after another in stream order, each checked to land
 * at its LSN before the next is taken; durability is awaited separately (`flushUntil`),
 * oldest first. (`append` would not do: when the log's buffer is full it waits
 * asynchronously, and the next, smaller record could take the earlier one's place.)
 *
 * Large batches: a checkpoint never runs while a batch's fragments (kind 3) are applied and
 * its commit (kind 4) is not: the engine's recovery would take the fragments for an
 * unfinished batch, checkpoint past them, and the commit would then find them below the
 * checkpoint. Other records (kind 1, from other threads of the writer) may lie between
 * fragments and commit, so only a commit ends the batch. At open the state is rebuilt by
 * reading the log from the MANIFEST's checkpoint (scanUnflushed), which is also where the
 * count towards the next checkpoint starts.
 *
 * Bootstrap: an empty directory gets FOLLOWER (state "bootstrapping"), the latest
 * snapshot's tables and MANIFEST (snapshot.ts), a log starting at the snapshot's LSN, then
 * FOLLOWER (state "following", with the snapshot's consistentLsn); `db` is opened once the
 * log reaches past every record whose versions the tables hold, which may be far past the
 * snapshot's LSN (#showWhenConsistent). In a directory found "bootstrapping" the names a
 * bootstrap writes (BOOTSTRAP_NAMES) are removed and it starts again; a directory without
 * FOLLOWER that is not empty is refused, untouched (open never destroys what it cannot
 * explain).
 *
 * Order and gaps: messages are applied only at the follower's next LSN. One below it was
 * applied before (a redelivery, or the tail of a restart) and is skipped; one above it
 * means the stream lost records the follower needs (purged after a newer snapshot, or the
 * publisher restarted from a snapshot): the follower stops with ReplicationGapError. A
 * stream that ends below the follower's log (it lost acknowledged messages: a
 * single-server stream after a crash) is refused the same way, never forked.
 *
 * Threads: the thread that opened it. Processes: one follower per directory: it holds
 * `FOLLOWER.d`'s lock for its whole life, and the database lock while it appends (released
 * only while its own checkpoint writer holds it).
 */
import { DeliverPolicy, jetstream, type JetStreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import type { ConsumerMessages } from "@nats-io/jetstream";
import { toolCore } from "../cli/database.ts";
import type { Core } from "../core/core.ts";
import type { Database } from "../engine/database.ts";
import { FOLLOWER_FILE_NAME, readManifest } from "../engine/manifest.ts";
import { readRecords } from "../wal/read-records.ts";
import { openDatabase } from "../engine/open.ts";
import { consistentLsnOf } from "../engine/open-read-only.ts";
import { resolveOptions, TIMEOUT_MS_MAX } from "../engine/options.ts";
import { durableMarkPath, readersDir } from "../engine/reader-slots.ts";
import { makeDirDurable } from "../durable-dirs.ts";
import { ClosedError } from "../errors.ts";
import { acquireDirLock, type DirLock, LOCK_DIR_NAME } from "../lock.ts";
import { partitionDir } from "../engine/flush.ts";
import type { Platform } from "../platform.ts";
import type { FaultPlan } from "../platform-faults.ts";
import { Log } from "../wal/log.ts";
import { checkCaughtUpArguments, checkStreamName, checkSubject, type HeldConnection, holdConnection, type NatsTarget, readyJetStream, retryTransient } from "./nats-connection.ts";
import { downloadSnapshot, latestSnapshot, snapshotBucket } from "./snapshot.ts";
import { KIND_COMMIT, KIND_FRAGMENT } from "../engine/records.ts";
import { DATABASE_HEADER, decodeFrames, decodeMessageId, FOLLOWER_PULL_BYTES, FRAME_HEADER_BYTES, type Frame, lsnAfter, type MessageId, ReplicationError, ReplicationGapError, seqOfLsn, streamEnd, takenMsOfLsn } from "./stream-messages.ts";

const MIB = 1024 * 1024;
const DELAY_WINDOW = 4096;
/** A subscription that delivers nothing this long while the stream holds more is replaced. */
const STALL_MS = 2000;
/** Bytes of messages the subscription may hold ahead of the follower. */
const CONSUME_BYTES_MAX = FOLLOWER_PULL_BYTES;
/** The lock a follower holds for its whole life: `<dir>/FOLLOWER.d/LOCK.d`. */
const FOLLOWER_LOCK_DIR = "FOLLOWER.d";
/** What a bootstrap writes (removed when FOLLOWER says one was interrupted). */
const BOOTSTRAP_NAMES = /^(tables|wal|readers|shard-\d+|MANIFEST(\.tmp)?)$/;

/**
 * Where the follower's last checkpoint left its log (the MANIFEST's group checkpoint) and
 * whether the records since end inside a large batch (a fragment, kind 3, with no commit,
 * kind 4, after it: other records may come between, from other writers' threads).
 */
function scanUnflushed(core: Core, platform: Platform, dir: string): { checkpointLsn: number; inBatch: boolean } {
  const checkpointLsn = readManifest(core, platform, dir)?.groupCheckpoint ?? 0;
  let inBatch = false;
  for (const record of readRecords(core, platform, `${dir}/wal`, checkpointLsn)) {
    if (record.payload[1] === KIND_FRAGMENT) inBatch = true;
    else if (record.payload[1] === KIND_COMMIT) inBatch = false;
  }
  return { checkpointLsn, inBatch };
}

export interface FollowerOptions extends NatsTarget {
  /** The stream its publisher writes. */
  stream: string;
  /** Default `shardline.<stream>`. */
  subject?: string;
  /** Flush the applied records into tables after this many bytes of log. Default 64 MiB; at least 1 MiB. */
  checkpointBytes?: number;
  /** Appends awaiting durability, at most. Default 1024. */
  inFlightMax?: number;
  /** `follower.db`'s bound of staleness (DatabaseOptions.refreshIntervalMs). Default 100. */
  refreshIntervalMs?: number;
  /** How long a new follower waits for the publisher's first snapshot, and an opening one for the stream to bring its log past its tables (#showWhenConsistent), in ms. Default 30,000. */
  bootstrapTimeoutMs?: number;
  /** @internal For tests: faults for the local log's durability worker (src/platform-faults.ts). */
  faults?: FaultPlan;
}

export interface FollowerLag {
  /**
   * Stream messages the follower has not applied durably: those its consumer has not yet
   * delivered, and those delivered whose records are not all durable in its log. A message
   * holds many small records (a run) or one piece of a large record, so this counts neither
   * records nor writes; `bytes` and `ms` say how far behind the follower is.
   */
  messages: number;
  /** Bytes of log between the follower's end and the stream's. */
  bytes: number;
  /** How long ago the stream took the oldest record not yet applied; 0 when caught up. */
  ms: number;
  appliedLsn: number;
  streamLsn: number;
}

export interface FollowerStats {
  stream: string;
  appliedLsn: number;
  /** Records applied (durably) since open. */
  records: number;
  checkpoints: number;
  /** Stream-to-follower delay of recent records: from the stream taking it to the follower's fdatasync, in ms. */
  delayMs: { p50: number; p99: number; samples: number };
  restarts: number;
  lastError: string | undefined;
  failed: string | undefined;
}

interface FollowerFile {
  format: 1;
  stream: string;
  subject: string;
  state: "bootstrapping" | "following";
  snapshotLsn: number;
  /** The snapshot's consistentLsn (snapshot.ts): `db` opens once the log reaches it. Absent from a snapshot made before it. */
  consistentLsn?: number;
}

interface Pending {
  durable: Promise<void>;
  lsn: number;
  end: number;
  takenMs: number;
  /** Stream messages applied once this record is durable: a run's last record 1 (others 0), a record in pieces its pieces. */
  messages: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function readFollowerFile(platform: Platform, dir: string): FollowerFile | undefined {
  const path = `${dir}/${FOLLOWER_FILE_NAME}`;
  if (!platform.stat(path)) return undefined;
  let file: FollowerFile;
  try {
    file = JSON.parse(new TextDecoder().decode(platform.readFile(path))) as FollowerFile;
  } catch (error) {
    throw new ReplicationError(`${path} is not JSON (${(error as Error).message}): a follower's directory whose ${FOLLOWER_FILE_NAME} file is damaged`, "SHARDLINE_REPLICATION_CORRUPT");
  }
  // Every field, of its type: a missing snapshotLsn turned off the check that refuses a
  // stream ending below the follower's log (review, 2026-12-06).
  const whole = typeof file === "object" && file !== null && file.format === 1 && typeof file.stream === "string" && typeof file.subject === "string" &&
    (file.state === "bootstrapping" || file.state === "following") && Number.isSafeInteger(file.snapshotLsn) && file.snapshotLsn >= 0 &&
    (file.consistentLsn === undefined || (Number.isSafeInteger(file.consistentLsn) && file.consistentLsn >= file.snapshotLsn));
  if (!whole) throw new ReplicationError(`${path} does not hold a follower's record (format 1, stream, subject, state, snapshotLsn)`, "SHARDLINE_REPLICATION_CORRUPT");
  return file;
}

/** Throws ReplicationError unless `dir` holds nothing but lock directories (and a FOLLOWER.tmp: a first FOLLOWER write cut short, written over). */
function refuseIfNotEmpty(platform: Platform, dir: string): void {
  const there = platform.readdir(dir).filter((name) => name !== LOCK_DIR_NAME && name !== FOLLOWER_LOCK_DIR && name !== `${FOLLOWER_FILE_NAME}.tmp`);
  if (there.length > 0) {
    throw new ReplicationError(`${dir} is not empty and holds no ${FOLLOWER_FILE_NAME} file (${there.slice(0, 5).join(", ")}${there.length > 5 ? ", ..." : ""}): a new follower starts in an empty directory`);
  }
}

function writeFollowerFile(platform: Platform, dir: string, record: FollowerFile): void {
  const tmp = `${dir}/${FOLLOWER_FILE_NAME}.tmp`;
  const file = platform.open(tmp, "truncate");
  try {
    file.write(new TextEncoder().encode(JSON.stringify(record)), 0);
    file.datasync();
  } finally {
    file.close();
  }
  platform.rename(tmp, `${dir}/${FOLLOWER_FILE_NAME}`);
  platform.fsyncDir(dir);
}

function openFollowerLog(platform: Platform, dir: string, faults: FaultPlan | undefined, startLsn?: number): Promise<Log> {
  makeDirDurable(platform, readersDir(dir));
  return Log.open(platform, `${dir}/wal`, { durability: "full", coordination: "single-process-unsafe", faults }, { startLsn, durableMarkPath: durableMarkPath(dir) });
}

export class Follower {
  /** The follower's state, readable like any read-only database (set before open() returns: #showWhenConsistent). */
  #db: Database | undefined;
  #lock: DirLock;
  #log: Log;
  /** The LSN the next record must have: where the follower's log ends. */
  #next: number;
  /** Applied durably: every record below it is in the follower's log and synced. */
  #applied: number;
  #checkpointLsn: number;
  readonly #pending: Pending[] = [];
  #pieces: Uint8Array[] = [];
  /** How many pieces the record being gathered has (0: none being gathered). */
  #pieceParts = 0;
  /** Bytes of the pieces gathered, and of the frame piece 0 announced (their bound). */
  #pieceBytes = 0;
  #pieceFrameBytes = 0;
  /** The LSN of the record being gathered (its piece 0's), -1 when none. */
  #pieceLsn = -1;
  /**
   * The last record appended is a large batch's fragment: its commit record is still to
   * come. No checkpoint then: the engine's recovery would take the fragments for an
   * unfinished batch, skip them and checkpoint past them, and the commit, when it came,
   * would find them below the checkpoint (src/engine/records.ts, kinds 3 and 4).
   */
  #inBatch = false;
  #closing = false;
  #messages: ConsumerMessages | undefined;
  #failure: Error | undefined;
  /** The local log or a checkpoint failed: fail-stop, never retried. */
  #localFailure: Error | undefined;
  readonly #done: Promise<void>;
  /** The last DELAY_WINDOW records' delays (ms), a ring: `#delaysSeen` counts every one written. */
  readonly #delays = new Float64Array(DELAY_WINDOW);
  #delaysSeen = 0;
  #consumerPending = 0;
  #oldestUnappliedMs = 0;
  #stats = { records: 0, checkpoints: 0, restarts: 0, lastError: undefined as string | undefined };

  private constructor(
    private readonly platform: Platform,
    readonly dir: string,
    private readonly held: HeldConnection,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    readonly subject: string,
    private readonly options: Required<Pick<FollowerOptions, "checkpointBytes" | "inFlightMax">> & Pick<FollowerOptions, "faults">,
    /** Held for the follower's whole life (FOLLOWER.d): one follower per directory, also while a checkpoint has the database lock. */
    private readonly followerLock: DirLock,
    lock: DirLock,
    log: Log,
    /** For CRC-32C checks of what arrives. */
    private readonly core: Core,
    /** The snapshot it bootstrapped from: a stream may still end below it (FOLLOWER's snapshotLsn). */
    private readonly snapshotLsn: number,
    /** Whose log it follows: its MANIFEST's databaseId, the snapshot's (undefined from a snapshot made before the field). */
    private readonly databaseId: string | undefined,
  ) {
    if (typeof (platform as { readFile?: unknown } | undefined)?.readFile !== "function") throw new TypeError("Follower has no public constructor: openFollower(dir, options) gives one");
    this.#lock = lock;
    this.#log = log;
    this.#next = Number(log.stats().currentLsn);
    this.#applied = this.#next;
    const tail = scanUnflushed(core, platform, dir);
    this.#checkpointLsn = tail.checkpointLsn;
    this.#inBatch = tail.inBatch;
    this.#done = this.#run();
  }

  static async open(platform: Platform, dir: string, options: FollowerOptions): Promise<Follower> {
    if (typeof dir !== "string" || dir.length === 0) throw new TypeError("follower directory must be a non-empty string");
    const stream = checkStreamName(options?.stream);
    const subject = checkSubject(options.subject, stream);
    const checkpointBytes = options.checkpointBytes ?? 64 * MIB;
    if (!Number.isInteger(checkpointBytes) || checkpointBytes < MIB) throw new RangeError(`checkpointBytes must be an integer of at least ${MIB}, got ${checkpointBytes}`);
    const inFlightMax = options.inFlightMax ?? 1024;
    if (!Number.isInteger(inFlightMax) || inFlightMax < 1 || inFlightMax > 65_536) throw new RangeError(`inFlightMax must be an integer from 1 to 65536, got ${inFlightMax}`);
    const bootstrapTimeoutMs = options.bootstrapTimeoutMs ?? 30_000;
    // NaN or a string made the deadline NaN, and the wait for a snapshot never ended (review, 2026-12-06).
    if (!Number.isInteger(bootstrapTimeoutMs) || bootstrapTimeoutMs < 0 || bootstrapTimeoutMs > TIMEOUT_MS_MAX) {
      throw new RangeError(`bootstrapTimeoutMs must be an integer from 0 to ${TIMEOUT_MS_MAX}, got ${bootstrapTimeoutMs}`);
    }
    // The read-only handle's options, judged before anything is made on disk (openDatabase judges them after the bootstrap).
    const refreshIntervalMs = options.refreshIntervalMs ?? 100;
    resolveOptions({ readOnly: true, refreshIntervalMs });
    makeDirDurable(platform, dir, "fsync-entry"); // its entry in the parent too, even if found: a power loss must not take the directory
    const held = await holdConnection(options, `shardline follower ${stream}`);
    let followerLock: DirLock | undefined;
    let lock: DirLock | undefined;
    let log: Log | undefined;
    let core: Core | undefined;
    let follower: Follower | undefined;
    try {
      const jsm = await readyJetStream(held.nc);
      const found = readFollowerFile(platform, dir);
      // Never destroy what cannot be explained: a new follower starts in an empty directory.
      // Checked before the locks (a directory refused is left as it was, without lock
      // directories) and again under them: a writer holds the same directory lock while it
      // is open, and one may have made a database here in between (the bootstrap would
      // then remove it as what an interrupted bootstrap left).
      if (!found) refuseIfNotEmpty(platform, dir);
      followerLock = await acquireDirLock(platform, `${dir}/${FOLLOWER_LOCK_DIR}`, { timeoutMs: 0 });
      lock = await acquireDirLock(platform, dir, { timeoutMs: 0 });
      if (!found && !readFollowerFile(platform, dir)) refuseIfNotEmpty(platform, dir);
      if (found && (found.stream !== stream || found.subject !== subject)) {
        throw new ReplicationError(`${dir} follows stream ${found.stream} (subject ${found.subject}), not ${stream} (${subject})`);
      }
      if (!found || found.state === "bootstrapping") {
        log = await Follower.#bootstrap(platform, dir, held, stream, subject, bootstrapTimeoutMs, options.faults);
      } else {
        log = await openFollowerLog(platform, dir, options.faults);
      }
      core = await toolCore();
      const record = readFollowerFile(platform, dir)!;
      const manifest = readManifest(core, platform, dir);
      follower = new Follower(platform, dir, held, jsm, stream, subject, { checkpointBytes, inFlightMax, faults: options.faults }, followerLock, lock, log, core, record.snapshotLsn, manifest?.databaseId);
      await follower.#showWhenConsistent(manifest ? consistentLsnOf(manifest, record.consistentLsn) : 0, bootstrapTimeoutMs, refreshIntervalMs);
      return follower;
    } catch (error) {
      if (follower) {
        await follower.close().catch(() => {}); // it owns the locks, the log, the connection and the core now
        throw error;
      }
      core?.detach();
      await log?.close().catch(() => {});
      lock?.release();
      followerLock?.release();
      await held.release();
      throw error;
    }
  }

  static async #bootstrap(platform: Platform, dir: string, held: HeldConnection, stream: string, subject: string, timeoutMs: number, faults: FaultPlan | undefined): Promise<Log> {
    // What an interrupted bootstrap left is ours to remove (FOLLOWER says "bootstrapping"):
    // only the names a bootstrap creates.
    for (const name of platform.readdir(dir)) {
      if (BOOTSTRAP_NAMES.test(name)) platform.removeAll(`${dir}/${name}`);
    }
    const store = await new Objm(held.nc).open(snapshotBucket(stream)).catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    // Reads of the bucket are retried while the cluster cannot answer yet (a server rejoining).
    let snapshot = store ? await retryTransient(deadline, () => latestSnapshot(store)) : undefined;
    let bucket = store;
    while (!snapshot || !bucket) {
      if (Date.now() > deadline) throw new ReplicationError(`no snapshot of stream ${stream} within ${timeoutMs} ms: start its publisher first`);
      await sleep(200);
      bucket ??= await new Objm(held.nc).open(snapshotBucket(stream)).catch(() => undefined);
      const found = bucket;
      snapshot = found ? await retryTransient(deadline, () => latestSnapshot(found)) : undefined;
    }
    writeFollowerFile(platform, dir, { format: 1, stream, subject, state: "bootstrapping", snapshotLsn: snapshot.lsn, consistentLsn: snapshot.consistentLsn });
    const core = await toolCore();
    try {
      const manifest = await downloadSnapshot(core, platform, dir, bucket, snapshot);
      for (let shard = 0; shard < manifest.shards; shard++) makeDirDurable(platform, partitionDir(dir, shard));
    } finally {
      core.detach();
    }
    const log = await openFollowerLog(platform, dir, faults, snapshot.lsn);
    const at = Number(log.stats().currentLsn);
    if (at !== snapshot.lsn) {
      await log.close();
      throw new ReplicationError(`follower log in ${dir} starts at LSN ${at}, not at the snapshot's ${snapshot.lsn}`);
    }
    writeFollowerFile(platform, dir, { format: 1, stream, subject, state: "following", snapshotLsn: snapshot.lsn, consistentLsn: snapshot.consistentLsn });
    return log;
  }

  /** The follower's state, readable like any read-only database. */
  get db(): Database {
    return this.#db!;
  }

  /**
   * Opens `db` once the follower's state is one the writer had: once its log reaches
   * `consistentLsn` (open-read-only.ts followerConsistentLsn), below which are all the
   * records whose versions its tables hold. A snapshot's tables may hold writes far past
   * its LSN (a quiet shard held the writer's checkpoint back while busy shards flushed and
   * merged, dropping puts together with their deletes); until the stream brings the
   * follower there, tables and log together show no prefix of the writer's history
   * (reviews of replication, 2026-12-07). A gap or a stream that stops short within
   * `timeoutMs` fails the open.
   */
  async #showWhenConsistent(consistentLsn: number, timeoutMs: number, refreshIntervalMs: number): Promise<void> {
    if (this.#applied < consistentLsn) {
      try {
        await this.caughtUp(consistentLsn, timeoutMs);
      } catch (error) {
        // The follower's own stop (a gap, a fork, a failed log) says why better than a timeout.
        if (this.#failure || this.#localFailure || error instanceof ClosedError) throw error;
        throw new ReplicationError(
          `follower ${this.dir}: its snapshot's tables hold writes of the log up to LSN ${consistentLsn}, and it applied the stream only up to LSN ${this.#applied} within bootstrapTimeoutMs (${timeoutMs} ms); until it gets there it has no state the writer had, so it does not open`,
          undefined,
          { cause: error },
        );
      }
    }
    this.#db = await openDatabase(this.platform, this.dir, { readOnly: true, refreshIntervalMs });
  }

  /** Resolves once every record below `lsn` is applied durably (and readable after `db.refresh()`). */
  async caughtUp(lsn: number | bigint, timeoutMs = 30_000): Promise<void> {
    lsn = checkCaughtUpArguments(lsn, timeoutMs, TIMEOUT_MS_MAX);
    const deadline = Date.now() + timeoutMs;
    while (this.#applied < lsn) {
      if (this.#failure) throw this.#failure;
      if (this.#closing) throw new ClosedError("follower");
      if (Date.now() > deadline) throw new ReplicationError(`follower ${this.dir}: applied up to LSN ${this.#applied}, not ${lsn}, within ${timeoutMs} ms`);
      await sleep(2);
    }
  }

  get appliedLsn(): number {
    return this.#applied;
  }

  /** Why the follower stopped following, if it did (a gap or a fork: it needs a new bootstrap). */
  get failure(): Error | undefined {
    return this.#failure;
  }

  async lag(): Promise<FollowerLag> {
    const end = await streamEnd(this.jsm, this.stream, this.subject);
    const streamLsn = end.nextLsn ?? end.last?.lsn ?? this.#applied;
    let messages = this.#consumerPending + this.#pieces.length;
    for (const pending of this.#pending) messages += pending.messages;
    const behind = streamLsn > this.#applied;
    // Nothing received past the log (stopped, or between pulls): the stream says when it
    // took the next record (it was 0 while behind: review, 2026-12-06).
    const oldestMs = !behind ? 0 : this.#oldestUnappliedMs > 0 ? this.#oldestUnappliedMs : ((await takenMsOfLsn(this.jsm, this.stream, this.subject, this.#applied)) ?? 0);
    return {
      messages: behind ? Math.max(messages, 1) : 0,
      bytes: Math.max(0, streamLsn - this.#applied),
      ms: oldestMs > 0 ? Math.max(0, Date.now() - oldestMs) : 0,
      appliedLsn: this.#applied,
      streamLsn,
    };
  }

  stats(): FollowerStats {
    const sorted = this.#delays.slice(0, Math.min(this.#delaysSeen, DELAY_WINDOW)).sort();
    const at = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
    return {
      stream: this.stream,
      appliedLsn: this.#applied,
      records: this.#stats.records,
      checkpoints: this.#stats.checkpoints,
      delayMs: { p50: at(0.5), p99: at(0.99), samples: sorted.length },
      restarts: this.#stats.restarts,
      lastError: this.#stats.lastError,
      failed: this.#failure?.message,
    };
  }

  async close(): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#messages?.stop();
    }
    await this.#done;
    // Each part is let go even when another fails (after a power loss every file call fails).
    const errors: unknown[] = [];
    await this.#db?.close().catch((e) => errors.push(e));
    await this.#log.close().catch((e) => errors.push(e));
    for (const lock of [this.#lock, this.followerLock]) {
      try {
        lock.release();
      } catch (e) {
        errors.push(e);
      }
    }
    await this.held.release().catch((e) => errors.push(e));
    this.core.detach();
    if (errors.length > 0) throw errors[0];
  }

  async #run(): Promise<void> {
    let backoffMs = 50;
    while (!this.#closing) {
      try {
        await this.#follow();
        backoffMs = 50;
      } catch (error) {
        if (this.#closing) break;
        this.#stats.lastError = (error as Error).message;
        try {
          await this.#drain(0);
        } catch (drainError) {
          this.#localFailure ??= drainError as Error; // the local log failed: fail-stop
        }
        if (error instanceof ReplicationError || this.#localFailure) {
          this.#failure = this.#localFailure ?? (error as Error);
          break;
        }
        this.#stats.restarts++;
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 2000);
      }
    }
    try {
      await this.#drain(0);
    } catch (error) {
      this.#failure ??= error as Error;
    }
  }

  /** One subscription to the stream from the follower's next LSN, until it ends or fails. */
  async #follow(): Promise<void> {
    this.#dropPieces();
    const info = await this.jsm.streams.info(this.stream);
    // streamEnd refuses the stream as the publisher does (checkStreamShape): a stream that
    // does not take the subject made every subscription fail, and the follower subscribe
    // again for ever (review, 2026-12-06); one that also takes others let another client's
    // message end the stream, and the follower stopped with an error that did not say why
    // (review, 2026-12-07).
    const end = await streamEnd(this.jsm, this.stream, this.subject);
    // Right after a bootstrap the stream may not yet have reached the snapshot's LSN (the
    // publisher lags its writer); past it, a stream ending below the follower lost records.
    if (end.nextLsn !== undefined && end.nextLsn < this.#next && this.#next > this.snapshotLsn) {
      throw new ReplicationError(`stream ${this.stream} ends at LSN ${end.nextLsn}, below the follower's ${this.#next}: it lost records the follower applied (a stream on one server after a crash?); the follower will not fork`, "SHARDLINE_REPLICATION_FORK");
    }
    const seq = (await seqOfLsn(this.jsm, this.stream, this.subject, this.#next)) ?? info.state.last_seq + 1;
    const consumer = await jetstream(this.held.nc).consumers.get(this.stream, { filter_subjects: this.subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: seq });
    // At most CONSUME_BYTES_MAX buffered ahead of the follower (a message is at most MESSAGE_BYTES_MAX and its headers).
    const messages = await consumer.consume({ max_bytes: CONSUME_BYTES_MAX, expires: 5000 });
    this.#messages = messages;
    if (this.#closing) messages.stop();
    // A consumer whose server died may wait for its pull to expire before it asks again;
    // when the stream holds more than was delivered and nothing came for STALL_MS, start a
    // new subscription from the next LSN instead.
    // So does a stream deleted and made again (its creation time changes): the client's
    // consumer follows the new stream from the old one's next sequence, which it may never
    // reach.
    let deliveredMs = Date.now();
    let deliveredSeq = seq - 1;
    let stalled = false;
    let probing = false;
    const watchdog = setInterval(() => {
      if (probing || Date.now() - deliveredMs < STALL_MS) return;
      probing = true;
      this.jsm.streams.info(this.stream).then((i) => {
        if ((i.state.last_seq > deliveredSeq || i.created !== info.created) && Date.now() - deliveredMs >= STALL_MS) {
          stalled = true;
          messages.stop();
        }
      }, () => {}).finally(() => (probing = false));
    }, STALL_MS / 2);
    try {
      await this.#apply(messages, () => {
        deliveredMs = Date.now();
      }, (s) => (deliveredSeq = s));
    } finally {
      clearInterval(watchdog);
    }
    if (this.#localFailure) throw this.#localFailure;
    if (stalled && !this.#closing) throw new Error(`stream ${this.stream}: nothing delivered for ${STALL_MS} ms while the stream holds more; subscribing again`);
  }

  /**
   * A message names the database whose log it holds (stream-messages.ts): one of another
   * database (a stream and its bucket made again under this name by another database's
   * publisher, whose records may sit at the very LSNs this follower expects) is a fork.
   * A message or a follower without a name (made before it was sent) is trusted.
   */
  #refuseAnotherDatabase(from: string | undefined, where: string): void {
    if (from === undefined || this.databaseId === undefined || from === this.databaseId) return;
    throw new ReplicationError(
      `${where} holds the log of database ${from}; ${this.dir} follows database ${this.databaseId} ` +
        `(the stream was made again by another database's publisher): the follower will not fork; bootstrap a new follower in an empty directory`,
      "SHARDLINE_REPLICATION_FORK",
    );
  }

  async #apply(messages: ConsumerMessages, alive: () => void, delivered: (seq: number) => void): Promise<void> {
    for await (const m of messages) {
      if (this.#closing) break;
      alive();
      delivered(m.seq);
      const where = `stream ${this.stream} message ${m.seq}`;
      const id = decodeMessageId(m.headers?.get("Nats-Msg-Id") || undefined, where);
      this.#refuseAnotherDatabase(m.headers?.get(DATABASE_HEADER) || undefined, where);
      this.#consumerPending = m.info.pending;
      if (id.lsn > this.#next) throw new ReplicationGapError(this.#next, id.lsn, "the stream skips records");
      // A whole-record message ends any record being gathered (a publisher that restarted
      // sends it anew): its pieces must not join a later piece (review, 2026-12-06).
      if (id.end !== undefined) this.#dropPieces();
      const frames = id.end === undefined ? this.#gather(id, m.data, where) : decodeFrames(m.data, id.lsn, where, id.end);
      const takenMs = Number(m.info.timestampNanos) / 1e6;
      const lastFrame = frames?.[frames.length - 1];
      for (const frame of frames ?? []) {
        if (frame.lsn < this.#next) continue; // applied before
        if (frame.lsn > this.#next) throw new ReplicationGapError(this.#next, frame.lsn, "the stream skips records");
        if (frame.payload.length > this.#log.limits.recordBytesMax) {
          throw new ReplicationError(`${where}: the record at LSN ${frame.lsn} is ${frame.payload.length} bytes; a log record is at most ${this.#log.limits.recordBytesMax}`, "SHARDLINE_REPLICATION_CORRUPT");
        }
        if (this.core.crc32c(frame.payload) !== frame.crc) {
          throw new ReplicationError(`${where}: the record at LSN ${frame.lsn} fails its CRC-32C`, "SHARDLINE_REPLICATION_CORRUPT");
        }
        if (this.#pending.length === 0) this.#oldestUnappliedMs = takenMs;
        // appendNow: in order, whatever the ring's room (it blocks this thread while the ring
        // is full; an append that waited asynchronously could be overtaken by the next one).
        // Its failure is the local log's: fail-stop (sending the record again cannot help).
        let appended: bigint;
        try {
          appended = this.#log.appendNow(frame.payload);
        } catch (error) {
          this.#localFailure ??= error as Error;
          throw error;
        }
        const lsn = Number(appended);
        if (lsn !== frame.lsn) throw new ReplicationError(`follower log in ${this.dir}: the record for LSN ${frame.lsn} was appended at ${lsn}`, "SHARDLINE_REPLICATION_FORK");
        this.#next = lsnAfter(frame.lsn, frame.payload.length);
        const durable = this.#log.flushUntil(BigInt(lsn));
        durable.catch(() => {}); // judged in order by #drain
        this.#pending.push({ durable, lsn: frame.lsn, end: this.#next, takenMs, messages: frame !== lastFrame ? 0 : id.end === undefined ? id.parts : 1 });
        const kind = frame.payload[1];
        if (kind === KIND_FRAGMENT) this.#inBatch = true;
        else if (kind === KIND_COMMIT) this.#inBatch = false;
        if (this.#pending.length >= this.options.inFlightMax) await this.#drain(this.options.inFlightMax >> 1);
      }
      if (m.info.pending === 0) {
        // Caught up: settle in the background so that the next message is not held back.
        // A failure there is the local log's: fail-stop at once, not at a next message a
        // quiet stream may never send (stopping the messages ends this loop).
        this.#drain(0).catch((error) => {
          this.#localFailure ??= error as Error;
          messages.stop();
        });
      }
      if (this.#localFailure) throw this.#localFailure;
      if (!this.#inBatch && this.#next - this.#checkpointLsn >= this.options.checkpointBytes) {
        await this.#checkpoint();
        alive();
      }
    }
  }

  /**
   * Keeps one piece of a record cut in pieces; returns the record's frame once its last
   * piece is in, else undefined (undefined too for a piece of a record applied before).
   * Bounded: piece 0's frame header says how long the record is (at most a log record's
   * limit), and the pieces may not hold more than that frame.
   */
  #gather(id: MessageId, data: Uint8Array, where: string): Frame[] | undefined {
    if (id.lsn < this.#next) return undefined; // a record applied before
    // A piece 0 starts the record (again: a publisher that restarted sends it anew).
    if (id.part === 0) {
      this.#dropPieces();
      this.#pieceLsn = id.lsn;
      const length = data.length >= FRAME_HEADER_BYTES ? new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true) : -1;
      if (length < 0 || length > this.#log.limits.recordBytesMax) {
        throw new ReplicationError(`${where}: the record at LSN ${id.lsn} cut in ${id.parts} pieces claims ${length} bytes; a log record is at most ${this.#log.limits.recordBytesMax}`, "SHARDLINE_REPLICATION_CORRUPT");
      }
      this.#pieceFrameBytes = FRAME_HEADER_BYTES + length;
    }
    // A piece after the first with nothing gathered: the stream no longer holds the record's
    // first pieces (a purge by hand or a limit of the stream cut it after the follower's
    // subscription began), which a bootstrap, not this stream, can make up for.
    if (id.part > 0 && this.#pieces.length === 0) {
      throw new ReplicationGapError(this.#next, id.lsn, `the stream holds the record only from its piece ${id.part} of ${id.parts}: its first pieces were purged`);
    }
    if (id.part > 0 && id.lsn !== this.#pieceLsn) {
      throw new ReplicationError(`${where}: piece ${id.part} of ${id.parts} is labelled for LSN ${id.lsn}, but the record being gathered is at LSN ${this.#pieceLsn}`, "SHARDLINE_REPLICATION_CORRUPT");
    }
    if (id.part !== this.#pieces.length || (this.#pieceParts !== 0 && id.part > 0 && id.parts !== this.#pieceParts)) {
      throw new ReplicationError(`${where}: piece ${id.part} of ${id.parts} of the record at LSN ${id.lsn} follows ${this.#pieces.length} pieces of ${this.#pieceParts}`);
    }
    if (this.#pieceBytes + data.length > this.#pieceFrameBytes) {
      throw new ReplicationError(`${where}: the pieces of the record at LSN ${id.lsn} hold more than its ${this.#pieceFrameBytes}-byte frame`, "SHARDLINE_REPLICATION_CORRUPT");
    }
    this.#pieceParts = id.parts;
    this.#pieces.push(new Uint8Array(data)); // a copy: the message's bytes may be a Node Buffer, whose slice() is a view
    this.#pieceBytes += data.length;
    if (id.part + 1 < id.parts) return undefined;
    const frames = decodeFrames(concat(this.#pieces), id.lsn, where);
    this.#dropPieces();
    if (frames.length !== 1) throw new ReplicationError(`${where}: the pieces of the record at LSN ${id.lsn} hold ${frames.length} frames`);
    return frames;
  }

  /** Forgets the record being gathered. */
  #dropPieces(): void {
    this.#pieces = [];
    this.#pieceParts = 0;
    this.#pieceBytes = 0;
    this.#pieceFrameBytes = 0;
    this.#pieceLsn = -1;
  }

  /** Awaits appends, oldest first, until at most `left` are pending; checks each landed at its LSN. */
  async #drain(left: number): Promise<void> {
    while (this.#pending.length > left) {
      const first = this.#pending[0];
      await first.durable;
      if (this.#pending[0] !== first) continue; // a concurrent drain took it
      this.#pending.shift();
      this.#applied = first.end;
      this.#stats.records++;
      const delay = Date.now() - first.takenMs;
      this.#delays[this.#delaysSeen++ % DELAY_WINDOW] = delay;
      this.#oldestUnappliedMs = this.#pending[0]?.takenMs ?? 0;
    }
  }

  /** Flushes the applied log into tables with the engine's writer, then reopens the log. */
  async #checkpoint(): Promise<void> {
    try {
      await this.#checkpointOnce();
    } catch (error) {
      this.#localFailure ??= error as Error;
      throw error;
    }
  }

  async #checkpointOnce(): Promise<void> {
    await this.#drain(0);
    await this.#log.close();
    this.#lock.release();
    // The engine replays the log into memtables and, at close, flushes them all (ActorArgs.flushOnClose).
    const writer = await openDatabase(this.platform, this.dir, { createIfMissing: false }, { followerCheckpoint: true });
    await writer.close();
    this.#lock = await acquireDirLock(this.platform, this.dir, { timeoutMs: 10_000 });
    this.#log = await openFollowerLog(this.platform, this.dir, this.options.faults);
    const at = Number(this.#log.stats().currentLsn);
    if (at !== this.#next) throw new ReplicationError(`follower log in ${this.dir} ends at LSN ${at} after a checkpoint, not at ${this.#next}`, "SHARDLINE_REPLICATION_FORK");
    this.#checkpointLsn = this.#next;
    this.#stats.checkpoints++;
  }

  /** Settles when the follower stopped; with its failure, if it failed. */
  get done(): Promise<Error | undefined> {
    return this.#done.then(() => this.#failure);
  }
}

function concat(pieces: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of pieces) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
