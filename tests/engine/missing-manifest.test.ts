// `open` on a directory whose MANIFEST is gone (docs/RECOVERY.md, rows M1 and M1a). Before
// the fix it started a new, empty database there and deleted every table file as an
// orphan, without an error. Now a directory holding table files or log segments but no
// MANIFEST is refused with a CorruptionError naming what is missing and what was found,
// and nothing on disk changes; an empty directory (or one a first open left before its
// MANIFEST existed) still becomes a new database.
// The same for the group WAL's first segments (row G5, review 2026-12-05): a log whose
// first segment is numbered above 1 and starts past the checkpoint lost segments holding
// writes no table holds. open went on without them, silently; now it refuses, and
// `salvage` accepts the loss once.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CorruptionError } from "../../src/errors.ts";
import { rejects } from "../harness/assert.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { cleanup, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine missing manifest");

const ROWS = 40_000;
const BATCH_ROWS = 500;
const keyOf = (i: number) => `row-${String(i).padStart(6, "0")}`;

/** A closed database of ROWS rows written with 64 KiB memtables, so that table files exist. */
async function databaseWithTables(): Promise<string> {
  const dir = tempDir();
  const db = await open(dir, { memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < ROWS; i += BATCH_ROWS) {
    await db.batch(Array.from({ length: BATCH_ROWS }, (_, j) => ({ type: "put" as const, key: keyOf(i + j), value: `value-${i + j}` })));
  }
  await db.flush();
  await db.close();
  return dir;
}

/** Every file under `dir` (relative path and size), sorted: to show nothing changed. */
function listing(dir: string, under = ""): string[] {
  const out: string[] = [];
  for (const name of platform.readdir(`${dir}${under}`).sort()) {
    const rel = `${under}/${name}`;
    const stat = platform.stat(`${dir}${rel}`)!;
    if (stat.isDirectory) out.push(...listing(dir, rel));
    else if (!rel.startsWith("/LOCK.d/")) out.push(`${rel} ${stat.size}`);
  }
  return out;
}

test("a missing MANIFEST with 40,000 rows in tables: open refuses with CorruptionError naming what it found, and deletes nothing", async () => {
  const dir = await databaseWithTables();
  const tableFiles = platform.readdir(`${dir}/tables`).filter((n) => n.endsWith(".sst"));
  assert.ok(tableFiles.length >= 2, `${tableFiles.length} table files`);
  platform.unlink(`${dir}/MANIFEST`);
  const before = listing(dir);

  const error = await rejects(() => open(dir), CorruptionError);
  assert.is((error as CorruptionError).code, "SHARDLINE_CORRUPTION");
  assert.is((error as CorruptionError).file, `${dir}/MANIFEST`);
  assert.match(error.message, `MANIFEST missing in ${dir}`);
  assert.match(error.message, `${tableFiles.length} table files`);
  assert.match(error.message, /a group WAL \(\d+ segments?\)/);
  assert.match(error.message, /shardline doctor --repair/);
  assert.equal(listing(dir), before, "no file created, changed or deleted; no MANIFEST written");

  // The lock was released: a second attempt is refused the same way, not LockedError.
  await rejects(() => open(dir, { coordinationTimeoutMs: 0 }), CorruptionError);
  assert.equal(listing(dir), before);
});

test("a missing MANIFEST with only logs (no table yet) is refused too", async () => {
  const dir = tempDir();
  const db = await open(dir);
  await db.put("k", "v");
  await db.close();
  assert.is(platform.readdir(`${dir}/tables`).length, 0, "no table files");
  platform.unlink(`${dir}/MANIFEST`);
  const before = listing(dir);
  const error = await rejects(() => open(dir), CorruptionError);
  // Partition logs count only when they hold a segment (when they do depends on the write path).
  assert.match(error.message, /MANIFEST missing in .*, but it holds a group WAL \(1 segment\)( and \d+ partition logs?)?:/);
  assert.equal(listing(dir), before);
});

test("an empty directory, or one a first open left before writing its MANIFEST, is still a new database", async () => {
  for (const leftover of ["nothing", "an empty tables/ and a MANIFEST.tmp"]) {
    const dir = tempDir();
    if (leftover !== "nothing") {
      platform.mkdir(`${dir}/tables`, { recursive: true });
      platform.open(`${dir}/MANIFEST.tmp`, "create").close();
    }
    const db = await open(dir);
    await db.put("k", "v");
    assert.is(text(db.get("k")), "v", leftover);
    await db.close();
    assert.ok(platform.stat(`${dir}/MANIFEST`), `${leftover}: a MANIFEST was written`);
    assert.is(platform.stat(`${dir}/MANIFEST.tmp`), undefined);
  }
});

test("a group WAL whose first segment (writes never flushed) is missing: open refuses and changes nothing; salvage goes on without it, once", async () => {
  const dir = tempDir();
  const options = { shards: 1, memtableBytesMax: 8 * 1024 * 1024, walSegmentBytesMax: 2 * 1024 * 1024 };
  const db = await open(dir, options);
  for (let i = 0; i < 40; i++) await db.put(`k-${i}`, `${i}:`.padEnd(64 * 1024, "v")); // ~2.5 MiB: two segments, no flush
  await db.close();
  const segments = listSegmentFiles(platform, `${dir}/wal`);
  assert.ok(segments.length >= 2, `${segments.length} segments`);
  platform.unlink(segments[0].path);
  const before = listing(dir);
  const error = await rejects(() => open(dir, options), CorruptionError);
  assert.match(error.message, /starts at LSN \d+ \(segment 2\), past the checkpoint at \d+: the segments before it/);
  assert.equal(listing(dir), before, "nothing changed");

  const salvaged = await open(dir, { ...options, salvage: true });
  const kept = Array.from({ length: 40 }, (_, i) => salvaged.get(`k-${i}`) !== undefined);
  await salvaged.close();
  assert.is(kept[0], false, "the writes of the lost segment are gone");
  assert.is(kept[39], true, "those of the segments left are replayed");
  const again = await open(dir, options); // the checkpoint moved to where the log starts
  assert.is(text(again.get("k-39"))?.slice(0, 3), "39:");
  await again.close();
});

test.after.each(cleanup);
test.run();
