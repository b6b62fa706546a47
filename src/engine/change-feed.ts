/**
 * Change feeds: `db.subscribe({ prefix?, from?, signal? })`, an async iterable of every
 * acknowledged write, once each, in commit-timestamp order per shard, read from the group
 * WAL. Writers never look at subscribers: both write paths log every operation in the
 * group WAL anyway, so a feed is a reader of the log (a LogTail over its segment files,
 * src/wal/log-tail.ts), as a follower would be, and costs the writers nothing.
 *
 * Visibility: a subscription reads the log up to its durable LSN, so it never yields a
 * write a crash could still take back (under `durability: "async"` too: events trail the
 * acknowledgement by one group commit).
 *
 * Starting point, per shard, without a lock: subscribe (1) reads the ring's publishedEnd P,
 * (1b) the first fragment's LSN X of the large batch being committed (0: none), then (2)
 * each shard's commit counter: startTs. A record below P was published before (1),
 * and every write takes its timestamp before it publishes, so every write with a timestamp
 * above startTs is in a record at or after P. Events at or below startTs are skipped.
 * A large batch (docs/ENGINE.md) is logged as fragments, then its timestamps are taken,
 * then its commit record is logged; its operations are events when its commit is read
 * (batch-assembler.ts), so its fragments must be read too, though they may lie below P.
 * The log is read from min(P, X). If (1b) sees X, the batch's fragments are at or after X.
 * If it sees 0 for a batch whose first fragment is below P: either the actor stores X
 * only after (1b), and then after (1), when the fragment was not yet reserved (a
 * reservation comes after every published end read before it): no fragment is below P;
 * or the actor cleared X before (1b), after the commit, after taking the timestamps: they
 * are at or below startTs (2), and the batch is no event (the assembler skips a commit
 * whose first fragment is before where reading began).
 * All of a large batch or none of it: the actor takes its shards' timestamps one shard
 * after the other, so counters read one after the other could fall between two takes
 * (the batch's first shard read before its take, the second after: half of the batch).
 * The actor takes them all inside one takeSeq section and (2) reads every counter between
 * two equal even values of takeSeq (shared-state.ts), so no take of any large batch ran
 * during (2): each batch's timestamps are all above startTs (all events) or all at or below
 * (none). (A small batch takes its timestamps one operation at a time, in the core or the
 * actor, outside any such section: a feed may start in the middle of one.)
 *
 * Order: LSN order is not timestamp order (a fast-path writer reserves its record, then
 * takes its timestamp; the actor takes timestamps, then reserves). But a shard's
 * timestamps are dense: every one taken is logged in exactly one record (assembly/shard.ts,
 * invariants). So each shard expects startTs + 1, + 2, ...: an operation arriving early
 * waits in `#held` until the ones before it arrive (operations the prefix filters out
 * still count, as placeholders). Only writes in flight at once can be out of order, so
 * `#held` stays small; past HELD_EVENTS_MAX the subscription overflows rather than grow.
 *
 * `from`: first the logs' operations with from <= ts <= startTs (after making them all
 * durable; src/engine/logged-operations.ts), in timestamp order per shard, then the log.
 * The replay reads until it has every timestamp of that range taken since the open (above
 * EngineShared.recoveredTs) on every shard: a write whose timestamp (2) saw may have no
 * record yet (the actor takes a group's timestamps before it reserves the group's record),
 * and a flush covers only what is reserved. Below, a crash may have left gaps.
 * If a shard already flushed a timestamp >= from to a table, its log may be trimmed: the
 * iteration fails with FeedHistoryError rather than skip changes silently.
 *
 * Limits: the log is the buffer. A subscriber that falls so far behind that a flush trimmed
 * the segment it reads next gets FeedOverflowError; in memory it holds at most one read
 * batch (READ_EVENTS_MAX events) plus `#held`, and a large batch's fragments until its
 * commit is read (at most BATCH_LOG_BYTES_MAX), whose events are then decoded at once.
 * `from` holds the replayed events in memory (at most what the unflushed log holds), and a
 * reader slot while it reads (reader-slots.ts), so the writer trims nothing it reads
 * unless it evicts the slot (FeedOverflowError then).
 *
 * Ends: `break` / `return()`, the signal aborting, this handle's `close()`, or the log
 * closing (after the last durable record is read) end the iteration cleanly, pending
 * `next()` included; a failed log fails it with the log's error.
 * Threads: the subscribing thread (main or worker) owns the subscription and its files;
 * it reads the ring's counters (publishedEnd, durableLsn, state) and the shards' commit
 * counters atomically, and adds itself to each shard's `subscribers` (statistics only).
 */
import type { Core } from "../core/core.ts";
import { CorruptionError, FeedHistoryError, FeedOverflowError, publicError, ReaderEvictedError, ShardlineError } from "../errors.ts";
import { hasErrorCode, type Platform } from "../platform.ts";
import { Ring, RingState } from "../wal/format.ts";
import { LogTail, LogTrimmedError } from "../wal/log-tail.ts";
import type { ScannedRecord } from "../wal/segment-scanner.ts";
import { type RingView, waitForChange } from "../wal/ring.ts";
import { loggedOperations } from "./logged-operations.ts";
import { readOpenManifest } from "./manifest.ts";
import { ReaderSlot } from "./reader-slots.ts";
import { BatchAssembler } from "./batch-assembler.ts";
import { CALL_BYTES, type GarbagePacer } from "./garbage-pacer.ts";
import { SMALL_BATCH_OPS_MAX } from "./options.ts";
import { KIND_OPERATIONS, OP_DELETE, OP_HEADER_BYTES, OP_PUT, type Operation, RECORD_PREFIX_BYTES, RECORD_VERSION } from "./records.ts";
import type { EngineShared } from "./shared-state.ts";

/** How often a waiting subscription re-checks the log's state (ms). */
const POLL_MS = 100;
/**
 * How long a `from` replay waits for the records of timestamps taken before it started
 * that no log holds yet (see #replay): an actor group waiting for ring room waits for one
 * sync; this is many.
 */
const REPLAY_COMPLETE_MS_MAX = 30_000;
/**
 * Events' keys and values are views of copies of this many bytes (an event larger than
 * that is a copy of its own): one allocation for many events, and the most one event
 * kept alive keeps alive.
 */
export const EVENT_WINDOW_BYTES = 64 * 1024;
/** Events decoded per read of the log before they are handed out. */
const READ_EVENTS_MAX = 4096;
/**
 * Live subscriptions per database, all threads: each one holds a segment scanner's read
 * buffer (1 MiB of the shared memory) while it reads.
 */
export const SUBSCRIPTIONS_MAX = 64;
/**
 * Early operations a subscription holds while it waits for an earlier timestamp: a guard,
 * not a tuning knob. Writes in flight at once bound what arrives early (a batch logged
 * before a single write that took a timestamp in the middle of the batch's holds the rest
 * of the batch), so the guard allows many small batches' worth. A large batch's operations
 * never arrive early: its timestamps are taken after its fragments are logged and just
 * before its commit record is reserved, so every write with an earlier one is logged before.
 */
const HELD_EVENTS_MAX = Math.max(65536, 64 * SMALL_BATCH_OPS_MAX);

export interface ChangeEvent {
  key: Uint8Array;
  value: Uint8Array | undefined;
  type: "put" | "delete";
  commitTs: bigint;
  shard: number;
}

export interface SubscribeOptions {
  /** Only keys starting with these bytes. */
  prefix?: Uint8Array;
  /** Replay from this commit timestamp (inclusive) on every shard, while the WAL holds it. */
  from?: bigint;
  signal?: AbortSignal;
}

/** What a subscription needs from its Database handle. */
export interface FeedEnv {
  core: Core;
  platform: Platform;
  dir: string;
  shared: EngineShared;
  /** The group WAL's ring: its counters say how far the log is published and durable. */
  group: RingView;
  /** Resolves once everything written so far is durable. */
  flush(): Promise<void>;
  /** The handle's pacer of this thread's young collections (garbage-pacer.ts): every event is garbage its reader leaves behind. */
  garbage: GarbagePacer;
  /** Called once when the subscription's places and files are given back, however it ended (FeedClaim.release). */
  ended(claim: FeedClaim): void;
}

/**
 * What a subscription holds beyond the heap: its place in every shard's `subscribers`
 * count in shared memory (shard 0's is the database's, bounded by SUBSCRIPTIONS_MAX) and its
 * log files. Given back once: by `end()`, by the handle's `close()`, or, for a subscription
 * dropped without being ended (never read, or left after a `next()` that returned), by the
 * collector (`droppedFeeds`), as for dropped scans and snapshots: 64 dropped feeds took
 * every place until close (review of feeds, 2026-12-07). It holds nothing that
 * leads back to its Subscription, or the registry would keep that alive.
 * Threads: the subscribing thread (the collector's callback runs on it too).
 */
export class FeedClaim {
  #released = false;
  tail: LogTail | undefined;
  /**
   * The subscription's abort listener, taken off at release. The listener reaches the
   * subscription only through a WeakRef: a signal that outlives its feeds (an application's
   * shutdown signal) held them strongly, and 64 dropped feeds given one kept every place
   * until close (review of feeds, 2026-12-07).
   */
  abort: { signal: AbortSignal; listener: () => void } | undefined;
  constructor(
    private readonly env: Pick<FeedEnv, "core" | "shared" | "ended">,
    /** Shards 0..claimed-1 count the subscription. */
    private readonly claimed: number,
  ) {}

  release(): void {
    if (this.#released) return;
    this.#released = true;
    const e = this.env.core.exports;
    for (let shard = 0; shard < this.claimed; shard++) e.shardAddSubscribers(shard, -1);
    this.abort?.signal.removeEventListener("abort", this.abort.listener);
    this.abort = undefined;
    this.tail?.close();
    this.env.ended(this);
  }
}

/** Subscriptions dropped without being ended give their claim back when collected. */
const droppedFeeds = new FinalizationRegistry<FeedClaim>((claim) => claim.release());

export class Subscription implements AsyncIterableIterator<ChangeEvent> {
  readonly #env: FeedEnv;
  readonly #prefix: Uint8Array | undefined;
  readonly #from: bigint | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #startTs: bigint[] = [];
  /**
   * Per shard, the next timestamp to hand out. Timestamps on the live path are numbers
   * (exact below 2^53: a counter that grows by one per write), so that only an event
   * handed out makes a bigint.
   */
  readonly #expected: number[] = [];
  /** `#startTs` as numbers. */
  readonly #startAt: number[] = [];
  /** `from` as a number (0 without one): the live path, too, skips every timestamp below it. */
  readonly #fromAt: number;
  /** Per shard, operations that arrived before `#expected` (null: filtered out). */
  readonly #held: Array<Map<number, ChangeEvent | null>> = [];
  #heldCount = 0;
  readonly #tail: LogTail;
  /** Its places in the shards' counts and its log files, given back once (FeedClaim). */
  readonly claim: FeedClaim;
  /** Keeps large batches' fragments until their commit record is read. */
  readonly #batches: BatchAssembler;
  /** The log's records being read, up to the durable LSN seen when it started. */
  #records: Iterator<ScannedRecord> | undefined;
  /** Where events' keys and values are copied: the current window and how much of it is used. */
  #window = new Uint8Array(0);
  #windowUsed = 0;
  #ready: ChangeEvent[] = [];
  #readyAt = 0;
  #history: ChangeEvent[] | undefined;
  #historyAt = 0;
  #done = false;
  #wake: (() => void) | undefined;
  #busy: Promise<unknown> = Promise.resolve();
  /** `next()` calls not settled yet: while there are some, later calls queue behind them. */
  #pending = 0;
  /** Ends the subscription if it is still alive (a WeakRef: see FeedClaim.abort). */
  readonly #onAbort: () => void;

  constructor(env: FeedEnv, options: SubscribeOptions) {
    this.#env = env;
    // A copy: the caller may reuse its array once subscribe() returns (caller-buffers.test.ts).
    // Not slice(): on a Node Buffer it is a view of the caller's bytes.
    this.#prefix = options.prefix === undefined ? undefined : new Uint8Array(options.prefix);
    this.#from = options.from;
    this.#fromAt = options.from === undefined ? 0 : Number(options.from);
    this.#signal = options.signal;
    const self = new WeakRef(this);
    this.#onAbort = () => self.deref()?.end();
    const e = env.core.exports;
    const shards = env.shared.shards;
    // The abort listener before any place is claimed: a signal that passes instanceof
    // AbortSignal but is none throws here, and it threw after the claims, which nothing gave
    // back (64 such calls took every place until close: review of feeds, 2026-12-06).
    try {
      this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    } catch (error) {
      throw new TypeError(`subscribe's signal must be an AbortSignal (${(error as Error).message})`);
    }
    let claimed = 0; // shards 0..claimed-1 count this subscription
    try {
      // Shard 0's count is the database's: claim a place first (an atomic add, so threads
      // subscribing at once cannot both take the last one).
      if (e.shardAddSubscribers(0, 1) > SUBSCRIPTIONS_MAX) {
        e.shardAddSubscribers(0, -1);
        throw new RangeError(`a database has at most ${SUBSCRIPTIONS_MAX} change-feed subscriptions at once (SUBSCRIPTIONS_MAX); end one first`);
      }
      claimed = 1;
      const published = env.group.publishedEnd; // (1)
      const largeBatch = env.shared.largeBatchLsn; // (1b)
      const startLsn = largeBatch > 0 && largeBatch < published ? largeBatch : published;
      this.#tail = new LogTail(env.core, env.platform, `${env.dir}/wal`, startLsn, true);
      this.#batches = new BatchAssembler(startLsn);
      const counters = env.shared.betweenTakes(() => Array.from({ length: shards }, (_, shard) => e.shardCommitCounter(shard))); // (2)
      for (let shard = 0; shard < shards; shard++) {
        const startTs = counters[shard];
        this.#startTs.push(startTs);
        this.#startAt.push(Number(startTs));
        this.#expected.push(Number(startTs) + 1);
        this.#held.push(new Map());
        if (shard > 0) {
          e.shardAddSubscribers(shard, 1);
          claimed = shard + 1;
        }
      }
    } catch (error) {
      for (let shard = 0; shard < claimed; shard++) e.shardAddSubscribers(shard, -1);
      this.#signal?.removeEventListener("abort", this.#onAbort);
      throw error;
    }
    this.claim = new FeedClaim(env, shards);
    this.claim.tail = this.#tail;
    if (this.#signal) this.claim.abort = { signal: this.#signal, listener: this.#onAbort };
    droppedFeeds.register(this, this.claim, this.claim);
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ChangeEvent> {
    return this;
  }

  /** One `next()` at a time: concurrent calls queue behind each other, in order. */
  next(): Promise<IteratorResult<ChangeEvent>> {
    // Events already decoded go out at once (only after `from`'s history: see #next).
    if (this.#pending === 0 && this.#readyAt < this.#ready.length && !this.#done) return Promise.resolve({ done: false, value: this.#ready[this.#readyAt++] });
    this.#pending++;
    // A file-system failure while reading the log is the API's FileSystemError (as a get's).
    const result = this.#busy.then(() => this.#next()).catch((error) => Promise.reject(publicError(error)));
    this.#busy = result.then(
      () => void this.#pending--,
      () => void this.#pending--,
    );
    return result;
  }

  async return(): Promise<IteratorResult<ChangeEvent>> {
    this.end();
    return { done: true, value: undefined };
  }

  /** Ends the iteration: a pending `next()` resolves done; the log's files are closed. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#records?.return?.(undefined);
    this.#records = undefined;
    droppedFeeds.unregister(this.claim);
    this.claim.release(); // takes the abort listener off too
    this.#wake?.();
  }

  get ended(): boolean {
    return this.#done;
  }

  async #next(): Promise<IteratorResult<ChangeEvent>> {
    try {
      if (this.#from !== undefined && this.#history === undefined && !this.#done) this.#history = await this.#replay(this.#from);
      if (this.#history && this.#historyAt < this.#history.length && !this.#done) return { done: false, value: this.#history[this.#historyAt++] };
      const group = this.#env.group;
      const seqIndex = group.index(Ring.DURABLE_SEQ);
      while (!this.#done) {
        if (this.#readyAt < this.#ready.length) return { done: false, value: this.#ready[this.#readyAt++] };
        const seq = Atomics.load(group.i32, seqIndex);
        const durable = group.durableLsn;
        if (this.#records || this.#tail.next < durable) {
          this.#readLog(durable);
          continue;
        }
        const state = group.state;
        if (state === RingState.FAILED) throw group.stateError(`database ${this.#env.dir}`);
        // CLOSED comes after the log's last sync: the durable end read above may be from
        // before that sync, so look again before ending.
        if (state === RingState.CLOSED) {
          if (this.#tail.next < group.durableLsn) continue;
          break;
        }
        await this.#waitForLog(seqIndex, seq);
      }
    } catch (error) {
      // Ended meanwhile (break, abort, close): what it was waiting for no longer matters.
      if (this.#done) return { done: true, value: undefined };
      this.end();
      throw error instanceof LogTrimmedError ? new FeedOverflowError(`the log before LSN ${error.oldestLsn} was flushed to tables and trimmed, and this subscription had not read LSN ${error.lsn} yet`) : error;
    }
    this.end();
    return { done: true, value: undefined };
  }

  /**
   * Decodes the log's records from the tail (up to `durable` as it was when this read of
   * the log began) into `#ready`, until READ_EVENTS_MAX events are ready or the records run
   * out. Payloads are views of the scanner's buffer, valid until the next record is read:
   * each is decoded at once, and only a matching operation's key and value are copied
   * (#newEvent).
   */
  #readLog(durable: number): void {
    this.#ready = [];
    this.#readyAt = 0;
    const records = (this.#records ??= this.#tail.read(durable, "view"));
    while (this.#ready.length < READ_EVENTS_MAX) {
      const step = records.next();
      if (step.done) {
        this.#records = undefined;
        return;
      }
      this.#decode(step.value.payload!, step.value.lsn);
    }
  }

  /** One engine record (src/engine/records.ts) into `#accept`: its operations, or a large batch's at its commit. */
  #decode(payload: Uint8Array, lsn: number): void {
    const corrupt = (why: string) => new CorruptionError(`group WAL record at LSN ${lsn} is not an engine record: ${why}`, `${this.#env.dir}/wal`);
    if (payload.length < RECORD_PREFIX_BYTES || payload[0] !== RECORD_VERSION) throw corrupt("bad prefix");
    if (payload[1] === KIND_OPERATIONS) return this.#decodeOperations(payload, lsn, corrupt);
    let records: Uint8Array[];
    try {
      records = this.#batches.add(lsn, payload);
    } catch (error) {
      throw corrupt((error as Error).message);
    }
    for (const record of records) this.#decodeOperations(record, lsn, corrupt);
  }

  #decodeOperations(payload: Uint8Array, lsn: number, corrupt: (why: string) => Error): void {
    const count = u32At(payload, 4);
    let at = RECORD_PREFIX_BYTES;
    for (let i = 0; i < count; i++) {
      if (at + OP_HEADER_BYTES > payload.length) throw corrupt(`operation ${i} of ${count} is cut short`);
      const type = payload[at];
      const shard = payload[at + 2] | (payload[at + 3] << 8);
      const keyLength = payload[at + 4] | (payload[at + 5] << 8);
      const valueLength = type === OP_PUT ? u32At(payload, at + 8) : 0;
      const ts = u32At(payload, at + 12) + u32At(payload, at + 16) * 0x1_0000_0000;
      const keyAt = at + OP_HEADER_BYTES;
      at = keyAt + keyLength + valueLength;
      if ((type !== OP_PUT && type !== OP_DELETE) || at > payload.length) throw corrupt(`operation ${i} of ${count} is malformed`);
      this.#accept(payload, type, shard, ts, keyAt, keyLength, valueLength, lsn);
    }
  }

  /** Puts one logged operation in its shard's timestamp order. */
  #accept(payload: Uint8Array, type: number, shard: number, ts: number, keyAt: number, keyLength: number, valueLength: number, lsn: number): void {
    if (shard >= this.#expected.length) throw new CorruptionError(`group WAL record at LSN ${lsn} names shard ${shard} of ${this.#expected.length}`, `${this.#env.dir}/wal`);
    if (ts <= this.#startAt[shard]) return;
    // Below `from` (a `from` past the commit counter when subscribing), or not matching the
    // prefix: a placeholder that still moves the shard's expected timestamp on.
    const event = ts >= this.#fromAt && this.#matchesAt(payload, keyAt, keyLength) ? this.#newEvent(payload, type, shard, ts, keyAt, keyLength, valueLength) : null;
    const expected = this.#expected[shard];
    if (ts > expected) {
      const held = this.#held[shard];
      if (held.has(ts)) throw new ShardlineError(`change feed: shard ${shard} logged timestamp ${ts} twice (LSN ${lsn})`, "SHARDLINE_INTERNAL");
      if (++this.#heldCount > HELD_EVENTS_MAX) throw new FeedOverflowError(`more than ${HELD_EVENTS_MAX} operations of one shard arrived ahead of timestamp ${expected}`);
      held.set(ts, event);
      return;
    }
    if (ts < expected) throw new ShardlineError(`change feed: shard ${shard} logged timestamp ${ts} again (LSN ${lsn})`, "SHARDLINE_INTERNAL");
    if (event) this.#ready.push(event);
    let next = expected + 1;
    const held = this.#held[shard];
    while (held.size > 0 && held.has(next)) {
      const early = held.get(next)!;
      held.delete(next);
      this.#heldCount--;
      if (early) this.#ready.push(early);
      next++;
    }
    this.#expected[shard] = next;
  }

  /**
   * An event whose key and value are copied from `payload` (a passing view) into the
   * current window, side by side: views of one copy for many events, at most
   * EVENT_WINDOW_BYTES of it kept alive by any one of them.
   */
  #newEvent(payload: Uint8Array, type: number, shard: number, ts: number, keyAt: number, keyLength: number, valueLength: number): ChangeEvent {
    const bytes = keyLength + valueLength;
    if (this.#windowUsed + bytes > this.#window.length) {
      this.#window = new Uint8Array(Math.max(EVENT_WINDOW_BYTES, bytes));
      this.#windowUsed = 0;
    }
    const at = this.#windowUsed;
    this.#window.set(payload.subarray(keyAt, keyAt + bytes), at);
    this.#windowUsed = at + bytes;
    this.#env.garbage.note(bytes + CALL_BYTES);
    const buffer = this.#window.buffer;
    const put = type === OP_PUT;
    return {
      key: new Uint8Array(buffer, at, keyLength),
      value: put ? new Uint8Array(buffer, at + keyLength, valueLength) : undefined,
      type: put ? "put" : "delete",
      commitTs: BigInt(ts),
      shard,
    };
  }

  #matches(key: Uint8Array): boolean {
    return this.#matchesAt(key, 0, key.length);
  }

  /** Whether the key at `keyAt` in `bytes` starts with the prefix. */
  #matchesAt(bytes: Uint8Array, keyAt: number, keyLength: number): boolean {
    const prefix = this.#prefix;
    if (!prefix) return true;
    if (keyLength < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (bytes[keyAt + i] !== prefix[i]) return false;
    return true;
  }

  /** Sleeps until the log's durable point moves, this subscription ends, or POLL_MS pass. */
  #waitForLog(seqIndex: number, seen: number): Promise<void> {
    return this.#untilEnded(waitForChange(this.#env.group.i32, seqIndex, seen, POLL_MS));
  }

  /** Settles when `work` does or when this subscription ends, whichever is first. */
  async #untilEnded(work: Promise<void>): Promise<void> {
    const woken = new Promise<void>((resolve) => (this.#wake = resolve));
    try {
      await Promise.race([work, woken]);
    } finally {
      this.#wake = undefined;
    }
  }

  /**
   * The logs' operations with from <= ts <= startTs, matching, in timestamp order per shard.
   * Complete: the timestamps a shard's writers took since the open are dense and each is
   * logged once, so the log must give every one of them in from..startTs. Until it does, some are in records not yet reserved
   * (the actor takes a group's timestamps, then reserves its record, waiting for ring room
   * if it must; a large batch's commit likewise) and so below no flush's target yet: the
   * replay flushes and reads again (REPLAY_COMPLETE_MS_MAX). Before, it read what the flush
   * covered, the live read skipped every ts <= startTs, and a whole actor group was lost
   * silently (review of feeds with from, 2026-12-06).
   */
  async #replay(from: bigint): Promise<ChangeEvent[]> {
    const env = this.#env;
    // Claimed before the first MANIFEST read (reader-slots.ts says why that order): while the
    // replay reads, the writer trims no segment it may still read. Before, a flush trimming
    // a segment under it surfaced as a raw ENOENT (review, 2026-12-06), then as a re-read
    // after each trim, and a replay overtaken REPLAY_ATTEMPTS_MAX times still threw it.
    const claim = ReaderSlot.create(env.platform, env.dir);
    try {
      const startedMs = performance.now();
      for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 50)) {
        const read = await this.#replayOnce(from, claim);
        if (read === undefined) return [];
        if (read.missing === undefined) return read.events;
        if (performance.now() - startedMs > REPLAY_COMPLETE_MS_MAX) {
          throw new ShardlineError(`change feed from ${from}: the logs still lack ${read.missing} after ${REPLAY_COMPLETE_MS_MAX} ms`, "SHARDLINE_INTERNAL");
        }
        await this.#untilEnded(new Promise((resolve) => setTimeout(resolve, pauseMs)));
      }
    } finally {
      claim?.release();
    }
  }

  /** One flush and read of #replay: its events, or what it still lacks; undefined once ended. */
  async #replayOnce(from: bigint, claim: ReaderSlot | undefined): Promise<{ events: ChangeEvent[]; missing?: string } | undefined> {
    const env = this.#env;
    const flushed = env.flush();
    flushed.catch(() => {}); // an end while it runs leaves it unawaited
    await this.#untilEnded(flushed);
    if (this.#done) return undefined;
    const first = from > 1n ? from : 1n;
    const check = () => {
      const manifest = readOpenManifest(env.core, env.platform, env.dir);
      // The replay needs the shard's timestamps from max(from, 1) (timestamps start at 1)
      // to startTs; a table may hold those up to maxTs, which the log need not hold any
      // more. A `from` past startTs needs no history of the shard (the live read has it).
      for (let shard = 0; shard < env.shared.shards; shard++) {
        const flushed = BigInt(manifest.maxTs[shard]);
        if (first <= this.#startTs[shard] && first <= flushed) throw new FeedHistoryError(from, shard, flushed);
      }
      return manifest;
    };
    const manifest = check();
    // What this read needs from here on: the log from this MANIFEST's checkpoints (the
    // legacy partition logs' too: the writer keeps those for a slot below its version).
    try {
      claim?.update(manifest.version, manifest.groupCheckpoint);
    } catch (error) {
      if (error instanceof ReaderEvictedError) throw replayOverflow(from);
      throw error;
    }
    /** Each shard's timestamps read in first..startTs, matching or not (a write can be in two logs across a crash's replay). */
    const seen = Array.from({ length: env.shared.shards }, () => new Set<bigint>());
    const events: ChangeEvent[] = [];
    try {
      for (const { op } of loggedOperations(env.core, env.platform, env.dir, manifest, env.shared.shards)) {
        if (op.ts < first || op.ts > this.#startTs[op.shard] || seen[op.shard].has(op.ts)) continue;
        seen[op.shard].add(op.ts);
        if (this.#matches(op.key)) events.push(toEvent(op));
      }
    } catch (error) {
      // The writer trims under a claim only once it evicted it for holding more than
      // readerRetainBytesMax of log and tables (reader-slots.ts).
      if (hasErrorCode(error, "ENOENT") && claim?.evicted) throw replayOverflow(from);
      throw error;
    }
    // Without a slot (a directory this process cannot write in), a flush meanwhile may have
    // trimmed what the read needed: the MANIFEST says whether it took history. With one,
    // nothing was trimmed under the read, and a flush during it fails nothing.
    if (!claim) check();
    // Taken since the open (above the counter its recovery raised), a timestamp is logged
    // once; at or below it, a crash may have left gaps (a channel group's timestamps taken
    // before a fast-path write's, logged after it, and cut with the log's unsynced tail).
    const lacking: string[] = [];
    for (let shard = 0; shard < env.shared.shards; shard++) {
      const recovered = env.shared.recoveredTs(shard);
      const low = first > recovered ? first : recovered + 1n;
      const end = this.#startTs[shard];
      if (end < low) continue;
      let have = 0n;
      for (const ts of seen[shard]) if (ts >= low) have++;
      if (have < end - low + 1n) lacking.push(`shard ${shard}: ${end - low + 1n - have} of timestamps ${low}..${end}`);
    }
    if (lacking.length > 0) return { events, missing: lacking.join(", ") };
    events.sort((a, b) => (a.commitTs < b.commitTs ? -1 : a.commitTs > b.commitTs ? 1 : a.shard - b.shard));
    return { events };
  }
}

/** A `from` replay whose claim the writer evicted (reader-slots.ts): it may have trimmed what the replay reads. */
function replayOverflow(from: bigint): FeedOverflowError {
  return new FeedOverflowError(`its replay from ${from} held more of the log than the writer keeps for a reader (readerRetainBytesMax), so the writer trimmed it`);
}

function u32At(bytes: Uint8Array, at: number): number {
  return (bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24)) >>> 0;
}

function toEvent(op: Operation): ChangeEvent {
  const put = op.type === OP_PUT;
  return { key: op.key, value: put ? op.value : undefined, type: put ? "put" : "delete", commitTs: op.ts, shard: op.shard };
}
