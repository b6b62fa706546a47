/**
 * Change feeds: `db.subscribe({ prefix?, from?, signal? })`, an async iterable of every
 * acknowledged write, once each, in commit order per shard.
 *
 * How: while a shard has subscribers (its count in the core's shard record), every write
 * to it takes the channel path, and the actor, after committing a group, appends one change
 * event per operation to the FeedRing (src/engine/feed-ring.ts) in commit order. A
 * subscription reads the ring from where it stood when it subscribed, yields an event once
 * the write is visible (durable under "full"), and skips what it must not see.
 *
 * Starting point, per shard, without a lock: subscribe (1) reads the ring's head, (2) adds
 * itself to every shard's subscriber count, (3) waits for the fast-path writers inside the
 * shard's memtables to leave, (4) reads each shard's commit counter: startTs. A fast-path
 * writer re-reads the count after announcing itself in its memtable (assembly/engine.ts),
 * so it either backs out to the channel or is waited for in (3) and has a timestamp at or
 * below startTs. The actor reads the count after taking timestamps, so every write above
 * startTs is in the ring after position (1). Events at or below startTs are skipped.
 *
 * `from`: first the logs' operations with from <= ts <= startTs (after making them all
 * durable; src/engine/logged-operations.ts), in timestamp order per shard, then the ring.
 * If a shard already flushed a timestamp >= from to a table, its log may be trimmed: the
 * iteration fails with FeedHistoryError rather than skip changes silently.
 *
 * Limits: the ring (FEED_BUFFER_BYTES) is all the buffering there is; a subscriber further
 * behind gets FeedOverflowError. `from` holds the replayed events in memory (at most what
 * the unflushed logs hold).
 *
 * Ends: `break` / `return()`, the signal aborting, this handle's `close()`, or the database
 * closing (the actor stopped and the ring is drained) end the iteration cleanly, pending
 * `next()` included. Threads: the subscribing thread (main or worker).
 *
 * Event record (the FeedRing payload):
 *   u8 type (1 put, 2 delete)  u8 0  u16 shard  u32 keyLength  u32 valueLength  u32 0
 *   u64 commitTs  u64 visibleAfter (group WAL LSN)  key  value
 */
import type { Core } from "../core/core.ts";
import { FeedHistoryError, FeedOverflowError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { FeedRing } from "./feed-ring.ts";
import { loggedOperations } from "./logged-operations.ts";
import { readManifest } from "./manifest.ts";
import { waitUntil } from "./memtables.ts";
import { OP_PUT, type Operation } from "./records.ts";
import type { EngineShared } from "./shared-state.ts";

const EVENT_HEADER_BYTES = 32;
/** How often a waiting subscription re-checks abort, close and the actor (ms). */
const POLL_MS = 100;

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

/** Actor side: the event for one committed operation. */
export function encodeChange(op: Operation, visibleAfter: number): Uint8Array {
  const valueLength = op.value?.length ?? 0;
  const out = new Uint8Array(EVENT_HEADER_BYTES + op.key.length + valueLength);
  const view = new DataView(out.buffer);
  out[0] = op.type;
  view.setUint16(2, op.shard, true);
  view.setUint32(4, op.key.length, true);
  view.setUint32(8, valueLength, true);
  view.setBigUint64(16, op.ts, true);
  view.setBigUint64(24, BigInt(visibleAfter), true);
  out.set(op.key, EVENT_HEADER_BYTES);
  if (op.value) out.set(op.value, EVENT_HEADER_BYTES + op.key.length);
  return out;
}

function decodeChange(payload: Uint8Array): { event: ChangeEvent; visibleAfter: number } {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const keyLength = view.getUint32(4, true);
  const valueLength = view.getUint32(8, true);
  const put = payload[0] === OP_PUT;
  const key = payload.subarray(EVENT_HEADER_BYTES, EVENT_HEADER_BYTES + keyLength);
  return {
    event: {
      key,
      value: put ? payload.subarray(EVENT_HEADER_BYTES + keyLength, EVENT_HEADER_BYTES + keyLength + valueLength) : undefined,
      type: put ? "put" : "delete",
      commitTs: view.getBigUint64(16, true),
      shard: view.getUint16(2, true),
    },
    visibleAfter: Number(view.getBigUint64(24, true)),
  };
}

/** What a subscription needs from its Database handle. */
export interface FeedEnv {
  core: Core;
  platform: Platform;
  dir: string;
  shared: EngineShared;
  /** Resolves once the group WAL's visible point passes `lsn`. */
  waitVisible(lsn: number): Promise<void>;
  /** Resolves once everything written so far is durable. */
  flush(): Promise<void>;
  /** Called once when the subscription ends, however it ends. */
  ended(subscription: Subscription): void;
}

export class Subscription implements AsyncIterableIterator<ChangeEvent> {
  readonly #env: FeedEnv;
  readonly #ring: FeedRing;
  readonly #prefix: Uint8Array | undefined;
  readonly #from: bigint | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #startTs: bigint[] = [];
  #position: number;
  #history: ChangeEvent[] | undefined;
  #historyAt = 0;
  #done = false;
  #wake: (() => void) | undefined;
  #busy: Promise<unknown> = Promise.resolve();
  readonly #onAbort = () => this.end();

  constructor(env: FeedEnv, options: SubscribeOptions) {
    this.#env = env;
    this.#ring = new FeedRing(env.core, env.shared.feedRing);
    this.#prefix = options.prefix;
    this.#from = options.from;
    this.#signal = options.signal;
    const e = env.core.exports;
    const shards = env.shared.shards;
    this.#position = this.#ring.head; // (1)
    for (let shard = 0; shard < shards; shard++) e.shardAddSubscribers(shard, 1); // (2)
    for (let shard = 0; shard < shards; shard++) {
      for (const mt of memtablesOf(env.core, shard)) waitUntil(() => e.memtableWriters(mt) === 0); // (3)
    }
    for (let shard = 0; shard < shards; shard++) this.#startTs.push(e.shardCommitCounter(shard)); // (4)
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ChangeEvent> {
    return this;
  }

  /** One `next()` at a time: concurrent calls queue behind each other, in order. */
  next(): Promise<IteratorResult<ChangeEvent>> {
    const result = this.#busy.then(() => this.#next());
    this.#busy = result.catch(() => undefined);
    return result;
  }

  async return(): Promise<IteratorResult<ChangeEvent>> {
    this.end();
    return { done: true, value: undefined };
  }

  /** Ends the iteration: a pending `next()` resolves done; the shards stop routing writes here. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    const e = this.#env.core.exports;
    for (let shard = 0; shard < this.#env.shared.shards; shard++) e.shardAddSubscribers(shard, -1);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#wake?.();
    this.#env.ended(this);
  }

  get ended(): boolean {
    return this.#done;
  }

  async #next(): Promise<IteratorResult<ChangeEvent>> {
    try {
      if (this.#from !== undefined && this.#history === undefined && !this.#done) this.#history = await this.#replay(this.#from);
      if (this.#history && this.#historyAt < this.#history.length && !this.#done) return { done: false, value: this.#history[this.#historyAt++] };
      while (!this.#done) {
        const read = this.#ring.read(this.#position);
        if (read === "overflow") throw new FeedOverflowError(this.#ring.capacity);
        if (read === "empty") {
          if (this.#env.shared.actorStopped && this.#ring.read(this.#position) === "empty") break;
          await this.#waitForEvents();
          continue;
        }
        this.#position = read.next;
        const { event, visibleAfter } = decodeChange(read.payload);
        if (event.commitTs <= this.#startTs[event.shard] || !this.#matches(event.key)) continue;
        await this.#env.waitVisible(visibleAfter);
        return { done: false, value: event };
      }
    } catch (error) {
      this.end();
      throw error;
    }
    this.end();
    return { done: true, value: undefined };
  }

  #matches(key: Uint8Array): boolean {
    const prefix = this.#prefix;
    if (!prefix) return true;
    if (key.length < prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
    return true;
  }

  /** Sleeps until the ring moves, this subscription ends, or POLL_MS pass; keeps the process alive meanwhile. */
  async #waitForEvents(): Promise<void> {
    const i32 = this.#ring.i32;
    const seen = Atomics.load(i32, this.#ring.seqIndex);
    if (this.#ring.read(this.#position) !== "empty") return;
    const keepAlive = setInterval(() => {}, 1 << 30);
    try {
      const woken = new Promise<void>((resolve) => (this.#wake = resolve));
      const result = Atomics.waitAsync(i32, this.#ring.seqIndex, seen, POLL_MS);
      if (result.async) await Promise.race([result.value, woken]);
    } finally {
      this.#wake = undefined;
      clearInterval(keepAlive);
    }
  }

  /** The logs' operations with from <= ts <= startTs, matching, in timestamp order per shard. */
  async #replay(from: bigint): Promise<ChangeEvent[]> {
    const env = this.#env;
    await env.flush();
    const check = () => {
      const manifest = readManifest(env.core, env.platform, env.dir);
      if (!manifest) return undefined;
      for (let shard = 0; shard < env.shared.shards; shard++) {
        const flushed = BigInt(manifest.maxTs[shard]);
        if (flushed >= from) throw new FeedHistoryError(from, shard, flushed);
      }
      return manifest;
    };
    const manifest = check();
    if (!manifest) return [];
    const seen = new Set<string>();
    const events: ChangeEvent[] = [];
    try {
      for (const { op } of loggedOperations(env.core, env.platform, env.dir, manifest, env.shared.shards)) {
        if (op.ts < from || op.ts > this.#startTs[op.shard] || !this.#matches(op.key)) continue;
        const id = `${op.shard}:${op.ts}`;
        if (seen.has(id)) continue; // a write can be in two logs across a crash's replay
        seen.add(id);
        events.push({ key: op.key, value: op.type === OP_PUT ? op.value : undefined, type: op.type === OP_PUT ? "put" : "delete", commitTs: op.ts, shard: op.shard });
      }
    } catch (error) {
      check(); // a flush trimmed what was being read: say so if that is why
      throw error;
    }
    check();
    events.sort((a, b) => (a.commitTs < b.commitTs ? -1 : a.commitTs > b.commitTs ? 1 : a.shard - b.shard));
    return events;
  }
}

function memtablesOf(core: Core, shard: number): number[] {
  const n = core.exports.shardMemtableList(shard);
  return Array.from({ length: n }, (_, i) => core.u32[(core.shardList >>> 2) + i]);
}
