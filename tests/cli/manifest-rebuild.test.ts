// doctor --repair's rebuild of a lost MANIFEST (src/cli/doctor.ts rebuildManifest,
// docs/RECOVERY.md M1a), and what it finds on disk. From the review of 2026-12-06 (repairs),
// each seen failing before its fix:
//   - an empty shard-NNN directory past the shard count (which open ignores) made a rebuild
//     of 5 shards for a database of 4: rows routed to shards that did not hold them. The
//     count is now the largest, up to the directories, under which the logs' records and
//     the tables' keys route where they are;
//     (a later review the same day: judged by a table's end keys only, a count of 8 that a
//     middle key disproves was taken; every key of every table is now checked);
//   - a directory named like a table (tables/000099.sst) made the rebuild fail with EISDIR;
//   - a merge's inputs were deleted in readdir order with one fsync at the end: a crash in
//     between could leave an input (a put) without another (its tombstone, which the merge
//     dropped with it), and a rebuild then listed it and the deleted key came back. Deleting
//     them oldest first (by number) did not cure it (review of 2026-12-07,
//     tests/cli/repair-after-interrupted-deletions.test.ts: numbers are not data age); they
//     are now deleted behind a durable note naming them (tables/DELETING), which the
//     rebuild leaves out.
import { writeFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toolCore } from "../../src/cli/database.ts";
import { LOCK_DIR_NAME } from "../../src/lock.ts";
import type { Platform } from "../../src/platform.ts";
import { readManifest, tableFileName } from "../../src/engine/manifest.ts";
import { ReaderRetention } from "../../src/engine/reader-slots.ts";
import { DELETING_NAME, deletingNoteBytes, readDeletingNote } from "../../src/engine/table-deletions.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { cleanup, enc, open, platform, tempDir, text } from "../engine/helpers.ts";
import { recordedDeletions } from "../harness/recorded-deletions.ts";
import { cli, cliOn, json, type Ran } from "./helpers.ts";

const test = suite("cli: the rebuild of a lost MANIFEST");
test.after.each(cleanup);

/** The lines of a report worth showing in a failure. */
const brief = (r: Ran) => `exit ${r.code}\n` + (r.out + r.err).split("\n").filter((l) => /ERROR|repair|MANIFEST:|errors,|shardline/.test(l)).map((l) => l.replace(/\s*│\s*/g, " | ").trim()).join("\n");

/** A database of one shard holding k = v in a table (flushed), closed; its directory. */
async function oneFlushedKey(): Promise<string> {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 1 });
  await db.put("k", "v");
  await db.flush();
  await db.close();
  return dir;
}

test("a merge's dropped inputs are deleted only behind a durable note naming them all (tables/DELETING), and the deletions are durable before the call returns", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 1 });
  await db.put("k", "v");
  await db.close();
  const core = await toolCore();
  try {
    const manifest = readManifest(core, platform, dir)!;
    // Four table files the MANIFEST does not name: a merge's inputs once its output is
    // published (made in an order readdir need not keep).
    const inputs = [7, 5, 8, 6].map((n) => tableFileName(n + manifest.nextTableNumber));
    for (const name of inputs) writeFileSync(`${dir}/tables/${name}`, "table bytes");
    const recording = recordedDeletions(platform, `${dir}/tables`);
    const removed = new ReaderRetention(recording.platform, dir, 0, manifest, (bytes) => core.crc32c(bytes)).removeDroppedTables(manifest);
    assert.is(removed, 4);
    const sorted = [...inputs].sort();
    assert.equal(recording.calls, [`rename ${DELETING_NAME}.tmp ${DELETING_NAME}`, "fsync", ...sorted.map((name) => `unlink ${name}`), "fsync"]);
    assert.equal(readDeletingNote(platform, dir, (bytes) => core.crc32c(bytes)), sorted, "the note names every file deleted behind it");
    const example = deletingNoteBytes(["000070.sst", "000071.sst", "000081.sst"], (bytes) => core.crc32c(bytes));
    assert.is(new TextDecoder().decode(example), '["000070.sst","000071.sst","000081.sst"]\n22f6b0ff\n', "the worked example of table-deletions.ts");
  } finally {
    core.detach();
  }
});

test("a damaged tables/DELETING makes the rebuild of a lost MANIFEST refuse: which tables a writer was deleting cannot be told", async () => {
  const dir = await oneFlushedKey();
  writeFileSync(`${dir}/tables/${DELETING_NAME}`, '["000001.sst"]\n00000000\n');
  platform.unlink(`${dir}/MANIFEST`);
  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is.not(repaired.code, 0, brief(repaired));
  assert.match(repaired.out + repaired.err, /DELETING is damaged/);
  assert.is(platform.stat(`${dir}/MANIFEST`), undefined, "no MANIFEST was written");
});

test("a rebuild numbers the next table above every number tables/DELETING names (a merge whose output was empty left the note with the highest numbers given)", async () => {
  const dir = await oneFlushedKey();
  const core = await toolCore();
  try {
    writeFileSync(`${dir}/tables/${DELETING_NAME}`, deletingNoteBytes([tableFileName(40), tableFileName(50)], (bytes) => core.crc32c(bytes)));
    platform.unlink(`${dir}/MANIFEST`);
    const repaired = await cli(["doctor", dir, "--repair"]);
    assert.is(repaired.code, 0, brief(repaired));
    const rebuilt = readManifest(core, platform, dir)!;
    assert.ok(rebuilt.nextTableNumber > 50, `nextTableNumber ${rebuilt.nextTableNumber}`);
  } finally {
    core.detach();
  }
});

test("a writer that opens the directory between the rebuild and the repair's own open keeps the rebuilt MANIFEST: the repair refuses and deletes nothing", async () => {
  const dir = await oneFlushedKey();
  platform.unlink(`${dir}/MANIFEST`);
  // When the rebuild renames its MANIFEST into place it holds the directory lock: a copy of
  // its lock record under another name is a second live holder (this process), which the
  // repair's open finds once the rebuild released its own: as if a writer had opened the
  // directory in between.
  const lockDir = `${dir}/${LOCK_DIR_NAME}`;
  let holder: string | undefined;
  const racing: Platform = {
    ...platform,
    rename(from, to) {
      platform.rename(from, to);
      if (to === `${dir}/MANIFEST` && holder === undefined) {
        const own = platform.readdir(lockDir)[0];
        holder = `${lockDir}/${own.slice(0, own.lastIndexOf("-"))}-0000000000000000`;
        // Without the kernel lock (Bun, Deno take one): judged by its process, which lives.
        const record = JSON.parse(new TextDecoder().decode(platform.readFile(`${lockDir}/${own}`)));
        writeFileSync(holder, JSON.stringify({ ...record, kernelLock: false }));
      }
    },
  };
  const repaired = await cliOn(racing, ["doctor", dir, "--repair"]);
  assert.ok(holder, "the rebuild wrote a MANIFEST");
  assert.is.not(repaired.code, 0, brief(repaired));
  assert.match(repaired.out + repaired.err, /locked/);
  assert.ok(platform.stat(`${dir}/MANIFEST`), "the MANIFEST the other writer holds is still there");
  platform.unlink(holder!);
  const reopened = await open(dir);
  try {
    assert.is(text(reopened.get("k")), "v");
  } finally {
    await reopened.close();
  }
});

test("doctor --repair of a lost MANIFEST with an empty shard-NNN directory past the shard count (which doctor and open ignore) rebuilds with the right shard count: every row reads", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 4 });
  for (let i = 0; i < 32; i++) await db.put(`key-${i}`, `v${i}`);
  await db.close();
  // A directory of a 5th shard that holds nothing: doctor calls it "a partition log for
  // shard 4, but the database has 4 shards: open ignores it" (a warning), and every open
  // leaves it.
  platform.mkdir(`${dir}/shard-004`);
  const warned = json(await cli(["doctor", dir, "--json"]));
  assert.equal(warned.findings.filter((f: { severity: string }) => f.severity === "error"), [], "with its MANIFEST: no error");
  const reopened = await open(dir);
  await reopened.close();

  platform.unlink(`${dir}/MANIFEST`);
  const repaired = await cli(["doctor", dir, "--repair"]);
  if (repaired.code !== 0) {
    assert.is(platform.stat(`${dir}/MANIFEST`), undefined, `a refused rebuild leaves no MANIFEST:\n${brief(repaired)}`);
    return;
  }
  const again = await open(dir);
  try {
    const missing = Array.from({ length: 32 }, (_, i) => `key-${i}`).filter((k, i) => text(again.get(k)) !== `v${i}`);
    assert.equal(missing, [], `every row reads after the repair (the rebuilt MANIFEST has ${again.stats().shards.length} shards):\n${brief(repaired)}`);
    assert.is(again.stats().shards.length, 4, "the rebuilt MANIFEST has the database's 4 shards");
  } finally {
    await again.close();
  }
});

test("doctor --repair of a lost MANIFEST beside a directory named like a table (which doctor says open and --repair leave) rebuilds the MANIFEST", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 1 });
  for (let i = 0; i < 8; i++) await db.put(`key-${i}`, `v${i}`);
  await db.close();
  platform.mkdir(`${dir}/tables/000099.sst`); // the user's (RECOVERY.md F5): not a file
  platform.unlink(`${dir}/MANIFEST`);
  const before = json(await cli(["doctor", dir, "--json"]));
  const finding = before.findings.find((f: { file: string }) => f.file === "tables/000099.sst");
  assert.ok(finding && finding.severity === "warning" && /open and --repair leave it/.test(finding.message), JSON.stringify(finding));

  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is(repaired.code, 0, brief(repaired));
  const again = await open(dir);
  try {
    assert.equal(Array.from({ length: 8 }, (_, i) => text(again.get(`key-${i}`))), Array.from({ length: 8 }, (_, i) => `v${i}`));
  } finally {
    await again.close();
  }
  assert.ok(platform.stat(`${dir}/tables/000099.sst`)?.isDirectory, "left where it was");
});


test("doctor --repair of a lost MANIFEST beside hand-made shard-004..007 keeps the 4 shards when only a table's middle key disproves 8", async () => {
  const core = await toolCore();
  const keys: { low: string[]; middle: string } = { low: [], middle: "" };
  const routedTo8 = (prefix: string, count: number, rest: number): string[] => {
    const found: string[] = [];
    for (let i = 0; found.length < count; i++) if (core.hash32(enc.encode(`${prefix}${i}`)) % 8 === rest) found.push(`${prefix}${i}`);
    return found;
  };
  try {
    // Keys of shard 0 of 4 that also route to shard 0 of 8, and one (the middle key) that
    // routes to shard 0 of 4 but to shard 4 of 8.
    keys.low = [...routedTo8("a", 1, 0), ...routedTo8("z", 1, 0), ...routedTo8("b", 420, 0)];
    keys.middle = routedTo8("m", 1, 4)[0];
  } finally {
    core.detach();
  }
  const [first, last, ...filler] = keys.low;
  const dir = tempDir("shardline-review-");
  const db = await open(dir, { shards: 4, memtableBytesMax: 64 * 1024, walSegmentBytesMax: 2 * 1024 * 1024, durability: "async" });
  // One memtable holds first < middle < last ("a...", "m...", "z..."): its table, and every
  // merge of it, has a smallest and a largest key that route to shard 0 of 8 too.
  await db.put(first, "first");
  await db.put(keys.middle, "the middle row");
  await db.put(last, "last");
  // Enough more (8 KiB values, routed alike) that the WAL's first segment, which holds the
  // middle row, is flushed into tables and trimmed.
  for (const key of filler) await db.put(key, "x".repeat(8 * 1024));
  await db.flush();
  await db.close();
  const segments = listSegmentFiles(platform, `${dir}/wal`);
  assert.ok(segments[0].firstLsn > 0, "the WAL's first segment (with the middle row) was trimmed");

  for (let s = 4; s < 8; s++) platform.mkdir(`${dir}/shard-00${s}`); // made by hand; open ignores them
  platform.unlink(`${dir}/MANIFEST`);
  const repaired = await cli(["doctor", dir, "--repair"]);
  const said = repaired.out.split("\n").filter((l) => /MANIFEST:|ERROR/.test(l)).map((l) => l.replace(/\s*│\s*/g, " | ").trim()).join("\n");
  const again = await open(dir);
  try {
    assert.is(again.stats().shards.length, 4, `the rebuilt MANIFEST has the database's 4 shards:\n${said}`);
    assert.is(text(again.get(keys.middle)), "the middle row", "the middle row reads after the repair");
    assert.is(repaired.code, 0, said);
  } finally {
    await again.close();
  }
});

test.run();
