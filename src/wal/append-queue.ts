/**
 * AppendQueue: one Log handle's appends, reserved in the ring in the order they were made.
 *
 * An append reserves its record at once when nothing of this handle waits and the ring has
 * room. Otherwise it joins the queue (with a copy of its bytes: the caller may reuse its
 * array), and the queue's pump reserves the queued records oldest first, awaiting room in
 * the ring between them. So:
 *   - a later append of this handle never takes an LSN below an earlier one (a small record
 *     that fits cannot slip in ahead of a large one waiting for room), and the records of
 *     an `append(array)` are contiguous among this handle's appends;
 *   - `appendNow` (which blocks its thread instead of awaiting) first reserves everything
 *     queued, blocking while the ring is full, then its own records: it cannot overtake
 *     them either (and the pump, which cannot run while the thread blocks, finds nothing
 *     left);
 *   - `close` waits until the queue is empty before the ring closes, so every append made
 *     before `close()` is in the log (an array whole), or the log failed.
 * A failure of the ring (FAILED, CLOSED) rejects every queued append with its error.
 *
 * Invariants: queued appends are reserved in queue order, each exactly once (by the pump
 * or by drainBlocking, both on this thread; never both for one entry: whoever reserves an
 * entry removes it first). Bounded by what the caller has in flight (each entry is a
 * pending promise of the caller's).
 * Threads: the thread of the Log handle; the ring is shared (reservations are atomic).
 */
import type { RingView } from "./ring.ts";
import { waitForChange } from "./ring.ts";
import { Ring } from "./format.ts";

/** How long the pump sleeps at most before it looks at the ring's room again (a drain normally wakes it first), ms. */
const ROOM_WAIT_MS = 50;

interface Queued {
  bytes: Uint8Array;
  resolve(lsn: number): void;
  reject(error: unknown): void;
}

export class AppendQueue {
  readonly #waiting: Queued[] = [];
  #pumping = false;
  #idle: Promise<void> = Promise.resolve();
  #idleResolve: (() => void) | undefined;

  constructor(private readonly ring: RingView) {}

  /** The record's LSN at once, or a promise of it when it has to wait its turn. */
  add(bytes: Uint8Array): number | Promise<number> {
    if (this.#waiting.length === 0) {
      const lsn = this.ring.tryAppend(bytes);
      if (lsn >= 0) return lsn;
    }
    return this.#enqueue(new Uint8Array(bytes)); // a copy (slice() of a Node Buffer is a view of the caller's bytes)
  }

  /** Reserves every queued record now, in order, blocking this thread while the ring is full. */
  drainBlocking(): void {
    while (this.#waiting.length > 0) {
      const entry = this.#waiting.shift()!;
      try {
        entry.resolve(this.ring.appendBlocking(entry.bytes));
      } catch (error) {
        entry.reject(error);
        this.#failAll(error);
      }
    }
    this.#settle();
  }

  /** Resolves once nothing is queued. */
  whenIdle(): Promise<void> {
    return this.#idle;
  }

  #enqueue(bytes: Uint8Array): Promise<number> {
    const lsn = new Promise<number>((resolve, reject) => this.#waiting.push({ bytes, resolve, reject }));
    if (!this.#idleResolve) this.#idle = new Promise<void>((resolve) => (this.#idleResolve = resolve));
    if (!this.#pumping) void this.#pump();
    return lsn;
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    const ring = this.ring;
    const drainIndex = ring.index(Ring.DRAIN_SEQ);
    try {
      while (this.#waiting.length > 0) {
        const seq = Atomics.load(ring.i32, drainIndex);
        const entry = this.#waiting[0];
        let lsn: number;
        try {
          lsn = ring.tryAppend(entry.bytes);
        } catch (error) {
          this.#failAll(error);
          break;
        }
        if (lsn >= 0) {
          this.#waiting.shift();
          entry.resolve(lsn);
          continue;
        }
        await waitForChange(ring.i32, drainIndex, seq, ROOM_WAIT_MS);
      }
    } finally {
      this.#pumping = false;
      this.#settle();
    }
  }

  #failAll(error: unknown): void {
    for (const entry of this.#waiting.splice(0)) entry.reject(error);
  }

  #settle(): void {
    if (this.#waiting.length > 0) return;
    this.#idleResolve?.();
    this.#idleResolve = undefined;
  }
}
