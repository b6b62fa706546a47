// `shardline doctor` on the two recovery defects fixed together with it:
//   - a ~1 MiB group-WAL record after a small one was read from the wrong place, so doctor
//     called it and the records after it a torn tail "never acknowledged" and --repair cut
//     them; now it reads them whole and reports a clean log;
//   - a missing MANIFEST in a directory with tables and logs: open refuses it, doctor
//     reports it as an error, and --repair rebuilds the MANIFEST from the table files, after
//     which open works and every row is back (overwrites and deletes included).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { type CliIo, runCli } from "../../src/cli/main.ts";
import { toolCore } from "../../src/cli/database.ts";
import { readManifest, tableFileName } from "../../src/engine/manifest.ts";
import { VALUE_BYTES_MAX } from "../../src/engine/public.ts";
import { CorruptionError } from "../../src/errors.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, open, platform, tempDir, text } from "../engine/helpers.ts";

const test = suite("cli doctor recovery");

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs the command line in this process with captured output. */
async function cli(argv: string[], io: Partial<CliIo> = {}): Promise<Ran> {
  let out = "";
  let err = "";
  const code = await runCli(platform, argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), isTTY: false, ...io });
  return { code, out, err };
}

// deno-lint-ignore no-explicit-any
function json(ran: Ran): any {
  try {
    return JSON.parse(ran.out);
  } catch {
    throw new Error(`not JSON (exit ${ran.code}): ${ran.out}\nstderr: ${ran.err}`);
  }
}

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

test.after.each(cleanup);
test.run();
