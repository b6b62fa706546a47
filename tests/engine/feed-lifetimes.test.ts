// Change feeds' lifetimes. A subscription dropped without being ended (never read, or left after a
// next()) gives its place among SUBSCRIPTIONS_MAX and its log files back when collected,
// as a dropped scan does (abandoned-scan.test.ts); a feed waiting in next() is never
// collected, gets its events, and close() ends it. From the review of feeds (2026-12-07),
// seen failing before the fix: 64 dropped feeds took every place until close (the handle
// held each one strongly). Run in a child process with the collector exposed, in the
// suite's runtime. And a process whose only feed ended by break exits on its own (a guard
// from the same review).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, tempDir } from "./helpers.ts";

const test = suite("engine feed lifetimes");
const fixture = new URL("./fixtures/dropped-feeds.ts", import.meta.url).pathname;

for (const mode of ["no signal", "signal"]) {
  const given = mode === "signal" ? "all given one AbortSignal that outlives them (its abort listeners held them: review of feeds, 2026-12-07)" : "given no signal";
  test(`feeds dropped without being ended, ${given}, give their places back when collected; a feed waiting in next() keeps its own and close() ends it`, async () => {
    const child = spawnChild(runtimeName(), fixture, [tempDir(), mode], { env: { NODE_OPTIONS: "--expose-gc", DENO_V8_FLAGS: "--expose-gc" } });
    const line = await child.nextLine();
    const { code } = await child.waitExit();
    assert.is(code, 0, child.stderr());
    const got = JSON.parse(line) as { refusedFirst: string; placed: boolean; rounds: number; subscribersAfter: number; keptKeys: string[] | string };
    assert.is(got.refusedFirst, "RangeError", "every place taken before the collection (SUBSCRIPTIONS_MAX)");
    assert.ok(got.placed, `subscribe() still refused after ${got.rounds} collections (subscribers ${got.subscribersAfter})`);
    assert.is(got.subscribersAfter, 1, "only the kept feed holds a place");
    assert.equal(got.keptKeys, ["k"], "the loop's feed, waiting in next(), got its event and close() ended it");
  });
}

test("a process whose only feed ended by break exits on its own, without close()", async () => {
  const child = spawnChild(runtimeName(), new URL("./fixtures/feed-ended-exit.ts", import.meta.url).pathname, [tempDir()]);
  assert.is(await child.nextLine(), "broke", child.stderr());
  let timer: ReturnType<typeof setTimeout> | undefined;
  const ended = await Promise.race([child.waitExit(), new Promise<"alive">((resolve) => (timer = setTimeout(() => resolve("alive"), 5000)))]);
  clearTimeout(timer);
  if (ended === "alive") child.kill();
  assert.ok(ended !== "alive", "the process stayed alive 5 s after its feed ended");
});

test.after(cleanup);
test.run();
