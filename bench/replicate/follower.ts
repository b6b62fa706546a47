/**
 * Child process of bench/replicate/main.ts: a follower of the stream argv[2] in argv[0]
 * (servers argv[1]). Prints "ready", then "applied <lsn> <unixMs>" each time its applied LSN
 * moves (polled every millisecond), and on "stop" from stdin prints its stats as
 * "stats <json>", closes and exits.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { bindReplicateApi } from "../../src/replicate/public.ts";
import { currentPlatform } from "../lib/platform.ts";

const [dir, servers, stream] = process.argv.slice(2);
const follower = await bindReplicateApi(await currentPlatform()).openFollower(dir, { servers: servers.split(","), stream });
console.log("ready");
let stopping = false;
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line.trim() === "stop") stopping = true;
});
let last = -1;
while (!stopping) {
  if (follower.appliedLsn !== last) {
    last = follower.appliedLsn;
    console.log(`applied ${last} ${Date.now()}`);
  }
  await new Promise((resolve) => setTimeout(resolve, 1));
}
console.log(`stats ${JSON.stringify(follower.stats())}`);
await follower.close();
lines.close();
process.exit(0);
