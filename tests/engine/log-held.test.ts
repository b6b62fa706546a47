// The group WAL a quiet shard keeps (src/engine/actor.ts #freezeLogHolder), from a review
// of flush and compaction (2026-12-06), seen failing before the fix: one write to a shard
// that then stayed quiet kept every segment written since.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { cleanup, eventually, keysOfShard, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine log held");
test.after.each(cleanup);

// The group WAL's checkpoint is the lowest LSN any unflushed memtable of ANY shard holds
// (memtables.ts groupCheckpoint, flush.ts), and only a memtable 3/4 full is frozen and
// flushed (actor.ts #background). One write to a shard that then stays quiet leaves it in
// that shard's active memtable for good: every flush of the busy shard computes the same
// checkpoint, no segment is ever trimmed, the log grows with every write to the database,
// and each open reads all of it. (The replay floor fixed what that did to deleted keys,
// ENGINE.md "The tombstone rule"; nothing bounds the log itself, and no document says so.)
test("a shard written once and then left quiet does not pin the group WAL: segments are trimmed as the busy shard flushes", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 2, memtableBytesMax: 256 * 1024, walSegmentBytesMax: 2 * 1024 * 1024, durability: "async" });
  try {
    const router = await Core.attach(db.share().module, db.share().memory);
    const [quiet] = keysOfShard(router, "quiet", 1, 1);
    const busy = keysOfShard(router, "busy", 0, 500);
    router.detach();
    await db.put(quiet, "one write, then nothing more in this shard");
    const value = "x".repeat(1000);
    for (let round = 0; round < 30; round++) await Promise.all(busy.map((k) => db.put(k, value))); // ~15 MB to shard 0
    await db.flush();
    await eventually(() => db.stats().shards[0].frozenMemtables === 0, "shard 0's memtables flushed");
    const flushes = db.stats().flushes;
    const segments = platform.readdir(`${dir}/wal`).filter((n) => n.endsWith(".wal")).sort();
    assert.ok(flushes >= 20, `${flushes} flushes`);
    // ~15 MB of the busy shard's writes are in tables: at least the first 2 MiB segment can go.
    assert.ok(!segments[0].startsWith("00000001-"), `all ${segments.length} group-WAL segments of 2 MiB kept after ${flushes} flushes (the whole log since the quiet shard's one write): ${segments.join(", ")}`);
  } finally {
    await db.close();
  }
});

test.run();
