/**
 * Deno worker entry: spawned through node:worker_threads (see runtimes/deno/platform.ts
 * for why not the web Worker), so the WorkerInit arrives as `workerData` and the parent
 * channel is `parentPort`. Everything else is src/worker-main.ts.
 *
 * Invariants: runs only inside a worker spawned by denoPlatform.spawnWorker.
 * Threads: the worker thread itself.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { WorkerInit } from "../../src/platform.ts";
import { runWorker } from "../../src/worker-main.ts";
import "../../src/worker-roles.ts";
import { nodeParentPort } from "../common/node-worker.ts";
import { denoPlatform } from "./platform.ts";

if (!parentPort) throw new Error("runtimes/deno/worker.ts must run in a worker thread");
void runWorker(denoPlatform, workerData as WorkerInit, nodeParentPort(parentPort));
