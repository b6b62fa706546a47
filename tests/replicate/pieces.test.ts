// Records cut in pieces (src/replicate/stream-messages.ts), against one nats-server of the
// file's own on 127.0.0.1 whose max_payload is 24 KiB: a message then holds 20,480 bytes,
// and a 90 KiB value is a record cut in 5 pieces. Defects a review found on 2026-12-07,
// each seen failing before its fix:
// - follower.lag() named its count `records` (README: "lag: N records") but added the
//   consumer's undelivered messages (a record in 5 pieces counted 5) to the records held
//   for durability (a message of 20 records counted 20). It is `messages` now, counted as
//   such on both sides.
// - A stream purged inside a record (by hand, or by a limit of the stream: the publisher's
//   own purges keep records whole) stopped a follower that needed the record with
//   SHARDLINE_REPLICATION_CORRUPT ("piece 2 of 5 ... the record being gathered is at LSN
//   -1"), or "message N cannot be read" when the stream ended with the record's last
//   pieces; the record is lost from the stream, and a bootstrap is the remedy:
//   ReplicationGapError. A publisher on such a stream continues after the record, whose end
//   its own log knows.
// Every wait is bounded; each test closes its writer, publisher, follower and directories.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Database } from "../../src/engine/database.ts";
import { bindReplicateApi, type Follower, type FollowerLag, type Publisher, ReplicationGapError } from "../../src/replicate/public.ts";
import { decodeFrames, decodeMessageId } from "../../src/replicate/stream-messages.ts";
import { cleanup, open, platform, tempDir } from "../engine/helpers.ts";
import { type OwnNatsServer, ownNatsServer, within } from "./helpers.ts";

const test = suite("replicate: records cut in pieces");
const { startPublisher, openFollower } = bindReplicateApi(platform);
const MAX_PAYLOAD = 24 * 1024;
const BIG = "b".repeat(90 * 1024); // a frame of ~92 KB: 5 pieces of 20,480 bytes
let server: OwnNatsServer;
let streams = 0;
const newStream = (name: string) => `${name}${++streams}-${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test.before(async () => {
  server = await ownNatsServer({ maxPayload: MAX_PAYLOAD });
});
test.after(async () => {
  await server?.stop();
});
test.after.each(cleanup);

/** One stream message, decoded: its sequence, subject, id, and the records it holds or ends. */
interface Listed {
  seq: number;
  subject: string;
  id: string | undefined;
  lsn: number;
  part: number;
  parts: number;
  /** LSNs of the records whose last byte it holds (a run's frames; a record's last piece). */
  ends: number[];
}

/** Every message of the stream, decoded (only shardline messages are expected). */
async function listStream(jsm: JetStreamManager, stream: string): Promise<Listed[]> {
  const info = await jsm.streams.info(stream);
  const out: Listed[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (!m) continue;
    const raw = m.header?.get("Nats-Msg-Id") || undefined;
    const id = decodeMessageId(raw, `message ${seq}`);
    let ends: number[] = [];
    if (id.end !== undefined) ends = decodeFrames(m.data, id.lsn, `message ${seq}`, id.end).map((f) => f.lsn);
    else if (id.part + 1 === id.parts) ends = [id.lsn];
    out.push({ seq, subject: m.subject, id: raw, lsn: id.lsn, part: id.part, parts: id.parts, ends });
  }
  return out;
}

async function withWriter(body: (w: { writer: Database; stream: string; jsm: JetStreamManager; nc: Awaited<ReturnType<typeof connect>> }) => Promise<void>, name: string): Promise<void> {
  const stream = newStream(name);
  const writer = await open(tempDir(), { memtableBytesMax: 8 * 1024 * 1024, shards: 1 });
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await body({ writer, stream, jsm, nc });
  } finally {
    await nc.close().catch(() => {});
    await writer.close();
  }
}

const durable = (writer: Database) => Number(writer.stats().wal.durableLsn);

// ---------------------------------------------------------------------------------------
// lag().messages

/** Messages of `listed` not wholly applied by a follower whose log ends at `appliedLsn`. */
const unapplied = (listed: Listed[], appliedLsn: number) => listed.filter((m) => m.lsn >= appliedLsn || m.ends.some((at) => at > appliedLsn)).length;

/** Samples a follower's lag() (with the messages it has not applied, from the listing) every 25 ms until it applied `end`. */
async function lagSamples(follower: Follower, listed: Listed[], end: number): Promise<Array<FollowerLag & { unapplied: number }>> {
  const samples: Array<FollowerLag & { unapplied: number }> = [];
  const deadline = Date.now() + 4_000;
  while (follower.appliedLsn < end && !follower.failure && Date.now() < deadline) {
    const lag = await follower.lag();
    // Caught up while lag() asked the stream for its end (CI, Deno: a last sample 0/0).
    if (lag.appliedLsn >= end) break;
    samples.push({ ...lag, unapplied: unapplied(listed, lag.appliedLsn) });
    await sleep(25);
  }
  return samples;
}

const shown = (samples: Array<FollowerLag & { unapplied: number }>) => samples.map((s) => `${s.messages}/${s.unapplied}`).join(" ");

test("lag().messages counts stream messages: a follower behind by a small record and one cut in 5 pieces reports at most the 6 messages it has not applied, and 5 or more while the pieces wait", async () => {
  await withWriter(async ({ writer, stream, jsm }) => {
    let publisher: Publisher | undefined;
    let follower: Follower | undefined;
    try {
      publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
      await writer.put("small", "s");
      await writer.put("big", BIG);
      const end = durable(writer);
      await publisher.caughtUp(end, 4_000);
      const listed = await listStream(jsm, stream);
      assert.is(listed.filter((m) => m.parts > 1).length, 5, `set-up: the big record went in 5 pieces: ${listed.map((m) => m.id).join(" ")}`);
      // Each fdatasync of the follower's log takes 300 ms, and it holds one append at a time:
      // it stays behind for seconds, with the pieces waiting in its consumer.
      follower = await openFollower(tempDir(), { servers: server.url, stream, inFlightMax: 1, faults: { syncDelayMs: 300 } });
      const samples = await lagSamples(follower, listed, end);
      assert.ok(samples.length > 0, "set-up: the follower was behind at least once");
      assert.ok(samples.every((s) => s.messages <= s.unapplied), `lag().messages / messages not applied: ${shown(samples)}`);
      assert.ok(samples.some((s) => s.appliedLsn < end && s.messages >= 5), `the 5 pieces counted while they wait: ${shown(samples)}`);
      await follower.caughtUp(end, 4_000);
      assert.is((await follower.lag()).messages, 0);
    } finally {
      await follower?.close().catch(() => {});
      await publisher?.close({ forget: true }).catch(() => {});
    }
  }, "lag");
});

test("lag().messages counts stream messages: a follower behind by one message holding 20 records reports 1, not 20", async () => {
  await withWriter(async ({ writer, stream, jsm }) => {
    let publisher: Publisher | undefined;
    let follower: Follower | undefined;
    try {
      // The snapshot at the log's start (a first publisher on the empty writer, closed
      // keeping its place), then the 20 records, which the publisher started again sends in
      // one message (a run). A new follower opens at that snapshot's consistentLsn, before
      // the message (had the snapshot been taken after the records, the follower would apply
      // them before it opens: follower.ts #showWhenConsistent).
      await (await startPublisher(writer, { servers: server.url, stream, replicas: 1 })).close();
      for (let i = 0; i < 20; i++) await writer.put(`k${i}`, `v${i}`);
      const end = durable(writer);
      publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
      await publisher.caughtUp(end, 4_000);
      const listed = await listStream(jsm, stream);
      assert.ok(listed.length === 1 && listed[0].ends.length === 20, `set-up: one message of 20 records: ${JSON.stringify(listed)}`);
      follower = await openFollower(tempDir(), { servers: server.url, stream, faults: { syncDelayMs: 300 } });
      const samples = await lagSamples(follower, listed, end);
      assert.ok(samples.length > 0, "set-up: the follower was behind at least once");
      assert.ok(samples.every((s) => s.messages === 1), `lag().messages / messages not applied: ${shown(samples)}`);
      await follower.caughtUp(end, 4_000);
    } finally {
      await follower?.close().catch(() => {});
      await publisher?.close({ forget: true }).catch(() => {});
    }
  }, "lagrun");
});

// ---------------------------------------------------------------------------------------
// A purge inside a record

interface AfterPurge {
  /** LSN of the record in 5 pieces, and the writer's durable end after it (and `after`). */
  L: number;
  end: number;
  /** The stream after the purge. */
  listed: Listed[];
  /** The follower reopened after the purge: caughtUp's outcome within 4 s, and its failure. */
  outcome: string;
  failure: Error | undefined;
}

/**
 * A follower that applied every record below L (and was closed), then a record at L in 5
 * pieces (and, with `after`, a small one after it); the stream purged by `purge` (given
 * the sequence of piece 0 of L); the follower opened again in its directory. Then, if
 * given, `publisherAfter` with the writer, the stream and the listing (no publisher runs).
 */
async function afterPurge(
  name: string,
  after: boolean,
  purge: (jsm: JetStreamManager, stream: string, piece0: number) => Promise<unknown>,
  publisherAfter?: (w: { writer: Database; stream: string; jsm: JetStreamManager; end: number }) => Promise<void>,
): Promise<AfterPurge> {
  let result: AfterPurge | undefined;
  await withWriter(async ({ writer, stream, jsm }) => {
    let publisher: Publisher | undefined;
    let follower: Follower | undefined;
    const dir = tempDir();
    try {
      publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
      for (let i = 0; i < 5; i++) await writer.put(`k${i}`, `v${i}`);
      const L = durable(writer);
      await publisher.caughtUp(L, 4_000);
      follower = await openFollower(dir, { servers: server.url, stream });
      await follower.caughtUp(L, 4_000);
      await follower.close();
      follower = undefined;
      await writer.put("big", BIG);
      if (after) await writer.put("after", "a");
      const end = durable(writer);
      await publisher.caughtUp(end, 4_000);
      await publisher.close({ forget: true });
      publisher = undefined;
      const before = await listStream(jsm, stream);
      const piece0 = before.find((m) => m.lsn === L && m.part === 0);
      assert.ok(piece0 && piece0.parts === 5, `set-up: the record at L=${L} is in 5 pieces: ${before.map((m) => m.id).join(" ")}`);
      await purge(jsm, stream, piece0!.seq);
      const listed = await listStream(jsm, stream);
      follower = await openFollower(dir, { servers: server.url, stream });
      const f = follower;
      const outcome = await within(4_000, f.caughtUp(end, 4_000).then(() => "caught up", (e) => `rejected: ${(e as Error).message}`));
      result = { L, end, listed, outcome: String(outcome), failure: f.failure };
      await follower.close();
      follower = undefined;
      await publisherAfter?.({ writer, stream, jsm, end });
    } finally {
      await follower?.close().catch(() => {});
      await publisher?.close({ forget: true }).catch(() => {});
    }
  }, name);
  return result!;
}

const gapExpected = (r: AfterPurge) => `the record at LSN ${r.L} is no longer whole in the stream: ${r.failure?.name} ${(r.failure as { code?: string })?.code}: ${r.failure?.message} (caughtUp: ${r.outcome})`;

test("a stream purged inside the record a follower needs (pieces 0..1 of 5 gone, 2..4 and what follows kept): the follower stops with ReplicationGapError, as for any record the stream lost", async () => {
  const r = await afterPurge("purgeseq", true, (jsm, stream, piece0) => jsm.streams.purge(stream, { seq: piece0 + 2 }));
  const first = r.listed[0];
  assert.ok(first.lsn === r.L && first.part === 2, `set-up: the stream now starts at piece 2 of the record at L=${r.L}: ${r.listed.map((m) => m.id).join(" ")}`);
  assert.instance(r.failure, ReplicationGapError, gapExpected(r));
});

test("a stream that ends with the last pieces of a record whose first ones were purged (a purge keeping the last 3 messages): the follower that needs it stops with ReplicationGapError; a publisher started again goes on after the record", async () => {
  const r = await afterPurge("purgekeep", false, (jsm, stream) => jsm.streams.purge(stream, { keep: 3 }), async ({ writer, stream, jsm, end }) => {
    const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    try {
      await writer.put("later", "l");
      const later = durable(writer);
      const outcome = await publisher.caughtUp(later, 4_000).then(() => "caught up", (e) => `rejected: ${(e as Error).message}`);
      assert.is(outcome, "caught up", `the publisher goes on after the record whose start the stream lost (stats ${JSON.stringify(publisher.stats())}, failure ${publisher.failure})`);
      const listed = await listStream(jsm, stream);
      assert.is(listed.at(-1)?.id, `${end}-${later}`, `the next message starts where the record ended: ${listed.map((m) => m.id).join(" ")}`);
    } finally {
      await publisher.close({ forget: true });
    }
  });
  assert.equal(r.listed.map((m) => `${m.lsn}/${m.part}`), [2, 3, 4].map((p) => `${r.L}/${p}`), "set-up: the stream holds pieces 2..4 only");
  assert.instance(r.failure, ReplicationGapError, gapExpected(r));
});

test.run();
