/**
 * shardline for Node: the package entry (bundled to dist/node/mod.js). For now it names
 * the runtime and exposes the Node Platform; the public API is added later.
 * Threads: main thread (and workers, which import the platform directly).
 */
export const runtime = "node";
export { nodePlatform } from "./platform.ts";
