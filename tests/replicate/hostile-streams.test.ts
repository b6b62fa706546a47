// Streams, snapshots, servers and options a follower must refuse with a typed error, or
// handle, rather than splice, wait or resubscribe for ever (src/replicate/*.ts). Each test is
// a defect an adversarial review found on 2026-12-06, seen failing before its fix:
// - pieces of a record gathered across a whole-record message joined a later piece
//   labelled for another LSN (a record applied at the wrong LSN);
// - bootstrapTimeoutMs NaN made the wait for a snapshot endless;
// - a stream that does not take the follower's subject made it resubscribe for ever;
// - under a 32 MiB max_payload a publisher sent messages larger than a follower's pull;
// - (second pass) caughtUp(NaN) resolved at once as if caught up, and caughtUp(lsn, NaN)
//   never timed out, on a publisher and on a follower; a follower stopped behind the stream
//   (no message held past its log) reported lag().ms 0, not the next record's age.
// - (CI, 2026-12-07) seqOfLsn's binary search read the message at each probe, and a message
//   deleted from the middle of the stream failed the follower's start with "message N cannot
//   be read" whenever a probe landed on it, instead of the gap it is.
// A shared 3-node JetStream cluster on 127.0.0.1 (tests/harness/nats-cluster.ts); every wait
// is bounded.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstream } from "@nats-io/jetstream";
import { encodeOperations, OP_PUT } from "../../src/engine/records.ts";
import { bindReplicateApi, ReplicationError } from "../../src/replicate/public.ts";
import { decodeMessageId, lsnAfter, pieceId, runId, seqOfLsn, writeFrame } from "../../src/replicate/stream-messages.ts";
import { type NatsCluster, sharedNatsCluster } from "../harness/nats-cluster.ts";
import { cleanup, enc, open, platform, tempDir } from "../engine/helpers.ts";
import { type LeftStream, serverWithMaxPayload, settled, withLeftStream, within } from "./helpers.ts";

const test = suite("replicate: hostile streams and options");
const { startPublisher, openFollower } = bindReplicateApi(platform);
let cluster: NatsCluster;

test.before(async () => {
  cluster = await sharedNatsCluster();
});
test.after.each(cleanup);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function framed(s: LeftStream, payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(8 + payload.length);
  writeFrame(frame, 0, payload, s.core.crc32c(payload));
  return frame;
}

/** A valid operations record putting `key` = `value`. */
function putRecord(key: string, value: Uint8Array, ts: bigint): Uint8Array {
  return encodeOperations([{ type: OP_PUT, shard: 0, key: enc.encode(key), value, ts }]);
}

async function publishRaw(s: LeftStream, id: string, data: Uint8Array, afterSeq: number): Promise<number> {
  return (await jetstream(s.nc).publish(`shardline.${s.stream}`, data, { msgID: id, expect: { lastSequence: afterSeq } })).seq;
}

test("a piece of another record interleaved (piece 0 at L, a whole record at L, piece 1 labelled for the next LSN) is a ReplicationError, not a record spliced from two LSNs' pieces", async () => {
  await withLeftStream(cluster.servers, "interleave", 30, async (s) => {
    const L = s.end.nextLsn!;
    // R1: a record cut in 2 pieces (its frame is one byte more than a message holds).
    const big = putRecord("big", new Uint8Array(s.pieceBytes).fill(0x61), 1n << 40n);
    const f1 = framed(s, big);
    assert.ok(f1.length > s.pieceBytes && f1.length <= 2 * s.pieceBytes, "R1 goes in 2 pieces");
    // R2: a small whole record at L (what a broken stream may hold there instead).
    const small = putRecord("small", enc.encode("x"), (1n << 40n) + 1n);
    const after = lsnAfter(L, small.length);
    let seq = s.end.seq;
    seq = await publishRaw(s, pieceId(L, 0, 2), f1.subarray(0, s.pieceBytes), seq);
    seq = await publishRaw(s, runId(L, after), framed(s, small), seq);
    // Piece 1 of 2 of the record at `after`: its piece 0 was never sent.
    seq = await publishRaw(s, pieceId(after, 1, 2), f1.subarray(s.pieceBytes), seq);
    const spliced = lsnAfter(after, big.length);

    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream: s.stream });
    try {
      await follower.caughtUp(after, 10_000); // R2 (and all before) is a whole record at its LSN
      const deadline = Date.now() + 8_000;
      while (!follower.failure && follower.appliedLsn < spliced && Date.now() < deadline) await sleep(20);
      assert.ok(
        follower.appliedLsn < spliced,
        `the follower applied a record at LSN ${after} made of piece 0 of the record at ${L} and a lone piece 1 of 2 at ${after} (appliedLsn ${follower.appliedLsn}); failure: ${follower.failure}`,
      );
      assert.instance(follower.failure, ReplicationError, `failure: ${follower.failure}`);
    } finally {
      await follower.close();
    }
  });
});

test("a follower stopped on a stream it cannot trust reports lag().ms as the age of the oldest record it did not apply, not 0", async () => {
  await withLeftStream(cluster.servers, "stoppedlag", 10, async (s) => {
    const L = s.end.nextLsn!;
    const big = putRecord("big", new Uint8Array(s.pieceBytes).fill(0x61), 1n << 40n);
    // A lone piece 1 of 2 at L: the follower applies everything before it, then stops.
    const publishedMs = Date.now();
    await publishRaw(s, pieceId(L, 1, 2), framed(s, big).subarray(s.pieceBytes), s.end.seq);
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream: s.stream });
    try {
      await follower.caughtUp(L, 10_000);
      const deadline = Date.now() + 8_000;
      while (!follower.failure && Date.now() < deadline) await sleep(20);
      assert.instance(follower.failure, ReplicationError, `set-up: the follower stopped; failure ${follower.failure}`);
      await sleep(200);
      const lag = await follower.lag();
      const ageMs = Date.now() - publishedMs;
      assert.ok(lag.bytes > 0, `set-up: the follower is behind: ${JSON.stringify(lag)}`);
      assert.ok(lag.ms >= 200 && lag.ms <= ageMs + 1_000, `lag().ms ${lag.ms}, the unapplied record was taken ${ageMs} ms ago: ${JSON.stringify(lag)}`);
    } finally {
      await follower.close();
    }
  });
});

test("a message deleted where the search for an LSN's message probes first: every message is still found by its LSN, and the deleted one's LSN gives the message before the hole", async () => {
  await withLeftStream(cluster.servers, "hole", 4, async (s) => {
    const subject = `shardline.${s.stream}`;
    // 12 more messages of one record each (the publisher batches records into fewer).
    let lsn = s.end.nextLsn!;
    let seq = s.end.seq;
    for (let i = 0; i < 12; i++) {
      const record = putRecord(`m${i}`, enc.encode(`v${i}`), (1n << 40n) + BigInt(i));
      const next = lsnAfter(lsn, record.length);
      seq = await publishRaw(s, runId(lsn, next), framed(s, record), seq);
      lsn = next;
    }
    const info = await s.jsm.streams.info(s.stream);
    const firstSeq = info.state.first_seq;
    const lastSeq = info.state.last_seq;
    assert.ok(lastSeq - firstSeq >= 12, `set-up: a stream of 13 messages or more (${firstSeq}..${lastSeq})`);
    const lsnOf = new Map<number, number>();
    for (let seq = firstSeq; seq <= lastSeq; seq++) {
      const message = await s.jsm.streams.getMessage(s.stream, { seq });
      const id = decodeMessageId(message!.header?.get("Nats-Msg-Id"), `message ${seq}`);
      assert.is(id.part, 0, "set-up: whole records only");
      lsnOf.set(seq, id.lsn);
    }
    const hole = firstSeq + Math.floor((lastSeq - firstSeq) / 2); // the search's first probe
    assert.ok(await s.jsm.streams.deleteMessage(s.stream, hole), "set-up: the message was deleted");
    for (const [seq, lsn] of lsnOf) {
      if (seq === hole) continue;
      assert.is(await seqOfLsn(s.jsm, s.stream, subject, lsn), seq, `the message holding LSN ${lsn}`);
    }
    assert.is(await seqOfLsn(s.jsm, s.stream, subject, lsnOf.get(hole)!), hole - 1, "the deleted message's LSN: the last message at or below it");
  });
});

test("bootstrapTimeoutMs that is not a number (NaN) is a typed error at once, not a wait without end for a snapshot", async () => {
  const stream = `nantimeout-${Date.now().toString(36)}`;
  const dir = tempDir();
  const opening = openFollower(dir, { servers: cluster.servers, stream, bootstrapTimeoutMs: Number.NaN }).then(
    (f) => ({ follower: f, error: undefined as unknown }),
    (error: unknown) => ({ follower: undefined, error }),
  );
  const outcome = await Promise.race([opening, sleep(4_000).then(() => "still waiting" as const)]);
  // Bound the open that may still be waiting: give it a snapshot to find, then close it.
  let writer: Awaited<ReturnType<typeof open>> | undefined;
  let publisher: Awaited<ReturnType<typeof startPublisher>> | undefined;
  if (outcome === "still waiting") {
    writer = await open(tempDir(), { shards: 2 });
    publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  }
  const opened = await Promise.race([opening, sleep(10_000).then(() => undefined)]);
  await opened?.follower?.close();
  await publisher?.close({ forget: true });
  await writer?.close();
  assert.ok(outcome !== "still waiting", "openFollower with bootstrapTimeoutMs NaN and no snapshot was still waiting after 4 s (its deadline never passes)");
  assert.ok(outcome.error instanceof TypeError || outcome.error instanceof RangeError || outcome.error instanceof ReplicationError, `error: ${outcome.error}`);
});

test("a follower whose subject the stream does not take stops with a ReplicationError instead of resubscribing for ever", async () => {
  await withLeftStream(cluster.servers, "badsubject", 20, async (s) => {
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream: s.stream, subject: `other.${s.stream}` });
    try {
      const deadline = Date.now() + 15_000;
      while (!follower.failure && follower.stats().restarts < 3 && Date.now() < deadline) await sleep(20);
      const stats = follower.stats();
      assert.instance(follower.failure, ReplicationError, `failure: ${follower.failure}; restarts ${stats.restarts}, appliedLsn ${stats.appliedLsn} of ${s.end.nextLsn}, last error: ${stats.lastError}`);
    } finally {
      await follower.close();
    }
  });
});

test("a server whose max_payload is 32 MiB: a publisher catching up 20 MiB of small records sends messages a follower's pull can take, and the follower applies them", async () => {
  const server = await serverWithMaxPayload(32 * 1024 * 1024);
  const writer = await open(tempDir(), { memtableBytesMax: 64 * 1024 * 1024, shards: 1 });
  const stream = `bigpayload-${Date.now().toString(36)}`;
  let publisher: Awaited<ReturnType<typeof startPublisher>> | undefined;
  let follower: Awaited<ReturnType<typeof openFollower>> | undefined;
  try {
    // The stream and its first snapshot, while the log is empty; then 20 MiB of records
    // made durable while no publisher runs: the next publisher gathers them in one run.
    publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    await publisher.close();
    const value = "v".repeat(8 * 1024);
    for (let i = 0; i < 2560; i++) await writer.put(`k${String(i).padStart(5, "0")}`, value);
    publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    const end = Number(writer.stats().wal.durableLsn);
    await publisher.caughtUp(end, 20_000);
    follower = await openFollower(tempDir(), { servers: server.url, stream });
    const outcome = await follower.caughtUp(end, 15_000).then(() => "caught up", (e) => (e as Error).message);
    assert.is(outcome, "caught up", `publisher: ${JSON.stringify(publisher.stats())}; follower: ${JSON.stringify(follower.stats())}`);
  } finally {
    await follower?.close().catch(() => {});
    await publisher?.close({ forget: true }).catch(() => {});
    await writer.close();
    await server.stop();
  }
});

test("caughtUp with NaN: caughtUp(NaN) does not resolve as if caught up, and caughtUp(lsn, NaN) is an error rather than a wait without end", async () => {
  const stream = `nancaught-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { shards: 1 });
  const publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  const follower = await openFollower(tempDir(), { servers: cluster.servers, stream });
  try {
    await writer.put("a", "1");
    await publisher.caughtUp();
    const far = Number(writer.stats().wal.durableLsn) + (1 << 20); // never reached in this test
    const outcomes = {
      "publisher.caughtUp(NaN)": await within(2_000, settled(publisher.caughtUp(Number.NaN))),
      "follower.caughtUp(NaN)": await within(2_000, settled(follower.caughtUp(Number.NaN))),
      "publisher.caughtUp(far, NaN)": await within(2_000, settled(publisher.caughtUp(far, Number.NaN))),
      "follower.caughtUp(far, NaN)": await within(2_000, settled(follower.caughtUp(far, Number.NaN))),
    };
    // Each is a bad input: a TypeError or RangeError at once (as bootstrapTimeoutMs NaN is).
    for (const [call, outcome] of Object.entries(outcomes)) {
      assert.ok(typeof outcome === "string" && outcome.startsWith("rejected"), `${call}: ${outcome} (${JSON.stringify(outcomes)})`);
    }
  } finally {
    // close() ends the waits still running (they reject with ClosedError).
    await follower.close();
    await publisher.close({ forget: true });
    await writer.close();
  }
});

test.run();
