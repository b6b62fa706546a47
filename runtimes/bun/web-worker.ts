/**
 * Workers for Bun over the web Worker: the parent's WorkerHandle and the worker's
 * ParentPort. The WorkerInit is the first message; Bun's web Worker has ref()/unref()
 * and a "close" event, which is how an early exit is noticed.
 *
 * Invariants: error listeners hear at most one error per worker, an uncaught error or a
 * close that `terminate()` did not cause; `terminate()` resolves once the worker closed;
 * messages that arrive before the first listener are held for it, on both sides.
 * Threads: a WorkerHandle is used by the thread that spawned it; a ParentPort by its worker.
 */
import type { ParentPort, WorkerHandle, WorkerInit } from "../../src/platform.ts";
import { MessageQueue } from "../../src/message-queue.ts";

type BunWorker = Worker & { ref(): void; unref(): void };

export function spawnWebWorker(url: URL, init: WorkerInit): WorkerHandle {
  const worker = new Worker(url.href, { type: "module" }) as BunWorker;
  const inbox = new MessageQueue();
  worker.addEventListener("message", (e: MessageEvent) => inbox.deliver(e.data));
  let terminating = false;
  let closed = false;
  let failed = false;
  const closeWaiters: Array<() => void> = [];
  const errorListeners: Array<(error: Error) => void> = [];
  const fail = (error: Error) => {
    if (failed || terminating) return;
    failed = true;
    for (const listener of errorListeners) listener(error);
  };
  worker.addEventListener("error", (event: Event) => {
    event.preventDefault();
    const e = event as ErrorEvent;
    fail(e.error instanceof Error ? e.error : new Error(`worker failed: ${e.message}`));
  });
  worker.addEventListener("messageerror", () => fail(new Error("worker message could not be deserialized")));
  worker.addEventListener("close", (event: Event) => {
    closed = true;
    for (const resolve of closeWaiters.splice(0)) resolve();
    fail(new Error(`worker exited with code ${(event as Event & { code?: number }).code} before it was terminated`));
  });
  try {
    worker.postMessage(init);
  } catch (error) {
    // An init that cannot be copied (DataCloneError): the worker is already running, waiting
    // for it, and would hold the process open for ever.
    terminating = true;
    worker.terminate();
    throw error;
  }
  return {
    postMessage: (message) => worker.postMessage(message),
    onMessage: (listener) => inbox.listen(listener),
    onError: (listener) => void errorListeners.push(listener),
    unref: () => worker.unref(),
    ref: () => worker.ref(),
    terminate() {
      terminating = true;
      if (closed) return Promise.resolve();
      const done = new Promise<void>((resolve) => closeWaiters.push(resolve));
      worker.terminate();
      return done;
    },
  };
}

/** Worker side: resolves with the WorkerInit (the first message) and the port for the rest. */
export function webParentPort(): Promise<{ init: WorkerInit; port: ParentPort }> {
  const scope = globalThis as unknown as {
    postMessage(message: unknown): void;
    addEventListener(type: "message", listener: (e: MessageEvent) => void): void;
  };
  const queue = new MessageQueue();
  return new Promise((resolve) => {
    let init: WorkerInit | undefined;
    scope.addEventListener("message", (e) => {
      if (init !== undefined) return queue.deliver(e.data);
      init = e.data as WorkerInit;
      resolve({
        init,
        port: { postMessage: (message) => scope.postMessage(message), onMessage: (listener) => queue.listen(listener) },
      });
    });
  });
}
