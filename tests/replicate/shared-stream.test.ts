// A stream that takes other subjects than the publisher's (src/replicate/stream-messages.ts,
// checkStreamShape), against one nats-server of the file's own on 127.0.0.1. Defects a review
// found on 2026-12-07, each seen failing before its fix: the publisher and the follower
// accepted any stream that took their subject among others; then another client's message
// there was the stream's last, so the publisher's next publish was refused (its expected
// last sequence is the stream's), and its resume, reading that message, failed and was
// retried for ever; a caught-up follower's lag() rejected, and its stall watchdog (the
// stream's last sequence past what it was delivered) stopped it with "message id undefined
// is not a shardline id". Now such a stream is refused with SHARDLINE_REPLICATION_STREAM,
// naming the other subjects, at start and whenever either side reads the stream again.
// Every wait is bounded; each test closes its writer, publisher, follower and directories.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import type { Database } from "../../src/engine/database.ts";
import { bindReplicateApi, type Follower, type Publisher, ReplicationError } from "../../src/replicate/public.ts";
import { DATABASE_HEADER, lsnAfter, runId, writeFrame } from "../../src/replicate/stream-messages.ts";
import { encodeOperations, OP_PUT } from "../../src/engine/records.ts";
import { toolCore } from "../../src/cli/database.ts";
import { cleanup, enc, open, platform, tempDir } from "../engine/helpers.ts";
import { type OwnNatsServer, ownNatsServer } from "./helpers.ts";

const test = suite("replicate: a stream that takes other subjects");
const { startPublisher, openFollower } = bindReplicateApi(platform);
let server: OwnNatsServer;
let streams = 0;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test.before(async () => {
  server = await ownNatsServer();
});
test.after(async () => {
  await server?.stop();
});
test.after.each(cleanup);

interface Setting {
  writer: Database;
  stream: string;
  subject: string;
  other: string;
  jsm: JetStreamManager;
  nc: NatsConnection;
}

async function withWriter(name: string, body: (s: Setting) => Promise<void>): Promise<void> {
  const stream = `${name}${++streams}-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { shards: 1 });
  const nc = await connect({ servers: server.url });
  try {
    await body({ writer, stream, subject: `shardline.${stream}`, other: `other.${stream}`, jsm: await jetstreamManager(nc), nc });
  } finally {
    await nc.close().catch(() => {});
    await writer.close();
  }
}

const durable = (writer: Database) => Number(writer.stats().wal.durableLsn);

/** `error` is the stream-shape refusal, and its message names `other`. */
function assertRefusal(error: unknown, other: string, what: string): void {
  assert.instance(error, ReplicationError, `${what}: ${error}`);
  assert.is((error as ReplicationError).code, "SHARDLINE_REPLICATION_STREAM", `${what}: ${error}`);
  assert.ok((error as Error).message.includes(other), `${what} names ${other}: ${(error as Error).message}`);
}

/**
 * A publisher and a caught-up follower on a stream of the publisher's own, then the stream
 * changed to take `other` too: gives them to `body` with the writer's durable end.
 */
async function withStreamWidened(name: string, body: (s: Setting & { publisher: Publisher; follower: Follower; end: number }) => Promise<void>): Promise<void> {
  await withWriter(name, async (s) => {
    let publisher: Publisher | undefined;
    let follower: Follower | undefined;
    try {
      publisher = await startPublisher(s.writer, { servers: server.url, stream: s.stream, replicas: 1 });
      await s.writer.put("a", "1");
      const end = durable(s.writer);
      await publisher.caughtUp(end, 4_000);
      follower = await openFollower(tempDir(), { servers: server.url, stream: s.stream });
      await follower.caughtUp(end, 4_000);
      const info = await s.jsm.streams.info(s.stream);
      await s.jsm.streams.update(s.stream, { ...info.config, subjects: [s.subject, s.other] });
      await body({ ...s, publisher, follower, end });
    } finally {
      await follower?.close().catch(() => {});
      await publisher?.close({ forget: true }).catch(() => {});
    }
  });
}

test("a publisher refuses a stream that takes another subject besides its own: SHARDLINE_REPLICATION_STREAM naming it, and nothing published", async () => {
  await withWriter("refused", async ({ writer, stream, subject, other, jsm }) => {
    await jsm.streams.add({ name: stream, subjects: [subject, other], num_replicas: 1 });
    await writer.put("a", "1");
    const started = await startPublisher(writer, { servers: server.url, stream, replicas: 1 }).then((p) => p, (e) => e as Error);
    if (!(started instanceof Error)) await started.close({ forget: true });
    assertRefusal(started, other, "startPublisher");
    assert.is((await jsm.streams.info(stream)).state.messages, 0, "nothing published");
  });
});

test("a stream changed to take another subject, another client's message there (one that looks like the follower's next run: a valid frame, the database's header, the right id): the publisher stops with SHARDLINE_REPLICATION_STREAM (no retries for ever), the follower stops with it without applying the message, and its lag() says it", async () => {
  await withStreamWidened("widened", async ({ writer, nc, jsm, stream, other, publisher, follower, end }) => {
    const core = await toolCore();
    try {
      const record = encodeOperations([{ type: OP_PUT, shard: 0, key: enc.encode("intruder"), value: enc.encode("x"), ts: 1n << 50n }]);
      const frame = new Uint8Array(8 + record.length);
      writeFrame(frame, 0, record, core.crc32c(record));
      const last = await jsm.streams.getMessage(stream, { seq: (await jsm.streams.info(stream)).state.last_seq });
      const h = headers();
      const databaseId = last?.header?.get(DATABASE_HEADER);
      if (databaseId) h.set(DATABASE_HEADER, databaseId);
      await jetstream(nc).publish(other, frame, { msgID: runId(end, lsnAfter(end, record.length)), headers: h });
    } finally {
      core.detach();
    }
    await writer.put("b", "2");
    const outcome = await publisher.caughtUp(durable(writer), 4_000).then(() => "caught up", (e) => e as Error);
    assertRefusal(outcome, other, `publisher.caughtUp (stats ${JSON.stringify(publisher.stats())})`);
    assertRefusal(publisher.failure, other, "publisher.failure");
    // Longer than the follower's stall watchdog (2 s): the stream's last sequence is past
    // what its consumer (filtered on its subject) delivered, so it subscribes again.
    const deadline = Date.now() + 4_000;
    while (!follower.failure && Date.now() < deadline) await sleep(50);
    assertRefusal(follower.failure, other, "follower.failure");
    assertRefusal(await follower.lag().then((l) => l, (e) => e as Error), other, "follower.lag()");
    await follower.db.refresh();
    assert.is(follower.db.getString("intruder"), undefined, "another subject's message was applied");
    assert.is(follower.appliedLsn, end, "nothing applied past what the publisher published before");
  });
});

test.run();
