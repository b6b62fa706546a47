// Crash safety of the engine under SIGKILL: a child process puts with 64 in flight under
// durability "full" (small memtables, so it is often killed mid-flush, mid-compaction or
// mid-trim), printing each key the moment its put resolves; the parent kills it at a
// random moment, reopens the database and checks that every acknowledged key has its last
// acknowledged value, or a later one that child issued (a put may be durable before its
// acknowledgement reaches the child). All rounds share one database, so it must also
// recover from repeated crashes and then go on cleanly.
//
// SHARDLINE_KILL_ROUNDS sets the rounds (default 10; scripts/soak-kill.sh runs hundreds).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { linesUntilExit, spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { KILL_DB_OPTIONS, KILL_KEYS } from "./fixtures/kill-shape.ts";
import { after, checkAcknowledged } from "./kill-check.ts";
import { cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine kill -9");
const ROUNDS = Number(process.env.SHARDLINE_KILL_ROUNDS ?? 10);
const fixture = new URL("./fixtures/kill-writer.ts", import.meta.url).pathname;


test(`SIGKILL during durable puts, ${ROUNDS} rounds on one database: every acknowledged key keeps its last acknowledged value`, async () => {
  const dir = tempDir();
  const lastAcked = new Map<number, [number, number]>();
  let killedWithAcks = 0;
  let acks = 0;
  let tablesSeen = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const child = spawnChild(runtimeName(), fixture, [dir, String(round)]);
    await child.waitFor("ready");
    await new Promise((r) => setTimeout(r, Math.random() * 150));
    child.kill("SIGKILL");
    let roundAcks = 0;
    for await (const line of linesUntilExit(child)) {
      const m = /^ack (\d+)$/.exec(line);
      if (!m) continue;
      const i = Number(m[1]);
      const key = i % KILL_KEYS;
      const seen = lastAcked.get(key);
      if (!seen || after([round, i], seen)) lastAcked.set(key, [round, i]);
      roundAcks++;
    }
    const { signal } = await child.waitExit();
    assert.is(signal, "SIGKILL", `round ${round}: ${child.stderr()}`);
    if (roundAcks > 0) killedWithAcks++;
    acks += roundAcks;

    const db = await open(dir, KILL_DB_OPTIONS);
    try {
      checkAcknowledged(db, `round ${round}`, lastAcked);
      tablesSeen = Math.max(tablesSeen, db.stats().shards.reduce((n, s) => n + s.tables, 0));
    } finally {
      await db.close();
    }
  }
  console.log(`  [kill] ${ROUNDS} rounds, ${killedWithAcks} killed after acknowledgements, ${acks} acknowledged puts checked, up to ${tablesSeen} tables`);
  assert.ok(killedWithAcks > 0, "at least one round was killed after acknowledging puts");
  assert.ok(tablesSeen > 0, "the writes reached tables (kills could land in flushes and merges)");

  // After all those crashes the database goes on: a write, a reopen, the write is there.
  const db = await open(dir, KILL_DB_OPTIONS);
  await db.put("after-every-crash", "yes");
  await db.close();
  const again = await open(dir, KILL_DB_OPTIONS);
  assert.is(text(again.get("after-every-crash")), "yes");
  await again.close();
});

test.after(cleanup);
test.run();
