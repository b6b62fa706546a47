/**
 * RingView: one thread's JavaScript handle on a WalRing in shared memory
 * (assembly/walring.ts): appending records, reading the counters, and waiting for
 * durability, space, or a state change.
 *
 * Appending is two calls into the core around one copy: `walReserve` (one fetch-add),
 * the payload copied straight into the ring (in two parts where it wraps), then
 * `walPublishReserved` (checksums, the word, waking the worker). Nothing awaits in
 * between, so a thread never leaves a reservation unpublished behind it.
 *
 * Threads: each thread makes its own RingView over its own Core; the ring is shared.
 * LSNs are handled as JavaScript numbers internally (exact below 2^53 bytes, 8 PiB) and
 * as bigints at the public API.
 */
import type { Core } from "../core/core.ts";
import { loadRisingU64 } from "../core/rising-u64.ts";
import { ClosedError, WalFailedError } from "../errors.ts";
import { FailCode, Ring, RECORD_HEADER_BYTES, RECORD_TYPE_FULL, recordBytes, RingState, WalStatus } from "./format.ts";

/** The longest one sleep of `untilPublished` lasts before it looks again (a publisher's wake normally ends it first), ms. */
export const PUBLISH_WAIT_MS = 8;

export class RingView {
  /** The Core's whole-memory i32 view (src/core/core.ts: views are made once, there only). */
  readonly i32: Int32Array;
  readonly capacity: number;
  readonly data: number;
  readonly salt: number;
  readonly recordBytesMax: number;

  /**
   * What this ring's state errors name when the caller names nothing ("the log"; a
   * database's request ring: "database <dir>", so that a channel write refused by a close
   * says which database closed, not "the log is closed").
   */
  readonly label: string;

  constructor(readonly core: Core, readonly ring: number, label = "the log") {
    this.label = label;
    this.i32 = core.i32;
    const u32 = core.u32;
    this.capacity = u32[(ring + Ring.CAPACITY) >>> 2];
    this.data = u32[(ring + Ring.DATA) >>> 2];
    this.salt = u32[(ring + Ring.SALT) >>> 2];
    this.recordBytesMax = u32[(ring + Ring.RECORD_MAX) >>> 2];
  }

  /** Index into `i32` of a 4-byte ring field. */
  index(field: number): number {
    return (this.ring + field) >>> 2;
  }

  /** A 64-bit field of the ring; every one of them only rises (LSNs, counters). */
  #u64(field: number): number {
    return loadRisingU64(this.i32, this.ring + field);
  }

  get state(): number {
    return Atomics.load(this.i32, this.index(Ring.STATE));
  }
  /** Without the RESERVE_CLOSED bit (bit 62, bit 30 of the high word: assembly/walring.ts). */
  get reserveHead(): number {
    const lowIndex = (this.ring + Ring.RESERVE_HEAD) >>> 2;
    for (;;) {
      const high = Atomics.load(this.i32, lowIndex + 1);
      const low = Atomics.load(this.i32, lowIndex) >>> 0;
      if (Atomics.load(this.i32, lowIndex + 1) === high) return (high & 0x3fffffff) * 2 ** 32 + low;
    }
  }
  get drainTail(): number {
    return this.#u64(Ring.DRAIN_TAIL);
  }
  get durableLsn(): number {
    return this.#u64(Ring.DURABLE_LSN);
  }
  /** End of the contiguous run of published (complete) records. */
  get publishedEnd(): number {
    return this.#u64(Ring.PUBLISHED_END);
  }
  get durableSeq(): number {
    return Atomics.load(this.i32, this.index(Ring.DURABLE_SEQ));
  }
  get syncs(): number {
    return this.#u64(Ring.SYNCS);
  }
  get syncedRecords(): number {
    return this.#u64(Ring.SYNCED_RECORDS);
  }

  /** Why the ring failed: code and the OS error code text the worker left. */
  get failure(): { failCode: number; osCode: string } {
    const u8 = this.core.u8;
    const at = this.ring + Ring.FAIL_TEXT;
    let osCode = "";
    for (let i = 0; i < Ring.FAIL_TEXT_BYTES && u8[at + i] !== 0; i++) osCode += String.fromCharCode(u8[at + i]);
    return { failCode: this.core.u32[(this.ring + Ring.FAIL_CODE) >>> 2], osCode };
  }

  /**
   * The error every write gets once the ring has failed (or is closed). `detail`: what
   * the failing thread said, where this thread learned it (the opener hears its actor's
   * message; the ring itself holds only the code).
   */
  stateError(what = this.label, detail?: string): Error {
    if (this.state !== RingState.FAILED) return new ClosedError(what);
    const { failCode, osCode } = this.failure;
    const step = failCode === FailCode.SYNC ? "fdatasync" : failCode === FailCode.WRITE ? "write" : failCode === FailCode.ROTATE ? "segment rotation" : "a writer thread";
    const code = osCode || "EUNKNOWN";
    const cause = Object.assign(new Error(`${step} failed: ${detail ?? code}`), { code });
    return new WalFailedError(`${what} failed: ${step} failed (${code}${detail ? `: ${detail}` : ""}); nothing after the last good sync is durable; reopen to recover`, { cause });
  }

  /**
   * Appends one record. Returns its LSN, or -1 when the ring has no room right now
   * (nothing was reserved: wait for `drainSeq` and retry). Throws RangeError when the
   * payload is larger than the limit, or the state error when failed or closed.
   */
  tryAppend(payload: Uint8Array): number {
    const core = this.core;
    const length = payload.length;
    const status = core.exports.walReserve(this.ring, length);
    if (status !== WalStatus.OK) {
      if (status === WalStatus.FULL) return -1;
      if (status === WalStatus.TOO_LARGE) {
        throw new RangeError(`record is ${length} bytes; the limit is ${this.recordBytesMax} bytes (recordBytesMax)`);
      }
      throw this.stateError();
    }
    const lsn = core.u64Number(core.result);
    try {
      this.write(lsn, payload);
    } catch (error) {
      // A reservation that is never published holds every later record back from the
      // disk: fail the ring (fail-stop, every waiter rejects) rather than leave it wedged.
      this.setState(RingState.FAILED, FailCode.OTHER, "EINTERNAL");
      throw error;
    }
    core.exports.walPublishReserved(this.ring, length, RECORD_TYPE_FULL);
    return lsn;
  }

  /**
   * Reserves room for a record of `length` bytes without publishing it: returns its LSN
   * (write the payload with `write`, then `publishReserved`), or -1 when the ring is full.
   */
  reserve(length: number): number {
    const core = this.core;
    const status = core.exports.walReserve(this.ring, length);
    if (status === WalStatus.OK) return core.u64Number(core.result);
    if (status === WalStatus.FULL) return -1;
    if (status === WalStatus.TOO_LARGE) throw new RangeError(`record is ${length} bytes; the limit is ${this.recordBytesMax} bytes (recordBytesMax)`);
    throw this.stateError();
  }

  /** Copies `payload` into the record reserved at `lsn` (across the wrap). */
  write(lsn: number, payload: Uint8Array): void {
    const offset = (lsn + RECORD_HEADER_BYTES) % this.capacity;
    const first = Math.min(payload.length, this.capacity - offset);
    const u8 = this.core.u8;
    u8.set(payload.subarray(0, first), this.data + offset);
    if (first < payload.length) u8.set(payload.subarray(first), this.data);
  }

  /** Publishes this thread's last reservation (no await since `reserve`). */
  publishReserved(length: number): void {
    this.core.exports.walPublishReserved(this.ring, length, RECORD_TYPE_FULL);
  }

  /** Copies out the payloads of the published records in [from, to) (a consumer's view; ring bytes are not freed). */
  payloads(from: number, to: number): Array<{ lsn: number; payload: Uint8Array }> {
    const out: Array<{ lsn: number; payload: Uint8Array }> = [];
    const u8 = this.core.u8;
    for (let at = from; at < to; ) {
      const wordAt = this.data + ((at + 4) % this.capacity);
      const word = this.core.u32[wordAt >>> 2];
      const length = word & 0xffffff;
      const payload = new Uint8Array(length);
      const offset = (at + RECORD_HEADER_BYTES) % this.capacity;
      const first = Math.min(length, this.capacity - offset);
      payload.set(u8.subarray(this.data + offset, this.data + offset + first));
      if (first < length) payload.set(u8.subarray(this.data, this.data + length - first), first);
      out.push({ lsn: at, payload });
      at += recordBytes(length);
    }
    return out;
  }

  /** Appends, blocking this thread while the ring is full. */
  appendBlocking(payload: Uint8Array): number {
    for (;;) {
      const seq = Atomics.load(this.i32, this.index(Ring.DRAIN_SEQ));
      const lsn = this.tryAppend(payload);
      if (lsn >= 0) return lsn;
      Atomics.wait(this.i32, this.index(Ring.DRAIN_SEQ), seq, 50);
    }
  }

  /** Appends, awaiting (not blocking) while the ring is full. */
  async append(payload: Uint8Array): Promise<number> {
    for (;;) {
      const seq = Atomics.load(this.i32, this.index(Ring.DRAIN_SEQ));
      const lsn = this.tryAppend(payload);
      if (lsn >= 0) return lsn;
      await waitForChange(this.i32, this.index(Ring.DRAIN_SEQ), seq, 50);
    }
  }

  /**
   * Resolves once publishedEnd has reached `lsnEnd`: another thread's earlier reservation
   * holds it back until that thread publishes (it was descheduled between its reservation
   * and its publication, or waits for ring room). The publisher wakes this wait
   * (assembly/walring.ts wakePublishWaiters): this thread counts itself in publishWaiters
   * for as long as it waits, reads publishSeq, then publishedEnd, and sleeps only while
   * publishSeq is unchanged. Each sleep is bounded by PUBLISH_WAIT_MS. Rejects with the
   * state error once the ring is FAILED or CLOSED (a state change wakes it too).
   */
  async untilPublished(lsnEnd: number, what: string): Promise<void> {
    const i32 = this.i32;
    const waiters = this.index(Ring.PUBLISH_WAITERS);
    const seqIndex = this.index(Ring.PUBLISH_SEQ);
    Atomics.add(i32, waiters, 1);
    try {
      for (;;) {
        const seq = Atomics.load(i32, seqIndex);
        if (this.publishedEnd >= lsnEnd) return;
        const state = this.state;
        if (state === RingState.FAILED || state === RingState.CLOSED) throw this.stateError(what);
        await waitForChange(i32, seqIndex, seq, PUBLISH_WAIT_MS);
      }
    } finally {
      Atomics.sub(i32, waiters, 1);
    }
  }

  /**
   * Asks the durability worker to sync up to `target` now instead of gathering for its
   * batch interval (durability "async"), unless that is durable already: flushRequests +1,
   * then wakeSeq +1 and a notify. The worker reads wakeSeq before flushRequests, so a
   * request made after its read ends its wait at once (durability-worker.ts).
   */
  requestSync(target: number): void {
    if (this.durableLsn >= target) return;
    Atomics.add(this.i32, this.index(Ring.FLUSH_REQUESTS), 1);
    const wake = this.index(Ring.WAKE_SEQ);
    Atomics.add(this.i32, wake, 1);
    Atomics.notify(this.i32, wake);
  }

  /** Sets a new state (CLOSING, CLOSED, FAILED) and wakes every waiter. */
  setState(state: number, failCode: number = FailCode.NONE, osCode = ""): void {
    // The first failure's text stays with its code (walSetState keeps the first code): a
    // ring already failing is not described again. Two threads failing it at once may
    // still leave one's code with the other's text.
    if (state === RingState.FAILED && Atomics.load(this.core.i32, (this.ring + Ring.FAIL_CODE) >>> 2) === FailCode.NONE) {
      const at = this.ring + Ring.FAIL_TEXT;
      const text = osCode.slice(0, Ring.FAIL_TEXT_BYTES - 1);
      for (let i = 0; i < Ring.FAIL_TEXT_BYTES; i++) this.core.u8[at + i] = i < text.length ? text.charCodeAt(i) & 0x7f : 0;
    }
    this.core.exports.walSetState(this.ring, state, failCode);
  }
}

/**
 * Resolves when `i32[index]` is no longer `seen`, or after `timeoutMs`, without blocking
 * the thread. Holds the event loop open while waiting (a pending Atomics.waitAsync does
 * not, in Node and Deno).
 */
export function waitForChange(i32: Int32Array, index: number, seen: number, timeoutMs: number): Promise<void> {
  const result = Atomics.waitAsync(i32, index, seen, timeoutMs);
  if (!result.async) return Promise.resolve();
  const keepAlive = setTimeout(() => {}, timeoutMs + 1000);
  return result.value.then(() => clearTimeout(keepAlive));
}
