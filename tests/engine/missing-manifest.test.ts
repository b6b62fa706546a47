// `open` on a directory whose MANIFEST is gone (docs/RECOVERY.md, rows M1 and M1a). Before
// the fix it started a new, empty database there and deleted every table file as an
// orphan, without an error. Now a directory holding table files or log segments but no
// MANIFEST is refused with a CorruptionError naming what is missing and what was found,
// and nothing on disk changes; an empty directory (or one a first open left before its
// MANIFEST existed) still becomes a new database.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CorruptionError } from "../../src/errors.ts";
import { rejects } from "../harness/assert.ts";
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

test.after.each(cleanup);
test.run();
