/**
 * DurableWaiters: promises that settle when the log is durable up to an LSN.
 *
 * One thread keeps at most one `Atomics.waitAsync` pending on the ring's durableSeq,
 * however many appends wait: when it wakes, every waiter whose target the new durable
 * LSN covers is resolved at once (one sync acknowledges a whole group), and it re-arms if
 * any remain. While anything waits, a timer holds the event loop open (Node and Deno do
 * not count a pending waitAsync). If the ring fails or closes, every waiter rejects.
 *
 * Invariants: a waiter resolves only after durableLsn >= its target was read; durableSeq
 * is read before durableLsn, so a sync that lands in between changes the sequence and the
 * wait returns at once (no lost wake-up). Waiters settle in target order.
 * Threads: one instance per thread per ring; `waitSync` is for worker threads.
 */
import { Ring, RingState } from "./format.ts";
import type { RingView } from "./ring.ts";

interface Waiter {
  target: number;
  resolve: () => void;
  reject: (error: Error) => void;
}

export class DurableWaiters {
  #queue: Waiter[] = [];
  #armed = false;
  #keepAlive: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly ring: RingView, private readonly what: string) {}

  /** Number of appends waiting. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves once the log is durable up to `target` (an LSN just past a record). */
  wait(target: number): Promise<void> {
    if (this.ring.durableLsn >= target) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const queue = this.#queue;
      let i = queue.length;
      while (i > 0 && queue[i - 1].target > target) i--;
      queue.splice(i, 0, { target, resolve, reject });
      this.#keepAlive ??= setInterval(() => {}, 1 << 30);
      this.#arm();
    });
  }

  /** Blocks this thread until the log is durable up to `target`, or throws the ring's error. */
  waitSync(target: number): void {
    const ring = this.ring;
    const index = ring.index(Ring.DURABLE_SEQ);
    for (;;) {
      const seq = Atomics.load(ring.i32, index);
      if (ring.durableLsn >= target) return;
      if (ring.state === RingState.FAILED || ring.state === RingState.CLOSED) throw ring.stateError(this.what);
      Atomics.wait(ring.i32, index, seq, 1000);
    }
  }

  #arm(): void {
    if (this.#armed) return;
    const ring = this.ring;
    const index = ring.index(Ring.DURABLE_SEQ);
    const seq = Atomics.load(ring.i32, index);
    this.#settle();
    if (this.#queue.length === 0) return;
    this.#armed = true;
    const result = Atomics.waitAsync(ring.i32, index, seq);
    const wake = () => {
      this.#armed = false;
      this.#settle();
      this.#arm();
    };
    if (result.async) result.value.then(wake);
    else queueMicrotask(wake);
  }

  #settle(): void {
    const queue = this.#queue;
    const durable = this.ring.durableLsn;
    let done = 0;
    while (done < queue.length && queue[done].target <= durable) queue[done++].resolve();
    if (done > 0) queue.splice(0, done);
    const state = this.ring.state;
    if (queue.length > 0 && (state === RingState.FAILED || state === RingState.CLOSED)) {
      const error = this.ring.stateError(this.what);
      for (const waiter of queue.splice(0)) waiter.reject(error);
    }
    if (queue.length === 0 && this.#keepAlive !== undefined) {
      clearInterval(this.#keepAlive);
      this.#keepAlive = undefined;
    }
  }
}
