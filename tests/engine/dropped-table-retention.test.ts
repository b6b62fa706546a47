// Dropped tables and who still reads them: the deletion of the table files a merge dropped,
// as readers in other processes and replication see it (src/engine/table-deletions.ts,
// tables/DELETING; src/engine/reader-slots.ts, slots and readers/DROPPED; live-reader.ts,
// open-read-only.ts; src/replicate/snapshot.ts). From an adversarial review (2026-12-07)
// that found two defects, each fixed and guarded here (both failed before):
// - Two publishers of one stream share one retained slot, `retain-publisher-<stream>`. An
//   upload claimed its tables in it, and the other publisher's routine rewrite (claiming no
//   table, its acknowledged LSN) dropped that claim: the writer deleted a table being copied
//   and the upload failed on the missing file. An upload now claims in a slot of its own.
// - A DELETING note named only its own deletions, and replaced one whose files were not all
//   gone: after a power loss that brought back an older DROPPED and reader slot (neither is
//   synced), an open deleted part of the leftovers behind a note naming that part, and the
//   rest, named by no note, would be listed by a rebuild of a lost MANIFEST. A note now also
//   names every other dropped table on disk.
// The others guard what held: a read-only handle at an old MANIFEST keeps a merge's inputs
// and reads them, DROPPED and DELETING agree once it moved on, a dead reader's slot holds
// nothing, and a deletion interrupted after its note leaves no deleted key readable.
//
// The writer and the "other processes" share this process: read-only handles and slots work
// in-process as they do across processes (the writer judges a slot by its pid and start time).
import { writeFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { ObjectStore } from "@nats-io/obj";
import { toolCore } from "../../src/cli/database.ts";
import { readManifest, tableFileName } from "../../src/engine/manifest.ts";
import { ReaderSlot, readersDir } from "../../src/engine/reader-slots.ts";
import { DELETING_NAME, deletingNoteBytes, readDeletingNote } from "../../src/engine/table-deletions.ts";
import { uploadSnapshot } from "../../src/replicate/snapshot.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { cli } from "../cli/helpers.ts";
import { backgroundSettled, cleanup, eventually, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine dropped tables and their readers (DELETING, DROPPED, slots, snapshot uploads)");
test.after.each(cleanup);

const SMALL = { memtableBytesMax: 64 * 1024, shards: 1 } as const;
const NO_AUTO_REFRESH = { readOnly: true, refreshIntervalMs: 2_000_000_000 } as const;
const READS_NO_TABLES = Number.MAX_SAFE_INTEGER; // publisher.ts: a publisher's slot outside an upload
const pad = (i: number) => String(i).padStart(6, "0");
type Db = Awaited<ReturnType<typeof open>>;

function namedTables(dir: string): string[] {
  const json = JSON.parse(new TextDecoder().decode(platform.readFile(`${dir}/MANIFEST`)).split("\n")[1]);
  return json.tables.map((t: { number: number }) => tableFileName(t.number));
}
function manifestVersion(dir: string): number {
  return JSON.parse(new TextDecoder().decode(platform.readFile(`${dir}/MANIFEST`)).split("\n")[1]).version;
}
function tableFiles(dir: string): string[] {
  return platform.readdir(`${dir}/tables`).filter((n) => /^\d+\.sst$/.test(n)).sort();
}
function unnamedTables(dir: string): string[] {
  const named = new Set(namedTables(dir));
  return tableFiles(dir).filter((n) => !named.has(n));
}
function droppedNote(dir: string): Record<string, number> {
  try {
    return JSON.parse(new TextDecoder().decode(platform.readFile(`${readersDir(dir)}/DROPPED`)).split("\n")[0]);
  } catch {
    return {};
  }
}

/** Puts values from `from` on until `done()` (a flush or merge happened), at most `limit` puts. */
async function putUntil(db: Db, from: number, tag: string, done: () => boolean, limit = 40_000): Promise<number> {
  let i = from;
  for (; !done(); i++) {
    if (i - from >= limit) throw new Error(`not done after ${limit} puts`);
    await db.put(`${tag}${pad(i % 3000)}`, `${tag}${i}${"-".repeat(200)}`);
    if (i % 50 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  return i;
}

/**
 * An object store in memory, enough for uploadSnapshot; its first `put` (a table) waits for
 * `gate` once entered, so that the upload holds there while the test moves the writer on.
 */
function memoryStore(gate: { entered: () => void; open: Promise<void> }): ObjectStore {
  const objects = new Map<string, { bytes: Uint8Array; revision: number }>();
  let revision = 0;
  let puts = 0;
  const infoOf = (name: string) => {
    const o = objects.get(name);
    return o ? { name, size: o.bytes.length, revision: o.revision, deleted: false } : null;
  };
  const store = {
    info: async (name: string) => infoOf(name),
    getBlob: async (name: string) => objects.get(name)?.bytes ?? null,
    put: async (meta: { name: string }, stream: ReadableStream<Uint8Array>) => {
      if (puts++ === 0) {
        gate.entered();
        await gate.open;
      }
      const chunks: Uint8Array[] = [];
      const reader = stream.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
      }
      const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) (bytes.set(c, at), (at += c.length));
      objects.set(meta.name, { bytes, revision: ++revision });
      return infoOf(meta.name);
    },
    putBlob: async (meta: { name: string }, bytes: Uint8Array) => {
      objects.set(meta.name, { bytes, revision: ++revision });
      return infoOf(meta.name);
    },
    list: async () => [...objects.keys()].map((name) => infoOf(name)),
    delete: async (name: string) => objects.delete(name),
  };
  return store as unknown as ObjectStore;
}

test("two publishers of one stream: the other's rewrite of their shared retained slot does not drop the uploading one's table claim (the upload claims in a slot of its own)", async () => {
  const dir = tempDir();
  const writer = await open(dir, SMALL);
  const core = await toolCore();
  let p1: ReaderSlot | undefined;
  let p2: ReaderSlot | undefined;
  let released = () => {};
  try {
    await putUntil(writer, 0, "a", () => namedTables(dir).length >= 2);
    await backgroundSettled(writer);
    // Two publishers of stream "s" start, as Publisher.start does, and go to READS_NO_TABLES.
    const oldest = listSegmentFiles(platform, `${dir}/wal`)[0]?.firstLsn ?? 0;
    p1 = ReaderSlot.retained(platform, dir, "publisher-s", oldest);
    p2 = ReaderSlot.retained(platform, dir, "publisher-s", oldest);
    p1.update(READS_NO_TABLES, oldest);
    p2.update(READS_NO_TABLES, oldest);
    // Publisher 1 uploads a snapshot; it holds at its first table.
    let entered = () => {};
    const inUpload = new Promise<void>((r) => (entered = r));
    const gateOpen = new Promise<void>((r) => (released = r));
    const upload = uploadSnapshot(core, platform, dir, memoryStore({ entered, open: gateOpen }), "s");
    upload.catch(() => {});
    await inUpload;
    const copied = readManifest(core, platform, dir)!;
    const copying = copied.tables.map((t) => tableFileName(t.number));
    // Publisher 2 ships records meanwhile: its slot write (every 100 ms, Publisher #flushSlot)
    // stores its own record, READS_NO_TABLES and its acknowledged LSN.
    p2.update(READS_NO_TABLES, oldest + 8);
    // The writer goes on; its merges drop tables of the copied MANIFEST.
    const rest = copying.slice(1);
    await putUntil(writer, 10_000, "b", () => rest.some((name) => !namedTables(dir).includes(name)));
    await backgroundSettled(writer);
    const gone = rest.filter((name) => !tableFiles(dir).includes(name));
    assert.equal(gone, [], "no table of the MANIFEST being copied is deleted while the upload runs");
    released();
    let error: unknown;
    try {
      await upload;
    } catch (e) {
      error = e;
    }
    assert.ok(
      error === undefined,
      `publisher 1's upload of MANIFEST version ${copied.version} failed: ${(error as Error)?.name}: ${(error as Error)?.message} ` +
        `(the writer deleted ${gone.join(", ")} while the upload ran)`,
    );
  } finally {
    released();
    p1?.discard();
    p2?.discard();
    await writer.close();
  }
});

test("a read-only handle at an old MANIFEST keeps a merge's inputs; once it moved on they go behind DELETING, and DROPPED forgets them", async () => {
  const dir = tempDir();
  const writer = await open(dir, SMALL);
  let reader: Db | undefined;
  try {
    await putUntil(writer, 0, "a", () => namedTables(dir).length >= 2);
    await writer.delete(`a${pad(1)}`);
    await backgroundSettled(writer);
    reader = await open(dir, { ...SMALL, ...NO_AUTO_REFRESH });
    const held = reader.snapshot();
    const viewTables = namedTables(dir);
    const viewVersion = manifestVersion(dir);
    const before = text(reader.get(`a${pad(2)}`, { snapshot: held }));
    await putUntil(writer, 10_000, "b", () => viewTables.every((n) => !namedTables(dir).includes(n)));
    await backgroundSettled(writer);
    // Dropped but kept: every table of the reader's view is still on disk, and DROPPED knows why.
    for (const name of viewTables) assert.ok(tableFiles(dir).includes(name), `${name} kept for the reader at version ${viewVersion}`);
    const dropped = droppedNote(dir);
    for (const name of viewTables) assert.ok((dropped[name] ?? 0) > viewVersion, `DROPPED names ${name} above ${viewVersion}: ${JSON.stringify(dropped)}`);
    assert.is(text(reader.get(`a${pad(2)}`, { snapshot: held })), before, "the snapshot reads its view's tables");
    assert.is(reader.get(`a${pad(1)}`, { snapshot: held }), undefined, "the deleted key stays deleted in the old view");
    held.release();
    await reader.refresh();
    assert.is(reader.get(`a${pad(1)}`), undefined, "the deleted key stays deleted after refresh");
    // The next flush deletes what the reader no longer needs, behind a note naming it.
    const version = manifestVersion(dir);
    await putUntil(writer, 20_000, "c", () => manifestVersion(dir) > version && viewTables.every((n) => !tableFiles(dir).includes(n)));
    await backgroundSettled(writer);
    const core = await toolCore();
    const note = readDeletingNote(platform, dir, (b) => core.crc32c(b));
    assert.ok(Array.isArray(note) && note.length > 0, `a whole DELETING note: ${JSON.stringify(note)}`);
    const after = droppedNote(dir);
    for (const name of viewTables) assert.is(after[name], undefined, `DROPPED forgot ${name}`);
    assert.is(reader.get(`a${pad(1)}`), undefined, "still deleted");
  } finally {
    await reader?.close();
    await writer.close();
  }
});

test("a dead reader's slot at version 1 holds no dropped table: the writer's next flush deletes the slot and the tables", async () => {
  const dir = tempDir();
  const writer = await open(dir, SMALL);
  try {
    await putUntil(writer, 0, "a", () => namedTables(dir).length >= 2);
    await backgroundSettled(writer);
    const now = new Date().toISOString();
    // A process that is gone (pid 2^22 - 3 with start time 1 is nobody's).
    const slot = `${readersDir(dir)}/4194301-1-00aa00aa00aa.reader`;
    writeFileSync(slot, new TextEncoder().encode(JSON.stringify({ pid: 4194301, startTime: 1, runtime: "node", openedAt: now, updatedAt: now, manifestVersion: 1, lsn: 0 })));
    const first = namedTables(dir);
    await putUntil(writer, 10_000, "b", () => first.every((n) => !namedTables(dir).includes(n)));
    await backgroundSettled(writer);
    const version = manifestVersion(dir);
    await putUntil(writer, 20_000, "c", () => manifestVersion(dir) > version);
    await backgroundSettled(writer);
    assert.is(platform.stat(slot), undefined, "the dead reader's slot is gone");
    assert.equal(unnamedTables(dir), [], "no dropped table kept for it");
  } finally {
    await writer.close();
  }
});

test("a deletion stopped after its DELETING note (the files still there, the MANIFEST without them): the open deletes them and no deleted key reads again", async () => {
  const dir = tempDir();
  let writer = await open(dir, SMALL);
  const deleted = Array.from({ length: 40 }, (_, i) => `a${pad(i * 7)}`);
  let reader: Db | undefined;
  try {
    await putUntil(writer, 0, "a", () => namedTables(dir).length >= 3);
    for (const key of deleted) await writer.delete(key);
    await backgroundSettled(writer);
    reader = await open(dir, { ...SMALL, ...NO_AUTO_REFRESH });
    const viewTables = namedTables(dir);
    await putUntil(writer, 10_000, "b", () => viewTables.every((n) => !namedTables(dir).includes(n)), 60_000);
    await backgroundSettled(writer);
    await writer.close();
    const kept = unnamedTables(dir);
    assert.ok(kept.length > 0, "dropped tables kept for the reader");
    await reader.close();
    reader = undefined;
    // The state a kill -9 between the note and the first unlink leaves.
    const core = await toolCore();
    writeFileSync(`${dir}/tables/${DELETING_NAME}`, deletingNoteBytes(kept, (b) => core.crc32c(b)));
    writer = await open(dir, SMALL);
    assert.equal(unnamedTables(dir), [], "the open deleted them");
    for (const key of deleted) assert.is(writer.get(key), undefined, `${key} stays deleted`);
    const check = await open(dir, { ...SMALL, ...NO_AUTO_REFRESH });
    for (const key of deleted) assert.is(check.get(key), undefined, `${key} stays deleted for a reader`);
    await check.close();
  } finally {
    await reader?.close();
    await writer.close();
  }
});

test("power loss after a DELETING note, with DROPPED and a retained slot reverted to older contents (neither is synced): the open's new note still names every leftover on disk, and after a lost MANIFEST's repair no deleted key reads again", async () => {
  const dir = tempDir();
  let writer = await open(dir, SMALL);
  let reader: Db | undefined;
  const victims = Array.from({ length: 200 }, (_, i) => `a${pad(i)}`);
  try {
    await putUntil(writer, 0, "a", () => namedTables(dir).length >= 2);
    for (const key of victims) await writer.delete(key);
    const tablesBefore = namedTables(dir).length;
    await putUntil(writer, 0, "d", () => namedTables(dir).length !== tablesBefore || manifestVersion(dir) > 0 && namedTables(dir).length > tablesBefore);
    await backgroundSettled(writer);
    const core = await toolCore();
    const crc = (b: Uint8Array) => core.crc32c(b);
    const withTombstones = new Set(readManifest(core, platform, dir)!.tables.filter((t) => t.tombstones > 0).map((t) => tableFileName(t.number)));
    reader = await open(dir, { ...SMALL, ...NO_AUTO_REFRESH });
    const viewTables = namedTables(dir);
    await putUntil(writer, 10_000, "b", () => viewTables.every((n) => !namedTables(dir).includes(n)), 60_000);
    await backgroundSettled(writer);
    const version = manifestVersion(dir);
    await putUntil(writer, 20_000, "c", () => manifestVersion(dir) > version);
    await backgroundSettled(writer);
    await writer.close();
    await reader.close();
    reader = undefined;
    const dropped = droppedNote(dir);
    const kept = unnamedTables(dir).filter((n) => dropped[n] !== undefined);
    assert.ok(kept.length >= 2, `dropped tables kept for the reader: ${kept.join(", ")}`);
    // The writer then deleted them all: DELETING durable (replaceFileDurably), the unlinks not
    // yet synced, and a power loss: every file is back, DROPPED (renamed, never synced) is an
    // older one that named only the tombstones' table, and the publisher's retained slot
    // (never synced, live after a power loss) is back at the version it once copied.
    writeFileSync(`${dir}/tables/${DELETING_NAME}`, deletingNoteBytes(kept, crc));
    const first = kept.find((n) => withTombstones.has(n)) ?? kept[0];
    const rest = kept.filter((n) => n !== first);
    const older = JSON.stringify({ [first]: dropped[first] });
    writeFileSync(`${readersDir(dir)}/DROPPED`, `${older}\n${core.crc32c(new TextEncoder().encode(older)).toString(16).padStart(8, "0")}\n`);
    const now = new Date().toISOString();
    writeFileSync(`${readersDir(dir)}/retain-publisher-s.reader`, JSON.stringify({ pid: 1, startTime: 1, runtime: "node", openedAt: now, updatedAt: now, manifestVersion: dropped[first], lsn: 0 }));
    assert.ok(manifestVersion(dir) > dropped[first], "the open's version is past the first one's drop");
    writer = await open(dir, SMALL);
    await writer.close();
    const note = readDeletingNote(platform, dir, crc);
    const uncovered = rest.filter((n) => tableFiles(dir).includes(n) && !(Array.isArray(note) && note.includes(n)));
    // Later the MANIFEST is lost: doctor --repair lists every table file the note does not name.
    platform.unlink(`${dir}/MANIFEST`);
    const repaired = await cli(["doctor", dir, "--repair"]);
    writer = await open(dir, SMALL);
    const back = victims.filter((k) => writer.get(k) !== undefined);
    assert.equal(
      { uncovered, back: back.length },
      { uncovered: [], back: 0 },
      `tables the interrupted deletion's note named stayed on disk, unnamed, and no note names them any more (DELETING now ${JSON.stringify(note)}; ${first} held tombstones); ` +
        `after doctor --repair (exit ${repaired.code}) ${back.length} of ${victims.length} deleted keys read again`,
    );
  } finally {
    await reader?.close();
    await writer.close();
  }
});

test.run();
