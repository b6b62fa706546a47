// Acknowledged writes whose log record is about 1 MiB or more (larger than a segment
// scanner's 1 MiB read buffer) and is not the first record of its segment: a value near
// VALUE_BYTES_MAX, or a same-shard batch of ~1 MiB. `put` and `batch` resolve under
// durability "full", so after close and open every one of them must be back. Before the
// fix, recovery read such a record's header from the wrong place and cut it, and every
// record after it, as a "torn tail".
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import type { Database } from "../../src/engine/database.ts";
import { SMALL_BATCH_BYTES_MAX } from "../../src/engine/options.ts";
import { VALUE_BYTES_MAX } from "../../src/engine/public.ts";
import { BUFFER_BYTES } from "../../src/wal/segment-scanner.ts";
import { cleanup, enc, open, tempDir, text } from "./helpers.ts";

const test = suite("engine large records");
const SHARDS = 4;
const router = await Core.create({ shards: SHARDS, memoryBytesMax: 64 << 20 });

/** `count` keys starting with `prefix` that all route to `shard`. */
function keysOfShard(prefix: string, shard: number, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) if (router.shardOf(enc.encode(`${prefix}${i}`)) === shard) keys.push(`${prefix}${i}`);
  return keys;
}

/** A value of `bytes` bytes, each the low byte of its index plus `seed`. */
function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i + seed) & 0xff;
  return out;
}

/** Bytes the group WAL grew by while `write` ran (the size of the records it appended). */
async function groupLogGrowth(db: { stats(): { wal: { currentLsn: bigint } } }, write: () => Promise<unknown>): Promise<number> {
  const before = db.stats().wal.currentLsn;
  await write();
  return Number(db.stats().wal.currentLsn - before);
}

function same(got: Uint8Array | undefined, want: Uint8Array): boolean {
  return got !== undefined && got.length === want.length && got.every((b, i) => b === want[i]);
}

/** Bytes cut from every log of the database by the recovery of the open that returned `db`. */
function bytesCut(db: Database): number {
  const recovery = db.stats().recovery!;
  return recovery.groupLog!.bytesCut + recovery.partitions.reduce((n, p) => n + p.bytesCut, 0);
}

test("values near VALUE_BYTES_MAX put after a small one (durability full) are back after close and open", async () => {
  const dir = tempDir();
  // One shard: whichever log a large put goes to (the group WAL on the fast path, the
  // shard's partition log when its memtable has no room), some record precedes it there.
  const [smallBefore, bigKey, bigKey2, smallAfter] = keysOfShard("value-key-", 1, 4);
  const big = pattern(VALUE_BYTES_MAX, 3);
  const big2 = pattern(VALUE_BYTES_MAX - 8, 5);
  const db = await open(dir, { shards: SHARDS, durability: "full" });
  await db.put(smallBefore, "s1");
  const bigRecordBytes = await groupLogGrowth(db, () => db.put(bigKey, big));
  assert.ok(bigRecordBytes > BUFFER_BYTES, `the put's record (${bigRecordBytes} bytes) is larger than the scanner's buffer`);
  await db.put(bigKey2, big2);
  await db.put(smallAfter, "s2");
  await db.close();

  const again = await open(dir);
  try {
    assert.is(bytesCut(again), 0, "nothing cut from any log");
    assert.is(text(again.get(smallBefore)), "s1");
    assert.ok(same(again.get(bigKey), big), "the first large value is back, intact");
    assert.ok(same(again.get(bigKey2), big2), "the second large value is back, intact");
    assert.is(text(again.get(smallAfter)), "s2", "the write after the large ones is back");
  } finally {
    await again.close();
  }
});

test("a same-shard batch of ~1 MiB after a small write (durability full) is back whole after close and open", async () => {
  const dir = tempDir();
  // 19 values filling SMALL_BATCH_BYTES_MAX but for 1 KiB: one record just over 1 MiB.
  const [first, ...batchKeys] = keysOfShard("batch-key-", 0, 1 + 19);
  const keyBytes = batchKeys.reduce((n, key) => n + key.length, 0);
  const valueBytes = Math.floor((SMALL_BATCH_BYTES_MAX - keyBytes - 1024) / batchKeys.length);
  const values = batchKeys.map((_, i) => pattern(valueBytes, i));
  const db = await open(dir, { shards: SHARDS, durability: "full" });
  await db.put(first, "small");
  const batchRecordBytes = await groupLogGrowth(db, () => db.batch(batchKeys.map((key, i) => ({ type: "put" as const, key, value: values[i] }))));
  assert.ok(batchRecordBytes > BUFFER_BYTES, `the batch's record (${batchRecordBytes} bytes) is larger than the scanner's buffer`);
  await db.put("after", "later");
  await db.close();

  const again = await open(dir);
  try {
    assert.is(bytesCut(again), 0, "nothing cut from any log");
    assert.is(text(again.get(first)), "small");
    batchKeys.forEach((key, i) => assert.ok(same(again.get(key), values[i]), `batch key ${key} is back`));
    assert.is(text(again.get("after")), "later");
  } finally {
    await again.close();
  }
});

test.after.each(cleanup);
test.run();
