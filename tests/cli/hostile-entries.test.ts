// Entries nothing of shardline made, where it keeps its own small files (LOCK.d/, readers/,
// wal/), symlinks in tables/, and argument edges: a clear message and the documented exit
// status (docs/CLI.md), never a raw PlatformError, never a hang. From a review of the
// command line (2026-12-08, second pass); the first four tests failed before:
// - a directory named like a lock file in LOCK.d: doctor and put printed a raw EISDIR
//   (judgeLockFile opened and read it); now every entry that is not a regular file is
//   "foreign": no lock, left where it is, a warning in doctor;
// - a FIFO named like a lock file, a reader slot or a group-WAL segment: doctor, put and
//   stats blocked for ever in its open (no writer ever comes). A FIFO lock entry or slot is
//   now skipped; one named like a segment is a CorruptionError naming it (open refuses the
//   log; doctor reports it). The FIFO cases run the CLI as a child, killed after 30 s.
// The rest are guards: symlinks in tables/, hostile files in readers/, argument edges.
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
// @ts-ignore: plain .mjs without types
import { runtimeCommand } from "../../scripts/runtimes.mjs";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, open, tempDir } from "../engine/helpers.ts";
import { cli, json } from "./helpers.ts";

const test = suite("cli: entries nothing of shardline made, and argument edges");
test.after.each(() => cleanup());

async function made(): Promise<string> {
  const dir = tempDir();
  const db = await open(dir);
  await db.put("a", "1");
  await db.put("b", "2");
  await db.close();
  return dir;
}

/** The command line as a child of this runtime, killed after `timeoutMs` (a hang shows as signal SIGTERM). */
function cliProcess(args: string[], timeoutMs: number) {
  const entry = new URL(`../../runtimes/${runtimeName()}/cli.ts`, import.meta.url).pathname;
  const [cmd, argv] = runtimeCommand(runtimeName(), entry, args) as [string, string[]];
  const r = spawnSync(cmd, argv, { encoding: "utf8", timeout: timeoutMs, stdio: ["ignore", "pipe", "pipe"] });
  return { code: r.status, signal: r.signal, out: r.stdout ?? "", err: r.stderr ?? "" };
}

const RAW = /PlatformError|FileSystemError|TypeError|EISDIR|\n\s+at /;

test("a directory named like a lock file in LOCK.d: doctor, doctor --json, --repair and put give a clear message, not a raw EISDIR PlatformError", async () => {
  const dir = await made();
  mkdirSync(`${dir}/LOCK.d`, { recursive: true });
  mkdirSync(`${dir}/LOCK.d/123-456-abc`);
  const problems: string[] = [];
  for (const argv of [["doctor", dir], ["doctor", dir, "--json"], ["doctor", "--repair", dir], ["put", dir, "z", "9"]]) {
    const r = await cli(argv);
    if (RAW.test(r.err)) problems.push(`${argv[0]} ${argv.slice(1).filter((a) => a !== dir).join(" ")}: exit ${r.code}: ${r.err.trim()}`);
    if (argv.includes("--json")) {
      try {
        JSON.parse(r.out);
      } catch {
        problems.push(`doctor --json printed no JSON (stdout ${JSON.stringify(r.out)})`);
      }
    }
  }
  assert.ok(existsSync(`${dir}/LOCK.d/123-456-abc`), "the user's directory is left");
  assert.equal(problems, []);
});

/** A FIFO at `path`: opening it to read blocks until a writer opens it, which none does. */
function fifo(path: string): void {
  execFileSync("mkfifo", [path]);
}

const HANG_MS = 30_000;

test("a FIFO named like a lock file in LOCK.d: doctor warns of it (exit 0) and put writes (exit 0), neither blocks on it", async () => {
  const dir = await made();
  mkdirSync(`${dir}/LOCK.d`, { recursive: true });
  fifo(`${dir}/LOCK.d/123-456-abc`);
  const doctor = cliProcess(["doctor", dir], HANG_MS);
  assert.is(doctor.signal, null, `doctor hung (killed by ${doctor.signal}); stderr: ${doctor.err}`);
  assert.is(doctor.code, 0, doctor.out + doctor.err);
  assert.match(doctor.out, /not a regular file/);
  const put = cliProcess(["put", dir, "z", "9"], HANG_MS);
  assert.is(put.signal, null, `put hung (killed by ${put.signal}); stderr: ${put.err}`);
  assert.is(put.code, 0, put.err);
  assert.ok(existsSync(`${dir}/LOCK.d/123-456-abc`), "left where it is");
});

test("a FIFO named like a reader slot in readers/: stats (read-only) does not block on it", async () => {
  const dir = await made();
  fifo(`${dir}/readers/123-456-abc.reader`);
  const r = cliProcess(["stats", dir], HANG_MS);
  assert.is(r.signal, null, `stats hung (killed by ${r.signal}); stderr: ${r.err}`);
  assert.is(r.code, 0, r.err);
});

test("a FIFO named like a group-WAL segment: doctor reports it as an error naming it (exit 1) and put refuses the log, neither blocks on it", async () => {
  const dir = await made();
  fifo(`${dir}/wal/00000009-0000000000099999.wal`);
  const doctor = cliProcess(["doctor", dir], HANG_MS);
  assert.is(doctor.signal, null, `doctor hung (killed by ${doctor.signal}); stderr: ${doctor.err}`);
  assert.is(doctor.code, 1, doctor.out + doctor.err);
  assert.match(doctor.out, /00000009-0000000000099999\.wal is named like a log segment but is not a regular file/);
  const put = cliProcess(["put", dir, "z", "9"], HANG_MS);
  assert.is(put.signal, null, `put hung (killed by ${put.signal}); stderr: ${put.err}`);
  assert.is(put.code, 1, put.err);
  assert.match(put.err, /not a regular file/);
  assert.not.match(put.err, RAW);
});

test("symlinks in tables/ named like tables: doctor says --repair deletes the one to a file outside and leaves the dangling one; --repair unlinks only the link, the target survives", async () => {
  const dir = await made();
  const outside = tempDir();
  writeFileSync(`${outside}/precious`, "keep me");
  symlinkSync(`${outside}/precious`, `${dir}/tables/000099.sst`);
  symlinkSync(`${outside}/nothing`, `${dir}/tables/000098.sst`);
  const before = json(await cli(["doctor", dir, "--json"]));
  const of = (file: string) => before.findings.find((f: { file: string }) => f.file === file);
  assert.is(of("tables/000099.sst")?.repair, "open", JSON.stringify(of("tables/000099.sst")));
  assert.match(of("tables/000098.sst")?.message ?? "", /not a file/);
  assert.is(of("tables/000098.sst")?.repair, undefined);
  const repaired = await cli(["doctor", "--repair", dir]);
  assert.is(repaired.code, 0, repaired.err);
  assert.equal(readdirSync(`${dir}/tables`).filter((n) => n.startsWith("0000")).sort(), ["000098.sst"]);
  assert.is(readFileSync(`${outside}/precious`, "utf8"), "keep me");
});

test("hostile files in readers/ (a directory named like a slot, a 1 MiB slot, a name with a newline, a slot of this pid with a wrong start time): doctor, stats and --repair exit 0 without a stack, leaving the directory and the foreign name", async () => {
  const dir = await made();
  mkdirSync(`${dir}/readers/123-456-abc.reader`);
  writeFileSync(`${dir}/readers/1-1-ab.reader`, "x".repeat(1 << 20));
  writeFileSync(`${dir}/readers/bad\nname.reader`, "x");
  writeFileSync(`${dir}/readers/${process.pid}-1-ff.reader`, JSON.stringify({ pid: process.pid, startTime: 1, manifestVersion: 1, lsn: 0, updatedAt: 9e15 }));
  for (const argv of [["doctor", dir], ["doctor", dir, "--json"], ["stats", dir], ["doctor", "--repair", dir], ["doctor", dir]]) {
    const r = await cli(argv);
    assert.is(r.code, 0, `${argv.join(" ")}: ${r.err}`);
    assert.not.match(r.err, RAW);
  }
  const left = readdirSync(`${dir}/readers`);
  assert.ok(left.includes("123-456-abc.reader") && left.includes("bad\nname.reader"), left.join(","));
});

test("argument edges: --limit 0 prints 0 rows; --limit -1/NaN/1.5/1e3, --shard past the count, --from -1 and --wait abc are usage errors (2); an empty key round-trips", async () => {
  const dir = await made();
  const zero = await cli(["scan", dir, "--limit", "0"]);
  assert.is(zero.code, 0);
  assert.match(zero.out, /0 rows/);
  for (const argv of [["scan", dir, "--limit", "-1"], ["scan", dir, "--limit", "NaN"], ["scan", dir, "--limit", "1.5"], ["scan", dir, "--limit", "1e3"], ["wal", "dump", dir, "--shard", "99"], ["wal", "dump", dir, "--from", "-1"], ["stats", dir, "--wait", "abc"]]) {
    const r = await cli(argv);
    assert.is(r.code, 2, `${argv.join(" ")}: ${r.err}`);
  }
  assert.is((await cli(["put", `${dir}/`, "", "empty"])).code, 0);
  assert.equal(json(await cli(["get", `${dir}//`, "", "--json"])), { key: "", found: true, value: "empty" });
});

test.run();
