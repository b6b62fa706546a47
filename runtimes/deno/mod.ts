/**
 * shardline for Deno: the package entry (the "deno" export condition and the Deno module URL).
 *
 *   import { open } from "shardline";
 *   const db = await open("./data");
 *
 * Everything is the runtime-agnostic engine in src/, bound here to the Deno Platform.
 * Threads: any thread; `attach` is for workers holding a handle from `db.share()`.
 */
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { denoPlatform } from "./platform.ts";

export * from "../../src/engine/public.ts";
export const runtime = "deno";
export const { open, attach } = bindDatabaseApi(denoPlatform);
export { denoPlatform };
