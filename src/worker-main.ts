/**
 * Worker role dispatch, the same on every runtime: each runtimes/<rt>/worker.ts receives
 * its WorkerInit, builds a ParentPort and calls `runWorker`, which runs the function
 * registered under `init.role`.
 *
 * Roles: "module" is built in (below); modules add others with `registerWorkerRole`
 * ("durability", "actor", ...). A role must be registered in the worker thread itself,
 * so the module that registers it has to be imported by the worker before `runWorker`
 * dispatches (for example from the runtime's worker entry).
 *
 * The "module" role: `init.args = { url, export, data }`; the worker imports `url` and
 * awaits `module[export]({ platform, module, memory, data, port })`, then posts
 * `{ type: "result", value }`, or `{ type: "error", message, stack }` if that throws or its
 * value cannot be posted. The function may post progress messages on `port` before it
 * returns; they must not use the types "result" or "error".
 *
 * Invariants: a role that throws (or an unknown role) is reported to the parent as one
 * `{ type: "error" }` message, never as an unhandled rejection; `runWorker` never throws.
 * Threads: worker threads only; the registry is per thread.
 */
import type { ParentPort, Platform, PlatformWrapper, WorkerInit } from "./platform.ts";

export type WorkerRole = (platform: Platform, init: WorkerInit, port: ParentPort) => void | Promise<void>;

/** What a "module" role function receives. */
export interface ModuleTaskContext {
  platform: Platform;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  data: unknown;
  port: ParentPort;
}

export interface ModuleTaskArgs {
  /** Absolute URL of the module to import in the worker. */
  url: string;
  /** Name of the exported function to call. */
  export: string;
  /** Structured-cloneable argument handed to the function as `data`. */
  data: unknown;
}

/** Terminal messages a worker posts when its role ends. */
export type WorkerOutcome =
  | { type: "result"; value: unknown }
  | { type: "error"; message: string; stack?: string };

const roles = new Map<string, WorkerRole>();

/** Adds a role; registering one name twice is a programming error. */
export function registerWorkerRole(name: string, role: WorkerRole): void {
  if (roles.has(name)) throw new Error(`worker role "${name}" is already registered`);
  roles.set(name, role);
}

function errorOutcome(error: unknown): WorkerOutcome {
  if (error instanceof Error) return { type: "error", message: error.message, stack: error.stack };
  return { type: "error", message: String(error) };
}

/** Posts `outcome`, or an error outcome if it cannot be cloned. */
function postOutcome(port: ParentPort, outcome: WorkerOutcome): void {
  try {
    port.postMessage(outcome);
  } catch (error) {
    port.postMessage(errorOutcome(error));
  }
}

/** The function `exportName` of the module at `url`, imported in this thread. */
async function importedFunction(url: string, exportName: string): Promise<(...args: unknown[]) => unknown> {
  const fn = ((await import(url)) as Record<string, unknown>)[exportName];
  if (typeof fn !== "function") throw new Error(`${url} has no exported function "${exportName}"`);
  return fn as (...args: unknown[]) => unknown;
}

async function runModuleTask(platform: Platform, init: WorkerInit, port: ParentPort): Promise<void> {
  const { url, export: exportName, data } = init.args as ModuleTaskArgs;
  const fn = await importedFunction(url, exportName);
  const value = await fn({ platform, module: init.module, memory: init.memory, data, port } satisfies ModuleTaskContext);
  postOutcome(port, { type: "result", value });
}

registerWorkerRole("module", runModuleTask);

/** The Platform `wrapper` makes of this thread's `platform` (Platform.pooledOn). */
async function wrapped(platform: Platform, wrapper: PlatformWrapper): Promise<Platform> {
  return (await importedFunction(wrapper.url, wrapper.export))(platform, wrapper.data) as Platform;
}

/** Runs `init`'s role on `platform`, or on the Platform `wrapper` makes of it. */
export async function runWorker(platform: Platform, init: WorkerInit, port: ParentPort, wrapper?: PlatformWrapper): Promise<void> {
  try {
    const role = roles.get(init?.role);
    if (!role) throw new Error(`unknown worker role "${init?.role}"`);
    await role(wrapper ? await wrapped(platform, wrapper) : platform, init, port);
  } catch (error) {
    postOutcome(port, errorOutcome(error));
  }
}
