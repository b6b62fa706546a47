/**
 * Database: what users hold. One per thread: the opener's (owner: it also holds the
 * directory lock, the group log with its durability worker, and the actor) and any number
 * attached in workers through `share()` / `attach(handle)`, all on one shared memory.
 *
 * Writes take the fast path (one call into the core: src/engine's assembly/engine.ts) and
 * fall back to the channel path (the actor, src/engine/channel.ts) when the shard has
 * subscribers, fast writes are off, or its memtable is full. `durability: "full"` resolves
 * a write once the fdatasync covering it returned; "async" once it is in the memtable.
 * Reads (get, scan, snapshots) never lock and never leave the thread; they see a write
 * once it is durable ("full") or published ("async"), never a part of a batch.
 * Caller's arrays: a write reads its keys and values during the call, never later (the
 * fast path stages them, the channel path encodes its request in `send`, a write deferred
 * behind the ring gate keeps copies), so the caller may reuse them at once.
 * Per-thread program order: a handle's writes to a shard apply in the order it made them.
 * Two queues keep it: the ring gate (a write that found the group WAL ring full, and every
 * later write of the handle, large batches included, waits behind it and runs in order;
 * the gate stays closed until the last write queued behind it has run, so a write made in
 * the microtask between the gate opening and the queued writes running queues after them)
 * and the channel writes in flight per shard (while a shard has one, later writes to it
 * take the channel too, after it in the actor's FIFO; a large batch counts for every
 * shard it touches from the moment it is made, before its parts are sent).
 *
 * Threads: a Database belongs to the thread that opened or attached it.
 */
import { Core, CoreError, KEY_BYTES_MAX, STAGING_BYTES, Status, VALUE_BYTES_MAX } from "../core/core.ts";
import { VALUE_TOMBSTONE } from "../core/memtable.ts";
import { ClosedError, MemoryFullError, publicError, ReadOnlyError, ShardlineError, SnapshotReleasedError, WalFailedError } from "../errors.ts";
import type { DirLock, LockRecord } from "../lock.ts";
import type { Platform, WorkerHandle } from "../platform.ts";
import { compareKeys } from "../table/key-order.ts";
import type { BlockCacheStats } from "../table/block-cache.ts";
import { ValueRead } from "../table/table-reader.ts";
import { DurableWaiters } from "../wal/durable-waiters.ts";
import { Ring, RingState } from "../wal/format.ts";
import type { Log, RecoveryReport } from "../wal/log.ts";
import { RingView, waitForChange } from "../wal/ring.ts";
import { type ChangeEvent, type FeedClaim, Subscription } from "./change-feed.ts";
import { ChannelClient, encodeParts, PART_HEADER_BYTES, type Reply, ReplyStatus, REQUEST_PREFIX_BYTES } from "./channel.ts";
import { COMPACTION_FAN_IN, runsByTier } from "./compaction.ts";
import { type ManifestData, readManifest, type TableRecord } from "./manifest.ts";
import { BATCH_BYTES_MAX, BATCH_OPS_MAX, BATCH_SCRATCH_OP_BYTES, BATCH_STAGED_OP_BYTES, SMALL_BATCH_OPS_MAX, smallBatchBytesMaxFor, type ResolvedOptions, type ResolvedWriteQueueOptions, resolveWriteQueueOptions } from "./options.ts";
import type { LiveReader, LiveReaderStats } from "./live-reader.ts";
import { CALL_BYTES } from "./garbage-pacer.ts";
import { ReadContext } from "./read-context.ts";
import { ReadKey } from "./read-key.ts";
import { rejectUnknownNames } from "../nearest-name.ts";
import { listReaderSlots, type ReaderSlotInfo } from "./reader-slots.ts";
import { OP_DELETE, OP_PUT, type Operation } from "./records.ts";
import { prefixEnd, type ScanBounds, ScanIterator } from "./scan.ts";
import { DbState, EngineShared, SHARED_BYTES } from "./shared-state.ts";
import { type Applied, type EnqueueOptions, WriteQueue, type WriteQueueStats } from "./write-queue.ts";

/**
 * The ring gate of one handle: `opened` resolves once the ring drained some; `queued`
 * counts the writes behind it not yet run. The last of them to run opens the gate for
 * the handle's later writes (`#afterGate`).
 */
type RingGate = { opened: Promise<void>; queued: number };

/** A batch operation after validation (`#parseBatch`). */
type ParsedOp = { type: 1 | 2; key: Uint8Array; value: Uint8Array | undefined };

/** Engine call statuses (assembly/engine.ts). */
const E = { OK: 0, CHANNEL: 1, RING_FULL: 2, FAILED: 3, CLOSED: 4, TOO_LARGE: 5, KEY_TOO_LARGE: 6, VALUE_TOO_LARGE: 7, BAD_BATCH: 8 } as const;
const REASON_NO_ACTIVE = 4;
const R_LSN_END = 8;
const R_TS = 16;
const R_SHARD = 24;
const R_REASON = 28;

export type Key = Uint8Array | string;
export type Value = Uint8Array | string;
export type BatchOperation = { type: "put"; key: Key; value: Value } | { type: "delete"; key: Key };

export interface ScanOptions {
  prefix?: Key;
  gte?: Key;
  gt?: Key;
  lte?: Key;
  lt?: Key;
  reverse?: boolean;
  limit?: number;
  snapshot?: Snapshot;
  /**
   * Keep the scan open when it reaches its end, so that `seek` can take it back, until
   * `return()` (or `break`) ends it. Default false: the end releases what it holds.
   */
  holdAtEnd?: boolean;
}

/** A consistent point-in-time view; release it when done (or `using`). */
export interface Snapshot {
  /** The snapshot's place in the commit order: it sees writes below it. */
  readonly seq: bigint;
  readonly released: boolean;
  release(): void;
  [Symbol.dispose](): void;
}

/** What `db.share()` returns: structured-cloneable, for `attach` in a worker. */
export interface DatabaseHandle {
  kind: "shardline-db";
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  dir: string;
  shared: number;
  durability: "full" | "async";
  blockCacheBytesMax: number;
  /** The opener's `writeQueue` options: an attached handle's own queue gets the same. */
  writeQueue: ResolvedWriteQueueOptions;
}

/** What only the opening handle owns. */
export interface Owner {
  /** The group WAL and the actor; neither on a read-only database (src/engine/open-read-only.ts). */
  log: Log | undefined;
  actor: WorkerHandle | undefined;
  actorDone: Promise<void>;
  /** Opened with `readOnly: true`: writes reject with ReadOnlyError. */
  readOnly?: boolean;
  /** A read-only view's MANIFEST: the tables it reads, whatever the writer publishes later. */
  manifest?: ManifestData;
  lock: DirLock | undefined;
  recovery: RecoveryInfo;
  coordination: CoordinationChoice;
}

/** How this database coordinates with other processes (the `coordination` option). */
export interface CoordinationInfo {
  mode: "auto" | "required" | "single-process-unsafe";
  /** Whether this process holds the directory lock. */
  locked: boolean;
  /** Under "auto", why no lock could be taken. */
  reason?: string;
  /** The lock record this process wrote (pid, runtime, when, kernel lock), while it holds the lock. */
  holder?: LockRecord;
  /** Read-only handles of any process on this directory, from their slot files (src/engine/reader-slots.ts). */
  readers: ReaderSlotInfo[];
  /** A read-only handle's refreshes (src/engine/live-reader.ts); undefined on a static one. */
  live?: LiveReaderStats;
}

/** What the open decided about coordination; stats() adds the rest of CoordinationInfo. */
export type CoordinationChoice = Pick<CoordinationInfo, "mode" | "locked" | "reason">;

/** What opening found and did. */
export interface RecoveryInfo {
  /** The group WAL's recovery report (docs/wal-format.md). */
  groupLog: RecoveryReport | undefined;
  /** Each shard's partition log recovery report. */
  partitions: RecoveryReport[];
  /** Log records replayed into memtables, and the operations they held. */
  replayedRecords: number;
  replayedOperations: number;
}

const encoder = new TextEncoder();

function bytesOf(x: unknown, what: "key" | "value"): Uint8Array {
  if (x instanceof Uint8Array) return x;
  if (typeof x === "string") return encoder.encode(x);
  throw new TypeError(`${what} must be a Uint8Array or a string, got ${x === null ? "null" : typeof x}`);
}

/**
 * A scan's bound or seek target: any length (abstract-level's range options need not be
 * valid keys). One longer than KEY_BYTES_MAX bounds the same keys as its first
 * KEY_BYTES_MAX bytes, one way or the other: the scan's bounds and `seek` cut it
 * (scanBounds, ScanIterator.seek).
 */
function boundOf(x: unknown): Uint8Array {
  return bytesOf(x, "key");
}

/**
 * A scan's bound, owned by the scan: a copy of the caller's array (the scan compares rows
 * against it until it ends; the caller may reuse its array once scan() returned).
 */
function ownBoundOf(x: unknown): Uint8Array {
  return x instanceof Uint8Array ? ownCopy(x) : boundOf(x);
}

/**
 * A copy of the caller's bytes. Not `slice()`: a Node Buffer (a Uint8Array, what Node code
 * and abstract-level pass) overrides it to return a view of the same memory, so a "copy"
 * kept past the call changed when the caller reused its Buffer (review, 2026-12-06).
 */
function ownCopy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * A put or delete given a third argument (`put(k, v, { sync: true })`, as LevelDB's
 * options): refused rather than ignored, since the caller expects it to do something.
 */
function optionsRefused(method: "put" | "delete"): TypeError {
  return new TypeError(
    `${method} takes no options: durability is the database's (open it with durability: "full", the default, or await db.flush() after "async" writes)`,
  );
}

function keyOf(x: unknown): Uint8Array {
  const key = bytesOf(x, "key");
  if (key.length > KEY_BYTES_MAX) throw new RangeError(`key is ${key.length} bytes; the limit is ${KEY_BYTES_MAX} bytes (KEY_BYTES_MAX)`);
  return key;
}

function valueOf(x: unknown, limit: number): Uint8Array {
  const value = bytesOf(x, "value");
  if (value.length > limit) {
    const name = limit === VALUE_BYTES_MAX ? "VALUE_BYTES_MAX" : "a quarter of memtableBytesMax";
    throw new RangeError(`value is ${value.length} bytes; the limit is ${limit} bytes (${name})`);
  }
  return value;
}

/**
 * What the size-tiered policy (src/engine/compaction.ts) still has to do in a shard: one
 * merge per COMPACTION_FAN_IN runs of a tier, and the bytes those merges would read.
 */
function compactionDebt(tables: readonly TableRecord[]): { merges: number; bytes: number } {
  let merges = 0;
  let bytes = 0;
  for (const runs of runsByTier(tables).values()) {
    const n = Math.floor(runs.length / COMPACTION_FAN_IN);
    merges += n;
    bytes += runs.slice(0, n * COMPACTION_FAN_IN).flat().reduce((sum, t) => sum + t.bytes, 0);
  }
  return { merges, bytes };
}

/** Threads attached to one database's shared memory at once, at most (assembly/layout.ts). */
const THREADS_MAX = 256;
/** How an enqueue request's limits are named: by what a user can act on, not by constants the package does not export. */
const ENQUEUE_LIMIT = "per enqueue request; batch() takes more";
const ENQUEUE_BYTES_LIMIT = `per enqueue request: the smaller of ${smallBatchBytesMaxFor(Infinity)} and twice memtableBytesMax; batch() takes more`;

function batchOpsError(ops: number, opsMax: number, limitName: string): RangeError {
  return new RangeError(`batch has ${ops} operations; the limit is ${opsMax} (${limitName})`);
}

function batchBytesError(bytes: string, bytesMax: number, limitName: string): RangeError {
  return new RangeError(`batch holds ${bytes} bytes of keys and values; the limit is ${bytesMax} bytes (${limitName})`);
}

/**
 * `attach`'s argument: what `share()` returns, each field of the right kind, its `shared`
 * address a whole EngineShared block inside its memory (TypeError otherwise: every check
 * is made before the handle takes a thread's block in the core). Returns its write queue's
 * options, resolved.
 */
function checkHandle(handle: DatabaseHandle): ResolvedWriteQueueOptions {
  const what = "attach expects the value returned by db.share()";
  if (typeof handle !== "object" || handle === null || handle.kind !== "shardline-db") throw new TypeError(what);
  if (!(handle.module instanceof WebAssembly.Module)) throw new TypeError(`${what}: its module is not a WebAssembly.Module`);
  if (!(handle.memory instanceof WebAssembly.Memory)) throw new TypeError(`${what}: its memory is not a WebAssembly.Memory`);
  if (typeof handle.dir !== "string") throw new TypeError(`${what}: its dir is not a string`);
  const inMemory = Number.isSafeInteger(handle.shared) && handle.shared >= 64 && handle.shared % 64 === 0 && handle.shared + SHARED_BYTES <= handle.memory.buffer.byteLength;
  if (!inMemory) throw new TypeError(`${what}: its shared address is not one`);
  if (handle.durability !== "full" && handle.durability !== "async") throw new TypeError(`${what}: its durability is ${JSON.stringify(handle.durability)}`);
  if (!Number.isSafeInteger(handle.blockCacheBytesMax) || handle.blockCacheBytesMax < 0) throw new TypeError(`${what}: its blockCacheBytesMax is ${String(handle.blockCacheBytesMax)}`);
  try {
    return resolveWriteQueueOptions(handle.writeQueue);
  } catch (error) {
    throw new TypeError(`${what}: its writeQueue: ${(error as Error).message}`);
  }
}

/** Which handle took each snapshot: a read accepts only its own (#checkSnapshot). */
const snapshotOwners = new WeakMap<Snapshot, Database>();
const snapshotRegistry = new FinalizationRegistry<() => void>((release) => release());

export class Database implements AsyncDisposable {
  readonly #core: Core;
  readonly #shared: EngineShared;
  readonly #group: RingView;
  readonly #requests: RingView;
  readonly #waiters: DurableWaiters;
  readonly #channel: ChannelClient;
  /** Channel-path writes of this handle not settled yet (close() waits for them). */
  readonly #channelWrites = new Set<Promise<unknown>>();
  /**
   * Where this handle's last fast-path write's record ends: close() waits until it is
   * durable ("full") or visible ("async"), so that every write made before close() has
   * settled when it resolves (an attached handle's close has no log close to wait for).
   */
  #fastEnd = 0;
  /** Releases of this handle's snapshots not released yet (close releases them). */
  readonly #snapshotsTaken = new Set<() => void>();
  readonly #read: ReadContext;
  readonly #readKeys = new ReadKey();
  readonly #full: boolean;
  #closed = false;
  /**
   * This handle's live change-feed subscriptions, ended on close: each one's claim, and the
   * subscription itself held weakly, so that one dropped without being ended can be
   * collected (its claim given back then: change-feed.ts FeedClaim). One with a `next()`
   * pending is reachable from its wait, and close() ends it.
   */
  readonly #subscriptions = new Map<FeedClaim, WeakRef<Subscription>>();
  #closing: Promise<void> | undefined;
  /** What failed, as the actor told the opener (undefined in attached handles and while open). */
  #failureDetail: string | undefined;
  #counts = { fast: 0, channel: 0 };
  /**
   * Channel writes this handle has in flight, per shard. While a shard has some, this
   * handle's later writes to it take the channel too (the actor is FIFO), so one thread's
   * writes always apply in the order it made them, awaited or not.
   */
  readonly #inFlight: Int32Array;
  #inFlightTotal = 0;
  /** Set while a write waits for room in the group WAL's ring; later writes queue behind it, in order. */
  #ringGate: RingGate | undefined;
  /** This handle's queue behind `enqueue` (src/engine/write-queue.ts). */
  readonly #queue: WriteQueue<ParsedOp[]>;
  /** A live read-only handle's refreshes: reads go to its current view (src/engine/live-reader.ts). */
  #live: LiveReader | undefined;
  /** This handle's own view was closed (it is a live handle whose reads go to newer views). */
  #viewClosed = false;

  constructor(
    core: Core,
    readonly platform: Platform,
    readonly dir: string,
    sharedAddress: number,
    readonly durability: "full" | "async",
    private readonly blockCacheBytesMax: number,
    private readonly owner: Owner | undefined,
    private readonly writeQueue: ResolvedWriteQueueOptions = resolveWriteQueueOptions(undefined),
  ) {
    // Exported for instanceof and types; `new Database("./data")` failed deep inside with "Cannot read properties of undefined".
    if (!(core instanceof Core)) throw new TypeError("Database has no public constructor: open(dir, options) or attach(db.share()) gives one");
    this.#core = core;
    this.#shared = new EngineShared(core, sharedAddress);
    this.#group = new RingView(core, this.#shared.groupRing);
    this.#requests = new RingView(core, this.#shared.requestRing, `database ${dir}`);
    this.#waiters = new DurableWaiters(this.#group, `database ${dir}`);
    this.#channel = new ChannelClient(core, this.#requests, () => {
      if (!this.#shared.actorStopped) return undefined;
      return this.#shared.state === DbState.FAILED ? ReplyStatus.FAILED : ReplyStatus.CLOSED;
    });
    this.#read = new ReadContext(core, platform, dir, this.#shared, blockCacheBytesMax, owner?.manifest);
    // The actor asks when a write of this thread finds the memory full of held arenas (channel.ts).
    this.#channel.onLetGo = () => this.#read.letGoHeldScans();
    this.#full = durability === "full";
    this.#inFlight = new Int32Array(this.#shared.shards);
    const requestBytesMax = smallBatchBytesMaxFor(this.#shared.valueBytesMax);
    this.#queue = new WriteQueue<ParsedOp[]>(writeQueue, {
      parse: (ops) => this.#parseBatch(ops),
      apply: (ops) => (ops.length === 0 ? { ts: 0n, durableAt: 0 } : this.#apply(ops)),
      waitDurable: (lsn) => this.#waiters.wait(lsn),
      durableLsn: () => this.#group.durableLsn,
      syncs: () => this.#group.syncs,
      refusal: () => (this.owner?.readOnly ? new ReadOnlyError(dir, "writes are") : this.#shared.state === DbState.FAILED || this.#group.state === RingState.FAILED ? this.#failedError() : undefined),
      requestOpsMax: SMALL_BATCH_OPS_MAX,
      requestBytesMax,
      tooManyOps: (ops) => batchOpsError(ops, SMALL_BATCH_OPS_MAX, ENQUEUE_LIMIT),
      tooManyBytes: (bytesAtLeast) => batchBytesError(`at least ${bytesAtLeast}`, requestBytesMax, ENQUEUE_BYTES_LIMIT),
    }, `database ${dir}`);
  }

  /** @internal A handle on a database another thread opened (see `share`; users call the entry's `attach`). */
  static async attach(platform: Platform, given: DatabaseHandle): Promise<Database> {
    // Each field read once, into a copy: a durability getter answering "full" to the check
    // and "bogus" after gave a handle that acknowledged writes before their fdatasync
    // (review of the write paths, 2026-12-06).
    const handle: DatabaseHandle = typeof given === "object" && given !== null ? { ...given } : given;
    const writeQueue = checkHandle(handle);
    let core: Core;
    try {
      core = await Core.attach(handle.module, handle.memory);
    } catch (error) {
      if (error instanceof CoreError && error.status === Status.NO_MEMORY) {
        throw new RangeError(`cannot attach to ${handle.dir}: ${THREADS_MAX} handles (THREADS_MAX) are attached to its shared memory at once, or it has no room for one more; close some first`);
      }
      throw error;
    }
    // From here the handle holds a ThreadBlock: a refusal gives it back (else each refused
    // attach would keep one of the THREADS_MAX while the database is open).
    try {
      if (!new EngineShared(core, handle.shared).valid) throw new TypeError(`attach expects the value returned by db.share(): its shared address holds no database's state`);
      return new Database(core, platform, handle.dir, handle.shared, handle.durability, handle.blockCacheBytesMax, undefined, writeQueue);
    } catch (error) {
      core.detach();
      throw error;
    }
  }

  /** @internal The opener heard its actor fail (the shared state says FAILED): `message` is what failed, for the errors. */
  actorFailed(message: string): void {
    this.#failureDetail ??= message;
  }

  /** @internal The opener saw the actor's thread die: fail what waits for it now rather than at the next poll. */
  actorLost(why: string): void {
    this.#failureDetail ??= `its thread ended: ${why}`;
    this.#channel.failAll({ status: ReplyStatus.FAILED, ts: 0n, visibleAfter: 0 });
  }

  share(): DatabaseHandle {
    this.#checkOpen();
    if (this.#live) {
      throw new TypeError("share() is not available on a readOnly handle: open the database with readOnly: true in each thread that reads it (each handle follows the writer itself)");
    }
    return {
      kind: "shardline-db",
      module: this.#core.module,
      memory: this.#core.memory,
      dir: this.dir,
      shared: this.#shared.address,
      durability: this.durability,
      blockCacheBytesMax: this.blockCacheBytesMax,
      writeQueue: { ...this.writeQueue },
    };
  }

  // ---- writes ----------------------------------------------------------------------

  put(key: Key, value: Value, noOptions?: never): Promise<bigint> {
    try {
      if (noOptions !== undefined) throw optionsRefused("put");
      this.#checkWritable();
      if (typeof key === "string" && typeof value === "string") {
        const written = this.#putTextFast(key, value);
        if (written) return written;
      }
      return this.#write(keyOf(key), valueOf(value, this.#shared.valueBytesMax));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * A put of a string key and value on the fast path, encoded straight into the staging
   * area (no arrays: in V8 `TextEncoder.encode` and an array over 64 bytes cost ~1.2 µs
   * each, docs/PERFORMANCE.md). Undefined when that path is not open now (another write of
   * this handle is in flight on the channel, the ring is gated, the memtable is full) or a
   * string is over its limit: nothing was written, and `put` takes the general path, which
   * also raises the limit errors.
   */
  #putTextFast(key: string, value: string): Promise<bigint> | undefined {
    if (this.#ringGate || this.#inFlightTotal > 0) return undefined;
    const core = this.#core;
    const keyLength = core.stageText(key, 0, KEY_BYTES_MAX);
    if (keyLength < 0) return undefined;
    const valueLength = core.stageText(value, keyLength, this.#shared.valueBytesMax);
    if (valueLength < 0) return undefined;
    const status = core.exports.engineWrite(this.#group.ring, core.staging, keyLength, core.staging + keyLength, valueLength);
    if (status !== E.OK) return undefined;
    return this.#acknowledged();
  }

  /** After a fast-path write: its timestamp, at once ("async") or once its record is durable. */
  #acknowledged(): Promise<bigint> {
    const core = this.#core;
    this.#counts.fast++;
    this.#read.garbage.note(CALL_BYTES);
    const ts = core.u64[(core.result + R_TS) >>> 3]; // the caller's bigint
    const lsnEnd = core.u64Number(core.result + R_LSN_END); // this thread's own result area
    this.#fastEnd = lsnEnd; // only grows: this thread reserves in order
    if (!this.#full) return this.#visible(lsnEnd, ts);
    return this.#waiters.wait(lsnEnd).then(() => ts);
  }

  /**
   * Under "async": `ts` once the write whose record ends at `lsnEnd` is visible, which is at
   * once unless another thread's earlier reservation is still unpublished (a writer waiting
   * for ring room, a large batch's fragments): the visible point, the ring's published end,
   * cannot pass it, and a write its own thread cannot read back would break read-your-writes
   * (and a snapshot taken then would never see it). In that case it waits until the thread
   * holding the reservation publishes, woken by that publication (RingView.untilPublished).
   */
  #visible(lsnEnd: number, ts: bigint): Promise<bigint> {
    if (this.#group.publishedEnd >= lsnEnd) return Promise.resolve(ts);
    return this.#group.untilPublished(lsnEnd, `database ${this.dir}`).then(() => ts);
  }

  delete(key: Key, noOptions?: never): Promise<bigint> {
    try {
      if (noOptions !== undefined) throw optionsRefused("delete");
      this.#checkWritable();
      return this.#write(keyOf(key), undefined);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `passed`: the gate this write was queued behind, which it now runs past. */
  #write(key: Uint8Array, value: Uint8Array | undefined, passed?: RingGate): Promise<bigint> {
    if (this.#ringGate && this.#ringGate !== passed) return this.#behindGate(key, value);
    const core = this.#core;
    const e = core.exports;
    if (this.#inFlightTotal > 0) {
      const shard = core.shardOf(key);
      if (this.#inFlight[shard] > 0) return this.#viaChannel([{ type: value ? OP_PUT : OP_DELETE, shard, key, value, ts: 0n }]);
    }
    for (let attempt = 0; ; attempt++) {
      const keyAt = core.stage(key);
      const valueAt = value ? core.stage(value, key.length) : 0;
      const status = e.engineWrite(this.#group.ring, keyAt, key.length, valueAt, value ? value.length : VALUE_TOMBSTONE);
      if (status === E.OK) return this.#acknowledged();
      if (status === E.CHANNEL) {
        if (core.u32[(core.result + R_REASON) >>> 2] === REASON_NO_ACTIVE && attempt < 3) continue; // a freeze in progress
        const shard = core.u32[(core.result + R_SHARD) >>> 2];
        return this.#viaChannel([{ type: value ? OP_PUT : OP_DELETE, shard, key, value, ts: 0n }]);
      }
      if (status === E.RING_FULL) {
        this.#closeRingGate();
        return this.#behindGate(key, value);
      }
      throw this.#statusError(status);
    }
  }

  /**
   * A write that waits behind the ring gate, made with copies of its key and value: the
   * caller may change its arrays once `put` or `delete` returned (so does every path: the
   * fast path stages them, the channel path encodes them, before returning).
   */
  #behindGate(key: Uint8Array, value: Uint8Array | undefined): Promise<bigint> {
    const ownKey = ownCopy(key);
    const ownValue = value && ownCopy(value);
    return this.#afterGate((gate) => this.#write(ownKey, ownValue, gate));
  }

  /**
   * Runs `write` once the ring gate opens, after every write queued behind it before. The
   * gate stays this handle's until the last queued write has run: a write the handle makes
   * meanwhile, even in the microtask after `opened` resolved, sees it and queues behind it
   * (a reaction on a resolved promise runs after those already queued), never ahead of an
   * earlier write. The queued writes run past it (`passed`); one that finds the ring full
   * again closes a new gate, and those after it follow it there.
   */
  #afterGate<T>(write: (passed: RingGate) => T | Promise<T>): Promise<T> {
    const gate = this.#ringGate!;
    gate.queued++;
    return this.#trackChannelWrite(gate.opened.then(() => {
      if (--gate.queued === 0 && this.#ringGate === gate) this.#ringGate = undefined;
      return write(gate);
    }));
  }

  /**
   * Applies `ops` atomically: after a crash all or none of them are there, and no reader
   * ever sees some of them without the others. Resolves with the highest commit timestamp
   * the batch took (each operation takes its shard's next one). Up to BATCH_OPS_MAX
   * operations and BATCH_BYTES_MAX bytes of keys and values; beyond the small limits it is
   * a large batch (docs/ENGINE.md, "Large atomic batches"): the actor commits it.
   */
  batch(ops: readonly BatchOperation[]): Promise<bigint> {
    try {
      this.#checkWritable();
      const parsed = this.#parseBatch(ops, true);
      if (parsed.length === 0) return Promise.resolve(0n);
      if (parsed.length <= SMALL_BATCH_OPS_MAX && batchBytes(parsed) <= smallBatchBytesMaxFor(this.#shared.valueBytesMax)) return this.#batch(parsed);
      return this.#largeBatch(parsed);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Validates a batch's operations: TypeError, or RangeError naming the limit. `large`:
   * within the limits of `batch`; else of a small batch (`enqueue`).
   */
  #parseBatch(ops: unknown, large = false): ParsedOp[] {
    if (!Array.isArray(ops)) throw new TypeError("batch expects an array of operations");
    const opsMax = large ? BATCH_OPS_MAX : SMALL_BATCH_OPS_MAX;
    if (ops.length > opsMax) throw batchOpsError(ops.length, opsMax, large ? "BATCH_OPS_MAX" : ENQUEUE_LIMIT);
    const list = ops as readonly BatchOperation[];
    // Array.from, not map: a hole in a sparse array is an operation too (map would skip it).
    const parsed = Array.from({ length: list.length }, (_, i) => {
      const op = list[i];
      if (typeof op !== "object" || op === null) throw new TypeError(`batch operation ${i} must be an object`);
      // Each field read once: a type getter read twice was refused with a message naming a
      // valid type (review of the write paths, 2026-12-06).
      const { type, key, value } = op as { type?: unknown; key: Key; value?: Value };
      if (type === "put") return { type: OP_PUT, key: keyOf(key), value: valueOf(value as Value, this.#shared.valueBytesMax) };
      if (type === "delete") return { type: OP_DELETE, key: keyOf(key), value: undefined };
      throw new TypeError(`batch operation ${i} has type ${JSON.stringify(type)}; expected "put" or "delete"`);
    }) as ParsedOp[];
    const bytes = batchBytes(parsed);
    const bytesMax = large ? BATCH_BYTES_MAX : smallBatchBytesMaxFor(this.#shared.valueBytesMax);
    if (bytes > bytesMax) throw batchBytesError(`${bytes}`, bytesMax, large ? "BATCH_BYTES_MAX" : ENQUEUE_BYTES_LIMIT);
    return parsed;
  }

  /**
   * A large batch: sent to the actor in parts that each fit a log record, committed as one.
   * Behind the ring gate like every other write of this handle (per-thread program order):
   * a write waiting there for room in the group WAL ring was made before this batch and
   * retries when the gate opens; sent at once, the batch would take its timestamps first and
   * that earlier write would win over it. When the gate opens, the writes behind it run in
   * the order they were made, and the batch marks its shards in flight before the next one
   * runs, so a later write to them takes the channel after it.
   */
  #largeBatch(ops: ParsedOp[], passed?: RingGate): Promise<bigint> {
    if (this.#ringGate && this.#ringGate !== passed) {
      const owned = ownedOps(ops);
      return this.#afterGate((gate) => this.#largeBatch(owned, gate));
    }
    const core = this.#core;
    const shards = new Uint16Array(ops.length);
    for (let i = 0; i < ops.length; i++) shards[i] = core.shardOf(ops[i].key);
    const partBytesMax = Math.min(this.#group.recordBytesMax, this.#requests.recordBytesMax) - REQUEST_PREFIX_BYTES - PART_HEADER_BYTES;
    const parts = encodeParts(ops, shards, partBytesMax);
    const applied = this.#applyViaChannel(shards, () => this.#channel.sendLarge(parts), true);
    return this.#trackChannelWrite(applied.then((a) => this.#durable(a)));
  }

  #batch(ops: ParsedOp[]): Promise<bigint> {
    const applied = this.#apply(ops);
    return applied instanceof Promise ? this.#trackChannelWrite(applied.then((a) => this.#durable(a))) : this.#durable(applied);
  }

  /**
   * Writes a parsed, non-empty batch atomically (fast path, or the channel path) without
   * waiting for durability: its highest commit timestamp and the group-WAL LSN its
   * durability waits for. Synchronous on the fast path. Used by `batch` and the write queue.
   */
  #apply(ops: ParsedOp[], passed?: RingGate): Applied | Promise<Applied> {
    if (this.#ringGate && this.#ringGate !== passed) return this.#applyBehindGate(ops);
    const core = this.#core;
    if (this.#inFlightTotal > 0) {
      const routed = ops.map((op) => ({ ...op, shard: core.shardOf(op.key), ts: 0n }));
      if (routed.some((op) => this.#inFlight[op.shard] > 0)) return this.#applyViaChannel(routed.map((op) => op.shard), () => this.#channel.send(routed));
    }
    const u8 = core.u8;
    let at = core.staging;
    for (const op of ops) {
      u8[at] = op.type;
      u8[at + 1] = 0;
      u8[at + 2] = op.key.length & 0xff;
      u8[at + 3] = op.key.length >>> 8;
      const vl = op.value?.length ?? 0;
      u8[at + 4] = vl & 0xff;
      u8[at + 5] = (vl >>> 8) & 0xff;
      u8[at + 6] = (vl >>> 16) & 0xff;
      u8[at + 7] = vl >>> 24;
      u8.set(op.key, at + BATCH_STAGED_OP_BYTES);
      if (op.value) u8.set(op.value, at + BATCH_STAGED_OP_BYTES + op.key.length);
      at += BATCH_STAGED_OP_BYTES + op.key.length + vl;
    }
    const opsBytes = at - core.staging;
    const scratch = (at + 7) & ~7;
    if (scratch + ops.length * BATCH_SCRATCH_OP_BYTES > core.staging + STAGING_BYTES) throw new RangeError("batch does not fit the staging area");
    const status = core.exports.engineBatch(this.#group.ring, core.staging, opsBytes, ops.length, scratch);
    if (status === E.OK) {
      this.#counts.fast += ops.length;
      const durableAt = core.u64Number(core.result + R_LSN_END);
      this.#fastEnd = durableAt; // only grows: this thread reserves in order (close() waits for it)
      return { ts: core.u64[(core.result + R_TS) >>> 3], durableAt };
    }
    if (status === E.CHANNEL) {
      const routed = ops.map((op) => ({ ...op, shard: core.shardOf(op.key), ts: 0n }));
      return this.#applyViaChannel(routed.map((op) => op.shard), () => this.#channel.send(routed));
    }
    if (status === E.RING_FULL) {
      this.#closeRingGate();
      return this.#applyBehindGate(ops);
    }
    throw this.#statusError(status);
  }

  /** A batch that waits behind the ring gate, with copies of its keys and values (as #behindGate). */
  #applyBehindGate(ops: ParsedOp[]): Promise<Applied> {
    const owned = ownedOps(ops);
    return this.#afterGate((gate) => this.#apply(owned, gate));
  }

  /** Resolves with the write's timestamp once it is durable ("full"), or visible ("async": #visible). */
  #durable(applied: Applied): Promise<bigint> {
    if (!this.#full) return this.#visible(applied.durableAt, applied.ts);
    return this.#waiters.wait(applied.durableAt).then(() => applied.ts);
  }

  #viaChannel(ops: Operation[]): Promise<bigint> {
    return this.#trackChannelWrite(this.#applyViaChannel(ops.map((op) => op.shard), () => this.#channel.send(ops)).then((applied) => this.#durable(applied)));
  }

  /** Notes a channel-path write until it settles, so that close() waits for it. */
  #trackChannelWrite<T>(write: Promise<T>): Promise<T> {
    this.#channelWrites.add(write);
    const forget = () => this.#channelWrites.delete(write);
    write.then(forget, forget);
    return write;
  }

  /**
   * The channel path without the durability wait: the actor's reply to what `send` sent,
   * operations of `shards` (one entry per operation: this thread's later writes to them
   * take the channel too until the reply, so that they apply after).
   */
  async #applyViaChannel(shards: ArrayLike<number>, send: () => Promise<Reply>, large = false): Promise<Applied> {
    // The writes that wait for memtable room come here: this thread's held scans let go of
    // what flushes made obsolete first (scan.ts repin), or they would keep it for good.
    if (this.#read.holdsRepinnable) this.#read.letGoHeldScans();
    for (let i = 0; i < shards.length; i++) this.#inFlight[shards[i]]++;
    this.#inFlightTotal += shards.length;
    let reply;
    try {
      reply = await send();
    } finally {
      for (let i = 0; i < shards.length; i++) this.#inFlight[shards[i]]--;
      this.#inFlightTotal -= shards.length;
    }
    if (reply.status !== ReplyStatus.OK) {
      if (reply.status === ReplyStatus.FAILED) throw this.#failedError();
      if (reply.status === ReplyStatus.CLOSED) throw new ClosedError(`database ${this.dir}`);
      if (reply.status === ReplyStatus.MEMORY_FULL) throw new MemoryFullError(this.dir);
      if (reply.status === ReplyStatus.TOO_LARGE) {
        if (large) throw new RangeError(`the batch's ${shards.length} operations need more than the largest memtable arena in one shard (docs/ENGINE.md, "Large atomic batches"); write it in smaller batches`);
        throw new RangeError(`the write is larger than one log record can hold (${this.#group.recordBytesMax} bytes)`);
      }
      throw new ShardlineError(`the actor refused the write (status ${reply.status})`, "SHARDLINE_BAD_REQUEST");
    }
    this.#counts.channel += shards.length;
    return { ts: reply.ts, durableAt: reply.visibleAfter };
  }

  /**
   * Holds this handle's writes back until the ring has drained some (or 50 ms passed: the
   * writes queued behind it then try again); the caller queues its write behind it.
   */
  #closeRingGate(): void {
    const index = this.#group.index(Ring.DRAIN_SEQ);
    this.#ringGate = { opened: waitForChange(this.#group.i32, index, Atomics.load(this.#group.i32, index), 50), queued: 0 };
  }

  #statusError(status: number): Error {
    if (status === E.FAILED) return this.#failedError();
    if (status === E.CLOSED) return new ClosedError(`database ${this.dir}`);
    if (status === E.TOO_LARGE) return new RangeError(`the write is larger than one log record can hold (${this.#group.recordBytesMax} bytes)`);
    if (status === E.KEY_TOO_LARGE) return new RangeError(`key is too large; the limit is ${KEY_BYTES_MAX} bytes (KEY_BYTES_MAX)`);
    if (status === E.VALUE_TOO_LARGE) return new RangeError(`value is too large; the limit is ${VALUE_BYTES_MAX} bytes (VALUE_BYTES_MAX)`);
    return new ShardlineError(`write failed with status ${status}`, "SHARDLINE_INTERNAL");
  }

  /**
   * Queues a self-contained write (`ops` as for `batch`, applied atomically) in this handle's
   * bounded FIFO (the `writeQueue` option; src/engine/write-queue.ts). Ready requests are
   * written as one group and acknowledged after one fdatasync covering them all, whatever
   * `durability` says. Resolves with the commit timestamp once durable; rejects with the
   * request's own error (bad input, a failed log), TimeoutError or an AbortError if it did
   * not start in time or its signal aborted first (nothing written), or at once with
   * QueueFullError, QueueClosedError (after `close()`), or the failed database's error.
   * `ops` is read when the request starts: keep it unchanged until the promise settles.
   */
  enqueue(ops: readonly BatchOperation[], options?: EnqueueOptions): Promise<bigint> {
    return this.#queue.enqueue(ops, options);
  }

  // ---- change feeds ----------------------------------------------------------------

  /**
   * Every write made from now on (its commit timestamp taken after this call: a write
   * still in flight when it is called may be missing, even one acknowledged after it) and,
   * with `from`, the ones since that commit timestamp the WAL still holds, once each, in
   * commit order per shard, once durable, as an async iterable:
   * `for await (const change of db.subscribe({ prefix }))`. It reads the group WAL; writers
   * do not change path for it. Ends on `break`, when `signal` aborts and on `close()`; a
   * subscriber so far behind that the log it needs was trimmed gets FeedOverflowError
   * (src/engine/change-feed.ts).
   */
  subscribe(options: { prefix?: Key; from?: bigint; signal?: AbortSignal } = {}): AsyncIterableIterator<ChangeEvent> {
    this.#checkOpen();
    const view = this.#view(undefined);
    if (view) return view.subscribe(options);
    if (typeof options !== "object" || options === null) throw new TypeError("subscribe options must be an object");
    rejectUnknownNames(options, SUBSCRIBE_OPTION_NAMES);
    // Each option read once: what is checked is what is used (a getter cannot change it between).
    const { prefix: prefixOption, from, signal } = options;
    const prefix = prefixOption === undefined ? undefined : keyOf(prefixOption);
    if (from !== undefined && (typeof from !== "bigint" || from < 0n)) throw new TypeError("subscribe's from must be a non-negative bigint commit timestamp");
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError("subscribe's signal must be an AbortSignal");
    const subscription = new Subscription({
      core: this.#core,
      platform: this.platform,
      dir: this.dir,
      shared: this.#shared,
      group: this.#group,
      flush: () => this.#flushLog(),
      garbage: this.#read.garbage,
      ended: (claim) => this.#subscriptions.delete(claim),
    }, { prefix, from, signal });
    this.#subscriptions.set(subscription.claim, new WeakRef(subscription));
    if (signal?.aborted) subscription.end();
    return subscription;
  }

  /** Resolves once everything acknowledged (or buffered) so far is durable. */
  async flush(): Promise<void> {
    this.#checkWritable();
    await this.#flushLog();
  }

  /** flush() without its check: also a `from` feed's first step (change-feed.ts #replay). */
  async #flushLog(): Promise<void> {
    // This handle's writes made before the call that took the channel path, or wait behind
    // the ring gate, reach the log only later: before, a put on the channel path followed by
    // flush() under "async" was not durable when flush() resolved.
    if (this.#channelWrites.size > 0) await Promise.allSettled([...this.#channelWrites]);
    const target = this.#group.reserveHead;
    // Under "async" the durability worker would gather for walBatchIntervalUs first.
    if (!this.#full) this.#group.requestSync(target);
    return this.#waiters.wait(target);
  }

  // ---- reads -----------------------------------------------------------------------

  /** The value of `key` (a copy), or undefined. Synchronous. */
  get(key: Key, options?: { snapshot?: Snapshot }): Uint8Array | undefined {
    this.#checkOpen();
    const snapshot = readSnapshotOption(options); // no default object: a get makes no garbage of its own
    const view = this.#view(snapshot);
    if (view) return view.get(key, options);
    return this.#lookup(key, snapshot, ValueRead.COPY) as Uint8Array | undefined;
  }

  /**
   * The value of `key` (at `snapshot`, or now) decoded as UTF-8 text, or undefined: `get`
   * and a TextDecoder in one step, without copying the bytes first. Invalid UTF-8 becomes
   * U+FFFD, as TextDecoder does by default; a leading U+FEFF is kept (ignoreBOM).
   * Synchronous.
   */
  getString(key: Key, options?: { snapshot?: Snapshot }): string | undefined {
    this.#checkOpen();
    const snapshot = readSnapshotOption(options);
    const view = this.#view(snapshot);
    if (view) return view.getString(key, options);
    return this.#lookup(key, snapshot, ValueRead.TEXT) as string | undefined;
  }

  /** get, getString and has: a string key is encoded into this handle's read-key buffer (lookup keeps no key). */
  #lookup(key: Key, snapshot: Snapshot | undefined, read: ValueRead): Uint8Array | string | undefined {
    if (snapshot !== undefined) this.#checkSnapshot(snapshot);
    const bytes = (typeof key === "string" ? this.#readKeys.encode(key) : undefined) ?? keyOf(key);
    return this.#read.lookup(bytes, snapshot === undefined ? undefined : Number(snapshot.seq), read);
  }

  /**
   * Whether `key` has a value (at `snapshot`, or now): a get that copies no value. A
   * tombstone counts as absent. Synchronous.
   */
  has(key: Key, options?: { snapshot?: Snapshot }): boolean {
    this.#checkOpen();
    const snapshot = readSnapshotOption(options);
    const view = this.#view(snapshot);
    if (view) return view.has(key, options);
    return this.#lookup(key, snapshot, ValueRead.VIEW) !== undefined;
  }

  /** A consistent point-in-time view for get and scan. Release it (or `using`): it holds old versions. */
  snapshot(): Snapshot {
    this.#checkOpen();
    const live = this.#live;
    if (live) {
      const view = live.route();
      const snapshot = view === this ? this.#snapshot() : view.snapshot();
      live.noteSnapshot(snapshot, view);
      return snapshot;
    }
    return this.#snapshot();
  }

  /**
   * A read's `snapshot` option: one this handle took (a live handle's reads reach the view
   * that took it first: #view), not released. Anything else would be read at a point no
   * slot of this database holds: a TypeError.
   */
  #checkSnapshot(snapshot: Snapshot): void {
    const owner = snapshotOwners.get(snapshot);
    if (owner !== this) {
      throw new TypeError(owner === undefined ? "the snapshot option must be a Snapshot from db.snapshot()" : `the snapshot was taken on another database handle (${owner.dir}), not this one (${this.dir})`);
    }
    if (snapshot.released) throw new SnapshotReleasedError();
  }

  #snapshot(): Snapshot {
    const [slot, seq] = this.#shared.takeSnapshot();
    const shared = this.#shared;
    const state = { released: false };
    const taken = this.#snapshotsTaken;
    const release = () => {
      if (state.released) return;
      state.released = true;
      taken.delete(release);
      shared.releaseSnapshot(slot);
    };
    taken.add(release);
    // Frozen: reads take the point from `seq`, and a point moved by the caller would be
    // one no slot protects (a `get` after `s.seq += 1000n` returned a value written after
    // the snapshot: review of version GC under snapshots, 2026-12-07).
    const snapshot: Snapshot = Object.freeze({
      seq: BigInt(seq),
      get released() {
        return state.released;
      },
      release() {
        snapshotRegistry.unregister(state);
        release();
      },
      [Symbol.dispose]() {
        this.release();
      },
    });
    snapshotRegistry.register(snapshot, release, state);
    snapshotOwners.set(snapshot, this);
    return snapshot;
  }

  /**
   * Rows in key order over all shards: [key, value] copies, read at the point of this call
   * (or at `snapshot`). A synchronous iterator (iterate it once); `break` or `return()` ends
   * it, `seek(target)` repositions it at the first key >= target (reverse: <= target) within
   * its bounds, at the same point. From this call until it ends, the scan holds a snapshot
   * slot (while one is free) and the memtables and table files it reads, so it survives
   * flushes and compactions (and this thread's reads); after a flush or merge it lets go of
   * them for newer ones at the same point, at its next step or this thread's next
   * channel-path write (scan.ts repin). One neither finished nor ended holds them until it
   * is collected or this handle closes.
   */
  scan(given: ScanOptions = {}): ScanIterator {
    this.#checkOpen();
    // An array passed for the options got "reverse must be a boolean" (arrays have a
    // reverse method: review of reads, 2026-12-06). Each option is read once, into a copy.
    if (typeof given !== "object" || given === null || Array.isArray(given)) throw new TypeError("scan options must be an object");
    const options: ScanOptions = { ...given };
    const view = this.#view(options.snapshot);
    if (view) return view.scan(options);
    const bounds = scanBounds(options);
    const snapshot = options.snapshot;
    if (snapshot !== undefined) this.#checkSnapshot(snapshot);
    return new ScanIterator(this.#read, snapshot === undefined ? undefined : Number(snapshot.seq), bounds, boundOf);
  }

  // ---- statistics, lifecycle -----------------------------------------------------------

  /** @internal This handle's own live snapshots (a live reader's view: those taken on it). */
  get ownLiveSnapshots(): number {
    return this.#shared.liveSnapshots();
  }

  /** @internal Opened with readOnly: true (a live reader or a static one). */
  get isReadOnly(): boolean {
    return this.owner?.readOnly === true;
  }

  stats(): DatabaseStats {
    this.#checkOpen();
    // A live reader's current view, even an evicted one's (stats say `evicted`; no refresh is started).
    const current = this.#live?.current;
    const view = current === this ? undefined : current;
    if (view) return { ...view.stats(), liveSnapshots: this.#live!.liveSnapshots(), coordination: this.#coordination(this.owner!) };
    const core = this.#core;
    const e = core.exports;
    const manifest: ManifestData | undefined = readManifest(core, this.platform, this.dir);
    const shards = [];
    for (let shard = 0; shard < this.#shared.shards; shard++) {
      const tables = (manifest?.tables ?? []).filter((t) => t.shard === shard);
      const tiers: Record<number, number> = {};
      for (const t of tables) tiers[t.tier] = (tiers[t.tier] ?? 0) + 1;
      shards.push({
        shard,
        commitTimestamp: e.shardCommitCounter(shard),
        memtableBytesUsed: e.shardMemtableBytesUsed(shard) >>> 0,
        memtableBytesMax: e.shardMemtableCapacity(shard) >>> 0,
        frozenMemtables: Math.max(0, e.shardMemtableList(shard) - 1),
        tables: tables.length,
        tableBytes: tables.reduce((n, t) => n + t.bytes, 0),
        tablesPerTier: tiers,
        compactionDebt: compactionDebt(tables),
        subscribers: e.shardSubscribers(shard),
      });
    }
    const ring = this.#group;
    const syncs = ring.syncs;
    return {
      shards,
      wal: {
        durableLsn: BigInt(ring.durableLsn),
        currentLsn: BigInt(ring.reserveHead),
        syncs,
        syncedRecords: ring.syncedRecords,
        recordsPerSync: syncs === 0 ? 0 : ring.syncedRecords / syncs,
      },
      paths: { fast: e.engineFastWrites(), channel: this.#shared.stat("channelWrites"), thisHandle: { ...this.#counts } },
      abandonedScans: this.#read.abandonedScans,
      flushes: this.#shared.stat("flushes"),
      compactions: this.#shared.stat("compactions"),
      compactedBytes: this.#shared.stat("compactedBytes"),
      liveSnapshots: this.#live ? this.#live.liveSnapshots() : this.#shared.liveSnapshots(),
      blockCache: this.#read.tables.cache.stats(),
      recovery: this.owner?.recovery,
      coordination: this.owner ? this.#coordination(this.owner) : undefined,
      writeQueue: this.#queue.stats(),
      state: this.#group.state === RingState.FAILED ? "failed" : (["open", "closing", "closed", "failed"] as const)[this.#shared.state] ?? "open",
    };
  }

  #coordination(owner: Owner): CoordinationInfo {
    const lock = owner.lock;
    const info: CoordinationInfo = { ...owner.coordination, readers: listReaderSlots(this.platform, this.dir) };
    if (lock && !lock.released) info.holder = lock.holder;
    if (this.#live) info.live = this.#live.stats();
    return info;
  }

  // ---- live read-only handles (src/engine/live-reader.ts) ------------------------------

  /**
   * On a read-only handle: builds a new view of the database from the files now (the
   * writer's durable log and MANIFEST) if they changed, and resolves once reads see it.
   * Reads also refresh by themselves, in the background, every `refreshIntervalMs`. On a
   * writer's handle, and on a read-only one that cannot follow (its directory is not
   * writable), it resolves at once: there is nothing to catch up with.
   */
  async refresh(): Promise<void> {
    this.#checkOpen();
    try {
      await this.#live?.refresh();
    } catch (error) {
      throw publicError(error);
    }
  }

  /** @internal The opener of a read-only handle makes it follow the writer (open-read-only.ts). */
  follow(live: LiveReader): void {
    this.#live = live;
  }

  /** @internal A live reader's view: what a table its MANIFEST names but that is gone means (ReadContext.tableGone). */
  explainTableGone(explain: () => Error | undefined): void {
    this.#read.tableGone = explain;
  }

  /** @internal Whether a scan, snapshot or change feed still reads this handle's view. */
  hasOpenReads(): boolean {
    return this.#read.busy || this.#shared.liveSnapshots() > 0 || this.#subscriptions.size > 0;
  }

  /** @internal A live handle's view that nothing reads any more: free its memory and files. */
  closeView(): void {
    if (!this.#live) {
      void this.close().catch(() => {});
      return;
    }
    if (this.#viewClosed) return;
    this.#viewClosed = true;
    this.#read.close();
    this.#core.detach();
  }

  /** The view a read goes to on a live handle, or undefined to read this handle's own. */
  #view(snapshot: Snapshot | undefined): Database | undefined {
    const live = this.#live;
    if (!live) return undefined;
    const view = live.route(snapshot);
    return view === this ? undefined : view;
  }

  /**
   * Closes this handle, after draining its write queue (requests enqueued before close()
   * run and settle; later ones reject with QueueClosedError). On the opener: later writes
   * are refused, the actor finishes what it was given, the log makes everything durable,
   * the lock is released.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    // Drain: requests enqueued before close() still run and settle (later ones: QueueClosedError).
    await this.#queue.close();
    // Writes made before close() settle too: channel-path ones (their replies come to this
    // thread's ThreadBlock, which detach() gives back to the next thread that attaches) and
    // those waiting behind the ring gate (they would run on the detached core). A gated
    // write may become a channel write when the gate opens: drain until none is left.
    while (this.#channelWrites.size > 0) await Promise.allSettled(this.#channelWrites);
    // And an attached handle's fast-path ones: their promises settle on the same wait (a
    // failed or closed log rejects them; close goes on). The opener's settle as its log
    // closes below, which also ends a wait that another thread's reservation, never
    // published, would hold for ever (EABANDONED).
    if (!this.owner && this.#fastEnd > 0) await (this.#full ? this.#waiters.wait(this.#fastEnd) : this.#visible(this.#fastEnd, 0n)).catch(() => {});
    for (const [claim, subscription] of [...this.#subscriptions]) {
      const live = subscription.deref();
      if (live) live.end();
      else claim.release(); // collected, its finalizer not yet run
    }
    // Snapshots still taken give their slots back (shared by every handle; a slot left
    // taken would keep version GC from dropping what it saw for as long as the database is open).
    for (const release of [...this.#snapshotsTaken]) release();
    const live = this.#live;
    if (live) {
      await live.close();
      if (live.current !== this) await live.current.close();
    }
    if (this.owner) {
      if (this.#shared.state === DbState.OPEN) this.#shared.state = DbState.CLOSING;
      this.#requests.setState(RingState.CLOSING);
      this.owner.actor?.ref();
      await this.owner.actorDone;
      await this.owner.actor?.terminate();
      // A failed log's close rejects (shardline/wal); here every write's own promise has
      // said so already, and the close goes on.
      await this.owner.log?.close().catch(() => {});
      this.owner.lock?.release();
    }
    if (!this.#viewClosed) {
      this.#viewClosed = true;
      this.#read.close();
      this.#core.detach();
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Reads and statistics work until close, also on a failed database (they see what was durable). */
  #checkOpen(): void {
    if (this.#closed) throw new ClosedError(`database ${this.dir}`);
  }

  /** The error of a failed (or closed) database's writes, with what failed where this handle heard it. */
  #failedError(): Error {
    return this.#group.stateError(`database ${this.dir}`, this.#failureDetail);
  }

  /** Writes also need a database that has not failed. */
  #checkWritable(): void {
    this.#checkOpen();
    if (this.owner?.readOnly) throw new ReadOnlyError(this.dir, "writes are");
    if (this.#shared.state === DbState.FAILED || this.#group.state === RingState.FAILED) throw this.#failedError();
  }
}

export interface DatabaseStats {
  shards: Array<{
    shard: number;
    commitTimestamp: bigint;
    memtableBytesUsed: number;
    memtableBytesMax: number;
    frozenMemtables: number;
    tables: number;
    tableBytes: number;
    tablesPerTier: Record<number, number>;
    /** Merges the compaction policy still owes this shard, and the table bytes they would read. */
    compactionDebt: { merges: number; bytes: number };
    /** Change-feed subscriptions on this shard (all threads). */
    subscribers: number;
  }>;
  wal: { durableLsn: bigint; currentLsn: bigint; syncs: number; syncedRecords: number; recordsPerSync: number };
  paths: { fast: number; channel: number; thisHandle: { fast: number; channel: number } };
  /** Scans of this handle dropped without being ended (no `break`, `return()` or end reached), released when garbage-collected: each held memtable arenas and table files until then. */
  abandonedScans: number;
  flushes: number;
  compactions: number;
  compactedBytes: number;
  liveSnapshots: number;
  blockCache: BlockCacheStats;
  recovery: RecoveryInfo | undefined;
  /** The opener's lock status (undefined on attached handles). */
  coordination: CoordinationInfo | undefined;
  /** This handle's `enqueue` queue; each field is defined at WriteQueueStats (src/engine/write-queue.ts). */
  writeQueue: WriteQueueStats;
  state: "open" | "closing" | "closed" | "failed";
}

const SUBSCRIBE_OPTION_NAMES = ["prefix", "from", "signal"] as const;
const READ_OPTION_NAMES = ["snapshot"] as const;

/**
 * get's, getString's and has's `{ snapshot }`: TypeError for anything else, the snapshot
 * itself in particular (`db.get(key, snapshot)` read the latest value without a word) and a
 * misspelt name. No options (the common case) costs one comparison.
 */
function readSnapshotOption(options: { snapshot?: Snapshot } | undefined): Snapshot | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== "object" || options === null || Array.isArray(options)) throw new TypeError("a read's options must be an object: { snapshot }");
  if (snapshotOwners.has(options as Snapshot)) throw new TypeError("a read takes its snapshot as { snapshot }, not the snapshot itself");
  for (const name in options) if (name !== "snapshot") rejectUnknownNames(options, READ_OPTION_NAMES);
  return options.snapshot;
}

const SCAN_OPTION_NAMES = ["prefix", "gte", "gt", "lte", "lt", "reverse", "limit", "snapshot", "holdAtEnd"] as const;

function scanBounds(options: ScanOptions): ScanBounds {
  rejectUnknownNames(options, SCAN_OPTION_NAMES);
  const opt = (k: Key | undefined) => (k === undefined ? undefined : ownBoundOf(k));
  let lower = opt(options.gte);
  let lowerExclusive = false;
  const gt = opt(options.gt);
  if (gt && (!lower || compareKeys(gt, lower) >= 0)) {
    lower = gt;
    lowerExclusive = true;
  }
  let upper = opt(options.lt);
  let upperInclusive = false;
  const lte = opt(options.lte);
  if (lte && (!upper || compareKeys(lte, upper) < 0)) {
    upper = lte;
    upperInclusive = true;
  }
  if (options.prefix !== undefined) {
    const prefix = ownBoundOf(options.prefix);
    if (!lower || compareKeys(prefix, lower) > 0) {
      lower = prefix;
      lowerExclusive = false;
    }
    const end = prefixEnd(prefix);
    if (end && (!upper || compareKeys(end, upper) < 0 || (compareKeys(end, upper) === 0 && upperInclusive))) {
      upper = end;
      upperInclusive = false;
    }
  }
  // Keys are at most KEY_BYTES_MAX bytes. Below a longer bound (lt or lte) lie exactly the
  // keys at or below its first KEY_BYTES_MAX bytes; above one (gt or gte), the keys above them.
  if (lower && lower.length > KEY_BYTES_MAX) {
    lower = lower.subarray(0, KEY_BYTES_MAX);
    lowerExclusive = true;
  }
  if (upper && upper.length > KEY_BYTES_MAX) {
    upper = upper.subarray(0, KEY_BYTES_MAX);
    upperInclusive = true;
  }
  if (options.limit !== undefined && typeof options.limit !== "number") throw new TypeError(`limit must be a number, got ${options.limit === null ? "null" : typeof options.limit}`);
  if (options.limit !== undefined && (!Number.isInteger(options.limit) || options.limit < 0)) {
    throw new RangeError(`limit must be a non-negative integer, got ${options.limit}`);
  }
  if (options.reverse !== undefined && typeof options.reverse !== "boolean") throw new TypeError("reverse must be a boolean");
  if (options.holdAtEnd !== undefined && typeof options.holdAtEnd !== "boolean") throw new TypeError("holdAtEnd must be a boolean");
  return { lower, lowerExclusive, upper, upperInclusive, reverse: options.reverse ?? false, limit: options.limit ?? Infinity, holdAtEnd: options.holdAtEnd ?? false };
}

/** `ops` with keys and values of their own: what a write deferred past its call writes (the caller may reuse its arrays). */
function ownedOps<T extends { key: Uint8Array; value: Uint8Array | undefined }>(ops: readonly T[]): T[] {
  return ops.map((op) => ({ ...op, key: ownCopy(op.key), value: op.value && ownCopy(op.value) }));
}

/** Key and value bytes of a batch's operations. */
function batchBytes(ops: ReadonlyArray<{ key: Uint8Array; value: Uint8Array | undefined }>): number {
  let bytes = 0;
  for (const op of ops) bytes += op.key.length + (op.value?.length ?? 0);
  return bytes;
}
