// Tables at a table's limits (TABLE_KEYS_MAX keys, INDEX_BLOCK_BYTES_MAX of index), from a
// review of flush and compaction (2026-12-06), each seen failing before its fix: a flush
// now writes a memtable too large for one table as a run of tables (src/table/run-writer.ts),
// and compaction counts and merges runs, not tables, so that merging full tables ends.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KEY_BYTES_MAX } from "../../src/core/core.ts";
import { COMPACTION_FAN_IN, mergeTables, pickCompaction, tablePath } from "../../src/engine/compaction.ts";
import { newManifest, tableRecord } from "../../src/engine/manifest.ts";
import type { EngineShared } from "../../src/engine/shared-state.ts";
import { BlockCache } from "../../src/table/block-cache.ts";
import { writeTable } from "../../src/table/table-writer.ts";
import { core } from "../table/helpers.ts";
import { cleanup, eventually, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine table limits");
test.after.each(cleanup);

/** A key of KEY_BYTES_MAX bytes whose first four bytes are `i` (adjacent keys share almost no prefix). */
function maxKey(i: number): Uint8Array {
  const key = new Uint8Array(KEY_BYTES_MAX).fill(0x55);
  new DataView(key.buffer).setUint32(0, i);
  return key;
}

// A flush writes a memtable as ONE table (memtables.ts flushOldest), with no split at a
// table's limits, while only merges split their outputs (compaction.ts writeOutputs). A
// large batch (within BATCH_BYTES_MAX: 64 MiB of keys and values) goes into one private
// memtable of its own (actor.ts #commitLarge), and 32,400 keys of KEY_BYTES_MAX make that
// memtable's table index pass INDEX_BLOCK_BYTES_MAX (64 MiB; one index entry of a whole key
// per 4 KiB data block): the flush throws RangeError in the actor and the database fails.
test("an accepted large batch of 32,400 keys of KEY_BYTES_MAX is flushed to tables and the database stays writable", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, durability: "async" });
  try {
    const KEYS = 32_400; // 66,355,200 key bytes: within BATCH_BYTES_MAX (67,108,864)
    const empty = new Uint8Array(0);
    const ops = Array.from({ length: KEYS }, (_, i) => ({ type: "put" as const, key: maxKey(i), value: empty }));
    await db.batch(ops);
    // The batch's private memtable is frozen; the actor flushes it in the background.
    await eventually(() => db.stats().state === "failed" || (db.stats().flushes >= 1 && db.stats().shards[0].frozenMemtables === 0), "the batch's memtable flushed", 60_000);
    const why = await db.put("after", "x").then(() => "", (e: Error) => `${e.message} (cause: ${(e.cause as Error | undefined)?.message})`);
    assert.is(db.stats().state, "open", `the flush of an accepted batch failed the database: ${why}`);
    assert.ok(db.get(maxKey(KEYS - 1)) !== undefined);
  } finally {
    await db.close();
  }
});

// Size-tiered merging (compaction.ts pickCompaction) picks any tier holding FAN_IN tables,
// and a merge whose output would pass a table's limits is split into several outputs of the
// same tier (writeOutputs). Once a shard's tables reach that size, four of them merge into
// four again, one tier up, and those four are picked next: the actor rewrites the same data
// for ever (one merge per idle step, tiers without end), and the table count never falls.
// Shown with the merge itself and the actor's manifest edit (actor.ts #compact), with the
// outputs' index limit at its smallest (64 KiB, outputOptions) instead of 64 MiB, so that a
// "full" table is 28 keys of KEY_BYTES_MAX rather than 28,000: the policy is the same at
// either size (in a real database: a shard holding more than ~3 full tables, ~170 MB of
// 2 KiB keys, or 3 x 2^24 keys).
test("merging tables at the size limit ends: after a few merges no tier is picked again", () => {
  const dir = tempDir();
  platform.mkdir(`${dir}/tables`, { recursive: true });
  const manifest = newManifest(1);
  const PER_TABLE = 27;
  const empty = new Uint8Array(0);
  for (let t = 0; t < COMPACTION_FAN_IN; t++) {
    const entries = Array.from({ length: PER_TABLE }, (_, j) => ({ key: maxKey(j * COMPACTION_FAN_IN + t), ts: BigInt(j * COMPACTION_FAN_IN + t + 1), seq: 1n, value: empty }));
    manifest.tables.push(tableRecord(0, t + 1, 0, writeTable(platform, core, tablePath(dir, t + 1), entries)));
  }
  manifest.nextTableNumber = COMPACTION_FAN_IN + 1;
  const shared = { gcHorizon: () => ({ visible: 2, boundaries: [2] }) } as unknown as EngineShared;
  const MERGES_MAX = 6;
  const history: string[] = [];
  let merges = 0;
  for (let inputs = pickCompaction(manifest, 0); inputs; inputs = pickCompaction(manifest, 0)) {
    if (merges === MERGES_MAX) break;
    // What Actor.#compact does with the merge's outputs.
    const number = manifest.nextTableNumber;
    const outputs = mergeTables(core, platform, dir, shared, new BlockCache(), manifest, inputs, number, () => false, { indexBytesMax: 64 * 1024 });
    const gone = new Set(inputs.map((t) => t.number));
    manifest.tables = [...manifest.tables.filter((t) => !gone.has(t.number)), ...outputs];
    manifest.nextTableNumber = number + Math.max(1, outputs.length);
    for (const t of inputs) platform.unlink(tablePath(dir, t.number));
    merges++;
    history.push(`merge ${merges}: ${inputs.length} tables of tier ${inputs[0].tier} -> ${outputs.length} of tier ${outputs[0]?.tier}`);
  }
  assert.ok(merges < MERGES_MAX, `still merging after ${merges} merges of the same ${PER_TABLE * COMPACTION_FAN_IN} keys:\n      ${history.join("\n      ")}`);
});

test.run();
