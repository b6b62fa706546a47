/**
 * MessageQueue: fan-out of incoming messages to listeners, holding messages that arrive
 * before the first listener so none is lost while a worker is still starting its role.
 *
 * Invariants: messages reach listeners in arrival order; queued messages are delivered,
 * in order, to the first listener when it is added.
 * Threads: owned by one thread: a worker (its incoming messages) or a worker pool's spawner
 * (a pooled thread's messages, src/worker-pool.ts).
 */
export class MessageQueue {
  #listeners: Array<(message: unknown) => void> = [];
  #held: unknown[] = [];

  deliver(message: unknown): void {
    if (this.#listeners.length === 0) this.#held.push(message);
    else for (const listener of this.#listeners) listener(message);
  }

  listen(listener: (message: unknown) => void): void {
    this.#listeners.push(listener);
    if (this.#listeners.length === 1) for (const message of this.#held.splice(0)) listener(message);
  }
}
