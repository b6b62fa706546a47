/**
 * The Platform of the runtime this module runs in, for code that runs on every runtime
 * but is not the library (the test corpus, benchmarks, scripts). The library itself never
 * asks: each runtime's entry (runtimes/<rt>/mod.ts) passes its own Platform down.
 */
import type { Platform, RuntimeName } from "../src/platform.ts";

export function runtimeName(): RuntimeName {
  if ("Deno" in globalThis) return "deno";
  if ("Bun" in globalThis) return "bun";
  return "node";
}

let cached: Promise<Platform> | undefined;

export function currentPlatform(): Promise<Platform> {
  cached ??= (async () => {
    switch (runtimeName()) {
      case "deno":
        return (await import("./deno/platform.ts")).denoPlatform;
      case "bun":
        return (await import("./bun/platform.ts")).bunPlatform;
      default:
        return (await import("./node/platform.ts")).nodePlatform;
    }
  })();
  return cached;
}
