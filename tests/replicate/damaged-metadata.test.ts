// Replication metadata that is damaged or not ours: the snapshot bucket's `latest` object
// and a follower directory's FOLLOWER file (src/replicate/snapshot.ts, follower.ts). A
// reader of either gets a typed ReplicationError (code SHARDLINE_REPLICATION_CORRUPT), never
// a raw SyntaxError or TypeError. Defects an adversarial review found on 2026-12-06, seen
// failing before their fix. From its second pass: a `latest` whose lsn is no record boundary
// (a raw RangeError about startLsn), a snapshot MANIFEST object that is garbage (a
// CorruptionError naming an object as a file), and a table damaged in the bucket, which was
// installed: the follower went "following" and failed every read of it for good (each
// downloaded table's blocks are now checked before it is installed).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { connect } from "@nats-io/transport-node";
import { Objm } from "@nats-io/obj";
import { bindReplicateApi, ReplicationError } from "../../src/replicate/public.ts";
import { FOLLOWER_FILE_NAME } from "../../src/engine/manifest.ts";
import { type NatsCluster, sharedNatsCluster } from "../harness/nats-cluster.ts";
import { cleanup, dec, enc, open, platform, tempDir } from "../engine/helpers.ts";
import { snapshotBucket } from "../../src/replicate/snapshot.ts";
import { within } from "./helpers.ts";

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

/** A stream whose publisher uploaded a snapshot of 3 tables; `body` damages the bucket and opens a follower. */
async function withSnapshotOfTables(name: string, body: (s: { stream: string; store: Awaited<ReturnType<Objm["open"]>>; latest: { lsn: number; manifest: string; tables: string[] } }) => Promise<void>): Promise<void> {
  const stream = `${name}-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024 });
  const publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  const nc = await connect({ servers: cluster.servers });
  try {
    for (let i = 0; i < 400; i++) await writer.put(`k${String(i).padStart(4, "0")}`, `value ${i}`.padEnd(300, "."));
    await publisher.caughtUp();
    await publisher.snapshot();
    const store = await new Objm(nc).open(snapshotBucket(stream));
    const latest = JSON.parse(dec.decode((await store.getBlob("latest"))!));
    assert.ok(latest.tables.length > 0, `the snapshot has tables: ${JSON.stringify(latest)}`);
    await body({ stream, store, latest });
  } finally {
    await nc.close();
    await publisher.close({ forget: true });
    await writer.close();
  }
}

/** openFollower's outcome in a new directory: the follower (closed) or the rejection. */
async function followerOutcome(stream: string, check?: (f: Awaited<ReturnType<typeof openFollower>>) => Promise<string>): Promise<unknown> {
  const outcome = await within(
    15_000,
    openFollower(tempDir(), { servers: cluster.servers, stream, bootstrapTimeoutMs: 2_000 }).then(async (f) => {
      try {
        return `opened; ${check ? await check(f) : ""}`;
      } finally {
        await f.close();
      }
    }, (e: unknown) => e),
  );
  return outcome;
}

test("a snapshot `latest` whose lsn is not a record boundary (not a multiple of 8) is a ReplicationError SHARDLINE_REPLICATION_CORRUPT for a new follower, not a RangeError about startLsn", async () => {
  await withSnapshotOfTables("oddlsn", async ({ stream, store, latest }) => {
    await store.putBlob({ name: "latest" }, enc.encode(JSON.stringify({ ...latest, lsn: latest.lsn + 4 })));
    const error = await followerOutcome(stream);
    assert.instance(error, ReplicationError, `openFollower on a latest with lsn ${latest.lsn + 4}: ${error} (${(error as Error)?.constructor?.name})`);
    assert.is((error as ReplicationError).code, "SHARDLINE_REPLICATION_CORRUPT");
  });
});

test("a snapshot MANIFEST object that is garbage is a ReplicationError SHARDLINE_REPLICATION_CORRUPT (README, Errors: a damaged snapshot), not a CorruptionError naming an object as a file", async () => {
  await withSnapshotOfTables("badmanifest", async ({ stream, store, latest }) => {
    await store.putBlob({ name: latest.manifest }, enc.encode("not a manifest"));
    const error = await followerOutcome(stream);
    assert.instance(error, ReplicationError, `openFollower on a garbage ${latest.manifest}: ${error} (${(error as Error)?.constructor?.name})`);
    assert.is((error as ReplicationError).code, "SHARDLINE_REPLICATION_CORRUPT");
  });
});

test("a snapshot table damaged in the bucket (same size, its object digest consistent) is refused at bootstrap, not installed in a follower that then fails every read of it for good", async () => {
  await withSnapshotOfTables("badtable", async ({ stream, store, latest }) => {
    const name = latest.tables[0];
    const table = new Uint8Array((await store.getBlob(name))!);
    for (let i = 100; i < 200; i++) table[i] ^= 0xff; // inside its first data block
    await store.putBlob({ name }, table);
    const outcome = await followerOutcome(stream, async (f) => {
      const read = (() => {
        try {
          return `scan read ${[...f.db.scan()].length} pairs`;
        } catch (e) {
          return `scan threw ${(e as Error)?.constructor?.name}: ${(e as Error).message}`;
        }
      })();
      return `${read}; failure ${f.failure}`;
    });
    assert.instance(outcome, ReplicationError, `openFollower on a damaged ${name}: ${typeof outcome === "string" ? outcome : outcome} `);
    assert.is((outcome as ReplicationError).code, "SHARDLINE_REPLICATION_CORRUPT");
  });
});

test.run();
