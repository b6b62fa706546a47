/**
 * The Bun adapter: files through Bun's node:fs sync calls on descriptors (pread, pwrite,
 * pwritev, fdatasync; Bun.write and FileSink never fsync), kernel locks through libc
 * flock(2) over bun:ffi (absent if libc cannot be loaded), workers through the web Worker.
 *
 * Why the web Worker: both it and node:worker_threads clone a WebAssembly.Module and a
 * shared WebAssembly.Memory into the worker. Bun 1.4.5, 2-core VM, 20 000 message
 * round trips x 7 rounds per run, three runs (medians per run; the two levels are CPU
 * scheduling, both APIs show them):
 *   round trip              web 44.8 / 8.7 / 8.6 us     node:worker_threads 49.2 / 9.3 / 9.0 us
 *   spawn to first message  web 1.9 / 2.6 / 2.1 ms      node:worker_threads 10.9 / 16.8 / 13.3 ms
 * The web Worker is ahead in every run, and it has ref()/unref() and a "close" event.
 *
 * Invariants: the Platform contract (src/platform.ts). Threads: any thread may use
 * `bunPlatform`; file handles stay on their opening thread.
 */
import process from "node:process";
import { edenGC } from "bun:jsc";
import type { Platform } from "../../src/platform.ts";
import { ownStartTime, procIsAlive } from "../../src/process-identity.ts";
import { killProbe } from "../common/kill-probe.ts";
import { NodeFsFile } from "../common/node-fs-file.ts";
import { nodeFsPaths } from "../common/node-fs-paths.ts";
import { loadFlock } from "./flock.ts";
import { spawnWebWorker } from "./web-worker.ts";

const WORKER_URL = new URL("./worker.ts", import.meta.url);


/** This process's start time, read from /proc once it answers for good. */
const startTime = ownStartTime(nodeFsPaths.readFile, process.pid);

export const bunPlatform: Platform = {
  runtime: "bun",
  runtimeVersion: process.versions.bun ?? "unknown",
  open: (path, mode) => NodeFsFile.open(path, mode),
  ...nodeFsPaths,
  kernelLock: loadFlock(process.platform),
  processIdentity() {
    return { pid: process.pid, startTime: startTime() };
  },
  isProcessAlive({ pid, startTime }) {
    return procIsAlive(nodeFsPaths.readFile, pid, startTime) ?? killProbe(pid);
  },
  spawnWorker: (init) => spawnWebWorker(WORKER_URL, init),
  collectSoon() {
    (globalThis as unknown as { Bun: { gc(sync: boolean): void } }).Bun.gc(false); // requested, not waited for
  },
  collectYoung: edenGC, // synchronous, of this thread's young generation: 0.1-0.25 ms
  collectGarbage() {
    (globalThis as unknown as { Bun: { gc(sync: boolean): void } }).Bun.gc(true); // full and synchronous, of this thread's VM
    return true;
  },
};
