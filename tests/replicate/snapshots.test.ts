// Snapshots and bootstrap (src/replicate/snapshot.ts), against one nats-server of the
// file's own on 127.0.0.1 (tests/replicate/helpers.ts); every wait bounded. Two defects an
// adversarial review found on 2026-12-07, each seen failing before its fix:
// - An upload skipped a table whose name and size were already in the bucket; table names
//   are the same in every database, so objects another database's publisher left (killed
//   before its `latest`) were taken for this one's, and a new follower held 162 of 400 keys
//   with that database's values. Only objects this database's previous snapshot names are
//   reused now.
// - Two publishers of one writer uploading at once: the first to finish deleted every object
//   neither of its last two snapshots named, the second's included, whose `latest` then
//   named objects the bucket no longer held (every new follower refused until the next
//   snapshot). Only objects stored before the previous `latest` (by bucket revision) are
//   deleted now, and `latest` is replaced only over the one its upload read (a
//   compare-and-set: a review of that fix found one publisher's two snapshots during the
//   other's upload still deleting what the other then named, and `latest` moving back);
//   the last test shows that old objects still go.
// And what held: a snapshot object deleted before the download, a stream purged above the
// snapshot's LSN, a stream purged empty, an upload held while merges (deletes merges among
// them) dropped the tables it lists (review of replication against compaction, 2026-12-07).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { toolCore } from "../../src/cli/database.ts";
import { FOLLOWER_FILE_NAME, MANIFEST_NAME, readManifest, tableFileName } from "../../src/engine/manifest.ts";
import { bindReplicateApi, ReplicationError, ReplicationGapError } from "../../src/replicate/public.ts";
import { snapshotBucket } from "../../src/replicate/snapshot.ts";
import { cleanup, dec, eventually, open, platform, rows, tempDir } from "../engine/helpers.ts";
import { gated, mergesSettled, type OwnNatsServer, ownNatsServer, within } from "./helpers.ts";

const test = suite("replicate: snapshots and bootstrap");
const { startPublisher, openFollower } = bindReplicateApi(platform);
let server: OwnNatsServer;

test.before(async () => {
  server = await ownNatsServer();
});
test.after(async () => {
  await server?.stop();
});
test.after.each(cleanup);

const KEYS = 400;
const key = (i: number) => `k${String(i).padStart(4, "0")}`;
const value = (who: string, i: number) => `${who} value ${i}`.padEnd(300, ".");

type Writer = Awaited<ReturnType<typeof open>>;

/** A writer of one shard with `KEYS` puts of `who`'s values, and tables flushed from them (read from its MANIFEST). */
async function writerWithTables(who: string): Promise<{ writer: Writer; dir: string; tables: { name: string; bytes: number; entries: number }[] }> {
  // Written into one large memtable, then replayed at a reopen into 64 KiB ones: the
  // replay freezes them at the same records every time (background freezes, between awaited
  // puts, cut tables wherever the writer was idle), so two databases written alike get
  // tables of the same numbers and sizes.
  const dir = tempDir();
  const first = await open(dir, { shards: 1 });
  for (let i = 0; i < KEYS; i++) await first.put(key(i), value(who, i));
  await first.close();
  const writer = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  const core = await toolCore();
  try {
    let tables: { name: string; bytes: number; entries: number }[] = [];
    await eventually(() => {
      tables = (readManifest(core, platform, dir)?.tables ?? []).map((t) => ({ name: tableFileName(t.number), bytes: t.bytes, entries: t.entries }));
      return tables.length >= 1;
    }, `${who}'s memtables flushed into tables`, 5_000);
    return { writer, dir, tables };
  } finally {
    core.detach();
  }
}

test("a bucket holding another database's table objects (same names and sizes, no `latest`: its publisher killed mid-upload) is not taken for this database's snapshot: a follower holds this database's values", async () => {
  const stream = `foreigntables-${Date.now().toString(36)}`;
  const a = await writerWithTables("A");
  const b = await writerWithTables("B");
  const nc = await connect({ servers: server.url });
  try {
    // Database A's first upload stored its tables and was killed before `latest`.
    const store = await new Objm(nc).create(snapshotBucket(stream), { replicas: 1 });
    for (const t of a.tables) await store.putBlob({ name: `tables/${t.name}` }, platform.readFile(`${a.dir}/tables/${t.name}`));
    await a.writer.close();
    // Database B (another database, same shape: its tables have A's numbers and sizes) publishes on the stream name.
    // (The replay freezes the same memtables in both; a last one frozen when idle may differ.)
    const alike = b.tables.filter((t) => a.tables.some((u) => u.name === t.name && u.bytes === t.bytes && u.entries === t.entries));
    assert.ok(alike.length > 0, `precondition: a table of B has the name, size and entries of one of A's: ${JSON.stringify({ a: a.tables, b: b.tables })}`);
    const publisher = await startPublisher(b.writer, { servers: server.url, stream, replicas: 1 });
    try {
      await publisher.caughtUp(undefined, 5_000);
      const follower = await openFollower(tempDir(), { servers: server.url, stream, bootstrapTimeoutMs: 2_000 });
      try {
        await follower.caughtUp(Number(b.writer.stats().wal.durableLsn), 5_000);
        await follower.db.refresh();
        const wrong: string[] = [];
        for (let i = 0; i < KEYS; i++) {
          const got = follower.db.get(key(i));
          const text = got === undefined ? undefined : dec.decode(got);
          if (text !== value("B", i)) wrong.push(`${key(i)}=${text?.slice(0, 12)}`);
        }
        assert.equal(wrong.length, 0, `the follower of database B holds ${wrong.length} of ${KEYS} keys with other values, e.g. ${wrong.slice(0, 3).join(", ")} (database A's tables, reused by name and size)`);
      } finally {
        await follower.close();
      }
    } finally {
      await publisher.close({ forget: true });
    }
  } finally {
    await nc.close();
    await b.writer.close();
  }
});

test("a snapshot table deleted from the bucket before a new follower downloads it: a typed ReplicationError, the directory left `bootstrapping` without a MANIFEST; after the next snapshot the same directory bootstraps whole", async () => {
  const stream = `missingtable-${Date.now().toString(36)}`;
  const w = await writerWithTables("W");
  const nc = await connect({ servers: server.url });
  const dir = tempDir();
  try {
    const publisher = await startPublisher(w.writer, { servers: server.url, stream, replicas: 1 });
    try {
      await publisher.caughtUp(undefined, 5_000);
      const store = await new Objm(nc).open(snapshotBucket(stream));
      const latest = JSON.parse(dec.decode((await store.getBlob("latest"))!)) as { tables: string[] };
      assert.ok(latest.tables.length > 0, JSON.stringify(latest));
      await store.delete(latest.tables[0]);
      const first = await within(10_000, openFollower(dir, { servers: server.url, stream, bootstrapTimeoutMs: 2_000 }).then(async (f) => {
        await f.close();
        return "opened";
      }, (e: unknown) => e));
      assert.instance(first, ReplicationError, `openFollower with ${latest.tables[0]} missing: ${first}`);
      assert.match(String(first), /missing/, String(first));
      const state = JSON.parse(dec.decode(platform.readFile(`${dir}/${FOLLOWER_FILE_NAME}`))).state;
      assert.is(state, "bootstrapping");
      assert.not.ok(platform.stat(`${dir}/${MANIFEST_NAME}`), "no MANIFEST installed from half a snapshot");
      // The next snapshot uploads the table again; the interrupted bootstrap is redone.
      await publisher.snapshot();
      const follower = await within(10_000, openFollower(dir, { servers: server.url, stream, bootstrapTimeoutMs: 2_000 }));
      if (follower === "timed out") assert.unreachable("the second openFollower did not end within 10 s");
      else {
        try {
          for (let i = 0; i < 5; i++) await w.writer.put(`after${i}`, "x");
          await follower.caughtUp(Number(w.writer.stats().wal.durableLsn), 5_000);
          await follower.db.refresh();
          const pairs = [...follower.db.scan()].length;
          assert.is(pairs, KEYS + 5, `pairs on the follower bootstrapped again`);
        } finally {
          await follower.close();
        }
      }
    } finally {
      await publisher.close({ forget: true });
    }
  } finally {
    await nc.close();
    await w.writer.close();
  }
});

test("a new follower whose snapshot LSN is below the stream's oldest record (purged by hand) stops with ReplicationGapError within 5 s, applying nothing", async () => {
  const stream = `purgedabove-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { shards: 1 });
  const nc = await connect({ servers: server.url });
  try {
    const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    try {
      const snapshotLsn = publisher.stats().lastSnapshotLsn!;
      // Two batches of puts, each published before the next is written: at least two
      // messages (a loaded publisher gathered all 50 puts into one run once, at the
      // snapshot's LSN, and a purge keeping the last message then kept everything).
      for (const from of [0, 25]) {
        for (let i = from; i < from + 25; i++) await writer.put(key(i), value("P", i));
        await publisher.caughtUp(undefined, 5_000);
      }
      const jsm = await jetstreamManager(nc);
      await jsm.streams.purge(stream, { keep: 1 });
      const first = await jsm.streams.getMessage(stream, { seq: (await jsm.streams.info(stream)).state.first_seq });
      const firstLsn = Number((first?.header?.get("Nats-Msg-Id") ?? "").split(/[-/]/)[0]);
      assert.ok(firstLsn > snapshotLsn, `set-up: the stream now starts at LSN ${firstLsn}, above the snapshot's ${snapshotLsn}`);
      const follower = await openFollower(tempDir(), { servers: server.url, stream, bootstrapTimeoutMs: 2_000 });
      try {
        assert.is(follower.appliedLsn, snapshotLsn);
        const stopped = await within(5_000, follower.done);
        assert.instance(stopped, ReplicationGapError, `the follower at LSN ${snapshotLsn} on a stream purged above it: ${String(stopped)}`);
        assert.is(follower.appliedLsn, snapshotLsn, "nothing applied past the gap");
      } finally {
        await follower.close();
      }
    } finally {
      await publisher.close({ forget: true });
    }
  } finally {
    await nc.close();
    await writer.close();
  }
});

test("a new follower on a stream purged empty (a quiet writer's records all gone, e.g. max_age) applies none of the next record and stops with ReplicationGapError once it comes", async () => {
  const stream = `purgedempty-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { shards: 1 });
  const nc = await connect({ servers: server.url });
  try {
    const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    try {
      const snapshotLsn = publisher.stats().lastSnapshotLsn!;
      for (let i = 0; i < 20; i++) await writer.put(key(i), value("Q", i));
      await publisher.caughtUp(undefined, 5_000);
      const jsm = await jetstreamManager(nc);
      await jsm.streams.purge(stream);
      const follower = await openFollower(tempDir(), { servers: server.url, stream, bootstrapTimeoutMs: 2_000 });
      try {
        assert.is(follower.appliedLsn, snapshotLsn);
        await writer.put("next", "1");
        await publisher.caughtUp(undefined, 5_000);
        const stopped = await within(5_000, follower.done);
        assert.instance(stopped, ReplicationGapError, `the follower at LSN ${snapshotLsn}, the stream emptied then given one record past a hole: ${String(stopped)}`);
        assert.is(follower.appliedLsn, snapshotLsn, "nothing applied past the hole");
      } finally {
        await follower.close();
      }
    } finally {
      await publisher.close({ forget: true });
    }
  } finally {
    await nc.close();
    await writer.close();
  }
});

const tableCount = (db: Writer) => db.stats().shards.reduce((n, s) => n + s.tables, 0);

/** Puts until the writer has `n` tables (bounded rounds). */
async function untilTables(db: Writer, n: number, tag: string): Promise<void> {
  for (let round = 0; round < 40 && tableCount(db) < n; round++) {
    for (let i = 0; i < 100; i++) await db.put(`${tag}${round}-${i}`, value(tag, i));
    await db.flush();
    const until = Date.now() + 300;
    while (tableCount(db) < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(tableCount(db) >= n, `precondition: ${tableCount(db)} tables, wanted ${n}`);
}

/** The bucket's `latest`, and the objects it names that the bucket no longer holds. */
async function latestAndMissing(store: Awaited<ReturnType<Objm["open"]>>) {
  const latest = JSON.parse(dec.decode((await store.getBlob("latest"))!)) as { lsn: number; manifest: string; tables: string[] };
  const missing: string[] = [];
  for (const name of [latest.manifest, ...latest.tables]) {
    const info = await store.info(name);
    if (!info || info.deleted) missing.push(name);
  }
  return { latest, missing };
}

/** latestAndMissing, and what a new follower's bootstrap from `latest` gives ("opened", or its error). */
async function latestAndNewFollower(store: Awaited<ReturnType<Objm["open"]>>, stream: string) {
  const { latest, missing } = await latestAndMissing(store);
  const follower = await within(10_000, openFollower(tempDir(), { servers: server.url, stream, bootstrapTimeoutMs: 2_000 }).then(async (f) => {
    await f.close();
    return "opened";
  }, (e: unknown) => e));
  return { latest, missing, follower };
}

test("two publishers of one writer uploading snapshots at once: neither deletes an object the other's `latest` then names (a new follower bootstraps)", async () => {
  const stream = `twouploads-${Date.now().toString(36)}`;
  const bucket = snapshotBucket(stream);
  const writer = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024 });
  const nc1 = await connect({ servers: server.url });
  const nc2 = await connect({ servers: server.url });
  const nc = await connect({ servers: server.url });
  // P1 held at its snapshot's first table chunk; P2 held when it writes `latest` (its metadata).
  const one = gated(nc1, (subject) => subject.startsWith(`$O.${bucket}.C.`));
  const latestMeta = `$O.${bucket}.M.${btoa("latest").replace(/\+/g, "-").replace(/\//g, "_")}`;
  const two = gated(nc2, (subject) => subject === latestMeta);
  let release1 = () => {};
  let release2 = () => {};
  try {
    await untilTables(writer, 1, "a");
    const p1 = await startPublisher(writer, { connection: one.proxy, stream, replicas: 1 });
    const p2 = await startPublisher(writer, { connection: two.proxy, stream, replicas: 1 });
    try {
      const store = await new Objm(nc).open(bucket);
      const s0 = JSON.parse(dec.decode((await store.getBlob("latest"))!)) as { tables: string[] };
      assert.ok(s0.tables.length >= 1, `the first snapshot has a table: ${JSON.stringify(s0)}`);
      // A new table, then P1's snapshot held uploading it.
      await untilTables(writer, s0.tables.length + 1, "b");
      await p1.caughtUp(undefined, 5_000);
      one.state.gate = new Promise<void>((r) => (release1 = r));
      const snap1 = p1.snapshot();
      snap1.catch(() => {});
      await eventually(() => one.state.held > 0, "P1's snapshot held at its first table chunk", 5_000);
      // Another new table, and P2's snapshot of it, stored but for its `latest`.
      await untilTables(writer, s0.tables.length + 2, "c");
      await p2.caughtUp(undefined, 5_000);
      two.state.gate = new Promise<void>((r) => (release2 = r));
      const snap2 = p2.snapshot();
      snap2.catch(() => {});
      await eventually(() => two.state.held > 0, "P2's snapshot held at its `latest`", 5_000);
      one.state.gate = undefined;
      release1();
      const info1 = await within(5_000, snap1);
      two.state.gate = undefined;
      release2();
      const info2 = await within(5_000, snap2);
      const { latest, missing, follower } = await latestAndNewFollower(store, stream);
      assert.equal(missing, [], `\`latest\` (${JSON.stringify(latest)}) names objects the bucket no longer holds: ${missing.join(", ")} (P1's snapshot ${JSON.stringify(info1)}, P2's ${JSON.stringify(info2)}); a new follower: ${String(follower)}`);
      assert.is(follower, "opened", `a new follower: ${String(follower)}`);
    } finally {
      release1();
      release2();
      await p1.close({ forget: true });
      await p2.close({ forget: true });
    }
  } finally {
    release1();
    release2();
    await nc.close();
    await nc1.close();
    await nc2.close();
    await writer.close();
  }
});

test("two publishers of one writer: the second completes two snapshots while the first is held before writing its `latest`: `latest` names only objects the bucket holds, and does not move back", async () => {
  const stream = `twicetwo-${Date.now().toString(36)}`;
  const bucket = snapshotBucket(stream);
  const writer = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024 });
  const nc1 = await connect({ servers: server.url });
  const nc2 = await connect({ servers: server.url });
  const nc = await connect({ servers: server.url });
  const latestMeta = `$O.${bucket}.M.${btoa("latest").replace(/\+/g, "-").replace(/\//g, "_")}`;
  const one = gated(nc1, (subject) => subject === latestMeta);
  let release1 = () => {};
  try {
    await untilTables(writer, 1, "a");
    const p1 = await startPublisher(writer, { connection: one.proxy, stream, replicas: 1 });
    const p2 = await startPublisher(writer, { connection: nc2, stream, replicas: 1 });
    try {
      const store = await new Objm(nc).open(bucket);
      await untilTables(writer, tableCount(writer) + 1, "b");
      await p1.caughtUp(undefined, 5_000);
      one.state.gate = new Promise<void>((r) => (release1 = r));
      const snap1 = p1.snapshot();
      snap1.catch(() => {});
      await eventually(() => one.state.held > 0, "P1's snapshot held at its `latest`", 5_000);
      // A new table (a new MANIFEST version), then two snapshots by P2.
      await untilTables(writer, tableCount(writer) + 1, "c");
      await p2.caughtUp(undefined, 5_000);
      const a = await within(5_000, p2.snapshot());
      const b = await within(5_000, p2.snapshot());
      one.state.gate = undefined;
      release1();
      const info1 = await within(5_000, snap1);
      const { latest, missing, follower } = await latestAndNewFollower(store, stream);
      assert.equal(missing, [], `\`latest\` (${JSON.stringify(latest)}) names objects the bucket no longer holds: ${missing.join(", ")} (P1 ${JSON.stringify(info1)}; P2 ${JSON.stringify(a)} then ${JSON.stringify(b)}); a new follower: ${String(follower)}`);
      assert.is(follower, "opened", `a new follower: ${String(follower)}`);
      assert.ok(b !== "timed out" && latest.lsn >= b.lsn, `\`latest\` at LSN ${latest.lsn}, not back below P2's second snapshot (${JSON.stringify(b)})`);
    } finally {
      release1();
      await p1.close({ forget: true });
      await p2.close({ forget: true });
    }
  } finally {
    release1();
    await nc.close();
    await nc1.close();
    await nc2.close();
    await writer.close();
  }
});

test("old snapshots' objects still go: after three snapshots, what only the first named is deleted, what the last two name is kept", async () => {
  const stream = `cleanup-${Date.now().toString(36)}`;
  const writer = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024 });
  const nc = await connect({ servers: server.url });
  try {
    await untilTables(writer, 1, "a");
    const publisher = await startPublisher(writer, { servers: server.url, stream, replicas: 1 });
    try {
      const store = await new Objm(nc).open(snapshotBucket(stream));
      const snapshots = [JSON.parse(dec.decode((await store.getBlob("latest"))!)) as { manifest: string; tables: string[] }];
      for (const tag of ["b", "c"]) {
        await untilTables(writer, tableCount(writer) + 1, tag);
        await publisher.caughtUp(undefined, 5_000);
        await within(5_000, publisher.snapshot());
        snapshots.push(JSON.parse(dec.decode((await store.getBlob("latest"))!)) as { manifest: string; tables: string[] });
      }
      const names = (await store.list()).filter((e) => !e.deleted).map((e) => e.name);
      const [first, second, third] = snapshots;
      assert.ok(first.manifest !== second.manifest && second.manifest !== third.manifest, `three snapshots: ${JSON.stringify(snapshots)}`);
      assert.not.ok(names.includes(first.manifest), `the first snapshot's MANIFEST is deleted: ${names.join(", ")}`);
      for (const name of [second.manifest, third.manifest, ...second.tables, ...third.tables]) assert.ok(names.includes(name), `${name} is kept: ${names.join(", ")}`);
    } finally {
      await publisher.close({ forget: true });
    }
  } finally {
    await nc.close();
    await writer.close();
  }
});

/** Puts `n` keys `<tag>-<i>`, deletes all but every tenth, then writes fillers: flushes and merges, deletes merges among them. */
async function putThenDeleteMost(db: Writer, tag: string, n: number): Promise<void> {
  const k = (i: number) => `${tag}-${String(i).padStart(5, "0")}`;
  for (let i = 0; i < n; i++) await db.put(k(i), value(tag, i));
  await db.flush();
  for (let i = 0; i < n; i++) if (i % 10 !== 0) await db.delete(k(i));
  await db.flush();
  for (let i = 0; i < n / 2; i++) await db.put(`${tag}-filler-${String(i).padStart(5, "0")}`, value(`${tag}f`, i));
  await db.flush();
}

test("a snapshot upload held while the writer's merges (deletes merges too) drop tables it lists: the upload completes, `latest` names only stored objects, and a new follower equals the writer (no resurrected deletes, no lost writes)", async () => {
  const stream = `rcupload-${Date.now().toString(36)}`;
  const bucket = snapshotBucket(stream);
  const writer = await open(tempDir(), { memtableBytesMax: 64 * 1024, shards: 2 });
  const nc1 = await connect({ servers: server.url });
  const nc = await connect({ servers: server.url });
  const held = gated(nc1, (subject) => subject.startsWith(`$O.${bucket}.C.`));
  let release = () => {};
  try {
    await putThenDeleteMost(writer, "a", 600);
    await mergesSettled(writer);
    const publisher = await startPublisher(writer, { connection: held.proxy, stream, replicas: 1 });
    try {
      await publisher.caughtUp(undefined, 5_000);
      const before = writer.stats().compactions;
      held.state.gate = new Promise<void>((r) => (release = r));
      const snap = publisher.snapshot();
      snap.catch(() => {});
      await eventually(() => held.state.held > 0, "the snapshot's upload held at its first table chunk", 5_000);
      // Deletes of what the held snapshot's tables hold, and fillers: flushes, merges, deletes merges.
      for (let i = 0; i < 600; i++) if (i % 10 === 0) await writer.delete(`a-${String(i).padStart(5, "0")}`);
      await putThenDeleteMost(writer, "b", 600);
      await mergesSettled(writer);
      assert.ok(writer.stats().compactions > before, `precondition: merges ran during the held upload (${before} -> ${writer.stats().compactions})`);
      held.state.gate = undefined;
      release();
      const info = await within(10_000, snap);
      assert.ok(info !== "timed out", "the held snapshot ended within 10 s");
      await publisher.caughtUp(undefined, 5_000);
      const { missing } = await latestAndMissing(await new Objm(nc).open(bucket));
      assert.equal(missing, [], "`latest` names only objects the bucket holds");
      const follower = await openFollower(tempDir(), { servers: server.url, stream, bootstrapTimeoutMs: 3_000 });
      try {
        await follower.caughtUp(Number(writer.stats().wal.durableLsn), 10_000);
        await follower.db.refresh();
        assert.equal(rows(follower.db.scan()), rows(writer.scan()), "a follower bootstrapped from the snapshot uploaded across merges equals the writer");
      } finally {
        await follower.close();
      }
    } finally {
      release();
      await publisher.close({ forget: true });
    }
  } finally {
    release();
    await nc.close();
    await nc1.close();
    await writer.close();
  }
});

test.run();
