/**
 * Bun worker entry: a web Worker whose first message is the WorkerInit; later messages
 * go to the role through the ParentPort. Everything else is src/worker-main.ts.
 *
 * Invariants: runs only inside a worker spawned by bunPlatform.spawnWorker.
 * Threads: the worker thread itself.
 */
import { runWorker } from "../../src/worker-main.ts";
import "../../src/worker-roles.ts";
import { bunPlatform } from "./platform.ts";
import { webParentPort } from "./web-worker.ts";

const { init, port } = await webParentPort();
await runWorker(bunPlatform, init, port);
