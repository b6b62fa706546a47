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
  // While a subscriber is open, shard 0's writes take the channel path.
  const feed = db.subscribe({ prefix: "victim" });
  await db.delete(victim);
  await feed.return?.();
  assert.is(db.get(victim), undefined, "deleted");

  for (let round = 0; db.stats().compactions < 2; round++) {
    if (round > 2000) throw new Error(`no compaction after ${round} rounds: ${JSON.stringify(db.stats().shards[0])}`);
    await Promise.all(filler.map((k) => db.put(k, `${round}`.padEnd(200, "x"))));
  }
  await db.flush();
  await eventually(() => db.stats().shards[0].frozenMemtables === 0, "shard 0's memtables flushed");
  assert.is(db.get(victim), undefined, "still deleted after merges");
  await db.close();

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
// (a subscriber open or not), bulk writes to one busy shard (flushes, merges), a third
// shard kept quiet, reopens; checked against a Map after every reopen.
type Step = { kind: "put" | "delete"; key: number; value: number } | { kind: "channel" } | { kind: "bulk"; n: number } | { kind: "reopen" };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom("put" as const, "delete" as const), key: fc.nat(7), value: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("channel" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("bulk" as const), n: fc.integer({ min: 100, max: 600 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reopen" as const) }) },
);
const OPTIONS3: DatabaseOptions = { ...SMALL, shards: 3 };

async function runSteps(steps: Step[]): Promise<void> {
  const dir = tempDir();
  let db = await open(dir, OPTIONS3);
  const core = await Core.attach(db.share().module, db.share().memory);
  const [quiet] = keysOfShard(core, "quiet", 2, 1);
  const keys = [...keysOfShard(core, "a", 0, 4), ...keysOfShard(core, "b", 1, 4)];
  const busy = keysOfShard(core, "busy", 0, 32);
  await db.put(quiet, "q");
  const model = new Map<string, string>();
  let feed: AsyncIterableIterator<unknown> | undefined;
  const check = (when: string) => {
    for (const k of keys) assert.is(text(db.get(k)), model.get(k), `${k} ${when}`);
    assert.is(text(db.get(quiet)), "q");
  };
  try {
    for (const [i, step] of steps.entries()) {
      if (step.kind === "put") {
        await db.put(keys[step.key], `v${step.value}`);
        model.set(keys[step.key], `v${step.value}`);
      } else if (step.kind === "delete") {
        await db.delete(keys[step.key]);
        model.delete(keys[step.key]);
      } else if (step.kind === "channel") {
        if (feed) await feed.return?.();
        feed = feed ? undefined : db.subscribe({ prefix: "none/" });
      } else if (step.kind === "bulk") {
        for (let j = 0; j < step.n; j += busy.length) await Promise.all(busy.map((k) => db.put(k, "x".repeat(300))));
      } else {
        if (feed) await feed.return?.();
        feed = undefined;
        await db.close();
        db = await open(dir, OPTIONS3);
        check(`after the reopen at step ${i}`);
      }
    }
    check("at the end");
    if (feed) await feed.return?.();
    await db.close();
    db = await open(dir, OPTIONS3);
    check("after the last reopen");
  } finally {
    await db.close();
  }
}

test("random puts and deletes on both paths, a busy and a quiet shard, reopens: no deleted key returns", async () => {
  const seed = Number(process.env.SHARDLINE_MODEL_SEED ?? 1010);
  const runs = Number(process.env.SHARDLINE_MODEL_RUNS ?? 4);
  await fc.assert(fc.asyncProperty(fc.array(stepArb, { minLength: 20, maxLength: 60 }), runSteps), { seed, numRuns: runs, endOnFailure: true });
});

test.after(cleanup);
test.run();
