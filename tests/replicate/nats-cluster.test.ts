// The NATS JetStream cluster harness (tests/harness/nats-cluster.ts) and the JetStream facts
// replication relies on, against a real 3-node nats-server cluster in every runtime: an R3
// file stream; a publish with a msgID already stored is acked `duplicate: true` with the
// stored sequence, even when its expected last sequence is stale (dedup is checked first);
// a publish whose expected last sequence is wrong is rejected (API error 10071) and stores
// nothing; with one node SIGKILLed the other two keep accepting publishes, and the restarted
// node (same ports, same store) catches up; an ordered consumer from `opt_start_seq` reads
// the stream back in order, byte for byte. Killing the stream or meta leader would add a
// multi-second election, so the victim is a follower of both (kept fast).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { existsSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, JetStreamApiError, jetstreamManager, StorageType } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager, PubAck } from "@nats-io/jetstream";
import { type NatsCluster, startNatsCluster } from "../harness/nats-cluster.ts";

const test = suite("replicate nats cluster");

const STREAM = "SHARDLINE_HARNESS";
const SUBJECT = "shardline.harness.log";
const FIRST = 30; // published with all three nodes up
const TOTAL = 50; // the rest with one node killed
const PUBLISH_TIMEOUT_MS = 3_000;
const READ_TIMEOUT_MS = 10_000;

let cluster: NatsCluster | undefined;
const connections: NatsConnection[] = [];
let jsm: JetStreamManager;
let js: JetStreamClient;
let dir = "";

const payload = (n: number) => `entry ${n}: ${"x".repeat(n % 7)}`;
const msgID = (n: number) => `harness-${n}`;

async function open(servers: string[]): Promise<NatsConnection> {
  const nc = await connect({ servers, timeout: 2_000, reconnectTimeWait: 100, noRandomize: true });
  connections.push(nc);
  return nc;
}

/** Publishes entry n expecting n-1 entries before it. */
function publish(client: JetStreamClient, n: number, expectLast = n - 1): Promise<PubAck> {
  return client.publish(SUBJECT, payload(n), { msgID: msgID(n), expect: { lastSequence: expectLast }, timeout: PUBLISH_TIMEOUT_MS });
}

async function waitFor(done: () => Promise<boolean>, what: string, limitMs = 10_000): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not within ${limitMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads `count` messages with an ordered consumer starting at stream sequence `start`. */
async function readFrom(start: number, count: number): Promise<Array<{ seq: number; subject: string; data: string; id: string | undefined }>> {
  const consumer = await js.consumers.get(STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start });
  const messages = await consumer.consume({ max_messages: 100 });
  const timer = setTimeout(() => messages.stop(), READ_TIMEOUT_MS);
  const out: Array<{ seq: number; subject: string; data: string; id: string | undefined }> = [];
  try {
    for await (const m of messages) {
      out.push({ seq: m.seq, subject: m.subject, data: m.string(), id: m.headers?.get("Nats-Msg-Id") });
      if (out.length >= count) break;
    }
  } finally {
    clearTimeout(timer);
    messages.stop();
  }
  return out;
}

test.after(async () => {
  for (const nc of connections.splice(0)) await nc.close().catch(() => {});
  await cluster?.stop();
});

test("three nodes on loopback elect a JetStream meta leader", async () => {
  cluster = await startNatsCluster();
  dir = cluster.dir;
  assert.is(cluster.servers.length, 3);
  for (const url of cluster.servers) assert.match(url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  assert.is(new Set(cluster.servers).size, 3);
  await cluster.ready();
  assert.ok(cluster.names.includes((await cluster.metaLeader())!), "a running node reports the meta leader");
  const nc = await open(cluster.servers);
  jsm = await jetstreamManager(nc);
  js = jetstream(nc);
});

test("a second cluster in the same process gets its own ports and store", async () => {
  const other = await startNatsCluster({ nodes: 1 });
  try {
    for (const url of other.servers) assert.not.ok(cluster!.servers.includes(url), url);
    assert.is.not(other.dir, cluster!.dir);
    await other.ready();
  } finally {
    await other.stop();
  }
  assert.not.ok(existsSync(other.dir), "stop() removes the store");
});

test("R3 file stream: msgID dedup comes before the expected last sequence, which rejects a wrong one", async () => {
  const info = await jsm.streams.add({ name: STREAM, subjects: [SUBJECT], num_replicas: 3, storage: StorageType.File });
  assert.is(info.config.num_replicas, 3);
  assert.is(info.config.storage, StorageType.File);
  assert.is(info.cluster?.replicas?.length, 2, "a leader and two followers");

  for (let n = 1; n <= FIRST; n++) {
    const ack = await publish(js, n);
    assert.equal([ack.seq, ack.duplicate], [n, false], `entry ${n}`);
  }
  // The same msgID again: not stored, acked with the stored sequence.
  const again = await publish(js, FIRST);
  assert.equal([again.seq, again.duplicate], [FIRST, true]);
  // An older msgID with its (now stale) expected last sequence: still the duplicate ack.
  const stale = await publish(js, 10);
  assert.equal([stale.seq, stale.duplicate], [10, true]);
  // A new msgID with a wrong expected last sequence: rejected.
  try {
    await publish(js, FIRST + 1, FIRST - 1);
    assert.unreachable("a wrong expected last sequence must be rejected");
  } catch (error) {
    assert.instance(error, JetStreamApiError);
    assert.is((error as JetStreamApiError).code, 10071, String(error));
  }
  const state = (await jsm.streams.info(STREAM)).state;
  assert.equal([state.messages, state.last_seq], [FIRST, FIRST]);
});

test("SIGKILL a follower: the other two keep a quorum; the restarted node catches up", async () => {
  const c = cluster!;
  const leader = (await jsm.streams.info(STREAM)).cluster!.leader!;
  const meta = await c.metaLeader();
  const victim = [0, 1, 2].find((i) => c.names[i] !== leader && c.names[i] !== meta) ??
    [0, 1, 2].find((i) => c.names[i] !== leader)!;
  c.kill(victim);
  // Publish through the surviving nodes only, so the kill costs no client reconnect.
  const nc = await open(c.servers.filter((_, i) => i !== victim));
  const survivors = jetstream(nc);
  for (let n = FIRST + 1; n <= TOTAL; n++) {
    const ack = await publish(survivors, n);
    assert.equal([ack.seq, ack.duplicate], [n, false], `entry ${n} with ${c.names[victim]} down`);
  }
  await c.restart(victim);
  await waitFor(async () => {
    const info = await jsm.streams.info(STREAM);
    const peers = [info.cluster?.leader, ...(info.cluster?.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name)];
    return info.state.last_seq === TOTAL && peers.includes(c.names[victim]);
  }, `${c.names[victim]} back as a current replica`);
});

test("an ordered consumer from opt_start_seq reads the stream back in order", async () => {
  const all = await readFrom(1, TOTAL);
  assert.is(all.length, TOTAL);
  all.forEach((m, i) => assert.equal(m, { seq: i + 1, subject: SUBJECT, data: payload(i + 1), id: msgID(i + 1) }));
  const start = 37;
  const tail = await readFrom(start, TOTAL - start + 1);
  assert.equal(tail.map((m) => m.seq), Array.from({ length: TOTAL - start + 1 }, (_, i) => start + i));
  assert.equal(tail.map((m) => m.data), tail.map((m) => payload(m.seq)));
});

test("stop() ends every node and removes the store dirs", async () => {
  for (const nc of connections.splice(0)) await nc.close();
  await cluster!.stop();
  assert.not.ok(existsSync(dir));
  await cluster!.stop(); // idempotent
});

test.run();
