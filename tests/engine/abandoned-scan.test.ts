// A scan dropped without being ended (never stepped to its end, no break, no return())
// used to keep its thread in the memtable epoch and its table files open until the handle
// closed, since a scan pins its sources when db.scan() is called. The garbage collector now
// releases it, and stats().abandonedScans counts such releases so a leak can be found.
// Run in a child process with the collector exposed, in the suite's runtime.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, tempDir } from "./helpers.ts";

const test = suite("engine abandoned scans");
const fixture = new URL("./fixtures/abandoned-scan.ts", import.meta.url).pathname;

test("a scan dropped without being ended is released by the collector and counted; one ended by break is not", async () => {
  const child = spawnChild(runtimeName(), fixture, [tempDir()], { env: { NODE_OPTIONS: "--expose-gc", DENO_V8_FLAGS: "--expose-gc" } });
  const line = await child.nextLine();
  const { code } = await child.waitExit();
  assert.is(code, 0, child.stderr());
  const got = JSON.parse(line) as { abandonedScans: number; rounds: number };
  assert.is(got.abandonedScans, 1, `after ${got.rounds} collections`);
});

test.after(cleanup);
test.run();
