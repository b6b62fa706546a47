/**
 * The channel path, client side: sending a write to the actor and receiving its reply.
 *
 * Requests are records in the actor's request ring (the WAL ring's reserve/publish
 * protocol, no disk), so any thread holding the shared memory can send one, workers
 * included. Replies come back in the requester's own ThreadBlock, in one of REPLY_SLOTS
 * slots; the actor writes the slot, then bumps the thread's reply sequence word and
 * notifies it. One thread keeps at most one Atomics.waitAsync on that word, however many
 * requests it has in flight. That wait has no timeout: in Node a timeout costs a delayed
 * task posted to the event loop and cancelled at every reply (a channel write's p50 was
 * ~5 µs longer). While replies are pending, an interval (which also keeps the event loop
 * alive) checks every STOPPED_CHECK_MS whether the actor stopped without answering (its
 * thread died): then what is pending fails, as before within the same bound.
 *
 *   request := version:u8 = 1  kind:u8  slot:u16  threadBlock:u32  body
 *   kind 1 (write):      body := engine operations record (src/engine/records.ts,
 *                        timestamps 0: the actor assigns them)
 *   kind 2 (batch part): body := index:u32  flags:u32 (1: the last part)  engine operations
 *                        record (timestamps 0). A large batch (docs/ENGINE.md) is sent as
 *                        parts 0..n-1, appended back to back in order; only the last has a
 *                        reply slot (the others say slot 0xFFFF), and the actor commits the
 *                        batch when it takes the last, replying for all of it.
 *   reply slot (REPLY_BYTES, at TB_REPLIES + slot * REPLY_BYTES):
 *              +0 u32 state (0 free, 1 pending, 2 done)  +4 u32 status (ReplyStatus)
 *              +8 u64 ts (largest of the request)  +16 u64 visibleAfter (the write is visible
 *              once the database's visible point passes it)
 *
 * Let-go requests: the actor, refusing a write of this thread for a shared memory full of
 * arenas that reads hold, first bumps TB_LET_GO_SEQ and the reply sequence word (the
 * thread's wait wakes) and waits for the answer: the thread, finding the let-go word moved,
 * has its held scans re-pin (`onLetGo`), which frees the arenas they held, and stores the
 * word's value in TB_LET_GO_DONE; the actor's next allocation reclaims them. So a write is
 * refused only for reads the thread cannot let go, one wake round trip later (or after
 * LET_GO_WAIT_MS when the thread does not answer: a synchronous loop).
 *
 * Invariants: a request is encoded when `send` is called (the caller's arrays are read
 * then, never later); a slot is owned by its thread from acquire until the reply is read; the actor
 * writes a reply's fields before the atomic store of state = done; the request is bounded by
 * the request ring (its capacity) and the slots (REPLY_SLOTS in flight per thread).
 * Threads: the thread owning the ThreadBlock (requests), the actor (replies).
 */
import type { Core } from "../core/core.ts";
import type { RingView } from "../wal/ring.ts";
import { encodeOperationsAfter, KIND_OPERATIONS, type Operation, OP_HEADER_BYTES, operationBytes, RECORD_PREFIX_BYTES, RECORD_VERSION } from "./records.ts";

export const TB_REPLY_SEQ = 12;
/**
 * A second word the actor bumps (before the reply sequence word, which wakes the thread):
 * "let go of what your held scans keep" (src/engine/scan.ts repin). It asks so when a write
 * of this thread finds the shared memory full of arenas that reads still hold.
 */
export const TB_LET_GO_SEQ = 24;
/** How many open scans of the thread can let go (written by its ReadContext): the actor asks only such threads. */
export const TB_HELD_SCANS = 28;
/** The let-go word's value the thread has answered (its scans re-pinned): what the actor waits for. */
export const TB_LET_GO_DONE = 32;
export const TB_REPLIES = 1472;
export const REPLY_SLOTS = 64;
export const REPLY_BYTES = 32;
export const REQUEST_PREFIX_BYTES = 8;
export const REQUEST_KIND_WRITE = 1;
export const REQUEST_KIND_BATCH_PART = 2;
export const PART_HEADER_BYTES = 8;
export const PART_LAST = 1;
/** The slot of a request that gets no reply (a large batch's parts but the last). */
export const NO_REPLY_SLOT = 0xffff;
export const ReplyState = { FREE: 0, PENDING: 1, DONE: 2 } as const;
export const ReplyStatus = { OK: 0, FAILED: 1, CLOSED: 2, TOO_LARGE: 3, BAD_REQUEST: 4, MEMORY_FULL: 5 } as const;
/** How often a thread with replies pending checks whether the actor stopped without answering them (ms). */
const STOPPED_CHECK_MS = 1000;

export interface Reply {
  status: number;
  ts: bigint;
  visibleAfter: number;
}

interface Pending {
  resolve: (reply: Reply) => void;
}

export class ChannelClient {
  #free: number[] = Array.from({ length: REPLY_SLOTS }, (_, i) => REPLY_SLOTS - 1 - i);
  /** Sends waiting for a slot, in the order they were made: a freed slot goes to the first. */
  #slotWaiters: Array<(slot: number) => void> = [];
  #pending = new Map<number, Pending>();
  #armed = false;
  /** The let-go word as last seen (TB_LET_GO_SEQ). */
  #letGoSeen = 0;
  /** Called on this thread when the actor asked it to let go of its held scans (see the header). */
  onLetGo: (() => void) | undefined;
  /** Appends still waiting for room in the request ring, and the last of them. */
  #waitingAppends = 0;
  #appendTail: Promise<unknown> = Promise.resolve();
  /** While replies are pending: checks for a stopped actor, and keeps the event loop alive. */
  #stoppedCheck: ReturnType<typeof setInterval> | undefined;
  readonly #i32: Int32Array;

  /**
   * @param stoppedStatus the status to fail pending requests with once the actor will send
   *   no more replies (it stopped or died), or undefined while it is running.
   */
  constructor(
    private readonly core: Core,
    private readonly requests: RingView,
    private readonly stoppedStatus: () => number | undefined,
  ) {
    this.#i32 = core.i32;
  }

  #slotAt(slot: number): number {
    return this.core.threadBlock + TB_REPLIES + slot * REPLY_BYTES;
  }

  /** `ops` encoded as a write request: the operations' bytes are copied here, now (the slot is filled in once one is free). */
  #request(ops: readonly Operation[]): Uint8Array {
    const out = encodeOperationsAfter(ops, REQUEST_PREFIX_BYTES);
    const view = new DataView(out.buffer);
    out[0] = 1;
    out[1] = REQUEST_KIND_WRITE;
    view.setUint16(2, NO_REPLY_SLOT, true);
    view.setUint32(4, this.core.threadBlock, true);
    return out;
  }

  /**
   * A reply slot, in the order of the calls: a freed slot is handed to the first send
   * waiting for one, never left free for a later send to take ahead of it (that later
   * request would be appended first, and apply first).
   */
  #acquire(): Promise<number> {
    if (this.#slotWaiters.length === 0 && this.#free.length > 0) return Promise.resolve(this.#free.pop()!);
    return new Promise<number>((resolve) => this.#slotWaiters.push(resolve));
  }

  #release(slot: number): void {
    Atomics.store(this.#i32, this.#slotAt(slot) >>> 2, ReplyState.FREE);
    const next = this.#slotWaiters.shift();
    if (next) next(slot);
    else this.#free.push(slot);
  }

  #readReply(slot: number): Reply {
    const at = this.#slotAt(slot);
    const core = this.core;
    return {
      status: core.u32[(at + 4) >>> 2],
      ts: core.u64[(at + 8) >>> 3],
      visibleAfter: Number(core.u64[(at + 16) >>> 3]),
    };
  }

  /**
   * Sends `ops` (one atomic write) to the actor; resolves with its reply. The request is
   * encoded before this returns (the reply slot it names is filled in once one is free):
   * the caller may reuse its keys' and values' arrays at once.
   */
  send(ops: readonly Operation[]): Promise<Reply> {
    return this.#sendEncoded(this.#request(ops));
  }

  async #sendEncoded(request: Uint8Array): Promise<Reply> {
    const slot = await this.#acquire();
    new DataView(request.buffer, request.byteOffset, request.byteLength).setUint16(2, slot, true);
    Atomics.store(this.#i32, this.#slotAt(slot) >>> 2, ReplyState.PENDING);
    try {
      await this.#appendInOrder(request);
    } catch (error) {
      this.#release(slot);
      throw error;
    }
    return this.#reply(slot);
  }

  /** The reply that will come in `slot`. */
  #reply(slot: number): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      this.#pending.set(slot, { resolve });
      this.#stoppedCheck ??= setInterval(() => this.#failIfStopped(), STOPPED_CHECK_MS);
      this.#arm();
    });
  }

  /**
   * Sends a large batch as `parts` (each within a request's size), appended back to back in
   * order (nothing this thread sends later can come between them); resolves with the reply
   * to the last part, which the actor sends once it committed the whole batch.
   */
  async sendLarge(parts: readonly Uint8Array[]): Promise<Reply> {
    const slot = await this.#acquire();
    Atomics.store(this.#i32, this.#slotAt(slot) >>> 2, ReplyState.PENDING);
    try {
      const appends: Array<Promise<unknown> | undefined> = [];
      for (let index = 0; index < parts.length; index++) {
        const part = parts[index];
        const view = new DataView(part.buffer, part.byteOffset, part.byteLength);
        view.setUint16(2, index === parts.length - 1 ? slot : NO_REPLY_SLOT, true);
        view.setUint32(4, this.core.threadBlock, true);
        appends.push(this.#appendInOrder(part));
      }
      await Promise.all(appends);
    } catch (error) {
      this.#release(slot);
      throw error;
    }
    return this.#reply(slot);
  }

  /**
   * Appends to the request ring in the order of the calls: when the ring is full, a later
   * (smaller) request must not slip in ahead of an earlier one still waiting for room, or
   * this thread's writes to a shard would apply out of order.
   */
  #appendInOrder(payload: Uint8Array): Promise<unknown> | undefined {
    if (this.#waitingAppends === 0 && this.requests.tryAppend(payload) >= 0) return undefined;
    this.#waitingAppends++;
    const mine = this.#appendTail.then(() => this.requests.append(payload)).finally(() => this.#waitingAppends--);
    this.#appendTail = mine.catch(() => undefined);
    return mine;
  }

  /** Rejection for every request in flight (the database failed or closed). */
  failAll(reply: Reply): void {
    for (const [slot, pending] of this.#pending) {
      this.#pending.delete(slot);
      this.#release(slot);
      pending.resolve(reply);
    }
    this.#disarmIfIdle();
    // The armed wait would stay pending until a reply that will never come: in Bun a pending
    // Atomics.waitAsync keeps the process alive (Node and Deno let it end). Wake it: it finds
    // nothing pending and does not arm again.
    if (this.#armed) Atomics.notify(this.#i32, (this.core.threadBlock + TB_REPLY_SEQ) >>> 2);
  }

  #arm(): void {
    if (this.#armed) return;
    const seqIndex = (this.core.threadBlock + TB_REPLY_SEQ) >>> 2;
    const seq = Atomics.load(this.#i32, seqIndex);
    this.#settle();
    if (this.#pending.size === 0) return this.#disarmIfIdle();
    if (this.#failIfStopped()) return;
    this.#armed = true;
    const result = Atomics.waitAsync(this.#i32, seqIndex, seq);
    const wake = () => {
      this.#armed = false;
      this.#settle();
      this.#arm();
    };
    if (result.async) result.value.then(wake);
    else queueMicrotask(wake);
  }

  /** Fails what is pending if the actor will answer no more; true if it did. */
  #failIfStopped(): boolean {
    const stopped = this.stoppedStatus();
    if (stopped === undefined) return false;
    // Replies are written before the actor is marked stopped: settle once more, then fail the rest.
    this.#settle();
    this.failAll({ status: stopped, ts: 0n, visibleAfter: 0 });
    return true;
  }

  #settle(): void {
    const letGo = Atomics.load(this.#i32, (this.core.threadBlock + TB_LET_GO_SEQ) >>> 2);
    if (letGo !== this.#letGoSeen) {
      this.#letGoSeen = letGo;
      try {
        this.onLetGo?.();
      } finally {
        Atomics.store(this.#i32, (this.core.threadBlock + TB_LET_GO_DONE) >>> 2, letGo); // answered, whatever came of it
      }
    }
    for (const [slot, pending] of this.#pending) {
      if (Atomics.load(this.#i32, this.#slotAt(slot) >>> 2) !== ReplyState.DONE) continue;
      const reply = this.#readReply(slot);
      this.#pending.delete(slot);
      this.#release(slot);
      pending.resolve(reply);
    }
  }

  #disarmIfIdle(): void {
    if (this.#pending.size === 0 && this.#stoppedCheck !== undefined) {
      clearInterval(this.#stoppedCheck);
      this.#stoppedCheck = undefined;
    }
  }
}

/**
 * A large batch's part requests (kind 2): `ops`, of shards `shards`, in parts whose
 * operations records hold at most `recordBytesMax` bytes each; slot and threadBlock are
 * filled in by sendLarge. Written byte by byte: a batch may hold a million operations.
 */
export function encodeParts(ops: ReadonlyArray<{ type: number; key: Uint8Array; value: Uint8Array | undefined }>, shards: Uint16Array, recordBytesMax: number): Uint8Array[] {
  const ends: number[] = [];
  const sizes: number[] = [];
  let bytes = RECORD_PREFIX_BYTES;
  for (let i = 0; i < ops.length; i++) {
    const own = operationBytes(ops[i].key, ops[i].value);
    if (i > 0 && bytes + own > recordBytesMax) {
      ends.push(i);
      sizes.push(bytes);
      bytes = RECORD_PREFIX_BYTES;
    }
    bytes += own;
  }
  ends.push(ops.length);
  sizes.push(bytes);
  const parts: Uint8Array[] = [];
  for (let p = 0, i = 0; p < ends.length; p++) {
    const out = new Uint8Array(REQUEST_PREFIX_BYTES + PART_HEADER_BYTES + sizes[p]);
    const view = new DataView(out.buffer);
    out[0] = 1;
    out[1] = REQUEST_KIND_BATCH_PART;
    view.setUint32(REQUEST_PREFIX_BYTES, p, true);
    view.setUint32(REQUEST_PREFIX_BYTES + 4, p === ends.length - 1 ? PART_LAST : 0, true);
    const record = REQUEST_PREFIX_BYTES + PART_HEADER_BYTES;
    out[record] = RECORD_VERSION;
    out[record + 1] = KIND_OPERATIONS;
    view.setUint32(record + 4, ends[p] - i, true);
    let at = record + RECORD_PREFIX_BYTES;
    for (; i < ends[p]; i++) {
      const { type, key, value } = ops[i];
      const valueLength = value?.length ?? 0;
      out[at] = type;
      out[at + 2] = shards[i] & 0xff;
      out[at + 3] = shards[i] >>> 8;
      out[at + 4] = key.length & 0xff;
      out[at + 5] = key.length >>> 8;
      view.setUint32(at + 8, valueLength, true);
      out.set(key, at + OP_HEADER_BYTES);
      if (value) out.set(value, at + OP_HEADER_BYTES + key.length);
      at += OP_HEADER_BYTES + key.length + valueLength; // the timestamp stays 0: the actor's
    }
    parts.push(out);
  }
  return parts;
}

/**
 * Actor side: asks the thread of `threadBlock` to let go of its held scans, and wakes it
 * (see the header). Returns whether the thread has answered: `answered()` is true once it
 * did (or at once if it has no scan that can let go).
 */
export function askLetGo(core: Core, threadBlock: number): () => boolean {
  const i32 = core.i32;
  if (Atomics.load(i32, (threadBlock + TB_HELD_SCANS) >>> 2) === 0) return () => true;
  const asked = Atomics.add(i32, (threadBlock + TB_LET_GO_SEQ) >>> 2, 1) + 1;
  const seqIndex = (threadBlock + TB_REPLY_SEQ) >>> 2;
  Atomics.add(i32, seqIndex, 1);
  Atomics.notify(i32, seqIndex);
  return () => Atomics.load(i32, (threadBlock + TB_LET_GO_DONE) >>> 2) === asked;
}

/** Actor side: writes a reply into the requester's slot and wakes the requester. */
export function writeReply(core: Core, threadBlock: number, slot: number, reply: Reply): void {
  const i32 = core.i32;
  const at = threadBlock + TB_REPLIES + slot * REPLY_BYTES;
  core.u32[(at + 4) >>> 2] = reply.status;
  core.u64[(at + 8) >>> 3] = reply.ts;
  core.u64[(at + 16) >>> 3] = BigInt(reply.visibleAfter);
  Atomics.store(i32, at >>> 2, ReplyState.DONE);
  const seqIndex = (threadBlock + TB_REPLY_SEQ) >>> 2;
  Atomics.add(i32, seqIndex, 1);
  Atomics.notify(i32, seqIndex);
}
