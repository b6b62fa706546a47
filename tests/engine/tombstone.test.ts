// A deleted key must never come back. The scenario a reviewer found (issue 10, defect 1):
// two shards, one of them quiet, so the group WAL's checkpoint stays behind; a key put on
// the fast path and deleted on the channel path; enough writes to the busy shard that its
// tables are merged. The merge may drop the tombstone together with the put it shadows only
// if recovery can never insert that put again: recovery skips every logged version a table
// already holds (the manifest's replay floor, src/engine/replay.ts), and a merge drops a
// tombstone only at or below that floor (src/engine/compaction.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import process from "node:process";
import { Core } from "../../src/core/core.ts";
import type { DatabaseOptions } from "../../src/engine/options.ts";
import { cleanup, enc, eventually, keysOfShard, open, tempDir, text } from "./helpers.ts";

const test = suite("engine tombstones");
const SMALL: DatabaseOptions = { shards: 2, memtableBytesMax: 64 * 1024, durability: "full" };

test("a key deleted on the channel path stays deleted after merges and a reopen while another shard is quiet", async () => {
  const dir = tempDir();
  const db = await open(dir, SMALL);
  const core = await Core.attach(db.share().module, db.share().memory);
  const [quiet] = keysOfShard(core, "quiet", 1, 1);
  const [victim] = keysOfShard(core, "victim", 0, 1);
  const filler = keysOfShard(core, "f", 0, 64);
  await db.put(quiet, "holds shard 1's memtable, and with it the group WAL's checkpoint");
  await db.put(victim, "old value");
  await db.close();
  // The delete on the channel path: a handle opened with fastWrite: false sends every write
  // to the actor. (A subscriber used to divert writes to the channel; since feeds read the
  // log it does not, and this test deleted on the fast path: review of the tests, 2026-12-06.)
  const slow = await open(dir, { ...SMALL, fastWrite: false });
  const channelBefore = slow.stats().paths.channel;
  await slow.delete(victim);
  assert.is(slow.stats().paths.channel, channelBefore + 1, "the delete took the channel path");
  assert.is(slow.get(victim), undefined, "deleted");
  await slow.close();

  const db2 = await open(dir, SMALL);
  for (let round = 0; db2.stats().compactions < 2; round++) {
    if (round > 2000) throw new Error(`no compaction after ${round} rounds: ${JSON.stringify(db2.stats().shards[0])}`);
    await Promise.all(filler.map((k) => db2.put(k, `${round}`.padEnd(200, "x"))));
  }
  await db2.flush();
  await eventually(() => db2.stats().shards[0].frozenMemtables === 0, "shard 0's memtables flushed");
  assert.is(db2.get(victim), undefined, "still deleted after merges");
  await db2.close();

  const again = await open(dir, SMALL);
  try {
    assert.is(again.get(victim), undefined, "still deleted after reopen");
    assert.is(text(again.get(quiet)), "holds shard 1's memtable, and with it the group WAL's checkpoint");
    for (const k of filler) assert.ok(again.get(k) !== undefined, k);
  } finally {
    await again.close();
  }
});

// The same hazard found at random: puts and deletes of a few keys on both write paths
// (a "channel" step reopens the database with fastWrite toggled), bulk writes to one busy
// shard (flushes, merges), a third shard kept quiet, reopens; checked against a Map after
// every reopen, and every small write made with fastWrite: false counted on the channel.
type Step = { kind: "put" | "delete"; key: number; value: number } | { kind: "channel" } | { kind: "bulk"; n: number } | { kind: "reopen" };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom("put" as const, "delete" as const), key: fc.nat(7), value: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("channel" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("bulk" as const), n: fc.integer({ min: 100, max: 600 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reopen" as const) }) },
);
const OPTIONS3: DatabaseOptions = { ...SMALL, shards: 3 };

/** Runs the steps; returns how many small writes were made with fastWrite: false. */
async function runSteps(steps: Step[]): Promise<number> {
  const dir = tempDir();
  let db = await open(dir, OPTIONS3);
  const core = await Core.attach(db.share().module, db.share().memory);
  const [quiet] = keysOfShard(core, "quiet", 2, 1);
  const keys = [...keysOfShard(core, "a", 0, 4), ...keysOfShard(core, "b", 1, 4)];
  const busy = keysOfShard(core, "busy", 0, 32);
  await db.put(quiet, "q");
  const model = new Map<string, string>();
  let fastWrite = true;
  /** Small puts and deletes made with fastWrite: false, and channel writes counted, over every handle. */
  let slowWrites = 0;
  let channelWrites = 0;
  const reopen = async () => {
    channelWrites += db.stats().paths.channel;
    await db.close();
    db = await open(dir, { ...OPTIONS3, fastWrite });
  };
  const check = (when: string) => {
    for (const k of keys) assert.is(text(db.get(k)), model.get(k), `${k} ${when}`);
    assert.is(text(db.get(quiet)), "q");
  };
  try {
    for (const [i, step] of steps.entries()) {
      if (step.kind === "put") {
        await db.put(keys[step.key], `v${step.value}`);
        model.set(keys[step.key], `v${step.value}`);
        if (!fastWrite) slowWrites++;
      } else if (step.kind === "delete") {
        await db.delete(keys[step.key]);
        model.delete(keys[step.key]);
        if (!fastWrite) slowWrites++;
      } else if (step.kind === "channel") {
        fastWrite = !fastWrite;
        await reopen();
      } else if (step.kind === "bulk") {
        for (let j = 0; j < step.n; j += busy.length) await Promise.all(busy.map((k) => db.put(k, "x".repeat(300))));
      } else {
        await reopen();
        check(`after the reopen at step ${i}`);
      }
    }
    check("at the end");
    fastWrite = true;
    await reopen();
    check("after the last reopen");
    assert.ok(channelWrites >= slowWrites, `${slowWrites} small writes made with fastWrite: false, ${channelWrites} channel writes`);
    return slowWrites;
  } finally {
    await db.close();
  }
}

test("random puts and deletes on both paths, a busy and a quiet shard, reopens: no deleted key returns", async () => {
  const seed = Number(process.env.SHARDLINE_MODEL_SEED ?? 1010);
  const runs = Number(process.env.SHARDLINE_MODEL_RUNS ?? 4);
  let slowRuns = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 20, maxLength: 60 }), async (steps) => {
      if ((await runSteps(steps)) > 0) slowRuns++;
    }),
    { seed, numRuns: runs, endOnFailure: true },
  );
  assert.ok(slowRuns > 0, "no run wrote on the channel path");
});

test.after(cleanup);
test.run();
