// First contact: the packed and installed package as a new user meets it. From the
// first-contact review of 2026-12-06, each test seen failing before its fix:
//  - Node and Deno loaded every `exports` entry as its own esbuild bundle, so the classes
//    the entries share (the errors, Database) were other classes per entry: `instanceof`
//    against what "shardline" exports failed for what shardline/wal and shardline/level
//    raise or return (the entries now share chunks; in Bun, which runs the sources, it held);
//  - opening a directory twice in one process named the process's own pid as "the holder";
//  - the README's command-line block listed a command the installed package cannot run, and
//    a Deno command that does not run there;
//  - the README promised declarations that need no @types/node; shardline/level's do (now
//    said, and checked with skipLibCheck);
//  - a dependency (@nats-io/nuid 3) required a newer Node than package.json "engines" admits;
//  - the README linked files the tarball did not hold;
//  - the published declarations documented another walBufferBytes default than the engine's.
// The package is packed and installed once per test process by tests/package/installed.ts
// (run `npm run build` first when running this file alone).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { runtimeName } from "../harness/platform.ts";
import { installedPackage, runProgram, runtimeExecutable } from "./installed.ts";
// @ts-ignore: plain .mjs without types
import { repoDir } from "../../scripts/runtimes.mjs";

const test = suite("first contact");
const runtime = runtimeName();

/** Writes `source` as `name` in a fresh directory of the installed project and runs it in this runtime. */
async function runInProject(dirName: string, name: string, source: string, timeoutMs = 60_000) {
  const pkg = await installedPackage();
  const dir = join(pkg.project, `${dirName}-${runtime}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), source);
  return { dir, pkg, result: await runProgram(runtime, join(dir, name), dir, timeoutMs) };
}

// README "Errors": every error shardline raises is a ShardlineError, all exported; "Exports":
// shardline/wal exports ShardlineError, ClosedError, ... as shardline does. A user imports
// the classes from "shardline" and checks errors of any entry against them.
const IDENTITY = `import * as main from "shardline";
import * as wal from "shardline/wal";
import { ShardlineLevel } from "shardline/level";
const got = {};
got.sameClosedError = main.ClosedError === wal.ClosedError;
got.sameShardlineError = main.ShardlineError === wal.ShardlineError;
const log = await wal.openLog("./log");
await log.close();
try { await log.append("x"); got.walClosed = "no error"; } catch (e) { got.walClosed = e instanceof main.ClosedError && e instanceof main.ShardlineError; }
const level = new ShardlineLevel("./level");
await level.open();
const inner = level.database;
got.levelDatabase = inner instanceof main.Database;
await level.close();
try { inner.get("k"); got.levelClosed = "no error"; } catch (e) { got.levelClosed = e instanceof main.ClosedError && e instanceof main.ShardlineError; }
console.log(JSON.stringify(got));
`;

// Bun runs the TypeScript sources (one module graph), where this holds; Node and Deno load
// dist/<runtime>/<entry>.js, one self-contained bundle per entry (scripts/build.mjs).
if (runtime !== "bun") {
  test(`${runtime}: errors and handles from shardline/wal and shardline/level are instanceof the classes "shardline" exports`, async () => {
    const { result: r } = await runInProject("identity", "identity.mjs", IDENTITY);
    assert.is(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim()), {
      sameClosedError: true,
      sameShardlineError: true,
      walClosed: true,
      levelDatabase: true,
      levelClosed: true,
    });
  });
}

// README "Errors" (LockedError: "another open in this process ... holds the directory").
// The classic first mistake: open the same directory twice in one process. The message
// must tell the user it is their own process, not send them hunting for "pid N".
const TWICE = `import { open } from "shardline";
import process from "node:process";
const first = await open("./data");
let message = "no error";
try { await open("./data", { coordinationTimeoutMs: 0 }); } catch (e) { message = e.message; }
await first.close();
console.log(JSON.stringify({ pid: process.pid, message }));
`;

test(`${runtime}: opening the same directory twice in one process says it is this process that holds it`, async () => {
  const { result: r } = await runInProject("twice", "twice.mjs", TWICE);
  assert.is(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim()) as { pid: number; message: string };
  assert.match(got.message, /this process|already open/, `message: ${got.message}`);
});

// README "Command line": the block of `npx shardline ...` commands, run in order against the
// installed package (as `npx shardline` would run node_modules/.bin/shardline).
test(`${runtime}: every command of the README's command-line block runs from the installed package`, async () => {
  const pkg = await installedPackage();
  const readme = readFileSync(join(repoDir, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Command line"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1];
  const commands = block.split("\n").filter((l) => l.startsWith("npx shardline "))
    .map((l) => l.replace(/\s+#.*$/, "").trim().split(/\s+/).slice(2));
  assert.ok(commands.length >= 5, `found ${commands.length} commands`);
  const dir = join(pkg.project, `cli-block-${runtime}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "photo.jpg"), new Uint8Array([0xff, 0xd8, 0xff, 0xe0]));
  const bin = join(pkg.packageDir, "bin", "shardline.mjs");
  // The block presumes a database at ./data: make one first, as a user's program would have.
  const made = await runProgram(runtime, bin, dir, 60_000, { args: ["put", "./data", "seed", "1"] });
  assert.is(made.code, 0, made.stderr);
  const failed: string[] = [];
  for (const args of commands) {
    const r = await runProgram(runtime, bin, dir, 60_000, { args });
    if (r.timedOut || r.code !== 0) failed.push(`shardline ${args.join(" ")}: exit ${r.code}${r.timedOut ? " (timed out)" : ""}: ${r.stderr.trim()}`);
  }
  assert.equal(failed, []);
});

if (runtime === "deno") {
  // README "Command line": Deno runs the installed package's bin/shardline.mjs (it strips no
  // types under node_modules, so the shipped runtimes/deno/cli.ts the README named failed).
  test("deno runs the installed package's command line as the README's command line section says", async () => {
    const pkg = await installedPackage();
    const r = spawnSync(runtimeExecutable("deno"), ["run", "-A", "--quiet", join(pkg.packageDir, "bin", "shardline.mjs"), "--version"], { cwd: pkg.project, encoding: "utf8", timeout: 60_000 });
    assert.is(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });
}

if (runtime === "node") {
  const TSC = join(repoDir, "node_modules", "typescript", "bin", "tsc");
  // README "Install and use": the declarations of shardline, shardline/wal and
  // shardline/replicate need no @types/node; shardline/level's build on abstract-level's,
  // which use Node's events and Buffer: skipLibCheck (or @types/node) there. Checked under
  // nodenext and bundler.
  test("the declarations of every exports entry type-check without @types/node (shardline/level with skipLibCheck), nodenext and bundler", async () => {
    const pkg = await installedPackage();
    const dir = join(pkg.project, "ts-entries");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
    writeFileSync(join(dir, "app.ts"), `import { open } from "shardline";
import { openLog } from "shardline/wal";
import { openFollower } from "shardline/replicate";
console.log(open, openLog, openFollower);
`);
    writeFileSync(join(dir, "level.ts"), `import { ShardlineLevel } from "shardline/level";
const level = new ShardlineLevel("./data", { valueEncoding: "json" });
console.log(level.getSync("user:1"));
`);
    assert.not.ok(existsSync(join(pkg.project, "node_modules", "@types", "node")), "the project must not have @types/node");
    const outputs: string[] = [];
    for (const [module, resolution] of [["nodenext", "nodenext"], ["esnext", "bundler"]]) {
      for (const [file, extra] of [["app.ts", []], ["level.ts", ["--skipLibCheck"]]] as const) {
        const r = spawnSync(runtimeExecutable("node"), [TSC, "--noEmit", "--strict", "--target", "es2022", "--module", module, "--moduleResolution", resolution, ...extra, file], { cwd: dir, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" }, timeout: 120_000 });
        // The first errors say enough (each further one repeats the hint to install @types/node).
        if (r.status !== 0) outputs.push(`${file}, moduleResolution ${resolution}: ${`${r.stdout}${r.stderr}`.split("\n").slice(0, 2).map((l) => l.replace(/ Do you need.*$/, "")).join(" | ")}`);
      }
    }
    assert.equal(outputs, []);
  });

  // package.json "engines": { node: ">=20" }, README "Node (20 or later)": every installed
  // dependency must run on the oldest Node the package admits, or npm warns EBADENGINE on
  // every install (and `--engine-strict` refuses to install).
  test("every installed dependency admits the package's minimum Node version (engines)", async () => {
    const pkg = await installedPackage();
    const manifest = JSON.parse(readFileSync(join(pkg.packageDir, "package.json"), "utf8")) as { engines: { node: string } };
    const minimum = lowestMajor(manifest.engines.node);
    const modules = join(pkg.project, "node_modules");
    const bad: string[] = [];
    for (const name of readdirSync(modules).flatMap((n) => n.startsWith("@") ? readdirSync(join(modules, n)).map((m) => `${n}/${m}`) : [n])) {
      const file = join(modules, name, "package.json");
      if (name === "shardline" || !existsSync(file)) continue;
      const dep = JSON.parse(readFileSync(file, "utf8")) as { version: string; engines?: { node?: string } };
      const range = dep.engines?.node;
      if (range !== undefined && lowestMajor(range) > minimum) bad.push(`${name}@${dep.version} requires node ${range}`);
    }
    assert.equal(bad, [], `package.json engines.node is ${manifest.engines.node}`);
  });

  // The README ships in the tarball and is the package's page on npm; package.json has no
  // "repository" for npm to resolve relative links against, so each must be in the tarball.
  test("every relative link and image in the installed README names a file the package holds", async () => {
    const pkg = await installedPackage();
    const readme = readFileSync(join(pkg.packageDir, "README.md"), "utf8");
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1].split("#")[0])
      .filter((t) => t !== "" && !/^[a-z]+:/i.test(t));
    const missing = [...new Set(targets)].filter((t) => !existsSync(join(pkg.packageDir, t)));
    assert.equal(missing, []);
  });

  // README "Options": walBufferBytes defaults to 4 MiB (src/engine/options.ts resolves 4 MiB);
  // the published declarations are what an editor shows for the option.
  test("the published DatabaseOptions.walBufferBytes doc comment states the default the engine uses (4 MiB)", async () => {
    const pkg = await installedPackage();
    const dts = readFileSync(join(pkg.packageDir, "dist", "types", "src", "engine", "options.d.ts"), "utf8");
    const doc = /\/\*\*((?:[^*]|\*(?!\/))*)\*\/\s*walBufferBytes\?:/.exec(dts);
    assert.ok(doc, "no doc comment on walBufferBytes");
    assert.match(doc![1], /Default 4 MiB/, `doc comment: ${doc![1].trim()}`);
  });
}

/** The lowest major version a simple engines range (">=20", ">= 22.x", "10.* || >= 12.*") admits. */
function lowestMajor(range: string): number {
  return Math.min(...range.split("||").map((alt) => Number(/(\d+)/.exec(alt)?.[1] ?? 0)));
}

test.run();
