// SIGKILL around a long replay: a log of more than REPLAY_PAGES_BYTES_MIN is replayed with
// a pooled thread mapping the memtables' pages ahead of replay (src/engine/replay-pages.ts),
// and with small memtables replay freezes and flushes as it goes, moving the checkpoints
// (src/engine/replay.ts, "Checkpoints"). The other kill tests write logs of a few MiB, so
// none of them crashed a process in that state.
//
// A child writes ~23 MiB of log (nothing flushed to tables) and is killed after its last
// acknowledged flush; then children reopen it with small memtables and are killed at
// rising delays after they start opening (at least one before its open returns: which of
// them were inside replay is not observed); then
// this process opens it: every put acknowledged as durable has its value, and every later
// put the log kept has its own.
import { readdirSync, statSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { REPLAY_PAGES_BYTES_MIN } from "../../src/engine/replay-pages.ts";
import { replayKey, replayValue, REOPEN_OPTIONS } from "./fixtures/replay-kill-shape.ts";
import { cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine kill -9 around a long replay");
test.after.each(cleanup);
const fixture = new URL("./fixtures/replay-kill-child.ts", import.meta.url).pathname;
/** Puts acknowledged as durable before the writer is killed: ~23 MiB of log. */
const DURABLE_PUTS_MIN = 160_000;
const REOPEN_KILL_DELAYS_MS = [0, 60, 150, 400];

const walBytes = (dir: string) => readdirSync(`${dir}/wal`).reduce((n, f) => n + statSync(`${dir}/wal/${f}`).size, 0);

test(`a ${DURABLE_PUTS_MIN.toLocaleString("en-US")}-put log, killed writing, then reopeners killed while opening: every durable put is there`, async () => {
  const dir = tempDir();
  const writer = spawnChild(runtimeName(), fixture, ["write", dir]);
  await writer.waitFor("ready");
  let durable = 0;
  while (durable < DURABLE_PUTS_MIN) {
    const m = /^durable (\d+)$/.exec(await writer.nextLine());
    if (m) durable = Number(m[1]);
  }
  writer.kill("SIGKILL");
  assert.is((await writer.waitExit()).signal, "SIGKILL", writer.stderr());
  const logBytes = walBytes(dir);
  assert.ok(logBytes >= REPLAY_PAGES_BYTES_MIN + (4 << 20), `the log (${logBytes} bytes) is long enough for the replay helper`);

  let killedOpening = 0;
  for (const delayMs of REOPEN_KILL_DELAYS_MS) {
    const reopener = spawnChild(runtimeName(), fixture, ["reopen", dir]);
    await reopener.waitFor("opening");
    let opened = false;
    const seen = (async () => {
      try {
        await reopener.waitFor("opened");
        opened = true;
      } catch {
        // killed first
      }
    })();
    await new Promise((r) => setTimeout(r, delayMs));
    reopener.kill("SIGKILL");
    assert.is((await reopener.waitExit()).signal, "SIGKILL", reopener.stderr());
    await seen;
    if (!opened) killedOpening++;
  }
  assert.ok(killedOpening > 0, "at least one reopener was killed before its open returned");

  const db = await open(dir, REOPEN_OPTIONS);
  try {
    for (let i = 0; i < durable; i++) {
      const value = text(db.get(replayKey(i)));
      if (value !== replayValue(i)) assert.unreachable(`durable put ${i}: ${value === undefined ? "missing" : `wrong value ${value.slice(0, 20)}`}`);
    }
    let later = 0;
    for (let i = durable; ; i++) {
      const value = text(db.get(replayKey(i)));
      if (value === undefined) break;
      assert.is(value, replayValue(i), `put ${i}, logged after the last acknowledged flush`);
      later++;
    }
    const tables = db.stats().shards.reduce((n, s) => n + s.tables, 0);
    assert.ok(tables > 0, "replay flushed tables");
    console.log(`  [replay kill] ${(logBytes / 2 ** 20).toFixed(1)} MiB of log, ${durable} durable puts checked (+${later} later), ${killedOpening} of ${REOPEN_KILL_DELAYS_MS.length} reopeners killed before open returned, ${tables} tables`);
  } finally {
    await db.close();
  }
});

test.run();
