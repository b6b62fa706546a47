// Followers on other machines (src/replicate/), with real processes of the three runtimes
// and a real 3-node JetStream cluster on 127.0.0.1 (tests/harness/nats-cluster.ts): a
// writer under load publishes; two followers apply the stream; the test SIGKILLs a
// follower, one NATS server and the writer mid-stream, restarts each, and at the end every
// follower holds exactly the writer's durable state. While it runs, every state a follower
// shows is a prefix of the writer's steps (tests/engine/fixtures/live-model.ts).
// Each runtime's run of this suite puts the writer and followers in a rotation of the
// runtimes, so over `npm test` every runtime plays every part.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, writeFileSync } from "node:fs";
import type { RuntimeName } from "../../src/platform.ts";
import { type Child, spawnChild } from "../harness/child.ts";
import { type NatsCluster, startNatsCluster } from "../harness/nats-cluster.ts";
import { runtimeName } from "../harness/platform.ts";
import { type Observed } from "../engine/fixtures/live-model.ts";
import { cleanup, open, tempDir } from "../engine/helpers.ts";
import { stateDigest } from "./fixtures/state-digest.ts";

const test = suite("replicate, processes");
test.after.each(cleanup);

const WRITER = new URL("./fixtures/repl-writer.ts", import.meta.url).pathname;
const FOLLOWER = new URL("./fixtures/repl-follower.ts", import.meta.url).pathname;
const RUNTIMES: RuntimeName[] = ["node", "bun", "deno"];
const me = runtimeName();
const [otherA, otherB] = [1, 2].map((d) => RUNTIMES[(RUNTIMES.indexOf(me) + d) % RUNTIMES.length]);
const STEPS = 6000;

async function lineStarting(child: Child, ...prefixes: string[]): Promise<string> {
  for (;;) {
    const line = await child.nextLine();
    if (prefixes.some((p) => line.startsWith(p))) return line;
  }
}

/** Reads "ack" lines until the writer acknowledged at least `count` steps (or ended its run). */
async function acknowledged(writer: Child, count: number): Promise<number> {
  for (;;) {
    const line = await lineStarting(writer, "ack ", "done ");
    const n = Number(line.split(" ")[1]);
    if (n >= count || line.startsWith("done ")) return n;
  }
}

/** Asks a follower for its state: a prefix of the steps, at most `atMost`. */
async function check(follower: Child, atMost: number, when: string): Promise<number> {
  follower.send(`check ${atMost}`);
  const line = await lineStarting(follower, "state ", "mismatch ", "error ", "failed ");
  assert.ok(line.startsWith("state "), `${when}: the ${follower.runtime} follower's state: ${line}; ${follower.stderr()}`);
  return Number(line.split(" ")[1]);
}

function startFollower(runtime: RuntimeName, dir: string, cluster: NatsCluster, stream: string): Child {
  return spawnChild(runtime, FOLLOWER, [dir, cluster.servers.join(","), stream]);
}

test(`a ${otherA} writer under load, followers in ${otherB} and ${me}: kill -9 of a follower, a NATS server and the writer mid-stream; every follower ends with exactly the writer's durable state`, async () => {
  const started = Date.now();
  const cluster = await startNatsCluster();
  await cluster.ready();
  const stream = `procs-${me}`;
  const writerDir = tempDir();
  const followerDirs = [tempDir(), tempDir()];
  const ackFile = `${tempDir("shardline-ack-")}/ack`;
  writeFileSync(ackFile, "0");
  const children: Child[] = [];
  const spawnWriter = (runtime: RuntimeName, args: string[]) => {
    const child = spawnChild(runtime, WRITER, [writerDir, cluster.servers.join(","), stream, String(STEPS), ...args], { env: { REPL_ACK_FILE: ackFile } });
    children.push(child);
    return child;
  };
  try {
    let writer = spawnWriter(otherA, []);
    assert.ok((await lineStarting(writer, "ready ", "mismatch ")).startsWith("ready "), writer.stderr());
    const followers = [startFollower(otherB, followerDirs[0], cluster, stream), startFollower(me, followerDirs[1], cluster, stream)];
    children.push(...followers);
    for (const f of followers) assert.ok((await lineStarting(f, "ready ", "failed ")).startsWith("ready "), f.stderr());
    const seen = [0, 0];
    const checkBoth = async (when: string) => {
      for (const [i, f] of followers.entries()) {
        const k = await check(f, STEPS, when);
        // Read after the answer: the follower read its state before, and the writer has at
        // most one step in flight beyond what it acknowledged.
        const issued = Number(readFileSync(ackFile, "utf8")) + 1;
        assert.ok(k <= issued, `${when}: the ${f.runtime} follower shows step ${k}, but the writer issued only ${issued}`);
        assert.ok(k >= seen[i], `${when}: the ${f.runtime} follower went back from step ${seen[i]} to ${k}`);
        seen[i] = k;
      }
    };

    await acknowledged(writer, STEPS * 0.15);
    await checkBoth("under load");
    // A follower dies mid-stream, and so does one of the three NATS servers.
    followers[0].kill("SIGKILL");
    await followers[0].exited;
    cluster.kill(1);
    await acknowledged(writer, STEPS * 0.3);
    followers[0] = startFollower(otherB, followerDirs[0], cluster, stream);
    children.push(followers[0]);
    assert.ok((await lineStarting(followers[0], "ready ", "failed ")).startsWith("ready "), followers[0].stderr());
    await checkBoth("after a follower restarted, with a NATS server down");
    // The server comes back while the writer dies mid-stream and a writer of another runtime
    // recovers and goes on (a restarted node takes ~5 s to report JetStream healthy).
    const restarted = cluster.restart(1);
    await acknowledged(writer, STEPS * 0.5);
    writer.kill("SIGKILL");
    await writer.exited;
    const acked = Number(readFileSync(ackFile, "utf8"));
    writer = spawnWriter(otherB, [String(acked), String(acked + 1)]);
    const ready = await lineStarting(writer, "ready ", "mismatch ");
    assert.ok(ready.startsWith("ready "), `the next writer recovered no prefix holding all ${acked} acknowledged steps: ${ready}; ${writer.stderr()}`);
    await checkBoth("after the writer was killed");
    await restarted;
    await lineStarting(writer, "done ");
    writer.send("close");
    const closed = await lineStarting(writer, "closed ", "error ");
    assert.ok(closed.startsWith("closed "), `the ${writer.runtime} writer's close: ${closed}; ${writer.stderr()}`);
    const durableLsn = Number(closed.split(" ")[1]);

    // The writer's durable state, read from its directory.
    const db = await open(writerDir, { readOnly: true });
    const state: Observed = new Map();
    const dec = new TextDecoder();
    for (const [k, v] of db.scan()) state.set(dec.decode(k), dec.decode(v));
    await db.close();
    const expected = `synced ${state.size} ${await stateDigest(state)}`;
    for (const f of followers) {
      f.send(`sync ${durableLsn}`);
      const line = await lineStarting(f, "synced ", "error ", "failed ");
      assert.is(line, expected, `the ${f.runtime} follower holds exactly the writer's durable state; ${f.stderr()}`);
    }
    await checkBoth("at the end");
    assert.equal(seen, [STEPS, STEPS], "both followers show every step");
    for (const f of followers) {
      f.send("close");
      await lineStarting(f, "closed");
    }
    console.log(`  [replicate] ${STEPS} steps, writers ${otherA} then ${otherB}, followers ${otherB} and ${me}, through a 3-node cluster with one server killed: ${Date.now() - started} ms`);
  } finally {
    for (const child of children) child.kill("SIGKILL");
    await cluster.stop();
  }
});

test.run();
