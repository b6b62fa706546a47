// The follower's side of replication (src/replicate/follower.ts) against streams a real
// publisher would not write but a crash, an operator or a broken peer can leave, on a real
// 3-node JetStream cluster on 127.0.0.1. Each test is a defect an adversarial review found
// on 2026-12-05, seen failing before its fix:
// - a follower killed during its first FOLLOWER write (FOLLOWER.tmp left) was refused for
//   good as "not empty";
// - a record over the log's limit (right checksum) made it subscribe again for ever, and
//   piece 0 of a record claiming 1 GiB made it buffer pieces without bound: both now stop it
//   with ReplicationError;
// - a stream ending inside a record (its publisher died between pieces) left appliedLsn
//   behind the whole records before it, so caughtUp timed out;
// - a stream deleted and made again left it waiting for the old stream's next sequence,
//   with no error;
// - fragments of a large batch whose writer died before the commit kept it from ever
//   checkpointing again: the writer's recovery now logs an abandonment of them
//   (tests/engine/large-batch-abandoned.test.ts);
// - a local log whose sync failed while the follower was caught up (its durability settled
//   in the background) went unreported until a next message, which a quiet stream never
//   sends.
// Streams are written by the tests themselves after a real writer and publisher made the
// stream and its first snapshot (the publisher closed), with the publisher's ids and
// `expect.lastSequence`.
import { cpSync, readdirSync, writeFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Platform } from "../../src/platform.ts";
import { encodeFragment, OP_PUT } from "../../src/engine/records.ts";
import { bindReplicateApi, ReplicationError } from "../../src/replicate/public.ts";
import { pieceId, writeFrame } from "../../src/replicate/stream-messages.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import { type NatsCluster, sharedNatsCluster } from "../harness/nats-cluster.ts";
import { cleanup, dec, enc, open, platform, tempDir } from "../engine/helpers.ts";
import { type LeftStream, withLeftStream } from "./helpers.ts";

const test = suite("replicate: the follower and the streams it may meet");
const { startPublisher, openFollower } = bindReplicateApi(platform);
const { openLog } = bindLogApi(platform);
let cluster: NatsCluster;

test.before(async () => {
  cluster = await sharedNatsCluster();
});
test.after.each(cleanup);

/** The platform, but the first rename of `<dir>/FOLLOWER.tmp` throws: the process "died" just before it. */
function killedBeforeFollowerRename(base: Platform): { platform: Platform; killed: () => boolean } {
  let killed = false;
  const proxy = new Proxy(base, {
    get(target, prop) {
      if (prop === "rename") {
        return (from: string, to: string) => {
          if (!killed && from.endsWith("/FOLLOWER.tmp")) {
            killed = true;
            throw new Error("simulated kill -9 before FOLLOWER.tmp was renamed");
          }
          return target.rename(from, to);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { platform: proxy, killed: () => killed };
}

test("a follower killed during its first FOLLOWER write opens again in its own directory", async () => {
  const stream = `ftmp-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { memtableBytesMax: 64 * 1024, shards: 2 });
  const publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  try {
    for (let i = 0; i < 200; i++) await writer.put(`k${i}`, `v${i}`);
    await publisher.caughtUp();
    const dir = `${tempDir()}/follower`;
    const killing = killedBeforeFollowerRename(platform);
    const first = await bindReplicateApi(killing.platform).openFollower(dir, { servers: cluster.servers, stream }).then(
      (f) => f,
      (error) => error as Error,
    );
    assert.ok(killing.killed() && first instanceof Error, "the first open died before FOLLOWER.tmp was renamed");
    // A killed process leaves its lock directories behind (stale: they name a dead pid); this
    // one is alive and released them; what it leaves besides is its own FOLLOWER.tmp.
    assert.equal(platform.readdir(dir).filter((n) => n !== "LOCK.d" && n !== "FOLLOWER.d"), ["FOLLOWER.tmp"]);
    const again = await openFollower(dir, { servers: cluster.servers, stream }).then((f) => f, (error) => error as Error);
    assert.not.instance(again, Error, `the follower's directory is refused after its own interrupted start: ${(again as Error).message}`);
    const follower = again as Exclude<typeof again, Error>;
    try {
      await follower.caughtUp(Number(writer.stats().wal.durableLsn), 10_000);
      await follower.db.refresh();
      assert.is(dec.decode(follower.db.get("k199")!), "v199");
    } finally {
      await follower.close();
    }
  } finally {
    await publisher.close({ forget: true });
    await writer.close();
  }
});

/** What a test that writes the stream itself gets: a stream its publisher made and left. */
/** Publishes piece `part` of `parts` of the record at `lsn`, right after stream sequence `afterSeq`; returns its sequence. */
async function publishPiece(s: LeftStream, lsn: number, part: number, parts: number, data: Uint8Array, afterSeq: number): Promise<number> {
  return (await jetstream(s.nc).publish(`shardline.${s.stream}`, data, { msgID: pieceId(lsn, part, parts), expect: { lastSequence: afterSeq } })).seq;
}

/** `payload` framed as the stream carries a record: its length, its CRC-32C, its bytes. */
function framed(s: LeftStream, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(8 + payload.length);
  writeFrame(frame, 0, payload, s.core.crc32c(payload));
  return frame;
}

test("a record over 4 MiB (right checksum) stops the follower with a ReplicationError instead of a retry loop", async () => {
  await withLeftStream(cluster.servers, "oversized", 50, async (s) => {
    // The next record: 4 MiB + 8 bytes, in pieces of what a message holds.
    const payload = new Uint8Array(4 * 1024 * 1024 + 8).fill(7);
    payload[0] = 1;
    payload[1] = 1;
    const frame = framed(s, payload);
    const parts = Math.ceil(frame.length / s.pieceBytes);
    let seq = s.end.seq;
    for (let part = 0; part < parts; part++) {
      seq = await publishPiece(s, s.end.nextLsn!, part, parts, frame.subarray(part * s.pieceBytes, Math.min(frame.length, (part + 1) * s.pieceBytes)), seq);
    }
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream: s.stream });
    try {
      await follower.caughtUp(s.end.nextLsn!, 10_000); // everything before the large record
      const deadline = Date.now() + 8_000;
      while (!follower.failure && follower.stats().restarts < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const stats = follower.stats();
      assert.instance(follower.failure, ReplicationError, `failure: ${follower.failure}; it subscribed again ${stats.restarts} times, last error: ${stats.lastError}`);
    } finally {
      await follower.close();
    }
  });
});

test("a stream ending with the first piece of a record (publisher died between pieces): the follower reports applied every whole record before it", async () => {
  await withLeftStream(cluster.servers, "cut", 200, async (s) => {
    const { end, snapshotLsn } = s;
    assert.ok(end.nextLsn! > snapshotLsn, "the stream holds records past the snapshot");
    // What a publisher that died between the two pieces of its next record left: piece 0.
    const frame = framed(s, new Uint8Array(1536 * 1024).fill(7));
    await publishPiece(s, end.nextLsn!, 0, 2, frame.subarray(0, s.pieceBytes), end.seq);

    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream: s.stream });
    try {
      const outcome = await follower.caughtUp(end.nextLsn!, 5_000).then(() => "caught up", (error) => (error as Error).message);
      await follower.db.refresh();
      const last = follower.db.get("k199") === undefined ? "not readable" : "readable";
      assert.is(outcome, "caught up", `every record below LSN ${end.nextLsn} is in the stream and in the follower's log (its last put is ${last} in follower.db); appliedLsn ${follower.appliedLsn} (snapshot ${snapshotLsn}), failure ${follower.failure}`);
    } finally {
      await follower.close();
    }
  });
});

test("piece 0 of 256 whose frame claims 1 GiB (over the 4 MiB a record can be): a ReplicationError at once, not buffering the pieces that follow", async () => {
  await withLeftStream(cluster.servers, "pieces", 20, async (s) => {
    let seq = s.end.seq;
    for (let part = 0; part < 4; part++) {
      const piece = new Uint8Array(s.pieceBytes).fill(part + 1);
      if (part === 0) new DataView(piece.buffer).setUint32(0, 1 << 30, true); // the frame's length: 1 GiB
      seq = await publishPiece(s, s.end.nextLsn!, part, 256, piece, seq);
    }
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream: s.stream });
    try {
      // Until its consumer has delivered the 4 pieces (or it stopped).
      const deadline = Date.now() + 8_000;
      let delivered = 0;
      while (!follower.failure && delivered < seq && Date.now() < deadline) {
        for await (const c of s.jsm.consumers.list(s.stream)) delivered = Math.max(delivered, c.delivered.stream_seq);
        await new Promise((r) => setTimeout(r, 50));
      }
      // Delivered to the consumer is not yet applied: the follower stops once it has taken the
      // pieces in, which on a loaded machine can be well over 300 ms later.
      for (const until = Date.now() + 10_000; !follower.failure && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
      assert.instance(follower.failure, ReplicationError, `4 pieces of ${s.pieceBytes} bytes delivered (stream seq ${delivered} of ${seq}) for a frame that claims ${1 << 30} bytes; failure: ${follower.failure}; lag: ${JSON.stringify(await follower.lag())}`);
    } finally {
      await follower.close();
    }
  });
});

const entries = (db: { scan(): Iterable<[Uint8Array, Uint8Array]> }) => [...db.scan()].map(([k, v]) => `${dec.decode(k)}=${dec.decode(v)}`);

test("a stream deleted and made again by a restarted publisher (it holds every record from the snapshot on): the follower goes on, or stops with a typed error; it does not wait for ever", async () => {
  const stream = `recreated-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { memtableBytesMax: 8 * 1024 * 1024, shards: 2 }); // no flush: the log keeps every record
  const nc = await connect({ servers: cluster.servers });
  const jsm = await jetstreamManager(nc);
  let publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  const follower = await openFollower(tempDir(), { servers: cluster.servers, stream });
  try {
    // 120 messages: each put is published (and acknowledged) before the next is made.
    for (let i = 0; i < 60; i++) {
      await writer.put(`a${String(i).padStart(4, "0")}`, `value ${i}`);
      await publisher.caughtUp();
    }
    await follower.caughtUp(Number(writer.stats().wal.durableLsn), 10_000);
    const oldLastSeq = (await jsm.streams.info(stream)).state.last_seq;
    assert.ok(oldLastSeq >= 60, `the old stream has ${oldLastSeq} messages`);
    await publisher.close();

    // The stream is deleted (an operator, a mistaken cleanup) and its publisher restarted:
    // it makes the stream again and, the stream being empty, publishes from the snapshot's
    // LSN, every record of the writer's log again, in runs of up to ~1 MiB.
    await jsm.streams.delete(stream);
    publisher = await startPublisher(writer, { servers: cluster.servers, stream });
    for (let i = 0; i < 20; i++) await writer.put(`b${String(i).padStart(4, "0")}`, `value ${i}`);
    await publisher.caughtUp();
    const newLastSeq = (await jsm.streams.info(stream)).state.last_seq;
    assert.ok(newLastSeq < oldLastSeq, `the new stream has ${newLastSeq} messages, fewer than the old one's ${oldLastSeq}`);

    const want = Number(writer.stats().wal.durableLsn);
    const outcome = await follower.caughtUp(want, 6_000).then(() => "caught up", (error) => error as Error);
    assert.is(follower.failure, undefined, `it stopped: ${follower.failure}`);
    assert.is(outcome, "caught up", `the stream holds every record the follower needs, yet: ${(outcome as Error).message}; failure: ${follower.failure}; lastError: ${follower.stats().lastError}`);
    await follower.db.refresh();
    assert.equal(entries(follower.db), entries(writer));
  } finally {
    await follower.close();
    await publisher.close({ forget: true });
    await nc.close();
    await writer.close();
  }
});

test("a database a writer made in a new follower's directory between its emptiness check and its lock is refused, not removed as a bootstrap's leftovers", async () => {
  const stream = `fwin-${Date.now().toString(36)}`;
  const source = await open(tempDir(), { shards: 2 });
  const publisher = await startPublisher(source, { servers: cluster.servers, stream });
  // The database that appears in the window: made elsewhere, closed, copied in whole.
  const made = tempDir();
  const other = await open(made, { shards: 2 });
  await other.put("mine", "kept");
  await other.close();
  const dir = tempDir();
  let copied = false;
  const racing = new Proxy(platform, {
    get(target, prop) {
      if (prop === "mkdir") {
        return (path: string, options?: { recursive?: boolean }) => {
          if (!copied && path.endsWith("/FOLLOWER.d/LOCK.d")) {
            copied = true; // after the emptiness check, before the first lock
            for (const name of readdirSync(made)) if (name !== "LOCK.d") cpSync(`${made}/${name}`, `${dir}/${name}`, { recursive: true });
          }
          return target.mkdir(path, options);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  try {
    const error = await bindReplicateApi(racing).openFollower(dir, { servers: cluster.servers, stream }).then(
      async (f) => {
        await f.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    assert.ok(copied, "the database appeared in the window");
    assert.instance(error, ReplicationError, `the follower's start: ${error}`);
    const db = await open(dir);
    try {
      assert.is(dec.decode(db.get("mine")!), "kept", "the database made in the window is intact");
    } finally {
      await db.close();
    }
  } finally {
    await publisher.close({ forget: true });
    await source.close();
  }
});

test("a writer that recovers after dying between a large batch's fragments and its commit logs their abandonment: its follower, which received the fragments, checkpoints again", async () => {
  const stream = `orphan-${Date.now().toString(36)}`;
  const dir = tempDir();
  const options = { memtableBytesMax: 8 * 1024 * 1024, shards: 2 };
  const first = await open(dir, options);
  // The stream, its bucket and the first snapshot; the publisher keeps its slot and resumes.
  const publisher = await startPublisher(first, { servers: cluster.servers, stream });
  await publisher.close();
  await first.close();
  // What a writer killed between its batch's fragments and its commit leaves in its log.
  const log = await openLog(`${dir}/wal`, { durability: "full" });
  await log.append(encodeFragment([{ type: OP_PUT, shard: 0, key: enc.encode("never"), value: enc.encode("committed"), ts: 0n }]));
  await log.close();
  const writer = await open(dir, options);
  const again = await startPublisher(writer, { servers: cluster.servers, stream });
  try {
    // 2.5 MiB of ordinary records after the fragment.
    for (let i = 0; i < 1280; i++) await writer.put(`k${String(i).padStart(5, "0")}`, `${i}:`.padEnd(2000, "v"));
    await again.caughtUp();
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream, checkpointBytes: 1 << 20 });
    try {
      await follower.caughtUp(Number(writer.stats().wal.durableLsn), 10_000);
      await follower.db.refresh();
      assert.is(follower.db.get("never"), undefined, "the batch that never committed is not applied");
      assert.is(dec.decode(follower.db.get("k01279")!).slice(0, 5), "1279:");
      const { checkpoints } = follower.stats();
      assert.ok(checkpoints >= 1, `2.5 MiB of log applied with checkpointBytes 1 MiB, and ${checkpoints} checkpoints: the fragment kept a batch open for good`);
    } finally {
      await follower.close();
    }
  } finally {
    await again.close({ forget: true });
    await writer.close();
  }
});

test("a caught-up follower whose local log fails its sync stops with that failure at once, without waiting for a next message", async () => {
  const stream = `quiet-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { shards: 2 });
  const publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  const followerDir = tempDir();
  const diskFails = `${tempDir()}/disk-fails`; // while this file exists, every sync of the follower's log fails
  try {
    for (let i = 0; i < 20; i++) await writer.put(`k${i}`, `v${i}`);
    const follower = await openFollower(followerDir, { servers: cluster.servers, stream, faults: { failSyncWhileExists: diskFails } });
    try {
      await follower.caughtUp(Number(writer.stats().wal.durableLsn), 10_000);
      writeFileSync(diskFails, "");
      await writer.put("last", "one"); // then the stream stays quiet
      await publisher.caughtUp();
      const deadline = Date.now() + 10_000;
      while (!follower.failure && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(follower.failure, `no failure reported ${10_000} ms after the local log's sync failed (last error: ${follower.stats().lastError})`);
      assert.match(follower.failure!.message, /fdatasync failed \(EIO\)/, follower.failure!.message);
      assert.ok(follower.appliedLsn < Number(writer.stats().wal.durableLsn), "the record whose sync failed is not reported applied");
    } finally {
      await follower.close().catch(() => {});
    }
  } finally {
    await publisher.close({ forget: true });
    await writer.close();
  }
});

test.run();
