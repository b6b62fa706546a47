// A new user's first slips, against the packed and installed package, where
// tests/package/{first-contact,install,readme}.test.ts do not look. From the review of first
// contact (2026-12-06); each test failed before its fix, for the defect its comment names:
//  - shardline/wal: a log opened twice in one process says to share it with `db.share()` and
//    `attach`, the database's API (attach() refuses a log's handle), not `log.share()` and
//    `attachLog`;
//  - `db.get(key, snapshot)` (the snapshot where `{ snapshot }` belongs) reads the latest
//    value silently: no TypeError, although "a read takes only a snapshot of its own handle
//    (anything else is a TypeError)";
//  - README: "close() is idempotent; every other call afterwards fails with ClosedError",
//    but enqueue after close() rejects with QueueClosedError, which is no ClosedError;
//  - the published DatabaseStats types `blockCache` as `unknown` (README documents its
//    fields), and `coordination.readers` as optional (README documents it as always there,
//    beside `reason?`, `holder?` and `live?`, and the engine always sets it).
// From the second review of first contact (2026-12-07), each failing before its fix:
//  - the exported classes (Database, Log, Publisher, Follower) called with `new` failed with
//    an internal property access, not a TypeError naming open/openLog/startPublisher/
//    openFollower;
//  - open(dir, { readOnly: true }) of a directory without a database said "createIfMissing
//    is false", an option the user had not set (or had set to true);
//  - README "Errors" gave ENOTDIR as the osCode of open on a path that is a file; every
//    runtime says EEXIST.
// The package is packed and installed once per test process by tests/package/installed.ts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { runtimeName } from "../harness/platform.ts";
import { installedPackage, runProgram, runtimeExecutable } from "./installed.ts";
// @ts-ignore: plain .mjs without types
import { repoDir } from "../../scripts/runtimes.mjs";

const test = suite("package: first mistakes");
const runtime = runtimeName();

/** Writes `source` as `name` in a fresh directory of the installed project and runs it in this runtime. */
async function runInProject(dirName: string, name: string, source: string, timeoutMs = 30_000) {
  const pkg = await installedPackage();
  const dir = join(pkg.project, `mistakes-${dirName}-${runtime}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), source);
  const result = await runProgram(runtime, join(dir, name), dir, timeoutMs);
  assert.not.ok(result.timedOut, `did not end by itself:\n${result.stdout}\n${result.stderr}`);
  assert.is(result.code, 0, result.stderr);
  return JSON.parse(result.stdout.trim().split("\n").at(-1)!);
}

// README "The write-ahead log on its own": worker threads share a log with `log.share()` and
// `attachLog`. The LockedError of a second openLog of the same directory in this process is
// built in src/errors.ts:145 for databases only: it tells a log's user to use db.share() and
// attach, and attach() refuses what log.share() returns.
const WAL_TWICE = `import { openLog } from "shardline/wal";
import { attach } from "shardline";
const log = await openLog("./log");
let message = "no error";
try { await openLog("./log", { coordinationTimeoutMs: 0 }); } catch (e) { message = e.message; }
let attachWithLogHandle = "no error";
try { await attach(log.share()); } catch (e) { attachWithLogHandle = e.constructor.name; }
await log.close();
console.log(JSON.stringify({ message, attachWithLogHandle }));
`;

test(`${runtime}: opening a shardline/wal log twice in one process points to log.share() and attachLog, not db.share() and attach`, async () => {
  const got = await runInProject("wal-twice", "wal-twice.mjs", WAL_TWICE);
  // The advice it gives does not work for a log:
  assert.is(got.attachWithLogHandle, "TypeError");
  assert.not.match(got.message, /db\.share\(\) and attach\)/, `message: ${got.message}`);
  assert.match(got.message, /log\.share\(\)/, `message: ${got.message}`);
  assert.match(got.message, /attachLog/, `message: ${got.message}`);
});

// README "Using shardline": `db.getString("user:4", { snapshot })`; "A read takes only a
// snapshot of its own handle (anything else is a TypeError)". The easy slip of passing the
// snapshot itself (`db.get(key, snapshot)`) is not a TypeError: get/getString/has read only
// `options?.snapshot` (src/engine/database.ts:764-800, no check of the options' names), find
// none on a Snapshot, and read the latest value instead of the snapshot's.
const SNAPSHOT_POSITIONAL = `import { open } from "shardline";
const db = await open("./data");
await db.put("user:4", "Grace");
const snapshot = db.snapshot();
await db.put("user:4", "Hopper");
const got = {};
for (const [name, read] of [
  ["get", () => db.get("user:4", snapshot) === undefined ? "undefined" : new TextDecoder().decode(db.get("user:4", snapshot))],
  ["getString", () => db.getString("user:4", snapshot)],
  ["getStringMisspelt", () => db.getString("user:4", { snapshto: snapshot })],
]) {
  try { got[name] = "returned " + read(); } catch (e) { got[name] = e.constructor.name; }
}
got.withOption = db.getString("user:4", { snapshot });
snapshot.release();
await db.close();
console.log(JSON.stringify(got));
`;

test(`${runtime}: db.get/getString given the snapshot itself (or a misspelt option) is a TypeError, not a silent read of the latest value`, async () => {
  const got = await runInProject("snapshot-positional", "snapshot.mjs", SNAPSHOT_POSITIONAL);
  assert.is(got.withOption, "Grace");
  assert.equal(
    { get: got.get, getString: got.getString, getStringMisspelt: got.getStringMisspelt },
    { get: "TypeError", getString: "TypeError", getStringMisspelt: "TypeError" },
  );
});

// README "Using shardline": "close() is idempotent; every other call afterwards fails with
// ClosedError"; README "Errors": ClosedError is "any call on a handle after its close()".
// enqueue after close() rejects with QueueClosedError, which extends ShardlineError, not
// ClosedError (src/errors.ts:227): a program's `e instanceof ClosedError` misses it.
const ENQUEUE_AFTER_CLOSE = `import { open, ClosedError } from "shardline";
const db = await open("./data");
await db.close();
const got = {};
for (const [name, call] of [
  ["put", () => db.put("k", "v")],
  ["flush", () => db.flush()],
  ["enqueue", () => db.enqueue([{ type: "put", key: "k", value: "v" }])],
]) {
  try { await call(); got[name] = "no error"; } catch (e) { got[name] = e instanceof ClosedError ? "ClosedError" : e.constructor.name; }
}
console.log(JSON.stringify(got));
`;

test(`${runtime}: after close(), every call fails with ClosedError as the README says, enqueue included`, async () => {
  const got = await runInProject("enqueue-closed", "enqueue.mjs", ENQUEUE_AFTER_CLOSE);
  assert.equal(got, { put: "ClosedError", flush: "ClosedError", enqueue: "ClosedError" });
});

// README "db.stats()": `blockCache: { hits, misses, evictions, bytes, blocks, cacheBytesMax,
// buffersReused }` and `coordination: { mode, locked, reason?, holder?, readers: [...],
// live? }` (opening handle only). The published declarations say otherwise:
// DatabaseStats.blockCache is `unknown` (src/engine/database.ts:1100), so reading a field is
// error TS18046; CoordinationInfo.readers is optional (src/engine/database.ts:138), though
// #coordination always sets it (database.ts:949), so `.readers.length` is error TS18048.
const TSC = join(repoDir, "node_modules", "typescript", "bin", "tsc");
const STATS_APP = `import { open } from "shardline";
const db = await open("./data");
const stats = db.stats();
const hits: number = stats.blockCache.hits;
const cached: number = stats.blockCache.bytes;
const readers: number = stats.coordination?.readers.length ?? 0;
console.log(hits, cached, readers);
await db.close();
`;

test(`${runtime}: the README's db.stats() fields type-check: blockCache.hits, coordination.readers`, async () => {
  const pkg = await installedPackage();
  const dir = join(pkg.project, `mistakes-ts-stats-${runtime}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  writeFileSync(join(dir, "stats.ts"), STATS_APP);
  const r = runtime === "deno"
    ? spawnSync(runtimeExecutable("deno"), ["check", "--quiet", "stats.ts"], { cwd: dir, encoding: "utf8", timeout: 120_000 })
    : spawnSync(runtimeExecutable("node"), [TSC, "--noEmit", "--strict", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext", "stats.ts"], { cwd: dir, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" }, timeout: 120_000 });
  const output = r.error ? `could not run the type checker: ${r.error.message}` : `${r.stdout}${r.stderr}`;
  // Deno colours its report; the codes are what matter.
  const codes = [...new Set([...output.replace(/\x1b\[[0-9;]*m/g, "").matchAll(/TS\d+/g)].map((m) => m[0]))];
  assert.is(r.status, 0, `type errors ${codes.join(", ")}:\n${output}`);
});

// Scenario: `import { Database } from "shardline"; new Database("./data")` (README.md:569
// lists "the `Database` class" among the exports; shardline/wal "the `Log` class",
// shardline/replicate "the `Publisher` and `Follower` classes").
// Promise: README "Errors": bad arguments are "the standard `TypeError`", each naming what
// is wrong ("options ... of the wrong type", "attach expects the value returned by
// db.share()").
// What happens: in every runtime a TypeError from deep inside the constructor:
// "Cannot read properties of undefined (reading '0')" (Database, src/engine/database.ts:296
// dereferences `core`), "... (reading 'reserveHead')" (Log), "'record'" (Publisher),
// "'stats'" (Follower); Bun: "undefined is not an object (evaluating 'this.core.u32[...]')".
// The published Database declaration even shows the constructor as public
// (dist/types/src/engine/database.d.ts:131, with the internal Core and Platform).
// Fix: guard the constructors with a module-private token and throw
// `TypeError("use open(dir, options) or attach(db.share()) to get a Database")` (and the
// same for Log/openLog, Publisher/startPublisher, Follower/openFollower); mark the
// Database constructor @internal/private in the declarations, as Log's already is.
const CONSTRUCT = `import { Database } from "shardline";
import { Log } from "shardline/wal";
import { Publisher, Follower } from "shardline/replicate";
const got = {};
for (const [name, C, args] of [["Database", Database, ["./data"]], ["Log", Log, ["./log"]], ["Publisher", Publisher, []], ["Follower", Follower, ["./replica"]]]) {
  try { new C(...args); got[name] = "constructed"; } catch (e) { got[name] = e.constructor.name + ": " + e.message; }
}
console.log(JSON.stringify(got));
`;

test(`${runtime}: new Database()/Log()/Publisher()/Follower() by a user is a TypeError pointing to open/openLog/startPublisher/openFollower`, async () => {
  const got = await runInProject("construct", "construct.mjs", CONSTRUCT) as Record<string, string>;
  const factory: Record<string, RegExp> = { Database: /\bopen\b|\battach\b/, Log: /\bopenLog\b|\battachLog\b/, Publisher: /\bstartPublisher\b/, Follower: /\bopenFollower\b/ };
  const bad = Object.entries(got).filter(([name, message]) => !/^TypeError: /.test(message) || !factory[name].test(message)).map(([name, message]) => `new ${name}(): ${message}`);
  assert.equal(bad, []);
});

// Scenario: a reader process opens a database that is not there yet (a wrong path, or
// before the writer created it): `open("./missing", { readOnly: true })`, also with
// `createIfMissing: true` spelt out.
// Promise: README "Errors": DatabaseNotFoundError is "`open` with `createIfMissing: false`
// where the directory holds no database"; "Options": readOnly "changes nothing in the
// directory" (so it cannot create one).
// What happens: DatabaseNotFoundError "no database in ./missing (no MANIFEST) and
// createIfMissing is false; nothing was created": the message blames an option the user
// did not set, or set to true. Diagnosis: src/errors.ts:106 hard-codes the reason;
// src/engine/open-read-only.ts:58 and :124 throw it for readOnly opens.
// Fix: give DatabaseNotFoundError the reason ("readOnly: true opens only an existing
// database" vs "createIfMissing is false") and document the readOnly case in README "Errors".
const READ_ONLY_MISSING = `import { open } from "shardline";
const got = {};
for (const [name, options] of [["readOnly", { readOnly: true }], ["readOnly+createIfMissing", { readOnly: true, createIfMissing: true }]]) {
  try { const db = await open("./missing", options); got[name] = "opened"; await db.close(); } catch (e) { got[name] = e.constructor.name + ": " + e.message; }
}
console.log(JSON.stringify(got));
`;

test(`${runtime}: open({ readOnly: true }) of a directory without a database does not say "createIfMissing is false"`, async () => {
  const got = await runInProject("read-only-missing", "ro.mjs", READ_ONLY_MISSING) as Record<string, string>;
  for (const [name, message] of Object.entries(got)) {
    assert.match(message, /^DatabaseNotFoundError: /, `${name}: ${message}`);
    assert.not.match(message, /createIfMissing is false/, `${name}: ${message}`);
    assert.match(message, /readOnly|read-only/, `${name}: ${message}`);
  }
});

// Scenario: `open("./config.json")`, a path that is a file, then `e.osCode` to tell why.
// Promise: README.md:542 (FileSystemError): "`open` on a path that is a file (`ENOTDIR`)".
// What happens: FileSystemError "mkdir ./config.json: file already exists (EEXIST)",
// osCode "EEXIST", in Node, Bun and Deno (recursive mkdir of an existing file;
// runtimes/common/node-fs-paths.ts:47-56 even maps Node's odd ENOENT to EEXIST, and
// tests/engine/open-options.test.ts:90 accepts either). The README's own example message
// ("mkdir /data/tables: not a directory (ENOTDIR)") is the case of a file *above* the path.
// Fix: make README say `EEXIST` for a path that is a file (and `ENOTDIR` for a file on
// the way to it), or map it to ENOTDIR in open; this test reads the README's code.
const OPEN_FILE = `import { open } from "shardline";
import { writeFileSync } from "node:fs";
writeFileSync("./config.json", "{}");
let got;
try { const db = await open("./config.json"); got = "opened"; await db.close(); } catch (e) { got = { name: e.constructor.name, osCode: e.osCode, message: e.message }; }
console.log(JSON.stringify(got));
`;

test(`${runtime}: open on a path that is a file fails with the osCode README "Errors" gives`, async () => {
  const readme = readFileSync(join(repoDir, "README.md"), "utf8");
  const documented = /`open` on a path that is a file \(`(E[A-Z]+)`\)/.exec(readme)?.[1];
  assert.ok(documented, "README no longer says which osCode open on a file gives");
  const got = await runInProject("open-file", "open-file.mjs", OPEN_FILE) as { name: string; osCode: string; message: string };
  assert.is(got.name, "FileSystemError", JSON.stringify(got));
  assert.is(got.osCode, documented, `README: ${documented}; got: ${got.message}`);
});

test.run();
