/**
 * `shardline` for Node: the command line's entry point (bundled by esbuild into
 * dist/node/cli.js, which bin/shardline.mjs runs). The commands are src/cli/main.ts.
 *
 *   node --import ./scripts/ts-register.mjs runtimes/node/cli.ts doctor ./data
 */
import process from "node:process";
import { cliMain } from "../common/cli-host.ts";
import { nodePlatform } from "./platform.ts";

await cliMain(nodePlatform, process.argv.slice(2), process.execPath);
