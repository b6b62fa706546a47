// A NATS server that stops answering or dies under a publisher and a follower (review of
// replication, second pass, 2026-12-06; each seen failing before its fix, in Node, Bun and
// Deno):
// - close() of either, with the server paused (SIGSTOP: the socket open, nothing answered),
//   waited on the connection's drain, which waits for the server's answer to a flush: for
//   minutes. A release now drains for at most 2 s (src/replicate/nats-connection.ts);
// - a publisher whose publish failed, and whose resume from the stream's end failed too
//   (the server down), had read past the records the stream lacked and never tried again:
//   with the writer quiet, the record written during the outage never reached the stream.
//   The resume is now tried again, with the backoff, before the next pump.
// Each test runs a nats-server of its own on 127.0.0.1 (tests/replicate/helpers.ts), which it
// pauses or kills and starts again. Every wait is bounded.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { bindReplicateApi } from "../../src/replicate/public.ts";
import { streamEnd } from "../../src/replicate/stream-messages.ts";
import { cleanup, open, platform, tempDir } from "../engine/helpers.ts";
import { ownNatsServer, settled, within } from "./helpers.ts";

const test = suite("replicate: a NATS server that stops answering or dies");
const { startPublisher, openFollower } = bindReplicateApi(platform);
test.after.each(cleanup);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test("close() of a publisher and of a follower while their NATS server answers nothing (paused) ends within 5 s", async () => {
  const server = await ownNatsServer();
  const writer = await open(tempDir(), { shards: 1 });
  const stream = `paused-${Date.now().toString(36)}`;
  try {
    const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    const follower = await openFollower(tempDir(), { servers: server.url, stream });
    for (let i = 0; i < 10; i++) await writer.put(`k${i}`, `v${i}`);
    await publisher.caughtUp();
    await follower.caughtUp(Number(writer.stats().wal.durableLsn), 10_000);
    server.pause();
    // Nothing is in flight: each has only to stop and let its connection go.
    const publisherClose = settled(publisher.close());
    const followerClose = settled(follower.close());
    const outcomes = [await within(5_000, publisherClose), await within(5_000, followerClose)];
    // Let the server answer again so that what still waits ends, then judge.
    server.resume();
    await within(15_000, Promise.all([publisherClose, followerClose]));
    assert.equal(outcomes, ["settled", "settled"], `publisher.close(), follower.close() with the server paused: ${JSON.stringify(outcomes)} (waiting on the connection's drain, which waits for a PONG)`);
  } finally {
    await server.stop();
    await writer.close();
  }
});

test("a publisher whose resume failed during a NATS outage publishes, once the server is back, the record written during the outage (the writer stays quiet)", async () => {
  const server = await ownNatsServer();
  const writer = await open(tempDir(), { shards: 1 });
  const stream = `outage-${Date.now().toString(36)}`;
  try {
    const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1, publishTimeoutMs: 500 });
    try {
      for (let i = 0; i < 10; i++) await writer.put(`k${i}`, `v${i}`);
      await publisher.caughtUp();
      await server.kill();
      await writer.put("during", "the outage"); // durable on the writer; its publish fails
      const want = Number(writer.stats().wal.durableLsn);
      const deadline = Date.now() + 5_000;
      while (publisher.stats().resumes < 1 && Date.now() < deadline) await sleep(20);
      assert.ok(publisher.stats().resumes >= 1, `the publisher tried to resume after its failed publish: ${JSON.stringify(publisher.stats())}`);
      await sleep(5_600); // longer than a JetStream API request's 5 s timeout: the resume's request failed
      await server.start(); // the same port and store: the stream holds what it held
      const outcome = await publisher.caughtUp(want, 5_000).then(() => "caught up", (e) => (e as Error).message);
      const nc = await connect({ servers: server.url });
      let streamLsn: number | undefined;
      try {
        streamLsn = (await streamEnd(await jetstreamManager(nc), stream, `shardline.${stream}`)).nextLsn;
      } finally {
        await nc.close();
      }
      assert.is(
        outcome,
        "caught up",
        `5 s after the server came back the stream ends at LSN ${streamLsn}, the writer's durable log at ${want}; publisher ${JSON.stringify(publisher.stats())}`,
      );
    } finally {
      await publisher.close({ forget: true });
    }
  } finally {
    await server.stop();
    await writer.close();
  }
});

test.run();
