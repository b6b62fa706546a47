/**
 * shardline for Node: the package entry (the esbuild bundle dist/node/mod.js).
 *
 *   import { open } from "shardline";
 *   const db = await open("./data");
 *
 * Everything is the runtime-agnostic engine in src/, bound here to the Node Platform.
 * Threads: any thread; `attach` is for workers holding a handle from `db.share()`.
 */
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { nodePlatform } from "./platform.ts";

export * from "../common/mod-exports.ts";
export const runtime = "node";
export const { open, attach } = bindDatabaseApi(nodePlatform);
