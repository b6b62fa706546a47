/**
 * `shardline` for Deno: the command line's entry point, run from the sources (no build).
 *
 *   deno run -A runtimes/deno/cli.ts doctor ./data
 *
 * The commands are src/cli/main.ts; `bench` runs the harness with node.
 */
import { cliMain } from "../common/cli-host.ts";
import { denoPlatform } from "./platform.ts";

await cliMain(denoPlatform, Deno.args);
