/**
 * Workers over node:worker_threads (Node, and Deno, whose web Worker cannot be unref'd):
 * the parent's WorkerHandle, and the worker's ParentPort.
 *
 * Invariants: the WorkerInit travels as `workerData` (a WebAssembly.Module and a shared
 * WebAssembly.Memory clone into it); messages that arrive before the first listener are
 * held for it, on both sides; error listeners hear at most one error per worker,
 * an uncaught exception or an exit that `terminate()` did not cause; the worker side
 * keeps a listener on its port from the start, so a worker lives until it is terminated
 * (or crashes).
 * Threads: a WorkerHandle is used by the thread that spawned it; a ParentPort by its worker.
 */
import { Worker } from "node:worker_threads";
import type { MessagePort } from "node:worker_threads";
import type { ParentPort, WorkerHandle, WorkerInit } from "../../src/platform.ts";
import { MessageQueue } from "../../src/message-queue.ts";

export function spawnNodeWorker(url: URL, init: WorkerInit): WorkerHandle {
  const worker = new Worker(url, { workerData: init });
  const inbox = new MessageQueue();
  worker.on("message", (message: unknown) => inbox.deliver(message));
  let terminating = false;
  let failed = false;
  const errorListeners: Array<(error: Error) => void> = [];
  const fail = (error: Error) => {
    if (failed || terminating) return;
    failed = true;
    for (const listener of errorListeners) listener(error);
  };
  worker.on("error", (error: unknown) =>
    fail(error instanceof Error ? error : new Error(`worker failed: ${String(error)}`)));
  worker.on("messageerror", (error: unknown) =>
    fail(new Error(`worker message could not be deserialized: ${String(error)}`)));
  worker.on("exit", (code: number) => fail(new Error(`worker exited with code ${code} before it was terminated`)));
  return {
    postMessage: (message) => worker.postMessage(message),
    onMessage: (listener) => inbox.listen(listener),
    onError: (listener) => void errorListeners.push(listener),
    unref: () => worker.unref(),
    ref: () => worker.ref(),
    async terminate() {
      terminating = true;
      await worker.terminate();
    },
  };
}

/** The worker's side; `port` is node:worker_threads' `parentPort`. */
export function nodeParentPort(port: MessagePort): ParentPort {
  const queue = new MessageQueue();
  port.on("message", (message: unknown) => queue.deliver(message));
  return {
    postMessage: (message) => port.postMessage(message),
    onMessage: (listener) => queue.listen(listener),
  };
}
