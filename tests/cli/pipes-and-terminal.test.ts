// The command line between pipes and a terminal (runtimes/common/cli-host.ts, src/cli/).
// From the CLI review of 2026-12-06, each seen failing before its fix:
//   - output written to a pipe whose reader is slow was cut at 64 KiB under Bun: the flush
//     before process.exit waited on an empty write, which Bun acknowledges at once (now the
//     last real write's callback; scan and wal dump also wait for the pipe to drain);
//   - `put --value-file` of a pipe (not a regular file) read it to its end, unbounded,
//     instead of stopping one byte past VALUE_BYTES_MAX;
//   - doctor's table passed control characters of file names to the terminal.
// From the review of 2026-12-06 (later): a reader of standard output that went away made
// every command exit 0 at once, hiding doctor's errors found; an EPIPE on standard error
// replaced the status with 1. Now output is dropped, a listing stops (exit 0), and any
// other command exits with its own status.
import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
// @ts-ignore: plain .mjs without types
import { runtimeCommand } from "../../scripts/runtimes.mjs";
import { VALUE_BYTES_MAX } from "../../src/core/core.ts";
import type { RuntimeName } from "../../src/platform.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, open, platform, rewriteFile, tempDir } from "../engine/helpers.ts";
import { cli } from "./helpers.ts";

const test = suite("cli pipes and terminal");
test.after.each(cleanup);

const entryOf = (runtime: RuntimeName) => new URL(`../../runtimes/${runtime}/cli.ts`, import.meta.url).pathname;

/** Runs this runtime's entry point as a child with `close` ("stdout" or "stderr") closed by its reader before the child writes; resolves with its exit status. */
function runWithClosed(close: "stdout" | "stderr", args: string[]): Promise<{ code: number | null; signal: string | null; err: string }> {
  const [cmd, argv] = runtimeCommand(runtimeName(), entryOf(runtimeName()), args) as [string, string[]];
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let err = "";
  if (close === "stdout") {
    child.stdout!.destroy(); // the reader goes away at once (`| head -0`, `| true`)
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (t: string) => void (err += t));
  } else {
    child.stderr!.destroy();
    child.stdout!.resume();
  }
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, err })));
}

/** A closed database with one key, whose MANIFEST then gets a flipped byte (doctor: an error, exit 1). */
async function dbWithCorruptManifest(): Promise<string> {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir);
  await db.put("k", "v");
  await db.close();
  rewriteFile(`${dir}/MANIFEST`, (b) => void (b[20] ^= 0x01));
  return dir;
}


test("get --json of a 300 KB value into a pipe whose reader starts after 2 s: every runtime's entry point prints all of it (Bun cuts it at 64 KiB)", async () => {
  const dir = tempDir("shardline-cli-");
  const value = "v".repeat(300_000);
  const db = await open(dir);
  await db.put("big", value);
  await db.close();
  const expected = JSON.stringify({ key: "big", found: true, value }, null, 2) + "\n";
  const cut: string[] = [];
  for (const runtime of ["node", "bun", "deno"] as RuntimeName[]) {
    const [cmd, argv] = runtimeCommand(runtime, entryOf(runtime), ["get", dir, "big", "--json"]) as [string, string[]];
    // The reader sleeps before reading: the command line finds the pipe full (64 KiB) and must wait.
    const r = spawnSync("sh", ["-c", 'status=0; out=$("$@" | (sleep 2; cat)); printf %s "$out"', "sh", cmd, ...argv], { encoding: "utf8", timeout: 60_000, maxBuffer: 8 << 20 });
    // $(...) drops the final newline
    if (r.stdout + "\n" !== expected) cut.push(`${runtime}: ${r.stdout.length + 1} of ${expected.length} bytes (stderr: ${r.stderr.slice(0, 200)})`);
  }
  assert.equal(cut, [], `output cut short: ${cut.join("; ")}`);
});

test("put --value-file naming a pipe that holds more than VALUE_BYTES_MAX (writer still open): refused with exit 2 after reading one byte past the limit, not read to its end", async () => {
  const dir = `${tempDir("shardline-cli-")}/db`;
  const [cmd, argv] = runtimeCommand(runtimeName(), entryOf(runtimeName()), ["put", dir, "k", "--value-file", "/dev/stdin"]) as [string, string[]];
  // `cat` turns this test's stdin for the child into a real pipe (what `--value-file <(producer)`
  // or /dev/stdin in a shell pipeline is); the shell reports the command line's status on stderr.
  // The status is printed when the command line exits, whatever `cat` (the producer) does.
  const child = spawn("sh", ["-c", 'cat | { "$@"; echo "status $?" >&2; }', "sh", cmd, ...argv], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (t: string) => void (err += t));
  child.stdout!.resume();
  child.stdin!.on("error", () => {});
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  // More than the limit, and the writer stays open (a producer still running).
  child.stdin!.write(new Uint8Array(VALUE_BYTES_MAX + 64 * 1024));
  const deadline = Date.now() + 10_000;
  while (!/status \d+/.test(err) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  const beforeEof = /status (\d+)/.exec(err)?.[1];
  child.stdin!.end(); // the producer ends: a command line still reading sees the end of its input now
  await exited;
  assert.is(beforeEof, "2", `exit status while the pipe was still open (after 10 s; the status once it was closed: ${/status (\d+)/.exec(err)?.[1]}; stderr: ${err.slice(0, 300)})`);
  assert.match(err, /over VALUE_BYTES_MAX/);
  assert.is(platform.stat(dir), undefined, "a refused put creates nothing");
});

test("doctor's table: a file name in the directory holding ESC and a newline is shown escaped, never passed to the terminal nor splitting a row", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir);
  await db.put("k", "v");
  await db.close();
  writeFileSync(`${dir}/tables/evil\x1b[2J\x1b]0;owned\x07\nrow.tmp`, "x");
  const r = await cli(["doctor", dir]);
  assert.is(r.code, 0, r.err);
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f]/.test(r.out), `raw control characters in doctor's output: ${JSON.stringify(r.out.split("\n").filter((l) => l.includes("evil")))}`);
  const row = r.out.split("\n").find((l) => l.includes("evil"));
  assert.ok(row !== undefined && row.includes("row.tmp"), `the file's row is split by the newline in its name: ${JSON.stringify(row)}`);
});

test("doctor finding errors exits 1 even when the reader of its stdout has gone away (EPIPE must not turn a failure into 0)", async () => {
  const dir = await dbWithCorruptManifest();
  const inProcess = await cli(["doctor", dir]);
  assert.is(inProcess.code, 1, "doctor reports the damage with exit 1");
  const r = await runWithClosed("stdout", ["doctor", dir]);
  assert.ok(r.code !== 0, `exit ${r.code} (signal ${r.signal}) for a doctor run that found errors, its stdout closed; stderr: ${r.err.slice(0, 300)}`);
});

test("a usage error exits 2 even when stderr is closed (an unhandled EPIPE on stderr must not replace the status)", async () => {
  const dir = tempDir("shardline-cli-");
  const r = await runWithClosed("stderr", ["get", dir, "k", "--no-such-flag"]);
  assert.is(r.code, 2, `exit ${r.code} (signal ${r.signal}) for an unknown option with stderr closed`);
});

test("scan into a pipe whose reader went away stops there and exits 0", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir);
  await db.batch(Array.from({ length: 20_000 }, (_, i) => ({ type: "put" as const, key: `k${String(i).padStart(6, "0")}`, value: "v".repeat(100) })));
  await db.close();
  const r = await runWithClosed("stdout", ["scan", dir]);
  assert.is(r.code, 0, `exit ${r.code} (signal ${r.signal}); stderr: ${r.err.slice(0, 300)}`);
});

test.run();
