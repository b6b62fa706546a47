// Databases written before the channel path logged to the group WAL keep channel writes in
// per-shard partition logs (shard-NNN/). Such a database opens: recovery replays those logs
// beyond their checkpoints, and flushes carry their operations into tables; nothing
// appends to them any more (src/engine/actor.ts). Here a partition record is written as the
// previous version wrote it (PartitionLog), with a put and a delete in it.
// A live reader replays those logs from the checkpoints of the MANIFEST it read: the writer
// trimmed them after its flushes without asking the readers' slots (open item of the
// 2026-12-05 reviews); now it keeps their segments until no live reader is behind.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { partitionDir } from "../../src/engine/flush.ts";
import type { DatabaseOptions } from "../../src/engine/options.ts";
import { PartitionLog } from "../../src/engine/partition-log.ts";
import { encodeOperations, OP_DELETE, OP_PUT, type Operation } from "../../src/engine/records.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
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

test("a legacy partition log of two segments is kept while a live reader is at a MANIFEST older than the flush that passed it, and trimmed once the reader refreshed", async () => {
  const dir = tempDir();
  const options: DatabaseOptions = { shards: 1, memtableBytesMax: 4 * 1024 * 1024 }; // the replay fits: no flush while opening
  const db = await open(dir, options);
  await db.close();
  // ~1.5 MiB of legacy channel writes in shard 0's partition log: two 1 MiB segments.
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 * 1024 * 1024 });
  const partition = partitionDir(dir, 0);
  const log = PartitionLog.open(core, platform, partition, PartitionLog.recover(core, platform, partition, false), { segmentBytesMax: 1 << 20, syncBytesMax: 1 << 20 });
  for (let r = 0; r < 24; r++) {
    const ops: Operation[] = Array.from({ length: 64 }, (_, i) => ({ type: OP_PUT, shard: 0, key: enc.encode(`legacy-${r}-${i}`), value: new Uint8Array(1000).fill(r), ts: BigInt(1000 + r * 64 + i) }));
    log.append([encodeOperations(ops)]);
  }
  log.sync();
  log.close();
  core.detach();
  assert.is(listSegmentFiles(platform, partition).length, 2, "two segments");

  const reader = await open(dir, { ...options, readOnly: true, refreshIntervalMs: 2_000_000_000 });
  /** Opens a writer, writes until it flushed (the memtable with every replayed write: the partition checkpoint passes segment 1), closes it (its trims are done). */
  const writeUntilFlushed = async (prefix: string) => {
    const writer = await open(dir, options);
    for (let i = 0; i < 80 && writer.stats().flushes === 0; i++) await writer.put(`${prefix}-${i}`, "f".repeat(64 * 1024));
    await eventually(() => writer.stats().flushes > 0, "a flush");
    await writer.close();
  };
  try {
    assert.is(reader.get("legacy-23-63")?.length, 1000, "the reader replayed the partition log");
    await writeUntilFlushed("filler");
    assert.is(listSegmentFiles(platform, partition).length, 2, "kept: the reader's MANIFEST still has it replay from segment 1");
    await reader.refresh();
    assert.is(reader.get("legacy-0-0")?.length, 1000, "after refresh, from the tables");
    await writeUntilFlushed("more");
    assert.is(listSegmentFiles(platform, partition).length, 1, "trimmed once no reader is behind");
  } finally {
    await reader.close();
  }
});

test.after(cleanup);
test.run();
