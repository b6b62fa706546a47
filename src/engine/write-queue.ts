/**
 * WriteQueue: the bounded FIFO behind `db.enqueue(ops, { timeoutMs, signal })`, with
 * strict group commit (docs/ENGINE.md "Queued writes").
 *
 * A request is a self-contained write: `ops` as for `db.batch`, applied atomically. It is
 * admitted into the queue (or refused at once: full, closed, database failed, signal
 * already aborted, bad options), waits, and then either starts or leaves unwritten:
 * timed out (`TimeoutError`, SHARDLINE_TIMEOUT) or cancelled by its signal (`AbortError`).
 * Groups of up to `maxBatch` ready requests start together, oldest first. Executing a
 * group: each request is validated (the batch parser, shared with `db.batch`; bad input
 * fails that request alone) and written through the database's write paths without
 * waiting for durability, in submit order; then one wait for the group WAL's durable LSN
 * to pass the largest LSN the group wrote; then every request of the group resolves with
 * its commit timestamp. Only then does the next group start.
 *
 * Invariants:
 * - FIFO: requests start in submit order, and they are written in that order, so writes
 *   to one shard take increasing commit timestamps in submit order. Not ordered against
 *   the handle's direct writes: one made before a request's group starts is written first
 *   (docs/ENGINE.md "Queued writes").
 * - Strict: a request resolves only after the fdatasync covering its write returned,
 *   whatever the database's `durability` option (under "async" a group therefore also
 *   waits out the durability worker's batch interval).
 * - A request that started gets its real outcome (its timestamp or its own error): its
 *   signal and its timeout are ignored from the moment it starts. One that did not start
 *   wrote nothing.
 * - One group at a time; `depth` (requests admitted, not yet started) never exceeds
 *   `capacity`. Counters (see WriteQueueStats): admitted = depth + timedOut + canceled +
 *   executed at all times; committed + failed = executed once no group is running.
 * - Closing drains: requests admitted before `close()` still run (or time out, or are
 *   cancelled) and settle; later ones are refused with QueueClosedError; `close()`
 *   resolves once nothing is queued or running.
 *
 * Threads: one queue per Database handle, owned by the thread that opened or attached it
 * (it lives on that thread's event loop; its writes take that handle's write paths).
 * Limits: capacity 1 to 1,000,000 requests; maxBatch 1 to capacity; one timer per
 * waiting request that has a timeout; maxGroupDelayUs is rounded by the host's timers
 * (about a millisecond).
 */
import { QueueClosedError, QueueFullError, TimeoutError } from "../errors.ts";
import { rejectUnknownNames } from "../nearest-name.ts";
import { type ResolvedWriteQueueOptions, TIMEOUT_MS_MAX } from "./options.ts";

const ENQUEUE_OPTION_NAMES = ["timeoutMs", "signal"] as const;

/** `db.enqueue`'s second argument. */
export interface EnqueueOptions {
  /** Give up if the request has not started within this many ms (0 = never). Default: `writeQueue.timeoutMs`. */
  timeoutMs?: number;
  /** Cancels the request if it has not started yet. */
  signal?: AbortSignal;
}

/** What writing one request did: its commit timestamp and the LSN its durability waits for (0: nothing written). */
export interface Applied {
  ts: bigint;
  durableAt: number;
}

/** What the queue needs from its database (the hook Database gives it; a fake in tests). */
export interface WriteQueueSink<P> {
  /** Parses and validates one request's operations; throws TypeError or RangeError. */
  parse(ops: unknown): P;
  /** Writes parsed operations atomically without waiting for durability (throws or rejects on failure). */
  apply(parsed: P): Applied | Promise<Applied>;
  /** Resolves once the group WAL is durable up to `lsn`; rejects if it failed or closed first. */
  waitDurable(lsn: number): Promise<void>;
  /** The group WAL's durable LSN now. */
  durableLsn(): number;
  /** The group WAL's fdatasync count now (stats().wal.syncs). */
  syncs(): number;
  /** The error a write would get now (the database failed), or undefined. */
  refusal(): Error | undefined;
  /** The most operations and key-and-value bytes one request may hold (what `parse` enforces too). */
  readonly requestOpsMax: number;
  readonly requestBytesMax: number;
  /** The errors for a request over them: `ops` operations, or at least `bytesAtLeast` bytes. */
  tooManyOps(ops: number): Error;
  tooManyBytes(bytesAtLeast: number): Error;
}

/**
 * `db.stats().writeQueue`, counts for this handle's queue since it opened:
 * - depth: requests admitted and not yet started (what `capacity` bounds).
 * - admitted: requests accepted into the queue.
 * - rejected: enqueue calls refused at once, never admitted: queue full, queue closed,
 *   database failed, signal already aborted, or invalid enqueue options.
 * - timedOut: admitted requests whose timeout expired before they started.
 * - canceled: admitted requests whose signal aborted before they started.
 * - executed: requests that started (taken into a group), whatever their outcome.
 * - committed: started requests that resolved with a commit timestamp (durable).
 * - failed: started requests that rejected (bad input, a write error, a failed log).
 * - groupedBatches: groups executed (a group of one counts).
 * - physicalSyncs: fdatasyncs of the group WAL that completed while a group was between
 *   its first write and its durability; groups never overlap, so none is counted twice.
 *   Every sync that made a queued write durable is counted; syncs in those windows that
 *   only covered other writes (put/batch on any thread, the actor) are counted too, since
 *   they share the log.
 * - syncsSaved: committed − physicalSyncs, never negative: syncs a sync-per-request
 *   scheme would have added.
 * Always: admitted = depth + timedOut + canceled + executed; committed + failed <= executed,
 * equal when no group is running.
 */
export interface WriteQueueStats {
  depth: number;
  admitted: number;
  rejected: number;
  timedOut: number;
  canceled: number;
  executed: number;
  committed: number;
  failed: number;
  groupedBatches: number;
  physicalSyncs: number;
  syncsSaved: number;
}

interface Request {
  ops: unknown;
  resolve: (ts: bigint) => void;
  reject: (error: unknown) => void;
  timeoutMs: number;
  /** performance.now() when it was admitted: maxGroupDelayUs counts from the oldest waiting. */
  admittedAt: number;
  /** performance.now() past which it may no longer start; Infinity without a timeout. */
  deadline: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** The error for a request its signal cancelled: the signal's reason if it is an AbortError DOMException. */
export function abortError(reason: unknown): Error {
  if (reason instanceof DOMException && reason.name === "AbortError") return reason;
  const error = new DOMException("the queued write was cancelled before it started; nothing was written", "AbortError");
  if (reason !== undefined) Object.defineProperty(error, "cause", { value: reason, configurable: true, writable: true });
  return error;
}

export class WriteQueue<P> {
  /** Admitted requests not yet started, oldest first (a Set: O(1) removal on timeout or abort). */
  readonly #waiting = new Set<Request>();
  /** idle: nothing scheduled; soon: a start is queued as a microtask; delaying: maxGroupDelayUs timer; running: a group executes. */
  #phase: "idle" | "soon" | "delaying" | "running" = "idle";
  #delayTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #drained: Promise<void> | undefined;
  #onDrained: (() => void) | undefined;
  #n = { admitted: 0, rejected: 0, timedOut: 0, canceled: 0, executed: 0, committed: 0, failed: 0, groupedBatches: 0, physicalSyncs: 0 };

  constructor(
    private readonly config: ResolvedWriteQueueOptions,
    private readonly sink: WriteQueueSink<P>,
    /** Names the database in errors. */
    private readonly what: string,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  enqueue(ops: unknown, options?: EnqueueOptions): Promise<bigint> {
    if (this.#closed) return this.#refuse(new QueueClosedError(this.what));
    // Every read of the caller's objects first (the operations' copy, the options): each may
    // run the caller's code (a getter, a Proxy) that aborts the signal, closes the handle or
    // enqueues again. The checks come after all of it, and admission follows them in the
    // same synchronous run: checked before the copy, an abort, a close or a nested enqueue
    // during it went unseen (the request admitted after close's drain, depth past capacity:
    // review of the write queue, 2026-12-07). One that throws while read is refused here,
    // counted as rejected, rather than failing outside every counter.
    let owned: unknown;
    let timeoutMs: number;
    let signal: AbortSignal | undefined;
    try {
      owned = ownOperations(ops, this.sink);
      ({ timeoutMs, signal } = this.#options(options));
    } catch (error) {
      return this.#refuse(error);
    }
    if (this.#closed) return this.#refuse(new QueueClosedError(this.what));
    if (signal?.aborted) return this.#refuse(abortError(signal.reason));
    const refusal = this.sink.refusal();
    if (refusal) return this.#refuse(refusal);
    if (this.#waiting.size >= this.config.capacity) return this.#refuse(new QueueFullError(this.config.capacity));
    return new Promise<bigint>((resolve, reject) => {
      const now = performance.now();
      const r: Request = { ops: owned, resolve, reject, timeoutMs, admittedAt: now, deadline: Infinity, timer: undefined, signal, onAbort: undefined };
      if (timeoutMs > 0) {
        r.deadline = now + timeoutMs;
        r.timer = setTimeout(() => this.#expire(r), timeoutMs);
      }
      if (signal) {
        r.onAbort = () => this.#cancel(r);
        signal.addEventListener("abort", r.onAbort, { once: true });
      }
      this.#waiting.add(r);
      this.#n.admitted++;
      this.#schedule();
    });
  }

  stats(): WriteQueueStats {
    const n = this.#n;
    return { depth: this.#waiting.size, ...n, syncsSaved: Math.max(0, n.committed - n.physicalSyncs) };
  }

  /** Refuses new requests; resolves once every admitted one has settled (started ones included). */
  close(): Promise<void> {
    this.#closed = true;
    this.#drained ??= new Promise<void>((resolve) => (this.#onDrained = resolve));
    this.#schedule();
    this.#checkDrained();
    return this.#drained;
  }

  #options(options: EnqueueOptions | undefined): { timeoutMs: number; signal: AbortSignal | undefined } {
    if (options === undefined) return { timeoutMs: this.config.timeoutMs, signal: undefined };
    if (typeof options === "object" && options !== null) rejectUnknownNames(options, ENQUEUE_OPTION_NAMES);
    if (typeof options !== "object" || options === null) throw new TypeError("enqueue options must be an object");
    let timeoutMs = this.config.timeoutMs;
    const given = options.timeoutMs; // read once
    if (given !== undefined) {
      timeoutMs = given;
      if (typeof timeoutMs !== "number") throw new TypeError(`timeoutMs must be a number, got ${typeof timeoutMs}`);
      if (!Number.isInteger(timeoutMs) || timeoutMs < 0 || timeoutMs > TIMEOUT_MS_MAX) {
        throw new RangeError(`timeoutMs must be an integer from 0 to ${TIMEOUT_MS_MAX}, got ${timeoutMs}`);
      }
    }
    const signal = options.signal;
    if (signal !== undefined && (typeof signal !== "object" || signal === null || typeof signal.aborted !== "boolean" || typeof signal.addEventListener !== "function")) {
      throw new TypeError("signal must be an AbortSignal");
    }
    return { timeoutMs, signal };
  }

  #refuse(error: unknown): Promise<bigint> {
    this.#n.rejected++;
    return Promise.reject(error);
  }

  /** Stops watching a request's timer and signal (it started or left the queue). */
  #detach(r: Request): void {
    if (r.timer !== undefined) clearTimeout(r.timer);
    if (r.onAbort) r.signal!.removeEventListener("abort", r.onAbort);
    r.timer = undefined;
    r.onAbort = undefined;
  }

  #expire(r: Request): void {
    if (!this.#waiting.delete(r)) return;
    this.#detach(r);
    this.#n.timedOut++;
    r.reject(new TimeoutError(r.timeoutMs));
    this.#left();
  }

  #cancel(r: Request): void {
    if (!this.#waiting.delete(r)) return;
    this.#detach(r);
    this.#n.canceled++;
    r.reject(abortError(r.signal!.reason));
    this.#left();
  }

  /**
   * After a waiting request left before it started: if it was the last, the group delay
   * it was waiting out has no one to wait for, so the queue is idle again (a close()
   * then resolves at once, not when the delay's timer ran an empty group: review of the
   * queue, 2026-12-07).
   */
  #left(): void {
    if (this.#waiting.size === 0 && this.#phase === "delaying") {
      clearTimeout(this.#delayTimer);
      this.#delayTimer = undefined;
      this.#phase = "idle";
    }
    this.#checkDrained();
  }

  /**
   * Starts the next group: at once when maxBatch wait, on close, without a delay, or when the
   * oldest waiting request has waited maxGroupDelayUs (behind a running group, say); else
   * once it will have. A fresh delay after every group made requests that had waited behind
   * it wait twice (review, 2026-12-06).
   */
  #schedule(): void {
    if (this.#phase === "running" || this.#phase === "soon" || this.#waiting.size === 0) return;
    const delayUs = this.config.maxGroupDelayUs;
    const oldest = this.#waiting.values().next().value!; // a Set keeps insertion order
    const remainingMs = oldest.admittedAt + delayUs / 1000 - performance.now();
    if (delayUs === 0 || remainingMs <= 0 || this.#closed || this.#waiting.size >= this.config.maxBatch) {
      if (this.#delayTimer !== undefined) clearTimeout(this.#delayTimer);
      this.#delayTimer = undefined;
      this.#phase = "soon";
      // A microtask: requests enqueued in the same synchronous run join this group.
      queueMicrotask(() => void this.#run());
    } else if (this.#phase === "idle") {
      this.#phase = "delaying";
      this.#delayTimer = setTimeout(() => {
        this.#delayTimer = undefined;
        void this.#run();
      }, remainingMs);
    }
  }

  async #run(): Promise<void> {
    this.#phase = "running";
    const group = this.#take();
    if (group.length > 0) await this.#execute(group);
    this.#phase = "idle";
    this.#schedule();
    this.#checkDrained();
  }

  /** Takes up to maxBatch requests, oldest first; one whose deadline passed times out instead of starting. */
  #take(): Request[] {
    const group: Request[] = [];
    const now = performance.now();
    for (const r of this.#waiting) {
      if (group.length >= this.config.maxBatch) break;
      this.#waiting.delete(r);
      this.#detach(r);
      if (r.deadline <= now) {
        this.#n.timedOut++;
        r.reject(new TimeoutError(r.timeoutMs));
        continue;
      }
      group.push(r);
    }
    this.#n.executed += group.length;
    return group;
  }

  /** Writes the group in order, waits once for durability, settles every request. Never rejects. */
  async #execute(group: Request[]): Promise<void> {
    const sink = this.sink;
    this.#n.groupedBatches++;
    const syncsBefore = sink.syncs();
    const writing: Array<Applied | Promise<Applied> | undefined> = group.map((r) => {
      try {
        return sink.apply(sink.parse(r.ops));
      } catch (error) {
        this.#fail(r, error);
        return undefined;
      }
    });
    const settled = await Promise.allSettled(writing);
    const written: Array<[Request, Applied]> = [];
    let target = 0;
    settled.forEach((s, i) => {
      if (writing[i] === undefined) return; // failed above
      if (s.status === "rejected") return this.#fail(group[i], s.reason);
      const applied = s.value as Applied;
      written.push([group[i], applied]);
      if (applied.durableAt > target) target = applied.durableAt;
    });
    let error: unknown;
    let failedWait = false;
    if (target > 0) {
      try {
        await sink.waitDurable(target);
      } catch (e) {
        error = e;
        failedWait = true;
      }
      this.#n.physicalSyncs += Math.max(0, sink.syncs() - syncsBefore);
    }
    // After a failed wait, what was durable before the log failed is still acknowledged.
    const durable = failedWait ? sink.durableLsn() : Infinity;
    for (const [r, applied] of written) {
      if (applied.durableAt <= durable) {
        this.#n.committed++;
        r.resolve(applied.ts);
      } else this.#fail(r, error);
    }
  }

  #fail(r: Request, error: unknown): void {
    this.#n.failed++;
    r.reject(error);
  }

  #checkDrained(): void {
    if (this.#closed && this.#waiting.size === 0 && this.#phase === "idle") this.#onDrained?.();
  }
}

/**
 * The request's own copy of `ops`, taken when it is enqueued: the caller may reuse its
 * arrays (and the list) once enqueue() returns, as for put and batch, though the request
 * starts later. Each operation's own fields are copied and its byte arrays duplicated (not
 * `slice()`: a Node Buffer's is a view); anything else is kept as given, for the batch
 * parser to judge when the request starts (bad input fails that request alone).
 * Refused at once (the sink's `tooManyOps`, `tooManyBytes`) when it holds more than `requestOpsMax`
 * operations or surely more than `requestBytesMax` bytes of keys and values (a string
 * counts its length, which its UTF-8 bytes are at least). So what waits in the queue is
 * bounded by capacity times about 3 x requestBytesMax (a string's UTF-8 is at most 3 bytes
 * per UTF-16 unit); before, a request no start could write (8 MiB values) was copied whole
 * and held until its start refused it (review of the write queue, 2026-12-07).
 */
function ownOperations(ops: unknown, limits: Pick<WriteQueueSink<unknown>, "requestOpsMax" | "requestBytesMax" | "tooManyOps" | "tooManyBytes">): unknown {
  if (!Array.isArray(ops)) return ops;
  if (ops.length > limits.requestOpsMax) throw limits.tooManyOps(ops.length);
  let bytesAtLeast = 0;
  return Array.from({ length: ops.length }, (_, i) => {
    const op: unknown = ops[i];
    if (typeof op !== "object" || op === null) return op;
    const given = op as Record<string, unknown>;
    const own: Record<string, unknown> = { ...given };
    for (const name of ["type", "key", "value"]) if (!(name in own) && name in given) own[name] = given[name]; // inherited (a class's getters)
    for (const name of ["key", "value"]) {
      const field = own[name];
      if (field instanceof Uint8Array) own[name] = new Uint8Array(field);
      if (field instanceof Uint8Array || typeof field === "string") bytesAtLeast += field.length;
    }
    if (bytesAtLeast > limits.requestBytesMax) throw limits.tooManyBytes(bytesAtLeast);
    return own;
  });
}
