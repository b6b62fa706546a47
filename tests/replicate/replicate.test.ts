// shardline/replicate in one process (src/replicate/): a publisher on a writer and
// followers of its stream, against a real 3-node JetStream cluster on 127.0.0.1
// (tests/harness/nats-cluster.ts), each stream replicated on the three servers. Bootstrap
// from a snapshot, large records cut in pieces, deletes that must not come back, restarts of
// followers and publishers (two publishers at once), gaps, a follower's power loss, the
// follower directory's guard, and typed errors for bad input. Processes and SIGKILL:
// followers-processes.test.ts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Database } from "../../src/engine/database.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { FollowerDirectoryError, ReadOnlyError } from "../../src/errors.ts";
import { bindReplicateApi, type Follower, ReplicationError, ReplicationGapError } from "../../src/replicate/public.ts";
import { decodeFrames, decodeMessageId, lsnAfter } from "../../src/replicate/stream-messages.ts";
import { toolCore } from "../../src/cli/database.ts";
import { type NatsCluster, sharedNatsCluster } from "../harness/nats-cluster.ts";
import { withPowerLoss } from "../harness/power-loss-platform.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, dec, open, platform, tempDir } from "../engine/helpers.ts";

const test = suite("replicate");
const { startPublisher, openFollower } = bindReplicateApi(platform);
let cluster: NatsCluster;
let streams = 0;
/** Each test its own stream, replicated on the three servers. */
const newStream = () => `t${++streams}-${Date.now().toString(36)}`;
/** Small memtables: the writer flushes (and its checkpoint moves) every few hundred writes. */
const SMALL = { memtableBytesMax: 64 * 1024, shards: 2 };
/** Memtables that take a value of VALUE_BYTES_MAX (a quarter of memtableBytesMax). */
const LARGE = { memtableBytesMax: 8 * 1024 * 1024, shards: 2 };

test.before(async () => {
  cluster = await sharedNatsCluster();
});
test.after.each(cleanup);

function entries(db: Database): Array<[string, string]> {
  return [...db.scan()].map(([k, v]) => [dec.decode(k), dec.decode(v)] as [string, string]);
}

async function sameState(follower: Follower, writer: Database, when: string): Promise<void> {
  await follower.caughtUp(Number(writer.stats().wal.durableLsn));
  await follower.db.refresh();
  const want = entries(writer);
  const got = entries(follower.db);
  assert.is(got.length, want.length, `${when}: keys`);
  assert.ok(JSON.stringify(got) === JSON.stringify(want), `${when}: the follower's state differs from the writer's`);
}

async function writeRange(db: Database, from: number, to: number, prefix = "k"): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) writes.push(db.put(`${prefix}${String(i).padStart(6, "0")}`, `value ${i} `.repeat(1 + (i % 5))));
  await Promise.all(writes);
}

/** What a test gets from `withPublisher`: a writer and its publisher on a new stream of its own. */
interface Published {
  writer: Database;
  publisher: Awaited<ReturnType<typeof startPublisher>>;
  stream: string;
}

/**
 * Opens a writer (in `dir`, or a new directory) with `options`, starts its publisher on a new
 * stream, runs `body`, and closes the publisher (forgetting its stream when `forget`) and the
 * writer however `body` ends.
 */
async function withPublisher(
  options: { memtableBytesMax: number; shards: number },
  body: (p: Published) => Promise<void>,
  how: { dir?: string; forget?: boolean } = {},
): Promise<void> {
  const stream = newStream();
  const writer = await open(how.dir ?? tempDir(), options);
  const publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  try {
    await body({ writer, publisher, stream });
  } finally {
    await publisher.close(how.forget ? { forget: true } : undefined);
    await writer.close();
  }
}

test("a new follower bootstraps from the snapshot of the tables, then applies the stream: deletes stay deleted, a 1 MiB value and a 3 MiB batch arrive whole (records cut in pieces)", async () => {
  const dir = tempDir();
  const first = await open(dir, SMALL); // flushes: the snapshot holds tables
  await writeRange(first, 0, 3000);
  for (let i = 0; i < 3000; i += 3) await first.delete(`k${String(i).padStart(6, "0")}`);
  await first.close();
  await withPublisher(LARGE, async ({ writer, stream }) => {
    assert.ok(writer.stats().shards.some((s) => s.tables > 0), "tables before the publisher starts");
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream, checkpointBytes: 1 << 20 });
    try {
      await writer.put("large", "L".repeat(1024 * 1024)); // VALUE_BYTES_MAX: its record is cut in two pieces
      const batch = Array.from({ length: 48 }, (_, i) => ({ type: "put" as const, key: `batch${i}`, value: String(i).repeat(64 * 1024) }));
      await writer.batch(batch);
      await writeRange(writer, 3000, 6000);
      for (let i = 1; i < 3000; i += 7) await writer.delete(`k${String(i).padStart(6, "0")}`);
      await sameState(follower, writer, "after bootstrap and the stream");
      assert.is(follower.db.get("k000000"), undefined, "a key deleted after it was flushed stays deleted");
      assert.is(dec.decode(follower.db.get("large")!).length, 1024 * 1024);
      const stats = follower.stats();
      assert.ok(stats.checkpoints >= 1, `checkpoints: ${stats.checkpoints}`);
      assert.is(stats.failed, undefined);
      const lag = await follower.lag();
      assert.equal([lag.messages, lag.bytes, lag.ms], [0, 0, 0], "caught up: no lag");
    } finally {
      await follower.close();
    }
  }, { dir });
});

test("a follower restarted resumes at its applied LSN: nothing applied twice, nothing skipped", async () => {
  await withPublisher(SMALL, async ({ writer, stream }) => {
    const dir = tempDir();
    let follower = await openFollower(dir, { servers: cluster.servers, stream });
    await writeRange(writer, 0, 2000);
    await sameState(follower, writer, "first run");
    const applied = follower.appliedLsn;
    const firstRecords = follower.stats().records;
    await follower.close();
    await writeRange(writer, 2000, 2500);
    follower = await openFollower(dir, { servers: cluster.servers, stream });
    try {
      assert.is(follower.appliedLsn, applied, "it reopens where it stopped");
      await sameState(follower, writer, "second run");
      assert.is(follower.stats().records, 500, `the second run applied only the 500 new records (the first applied ${firstRecords})`);
    } finally {
      await follower.close();
    }
  });
});

/** Every record in the stream, checked: contiguous LSNs, each once, pieces in order, checksums right. */
async function streamRecords(nc: NatsConnection, stream: string): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(stream);
  const consumer = await jetstream(nc).consumers.get(stream);
  const crc = await toolCore();
  let next: number | undefined;
  let pieces: Uint8Array[] = [];
  let records = 0;
  try {
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await consumer.next({ expires: 5000 });
      assert.ok(m, `message ${seq}`);
      const where = `message ${m!.seq}`;
      const id = decodeMessageId(m!.headers?.get("Nats-Msg-Id"), where);
      if (next !== undefined) assert.is(id.lsn, next, `${where}: its first record is at LSN ${id.lsn}, the previous message ended at ${next}`);
      assert.is(id.part, pieces.length, `${where}: piece ${id.part} of the record at ${id.lsn}`);
      pieces.push(m!.data.slice());
      if (pieces.length < id.parts) continue;
      const data = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
      pieces.reduce((at, p) => (data.set(p, at), at + p.length), 0);
      pieces = [];
      for (const frame of decodeFrames(data, id.lsn, where)) {
        assert.is(crc.crc32c(frame.payload), frame.crc, `${where}: the record at LSN ${frame.lsn} fails its checksum`);
        next = lsnAfter(frame.lsn, frame.payload.length);
        records++;
      }
    }
  } finally {
    crc.detach();
  }
  return records;
}

test("publishers restarted, two at once, neither lose, repeat nor fork the stream: its messages are the log's records, each once, in LSN order", async () => {
  const stream = newStream();
  const writer = await open(tempDir(), LARGE);
  const nc = await connect({ servers: cluster.servers });
  try {
    let publisher = await startPublisher(writer, { servers: cluster.servers, stream });
    await writeRange(writer, 0, 1000);
    await writer.batch([0, 1, 2].map((i) => ({ type: "put" as const, key: `pieces${i}`, value: "P".repeat(800 * 1024) }))); // a record of three pieces
    await publisher.caughtUp();
    await publisher.close();
    await writeRange(writer, 1000, 1500); // while no publisher runs
    const two = [await startPublisher(writer, { servers: cluster.servers, stream }), await startPublisher(writer, { servers: cluster.servers, stream })];
    await writeRange(writer, 1500, 3000);
    for (const p of two) await p.caughtUp();
    const records = await streamRecords(nc, stream);
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream });
    try {
      await sameState(follower, writer, "a follower of that stream");
      assert.ok(records >= 3001, `the stream holds ${records} records`);
    } finally {
      await follower.close();
    }
    for (const p of two) await p.close();
    publisher = await startPublisher(writer, { servers: cluster.servers, stream });
    await publisher.close({ forget: true });
  } finally {
    await nc.close();
    await writer.close();
  }
});

test("a follower behind what the stream still holds stops with ReplicationGapError; a follower in an empty directory bootstraps from the newest snapshot", async () => {
  await withPublisher(SMALL, async ({ writer, stream, publisher }) => {
    const dir = tempDir();
    let follower = await openFollower(dir, { servers: cluster.servers, stream });
    await writeRange(writer, 0, 500);
    await sameState(follower, writer, "before the gap");
    const stoppedAt = follower.appliedLsn;
    await follower.close();
    // Snapshots until the stream is purged past where the follower stopped: each purge
    // keeps the message holding the previous snapshot's LSN, so how far it reaches depends
    // on how the publisher cut its runs (small chunks, each published before the next, make
    // many messages) and on where the writer's checkpoint was (bounded rounds).
    const nc = await connect({ servers: cluster.servers });
    const jsm = await jetstreamManager(nc);
    const oldestLsn = async () => {
      const info = await jsm.streams.info(stream);
      const first = await jsm.streams.getMessage(stream, { seq: info.state.first_seq });
      return decodeMessageId(first!.header.get("Nats-Msg-Id"), "oldest message").lsn;
    };
    try {
      for (let round = 1; round <= 8 && (await oldestLsn()) <= stoppedAt; round++) {
        for (let chunk = 0; chunk < 6; chunk++) {
          await writeRange(writer, round * 10_000 + chunk * 500, round * 10_000 + chunk * 500 + 500);
          await publisher.caughtUp();
        }
        await publisher.snapshot();
      }
      assert.ok((await oldestLsn()) > stoppedAt, `the stream was purged past LSN ${stoppedAt}, where the follower stopped`);
    } finally {
      await nc.close();
    }
    follower = await openFollower(dir, { servers: cluster.servers, stream });
    const failure = await Promise.race([follower.done, new Promise((resolve) => setTimeout(() => resolve("still following after 30 s"), 30_000))]);
    assert.instance(failure, ReplicationGapError, String(failure));
    assert.is((failure as ReplicationGapError).code, "SHARDLINE_REPLICATION_GAP");
    await follower.close();
    const fresh = await openFollower(tempDir(), { servers: cluster.servers, stream });
    try {
      await sameState(fresh, writer, "a new follower after the purge");
    } finally {
      await fresh.close();
    }
  });
});

test("a follower's power loss: what it applied durably survives, its torn tail is cut, and it resumes to exactly the writer's state", async () => {
  await withPublisher(SMALL, async ({ writer, stream }) => {
    const root = tempDir();
    const dir = `${root}/follower`;
    const p = withPowerLoss(platform, root, { seed: 7, unsynced: "pages" });
    const follower = await bindReplicateApi(p).openFollower(dir, { servers: cluster.servers, stream, checkpointBytes: 1 << 20 });
    const writing = writeRange(writer, 0, 8000);
    const deadline = Date.now() + 30_000;
    while (follower.appliedLsn < 400_000) {
      assert.ok(Date.now() < deadline && !follower.failure, `the follower applied only up to LSN ${follower.appliedLsn} in 30 s (${follower.failure ?? "no failure"})`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const appliedBefore = follower.appliedLsn;
    p.crash();
    await follower.close().catch(() => {}); // its files now fail with EIO
    // A real power loss takes the process too, and its lock file then names a dead process;
    // this one lives on, so its lock file (made durable) is removed as the dead one's would be.
    platform.removeAll(`${dir}/LOCK.d`);
    await writing;
    const resumed = await openFollower(dir, { servers: cluster.servers, stream });
    try {
      assert.ok(resumed.appliedLsn >= appliedBefore, `applied LSN ${resumed.appliedLsn} after the power loss, ${appliedBefore} acknowledged before`);
      await sameState(resumed, writer, "after the power loss");
    } finally {
      await resumed.close();
    }
  });
});

test("a follower's directory refuses writers (FollowerDirectoryError) and opens readOnly for readers in any process", async () => {
  await withPublisher(SMALL, async ({ writer, stream }) => {
    const dir = tempDir();
    const follower = await openFollower(dir, { servers: cluster.servers, stream });
    await writeRange(writer, 0, 300);
    await sameState(follower, writer, "follower");
    await follower.close();
    const refused = await open(dir).then(() => undefined, (error) => error);
    assert.instance(refused, FollowerDirectoryError);
    assert.instance(refused, ReadOnlyError);
    const reader = await open(dir, { readOnly: true });
    try {
      assert.equal(entries(reader), entries(writer));
    } finally {
      await reader.close();
    }
  });
});

test("a new follower refuses a directory that is not empty and not a follower's, and leaves it as it was", async () => {
  await withPublisher(SMALL, async ({ writer, stream }) => {
    const dir = tempDir();
    platform.mkdir(`${dir}/tables`, { recursive: true });
    const notes = platform.open(`${dir}/notes.txt`, "truncate");
    notes.write(new TextEncoder().encode("mine"), 0);
    notes.close();
    await rejects(() => openFollower(dir, { servers: cluster.servers, stream }), ReplicationError);
    assert.equal(platform.readdir(dir).filter((n) => n !== "LOCK.d").sort(), ["notes.txt", "tables"], "nothing removed");
  }, { forget: true });
});

test("a follower restarted more often than every checkpointBytes still checkpoints (it counts from its MANIFEST's checkpoint, not from where it reopened)", async () => {
  await withPublisher(SMALL, async ({ writer, stream }) => {
    const dir = tempDir();
    let checkpoints = 0;
    const logBytes: number[] = [];
    for (let round = 0; round < 3; round++) {
      const follower = await openFollower(dir, { servers: cluster.servers, stream, checkpointBytes: 1 << 20 });
      try {
        // 700 to ~750 KiB of log per run: below checkpointBytes in any one run, above it in two.
        const from = Number(writer.stats().wal.durableLsn);
        for (let i = 0; Number(writer.stats().wal.durableLsn) - from < 700 * 1024; i += 200) await writeRange(writer, i, i + 200, `r${round}-`);
        logBytes.push(Number(writer.stats().wal.durableLsn) - from);
        await sameState(follower, writer, `round ${round}`);
        checkpoints += follower.stats().checkpoints;
      } finally {
        await follower.close();
      }
    }
    assert.ok(checkpoints >= 1, `checkpoints over three runs of ${logBytes.join(", ")} bytes of log: ${checkpoints}`);
  }, { forget: true });
});

test("a follower catching up 24 MiB at once (more than its log's 8 MiB buffer) applies every record in order", async () => {
  await withPublisher(LARGE, async ({ writer, stream, publisher }) => {
    const value = "v".repeat(16 * 1024);
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 1536; i++) writes.push(writer.put(`big${String(i).padStart(5, "0")}`, `${i}:${value}`));
    await Promise.all(writes);
    await publisher.caughtUp(undefined, 60_000);
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream, checkpointBytes: 64 << 20 });
    try {
      await sameState(follower, writer, "after catching up");
      assert.is(follower.failure, undefined);
    } finally {
      await follower.close();
    }
  }, { forget: true });
});

test("bad input gets typed errors: a readOnly handle as publisher, stream names, missing servers, limits, a directory that is not a follower's", async () => {
  const dir = tempDir();
  const writer = await open(dir);
  await writer.put("a", "1");
  await writer.close();
  const reader = await open(dir, { readOnly: true });
  try {
    await rejects(() => startPublisher(reader, { servers: cluster.servers, stream: "ok" }), TypeError);
  } finally {
    await reader.close();
  }
  const db = await open(tempDir());
  try {
    await rejects(() => startPublisher(db, { servers: cluster.servers, stream: "a.b" }), TypeError);
    await rejects(() => startPublisher(db, { servers: cluster.servers, stream: "ok", subject: "orders.>" }), TypeError);
    await rejects(() => startPublisher(db, { stream: "nosrv" }), TypeError);
    await rejects(() => startPublisher(db, { servers: cluster.servers, stream: "lim", inFlightMax: 0 }), RangeError);
    await rejects(() => openFollower(tempDir(), { servers: cluster.servers, stream: "x", checkpointBytes: 10 }), RangeError);
    await rejects(() => openFollower(dir, { servers: cluster.servers, stream: "x" }), ReplicationError);
  } finally {
    await db.close();
  }
});

test.run();
