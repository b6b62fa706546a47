// A large batch whose writer died after its fragments were durable and before its commit
// was (docs/ENGINE.md, "Large atomic batches"): the next writer's recovery drops the batch,
// and now also says so in the log, with an abandonment (a commit record of no fragments
// naming the first of them: src/engine/batch-assembler.ts abandonmentOf), logged before any
// new write. Every reader after it (replay, change feeds, followers) then drops the
// fragments there; without it a follower kept them as a batch still open and never
// checkpointed again (tests/replicate/follower-stream.test.ts shows that end to end).
//
// The dead writer's fragment is appended to the database's group WAL with the log API while
// no writer has it open: what a writer killed at that point leaves.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toolCore } from "../../src/cli/database.ts";
import { decodeRecord, encodeFragment, KIND_COMMIT, KIND_FRAGMENT, OP_PUT } from "../../src/engine/records.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import { readRecords } from "../../src/wal/read-records.ts";
import { cleanup, enc, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine: a large batch abandoned by a dead writer");
test.after.each(cleanup);

const { openLog } = bindLogApi(platform);

/** The kind and, for commits, the body of every record of `dir`'s group WAL, with its LSN. */
async function groupRecords(dir: string): Promise<Array<{ lsn: number; kind: number; fragments?: number; firstFragmentLsn?: number }>> {
  const core = await toolCore();
  try {
    return [...readRecords(core, platform, `${dir}/wal`, 0)].map((r) => {
      const kind = r.payload[1];
      if (kind !== KIND_COMMIT) return { lsn: Number(r.lsn), kind };
      const commit = decodeRecord(r.payload) as { fragments: number; firstFragmentLsn: number };
      return { lsn: Number(r.lsn), kind, fragments: commit.fragments, firstFragmentLsn: commit.firstFragmentLsn };
    });
  } finally {
    core.detach();
  }
}

test("recovery after a writer died between a large batch's fragments and its commit logs one abandonment of them, before any new write; nothing of the batch is applied, before or after a second reopen", async () => {
  const dir = tempDir();
  const first = await open(dir, { shards: 2, durability: "full" });
  await first.put("before", "1");
  await first.close();

  const log = await openLog(`${dir}/wal`, { durability: "full" });
  const fragmentLsn = Number(await log.append(encodeFragment([{ type: OP_PUT, shard: 0, key: enc.encode("never"), value: enc.encode("committed"), ts: 0n }])));
  await log.close();

  const db = await open(dir, { durability: "full" });
  try {
    assert.is(db.get("never"), undefined, "the batch is not applied");
    assert.is(text(db.get("before")), "1");
    await db.put("after", "2");
  } finally {
    await db.close();
  }
  let records = await groupRecords(dir);
  const at = records.findIndex((r) => r.lsn === fragmentLsn);
  assert.is(records[at]?.kind, KIND_FRAGMENT, "the dead writer's fragment is in the log");
  assert.equal(records[at + 1], { lsn: records[at + 1]?.lsn, kind: KIND_COMMIT, fragments: 0, firstFragmentLsn: fragmentLsn }, "right after it, the abandonment naming it");
  assert.ok(records.length > at + 2, "the new write comes after the abandonment");

  // Reopened: the fragment is dropped at the abandonment, no second one is logged.
  const again = await open(dir);
  try {
    assert.is(again.get("never"), undefined);
    assert.is(text(again.get("after")), "2");
  } finally {
    await again.close();
  }
  records = await groupRecords(dir);
  assert.is(records.filter((r) => r.kind === KIND_COMMIT).length, 1, "one abandonment, whatever the reopens");
});

test("a change feed from before the abandoned batch yields every committed write and nothing of the batch", async () => {
  const dir = tempDir();
  const first = await open(dir, { shards: 2, durability: "full" });
  const ts = await first.put("before", "1");
  await first.close();
  const log = await openLog(`${dir}/wal`, { durability: "full" });
  await log.append(encodeFragment([{ type: OP_PUT, shard: 1, key: enc.encode("never"), value: enc.encode("committed"), ts: 0n }]));
  await log.close();

  const db = await open(dir, { durability: "full" });
  try {
    await db.put("after", "2");
    const keys: string[] = [];
    for await (const event of db.subscribe({ from: ts })) {
      keys.push(text(event.key)!);
      if (keys.length === 2) break;
    }
    assert.equal(keys.sort(), ["after", "before"]);
  } finally {
    await db.close();
  }
});

test.run();
