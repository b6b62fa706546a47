// A server's max_payload (src/replicate/publisher.ts piecesFitting): a message is at most
// max_payload less 4 KiB of headers, and a record larger than that goes in pieces. Found by
// the replication review of 2026-12-06, seen failing before the fix: pieces were floored at
// 64 KiB, so on a server whose max_payload is under 68 KiB every piece was refused and the
// publisher resumed for ever with no typed error. A server too small for the largest record
// in 256 pieces is now refused at start. One nats-server of its own, on 127.0.0.1, from a
// config file (the cluster harness takes flags only).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bindReplicateApi, ReplicationError } from "../../src/replicate/public.ts";
import { cleanup, open, platform, tempDir } from "../engine/helpers.ts";
import { serverWithMaxPayload } from "./helpers.ts";

const test = suite("replicate: a server's max_payload");
const { startPublisher, openFollower } = bindReplicateApi(platform);
test.after.each(cleanup);

test("a server whose max_payload is 64 KiB: a 100 KiB record goes in pieces that fit it, and a follower applies it", async () => {
  const server = await serverWithMaxPayload(64 * 1024);
  const writer = await open(tempDir(), { memtableBytesMax: 8 * 1024 * 1024, shards: 1 });
  const value = "v".repeat(100 * 1024);
  const stream = `payload-${Date.now().toString(36)}`;
  let publisher: Awaited<ReturnType<typeof startPublisher>> | undefined;
  let follower: Awaited<ReturnType<typeof openFollower>> | undefined;
  try {
    await writer.put("large", value);
    publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    const end = Number(writer.stats().wal.durableLsn);
    const outcome = await publisher.caughtUp(end, 8_000).then(() => "caught up", (e) => (e as Error).message);
    assert.is(outcome, "caught up", `stats: ${JSON.stringify(publisher.stats())}`);
    assert.ok(publisher.stats().messages >= 2, `the record went in pieces: ${JSON.stringify(publisher.stats())}`);
    follower = await openFollower(tempDir(), { servers: server.url, stream });
    await follower.caughtUp(end, 8_000);
    await follower.db.refresh();
    assert.is(follower.db.getString("large"), value);
  } finally {
    await follower?.close().catch(() => {});
    await publisher?.close({ forget: true }).catch(() => {});
    await writer.close();
    await server.stop();
  }
});

test("a server whose max_payload cannot carry a 4 MiB record in 256 pieces: startPublisher rejects with a ReplicationError naming it", async () => {
  const server = await serverWithMaxPayload(16 * 1024);
  const writer = await open(tempDir(), { shards: 1 });
  try {
    const started = await startPublisher(writer, { servers: server.url, stream: `small-${Date.now().toString(36)}`, replicas: 1 }).then((p) => p, (e) => e as Error);
    if (!(started instanceof Error)) {
      await started.close({ forget: true });
      assert.unreachable("a publisher started on a server that cannot carry its largest record");
    }
    assert.instance(started, ReplicationError, String(started));
    assert.match((started as Error).message, /max_payload is 16384 bytes: a publisher needs at least \d+/);
  } finally {
    await writer.close();
    await server.stop();
  }
});

test.run();
