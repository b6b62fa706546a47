/**
 * bench/replicate: followers through NATS JetStream (src/replicate/), in the runtime running
 * this file, against a 3-server JetStream cluster on 127.0.0.1 (tests/harness/nats-cluster.ts;
 * streams with 3 replicas, as docs/REPLICATION.md recommends).
 *
 * - the writer's durable puts per second (durability "full", 256 in flight, 16-byte keys,
 *   100-byte values) for a fixed time, without a publisher, then with one publishing to the
 *   stream while a follower in another process of the same runtime applies it;
 * - follower lag under that load: every 10 ms the writer notes its durable LSN and the
 *   time; the follower process reports each time its applied (durable) LSN moves, with the
 *   time; the lag of a note is the time until the follower had applied past its LSN: p50 and
 *   p99 over the notes, and how long the follower took to catch up once the writer stopped;
 * - the follower's own record delay (from the stream taking a record to the follower's
 *   fdatasync), from follower.stats().
 *
 * On the 2-core development VM three nats-server processes, the writer and the follower
 * share two cores: the figures are what that costs, not what separate machines would see.
 * Prints a readable table and `SHARDLINE-BENCH {json}`. usage: <runtime> bench/replicate/main.ts [--quick]
 */
import process from "node:process";
import { bindDatabaseApi, type Database } from "../../src/engine/public.ts";
import { bindReplicateApi } from "../../src/replicate/public.ts";
import { spawnChild } from "../../tests/harness/child.ts";
import { startNatsCluster } from "../../tests/harness/nats-cluster.ts";
import { randomKeys, ValuePool } from "../lib/data.ts";
import { currentPlatform, runtimeName } from "../lib/platform.ts";
import { percentile } from "../lib/timing.ts";

const args = "Deno" in globalThis ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args : process.argv.slice(2);
const quick = args.includes("--quick");
const platform = await currentPlatform();
const { open } = bindDatabaseApi(platform);
const { startPublisher } = bindReplicateApi(platform);
const LOAD_MS = quick ? 300 : 6000;
const IN_FLIGHT = 256;
const NOTE_EVERY_MS = 10;
const FOLLOWER = new URL("./follower.ts", import.meta.url).pathname;

const root = platform.makeTempDir("shardline-bench-replicate-");
const keys = randomKeys(200_000, 16, 7);
const values = new ValuePool(100, 8);

/** Durable puts, IN_FLIGHT at a time, for LOAD_MS; `onTick` every NOTE_EVERY_MS. Returns puts per second. */
async function load(db: Database, onTick?: () => void): Promise<number> {
  let done = 0;
  let i = 0;
  const started = performance.now();
  let nextNote = started;
  const worker = async () => {
    while (performance.now() - started < LOAD_MS) {
      const n = i++;
      await db.put(keys[n % keys.length], values.at(n));
      done++;
      if (onTick && performance.now() >= nextNote) {
        nextNote += NOTE_EVERY_MS;
        onTick();
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return done / ((performance.now() - started) / 1000);
}

const cluster = await startNatsCluster();
let result: Record<string, unknown>;
try {
  await cluster.ready();
  const servers = cluster.servers.join(",");

  const plain = await open(`${root}/plain`, { durability: "full" });
  const withoutPerSecond = await load(plain);
  await plain.close();

  const db = await open(`${root}/writer`, { durability: "full" });
  const stream = `bench-${runtimeName()}`;
  const publisher = await startPublisher(db, { servers: cluster.servers, stream });
  const follower = spawnChild(runtimeName(), FOLLOWER, [`${root}/follower`, servers, stream]);
  await follower.waitFor("ready");
  const applied: Array<{ lsn: number; at: number }> = [];
  let followerStats: { delayMs: { p50: number; p99: number } } | undefined;
  const reading = (async () => {
    for (;;) {
      const line = await follower.nextLine();
      if (line.startsWith("applied ")) {
        const [, lsn, at] = line.split(" ").map(Number);
        applied.push({ lsn, at });
      } else if (line.startsWith("stats ")) {
        followerStats = JSON.parse(line.slice(6));
        return;
      }
    }
  })();
  const notes: Array<{ lsn: number; at: number }> = [];
  const withPerSecond = await load(db, () => notes.push({ lsn: Number(db.stats().wal.durableLsn), at: Date.now() }));
  const stoppedAt = Date.now();
  const endLsn = Number(db.stats().wal.durableLsn);
  while (!(applied.at(-1)!?.lsn >= endLsn) && Date.now() - stoppedAt < 120_000) await new Promise((r) => setTimeout(r, 5));
  const caughtUpMs = (applied.at(-1)?.at ?? Date.now()) - stoppedAt;
  follower.send("stop");
  await reading;
  await follower.waitExit();
  const publisherStats = publisher.stats();
  await publisher.close({ forget: true });
  await db.close();

  // The lag of each note: until the follower's applied LSN passed it.
  const lags: number[] = [];
  let j = 0;
  for (const note of notes) {
    while (j < applied.length && applied[j].lsn < note.lsn) j++;
    if (j < applied.length) lags.push(Math.max(0, applied[j].at - note.at));
  }
  result = {
    bench: "replicate",
    runtime: runtimeName(),
    runtimeVersion: platform.runtimeVersion,
    loadMs: LOAD_MS,
    inFlight: IN_FLIGHT,
    withoutPublisherPerSecond: withoutPerSecond,
    withPublisherPerSecond: withPerSecond,
    ratio: withPerSecond / withoutPerSecond,
    lagMs: { p50: percentile(lags, 50), p99: percentile(lags, 99), notes: lags.length },
    caughtUpMs,
    followerDelayMs: followerStats?.delayMs,
    published: { records: publisherStats.records, resumes: publisherStats.resumes },
  };
} finally {
  await cluster.stop();
  platform.removeAll(root);
}
const r = result as { withoutPublisherPerSecond: number; withPublisherPerSecond: number; ratio: number; lagMs: { p50: number; p99: number; notes: number }; caughtUpMs: number; followerDelayMs?: { p50: number; p99: number } };
const rows: Array<[string, string]> = [
  ["durable puts/s, 256 in flight, no publisher", r.withoutPublisherPerSecond.toFixed(0)],
  ["durable puts/s, 256 in flight, publisher + follower (3 replicas)", `${r.withPublisherPerSecond.toFixed(0)} (${r.ratio.toFixed(2)}x)`],
  ["follower lag behind the writer's acks, p50 / p99", `${r.lagMs.p50.toFixed(0)} / ${r.lagMs.p99.toFixed(0)} ms (${r.lagMs.notes} notes)`],
  ["follower caught up after the load stopped", `${r.caughtUpMs} ms`],
  ["follower record delay, stream to fdatasync, p50 / p99", r.followerDelayMs ? `${r.followerDelayMs.p50.toFixed(1)} / ${r.followerDelayMs.p99.toFixed(1)} ms` : "—"],
];
console.log(`bench/replicate (${runtimeName()})`);
for (const [name, figure] of rows) console.log(`  ${name.padEnd(66)} ${figure}`);
console.log(`SHARDLINE-BENCH ${JSON.stringify(result)}`);
process.exit(0);
