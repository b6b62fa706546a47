// Reads that outlive a refresh on a live read-only handle (src/engine/live-reader.ts,
// reader-slots.ts): a scan, a seeked reverse scan and a snapshot held while the reader
// refreshes and the writer flushes, merges (deleting the merge inputs) and trims its log.
// Each held read finishes exactly as of its own view; the reader's slot keeps claiming the
// oldest MANIFEST version a held read still reads (so the writer keeps that view's tables)
// and lets it go once the read ends; close() with reads held makes them throw ClosedError
// (not "done", not rows). From an adversarial review (2026-12-08) that found no defect:
// these are its guards (the live reader's #claim covers every retired view still read;
// #closeUnread closes a view only once no read holds it).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { backgroundSettled, cleanup, dec, eventually, open, platform, rows, tempDir, text } from "./helpers.ts";
import { fill, manifestNow, pad, sstFiles } from "./live-reader-helpers.ts";

type Db = Awaited<ReturnType<typeof open>>;

const SMALL = { memtableBytesMax: 64 * 1024, shards: 2 } as const;
const NO_AUTO_REFRESH = { readOnly: true, refreshIntervalMs: 2_000_000_000 } as const;

function rowsOf(iterable: Iterable<[Uint8Array, Uint8Array]>): string[] {
  return [...iterable].map(([k, v]) => `${dec.decode(k)}=${dec.decode(v)}`);
}

// ---- the suite ---------------------------------------------------------------------------

const test = suite("engine live reader: reads held across refreshes");
test.after.each(cleanup);




function slotFiles(dir: string): string[] {
  return (platform.stat(`${dir}/readers`) ? platform.readdir(`${dir}/readers`) : []).filter((name) => /\.reader(\.tmp|\.evicted)?$/.test(name)).sort();
}

/**
 * A writer and a live reader on one directory (the reader refreshes only when asked), `rows`
 * rows written and the reader on the settled MANIFEST: `body` gets them and the held view;
 * both are closed after it.
 */
async function withHeldView(rows: number, body: (c: { dir: string; writer: Db; reader: Db; held: { version: number; tables: Set<string> } }) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const writer = await open(dir, SMALL);
  const reader = await open(dir, { ...NO_AUTO_REFRESH, ...SMALL });
  try {
    await fill(writer, 0, rows, "a");
    await body({ dir, writer, reader, held: await settledView(writer, reader, dir) });
  } finally {
    await reader.close().catch(() => {});
    await writer.close();
  }
}

/** Writes a row at a time (each write may bring the flush whose retention pass deletes) until no file of `names` is on disk. */
async function untilDeleted(writer: Db, dir: string, names: string[], what: string): Promise<void> {
  let i = 0;
  await eventually(() => {
    void fill(writer, 9000 + i, 9000 + i + 1, "z").catch(() => {});
    i++;
    return names.every((name) => !sstFiles(dir).includes(name));
  }, what, 6000);
}

/** The one reader slot in `dir` (same-process tests have one reader). */
function theSlot(writer: Db): { manifestVersion: number; lsn: number } {
  const readers = writer.stats().coordination!.readers!;
  assert.is(readers.length, 1, `one reader slot: ${JSON.stringify(readers)}`);
  return readers[0].record!;
}

/** Writer settled, reader refreshed onto the MANIFEST on disk: that view's version and tables. */
async function settledView(writer: Db, reader: Db, dir: string): Promise<{ version: number; tables: Set<string> }> {
  for (let attempt = 0; ; attempt++) {
    await backgroundSettled(writer);
    await reader.refresh();
    const named = manifestNow(dir);
    if (named.version === reader.stats().coordination!.live!.manifestVersion) return { version: named.version, tables: new Set(named.tables) };
    assert.ok(attempt < 50, "the reader's view reaches the MANIFEST on disk");
  }
}

/**
 * Writer churn: overwrites, deletes and new keys, a round at a time, with `between` after
 * each (the reader's refresh), until a merge has dropped a table of `pinned` from the
 * MANIFEST and at least `minRounds` rounds ran.
 */
async function churnUntilDropped(writer: Db, dir: string, pinned: Set<string>, between: (round: number) => Promise<void>, minRounds = 3): Promise<number> {
  let round = 0;
  for (; round < minRounds || manifestNow(dir).tables.filter((name) => pinned.has(name)).length === pinned.size; round++) {
    assert.ok(round < 200, "a merge drops a table of the held view");
    await fill(writer, round * 37 % 1000, round * 37 % 1000 + 300, `r${round}-`);
    for (let i = 0; i < 10; i++) await writer.delete(`k${pad((round * 101 + i * 7) % 1500)}`);
    await fill(writer, 5000 + round * 20, 5000 + round * 20 + 20, `new${round}-`);
    await between(round);
  }
  return round;
}

test("a held scan, a held Level-style iterator (reverse, seek) and a held snapshot outlive several refreshes across flushes and merges: each reads exactly its own view, the slot keeps claiming it, and its tables go once they end", async () => {
  const started = Date.now();
  await withHeldView(1500, async ({ dir, writer, reader, held }) => {
  const expected = rows(reader.scan());
  assert.is(expected.length, 1500);

  const scan = reader.scan();
  const scanRows = rowsOf([scan.next().value!, scan.next().value!, scan.next().value!]);
  const reverse = reader.scan({ reverse: true });
  const reverseRows = rowsOf([reverse.next().value!]);
  const level = reader.scan({ gte: "k00000", lt: "k01500" }); // a Level iterator is a held scan with seek
  rowsOf([level.next().value!]);
  level.seek("k00700");
  const levelRows = rowsOf([level.next().value!]);
  const snapshot = reader.snapshot();

  let refreshes = 0;
  await churnUntilDropped(writer, dir, held.tables, async () => {
    await reader.refresh();
    refreshes++;
    await new Promise((r) => setTimeout(r, 1));
    const slot = theSlot(writer);
    assert.ok(slot.manifestVersion <= held.version, `the slot claims ${slot.manifestVersion}, above the held view's ${held.version}`);
  });
  await backgroundSettled(writer);
  await reader.refresh();
  const live = reader.stats().coordination!.live!;
  assert.ok(live.manifestVersion > held.version, "the reader moved on");
  assert.is(live.views, 2, "the held view and the current one (views in between closed)");
  const missing = [...held.tables].filter((name) => !sstFiles(dir).includes(name));
  assert.equal(missing, [], "every table of the held view is still on disk");

  // Each held read finishes exactly as of its view.
  assert.equal([...scanRows, ...rowsOf(scan)], expected, "the held scan");
  assert.equal([...reverseRows, ...rowsOf(reverse)], [...expected].reverse(), "the held reverse scan");
  assert.equal([...levelRows, ...rowsOf(level)], expected.filter((r) => r >= "k00700"), "the held seeked scan");
  const viaSnapshot = expected.map((r) => r.slice(0, 6)).map((k) => `${k}=${text(reader.get(k, { snapshot }))}`);
  assert.equal(viaSnapshot, expected, "gets at the held snapshot");
  assert.equal(rows(reader.scan({ snapshot })), expected, "a scan begun after the refreshes at the held snapshot");

  snapshot.release();
  await reader.refresh();
  assert.is(reader.stats().coordination!.live!.views, 1, "the held view closed once its reads ended");
  assert.is(theSlot(writer).manifestVersion, reader.stats().coordination!.live!.manifestVersion, "the slot moved on");
  const dropped = () => [...held.tables].filter((name) => !manifestNow(dir).tables.includes(name));
  await untilDeleted(writer, dir, dropped(), "the writer deletes the held view's dropped tables once nothing reads them");
  console.log(`  [live-reader-held] ${refreshes} refreshes with three scans and a snapshot held; ${Date.now() - started} ms`);
  });
});

test("a snapshot held over several refreshes, then released: the views in between closed at once, the held one after release; the slot then claims only the current view and the writer deletes the old tables", async () => {
  await withHeldView(1200, async ({ dir, writer, reader, held }) => {
  const snapshot = reader.snapshot();
  const expected = rows(reader.scan({ snapshot }));
  const versions: number[] = [];
  await churnUntilDropped(writer, dir, held.tables, async () => {
    await reader.refresh();
    const live = reader.stats().coordination!.live!;
    versions.push(live.manifestVersion);
    assert.ok(live.views <= 2, `views in between are closed: ${live.views} open`);
    assert.is(theSlot(writer).manifestVersion, held.version, "the slot claims the snapshot's view");
  }, 4);
  assert.ok(new Set(versions).size >= 2, `several views were built: ${versions}`);
  assert.equal(rows(reader.scan({ snapshot })), expected, "the snapshot reads its view after the refreshes");
  snapshot.release();
  reader.get("k00001"); // a read routes: closes the unread view
  await reader.refresh();
  assert.is(reader.stats().coordination!.live!.views, 1);
  assert.is(theSlot(writer).manifestVersion, reader.stats().coordination!.live!.manifestVersion);
  const dropped = [...held.tables].filter((name) => !manifestNow(dir).tables.includes(name));
  assert.ok(dropped.length > 0);
  await untilDeleted(writer, dir, dropped, "the old view's dropped tables deleted");
  });
});

test("close() of a reader with a scan held on a retired view, a scan on the current view and a snapshot: each later step throws ClosedError (never 'done' or rows), the slot is gone, and the writer deletes what it kept", async () => {
  await withHeldView(1200, async ({ dir, writer, reader, held }) => {
  const old = reader.scan();
  old.next();
  const snapshot = reader.snapshot();
  await churnUntilDropped(writer, dir, held.tables, async () => {
    await reader.refresh();
  });
  const current = reader.scan();
  current.next();
  assert.is(reader.stats().coordination!.live!.views, 2);
  await reader.close();
  const outcome = (f: () => unknown) => {
    try {
      const r = f() as IteratorResult<unknown> | undefined;
      return `returned ${JSON.stringify(r && typeof r === "object" && "done" in r ? { done: r.done } : r)}`;
    } catch (error) {
      return (error as Error).name;
    }
  };
  assert.equal(
    { old: outcome(() => old.next()), current: outcome(() => current.next()), get: outcome(() => reader.get("k00001", { snapshot })), snapshot: outcome(() => reader.scan({ snapshot })) },
    { old: "ClosedError", current: "ClosedError", get: "ClosedError", snapshot: "ClosedError" },
  );
  assert.equal(slotFiles(dir), [], "the reader's slot is gone");
  const dropped = [...held.tables].filter((name) => !manifestNow(dir).tables.includes(name));
  await untilDeleted(writer, dir, dropped, "dropped tables deleted after the reader closed");
  });
});

test.run();
