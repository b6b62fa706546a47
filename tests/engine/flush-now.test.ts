// flush() under durability "async" (src/wal/durability-worker.ts): the durability worker
// gathers records for up to batchIntervalUs before it syncs, and `db.flush()` (or a log's
// `flushUntil`) waited that interval out although its caller wants durability now (an open
// item since 2026-12-05: 1 ms by default, up to 1 s as configured). A flush now asks the
// worker to sync at once (Ring.FLUSH_WANTED, then a wake). With a 1 s interval, 5 rounds of
// a put and a flush took 5 s before the fix; the bound below is half of that, while the
// work itself (5 syncs) takes milliseconds.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, open, tempDir, text } from "./helpers.ts";
import { cleanup as walCleanup, openLog, tempDir as walTempDir } from "../wal/helpers.ts";

const test = suite("engine flush under async durability");
test.after.each(() => {
  cleanup();
  walCleanup();
});

const INTERVAL_US = 1_000_000;
const ROUNDS = 5;

test(`db.flush() does not wait out walBatchIntervalUs (${INTERVAL_US / 1000} ms): ${ROUNDS} puts each flushed in under half the intervals`, async () => {
  const dir = tempDir();
  const db = await open(dir, { durability: "async", walBatchIntervalUs: INTERVAL_US });
  const started = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    await db.put(`k${i}`, `v${i}`);
    await db.flush();
    assert.ok(db.stats().wal.durableLsn >= db.stats().wal.currentLsn, `round ${i}: everything acknowledged is durable after flush()`);
  }
  const ms = performance.now() - started;
  await db.close();
  assert.ok(ms < (ROUNDS * INTERVAL_US) / 1000 / 2, `${ROUNDS} put+flush rounds took ${ms.toFixed(0)} ms: flush() waited out the batch interval`);
  const again = await open(dir);
  assert.is(text(again.get(`k${ROUNDS - 1}`)), `v${ROUNDS - 1}`);
  await again.close();
});

test(`log.flushUntil() does not wait out batchIntervalUs either`, async () => {
  const log = await openLog(walTempDir(), { durability: "async", batchIntervalUs: INTERVAL_US });
  const started = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    const lsn = await log.append(`r${i}`);
    await log.flushUntil(lsn);
    assert.ok(log.stats().durableLsn > lsn, `round ${i}: durable after flushUntil`);
  }
  const ms = performance.now() - started;
  await log.close();
  assert.ok(ms < (ROUNDS * INTERVAL_US) / 1000 / 2, `${ROUNDS} append+flushUntil rounds took ${ms.toFixed(0)} ms`);
});

test.run();
