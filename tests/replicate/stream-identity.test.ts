// A stream carries one database's log (src/replicate/publisher.ts, refuseAnotherDatabase):
// a publisher of another database started on an existing stream (a stream name reused) is
// refused with a ReplicationError (SHARDLINE_REPLICATION_FORK). Before, it took the first
// database's snapshot for its own and appended its records after the first database's
// stream end: every follower held a state neither database had. Found by an adversarial
// review on 2026-12-06, seen failing before the fix. The identity is the MANIFEST's
// databaseId, which snapshots carry.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { bindReplicateApi, ReplicationError } from "../../src/replicate/public.ts";
import { snapshotBucket } from "../../src/replicate/snapshot.ts";
import { streamEnd } from "../../src/replicate/stream-messages.ts";
import { type NatsCluster, sharedNatsCluster } from "../harness/nats-cluster.ts";
import { cleanup, dec, open, tempDir } from "../engine/helpers.ts";
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
      const end = await streamEnd(jsm, stream);
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
    const end = await streamEnd(await jetstreamManager(nc2), stream);
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

test.run();
