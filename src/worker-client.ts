/**
 * Running one function in a worker thread: `runModuleInWorker` spawns a worker with the
 * "module" role (src/worker-main.ts), which imports `url` and calls its export `exportName`
 * with the shared core `module`, the shared `memory` and `data`; the promise settles with
 * that function's result.
 *
 * Invariants: the promise settles exactly once: with the posted result, or with an Error
 * on `{ type: "error" }`, an uncaught worker error, or the worker exiting early; the
 * worker is terminated before it settles, whichever way. Other messages the function
 * posts are progress, handed to `onMessage`.
 * Threads: the spawning thread (main or a worker).
 */
import type { Platform } from "./platform.ts";
import type { ModuleTaskArgs, WorkerOutcome } from "./worker-main.ts";

export interface ModuleInWorkerOptions {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Absolute URL of the module to import in the worker (e.g. `new URL("./x.ts", import.meta.url).href`). */
  url: string;
  exportName: string;
  /** Structured-cloneable argument. */
  data?: unknown;
  /** Progress messages the function posts before it returns. */
  onMessage?: (message: unknown) => void;
}

function isOutcome(message: unknown): message is WorkerOutcome {
  const type = (message as { type?: unknown } | null)?.type;
  return type === "result" || type === "error";
}

export async function runModuleInWorker(platform: Platform, options: ModuleInWorkerOptions): Promise<unknown> {
  const { module, memory, url, exportName, data, onMessage } = options;
  const args: ModuleTaskArgs = { url, export: exportName, data };
  const worker = platform.spawnWorker({ role: "module", module, memory, args });
  let outcome: { ok: true; value: unknown } | { ok: false; error: Error };
  try {
    outcome = await new Promise((resolve) => {
      worker.onMessage((message) => {
        if (!isOutcome(message)) return onMessage?.(message);
        if (message.type === "result") return resolve({ ok: true, value: message.value });
        const error = new Error(`${url}#${exportName} failed in a worker: ${message.message}`);
        if (message.stack) error.stack = `${error.stack}\n  worker stack: ${message.stack}`;
        resolve({ ok: false, error });
      });
      worker.onError((error) => resolve({ ok: false, error }));
    });
  } finally {
    await worker.terminate();
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}
