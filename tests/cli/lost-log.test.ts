// A group WAL lost below the durable mark (RECOVERY.md G1b): its segments deleted while
// readers/DURABLE says records past the checkpoint were synced. From the second review of
// the command line (2026-12-06), each seen failing before its fix in Node, Bun and Deno: the
// read commands failed with a plain Error and no pointer to doctor (a private error class of
// the read-only open escaped), doctor said 0 errors, and a writer's open began a new log
// over the lost records without a word.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, open, platform, tempDir, text } from "../engine/helpers.ts";
import { CorruptionError } from "../../src/errors.ts";
import { rejects } from "../harness/assert.ts";
import { cli } from "./helpers.ts";

const test = suite("cli: a group WAL lost below the durable mark");
test.after.each(() => cleanup());

/** A closed database with two acknowledged writes still only in the group WAL (durable mark above the checkpoint). */
async function dbWithTwoKeys(): Promise<string> {
  const dir = tempDir("shardline-rc2-");
  const db = await open(dir);
  await db.put("a", "1");
  await db.put("b", "2");
  await db.close();
  return dir;
}

/** Deletes the group WAL's segment files (the directory stays): the records below the durable mark are gone. */
function emptyGroupWal(dir: string): void {
  for (const name of platform.readdir(`${dir}/wal`)) platform.unlink(`${dir}/wal/${name}`);
}

test("get, scan and stats of a database whose group WAL segments are gone below the durable mark: exit 1 with a pointer to `shardline doctor`, not an untyped Error", async () => {
  const dir = await dbWithTwoKeys();
  assert.ok(platform.stat(`${dir}/readers/DURABLE`), "the writer left its durable mark");
  emptyGroupWal(dir);
  for (const argv of [["get", dir, "a"], ["scan", dir], ["stats", dir]]) {
    const r = await cli(argv);
    assert.is(r.code, 1, `${argv[0]}: exit 1`);
    assert.is(r.out, "", `${argv[0]}: nothing on stdout`);
    // docs/CLI.md: "a log whose records end below that mark is refused as corrupt (exit status 1)";
    // "A database with corruption that open refuses ... fails to open with exit status 1 and a pointer to `shardline doctor`".
    assert.not.match(r.err, /: Error: /, `${argv[0]}: an untyped internal Error reached the user: ${r.err}`);
    assert.match(r.err, /shardline doctor/, `${argv[0]}: no pointer to doctor: ${r.err}`);
  }
});

test("doctor of a database whose group WAL segments are gone below the durable mark it reads: reports an error (exit 1), not `0 errors` while get refuses the database", async () => {
  const dir = await dbWithTwoKeys();
  emptyGroupWal(dir);
  const get = await cli(["get", dir, "a"]);
  assert.is(get.code, 1, "get refuses the database");
  const doctor = await cli(["doctor", dir, "--json"]);
  const report = JSON.parse(doctor.out);
  assert.ok(report.findings.some((f: { message: string }) => /durable mark at LSN [1-9]/.test(f.message)), "doctor read the durable mark");
  // docs/CLI.md: exit 0 means "no error found"; an error is "damage ... corruption in the middle of a log (which open refuses)";
  // the acknowledged writes a and b, below the durable mark, are in no table and no log.
  assert.is(doctor.code, 1, `doctor exit status (summary ${JSON.stringify(report.summary)})`);
  assert.ok(report.findings.some((f: { severity: string; check: string }) => f.severity === "error" && f.check === "wal"), "an error finding for the group WAL");
});

test("a writer's open of such a database is a CorruptionError; with salvage it opens under a new id, its log past the mark, and its writes survive", async () => {
  const dir = await dbWithTwoKeys();
  const identity = () => JSON.parse(new TextDecoder().decode(platform.readFile(`${dir}/MANIFEST`)).split("\n")[1]).databaseId;
  const before = identity();
  emptyGroupWal(dir);
  const error = await rejects(() => open(dir), CorruptionError);
  assert.match(error.message, /durable mark/);
  const db = await open(dir, { salvage: true });
  try {
    assert.is(db.get("a"), undefined, "the lost write is gone, not invented");
    await db.put("c", "3");
  } finally {
    await db.close();
  }
  assert.ok(identity() !== before, "salvage gave up acknowledged writes: a new database id");
  const again = await open(dir);
  try {
    assert.is(text(again.get("c")), "3");
  } finally {
    await again.close();
  }
});

test.run();
