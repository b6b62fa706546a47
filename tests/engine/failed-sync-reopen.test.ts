// A reopen after a failed fdatasync, then a power loss. The README's advice after a
// WalFailedError is to reopen; on Linux a failed writeback leaves the data it could not
// write in the page cache, marked clean ("fsyncgate"): recovery reads the records as if
// they were on disk, and no later fdatasync writes them. The power-loss platform models
// that (tests/harness/power-loss-platform.ts, `failSyncAfter`). Seen failing before the
// fix: the reopened writer acknowledged puts after the failed record, a power loss took
// that record (the disk never had it), and the next open cut everything after the hole as
// a torn tail, acknowledged puts included. The log's writer now writes again, before its
// first sync, what no sync is known to have covered (src/wal/segment-writer.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { WalFailedError } from "../../src/errors.ts";
import { collect } from "../wal/helpers.ts";
import { bounded, withPowerLoss } from "../harness/power-loss-platform.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import { cleanup, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine: reopen after a failed sync");
test.after.each(cleanup);

const PUTS = 20;
// The crash happens in this process: the lock files it left are no stale holders' here.
const OPTIONS = { durability: "full", coordination: "single-process-unsafe" } as const;
const LOG_OPTIONS = { durability: "full", coordination: "single-process-unsafe" } as const;
const value = (name: string) => `${name} `.padEnd(200, "=");

test("a put whose fdatasync failed, a reopen in the same process, acknowledged puts, a power loss: every acknowledged put is there", async () => {
  const root = tempDir();
  const dir = `${root}/db`;
  const p = withPowerLoss(platform, root);
  const { open: openThrough } = bindDatabaseApi(p);

  let db = await openThrough(dir, OPTIONS);
  for (let i = 0; i < PUTS; i++) await db.put(`before-${i}`, value(`before-${i}`));
  p.failSyncAfter(1);
  let failure: unknown;
  await db.put("failed", value("failed")).catch((error) => (failure = error));
  assert.ok(failure instanceof WalFailedError, `the put whose sync failed: ${failure}`);
  await bounded(db.close());

  db = await openThrough(dir, OPTIONS);
  for (let i = 0; i < PUTS; i++) await db.put(`after-${i}`, value(`after-${i}`));
  await db.close();
  p.crash();

  const reopened = await open(dir, OPTIONS);
  try {
    const missing: string[] = [];
    for (const name of [...Array.from({ length: PUTS }, (_, i) => `before-${i}`), ...Array.from({ length: PUTS }, (_, i) => `after-${i}`)]) {
      if (text(reopened.get(name)) !== value(name)) missing.push(name);
    }
    assert.equal(missing, [], "acknowledged puts lost by the power loss");
    const failed = text(reopened.get("failed"));
    assert.ok(failed === undefined || failed === value("failed"), `the failed put is either there or not: ${failed}`);
  } finally {
    await reopened.close();
  }
});

test("shardline/wal: an append whose fdatasync failed, a reopen, acknowledged appends, a power loss: every acknowledged record is there", async () => {
  const root = tempDir();
  const dir = `${root}/log`;
  const p = withPowerLoss(platform, root);
  const { openLog } = bindLogApi(p);
  const payload = (i: number) => new TextEncoder().encode(`record ${i} `.padEnd(300, "#"));

  let log = await openLog(dir, LOG_OPTIONS);
  for (let i = 0; i < PUTS; i++) await log.append(payload(i));
  p.failSyncAfter(1);
  let failure: unknown;
  await log.append(payload(PUTS)).catch((error) => (failure = error));
  assert.ok(failure instanceof WalFailedError, `the append whose sync failed: ${failure}`);
  await bounded(log.close());

  log = await openLog(dir, LOG_OPTIONS);
  const after: number[] = [];
  for (let i = 0; i < PUTS; i++) after.push(Number(await log.append(payload(1000 + i))));
  await log.close();
  p.crash();

  const { openLog: openReal } = bindLogApi(platform);
  const reopened = await openReal(dir, LOG_OPTIONS);
  try {
    const texts = new Set((await collect(reopened)).map((r) => new TextDecoder().decode(r.data)));
    const missing = [...Array.from({ length: PUTS }, (_, i) => i), ...Array.from({ length: PUTS }, (_, i) => 1000 + i)].filter((i) => !texts.has(new TextDecoder().decode(payload(i))));
    assert.equal(missing, [], `acknowledged records lost by the power loss (LSNs of the later ones: ${after.slice(0, 3).join(", ")}...)`);
  } finally {
    await reopened.close();
  }
});

test.run();
