/**
 * Log: shardline's durable, segmented write-ahead log, usable on its own (`shardline/wal`)
 * and by the engine.
 *
 *   const log = await openLog(dir, { segmentBytesMax, batchIntervalUs, durability })
 *   await log.append(data | data[])   // LSN(s) once durable ("full") or buffered ("async")
 *   log.appendNow(data | data[])      // LSN(s) at once; durable later
 *   await log.flushUntil(lsn)         // everything up to lsn is durable
 *   log.durableLsn, log.currentLsn    // monotonic bigints
 *   for await (const { lsn, data } of log.stream({ from, follow, signal })) ...
 *   await log.trimBefore(lsn)         // drop whole segments below lsn
 *   log.share() / attachLog(handle)   // the same log from a worker thread
 *   await log.close()                 // also [Symbol.asyncDispose]
 *
 * How: records go into a WalRing in a shared WebAssembly memory (one fetch-add per
 * record, no lock), a durability worker thread writes and fdatasyncs them in groups
 * (src/wal/durability-worker.ts), and appends wait for the durable LSN with one
 * Atomics.waitAsync per thread (src/wal/durable-waiters.ts). Opening runs recovery
 * (src/wal/recovery.ts) before anything is appended.
 *
 * Threads: a Log belongs to the thread that opened or attached it; the ring and the
 * files are shared with the durability worker and with attached handles in workers.
 * Only the opening handle closes the log, trims it and owns the directory lock.
 */
import { rejectUnknownNames } from "../nearest-name.ts";
import { Core, CoreError, Status } from "../core/core.ts";
import { makeDirDurable } from "../durable-dirs.ts";
import { ClosedError, publicError } from "../errors.ts";
import { acquireDirLock, type DirLock } from "../lock.ts";
import type { FaultPlan } from "../platform-faults.ts";
import type { Platform, WorkerHandle } from "../platform.ts";
import { spawnJob } from "../worker-pool.ts";
import type { DurabilityArgs, DurabilityMessage } from "./durability-worker.ts";
import { AppendQueue } from "./append-queue.ts";
import { DurableWaiters } from "./durable-waiters.ts";
import { readDurableMark } from "./durable-mark.ts";
import { FailCode, RECORD_BYTES_MAX, recordBytes, Ring, RING_HEADER_BYTES, RING_MAGIC, RingState, SEGMENT_HEADER_BYTES, WalStatus } from "./format.ts";
import { recoverLog, type RecoveryReport, setAsideBelowFloor } from "./recovery.ts";
import { RingView } from "./ring.ts";
import { listSegmentFiles, trimSegments } from "./segment-files.ts";
import { type LogRecord, type StreamOptions, streamRecords } from "./stream.ts";

export type { LogRecord, StreamOptions } from "./stream.ts";
export type { RecoveryReport } from "./recovery.ts";

export type Durability = "full" | "async";
export type Coordination = "auto" | "required" | "single-process-unsafe";

/** Every LogOptions name (a typo is refused with the nearest). */
const LOG_OPTION_NAMES = ["segmentBytesMax", "batchIntervalUs", "durability", "bufferBytes", "salvage", "coordination", "coordinationTimeoutMs", "faults"] as const;
const STREAM_OPTION_NAMES = ["from", "follow", "signal"] as const;

export interface LogOptions {
  /** A new segment starts when the current one would pass this size. Default 64 MiB; 4 KiB to 1 GiB. */
  segmentBytesMax?: number;
  /** async durability: longest a record waits before its sync, in microseconds. Default 1000; 0 to 1,000,000. */
  batchIntervalUs?: number;
  /** "full" (default): append resolves after the fdatasync that covers it. "async": at once. */
  durability?: Durability;
  /** Size of the shared buffer between writers and the durability worker; a power of two, 64 KiB to 256 MiB. Default 8 MiB. */
  bufferBytes?: number;
  /** Open a log with corruption in the middle by cutting it at the first bad record (reported in `recovery`). */
  salvage?: boolean;
  /** "auto"/"required": take the directory lock (one writer process); "single-process-unsafe": take none. */
  coordination?: Coordination;
  /** How long to wait for another process's lock before LockedError. Default 0. */
  coordinationTimeoutMs?: number;
  /** @internal For tests: make the durability worker's n-th write or sync fail (src/platform-faults.ts). */
  faults?: FaultPlan;
}

/** How the engine embeds a log (not part of the public options). */
export interface LogEmbedding {
  /** Put the ring in this core's memory instead of a new one. */
  core?: Core;
  /** A new log's first LSN (a multiple of 8); an existing log continues where it ends. */
  startLsn?: number;
  /**
   * Every record below this LSN is held elsewhere (the engine's tables, below its
   * checkpoint). A log that ends below `startLsn` (where the engine's seqs must go on; only
   * a salvage cut leaves one) is set aside and a new one begun at `startLsn` when nothing
   * left in it is at or past `heldBelow` (R9), and otherwise goes on at its end with R10 in
   * `recovery.decisions`: the embedder must move those records into what it holds below
   * `heldBelow` and open again (recovery.ts, setAsideBelowFloor; docs/RECOVERY.md G4a).
   */
  heldBelow?: number;
  /**
   * Return before the durability worker has opened its segment (its fsyncs overlap the
   * caller's work); the caller must await `started` (a failure to start rejects it).
   */
  deferStart?: boolean;
  /** Publish the durable LSN in this file for other processes (src/wal/durable-mark.ts). */
  durableMarkPath?: string;
  /** The caller reads and checks every record from here to the end next (RecoveryOptions.readerChecksFromLsn). */
  readerChecksFromLsn?: number;
  /** Salvage: called before the log gives up records (RecoveryOptions.beforeSalvageLoss). */
  beforeSalvageLoss?: () => void;
}

export interface LogLimits {
  /** Largest payload of one record, in bytes. */
  recordBytesMax: number;
  segmentBytesMax: number;
  bufferBytes: number;
}

export interface LogStats {
  /** Records appended through this handle. */
  appends: number;
  /** Bytes appended to the log since it was opened, by every thread (framing included). */
  bytes: number;
  /** fdatasync calls that made records durable. */
  syncs: number;
  /** Records made durable since the log was opened, by every thread. */
  syncedRecords: number;
  /** syncedRecords / syncs. */
  recordsPerSync: number;
  durableLsn: bigint;
  currentLsn: bigint;
  /** Segment files in the log directory. */
  segments: number;
  /** Appends waiting for durability on this handle. */
  waiting: number;
  state: "open" | "closing" | "closed" | "failed";
}

/** What `log.share()` returns: structured-cloneable, for `attachLog` in a worker. */
export interface SharedLogHandle {
  kind: "shardline-log";
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ring: number;
  dir: string;
  durability: Durability;
  /** The LSN the log was at when its opener opened it (LogStats.bytes counts from there on every handle). */
  openedAtLsn: number;
}

export type LogData = Uint8Array | string;

/** The fields of a `log.share()` result, each of its type (TypeError), before anything attaches. */
function checkLogHandle(handle: SharedLogHandle): void {
  const what = "attachLog expects the value returned by log.share()";
  if (typeof handle !== "object" || handle === null || handle.kind !== "shardline-log") throw new TypeError(what);
  if (!(handle.module instanceof WebAssembly.Module)) throw new TypeError(`${what}: its module is not a WebAssembly.Module`);
  if (!(handle.memory instanceof WebAssembly.Memory)) throw new TypeError(`${what}: its memory is not a WebAssembly.Memory`);
  if (typeof handle.dir !== "string") throw new TypeError(`${what}: its dir is not a string`);
  const inMemory = Number.isSafeInteger(handle.ring) && handle.ring >= 64 && handle.ring % 8 === 0 && handle.ring + RING_HEADER_BYTES <= handle.memory.buffer.byteLength;
  if (!inMemory) throw new TypeError(`${what}: its ring address is not one`);
  if (handle.durability !== "full" && handle.durability !== "async") throw new TypeError(`${what}: its durability is ${JSON.stringify(handle.durability)}`);
}

const MIB = 1024 * 1024;
const DEFAULTS = { segmentBytesMax: 64 * MIB, batchIntervalUs: 1000, bufferBytes: 8 * MIB };
/** Shared memory beyond the buffer: thread blocks (~1 MiB each) and stream buffers (1 MiB each). */
const MEMORY_HEADROOM_BYTES = 192 * MIB;
const encoder = new TextEncoder();

/** TypeError for a value that is no number (as open's options: src/engine/options.ts), RangeError for one out of range. */
function checkInteger(name: string, value: number, min: number, max: number): void {
  if (typeof value !== "number") throw new TypeError(`${name} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

function toBytes(data: LogData): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return plainView(data);
  throw new TypeError(`log records must be Uint8Array or string, got ${data === null ? "null" : typeof data}`);
}

/**
 * A plain Uint8Array over the caller's bytes, made before anything is reserved: a detached
 * array (its buffer transferred) is a TypeError here, and the ring's copy then calls no
 * method of the caller's object (a subclass's `subarray`). Either used to throw between a
 * record's reservation and its publication, and a reservation never published wedged the
 * log: nothing after it became durable, and close() failed 5 s later (review of
 * shardline/wal, 2026-12-07).
 */
function plainView(data: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (error) {
    throw new TypeError("a log record's Uint8Array is detached (its buffer was transferred): there are no bytes to append", { cause: error });
  }
}

/** The effective limits for a set of options (RangeError for bad ones). */
export function logLimits(options: LogOptions): LogLimits {
  const segmentBytesMax = options.segmentBytesMax ?? DEFAULTS.segmentBytesMax;
  const bufferBytes = options.bufferBytes ?? DEFAULTS.bufferBytes;
  checkInteger("segmentBytesMax", segmentBytesMax, 4096, 1024 * MIB);
  checkInteger("bufferBytes", bufferBytes, 64 * 1024, 256 * MIB);
  if ((bufferBytes & (bufferBytes - 1)) !== 0) throw new RangeError(`bufferBytes must be a power of two, got ${bufferBytes}`);
  const room = Math.min(bufferBytes, segmentBytesMax - SEGMENT_HEADER_BYTES);
  return { recordBytesMax: Math.min(RECORD_BYTES_MAX, room - 19), segmentBytesMax, bufferBytes };
}

export class Log implements AsyncDisposable {
  #appends = 0;
  #closed = false;
  #closing: Promise<void> | undefined;
  /** close() has finished (stats say "closing" from close() until then). */
  #closeDone = false;
  readonly #waiters: DurableWaiters;
  readonly #queue: AppendQueue;
  readonly #openedAtLsn: number;

  private constructor(
    private readonly platform: Platform,
    private readonly core: Core,
    private readonly ring: RingView,
    readonly dir: string,
    readonly durability: Durability,
    /** What recovery found and did when the log was opened (undefined on attached handles). */
    readonly recovery: RecoveryReport | undefined,
    readonly limits: LogLimits,
    private readonly owner: { worker: WorkerHandle; lock: DirLock | undefined; closed: Promise<void>; started: Promise<void> } | undefined,
    openedAtLsn?: number,
  ) {
    if (!(core instanceof Core)) throw new TypeError("Log has no public constructor: openLog(dir, options) gives one");
    this.#waiters = new DurableWaiters(ring, `log ${dir}`);
    this.#queue = new AppendQueue(ring);
    this.#openedAtLsn = openedAtLsn ?? ring.reserveHead;
  }

  /** Opens (creating if needed) the log in `dir`, recovering it first. */
  static async open(platform: Platform, dir: string, given: LogOptions = {}, embedding: LogEmbedding = {}): Promise<Log> {
    if (typeof dir !== "string" || dir.length === 0) throw new TypeError("log directory must be a non-empty string");
    if (typeof given !== "object" || given === null) throw new TypeError("log options must be an object");
    // Each option read once, here: a getter that answered the checks `false` and recovery
    // "yes" turned salvage on, and a corrupt log was cut (review, 2026-12-06).
    const options: LogOptions = { ...given };
    // As open's: a misspelt option is an error, not a default silently taken (review, 2026-12-06).
    rejectUnknownNames(options, LOG_OPTION_NAMES);
    const limits = logLimits(options);
    const batchIntervalUs = options.batchIntervalUs ?? DEFAULTS.batchIntervalUs;
    checkInteger("batchIntervalUs", batchIntervalUs, 0, 1_000_000);
    const durability = options.durability ?? "full";
    if (durability !== "full" && durability !== "async") throw new RangeError(`durability must be "full" or "async", got ${String(durability)}`);
    const coordination = options.coordination ?? "auto";
    if (!["auto", "required", "single-process-unsafe"].includes(coordination)) throw new RangeError(`coordination must be "auto", "required" or "single-process-unsafe"`);

    const coordinationTimeoutMs = options.coordinationTimeoutMs ?? 0;
    checkInteger("coordinationTimeoutMs", coordinationTimeoutMs, 0, 3_600_000);
    // A truthy string ("false") turned salvage on, and recovery cut a log a corrupt record
    // should have refused (review of the limits, 2026-12-06).
    if (options.salvage !== undefined && typeof options.salvage !== "boolean") throw new TypeError(`salvage must be a boolean, got ${typeof options.salvage}`);

    makeDirDurable(platform, dir, "fsync-entry"); // found, its entry may be the page cache's only (durable-dirs.ts)
    const lock = coordination === "single-process-unsafe" ? undefined : await acquireDirLock(platform, dir, { timeoutMs: coordinationTimeoutMs, kind: "log" });
    let worker: WorkerHandle | undefined;
    try {
      const core = embedding.core ?? await Core.create({
        shards: 1,
        memoryBytesMax: limits.bufferBytes + MEMORY_HEADROOM_BYTES,
      });
      const durableAtLeast = embedding.durableMarkPath === undefined ? undefined : readDurableMark(platform, embedding.durableMarkPath);
      let recovered = recoverLog(core, platform, dir, {
        salvage: options.salvage,
        readerChecksFromLsn: embedding.readerChecksFromLsn,
        durableAtLeast,
        beforeSalvageLoss: embedding.beforeSalvageLoss,
      });
      if (embedding.startLsn !== undefined && embedding.heldBelow !== undefined) {
        recovered = setAsideBelowFloor(platform, dir, recovered, embedding.startLsn, embedding.heldBelow);
      }
      if (recovered.isNew && embedding.startLsn !== undefined) {
        if (embedding.startLsn % 8 !== 0) throw new RangeError(`startLsn must be a multiple of 8, got ${embedding.startLsn}`);
        recovered.nextLsn = Math.max(recovered.nextLsn, embedding.startLsn);
      }
      const ringBytes = RING_HEADER_BYTES + limits.bufferBytes;
      const ringAt = core.exports.coreAlloc(ringBytes) >>> 0;
      if (ringAt < 64) throw new RangeError("no shared memory for the log buffer");
      const status = core.exports.walRingFormat(ringAt, limits.bufferBytes, recovered.salt, BigInt(recovered.nextLsn), limits.recordBytesMax);
      if (status !== WalStatus.OK) throw new RangeError(`cannot format the log buffer (status ${status})`);
      const ring = new RingView(core, ringAt);

      const lastNumber = recovered.last?.number ?? 0;
      const args: DurabilityArgs = {
        ring: ringAt,
        dir,
        salt: recovered.salt,
        segmentBytesMax: limits.segmentBytesMax,
        durability,
        batchIntervalUs,
        last: recovered.last,
        fresh: { number: lastNumber + 1, firstLsn: recovered.nextLsn },
        faults: options.faults,
        durableMarkPath: embedding.durableMarkPath,
        durableMarkFound: durableAtLeast,
      };
      worker = spawnJob(platform, { role: "durability", module: core.module, memory: core.memory, args, wakeAddress: ringAt + Ring.WAKE_SEQ });
      const spawned = worker;
      let closedResolve!: () => void;
      const closed = new Promise<void>((resolve) => (closedResolve = resolve));
      const started = new Promise<void>((resolve, reject) => {
        spawned.onMessage((message) => {
          const m = message as DurabilityMessage | { type: "error"; message: string };
          if (m.type === "started") resolve();
          else if (m.type === "closed") closedResolve();
          else if (m.type === "failed" || m.type === "error") {
            // The ring is already FAILED (the worker set it before posting) unless the
            // worker died some other way: make sure every writer sees the failure.
            if (ring.state !== RingState.FAILED) ring.setState(RingState.FAILED, FailCode.OTHER, "EWORKER");
            reject(ring.stateError(`log ${dir}`));
            closedResolve();
          }
        });
        spawned.onError((error) => {
          if (ring.state !== RingState.FAILED) ring.setState(RingState.FAILED, FailCode.OTHER, "EWORKER");
          reject(ring.stateError(`log ${dir}`, error.message));
          closedResolve();
        });
      });
      const log = new Log(platform, core, ring, dir, durability, recovered.report, limits, { worker: spawned, lock, closed, started });
      if (embedding.deferStart) {
        // Not once close() began: it took the reference back to wait for the worker's
        // "closed", and an unref after it left the process nothing keeping it alive while it
        // waited (Node ended it, exit 13, inside an `await open(...)` that refused the
        // directory: tests/wal/close-before-start.test.ts).
        started.then(() => {
          if (!log.#closed) spawned.unref();
        }, () => {});
        return log;
      }
      await started;
      spawned.unref();
      return log;
    } catch (error) {
      await worker?.terminate();
      lock?.release();
      throw error;
    }
  }

  /**
   * A handle on a log another thread opened (see `share`). Every field of the handle is
   * checked (TypeError), and its ring address must hold a formatted ring: a handle whose
   * `ring` was another address attached to whatever was there (a ring of 0 bytes, where an
   * append waited for ever), and one attach past the shared headroom threw the core's
   * internal error, not the RangeError the README names (review, 2026-12-06).
   */
  static async attach(platform: Platform, given: SharedLogHandle): Promise<Log> {
    const handle: SharedLogHandle = typeof given === "object" && given !== null ? { ...given } : given; // each field read once
    checkLogHandle(handle);
    let core: Core;
    try {
      core = await Core.attach(handle.module, handle.memory);
    } catch (error) {
      if (error instanceof CoreError && error.status === Status.NO_MEMORY) {
        throw new RangeError(`cannot attach to log ${handle.dir}: its ${MEMORY_HEADROOM_BYTES / MIB} MiB of shared headroom (attached threads' blocks and streams' buffers) has no room for one more; close some first`);
      }
      throw error;
    }
    try {
      const ring = new RingView(core, handle.ring);
      const formatted = core.u32[(handle.ring + Ring.MAGIC) >>> 2] === RING_MAGIC && ring.capacity > 0 && ring.data + ring.capacity <= core.memory.buffer.byteLength;
      if (!formatted) throw new TypeError("attachLog expects the value returned by log.share(): its ring address holds no log buffer");
      const limits = { recordBytesMax: ring.recordBytesMax, segmentBytesMax: 0, bufferBytes: ring.capacity };
      const openedAtLsn = Number.isSafeInteger(handle.openedAtLsn) && handle.openedAtLsn >= 0 && handle.openedAtLsn <= ring.reserveHead ? handle.openedAtLsn : ring.reserveHead;
      return new Log(platform, core, ring, handle.dir, handle.durability, undefined, limits, undefined, openedAtLsn);
    } catch (error) {
      core.detach(); // gives its ThreadBlock back
      throw error;
    }
  }

  /** Settles when the durability worker has opened its segment, or failed to (opening handle only). */
  get started(): Promise<void> {
    return this.owner?.started ?? Promise.resolve();
  }

  /** The ring's address in the log's shared memory (for the engine). */
  get ringAddress(): number {
    return this.ring.ring;
  }

  /** The core whose memory holds the ring. */
  get sharedCore(): Core {
    return this.core;
  }

  /** Structured-cloneable handle for `attachLog` in a worker thread. */
  share(): SharedLogHandle {
    this.#checkOpen();
    return { kind: "shardline-log", module: this.core.module, memory: this.core.memory, ring: this.ring.ring, dir: this.dir, durability: this.durability, openedAtLsn: this.#openedAtLsn };
  }

  /** The LSN the log was at when it was opened: where the records recovery found end. */
  get openedAtLsn(): number {
    return this.#openedAtLsn;
  }

  get durableLsn(): bigint {
    return BigInt(this.ring.durableLsn);
  }

  /** The LSN the next record will get (records reserved by any thread are below it). */
  get currentLsn(): bigint {
    return BigInt(this.ring.reserveHead);
  }

  /**
   * Appends; resolves with the LSN (or LSNs, for an array) once durable (full) or buffered
   * (async). Records take LSNs in the order of this handle's calls (AppendQueue): an
   * array's records are contiguous among them, and an array with a record over
   * recordBytesMax is refused whole. The bytes are read during the call.
   */
  append(data: LogData): Promise<bigint>;
  append(data: LogData[]): Promise<bigint[]>;
  append(data: LogData | LogData[]): Promise<bigint | bigint[]> {
    if (this.#closed) return Promise.reject(new ClosedError(`log ${this.dir}`));
    try {
      if (Array.isArray(data)) return this.#appendMany(this.#records(data));
      const bytes = this.#records([data])[0];
      const lsn = this.#queue.add(bytes);
      this.#appends++;
      if (typeof lsn !== "number") return this.#acknowledge(lsn, bytes.length);
      if (this.durability === "async") return Promise.resolve(BigInt(lsn));
      return this.#waiters.wait(lsn + recordBytes(bytes.length)).then(() => BigInt(lsn));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** `data` as records, each within recordBytesMax (RangeError naming the first that is not, before anything is appended). */
  #records(data: LogData[]): Uint8Array[] {
    const all = data.map(toBytes);
    for (const bytes of all) {
      if (bytes.length > this.limits.recordBytesMax) throw new RangeError(`record is ${bytes.length} bytes; the limit is ${this.limits.recordBytesMax} bytes (recordBytesMax)`);
    }
    return all;
  }

  async #acknowledge(reserved: Promise<number>, length: number): Promise<bigint> {
    const lsn = await reserved;
    if (this.durability === "full") await this.#waiters.wait(lsn + recordBytes(length));
    return BigInt(lsn);
  }

  async #appendMany(all: Uint8Array[]): Promise<bigint[]> {
    const reserved = all.map((bytes) => this.#queue.add(bytes)); // in order, now: nothing of this handle comes between
    this.#appends += all.length;
    const lsns = await Promise.all(reserved);
    const last = lsns.length - 1;
    if (this.durability === "full" && last >= 0) await this.#waiters.wait(lsns[last] + recordBytes(all[last].length));
    return lsns.map(BigInt);
  }

  /**
   * Appends and returns the LSN(s) at once, blocking only while the buffer is full; durable
   * later. Appends of this handle still waiting for room are reserved first, in order.
   */
  appendNow(data: LogData): bigint;
  appendNow(data: LogData[]): bigint[];
  appendNow(data: LogData | LogData[]): bigint | bigint[] {
    this.#checkOpen();
    const all = this.#records(Array.isArray(data) ? data : [data]);
    this.#queue.drainBlocking();
    const lsns = all.map((bytes) => BigInt(this.ring.appendBlocking(bytes)));
    this.#appends += all.length;
    return Array.isArray(data) ? lsns : lsns[0];
  }

  /**
   * Appends and blocks this thread until the record is durable (for worker threads, where
   * blocking is cheaper than an event-loop round trip).
   */
  appendSync(data: LogData): bigint {
    this.#checkOpen();
    const bytes = this.#records([data])[0];
    this.#queue.drainBlocking();
    const lsn = this.ring.appendBlocking(bytes);
    this.#appends++;
    this.#waiters.waitSync(lsn + recordBytes(bytes.length));
    return BigInt(lsn);
  }

  /** Resolves when every record at or below `lsn` (of those appended so far) is durable. */
  flushUntil(lsn: bigint = this.currentLsn): Promise<void> {
    if (typeof lsn !== "bigint" || lsn < 0n) return Promise.reject(new TypeError("flushUntil expects a non-negative bigint LSN"));
    const target = Math.min(Number(lsn) + 1, this.ring.reserveHead);
    // Under "async" the durability worker would gather for batchIntervalUs first.
    if (this.durability === "async") this.ring.requestSync(target);
    return this.#waiters.wait(target);
  }

  /** Records from `from` on, durable ones only; with `follow`, waits for more. */
  stream(options: StreamOptions = {}): AsyncIterable<LogRecord> {
    this.#checkOpen();
    if (typeof options !== "object" || options === null) throw new TypeError("stream options must be an object");
    // As openLog's: `{ form: 0n }` read the whole log with nothing said (review, 2026-12-06).
    rejectUnknownNames(options, STREAM_OPTION_NAMES);
    // Each option read once: a getter that answered the checks with a bigint and the
    // stream with a string started it at NaN, spinning for ever (review, 2026-12-06).
    const { from, follow, signal } = options;
    if (from !== undefined && (typeof from !== "bigint" || from < 0n)) throw new TypeError("stream's from must be a non-negative bigint LSN");
    if (follow !== undefined && typeof follow !== "boolean") throw new TypeError("stream's follow must be a boolean");
    const s = signal as { aborted?: unknown; addEventListener?: unknown } | undefined;
    if (s !== undefined && (typeof s !== "object" || s === null || typeof s.aborted !== "boolean" || typeof s.addEventListener !== "function")) {
      throw new TypeError("stream's signal must be an AbortSignal");
    }
    const source = { core: this.core, platform: this.platform, dir: this.dir, ring: this.ring, closed: () => this.#closed, owner: this.owner !== undefined };
    return withPublicErrors(streamRecords(source, { from, follow, signal }));
  }

  /**
   * Deletes every segment whose records all lie below `lsn` (never the segment being
   * written). Resolves with the number of segments removed and the oldest LSN kept.
   */
  async trimBefore(lsn: bigint): Promise<{ segmentsRemoved: number; firstLsn: bigint }> {
    this.#checkOpen();
    if (!this.owner) throw new TypeError("trimBefore is only available on the handle that opened the log");
    if (typeof lsn !== "bigint" || lsn < 0n) throw new TypeError("trimBefore expects a non-negative bigint LSN");
    try {
      const { removed, kept } = trimSegments(this.platform, this.dir, Number(lsn));
      return { segmentsRemoved: removed, firstLsn: BigInt(kept[0]?.firstLsn ?? this.ring.durableLsn) };
    } catch (error) {
      throw publicError(error);
    }
  }

  /** Segment files in the log's directory, for stats (a file-system failure is a FileSystemError). */
  #segmentCount(): number {
    try {
      return listSegmentFiles(this.platform, this.dir).length;
    } catch (error) {
      throw publicError(error);
    }
  }

  stats(): LogStats {
    const ring = this.ring;
    const syncs = ring.syncs;
    const syncedRecords = ring.syncedRecords;
    const state = ring.state;
    return {
      appends: this.#appends,
      bytes: ring.reserveHead - this.#openedAtLsn,
      syncs,
      syncedRecords,
      recordsPerSync: syncs === 0 ? 0 : syncedRecords / syncs,
      durableLsn: BigInt(ring.durableLsn),
      currentLsn: BigInt(ring.reserveHead),
      segments: this.#segmentCount(),
      waiting: this.#waiters.pending,
      state: state === RingState.FAILED ? "failed" : this.#closeDone || state === RingState.CLOSED ? "closed" : this.#closed || state === RingState.CLOSING ? "closing" : "open",
    };
  }

  /**
   * Closes the log: later appends are refused with ClosedError, every record appended
   * before is written and synced, the worker stops and the lock is released. On an
   * attached handle, only that handle closes. Rejects with the log's WalFailedError, after
   * all of that, if the log failed: records appended before may then be missing.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    // Appends made before close() and still waiting for room go in first (AppendQueue).
    await this.#queue.whenIdle();
    if (this.owner) {
      if (this.ring.state === RingState.OPEN) this.ring.setState(RingState.CLOSING);
      this.owner.worker.ref();
      await this.owner.closed;
      await this.owner.worker.terminate();
      this.owner.lock?.release();
    }
    // A failed log may not hold what was appended before close() (appendNow's records
    // say nothing else): close() must not resolve as if it did.
    const failed = this.ring.state === RingState.FAILED ? this.ring.stateError(`log ${this.dir}`) : undefined;
    if (!this.owner) this.core.detach();
    this.#closeDone = true;
    if (failed) throw failed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError(`log ${this.dir}`);
  }
}

/**
 * `records` with the platform's file-system errors as the public FileSystemError (as
 * openLog's are): a stream's reads fail after open too. return() reaches `records`.
 */
async function* withPublicErrors<T>(records: AsyncGenerator<T, void, undefined>): AsyncGenerator<T, void, undefined> {
  try {
    yield* records;
  } catch (error) {
    throw publicError(error);
  }
}
