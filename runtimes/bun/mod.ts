/**
 * shardline for Bun: the package entry for the "bun" export condition. For now it names
 * the runtime and exposes the Bun Platform; the public API is added later.
 * Threads: main thread (and workers, which import the platform directly).
 */
export const runtime = "bun";
export { bunPlatform } from "./platform.ts";
