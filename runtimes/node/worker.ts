/**
 * Node worker entry: the WorkerInit arrives as `workerData`; the parent channel is
 * node:worker_threads' `parentPort`. Everything else is src/worker-main.ts.
 *
 * Invariants: runs only inside a worker spawned by nodePlatform.spawnWorker.
 * Threads: the worker thread itself.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { WorkerInit } from "../../src/platform.ts";
import { runWorker } from "../../src/worker-main.ts";
import "../../src/worker-roles.ts";
import { nodeParentPort } from "../common/node-worker.ts";
import { nodePlatform } from "./platform.ts";

if (!parentPort) throw new Error("runtimes/node/worker.ts must run in a worker thread");
void runWorker(nodePlatform, workerData as WorkerInit, nodeParentPort(parentPort));
