// A stream carries one database's log (src/replicate/publisher.ts, refuseAnotherDatabase):
// a publisher of another database started on an existing stream (a stream name reused) is
// refused with a ReplicationError (SHARDLINE_REPLICATION_FORK). Before, it took the first
// database's snapshot for its own and appended its records after the first database's
// stream end: every follower held a state neither database had. Found by an adversarial
// review on 2026-12-06, seen failing before the fix. The identity is the MANIFEST's
// databaseId, which snapshots carry.
// From the replication review of 2026-12-06 (second), each seen failing before its fix:
// - with the snapshot bucket gone, the publisher of another database appended after the
//   first one's records: the stream's last message names its database, and is checked too;
// - a writer opened with salvage, cutting its log below what the stream held, wrote other
//   records at the same LSNs, and its publisher appended them after the old ones: followers
//   held a state the writer never had. A salvage that gives up records renews the id.
// From its third pass (2026-12-06, later): publisher.snapshot() of a publisher still running
// on a stream and bucket another database had made again wrote that database's `latest`
// over with its own (uploadSnapshot read it and never compared databaseId).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { bindReplicateApi, ReplicationError } from "../../src/replicate/public.ts";
import { snapshotBucket } from "../../src/replicate/snapshot.ts";
import { streamEnd } from "../../src/replicate/stream-messages.ts";
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { readIdentity } from "../../src/engine/identity.ts";
import { type NatsCluster, sharedNatsCluster } from "../harness/nats-cluster.ts";
import { cleanup, dec, open, rewriteFile, tempDir } from "../engine/helpers.ts";
import { platform } from "../engine/helpers.ts";

const test = suite("replicate: one database per stream");
const { startPublisher, openFollower } = bindReplicateApi(platform);
let cluster: NatsCluster;

test.before(async () => {
  cluster = await sharedNatsCluster();
});
test.after.each(cleanup);

test("a publisher of another database started on an existing stream is refused, not appended after the first database's records", async () => {
  const stream = `foreign-${Date.now().toString(36)}`;
  // Database A makes the stream and its snapshot, publishes 50 puts, and its publisher stops
  // (forgetting its slot: A is, say, decommissioned).
  const a = await open(tempDir(), { shards: 2 });
  const pa = await startPublisher(a, { servers: cluster.servers, stream });
  for (let i = 0; i < 50; i++) await a.put(`k${String(i).padStart(3, "0")}`, `A${String(i).padStart(3, "0")}`);
  await pa.caughtUp();
  await pa.close({ forget: true });
  await a.close();

  // Database B, another database (a new directory), with records of the same sizes: its log
  // has record boundaries at the same LSNs as A's.
  const b = await open(tempDir(), { shards: 2 });
  const nc = await connect({ servers: cluster.servers });
  try {
    for (let i = 0; i < 50; i++) await b.put(`k${String(i).padStart(3, "0")}`, `B${String(i).padStart(3, "0")}`);
    const started = await startPublisher(b, { servers: cluster.servers, stream }).then((p) => p, (e: unknown) => e as Error);
    if (started instanceof Error) {
      assert.instance(started, ReplicationError, `refused, but with an untyped error: ${started}`);
      assert.is((started as ReplicationError).code, "SHARDLINE_REPLICATION_FORK");
      return;
    }
    // Started: it takes A's snapshot for its own and goes on from A's stream end in B's log.
    try {
      for (let i = 0; i < 10; i++) await b.put(`x${i}`, `B-only ${i}`);
      await started.caughtUp(undefined, 10_000);
      const jsm = await jetstreamManager(nc);
      const end = await streamEnd(jsm, stream, `shardline.${stream}`);
      const follower = await openFollower(tempDir(), { servers: cluster.servers, stream });
      try {
        await follower.caughtUp(end.nextLsn!, 10_000);
        await follower.db.refresh();
        const k0 = dec.decode(follower.db.get("k000")!);
        const x9 = follower.db.get("x9");
        assert.unreachable(
          `B's publisher started on A's stream (B's snapshot was never uploaded: it uses A's) and appended B's records after A's: ` +
            `a follower of the stream holds k000=${k0} (A's) and x9=${x9 === undefined ? "missing" : dec.decode(x9)} (B's), a state neither database ever had`,
        );
      } finally {
        await follower.close();
      }
    } finally {
      await started.close({ forget: true });
    }
  } finally {
    await nc.close();
    await b.close();
  }
});

// A stream (and its snapshot bucket) deleted and made again by another database's publisher
// under the same name: a follower of the first database that resumes finds records at the
// LSNs it expects, with the same sizes, and before messages named their database it applied
// them after the first database's: a state neither database had. Each message now carries
// its database's id (header Shardline-Database) and the follower refuses another's with
// SHARDLINE_REPLICATION_FORK. Found by the review of 2026-12-06 (the open item of its note),
// seen failing before the fix.
test("a follower resuming on a stream that another database made again under the same name stops with SHARDLINE_REPLICATION_FORK", async () => {
  const stream = `remade-${Date.now().toString(36)}`;
  const put = (db: { put(k: string, v: string): Promise<unknown> }, who: string, i: number) =>
    db.put(`k${String(i).padStart(3, "0")}`, `${who}${String(i).padStart(3, "0")}`);
  const a = await open(tempDir(), { shards: 2 });
  const pa = await startPublisher(a, { servers: cluster.servers, stream });
  const followerDir = tempDir();
  let follower = await openFollower(followerDir, { servers: cluster.servers, stream });
  for (let i = 0; i < 30; i++) await put(a, "A", i);
  await pa.caughtUp();
  await follower.caughtUp(Number(a.stats().wal.durableLsn), 10_000);
  await follower.close();
  await pa.close({ forget: true });
  await a.close();

  // The operator removes A's stream and bucket; B, another database, publishes under the name.
  const nc = await connect({ servers: cluster.servers });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream);
    await (await new Objm(nc).open(snapshotBucket(stream))).destroy();
  } finally {
    await nc.close();
  }
  const b = await open(tempDir(), { shards: 2 });
  const pb = await startPublisher(b, { servers: cluster.servers, stream });
  const nc2 = await connect({ servers: cluster.servers });
  try {
    for (let i = 0; i < 60; i++) await put(b, "B", i);
    await pb.caughtUp();
    const end = await streamEnd(await jetstreamManager(nc2), stream, `shardline.${stream}`);
    follower = await openFollower(followerDir, { servers: cluster.servers, stream });
    try {
      const outcome = await Promise.race([
        follower.done,
        follower.caughtUp(end.nextLsn!, 10_000).then(() => "caught up", (e: unknown) => e),
      ]);
      if (!(outcome instanceof Error)) {
        await follower.db.refresh();
        const show = (k: string) => {
          const v = follower.db.get(k);
          return v === undefined ? "missing" : dec.decode(v);
        };
        assert.unreachable(`the follower of A applied B's stream after A's records (${outcome}): k000=${show("k000")}, k059=${show("k059")}`);
      }
      assert.instance(outcome, ReplicationError, String(outcome));
      assert.is((outcome as ReplicationError).code, "SHARDLINE_REPLICATION_FORK", String(outcome));
    } finally {
      await follower.close();
    }
  } finally {
    await nc2.close();
    await pb.close({ forget: true });
    await b.close();
  }
});

const pad = (i: number) => String(i).padStart(3, "0");
const durableLsn = (db: { stats(): { wal: { durableLsn: bigint } } }) => Number(db.stats().wal.durableLsn);

/** Starting a publisher of `db` on `stream` fails with SHARDLINE_REPLICATION_FORK. */
async function refusedAsFork(db: Parameters<typeof startPublisher>[0], stream: string, what: string): Promise<void> {
  const started = await startPublisher(db, { servers: cluster.servers, stream }).then((p) => p, (e) => e as Error);
  if (!(started instanceof Error)) {
    await started.close({ forget: true });
    assert.unreachable(`${what}: the publisher started and would append its records to the stream`);
  }
  assert.instance(started, ReplicationError, String(started));
  assert.is((started as ReplicationError).code, "SHARDLINE_REPLICATION_FORK", String(started));
}

test("a publisher of another database started on a stream whose snapshot bucket was deleted (the stream kept) is refused: the stream's last message names another database", async () => {
  const stream = `nobucket-${Date.now().toString(36)}`;
  const first = await open(tempDir(), { shards: 1 });
  const second = await open(tempDir(), { shards: 1 });
  const nc = await connect({ servers: cluster.servers });
  try {
    const a = await startPublisher(first, { servers: cluster.servers, stream });
    for (let i = 0; i < 20; i++) await first.put(`a${pad(i)}`, `first ${i}`);
    await a.caughtUp();
    await a.close({ forget: true });
    // An operator (or a cleanup by name) deletes the snapshot bucket; the stream stays.
    await (await new Objm(nc).open(snapshotBucket(stream))).destroy();
    await refusedAsFork(second, stream, "another database, the bucket gone");
  } finally {
    await nc.close();
    await first.close();
    await second.close();
  }
});

test("a writer whose salvage cut its log below what the stream holds takes a new id: its publisher is refused, not spliced after the old history", async () => {
  const stream = `salvage-${Date.now().toString(36)}`;
  const dir = tempDir();
  const options = { memtableBytesMax: 8 * 1024 * 1024, shards: 1 }; // no flush: every record stays in the log
  let writer = await open(dir, options);
  const publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  const follower = await openFollower(tempDir(), { servers: cluster.servers, stream });
  try {
    for (let i = 0; i < 10; i++) await writer.put(`k${pad(i)}`, `old value ${pad(i)}`);
    const cut = durableLsn(writer);
    for (let i = 10; i < 20; i++) await writer.put(`k${pad(i)}`, `old value ${pad(i)}`);
    const end = durableLsn(writer);
    await publisher.caughtUp(end, 10_000);
    await follower.caughtUp(end, 10_000);
    await publisher.close(); // keeps its slot: the next publisher resumes where the stream ends
    await writer.close();
    const idBefore = readIdentity(platform, dir);

    // The disk damages the record at `cut`, published already; salvage cuts the log there.
    const segment = listSegmentFiles(platform, `${dir}/wal`).filter((s) => s.firstLsn <= cut).at(-1)!;
    rewriteFile(segment.path, (bytes) => void (bytes[SEGMENT_HEADER_BYTES + (cut - segment.firstLsn) + RECORD_HEADER_BYTES + 10] ^= 0xff));
    writer = await open(dir, { ...options, salvage: true });
    assert.is(durableLsn(writer), cut, "salvage cut the log at the damaged record");
    assert.ok(readIdentity(platform, dir) !== idBefore, `the database kept its id ${idBefore} through a salvage that gave up records`);
    // Another history at the same LSNs: the same keys, values of the same size.
    for (let i = 10; i < 20; i++) await writer.put(`k${pad(i)}`, `new value ${pad(i)}`);
    assert.is(durableLsn(writer), end, "the new history reaches the LSN where the stream ends");
    await refusedAsFork(writer, stream, "after the salvage");
    // With the bucket gone too, the stream's last message still tells the histories apart.
    const nc = await connect({ servers: cluster.servers });
    try {
      await (await new Objm(nc).open(snapshotBucket(stream))).destroy();
    } finally {
      await nc.close();
    }
    await refusedAsFork(writer, stream, "after the salvage, the bucket gone");
    await follower.db.refresh();
    assert.is(dec.decode(follower.db.get("k019")!), "old value 019", "the follower keeps the history it had");
  } finally {
    await follower.close().catch(() => {});
    await writer.close().catch(() => {});
  }
});

// Before, a running publisher whose stream another database's publisher had deleted and made
// again found the FORK at each resume and retried it for ever, caughtUp only timing out. It
// now stops, with the error as `failure` and as caughtUp's rejection.
test("a running publisher whose stream became another database's stops with SHARDLINE_REPLICATION_FORK instead of retrying for ever", async () => {
  const stream = `taken-${Date.now().toString(36)}`;
  const first = await open(tempDir(), { shards: 1 });
  const second = await open(tempDir(), { shards: 1 });
  const pa = await startPublisher(first, { servers: cluster.servers, stream, publishTimeoutMs: 500 });
  let pb: Awaited<ReturnType<typeof startPublisher>> | undefined;
  try {
    for (let i = 0; i < 10; i++) await first.put(`a${pad(i)}`, "first");
    await pa.caughtUp();
    const nc = await connect({ servers: cluster.servers });
    try {
      await (await jetstreamManager(nc)).streams.delete(stream);
      await (await new Objm(nc).open(snapshotBucket(stream))).destroy();
    } finally {
      await nc.close();
    }
    pb = await startPublisher(second, { servers: cluster.servers, stream });
    await second.put("b", "second");
    await pb.caughtUp();
    await first.put("a-late", "first");
    const outcome = await pa.caughtUp(undefined, 20_000).then(() => "caught up", (e) => e as Error);
    assert.instance(outcome, ReplicationError, String(outcome));
    assert.is((outcome as ReplicationError).code, "SHARDLINE_REPLICATION_FORK", String(outcome));
    assert.is(pa.failure, outcome);
    await pa.done;
  } finally {
    await pa.close({ forget: true });
    await pb?.close({ forget: true });
    await first.close();
    await second.close();
  }
});

test("publisher.snapshot() on a stream and bucket another database made again is refused (SHARDLINE_REPLICATION_FORK), not written over that database's `latest`", async () => {
  const stream = `snaptaken-${Date.now().toString(36)}`;
  const first = await open(tempDir(), { shards: 1 });
  const second = await open(tempDir(), { shards: 1 });
  const pa = await startPublisher(first, { servers: cluster.servers, stream });
  let pb: Awaited<ReturnType<typeof startPublisher>> | undefined;
  const nc = await connect({ servers: cluster.servers });
  try {
    for (let i = 0; i < 10; i++) await first.put(`a${i}`, "first");
    await pa.caughtUp();
    // An operator deletes the stream and its bucket; another database's publisher makes them again.
    await (await jetstreamManager(nc)).streams.delete(stream);
    await (await new Objm(nc).open(snapshotBucket(stream))).destroy();
    pb = await startPublisher(second, { servers: cluster.servers, stream });
    await second.put("b", "second");
    await pb.caughtUp();
    const store = await new Objm(nc).open(snapshotBucket(stream));
    const theirs = JSON.parse(dec.decode((await store.getBlob("latest"))!)).databaseId;
    const outcome = await pa.snapshot().then((s) => s, (e) => e as Error);
    const now = JSON.parse(dec.decode((await store.getBlob("latest"))!)).databaseId;
    assert.is(now, theirs, `the stream's \`latest\` named database ${theirs} (its publisher's); after the first database's snapshot() it names ${now}: a new follower of the stream bootstraps the first database's tables under the second's records`);
    assert.instance(outcome, ReplicationError, `snapshot(): ${JSON.stringify(outcome)}`);
    assert.is((outcome as ReplicationError).code, "SHARDLINE_REPLICATION_FORK");
  } finally {
    await nc.close();
    await pa.close({ forget: true });
    await pb?.close({ forget: true });
    await first.close();
    await second.close();
  }
});

test.run();
