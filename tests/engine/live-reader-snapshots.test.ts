// Snapshots of a read-only (live) handle, routed to the view they were taken on
// (src/engine/live-reader.ts): a refresh that builds a new view retires the old one, kept
// while a snapshot lives on it. From a review of snapshots and version GC (2026-12-06), each
// seen failing before its fix: a released snapshot whose view was closed since said
// ClosedError of an open handle, and stats().liveSnapshots counted only the current view's.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SnapshotReleasedError } from "../../src/engine/public.ts";
import { cleanup, open, tempDir, text } from "./helpers.ts";
import { fill, pad } from "./live-reader-helpers.ts";

const test = suite("engine live reader snapshots");
test.after.each(cleanup);

type Db = Awaited<ReturnType<typeof open>>;

const SMALL = { memtableBytesMax: 64 * 1024, shards: 2 } as const;
const NO_AUTO_REFRESH = { readOnly: true, refreshIntervalMs: 2_000_000_000 } as const;


function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (error) {
    return error;
  }
  return undefined;
}

/**
 * A writer and a read-only handle on it, the handle holding a snapshot taken on a view of its
 * own (not the handle's first, which is the handle itself), then that view retired by a
 * refresh after the writer flushed (a new MANIFEST: a new view, not an append).
 */
async function snapshotOnRetiredView(dir: string) {
  const writer = await open(dir, SMALL);
  const reader = await open(dir, { ...NO_AUTO_REFRESH, ...SMALL });
  await fill(writer, 0, 1000, "mid"); // 64 KiB memtables: flushes, a new MANIFEST
  await reader.refresh();
  const snapshot = reader.snapshot();
  await fill(writer, 1000, 2000, "new");
  await reader.refresh();
  return { writer, reader, snapshot };
}

async function closeAll(...dbs: Db[]): Promise<void> {
  for (const db of dbs) await db.close().catch(() => {});
}

test("a read-only handle: a released snapshot whose view a refresh retired is a SnapshotReleasedError (not ClosedError on an open handle)", async () => {
  const { writer, reader, snapshot } = await snapshotOnRetiredView(tempDir());
  try {
    snapshot.release();
    await reader.refresh(); // closes the views nothing reads
    assert.is(reader.stats().coordination!.live!.views, 1, "the released snapshot's view was closed");
    assert.is(text(reader.get("k01999"))?.slice(0, 7), "new1999", "the handle itself is open");
    // README, Errors: SnapshotReleasedError is "get or scan given a snapshot that was
    // released", as on a writer's handle; ClosedError says the database is closed.
    const errors = {
      get: errorOf(() => reader.get("k00001", { snapshot })),
      scan: errorOf(() => reader.scan({ snapshot })),
      has: errorOf(() => reader.has("k00001", { snapshot })),
    };
    const wrong = Object.entries(errors).filter(([, e]) => !(e instanceof SnapshotReleasedError)).map(([read, e]) => `${read}: ${String(e)}`);
    assert.equal(wrong, [], "every read with the released snapshot is a SnapshotReleasedError");
  } finally {
    await closeAll(reader, writer);
  }
});

test("stats().liveSnapshots of a read-only handle counts its live snapshots, also one on a view a refresh retired", async () => {
  const { writer, reader, snapshot } = await snapshotOnRetiredView(tempDir());
  try {
    assert.is(reader.stats().coordination!.live!.views, 2, "the snapshot keeps its view");
    assert.is(text(reader.get("k00500", { snapshot }))?.slice(0, 6), "mid500", "the snapshot is live and reads its view");
    assert.is(snapshot.released, false);
    assert.is(reader.stats().liveSnapshots, 1, "the handle's one live snapshot is counted");
    snapshot.release();
  } finally {
    await closeAll(reader, writer);
  }
});

// Whose snapshot it is comes before whether it was released (review, 2026-12-06): another
// handle's snapshot, or an object that is no snapshot, is a TypeError, as on a writer's handle.

test("a read-only handle given a released snapshot of ANOTHER handle says TypeError (another handle's), as a writer's handle does, not SnapshotReleasedError", async () => {
  const dir = tempDir();
  const other = tempDir();
  const writer = await open(dir, { shards: 2 });
  const stranger = await open(other, { shards: 2 });
  const reader = await open(dir, { ...NO_AUTO_REFRESH, shards: 2 });
  try {
    await writer.put("k", "v");
    await reader.refresh();
    const foreign = stranger.snapshot();
    foreign.release();
    const onWriter = errorOf(() => writer.get("k", { snapshot: foreign }));
    assert.instance(onWriter, TypeError, "the writer's handle: another handle's snapshot is a TypeError, released or not");
    const onReader = errorOf(() => reader.get("k", { snapshot: foreign }));
    assert.not.instance(onReader, SnapshotReleasedError, `read-only handle: ${String(onReader)}`);
    assert.instance(onReader, TypeError, `read-only handle: ${String(onReader)}`);
  } finally {
    for (const db of [reader, stranger, writer]) await db.close().catch(() => {});
  }
});

test("a read-only handle given a plain object { released: true } as its snapshot says TypeError (not a Snapshot), not SnapshotReleasedError", async () => {
  const dir = tempDir();
  const writer = await open(dir, { shards: 2 });
  const reader = await open(dir, { ...NO_AUTO_REFRESH, shards: 2 });
  try {
    await writer.put("k", "v");
    await reader.refresh();
    assert.is(text(reader.get("k")), "v");
    const fake = { seq: 1n, released: true, release() {}, [Symbol.dispose]() {} };
    // deno-lint-ignore no-explicit-any
    const onWriter = errorOf(() => writer.get("k", { snapshot: fake as any }));
    assert.instance(onWriter, TypeError, "the writer's handle says TypeError");
    // deno-lint-ignore no-explicit-any
    const onReader = errorOf(() => reader.get("k", { snapshot: fake as any }));
    assert.instance(onReader, TypeError, `read-only handle: ${String(onReader)}`);
  } finally {
    for (const db of [reader, writer]) await db.close().catch(() => {});
  }
});

test.run();
