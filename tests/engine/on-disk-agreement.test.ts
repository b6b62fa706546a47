// Damage that every block checksum passes, as reads and an open meet it (review of on-disk
// corruption, 2026-12-06; each seen failing before its fix):
// - a read that found the MANIFEST gone answered from no tables: it is CorruptionError now
//   (manifest.ts readOpenManifest, in table-set.ts and change-feed.ts);
// - a table file is checked against its MANIFEST record when it is opened, so another
//   table's contents under its name are refused, not read as it (table-set.ts recordDiffers);
// - readers/DROPPED carries a CRC-32C: a damaged version in it no longer shortens how long
//   an open keeps a dropped table for a live reader (reader-slots.ts readDroppedNote).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CorruptionError } from "../../src/errors.ts";
import { cleanup, enc, eventually, open, platform, tempDir, text } from "../engine/helpers.ts";

const test = suite("engine on-disk agreement");

const keyOf = (i: number) => `row-${String(i).padStart(6, "0")}`;

const valueOf = (i: number) => `value-${i}`.padEnd(40, ".");

/** get(key) on a fresh open of `dir`, then close: the control before the damage. */
async function getOnce(dir: string, key: string): Promise<string | undefined> {
  const db = await open(dir);
  try {
    return text(db.get(key));
  } finally {
    await db.close();
  }
}

/**
 * A closed database with rows in 2 or 3 tables of one shard (64 KiB memtables): fewer than a
 * merge takes (COMPACTION_FAN_IN 4), and no frozen memtable left, so that a later open
 * neither merges nor flushes (no MANIFEST is written while a test looks).
 */
async function databaseWithTables(): Promise<string> {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  for (let i = 0; db.stats().shards[0].tables < 2; i += 100) {
    if (i > 100_000) throw new Error("no tables");
    await db.batch(Array.from({ length: 100 }, (_, j) => ({ type: "put" as const, key: keyOf(i + j), value: valueOf(i + j) })));
  }
  await eventually(() => db.stats().shards[0].tables >= 2 && db.stats().shards[0].frozenMemtables === 0, "two tables, nothing frozen", 10_000).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(db.stats().shards[0], (_, v) => (typeof v === "bigint" ? String(v) : v))}`); });
  const tables = db.stats().shards[0].tables;
  await db.close();
  assert.ok(tables < 4, `${tables} tables: a merge would run at the next open`);
  return dir;
}

test("a get on an open database whose MANIFEST vanished is a CorruptionError, not an answer from no tables", async () => {
  const dir = await databaseWithTables();
  assert.is(await getOnce(dir, keyOf(7)), valueOf(7), "control: the row is there");
  const db = await open(dir);
  try {
    // Before this handle's first read: its table set reads the MANIFEST then (table-set.ts).
    platform.unlink(`${dir}/MANIFEST`);
    let got: unknown;
    let error: unknown;
    try {
      got = text(db.get(keyOf(7)));
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof CorruptionError || got === valueOf(7), `get answered ${JSON.stringify(got)} (error ${error})`);
  } finally {
    await db.close();
  }
});

test("a table file holding another table's contents (the MANIFEST records other bytes and keys for it) is a CorruptionError, not read as that table", async () => {
  const dir = await databaseWithTables();
  const manifest = JSON.parse(new TextDecoder().decode(platform.readFile(`${dir}/MANIFEST`)).split("\n")[1]) as { tables: Array<{ number: number; bytes: number; smallestKey: string }> };
  assert.ok(manifest.tables.length >= 2, `${manifest.tables.length} tables`);
  const [source, victim] = manifest.tables;
  const name = (n: number) => `${dir}/tables/${String(n).padStart(6, "0")}.sst`;
  const victimKey = atob(victim.smallestKey);
  const expected = await getOnce(dir, victimKey);
  assert.is(expected, valueOf(Number(victimKey.slice(4))), "control: the victim's first row reads");
  // As a restore or a file system would mix them up: the victim's name now holds the source's bytes.
  const sourceBytes = platform.readFile(name(source.number));
  const f = platform.open(name(victim.number), "truncate");
  f.write(sourceBytes, 0);
  f.close();

  const db = await open(dir);
  try {
    let got: unknown;
    let error: unknown;
    try {
      got = text(db.get(victimKey));
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof CorruptionError || got === expected, `get(${victimKey}) answered ${JSON.stringify(got)} from a table file whose keys are not the ones its MANIFEST record names (${victimKey} ...)`);
  } finally {
    await db.close();
  }
});

test("one damaged byte in readers/DROPPED never makes open delete a dropped table a live reader's slot still covers", async () => {
  const dir = tempDir();
  const options = { shards: 1, memtableBytesMax: 64 * 1024 };
  const db = await open(dir, options);
  let slotVersion = 0;
  try {
    // A live reader (this process) at the current MANIFEST version, as a read-only handle's slot says it.
    const manifestNow = () => JSON.parse(new TextDecoder().decode(platform.readFile(`${dir}/MANIFEST`)).split("\n")[1]) as { version: number; tables: Array<{ number: number }> };
    // First some flushes and merges with no reader (their inputs go at once), so that the
    // reader's version has room below the versions that will drop tables (one damaged digit).
    let i = 0;
    for (; manifestNow().version < 9; i += 200) {
      if (i > 200_000) throw new Error("no flushes");
      await db.batch(Array.from({ length: 200 }, (_, j) => ({ type: "put" as const, key: keyOf(i + j), value: valueOf(i + j) })));
    }
    slotVersion = manifestNow().version;
    const compactionsBefore = db.stats().compactions;
    const me = platform.processIdentity();
    const now = new Date().toISOString();
    const slot = { pid: me.pid, startTime: me.startTime, runtime: platform.runtime, openedAt: now, updatedAt: now, manifestVersion: slotVersion, lsn: 0 };
    const f = platform.open(`${dir}/readers/${me.pid}-${me.startTime}-0123456789ab.reader`, "truncate");
    f.write(enc.encode(JSON.stringify(slot)), 0);
    f.close();
    for (; db.stats().compactions <= compactionsBefore; i += 200) {
      if (i > 400_000) throw new Error("no compaction");
      await db.batch(Array.from({ length: 200 }, (_, j) => ({ type: "put" as const, key: keyOf(i + j), value: valueOf(i + j) })));
    }
  } finally {
    await db.close();
  }
  const named = new Set((JSON.parse(new TextDecoder().decode(platform.readFile(`${dir}/MANIFEST`)).split("\n")[1]).tables as Array<{ number: number }>).map((t) => `${String(t.number).padStart(6, "0")}.sst`));
  const kept = platform.readdir(`${dir}/tables`).filter((n) => n.endsWith(".sst") && !named.has(n));
  assert.ok(kept.length > 0, "the compaction's inputs are kept for the live reader");
  const notePath = `${dir}/readers/DROPPED`;
  const [note, crcLine] = new TextDecoder().decode(platform.readFile(notePath)).split("\n");
  assert.match(crcLine, /^[0-9a-f]{8}$/, "the note's checksum line");
  const entries = JSON.parse(note) as Record<string, number>;
  assert.ok(kept.every((n) => entries[n] > slotVersion), `the note ${note} says they were dropped after the reader's version ${slotVersion}`);
  // Control: with the note as written, an open keeps them.
  await (await open(dir, options)).close();
  assert.equal(kept.filter((n) => platform.stat(`${dir}/tables/${n}`) === undefined), [], "control: an open with the intact note keeps them");
  // One damaged byte of the note's JSON that leaves it valid JSON with a lower version (its
  // checksum line as it was).
  const bytes = enc.encode(note);
  let flipped: Record<string, number> | undefined;
  search: for (let at = 0; at < bytes.length; at++) {
    for (let value = 0; value < 256; value++) {
      const b = bytes.slice();
      b[at] = value;
      try {
        const parsed = JSON.parse(new TextDecoder().decode(b)) as Record<string, number>;
        if (Object.keys(parsed).join() === Object.keys(entries).join() && kept.some((n) => parsed[n] >= 1 && parsed[n] <= slotVersion)) {
          bytes.set(b);
          flipped = parsed;
          break search;
        }
      } catch {
        // not JSON: the note is ignored, which is safe
      }
    }
  }
  assert.ok(flipped !== undefined, `no single damaged byte of ${note} lowers a version`);
  const w = platform.open(notePath, "truncate");
  w.write(enc.encode(`${new TextDecoder().decode(bytes)}\n${crcLine}\n`), 0);
  w.close();

  const again = await open(dir, options);
  try {
    const gone = kept.filter((n) => platform.stat(`${dir}/tables/${n}`) === undefined);
    assert.equal(gone, [], `open deleted ${gone} though the reader's slot (version ${slotVersion}) still covers them (note now ${JSON.stringify(flipped)})`);
  } finally {
    await again.close();
  }
});

test.after(cleanup);
test.run();
