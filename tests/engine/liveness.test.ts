// Event-loop liveness: every path where the opening thread awaits something only a pooled
// worker thread (the durability worker, the actor, the replay-pages helper), an
// Atomics.waitAsync or a message from an unref'd handle settles, run in one child process
// that has nothing else keeping it alive (as tests/wal/close-before-start.test.ts, the
// defect found on 2026-12-06 that made Node exit inside `await open(...)`). The child runs
// each scenario on a slow disk and prints "done"; the test asserts it did and then exited 0
// on its own: it neither ended early (Node's exit 13, Deno's "Top-level await promise
// never resolved") nor was kept alive by idle pooled threads, which live two minutes there.
// From a review of 2026-12-06 that found these paths safe; the fixture says why for each
// (tests/engine/fixtures/liveness-child.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { linesUntilExit, spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, tempDir } from "./helpers.ts";

const test = suite("engine event-loop liveness");
test.after.each(cleanup);

const FIXTURE = new URL("./fixtures/liveness-child.ts", import.meta.url).pathname;

type Line = (line: string) => boolean;
/** Each scenario, and lines its run must print (round 0), if any. */
const SCENARIOS: Record<string, Line | Line[] | undefined> = {
  logCloseAfterStart: undefined, // a log whose worker was unref'd after it started: close waits for its last sync
  logAppendQueue: (l) => l === "appended 0 20", // appends queued for ring room, then close
  // A following stream, an attached handle's append, flushUntil, close ending the stream
  // after "c", appended just before close() (tests/wal/log-contract.test.ts).
  logStreamFollow: (l) => l === "streamed 0 abc",
  dbCloseAsync: undefined, // close syncs what only the unref'd durability worker holds
  dbChannel: (l) => l === "large batch 0", // channel writes and a large batch await the unref'd actor's replies
  dbEnqueue: (l) => l === "queued 0 10", // close drains queued writes
  dbRingGate: undefined, // writes behind the ring gate
  dbSubscribe: (l) => l === "ended 0 true", // a change feed waiting for events, and one ended by close
  subscribeFrom: undefined, // a change feed from a timestamp waits for durability first
  dbFailedSync: (l) => l.startsWith("put rejected"), // a failed sync rejects waiting writes; close still ends
  actorFailed: (l) => l === "actor failed 0 true", // close of a database whose actor failed
  openRefusedAfterPrewarm: (l) => l === "refused 0 CorruptionError", // the process ends at once after a refused open
  openFailsDurabilityStart: (l) => l.startsWith("refused 0 "), // log.started rejects
  // Refused at every step a small shared memory reaches (the actor's start among them), then opened.
  openRefusedByMemory: [(l) => l.endsWith(": actor"), (l) => l.startsWith("opened 0 ")],
  sharedThreads: (l) => l === "busy threads 0 2", // two databases sharing the pool's threads
  longReplay: (l) => l === "replayed 0 320", // a reopen that replays 20 MiB starts and stops the replay-pages helper
  liveReader: (l) => l === "refreshed 0 true", // a live read-only handle's refresh and close
  attachedSameThread: undefined, // a handle attached on the opening thread, its channel writes and close
};

test(`${Object.keys(SCENARIOS).length} paths that await a worker thread, in one child: it prints "done" and exits 0 on its own`, async () => {
  const names = Object.keys(SCENARIOS);
  const child = spawnChild(runtimeName(), FIXTURE, [names.join(","), tempDir(), "1"]);
  const lines: string[] = [];
  for await (const line of linesUntilExit(child)) lines.push(line);
  const exit = await child.waitExit();
  assert.equal(exit, { code: 0, signal: null }, `the child ended after ${lines.length} lines (${lines.at(-1)}): ${child.stderr()}`);
  assert.is(lines.at(-1), "done", lines.join(" | "));
  for (const [name, expected] of Object.entries(SCENARIOS)) {
    assert.ok(lines.includes(`closed ${name} 0`), `${name} ran: ${lines.join(" | ")}`);
    for (const line of [expected ?? []].flat()) assert.ok(lines.some(line), `${name}: ${line} not printed: ${lines.join(" | ")}`);
  }
});

test.run();
