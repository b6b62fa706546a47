// Replication metadata that is damaged or not ours: the snapshot bucket's `latest` object
// and a follower directory's FOLLOWER file (src/replicate/snapshot.ts, follower.ts). A
// reader of either gets a typed ReplicationError (code SHARDLINE_REPLICATION_CORRUPT), never
// a raw SyntaxError or TypeError. Defects an adversarial review found on 2026-12-06, seen
// failing before their fix.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { bindReplicateApi, ReplicationError } from "../../src/replicate/public.ts";
import { FOLLOWER_FILE_NAME } from "../../src/engine/manifest.ts";
import { type NatsCluster, sharedNatsCluster } from "../harness/nats-cluster.ts";
import { cleanup, enc, open, platform, tempDir } from "../engine/helpers.ts";

const test = suite("replicate: damaged metadata");
const { startPublisher, openFollower } = bindReplicateApi(platform);
let cluster: NatsCluster;

test.before(async () => {
  cluster = await sharedNatsCluster();
});
test.after.each(cleanup);

/** What openFollower does for a new directory when the stream's snapshot `latest` is `damage`d. */
async function followerOnDamagedLatest(name: string, damage: (latest: Uint8Array) => Uint8Array): Promise<unknown> {
  const stream = `${name}-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { shards: 2 });
  const publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  const nc = await connect({ servers: cluster.servers });
  try {
    await writer.put("a", "1");
    await publisher.caughtUp();
    const store = await new Objm(nc).open(`${stream}-snapshots`);
    await store.putBlob({ name: "latest" }, damage((await store.getBlob("latest"))!));
    return await openFollower(tempDir(), { servers: cluster.servers, stream, bootstrapTimeoutMs: 2_000 }).then(
      async (f) => {
        await f.close();
        return undefined;
      },
      (e: unknown) => e,
    );
  } finally {
    await nc.close();
    await publisher.close({ forget: true });
    await writer.close();
  }
}

test("a snapshot bucket whose `latest` is not JSON (damaged, or another tool's object): a new follower gets a ReplicationError, not a SyntaxError", async () => {
  const error = await followerOnDamagedLatest("badlatest", () => new TextEncoder().encode("not a snapshot {"));
  assert.instance(error, ReplicationError, `openFollower on a bucket whose latest is not JSON: ${error} (${(error as Error)?.constructor?.name})`);
});

test("a snapshot `latest` without a manifest name (another tool's, or damaged): a ReplicationError for a new follower, not getBlob(undefined)", async () => {
  // latestSnapshot checked format, lsn and tables, not the manifest name (review, 2026-12-06).
  const error = await followerOnDamagedLatest("nomanifest", (bytes) => {
    const latest = JSON.parse(new TextDecoder().decode(bytes));
    delete latest.manifest;
    return enc.encode(JSON.stringify(latest));
  });
  assert.instance(error, ReplicationError, `openFollower on a latest without "manifest": ${error} (${(error as Error)?.constructor?.name})`);
  assert.is((error as ReplicationError).code, "SHARDLINE_REPLICATION_CORRUPT");
});

test("a follower directory whose FOLLOWER file is not JSON: openFollower rejects with a ReplicationError and changes nothing", async () => {
  const dir = tempDir();
  const file = platform.open(`${dir}/${FOLLOWER_FILE_NAME}`, "truncate");
  try {
    file.write(enc.encode("{ cut short"), 0);
  } finally {
    file.close();
  }
  const error = await openFollower(dir, { servers: cluster.servers, stream: `damaged-${Date.now().toString(36)}`, bootstrapTimeoutMs: 2_000 }).then(
    async (f) => {
      await f.close();
      return undefined;
    },
    (e: unknown) => e,
  );
  assert.instance(error, ReplicationError, `openFollower on a damaged FOLLOWER file: ${error} (${(error as Error)?.constructor?.name})`);
  assert.is((error as ReplicationError).code, "SHARDLINE_REPLICATION_CORRUPT");
  assert.is(new TextDecoder().decode(platform.readFile(`${dir}/${FOLLOWER_FILE_NAME}`)), "{ cut short");
});

test("a follower directory whose FOLLOWER file is JSON without a snapshot LSN (or with fields of the wrong type): a ReplicationError, not a follower whose fork check is off", async () => {
  // readFollowerFile checked only that the file was a JSON object (review, 2026-12-06): a
  // missing snapshotLsn made `next > undefined` false, which turned off the check that
  // refuses a stream ending below the follower's log.
  const stream = `damaged-fields-${Date.now().toString(36)}`;
  for (const record of [
    { format: 1, stream, subject: `shardline.${stream}`, state: "following" },
    { format: 1, stream, subject: `shardline.${stream}`, state: "following", snapshotLsn: "0" },
    { format: 1, stream, subject: `shardline.${stream}`, state: "resting", snapshotLsn: 0 },
  ]) {
    const dir = tempDir();
    const file = platform.open(`${dir}/${FOLLOWER_FILE_NAME}`, "truncate");
    try {
      file.write(enc.encode(JSON.stringify(record)), 0);
    } finally {
      file.close();
    }
    const error = await openFollower(dir, { servers: cluster.servers, stream, bootstrapTimeoutMs: 2_000 }).then(
      async (f) => {
        await f.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.instance(error, ReplicationError, `${JSON.stringify(record)}: ${error} (${(error as Error)?.constructor?.name})`);
    assert.is((error as ReplicationError).code, "SHARDLINE_REPLICATION_CORRUPT", JSON.stringify(record));
  }
});

test.run();
