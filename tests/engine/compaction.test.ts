// Compaction under a sustained write load with a live snapshot: the table count stays
// bounded (fewer than COMPACTION_FAN_IN tables per tier once the actor catches up), the
// snapshot keeps reading the versions it saw across every merge, the newest reads see the
// last writes; after the snapshot is released, merges drop what it held. Corruption: a
// damaged table block or MANIFEST, or a missing table file, surfaces as a CorruptionError
// naming the file.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CorruptionError } from "../../src/engine/public.ts";
import { rejects, throwsA } from "../harness/assert.ts";
import { cleanup, eventually, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine compaction");
const FAN_IN = 4;
const KEYS = 300;
const valueOf = (round: number, i: number) => `r${round}-${i}-`.padEnd(120, "x");

/** A closed one-shard database holding 1,000 keys and at least one table file; that file's name. */
async function closedDatabaseWithTable(): Promise<{ dir: string; name: string }> {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < 1000; i++) await db.put(`k${String(i).padStart(4, "0")}`, "v".repeat(100));
  await eventually(() => db.stats().shards[0].tables > 0 && db.stats().shards[0].frozenMemtables === 0, "a table");
  await db.close();
  return { dir, name: platform.readdir(`${dir}/tables`).find((n) => n.endsWith(".sst"))! };
}

/** XORs the byte at `offset` of the file with `mask`, durably. */
function flipByte(path: string, offset: number, mask: number): void {
  const bytes = platform.readFile(path);
  const file = platform.open(path, "readwrite");
  file.write(new Uint8Array([bytes[offset] ^ mask]), offset);
  file.sync();
  file.close();
}

const tierCounts = (db: Awaited<ReturnType<typeof open>>) => Object.values(db.stats().shards[0].tablesPerTier);

test("sustained overwrites with a live snapshot: tables stay bounded, the snapshot reads its versions across merges", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  for (let i = 0; i < KEYS; i++) await db.put(`k${i}`, valueOf(0, i));
  const snapshot = db.snapshot();
  let maxTables = 0;
  const ROUNDS = 40;
  for (let round = 1; round <= ROUNDS; round++) {
    for (let i = 0; i < KEYS; i++) await db.put(`k${i}`, valueOf(round, i));
    maxTables = Math.max(maxTables, db.stats().shards[0].tables);
  }
  await db.flush();
  assert.ok(db.stats().compactions >= 2, `merges happened (${db.stats().compactions})`);
  // The actor merges before flushing once a tier holds 2 x FAN_IN tables: a few tiers of that.
  assert.ok(maxTables <= 4 * 2 * FAN_IN, `at most ${maxTables} tables during the load`);
  await eventually(() => db.stats().shards[0].frozenMemtables === 0 && tierCounts(db).every((n) => n < FAN_IN), "compaction caught up");
  const tables = db.stats().shards[0].tables;
  const tiers = Object.keys(db.stats().shards[0].tablesPerTier).length;
  assert.ok(tables <= tiers * (FAN_IN - 1), `${tables} tables over ${tiers} tiers`);
  console.log(`  [compaction] ${db.stats().compactions} merges, ${db.stats().flushes} flushes, at most ${maxTables} tables during the load, ${tables} after`);
  for (let i = 0; i < KEYS; i++) {
    assert.is(text(db.get(`k${i}`, { snapshot })), valueOf(0, i), `snapshot k${i}`);
    assert.is(text(db.get(`k${i}`)), valueOf(ROUNDS, i), `latest k${i}`);
  }
  const seen = [...db.scan({ snapshot })];
  assert.is(seen.length, KEYS);
  for (const [key, value] of seen) assert.ok(text(value)!.startsWith("r0-"), text(key));
  snapshot.release();
  await db.close();
});

test("a corrupt table block: reads of it fail with CorruptionError naming the table file", async () => {
  const { dir, name } = await closedDatabaseWithTable();
  const path = `${dir}/tables/${name}`;
  flipByte(path, 100, 0xff); // inside the first data block
  const again = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  const error = throwsA(() => {
    for (let i = 0; i < 1000; i++) again.get(`k${String(i).padStart(4, "0")}`);
    for (const _ of again.scan()) { /* read every block */ }
  }, CorruptionError);
  assert.ok((error as CorruptionError).file.endsWith(name), (error as CorruptionError).file);
  assert.is((error as CorruptionError).code, "SHARDLINE_CORRUPTION");
  await again.close();
});

test("a table file the MANIFEST names is missing: reads fail with CorruptionError naming it", async () => {
  const { dir, name } = await closedDatabaseWithTable();
  platform.unlink(`${dir}/tables/${name}`);
  const again = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  const error = throwsA(() => {
    for (let i = 0; i < 1000; i++) again.get(`k${String(i).padStart(4, "0")}`);
  }, CorruptionError);
  assert.ok((error as CorruptionError).file.endsWith(name), (error as CorruptionError).file);
  const scanError = throwsA(() => [...again.scan()], CorruptionError);
  assert.ok((scanError as CorruptionError).file.endsWith(name), (scanError as CorruptionError).file);
  await again.close();
});

test("a corrupt MANIFEST: open fails with CorruptionError naming it", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1 });
  await db.put("a", "b");
  await db.close();
  flipByte(`${dir}/MANIFEST`, platform.readFile(`${dir}/MANIFEST`).length >> 1, 0x01);
  const error = await rejects(() => open(dir, { shards: 1 }), CorruptionError);
  assert.ok((error as CorruptionError).file.endsWith("MANIFEST"), (error as CorruptionError).file);
});

test.after(cleanup);
test.run();
