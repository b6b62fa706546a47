// A follower applying large batches (fragments, kind 3, then a commit, kind 4: docs/ENGINE.md
// "Large batches") across a writer's power loss between a batch's fragments and its commit:
// the follower applies the published fragments, is restarted inside the abandoned batch,
// the writer reopens (abandonment commit) and writes on, another 10 MiB batch among them,
// and the follower is restarted again in its middle, with 1 MiB checkpoints due at awkward
// points. Polled throughout, `follower.db` never shows the abandoned batch or half of one,
// and the follower ends at exactly the writer's state. The stream's server takes messages
// of at most 256 KiB, so a fragment (up to ~4 MiB: a 10 MiB batch is three) travels in
// pieces. From an adversarial review (2026-12-08) that found no defect in the follower:
// it also closed and power-failed followers mid-batch and sent two threads' batches at
// once (their fragments never interleave: the actor logs a batch's fragments in one step).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/database.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { bindReplicateApi, type Follower } from "../../src/replicate/public.ts";
import { bounded, withPowerLoss } from "../harness/power-loss-platform.ts";
import { cleanup, dec, open, platform, tempDir } from "../engine/helpers.ts";
import { ownNatsServer, type OwnNatsServer } from "./helpers.ts";

const test = suite("replicate: a follower and large batches across a writer's power loss");
const { startPublisher, openFollower } = bindReplicateApi(platform);
const N = 10_000; // 10,000 x ~1 KiB: a 10 MiB batch, three fragments (a fragment is at most ~4 MiB; a 3 MiB batch is one)
const pad = (i: number) => String(i).padStart(5, "0");
const tick = () => new Promise((r) => setImmediate(r));

let server: OwnNatsServer;

function batchOps(prefix: string, n = N) {
  return Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `${prefix}${pad(i)}`, value: `${prefix}${i}:`.padEnd(1000, "b") }));
}

function entries(db: Database): string {
  return JSON.stringify([...db.scan()].map(([k, v]) => [dec.decode(k), dec.decode(v)]));
}

function count(db: Database, prefix: string): number {
  let n = 0;
  for (const _ of db.scan({ prefix })) n++;
  return n;
}

/** Counts of each prefix's keys. */
function counts(db: Database, prefixes: string[]): number[] {
  return prefixes.map((p) => count(db, p));
}

function durable(db: Database): number {
  return Number(db.stats().wal.durableLsn);
}

const followerOptions = (stream: string, inFlightMax?: number) => ({ servers: server.url, stream, checkpointBytes: 1 << 20, bootstrapTimeoutMs: 5000, inFlightMax });

test.before(async () => {
  server = await ownNatsServer({ maxPayload: 256 * 1024 });
});
test.after(async () => {
  await server?.stop();
  cleanup();
});

test("writer power loss between a 10 MiB batch's fragments (some published and applied) and its commit; the follower restarted inside the abandoned batch; the writer reopened (abandonment), more writes and another 10 MiB batch, the follower restarted mid-way again: it never shows half a batch or the abandoned one, and ends at the writer's state", async () => {
  const stream = `writer-killed-${Date.now().toString(36)}`;
  const opts = { memtableBytesMax: 256 * 1024, shards: 2, walBufferBytes: 4 * 1024 * 1024 };
  let caught = false;
  let attempt = 0;
  let dir = "";
  let streamName = "";
  let follower: Follower | undefined;
  let fdir = "";
  let published = 0;
  let before = 0;
  // A fresh directory each attempt: the crash must land after some fragments are durable (and published) and before the commit is.
  for (; attempt < 4 && !caught; attempt++) {
    const aroot = tempDir();
    dir = `${aroot}/w`;
    streamName = `${stream}-${attempt}`;
    const wp = withPowerLoss(platform, aroot, {});
    // Each fdatasync of the group WAL takes 150 ms: fragments become durable well before the commit.
    const w1 = await bindDatabaseApi(wp).open(dir, { ...opts, faults: { groupLog: { syncDelayMs: 150 } } });
    const pub1 = await bindReplicateApi(wp).startPublisher(w1, { servers: server.url, stream: streamName, replicas: 1 });
    for (let i = 0; i < 20; i++) await w1.put(`a${pad(i)}`, `a${i}`);
    await pub1.caughtUp();
    fdir = `${tempDir()}/f`;
    follower = await openFollower(fdir, followerOptions(streamName));
    before = durable(w1);
    let done = false;
    const written = w1.batch(batchOps("x")).then(() => (done = true), () => {});
    const until = Date.now() + 3000;
    while (!done && pub1.stats().ackedLsn <= before && Date.now() < until) await new Promise((r) => setImmediate(r));
    published = pub1.stats().ackedLsn;
    wp.crash();
    const closing = pub1.close().catch(() => {});
    await bounded(written, 3000);
    await bounded(closing, 3000);
    await bounded(w1.close().catch(() => {}), 3000);
    platform.removeAll(`${dir}/LOCK.d`);
    const check = await open(dir, opts);
    caught = count(check, "x") === 0 && published > before;
    await check.close();
    console.log(`  [follower-large-batches] writer crash attempt ${attempt}: published to ${published} (batch from ${before}), batch ${caught ? "cut" : "not cut mid-way"}`);
    if (!caught) await follower.close();
  }
  assert.ok(caught, "never caught the writer between a batch's fragments and its commit");
  // The follower applies the published fragments, then is restarted inside the abandoned batch.
  await follower!.caughtUp(published, 5000);
  await follower!.db.refresh();
  assert.is(count(follower!.db, "x"), 0, "fragments without their commit are visible");
  await follower!.close();
  follower = await openFollower(fdir, followerOptions(streamName));
  let f = follower!;
  const w2 = await open(dir, opts);
  try {
    assert.is(count(w2, "x"), 0, "the cut batch is not in the writer");
    const pub2 = await startPublisher(w2, { servers: server.url, stream: streamName, replicas: 1 });
    try {
      let yStart = Number.MAX_SAFE_INTEGER;
      // Writes after the abandonment: puts, another large batch, deletes; awkward checkpoints.
      const writes = (async () => {
        for (let i = 0; i < 300; i++) await w2.put(`d${pad(i)}`, `d${i}:`.padEnd(3000, "d"));
        yStart = durable(w2);
        await w2.batch([...batchOps("y"), { type: "delete" as const, key: `a${pad(3)}` }]);
        for (let i = 0; i < 50; i++) await w2.put(`e${pad(i)}`, `e${i}`);
        await w2.delete(`d${pad(5)}`);
      })();
      const torn: string[] = [];
      let polls = 0;
      let restarted = "";
      const check = async () => {
        await f.db.refresh().catch(() => {});
        const [x, y] = counts(f.db, ["x", "y"]);
        if (x !== 0) torn.push(`abandoned batch visible: ${x} keys at ${f.appliedLsn}`);
        if (y !== 0 && y !== N) torn.push(`half batch y: ${y} at ${f.appliedLsn}`);
        polls++;
      };
      let writesDone = false;
      writes.then(() => (writesDone = true), () => (writesDone = true));
      const deadline = Date.now() + 8000;
      while (!writesDone && Date.now() < deadline) {
        await check();
        // Restart the follower once, in the middle of batch y's log if it is there.
        if (!restarted && f.appliedLsn > yStart && f.appliedLsn < durable(w2)) {
          restarted = `at ${f.appliedLsn} (batch y from ${yStart}, writer at ${durable(w2)})`;
          await f.close();
          f = await openFollower(fdir, followerOptions(streamName));
        }
        await tick();
      }
      await writes;
      await pub2.caughtUp();
      const end = durable(w2);
      while (f.appliedLsn < end && !f.failure && Date.now() < deadline + 4000) {
        await check();
        await tick();
      }
      await f.caughtUp(end, 5000);
      await f.db.refresh();
      assert.equal(torn, [], `${torn.length} bad of ${polls} polls`);
      assert.is(entries(f.db), entries(w2), "the follower's state is the writer's");
      console.log(`  [follower-large-batches] writer killed: ${polls} polls, restarted ${restarted}, follower checkpoints ${f.stats().checkpoints}, end ${end}`);
    } finally {
      await pub2.close({ forget: true });
    }
  } finally {
    await f.close().catch(() => {});
    await w2.close();
  }
});

test.run();
