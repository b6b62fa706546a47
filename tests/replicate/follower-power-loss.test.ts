// A follower's power loss at every point of its life (tests/harness/power-loss-platform.ts,
// crashAtOperation: only what was fdatasynced survives, unsynced pages torn): its bootstrap
// from a snapshot (FOLLOWER "bootstrapping", tables, MANIFEST, a log at the snapshot's LSN,
// FOLLOWER "following"), the stream's appends and their syncs, and its first checkpoint (log
// closed, the engine's writer under `followerCheckpoint`, flush, MANIFEST, trim, log
// reopened). A plain restart must then resume to exactly the writer's durable state:
// nothing applied twice or skipped, deleted keys (some in the snapshot's tables) still
// deleted. Directory entries either only as fsynced, or also unasked in their order.
// An adversarial review (2026-12-08) swept every operation 1..150 once under Node and found
// nothing; here the sweep takes every SHARDLINE_FOLLOWER_CRASH_STRIDE-th operation (10 by
// default, the two entry modes taking turns) until one past the follower's last, and a
// stride of 1 is the soak.
// A follower finishes in 140-190 operations (thread timing varies it), the open in 65-113.
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/database.ts";
import { bindReplicateApi, type Follower, ReplicationError } from "../../src/replicate/public.ts";
import { withPowerLoss, bounded } from "../harness/power-loss-platform.ts";
import { backgroundSettled, cleanup, dec, open, platform, tempDir } from "../engine/helpers.ts";
import { ownNatsServer, type OwnNatsServer } from "./helpers.ts";

const test = suite("replicate: follower power loss");
const STRIDE = Number(process.env.SHARDLINE_FOLLOWER_CRASH_STRIDE ?? 10);
const { startPublisher, openFollower } = bindReplicateApi(platform);

let server: OwnNatsServer;
let writer: Database;
let writerDir: string;
let stream: string;
let want: string;
let endLsn: number;

function entries(db: Database): string {
  return JSON.stringify([...db.scan()].map(([k, v]) => [dec.decode(k), dec.decode(v)]));
}

test.before(setup);

async function setup(): Promise<void> {
  server = await ownNatsServer();
  writerDir = tempDir();
  writer = await open(writerDir, { memtableBytesMax: 64 * 1024, shards: 2 });
  // Tables before the snapshot: keys the stream deletes later must stay deleted.
  for (let i = 0; i < 200; i++) await writer.put(`old${String(i).padStart(4, "0")}`, `old value ${i} `.repeat(80));
  await backgroundSettled(writer);
  assert.ok(writer.stats().shards.every((shard) => shard.tables > 0), "the snapshot will hold tables of every shard");
  stream = `follower-power-loss-${Date.now().toString(36)}`;
  const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
  // Past the snapshot: a bit over 1 MiB (one follower checkpoint), deletes and overwrites.
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 300; i++) writes.push(writer.put(`new${String(i).padStart(4, "0")}`, `v${i}:` + "x".repeat(4000)));
  for (let i = 0; i < 200; i += 2) writes.push(writer.delete(`old${String(i).padStart(4, "0")}`));
  await Promise.all(writes);
  for (let i = 0; i < 50; i++) await writer.put(`new${String(i).padStart(4, "0")}`, `again ${i}`);
  for (let i = 1; i < 200; i += 4) await writer.delete(`old${String(i).padStart(4, "0")}`);
  await publisher.caughtUp();
  endLsn = Number(writer.stats().wal.durableLsn);
  await publisher.close();
  want = entries(writer);
}

test.after(async () => {
  await writer?.close();
  await server?.stop();
  cleanup();
});

/** A follower under a power-loss platform that fails at operation `n`; then a plain restart. Returns what happened. */
async function crashAt(n: number, seed: number, entriesFate: "fsynced" | "ordered" = "fsynced"): Promise<{ crashed: boolean; outcome: string }> {
  const root = tempDir();
  const dir = `${root}/follower`;
  const p = withPowerLoss(platform, root, { crashAtOperation: n, unsynced: "pages", seed, entries: entriesFate });
  let follower: Follower | undefined;
  try {
    follower = await bindReplicateApi(p).openFollower(dir, { servers: server.url, stream, checkpointBytes: 1 << 20, bootstrapTimeoutMs: 5000 });
  } catch {
    // the crash failed the open
  }
  const deadline = Date.now() + 8000;
  while (follower && !p.crashed && follower.appliedLsn < endLsn && !follower.failure && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  const crashed = p.crashed;
  if (!crashed && follower && follower.appliedLsn < endLsn) throw new Error(`op ${n}: no crash, and the follower stopped at ${follower.appliedLsn} < ${endLsn} (${follower.failure})`);
  p.crash();
  if (follower) await bounded(follower.close(), 3000);
  // The process "died": its lock files would name a dead process.
  platform.removeAll(`${dir}/LOCK.d`);
  platform.removeAll(`${dir}/FOLLOWER.d/LOCK.d`);
  let resumed: Follower | undefined;
  try {
    resumed = await openFollower(dir, { servers: server.url, stream, checkpointBytes: 1 << 20, bootstrapTimeoutMs: 5000 });
    await resumed.caughtUp(endLsn, 5000);
    await resumed.db.refresh();
    const got = entries(resumed.db);
    return { crashed, outcome: got === want ? "same" : `DIVERGED (${JSON.parse(got).length} keys, writer ${JSON.parse(want).length})` };
  } catch (error) {
    return { crashed, outcome: `${error instanceof ReplicationError ? "ReplicationError" : (error as Error).name}: ${(error as Error).message}` };
  } finally {
    await resumed?.close().catch(() => {});
  }
}

test("without a crash, the follower bootstraps, checkpoints at least once and reaches the writer's state (what the sweep cuts into)", async () => {
  const root = tempDir();
  const p = withPowerLoss(platform, root, {});
  const follower = await bindReplicateApi(p).openFollower(`${root}/f`, { servers: server.url, stream, checkpointBytes: 1 << 20 });
  try {
    const opened = p.operations;
    await follower.caughtUp(endLsn, 8000);
    await follower.db.refresh();
    console.log(`  [follower-power-loss] ${opened} operations to open, ${p.operations} to catch up, ${follower.stats().checkpoints} checkpoints, end LSN ${endLsn}`);
    assert.ok(follower.stats().checkpoints >= 1, "a checkpoint ran");
    assert.is(entries(follower.db), want);
  } finally {
    await follower.close();
  }
});

// After a bootstrap nothing syncs the snapshot's tables again until a checkpoint: the
// download's fdatasync of each table and its fsync of tables/ after the renames are all
// there is (src/replicate/snapshot.ts). Removing either failed no test before (mutation
// review of the sync call sites, 2026-12-08): the sweep keeps unsynced pages at random.
test("a follower bootstrapped and caught up, then a power loss before any checkpoint (unsynced data dropped): the restart reads the snapshot's tables", async () => {
  const root = tempDir();
  const dir = `${root}/follower`;
  const p = withPowerLoss(platform, root, { seed: 3, unsynced: "drop" });
  const follower = await bindReplicateApi(p).openFollower(dir, { servers: server.url, stream, checkpointBytes: 64 << 20, bootstrapTimeoutMs: 5000 });
  await follower.caughtUp(endLsn, 8000);
  assert.is(follower.stats().checkpoints, 0, "no checkpoint before the power loss");
  assert.ok(platform.readdir(`${dir}/tables`).some((name) => name.endsWith(".sst")), "the follower bootstrapped with tables");
  p.crash();
  await bounded(follower.close(), 3000);
  platform.removeAll(`${dir}/LOCK.d`);
  platform.removeAll(`${dir}/FOLLOWER.d/LOCK.d`);
  const resumed = await openFollower(dir, { servers: server.url, stream, bootstrapTimeoutMs: 5000 });
  try {
    await resumed.caughtUp(endLsn, 5000);
    await resumed.db.refresh();
    assert.is(entries(resumed.db), want, "the restarted follower holds the writer's state");
  } finally {
    await resumed.close();
  }
});

test(`power loss at every ${STRIDE}th follower operation (bootstrap, appends, checkpoint), directory entries as fsynced or, every other point, reaching the disk unasked in their order: the restart resumes to exactly the writer's state`, async () => {
  const bad: string[] = [];
  const started = Date.now();
  let points = 0;
  for (let n = 1; ; n += STRIDE, points++) {
    const entries = points % 2 === 0 ? "fsynced" : "ordered";
    const { crashed, outcome } = await crashAt(n, n, entries);
    if (outcome !== "same") bad.push(`op ${n} (entries ${entries})${crashed ? "" : " (no crash)"}: ${outcome}`);
    if (!crashed) break; // past the follower's last operation: so is every later point
  }
  console.log(`  [follower-power-loss] ${points} crash points every ${STRIDE} operations: ${bad.length} diverged in ${Date.now() - started} ms`);
  assert.ok(points >= 100 / STRIDE, `the sweep reached past the checkpoint (${points} points)`);
  assert.equal(bad, [], bad.join("\n"));
});

test.run();
