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
// The package is packed and installed once per test process by tests/package/installed.ts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
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

test.run();
