// Databases written before the channel path logged to the group WAL keep channel writes in
// per-shard partition logs (shard-NNN/). Such a database opens: recovery replays those logs
// beyond their checkpoints, and flushes carry their operations into tables; nothing
// appends to them any more (src/engine/actor.ts). Here a partition record is written as the
// previous version wrote it (PartitionLog), with a put and a delete in it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { partitionDir } from "../../src/engine/flush.ts";
import type { DatabaseOptions } from "../../src/engine/options.ts";
import { PartitionLog } from "../../src/engine/partition-log.ts";
import { encodeOperations, OP_DELETE, OP_PUT, type Operation } from "../../src/engine/records.ts";
import { cleanup, enc, eventually, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine legacy partition logs");
const OPTIONS: DatabaseOptions = { shards: 2, memtableBytesMax: 64 * 1024 };

test("a database with channel writes in a partition log (the previous format) opens with them, and keeps them through flushes", async () => {
  const dir = tempDir();
  const db = await open(dir, OPTIONS);
  await db.put("gone", "deleted by the partition log");
  await db.put("kept", "fast path");
  await db.close();

  const core = await Core.create({ shards: 2, memoryBytesMax: 64 * 1024 * 1024 });
  const shardOf = (key: string) => core.shardOf(enc.encode(key));
  const ops: Operation[] = [
    { type: OP_PUT, shard: shardOf("legacy"), key: enc.encode("legacy"), value: enc.encode("from shard-NNN"), ts: 1000n },
    { type: OP_DELETE, shard: shardOf("gone"), key: enc.encode("gone"), value: undefined, ts: 1000n },
  ];
  const partition = partitionDir(dir, ops[0].shard);
  const log = PartitionLog.open(core, platform, partition, PartitionLog.recover(core, platform, partition, false), { segmentBytesMax: 1 << 20, syncBytesMax: 1 << 20 });
  log.append([encodeOperations(ops)]);
  log.sync();
  log.close();
  core.detach();

  const again = await open(dir, OPTIONS);
  assert.is(text(again.get("legacy")), "from shard-NNN");
  assert.is(again.get("gone"), undefined);
  assert.is(text(again.get("kept")), "fast path");
  // Enough new writes that every memtable holding the replayed operations is flushed.
  for (let i = 0; i < 2000; i++) await again.put(`n${i}`, "x".repeat(100));
  await again.flush();
  await eventually(() => again.stats().shards.every((s) => s.frozenMemtables === 0), "flushed");
  await again.close();

  const third = await open(dir, OPTIONS);
  try {
    assert.is(text(third.get("legacy")), "from shard-NNN");
    assert.is(third.get("gone"), undefined);
    assert.is(text(third.get("n1999")), "x".repeat(100));
    // The new writes' timestamps were raised past the legacy ones.
    await third.put("legacy", "newer");
    assert.is(text(third.get("legacy")), "newer");
  } finally {
    await third.close();
  }
});

test.after(cleanup);
test.run();
