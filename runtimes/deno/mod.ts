/**
 * shardline for Deno: the package entry for the "deno" export condition. For now it
 * names the runtime and exposes the Deno Platform; the public API is added later.
 * Threads: main thread (and workers, which import the platform directly).
 */
export const runtime = "deno";
export { denoPlatform } from "./platform.ts";
