/**
 * shardline for Deno: the module URL entry (no build step), and the source of the package's
 * "deno" export condition, dist/deno/mod.js (scripts/build.mjs bundles it: Deno strips no
 * types under node_modules).
 *
 *   import { open } from "shardline";
 *   const db = await open("./data");
 *
 * Everything is the runtime-agnostic engine in src/, bound here to the Deno Platform.
 * Threads: any thread; `attach` is for workers holding a handle from `db.share()`.
 */
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { denoPlatform } from "./platform.ts";

export * from "../common/mod-exports.ts";
export const runtime = "deno";
export const { open, attach } = bindDatabaseApi(denoPlatform);
