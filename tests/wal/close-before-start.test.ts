// A log opened with `deferStart` and closed before its durability worker said it started
// (src/wal/log.ts). The engine's open does exactly this when it refuses a directory after
// opening its log (a missing first segment, RECOVERY.md G5). The deferred `unref()` of the
// worker ran when the start was reported, after close() had taken its reference back, so
// the process had nothing keeping it alive while it awaited the close: Node ended it
// early (exit 13, an unsettled top-level await), in the middle of `await open(...)`. Seen
// in `npm test` under load (tests/engine/missing-manifest.test.ts, "Exiting early before
// testing is finished"), 2026-12-06; this test failed before the fix.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { linesUntilExit, spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, tempDir } from "./helpers.ts";

const test = suite("wal close before start");
test.after.each(cleanup);

const ROUNDS = 20;

test(`a log closed before its worker started keeps the process alive until the close is done (${ROUNDS} rounds)`, async () => {
  const child = spawnChild(runtimeName(), new URL("./fixtures/close-before-start.ts", import.meta.url).pathname, [tempDir(), String(ROUNDS)]);
  const lines: string[] = [];
  for await (const line of linesUntilExit(child)) lines.push(line);
  const exit = await child.waitExit();
  assert.equal(exit, { code: 0, signal: null }, `the child ended after ${lines.length} lines (${lines.at(-1)}): ${child.stderr()}`);
  assert.is(lines.at(-1), "done");
});

test.run();
