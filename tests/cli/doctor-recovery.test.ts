// `shardline doctor` on the two recovery defects fixed together with it:
//   - a ~1 MiB group-WAL record after a small one was read from the wrong place, so doctor
//     called it and the records after it a torn tail "never acknowledged" and --repair cut
//     them; now it reads them whole and reports a clean log;
//   - a missing MANIFEST in a directory with tables and logs: open refuses it, doctor
//     reports it as an error, and --repair rebuilds the MANIFEST from the table files, after
//     which open works and every row is back (overwrites and deletes included).
// From a review (2026-12-05), each seen failing before its fix:
//   - a rebuild gave the logs checkpoint 0, so a batch commit whose first fragments a flush
//     had trimmed failed the open (Y4d); the checkpoints are now where each log starts;
//   - a rebuild without the last shard-NNN/ wrote a MANIFEST of too few shards, which then
//     blocked open and repair; it now refuses, and a MANIFEST whose open fails is removed;
//   - doctor said "0 errors" for a log missing its first segments (G5), a key over
//     KEY_BYTES_MAX (Y2a) and a batch commit without its fragments (Y4d);
//   - wal dump failed on a last segment torn at its creation.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toolCore } from "../../src/cli/database.ts";
import { readManifest, tableFileName } from "../../src/engine/manifest.ts";
import { encodeCommit, encodeOperations, OP_PUT } from "../../src/engine/records.ts";
import { recordBytes, segmentFileName } from "../../src/wal/format.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { VALUE_BYTES_MAX } from "../../src/engine/public.ts";
import { CorruptionError } from "../../src/errors.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, enc, eventually, open, platform, tempDir, text } from "../engine/helpers.ts";
import { cli, json, type Ran } from "./helpers.ts";

const test = suite("cli doctor recovery");
const { openLog } = bindLogApi(platform);

interface FindingJson {
  severity: string;
  check: string;
  file: string;
  message: string;
  repair?: string;
}

test("doctor: a ~1 MiB group-WAL record after a small one is read whole, not called a torn tail", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { durability: "full" });
  await db.put("small-before", "s1");
  await db.put("big", new Uint8Array(VALUE_BYTES_MAX).fill(7));
  await db.put("small-after", "s2");
  await db.close();

  const r = await cli(["doctor", dir, "--json"]);
  const report = json(r);
  assert.is(r.code, 0, r.out);
  assert.equal(report.findings.filter((f: FindingJson) => f.severity !== "ok"), [], "no error, no warning");
  assert.ok(!r.out.includes("torn tail"), "no torn tail reported");
  assert.is(report.checked.records >= 3, true, `${report.checked.records} records checked`);

  const dump = json(await cli(["wal", "dump", dir, "--json"]));
  assert.is(dump.error, undefined, dump.error);
  assert.is(dump.records.length, 3, "wal dump lists all three records");
});

const ROWS = 40_000;
const BATCH_ROWS = 500;
const keyOf = (i: number) => `row-${String(i).padStart(6, "0")}`;
/** Rows overwritten after the first pass, and rows deleted. */
const overwritten = (i: number) => i % 7 === 0;
const deleted = (i: number) => i % 11 === 0;
const expected = (i: number) => (deleted(i) ? undefined : overwritten(i) ? `second-${i}` : `value-${i}`);

/** A closed database of ROWS rows (then overwrites and deletes), with 64 KiB memtables so tables exist. */
async function databaseWithTables(): Promise<string> {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { memtableBytesMax: 64 * 1024 });
  const batches = (pick: (i: number) => boolean, op: (i: number) => { type: "put"; key: string; value: string } | { type: "delete"; key: string }) =>
    (async () => {
      for (let i = 0; i < ROWS; i += BATCH_ROWS) {
        const ops = [];
        for (let j = i; j < i + BATCH_ROWS; j++) if (pick(j)) ops.push(op(j));
        if (ops.length > 0) await db.batch(ops);
      }
    })();
  await batches(() => true, (i) => ({ type: "put", key: keyOf(i), value: `value-${i}` }));
  await batches(overwritten, (i) => ({ type: "put", key: keyOf(i), value: `second-${i}` }));
  await batches(deleted, (i) => ({ type: "delete", key: keyOf(i) }));
  await db.close();
  return dir;
}

/** Every row's value in the database at `dir`, against `expected`: the rows that differ. */
async function wrongRows(dir: string): Promise<string[]> {
  const db = await open(dir);
  try {
    const wrong: string[] = [];
    for (let i = 0; i < ROWS; i++) {
      const got = text(db.get(keyOf(i)));
      if (got !== expected(i)) wrong.push(`${keyOf(i)}: ${got} instead of ${expected(i)}`);
    }
    return wrong;
  } finally {
    await db.close();
  }
}

test("doctor: a missing MANIFEST with 40,000 rows in tables is an error; --repair rebuilds it from the tables and every row is back", async () => {
  const dir = await databaseWithTables();
  const tableFiles = platform.readdir(`${dir}/tables`).filter((n) => n.endsWith(".sst")).sort();
  assert.ok(tableFiles.length >= 2, `${tableFiles.length} table files`);
  platform.unlink(`${dir}/MANIFEST`);
  await rejects(() => open(dir), CorruptionError);

  const r = await cli(["doctor", dir, "--json"]);
  assert.is(r.code, 1);
  const finding = json(r).findings.find((f: FindingJson) => f.check === "manifest");
  assert.is(finding.severity, "error");
  assert.is(finding.repair, "rebuild");
  assert.match(finding.message, `${tableFiles.length} table files`);
  assert.equal(platform.readdir(`${dir}/tables`).filter((n) => n.endsWith(".sst")).sort(), tableFiles, "doctor changed nothing");
  assert.is(platform.stat(`${dir}/MANIFEST`), undefined);

  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is(repaired.code, 0, repaired.out + repaired.err);
  assert.match(repaired.out, /MANIFEST: rebuilt from \d+ table files \(4 shards/);
  assert.match(repaired.out, /after repair:[\s\S]*0 errors/);

  const core = await toolCore();
  try {
    const listed = readManifest(core, platform, dir)!.tables.map((t) => tableFileName(t.number));
    for (const name of platform.readdir(`${dir}/tables`).filter((n) => n.endsWith(".sst"))) assert.ok(listed.includes(name), `${name} is listed`);
  } finally {
    core.detach();
  }
  assert.equal(await wrongRows(dir), [], "every row is back with its newest value; deleted rows stay deleted");
  assert.is((await cli(["doctor", dir])).code, 0, "clean afterwards");
});

test("doctor --repair rebuilds a missing MANIFEST of a database whose rows are only in its logs", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir);
  for (const k of ["apple", "banana", "cherry"]) await db.put(k, `${k}-value`);
  await db.delete("banana");
  await db.close();
  assert.equal(platform.readdir(`${dir}/tables`), [], "no table files");
  platform.unlink(`${dir}/MANIFEST`);
  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is(repaired.code, 0, repaired.out + repaired.err);
  assert.match(repaired.out, /MANIFEST: rebuilt from 0 table files \(4 shards/);
  const again = await open(dir);
  try {
    assert.equal(["apple", "banana", "cherry"].map((k) => text(again.get(k))), ["apple-value", undefined, "cherry-value"]);
  } finally {
    await again.close();
  }
});

// Found 2026-12-06 (by reading): a rebuilt MANIFEST got a new databaseId, the id every
// replication message carries, so every follower of the database stopped with
// SHARDLINE_REPLICATION_FORK at its next message although the data was the same database's.
test("doctor --repair of a lost MANIFEST keeps the database's id (IDENTITY), so its followers go on", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir);
  await db.put("k", "v");
  await db.close();
  const core = await toolCore();
  const id = readManifest(core, platform, dir)!.databaseId;
  assert.match(id ?? "", /^[0-9a-f]{32}$/);
  platform.unlink(`${dir}/MANIFEST`);
  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is(repaired.code, 0, repaired.out + repaired.err);
  assert.is(readManifest(core, platform, dir)!.databaseId, id, "the rebuilt MANIFEST names the same database");
  const again = await open(dir);
  try {
    assert.is(text(again.get("k")), "v");
  } finally {
    await again.close();
  }
  assert.is(readManifest(core, platform, dir)!.databaseId, id, "and keeps it after an open");
});

test("doctor --repair refuses to rebuild a missing MANIFEST when the shard count cannot be told", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < 2000; i += BATCH_ROWS) await db.batch(Array.from({ length: BATCH_ROWS }, (_, j) => ({ type: "put" as const, key: keyOf(i + j), value: "v".repeat(64) })));
  await db.flush();
  await db.close();
  platform.unlink(`${dir}/MANIFEST`);
  platform.removeAll(`${dir}/shard-001`);
  const tablesBefore = platform.readdir(`${dir}/tables`).sort();
  const refused = await cli(["doctor", dir, "--repair"]);
  assert.is(refused.code, 1);
  assert.match(refused.out + refused.err, /refusing to rebuild the MANIFEST: the shard count is unknown/);
  assert.is(platform.stat(`${dir}/MANIFEST`), undefined, "no MANIFEST written");
  assert.equal(platform.readdir(`${dir}/tables`).sort(), tablesBefore, "no table touched");
});

/** The lines of a text report worth showing in a failure: errors, the repair, the counts. */
const brief = (r: Ran) => `exit ${r.code}\n` + (r.out + r.err).split("\n").filter((l) => /ERROR|repair|MANIFEST:|errors,|shardline/.test(l)).map((l) => l.replace(/\s*│\s*/g, " | ").trim()).join("\n");
/** The error findings of a JSON report, in a line each. */
const jsonErrors = (r: Ran) => `exit ${r.code}; errors: ` + JSON.stringify(errorsOf(json(r)).map((f) => `${f.file}: ${f.message}`));

const errorsOf = (report: { findings: FindingJson[] }) => report.findings.filter((f) => f.severity === "error");

async function groupCheckpoint(dir: string): Promise<number> {
  const core = await toolCore();
  try {
    return readManifest(core, platform, dir)!.groupCheckpoint;
  } finally {
    core.detach();
  }
}

test("doctor --repair of a lost MANIFEST whose group WAL starts mid large batch (first fragment's segment trimmed): the rebuilt directory opens with every row", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024, walSegmentBytesMax: 2 * 1024 * 1024 });
  const big = new Uint8Array(16 * 1024).fill(3);
  // ~2.6 MiB in one large batch: fragments in segments 1 and 2, its commit in segment 2.
  await db.batch(Array.from({ length: 160 }, (_, i) => ({ type: "put" as const, key: `big-${String(i).padStart(3, "0")}`, value: big })));
  for (let i = 0; i < 20; i++) await db.put(`filler-${i}`, "f".repeat(8 * 1024));
  // The batch is flushed to a table, and segment 1 (its first fragment) trimmed: a normal state.
  await eventually(() => listSegmentFiles(platform, `${dir}/wal`)[0].number > 1, "segment 1 trimmed");
  await db.close();
  const dump = json(await cli(["wal", "dump", dir, "--json"]));
  assert.is(dump.records[0].kind, "batch-fragment", "the log now starts with a later fragment of the batch");
  assert.ok(dump.records.some((r: { kind: string; firstFragmentLsn?: number }) => r.kind === "batch-commit" && r.firstFragmentLsn! < dump.records[0].lsn), "its commit names a fragment in the trimmed segment");

  platform.unlink(`${dir}/MANIFEST`);
  // Before the fix: the rebuilt MANIFEST has groupCheckpoint 0, so replay takes the commit (first
  // fragment at LSN 8 >= 0) as a batch to apply, finds 1 of its 2 fragments and throws
  // CorruptionError (Y4d): "repair failed", exit 1, and a MANIFEST is left that open rejects.
  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is(repaired.code, 0, brief(repaired));
  const again = await open(dir, { memtableBytesMax: 64 * 1024 });
  try {
    for (let i = 0; i < 160; i++) assert.is(again.get(`big-${String(i).padStart(3, "0")}`)?.length, big.length, `big-${i}`);
    for (let i = 0; i < 20; i++) assert.is(text(again.get(`filler-${i}`)), "f".repeat(8 * 1024), `filler-${i}`);
  } finally {
    await again.close();
  }
});

test("doctor --repair of a lost MANIFEST when the last shard-NNN directory is gone too: it does not write a MANIFEST with the wrong shard count", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 4 });
  for (let i = 0; i < 16; i++) await db.put(`key-${i}`, `v${i}`);
  await db.close();
  platform.unlink(`${dir}/MANIFEST`);
  // An empty directory is what backups and copies most often drop: shard-003 holds no segment.
  platform.removeAll(`${dir}/shard-003`);

  const before = json(await cli(["doctor", dir, "--json"]));
  assert.ok(errorsOf(before).some((f) => f.check === "wal" && /names shard 3 of 3/.test(f.message)), "doctor itself sees records of a 4th shard");

  // Before the fix: the shard count is taken from shard-000..shard-002 alone (3), a MANIFEST of 3
  // shards is written, and the open that follows fails ("names shard 3 of 3"). That
  // MANIFEST stays: open now refuses the directory for good, open({ shards: 4 }) is a
  // RangeError, and doctor --repair no longer offers a rebuild.
  const repaired = await cli(["doctor", dir, "--repair"]);
  if (repaired.code === 0) {
    const again = await open(dir);
    try {
      for (let i = 0; i < 16; i++) assert.is(text(again.get(`key-${i}`)), `v${i}`);
    } finally {
      await again.close();
    }
  } else {
    assert.is(platform.stat(`${dir}/MANIFEST`), undefined, `a refused or failed rebuild must leave no MANIFEST behind:\n${brief(repaired)}`);
  }
});

test("doctor: a group WAL whose first segment (records above the checkpoint, never flushed) is missing is an error", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 1, memtableBytesMax: 8 * 1024 * 1024, walSegmentBytesMax: 2 * 1024 * 1024 });
  for (let i = 0; i < 40; i++) await db.put(`k-${i}`, "v".repeat(64 * 1024)); // ~2.5 MiB: two segments, no flush
  await db.close();
  const segments = listSegmentFiles(platform, `${dir}/wal`);
  assert.ok(segments.length >= 2, `${segments.length} segments`);
  assert.equal(platform.readdir(`${dir}/tables`), [], "nothing flushed: the rows are only in the log");
  assert.ok((await groupCheckpoint(dir)) < segments[1].firstLsn, "the checkpoint lies in segment 1");
  platform.unlink(segments[0].path); // lost: the acknowledged puts k-0.. with it

  // Before the fix: the chain check starts at whatever segment comes first, and nothing compares the
  // log's start with the MANIFEST's checkpoint: "0 errors", exit 0 (and open silently
  // starts without the lost rows).
  const r = await cli(["doctor", dir, "--json"]);
  assert.is(r.code, 1, jsonErrors(r));
  assert.ok(errorsOf(json(r)).some((f) => f.check === "wal"), "an error on the group WAL");
});

/**
 * A database with one put, then `record` appended to its group WAL: a record open refuses
 * (CorruptionError), which doctor must report as an error on the group WAL (exit 1).
 */
async function assertDoctorReportsWhatOpenRefuses(record: Uint8Array): Promise<void> {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 1 });
  await db.put("before", "1");
  await db.close();
  const log = await openLog(`${dir}/wal`, { durability: "full" });
  await log.append(record);
  await log.close();
  await rejects(() => open(dir), CorruptionError);

  const r = await cli(["doctor", dir, "--json"]);
  assert.is(r.code, 1, jsonErrors(r));
  assert.ok(errorsOf(json(r)).some((f) => f.check === "wal"), "an error on the group WAL");
}

test("doctor: a record with a key longer than KEY_BYTES_MAX (open refuses it, RECOVERY.md Y2a) is an error", async () => {
  // Before the fix: engineRecordProblem checked framing and shard numbers only: "0 errors", exit 0.
  await assertDoctorReportsWhatOpenRefuses(encodeOperations([{ type: OP_PUT, shard: 0, key: new Uint8Array(2049).fill(65), value: enc.encode("v"), ts: 100n }]));
});

test("doctor: a batch commit whose fragments the log does not hold (open refuses it, RECOVERY.md Y4d) is an error", async () => {
  // Before the fix: doctor decoded each record alone, never assembled batches: "0 errors", exit 0.
  await assertDoctorReportsWhatOpenRefuses(encodeCommit({ firstFragmentLsn: 8, fragments: 2, count: 2, shards: [{ shard: 0, operations: 2, firstTs: 50n }] }));
});

test("wal dump: a last segment torn at creation (what a crash leaves, RECOVERY.md G2/R2) ends the dump quietly, exit 0", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 1 });
  await db.put("a", "1");
  await db.put("b", "2");
  await db.close();
  const first = json(await cli(["wal", "dump", dir, "--json"]));
  assert.is(first.records.length, 2);
  const last = first.records[first.records.length - 1];
  const endLsn = last.lsn + recordBytes(last.bytes);
  // The next segment, as the durability worker creates it: right name, nothing but zeros yet.
  const file = platform.open(`${dir}/wal/${segmentFileName(2, endLsn)}`, "create");
  file.write(new Uint8Array(64 * 1024), 0);
  file.datasync();
  file.close();
  const doctor = json(await cli(["doctor", dir, "--json"]));
  assert.equal(errorsOf(doctor), [], "doctor: only a warning (the next open deletes it)");

  // Before the fix: walkSegments throws CorruptionError on the zeroed header ("bad magic"): exit 1,
  // "run `shardline doctor`", although the help says a crash-left end ends the dump quietly.
  const r = await cli(["wal", "dump", dir, "--json"]);
  assert.is(r.code, 0, r.err);
  const dump = json(r);
  assert.is(dump.error, undefined, dump.error);
  assert.is(dump.records.length, 2);
});

test.after.each(cleanup);
test.run();
