// A snapshot whose tables reach far past its LSN (src/replicate/follower.ts
// #showWhenConsistent, src/engine/open-read-only.ts refuseFollowerBehindTables). A quiet
// shard's memtable holds the writer's group checkpoint, and so the snapshot's LSN, back
// while the busy shard flushes and merges; the deletes merge drops tombstones together with
// the puts they shadow. From the review of replication against compaction (2026-12-07),
// each seen failing before its fix:
// - a new follower whose stream was purged stayed at the snapshot's LSN and showed 196-285
//   rows (the writer's state there was empty): later writes of the busy shard;
// - a new follower stopped by a gap after the busy shard's puts (before their deletes)
//   showed 30-89 of 301 keys acknowledged before its LSN: the merge had dropped the rest,
//   and the replay skipped their records as already in a table.
// And from the review of the follower's catch-up (2026-12-07): a snapshot whose tables a
// writer's replay flushed (maxSeq 0) let the follower open at once; doctor said nothing.
// Now a follower opens only once its log reaches the newest record its tables hold, and a
// readOnly open of its directory before that is refused (DatabaseNotFoundError). One
// nats-server of the file's own on 127.0.0.1 (tests/replicate/helpers.ts); waits bounded.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { toolCore } from "../../src/cli/database.ts";
import { Core } from "../../src/core/core.ts";
import { DatabaseNotFoundError } from "../../src/errors.ts";
import { readManifest } from "../../src/engine/manifest.ts";
import { bindReplicateApi, ReplicationError, ReplicationGapError } from "../../src/replicate/public.ts";
import { cleanup, eventually, keysOfShard, open, platform, rows, tempDir } from "../engine/helpers.ts";
import { cli } from "../cli/helpers.ts";
import { mergesSettled, type OwnNatsServer, ownNatsServer, within } from "./helpers.ts";

const test = suite("replicate: a snapshot whose tables reach past its LSN");
const { startPublisher, openFollower } = bindReplicateApi(platform);
let server: OwnNatsServer;

test.before(async () => {
  server = await ownNatsServer();
});
test.after(async () => {
  await server?.stop();
});
test.after.each(cleanup);

type Writer = Awaited<ReturnType<typeof open>>;
type Publisher = Awaited<ReturnType<typeof startPublisher>>;
const OPTIONS = { memtableBytesMax: 64 * 1024, shards: 2 };
const value = (tag: string, i: number, width = 300) => `${tag} value ${i}`.padEnd(width, ".");
const router = await Core.create({ shards: 2, memoryBytesMax: 64 << 20 });
const busy = keysOfShard(router, "busy", 0, 400);
const fill = keysOfShard(router, "fill", 0, 400);
const quiet = keysOfShard(router, "quiet", 1, 1)[0];

/**
 * A writer with its publisher: one put to the quiet shard 1, `busyKeys` puts to shard 0
 * (`afterPuts`: the stream's last sequence then), deletes of all but every tenth, 250
 * fillers, merges settled, and a snapshot, whose LSN is the held-back checkpoint while
 * shard 0's tables, merged, hold writes far past it (checked).
 */
async function withSnapshotAhead(name: string, busyKeys: number, body: (w: { writer: Writer; publisher: Publisher; stream: string; afterPuts: number; snapshotLsn: number; tablesThrough: number }) => Promise<void>): Promise<void> {
  const stream = `${name}-${Date.now().toString(36)}`;
  const dir = tempDir();
  const writer = await open(dir, OPTIONS);
  const core = await toolCore();
  const nc = await connect({ servers: server.url });
  try {
    const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    try {
      await writer.put(quiet, "held in shard 1's memtable");
      for (const [i, k] of busy.slice(0, busyKeys).entries()) await writer.put(k, value("busy", i, 200));
      await publisher.caughtUp(undefined, 5_000);
      const afterPuts = (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;
      for (const [i, k] of busy.slice(0, busyKeys).entries()) if (i % 10 !== 0) await writer.delete(k);
      for (const [i, k] of fill.slice(0, 250).entries()) await writer.put(k, value("fill", i, 200));
      // Until a merge dropped the deleted keys (the precondition below), bounded: a quiet
      // 300 ms alone came before that merge under a loaded CI (Deno, 2026-12-07: 862 entries).
      const shard0Entries = () => readManifest(core, platform, dir)!.tables.filter((t) => t.shard === 0).reduce((n, t) => n + t.entries, 0);
      for (const until = Date.now() + 10_000; shard0Entries() >= busyKeys + 250 && Date.now() < until;) await mergesSettled(writer, 1_000);
      await mergesSettled(writer);
      await publisher.caughtUp(undefined, 5_000);
      const snap = await within(5_000, publisher.snapshot());
      if (snap === "timed out") throw new Error("snapshot timed out");
      const m = readManifest(core, platform, dir)!;
      const entries0 = shard0Entries();
      assert.ok(m.tables.length > 0 && m.tables.every((t) => t.shard === 0) && snap.lsn === m.groupCheckpoint, `precondition: shard 0's tables, none of shard 1, the snapshot at the held-back checkpoint ${m.groupCheckpoint} (${snap.lsn})`);
      assert.ok(entries0 < busyKeys + 250, `precondition: a merge dropped deleted keys (${entries0} entries in shard 0's tables)`);
      assert.ok(Number(m.maxSeq) > snap.lsn, "precondition: the tables hold writes past the snapshot's LSN");
      await body({ writer, publisher, stream, afterPuts, snapshotLsn: snap.lsn, tablesThrough: Number(m.maxSeq) });
    } finally {
      await publisher.close({ forget: true });
    }
  } finally {
    core.detach();
    await nc.close();
    await writer.close();
  }
}

async function equalsWriter(follower: Awaited<ReturnType<typeof openFollower>>, writer: Writer, what: string): Promise<void> {
  await follower.caughtUp(Number(writer.stats().wal.durableLsn), 10_000);
  await follower.db.refresh();
  assert.equal(rows(follower.db.scan()), rows(writer.scan()), what);
}

test("a follower whose stream was purged below its snapshot's tables does not open, and nothing reads its directory: no state from past its prefix is shown", async () => {
  await withSnapshotAhead("ahead-purged", 400, async ({ stream, snapshotLsn, tablesThrough }) => {
    const nc = await connect({ servers: server.url });
    await (await jetstreamManager(nc)).streams.purge(stream);
    await nc.close();
    const dir = tempDir();
    const opened = await within(10_000, openFollower(dir, { servers: server.url, stream, bootstrapTimeoutMs: 1_500 }).then((f) => f.close().then(() => "opened"), (e) => e as Error));
    assert.ok(opened instanceof ReplicationError, `openFollower at snapshot LSN ${snapshotLsn} with the tables at ${tablesThrough}: ${opened instanceof Error ? opened.message : opened}`);
    const needed = Number(/tables hold writes of the log up to LSN (\d+)/.exec(opened.message)?.[1]);
    assert.ok(needed > tablesThrough, `the LSN it waited for (${opened.message}) is past the tables' newest record ${tablesThrough}`);
    const read = await open(dir, { readOnly: true }).then((db) => db.close().then(() => "opened"), (e) => e as Error);
    assert.ok(read instanceof DatabaseNotFoundError && /has applied its stream up to LSN/.test(read.message), `readOnly open of the follower's directory: ${read instanceof Error ? read.message : read}`);
    // doctor said "0 errors, 0 warnings" and that read-only handles read the log here
    // (review of the follower's catch-up, 2026-12-07): it warns now.
    const doctor = await cli(["doctor", dir]);
    assert.match(doctor.out, /the follower has applied its stream up to LSN \d+, and its snapshot's tables hold writes of the log up to LSN/, doctor.out);
  });
});

test("a follower stopped by a gap after the busy shard's puts (before their deletes, which a merge dropped with them) does not open: ReplicationGapError, never the puts' half of the state", async () => {
  await withSnapshotAhead("ahead-gap", 300, async ({ stream, afterPuts }) => {
    const nc = await connect({ servers: server.url });
    await (await jetstreamManager(nc)).streams.deleteMessage(stream, afterPuts + 1);
    await nc.close();
    const opened = await within(10_000, openFollower(tempDir(), { servers: server.url, stream, bootstrapTimeoutMs: 3_000 }).then((f) => f.close().then(() => "opened"), (e) => e as Error));
    assert.ok(opened instanceof ReplicationGapError, `openFollower with a hole before its tables' newest record: ${opened instanceof Error ? `${opened.name}: ${opened.message}` : opened}`);
  });
});

test("a snapshot whose tables a reopened writer's replay flushed (their versions carry no record LSN: the MANIFEST's maxSeq stays 0): a follower of its purged stream does not open, and nothing reads its directory", async () => {
  // The wait was judged on maxSeq alone: the follower opened at once at the snapshot's LSN
  // and showed 116 puts logged past it (review of the follower's catch-up, 2026-12-07). The
  // snapshot now carries the writer's durable mark read after its MANIFEST (consistentLsn).
  const wdir = tempDir();
  const first = await open(wdir, { memtableBytesMax: 1024 * 1024, shards: 2 });
  await first.put(quiet, "held in shard 1's memtable");
  for (const [i, k] of busy.slice(0, 120).entries()) await first.put(k, value("replayed", i, 3000));
  for (const [i, k] of busy.slice(0, 120).entries()) if (i % 2 === 1) await first.delete(k);
  await first.close(); // a writer's close flushes nothing: the next open replays it
  const writer = await open(wdir, { memtableBytesMax: 128 * 1024, shards: 2 }); // its replay flushes shard 0
  const core = await toolCore();
  const stream = `ahead-replayed-${Date.now().toString(36)}`;
  const nc = await connect({ servers: server.url });
  try {
    await eventually(() => writer.stats().shards[0].tables > 0 && writer.stats().shards[0].frozenMemtables === 0, "shard 0's replayed memtables flushed");
    await mergesSettled(writer);
    const m = readManifest(core, platform, wdir)!;
    assert.ok(m.tables.some((t) => t.shard === 0) && m.tables.every((t) => t.shard === 0), `precondition: the replay flushed shard 0 only (${m.tables.map((t) => t.shard).join(",")})`);
    const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    await publisher.close({ forget: true });
    await (await jetstreamManager(nc)).streams.purge(stream);
    const dir = tempDir();
    const opened = await within(10_000, openFollower(dir, { servers: server.url, stream, bootstrapTimeoutMs: 1_500 }).then((f) => f.close().then(() => "opened"), (e) => e as Error));
    assert.ok(opened instanceof ReplicationError, `openFollower (MANIFEST maxSeq ${m.maxSeq}, checkpoint ${m.groupCheckpoint}): ${opened instanceof Error ? `${opened.name}: ${opened.message}` : opened}`);
    const read = await open(dir, { readOnly: true }).then((db) => db.close().then(() => "opened"), (e) => e as Error);
    assert.ok(read instanceof DatabaseNotFoundError, `readOnly open of the follower's directory: ${read instanceof Error ? read.message : read}`);
  } finally {
    core.detach();
    await nc.close();
    await writer.close();
  }
});

test("a follower of that snapshot with the whole stream opens once it has applied past its tables, equals the writer, also after its own checkpoints and a restart", async () => {
  await withSnapshotAhead("ahead-whole", 400, async ({ writer, publisher, stream, tablesThrough }) => {
    const dir = tempDir();
    const follower = await openFollower(dir, { servers: server.url, stream, bootstrapTimeoutMs: 5_000, checkpointBytes: 1024 * 1024 });
    try {
      assert.ok(follower.appliedLsn > tablesThrough, `opened at LSN ${follower.appliedLsn}, past the tables' ${tablesThrough}`);
      await equalsWriter(follower, writer, "a follower of the snapshot at the held-back checkpoint");
      for (const [i, k] of fill.slice(250).entries()) await writer.put(k, value("fill", i, 3000));
      for (let i = 0; i < 400; i++) await writer.put(`more-${i}`, value("more", i, 3000));
      await publisher.caughtUp(undefined, 5_000);
      await equalsWriter(follower, writer, "the same follower after more writes (its checkpoints)");
      assert.ok(follower.stats().checkpoints >= 1, `precondition: the follower checkpointed (${follower.stats().checkpoints})`);
    } finally {
      await follower.close();
    }
    const again = await openFollower(dir, { servers: server.url, stream, bootstrapTimeoutMs: 5_000 });
    try {
      await equalsWriter(again, writer, "the follower restarted");
    } finally {
      await again.close();
    }
  });
});

test.run();
