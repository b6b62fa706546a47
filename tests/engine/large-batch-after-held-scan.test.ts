// After a held scan (at a snapshot: a plain scan lets go, src/engine/scan.ts) filled the shared memory with 64 KiB memtable arenas and ended, those
// arenas are free: they must serve allocations of other sizes too, a large batch's 4 MiB
// private memtable and a new thread's ~1.1 MiB block. The heap kept freed blocks in a
// free stack per exact size, so the memory stayed full for any other size: the large batch
// was refused with MemoryFullError and attach failed ("no memory left for this thread's
// block") until the database was reopened (found by review, 2026-12-05; assembly/heap.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { MemoryFullError } from "../../src/errors.ts";
import { attach, cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine large batch after a held scan");
test.after.each(cleanup);

const value = (i: number) => `${i}:`.padEnd(1000, "v");
const key = (i: number) => `k${String(i).padStart(6, "0")}`;

test("a held scan fills the memory with memtables and ends: a large batch and a new handle then get room from the freed arenas", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, durability: "async", memtableBytesMax: 64 * 1024, faults: { memorySlackBytes: 16 * 1024 * 1024 } });
  try {
    await db.put("a", "before");
    const scan = db.scan({ snapshot: db.snapshot() }); // keeps its first pins (src/engine/scan.ts)
    scan.next();
    let i = 0;
    for (; i < 100_000; i++) {
      const error = await db.put(key(i), value(i)).then(() => undefined, (e: unknown) => e);
      if (error instanceof MemoryFullError) break;
      if (error !== undefined) throw error;
    }
    assert.ok(i > 1000 && i < 100_000, `${i} puts filled the memory while the scan was held`);
    scan.return!();
    const BATCH = 1_500; // ~1.5 MB: a large batch, with a private memtable of 4 MiB
    const ops = Array.from({ length: BATCH }, (_, j) => ({ type: "put" as const, key: `batch${String(j).padStart(5, "0")}`, value: value(j) }));
    // The first write after the scan: the actor reclaims the arenas before it allocates.
    const first = await db.batch(ops).then(() => undefined, (e: unknown) => e);
    assert.is(first, undefined, `the large batch after the scan ended: ${first}`);
    assert.is(text(db.get("batch01499")), value(1499));
    // A new thread's block, out of the same freed memory.
    const other = await attach(db.share());
    try {
      assert.is(text(other.get(key(i - 1))), value(i - 1));
      await other.put("from-other", "x");
    } finally {
      await other.close();
    }
    for (let attempt = 0; attempt < 3; attempt++) {
      const error = await db.batch(ops).then(() => undefined, (e: unknown) => e);
      assert.is(error, undefined, `the large batch again (${attempt}): ${error}`);
    }
    assert.is(text(db.get("from-other")), "x");
  } finally {
    await db.close();
  }
});

test.run();
