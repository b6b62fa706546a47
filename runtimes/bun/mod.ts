/**
 * shardline for Bun: the package entry (the "bun" export condition).
 *
 *   import { open } from "shardline";
 *   const db = await open("./data");
 *
 * Everything is the runtime-agnostic engine in src/, bound here to the Bun Platform.
 * Threads: any thread; `attach` is for workers holding a handle from `db.share()`.
 */
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { bunPlatform } from "./platform.ts";

export * from "../common/mod-exports.ts";
export const runtime = "bun";
export const { open, attach } = bindDatabaseApi(bunPlatform);
