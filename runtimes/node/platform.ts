/**
 * The Node adapter: files through node:fs sync calls on descriptors (pread, pwrite,
 * pwritev, fdatasync), workers through node:worker_threads, process identity from /proc
 * with `process.kill(pid, 0)` where /proc is missing. Node has no kernel file lock
 * (nodejs/node#54446), so `kernelLock` is undefined and src/lock.ts relies on pids.
 *
 * Invariants: the Platform contract (src/platform.ts), checked by
 * tests/platform/conformance.test.ts. The worker entry is found next to this module:
 * `worker.ts` when run from sources, `worker.js` in the esbuild bundle (dist/node/),
 * where this file may be bundled into mod.js and worker.js alike.
 * Threads: any thread may use `nodePlatform`; file handles stay on their opening thread.
 */
import process from "node:process";
import type { Platform } from "../../src/platform.ts";
import { ownStartTime, procIsAlive } from "../../src/process-identity.ts";
import { NodeFsFile } from "../common/node-fs-file.ts";
import { nodeFsPaths } from "../common/node-fs-paths.ts";
import { killProbe } from "../common/kill-probe.ts";
import { spawnNodeWorker } from "../common/node-worker.ts";
import { markUntransferable } from "../common/untransferable.ts";
import { v8CollectGarbage, v8WeighSharedMemory } from "../common/v8-memory.ts";

const WORKER_URL = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url);


/** This process's start time, read from /proc once it answers for good. */
const startTime = ownStartTime(nodeFsPaths.readFile, process.pid);

export const nodePlatform: Platform = {
  runtime: "node",
  runtimeVersion: process.versions.node,
  open: (path, mode) => NodeFsFile.open(path, mode),
  ...nodeFsPaths,
  kernelLock: undefined,
  processIdentity() {
    return { pid: process.pid, startTime: startTime() };
  },
  isProcessAlive({ pid, startTime }) {
    return procIsAlive(nodeFsPaths.readFile, pid, startTime) ?? killProbe(pid);
  },
  spawnWorker: (init) => spawnNodeWorker(WORKER_URL, init),
  collectGarbage: v8CollectGarbage,
  markUntransferable,
  weighSharedMemory: v8WeighSharedMemory,
};
