/** Benchmarks: the Platform of the runtime they run in (runtimes/current.ts). */
export { currentPlatform, runtimeName } from "../../runtimes/current.ts";
