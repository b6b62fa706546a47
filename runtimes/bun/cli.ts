/**
 * `shardline` for Bun: the command line's entry point, run from the sources.
 *
 *   bun runtimes/bun/cli.ts doctor ./data
 *
 * The commands are src/cli/main.ts; `bench` runs the harness with node.
 */
import process from "node:process";
import { cliMain } from "../common/cli-host.ts";
import { bunPlatform } from "./platform.ts";

await cliMain(bunPlatform, process.argv.slice(2));
