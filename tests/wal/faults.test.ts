// Fail-stop: a failed write or fdatasync (or a write that lands only in part) puts the log
// in a failed state; every pending and later append rejects with WalFailedError carrying
// the OS error; nothing is acknowledged that was not made durable; reopening recovers
// every acknowledged record. Faults are injected into the durability worker's Platform
// (src/platform-faults.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { WalFailedError } from "../../src/errors.ts";
import type { FaultPlan } from "../../src/platform-faults.ts";
import { rejects, throwsA } from "../harness/assert.ts";
import { recordBytes } from "../../src/wal/format.ts";
import { cleanup, collect, enc, openLog, tempDir } from "./helpers.ts";

const test = suite("wal faults");
const SMALL = { segmentBytesMax: 4096, bufferBytes: 64 * 1024 };

/**
 * Opens a log with `faults`, appends `count` records with up to 16 in flight, and returns
 * what was acknowledged and how every append ended.
 */
async function runUntilFailure(faults: FaultPlan, count = 400) {
  const dir = tempDir();
  const log = await openLog(dir, { ...SMALL, faults });
  const acked = new Map<string, bigint>();
  const errors: unknown[] = [];
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    const text = `f${i}-${"p".repeat(i % 50)}`;
    const p: Promise<void> = log.append(text).then(
      (lsn) => void acked.set(text, lsn),
      (error) => void errors.push(error),
    ).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 16) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  assert.is(acked.size + errors.length, count, "every append settled");
  return { dir, log, acked, errors };
}

async function checkFailStop(faults: FaultPlan, step: RegExp) {
  const { dir, log, acked, errors } = await runUntilFailure(faults);
  assert.ok(errors.length > 0, "the fault made appends fail");
  // Nothing acknowledged lies beyond the last durable LSN the worker published before it
  // failed (it publishes nothing after): every acknowledgement was covered by a good sync.
  const lastDurable = log.durableLsn;
  for (const [text, lsn] of acked) {
    assert.ok(lsn + BigInt(recordBytes(enc.encode(text).length)) <= lastDurable, `${text} at ${lsn} acknowledged beyond durable ${lastDurable}`);
  }
  for (const error of errors) {
    assert.ok(error instanceof WalFailedError, String(error));
    assert.is((error as WalFailedError).code, "SHARDLINE_WAL_FAILED");
    assert.match((error as Error).message, step);
    assert.is(((error as Error).cause as { code?: string }).code, faults.code ?? "EIO");
  }
  // Later appends are refused too, in every form, and nothing is retried.
  await rejects(() => log.append("later"), WalFailedError);
  throwsA(() => log.appendNow("later"), WalFailedError);
  assert.is(log.stats().state, "failed");
  // close() stops the worker and releases the lock, then says the log failed.
  await rejects(() => log.close(), WalFailedError);
  // Every acknowledged record is on disk, byte-exact, after recovery.
  const reopened = await openLog(dir, SMALL);
  const onDisk = new Map((await collect(reopened)).map((r) => [r.text, r.lsn]));
  for (const [text, lsn] of acked) assert.is(onDisk.get(text), lsn, `acknowledged ${text} at ${lsn}`);
  assert.not.ok(onDisk.has("later"));
  // And the log goes on.
  const next = await reopened.append("after reopen");
  assert.ok(next >= reopened.durableLsn - 100n);
  await reopened.close();
  return acked.size;
}

test("the 3rd fdatasync fails: fail-stop, every pending and later append rejects, acknowledged records survive", async () => {
  const acked = await checkFailStop({ failSyncAt: 3 }, /fdatasync failed/);
  assert.ok(acked > 0, "the first syncs acknowledged records");
});

test("the 5th write fails (ENOSPC): fail-stop with the OS code as cause", async () => {
  await checkFailStop({ failWriteAt: 5, code: "ENOSPC" }, /write failed/);
});

test("a write that lands only half its bytes: fail-stop, and recovery cuts the torn part", async () => {
  await checkFailStop({ partialWriteAt: 6 }, /write failed/);
});

test("a sync failing during segment rotation: fail-stop", async () => {
  // Each 4 KiB segment takes ~60 records; a late sync lands on some rotation or batch.
  await checkFailStop({ failSyncAt: 12 }, /failed/);
});

test("a failure creating the first segment makes openLog reject, and releases the directory", async () => {
  const dir = tempDir();
  await rejects(() => openLog(dir, { ...SMALL, faults: { failWriteAt: 1 } }), WalFailedError);
  const log = await openLog(dir, SMALL);
  assert.is(await log.append("works"), 0n);
  await log.close();
});

test.after(cleanup);
test("a write failing under records appended before close(): close() rejects with WalFailedError rather than resolve without them", async () => {
  // Writes through the worker's platform: 1 the new segment's header, 2 its zeros, 3 the
  // first batch of records. That one fails.
  const dir = tempDir();
  const log = await openLog(dir, { ...SMALL, faults: { failWriteAt: 3 } });
  const lsn = log.appendNow("appended before close");
  let closeError: unknown;
  await log.close().catch((e) => void (closeError = e));
  const again = await openLog(dir, SMALL);
  const inLog = (await collect(again)).some((r) => r.lsn === lsn);
  await again.close();
  // README: "Records appended before close() are all in the log once it resolves."
  assert.ok(inLog || closeError instanceof WalFailedError, `close() resolved (${String(closeError)}) but the record at ${lsn} is not in the log`);
});

test.run();
