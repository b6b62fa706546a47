// Crash safety under SIGKILL: a child process of the runtime under test appends with 64
// in flight and prints each LSN the moment its append resolves; the parent kills it at a
// random moment, reopens the log, and checks that every acknowledged record is present
// and byte-exact. Every run of ROUNDS_PER_LOG rounds shares one log, so it must also survive
// repeated crashes and continue cleanly each time (a fresh log after that keeps each
// round's check, which reads the whole log, bounded in long soaks).
//
// SHARDLINE_KILL_ROUNDS sets the rounds (default 10); scripts/soak-kill.sh runs hundreds.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { linesUntilExit, spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { KILL_LOG_OPTIONS, payloadFor } from "./fixtures/kill-payload.ts";
import { cleanup, openLog, tempDir } from "./helpers.ts";

const test = suite("wal kill -9");
const ROUNDS = Number(process.env.SHARDLINE_KILL_ROUNDS ?? 10);
const ROUNDS_PER_LOG = 20;
const fixture = new URL("./fixtures/kill-appender.ts", import.meta.url).pathname;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

test(`SIGKILL during durable appends, ${ROUNDS} rounds (${ROUNDS_PER_LOG} per log): every acknowledged record survives byte-exact`, async () => {
  let dir = tempDir();
  let acked: Array<{ round: number; i: number; lsn: bigint }> = [];
  let killedWithAcks = 0;
  let checked = 0;
  for (let round = 0; round < ROUNDS; round++) {
    if (round > 0 && round % ROUNDS_PER_LOG === 0) {
      await checkContinues(dir);
      dir = tempDir();
      acked = [];
    }
    const child = spawnChild(runtimeName(), fixture, [dir, String(round)]);
    await child.waitFor("ready");
    await new Promise((r) => setTimeout(r, Math.random() * 60));
    child.kill("SIGKILL");
    let roundAcks = 0;
    for await (const line of linesUntilExit(child)) {
      const m = /^ack (\d+) (\d+)$/.exec(line);
      if (m) {
        acked.push({ round, i: Number(m[1]), lsn: BigInt(m[2]) });
        roundAcks++;
      }
    }
    const { signal } = await child.waitExit();
    assert.is(signal, "SIGKILL", `round ${round}: ${child.stderr()}`);
    if (roundAcks > 0) killedWithAcks++;

    const log = await openLog(dir, KILL_LOG_OPTIONS);
    const onDisk = new Map<bigint, Uint8Array>();
    for await (const r of log.stream()) onDisk.set(r.lsn, r.data);
    for (const a of acked) {
      const data = onDisk.get(a.lsn);
      assert.ok(data !== undefined, `round ${round}: acknowledged record ${a.round}/${a.i} at LSN ${a.lsn} is missing`);
      assert.ok(equalBytes(data!, payloadFor(a.round, a.i)), `round ${round}: record ${a.round}/${a.i} at ${a.lsn} differs`);
    }
    checked += acked.length;
    await log.close();
  }
  console.log(`  [kill] ${ROUNDS} rounds, ${killedWithAcks} killed after acknowledgements, ${checked} acknowledged-record checks`);
  assert.ok(killedWithAcks > 0, "at least one round was killed after acknowledging records");
  await checkContinues(dir);
});

/** The log continues cleanly after all those crashes: a new record lands at the end, in order. */
async function checkContinues(dir: string): Promise<void> {
  const log = await openLog(dir, KILL_LOG_OPTIONS);
  const last = await log.append("after every crash");
  const all: bigint[] = [];
  for await (const r of log.stream()) all.push(r.lsn);
  assert.is(all[all.length - 1], last);
  for (let i = 1; i < all.length; i++) assert.ok(all[i] > all[i - 1]);
  await log.close();
}

test.after(cleanup);
test.run();
