// The publisher's retained reader slot and its snapshots (src/replicate/publisher.ts,
// snapshot.ts), against a real 3-node JetStream cluster on 127.0.0.1. Each test is a defect
// an adversarial review found on 2026-12-05, seen failing before its fix:
// - A snapshot uploaded while the writer goes on: uploadSnapshot read the MANIFEST
//   (checkpoint C), uploaded its tables, and only then listed the log, taking
//   lsn = max(C, first segment); meanwhile the run loop moved the slot to the stream's
//   acknowledged end, the writer flushed and trimmed, and the snapshot named an LSN past C:
//   a follower bootstrapped from it silently lacked the records between. The upload is held
//   at its first table chunk by a gate on the publisher's own connection: no timing.
// - A publisher whose slot was evicted (here the test unlinks the slot file, as
//   ReaderRetention.floor does) restarted from its new snapshot's LSN whatever the stream
//   held: records already in the stream, above the writer's checkpoint, were published
//   again, and the stream's LSNs went backwards.
// - A publisher started on a stream that already had a snapshot (its predecessor closed with
//   forget: true) made its slot claiming MANIFEST version 0 and never moved it: the writer
//   kept every table a compaction dropped, and the slot, rewritten as the stream moved, was
//   never old enough to be evicted.
// From the replication review of 2026-12-06 (second), found by reading and seen failing
// before its fix: a publisher whose slot was evicted and whose next records the writer had
// trimmed reclaimed the slot at the log's oldest segment, and its snapshot upload then wrote
// the slot back at its old acknowledged LSN, below the log's start: the writer counted the
// whole gap as held and could evict the slot again before the publisher moved it on.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { Platform } from "../../src/platform.ts";
import type { Database } from "../../src/engine/database.ts";
import { bindReplicateApi } from "../../src/replicate/public.ts";
import { decodeMessageId } from "../../src/replicate/stream-messages.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { type NatsCluster, sharedNatsCluster } from "../harness/nats-cluster.ts";
import { cleanup, dec, eventually, open, platform, tempDir } from "../engine/helpers.ts";
import { gated } from "./helpers.ts";

const test = suite("replicate: the publisher's slot and snapshots");
const { startPublisher, openFollower } = bindReplicateApi(platform);
let cluster: NatsCluster;

test.before(async () => {
  cluster = await sharedNatsCluster();
});
test.after.each(cleanup);

/** Puts `<prefix><i>` = `<i>:` padded to `bytes` bytes, for i in [from, to), all in flight at once. */
async function writeRange(db: Database, from: number, to: number, prefix: string, bytes: number): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) writes.push(db.put(`${prefix}${String(i).padStart(6, "0")}`, `${i}:`.padEnd(bytes, "v")));
  await Promise.all(writes);
}

/** Puts `k<i>` = "value <i> " repeated 1-5 times, for i in [from, to), all in flight at once. */
async function writeValues(db: Database, from: number, to: number): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) writes.push(db.put(`k${String(i).padStart(6, "0")}`, `value ${i} `.repeat(1 + (i % 5))));
  await Promise.all(writes);
}

function entries(db: Database): string[] {
  return [...db.scan()].map(([k, v]) => `${dec.decode(k)}=${dec.decode(v).length}`);
}

/** Table files in the writer's directory that its MANIFEST no longer names (compaction inputs kept for a reader), and their bytes. */
function droppedTables(dir: string, db: Database): { files: number; bytes: number } {
  const named = db.stats().shards.reduce((n, s) => n + s.tables, 0);
  const all = platform.readdir(`${dir}/tables`).filter((n) => n.endsWith(".sst"));
  const total = all.reduce((n, name) => n + (platform.stat(`${dir}/tables/${name}`)?.size ?? 0), 0);
  const namedBytes = db.stats().shards.reduce((n, s) => n + s.tableBytes, 0);
  return { files: all.length - named, bytes: total - namedBytes };
}

/** Writes and flushes until the writer compacted `n` times more. */
async function compact(db: Database, publisher: { caughtUp(): Promise<void> }, n: number, from: number): Promise<number> {
  const before = db.stats().compactions;
  let i = from;
  for (let round = 0; round < 40 && db.stats().compactions - before < n; round++, i += 2000) {
    await writeValues(db, i, i + 2000);
    await db.flush();
    await publisher.caughtUp();
  }
  assert.ok(db.stats().compactions - before >= n, `compactions: ${db.stats().compactions - before}`);
  return i;
}

test("a snapshot uploaded while the writer flushes and trims its log: a follower bootstrapped from it has every record (its LSN is the checkpoint of the MANIFEST it copied)", async () => {
  const stream = `rv-trim-${Date.now().toString(36)}`;
  const dir = tempDir();
  // 1 MiB memtables: the writer flushes (moves its checkpoint, trims its log) every MiB or so.
  const writer = await open(dir, { memtableBytesMax: 1024 * 1024, walSegmentBytesMax: 2 * 1024 * 1024, shards: 1 });
  const nc = await connect({ servers: cluster.servers });
  const { proxy, state } = gated(nc, (subject) => subject.startsWith(`$O.${stream}-snapshots.C.`));
  const publisher = await startPublisher(writer, { connection: proxy, stream });
  let release = () => {};
  try {
    await writeRange(writer, 0, 200, "a", 200);
    await publisher.caughtUp();
    state.gate = new Promise<void>((resolve) => (release = resolve));
    const snapshot = publisher.snapshot();
    snapshot.catch(() => {});
    await eventually(() => state.held > 0, "the snapshot upload reaching its first table chunk (its MANIFEST read)", 8000);
    const slotDuringUpload = JSON.parse(dec.decode(platform.readFile(`${dir}/readers/retain-publisher-${stream}.reader`)));
    // Meanwhile the writer goes on: 5 MiB of log, published; the run loop moves the slot to
    // the acknowledged end; 1.5 MiB more make the writer flush and trim below its checkpoint.
    await writeRange(writer, 0, 1300, "b", 4000);
    await publisher.caughtUp(undefined, 20_000);
    const acked = publisher.stats().ackedLsn;
    await eventually(() => JSON.parse(dec.decode(platform.readFile(`${dir}/readers/retain-publisher-${stream}.reader`))).lsn >= acked, "the run loop storing the slot at the acknowledged end", 5000);
    await writeRange(writer, 0, 400, "c", 4000);
    await publisher.caughtUp(undefined, 20_000);
    const firstLsn = listSegmentFiles(platform, `${dir}/wal`)[0].firstLsn;
    assert.ok(firstLsn > slotDuringUpload.lsn, `precondition: the writer trimmed its log during the upload (it starts at LSN ${firstLsn})`);
    release();
    const info = await snapshot;
    const follower = await openFollower(tempDir(), { servers: cluster.servers, stream });
    try {
      await follower.caughtUp(Number(writer.stats().wal.durableLsn));
      await follower.db.refresh();
      const want = entries(writer);
      const got = entries(follower.db);
      const missing = want.filter((e) => !got.includes(e));
      assert.is(missing.length, 0, `the snapshot names MANIFEST version ${info.manifestVersion} (its tables hold no record at or past LSN ${slotDuringUpload.lsn}: the upload set the slot to min(acknowledged, checkpoint)) but lsn ${info.lsn} (the log's first segment after the trim): a follower bootstrapped from it lacks ${missing.length} of ${want.length} keys, e.g. ${missing.slice(0, 2).join(", ")}`);
    } finally {
      await follower.close();
    }
  } finally {
    release();
    await publisher.close({ forget: true });
    await nc.close();
    await writer.close();
  }
});

test("a publisher whose slot is evicted while the stream holds records past the writer's checkpoint goes on from the stream's end: no record published twice, LSNs only grow", async () => {
  const stream = `rv-evict-${Date.now().toString(36)}`;
  const dir = tempDir();
  // Large memtables: nothing is flushed, the writer's checkpoint stays at the log's start.
  const writer = await open(dir, { memtableBytesMax: 8 * 1024 * 1024, shards: 1 });
  const nc = await connect({ servers: cluster.servers });
  const publisher = await startPublisher(writer, { servers: cluster.servers, stream });
  try {
    await writer.put("first", "1");
    await publisher.caughtUp();
    await writeValues(writer, 0, 400);
    await publisher.caughtUp();
    await writeValues(writer, 400, 800);
    await publisher.caughtUp();
    const jsm = await jetstreamManager(nc);
    const before = (await jsm.streams.info(stream)).state.last_seq;
    // The writer's eviction of the slot (ReaderRetention.floor unlinks the file).
    platform.unlink(`${dir}/readers/retain-publisher-${stream}.reader`);
    await eventually(() => publisher.stats().snapshots >= 2, "the publisher restarting from a new snapshot", 8000);
    await writer.put("last", "2");
    await publisher.caughtUp();
    const info = await jsm.streams.info(stream);
    let next: number | undefined;
    const ids: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      const raw = m!.header.get("Nats-Msg-Id");
      ids.push(`${seq}:${raw}`);
      const id = decodeMessageId(raw, `message ${seq}`);
      assert.ok(next === undefined || id.lsn === next, `message ${seq} (${raw}) starts at LSN ${id.lsn}, the message before it ended at ${next}: the stream repeats records (stream before the eviction ended at sequence ${before}; ids ${ids.join(" ")})`);
      if (id.end !== undefined) next = id.end;
    }
  } finally {
    await publisher.close({ forget: true });
    await nc.close();
    await writer.close();
  }
});

test("a publisher restarted after close({ forget: true }) on a stream with a snapshot claims no table: the writer deletes what compactions drop", async () => {
  const stream = `rv-tables-${Date.now().toString(36)}`;
  const dir = tempDir();
  const writer = await open(dir, { memtableBytesMax: 64 * 1024, shards: 1, readerRetainBytesMax: 256 * 1024 });
  try {
    const first = await startPublisher(writer, { servers: cluster.servers, stream });
    let next = await compact(writer, first, 2, 0);
    // Control: the publisher that uploaded the stream's first snapshot holds no table. (The
    // actor may still be writing a table its MANIFEST does not name yet: a flush or merge
    // in flight, so the count is waited for, not read once.)
    await eventually(() => droppedTables(dir, writer).files === 0, "no dropped table kept under the first publisher", 5000);
    await first.close({ forget: true });
    const second = await startPublisher(writer, { servers: cluster.servers, stream });
    try {
      next = await compact(writer, second, 4, next);
      const slot = JSON.parse(new TextDecoder().decode(platform.readFile(`${dir}/readers/retain-publisher-${stream}.reader`)));
      await eventually(() => droppedTables(dir, writer).files === 0, "no dropped table kept under the second publisher", 5000).catch(() => {});
      const kept = droppedTables(dir, writer);
      assert.is(kept.files, 0, `the writer kept ${kept.files} table files (${kept.bytes} bytes) its MANIFEST dropped, past readerRetainBytesMax = 256 KiB: the publisher's slot claims MANIFEST version ${slot.manifestVersion}, and was never evicted`);
    } finally {
      await second.close({ forget: true });
    }
  } finally {
    await writer.close();
  }
});

/**
 * The platform, recording every write of the publisher slot of `stream` in `dir` (the LSN it
 * names) beside the first LSN of the writer's log at that moment.
 */
function recordingSlotWrites(dir: string, stream: string) {
  const writes: Array<{ lsn: number; oldest: number }> = [];
  const slotPath = `${dir}/readers/retain-publisher-${stream}.reader`;
  const wrapped: Platform = Object.create(platform);
  wrapped.rename = (from: string, to: string) => {
    if (to === slotPath) {
      const lsn = Number(JSON.parse(dec.decode(platform.readFile(from))).lsn);
      writes.push({ lsn, oldest: listSegmentFiles(platform, `${dir}/wal`)[0]?.firstLsn ?? 0 });
    }
    return platform.rename(from, to);
  };
  return { wrapped, writes };
}

test("a publisher whose next records the writer trimmed restarts from a snapshot without writing its slot below the log's start", async () => {
  const stream = `rv-trimmed-${Date.now().toString(36)}`;
  const dir = tempDir();
  // Small memtables and segments, and a writer that keeps at most 2 MiB for a reader: while
  // the publisher is held, the writer flushes, evicts its slot and trims past it.
  const writer = await open(dir, { memtableBytesMax: 1024 * 1024, walSegmentBytesMax: 2 * 1024 * 1024, readerRetainBytesMax: 2 * 1024 * 1024, shards: 1 });
  const nc = await connect({ servers: cluster.servers });
  const subject = `shardline.${stream}`;
  const hold = { gate: undefined as Promise<void> | undefined };
  const proxy = new Proxy(nc, {
    get(target, prop) {
      if (prop === "request") {
        return async (subj: string, data?: unknown, opts?: unknown) => {
          if (hold.gate && subj === subject) await hold.gate;
          return (target.request as (...a: unknown[]) => unknown)(subj, data, opts);
        };
      }
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const { wrapped, writes } = recordingSlotWrites(dir, stream);
  const publisher = await bindReplicateApi(wrapped).startPublisher(writer, { connection: proxy, stream });
  let release = () => {};
  try {
    await writeRange(writer, 0, 100, "a", 200);
    await publisher.caughtUp();
    const ackedBefore = publisher.stats().ackedLsn;
    hold.gate = new Promise<void>((resolve) => (release = resolve));
    for (let round = 0; round < 40 && (listSegmentFiles(platform, `${dir}/wal`)[0]?.firstLsn ?? 0) <= ackedBefore; round++) {
      await writeRange(writer, round * 200, (round + 1) * 200, "b", 1000);
      await writer.flush();
    }
    assert.ok(listSegmentFiles(platform, `${dir}/wal`)[0].firstLsn > ackedBefore, "precondition: the writer trimmed its log past what the stream acknowledged");
    hold.gate = undefined;
    release();
    await eventually(() => publisher.stats().snapshots >= 2, "the publisher restarting from a new snapshot", 15_000);
    await publisher.caughtUp(undefined, 20_000);
    const below = writes.filter((w) => w.lsn < w.oldest);
    assert.equal(below, [], `slot writes below the log's first LSN: ${JSON.stringify(below)} (all: ${JSON.stringify(writes.slice(-6))})`);
  } finally {
    release();
    await publisher.close({ forget: true });
    await nc.close();
    await writer.close();
  }
});

test.run();
