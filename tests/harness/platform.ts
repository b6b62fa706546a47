/**
 * Test harness: the Platform of the runtime the tests run in (runtimes/current.ts). The
 * only place in the test corpus that asks which runtime it is; everything else goes
 * through the Platform.
 */
export { currentPlatform, runtimeName } from "../../runtimes/current.ts";
