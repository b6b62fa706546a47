// shardline installed the way a user installs it (issue 11, "first contact"): the tarball
// from `npm pack`, installed by `npm install <tarball>` into a fresh project
// (tests/package/installed.ts). Checked here, because a symlink to the repository
// (tests/package/exports.test.ts) hides exactly what broke for users:
//  - what the tarball holds: every file package.json "exports" names, Deno's bundles with
//    declarations beside them, and no source maps, tests, scripts, core sources or test helpers;
//  - that the runtime this suite runs in loads `shardline` and `shardline/wal` from
//    node_modules and does a put, get and close there (Deno strips no types under
//    node_modules, so its entry must be JavaScript); Deno also through a file URL of
//    runtimes/deno/mod.ts in this repository, the path with no build step;
//  - that, in that runtime, `shardline`, `shardline/wal` and `shardline/level` export at run
//    time exactly their public names (PUBLIC_EXPORTS): no internals (the Platform binders);
//  - that a plain TypeScript app (`tsc --target es2022 --module nodenext`, no @types/node)
//    type-checks against the published declarations, that they still compile beside
//    lib esnext and @types/node, and that they hide the internals (the Platform binders,
//    each runtime's Platform, the tests-only `faults` option); under Deno, that `deno check`
//    takes dist/deno's declarations (Deno honours "types" too, so "deno" comes first).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import { runtimeName } from "../harness/platform.ts";
import { installedManifest, installedPackage, runProgram, runtimeExecutable } from "./installed.ts";
// @ts-ignore: plain .mjs without types
import { repoDir } from "../../scripts/runtimes.mjs";

const test = suite("package installed from its tarball");
const runtime = runtimeName();

test("the tarball holds every exported file and Deno's declarations, and no maps, tests or scripts", async () => {
  const pkg = await installedPackage();
  const files = new Set(pkg.files);
  const missing: string[] = [];
  for (const [subpath, target] of Object.entries(installedManifest(pkg).exports)) {
    const targets = typeof target === "string" ? [target] : Object.values(target);
    for (const t of targets) if (!files.has(t.replace(/^\.\//, ""))) missing.push(`${subpath} -> ${t}`);
    if (typeof target !== "string" && target.deno) {
      assert.ok(target.deno.endsWith(".js"), `${subpath}: Deno's entry must be JavaScript, got ${target.deno}`);
      const types = target.deno.replace(/^\.\//, "").replace(/\.js$/, ".d.ts");
      if (!files.has(types)) missing.push(`${subpath}: ${types} beside the Deno bundle`);
    }
  }
  assert.equal(missing, []);
  // runtimes/current.ts picks a Platform for tests, benchmarks and scripts; the library never does.
  // The README's benchmark results (its figure and the tables it links) and bench/README.md
  // (how each peer's guarantee was checked; npm adds a README beside files it ships) are the
  // part of bench/ it holds: the links were broken in the installed package (review, 2026-12-06).
  const unwanted = pkg.files.filter((f) => /\.map$|^tests\/|^scripts\/|^bench\/(?!results\/latest\.(md|svg|json)$|README\.md$)|^assembly\/|^build\/|^runtimes\/current\.ts$/.test(f));
  assert.equal(unwanted, []);
});

const PROBE = `import { open, runtime } from "shardline";
import { openLog } from "shardline/wal";
const db = await open("./data-" + runtime);
await db.put("user:1", "Ada");
const value = new TextDecoder().decode(db.get("user:1"));
await db.close();
console.log(JSON.stringify({ runtime, value, openLog: typeof openLog, url: import.meta.resolve("shardline") }));
`;

const ENTRY = { node: "dist/node/mod.js", bun: "runtimes/bun/mod.ts", deno: "dist/deno/mod.js" } as const;

test(`${runtime} imports shardline from node_modules (${ENTRY[runtime]}), puts, gets and closes`, async () => {
  const pkg = await installedPackage();
  const dir = join(pkg.project, `probe-${runtime}`);
  mkdirSync(dir);
  writeFileSync(join(dir, "probe.mjs"), PROBE);
  const r = await runProgram(runtime, join(dir, "probe.mjs"), dir);
  assert.is(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim());
  assert.is(got.runtime, runtime);
  assert.is(got.value, "Ada");
  assert.is(got.openLog, "function");
  assert.is(got.url, pathToFileURL(join(pkg.packageDir, ENTRY[runtime])).href);
});

// README "Exports": the values each entry exports at run time (everything else is a type).
const ERRORS = ["ClosedError", "CorruptionError", "FileSystemError", "LockedError", "ShardlineError", "WalFailedError"];
const PUBLIC_EXPORTS: Record<string, string[]> = {
  shardline: [
    "open", "attach", "runtime", "Database",
    "KEY_BYTES_MAX", "VALUE_BYTES_MAX", "SHARDS_MAX", "BATCH_OPS_MAX", "BATCH_BYTES_MAX",
    ...ERRORS, "DatabaseExistsError", "DatabaseNotFoundError", "FeedHistoryError", "FeedOverflowError", "LockUnavailableError", "MemoryFullError",
    "QueueClosedError", "QueueFullError", "ReadOnlyError", "ReaderEvictedError", "SnapshotReleasedError", "TimeoutError",
    "FollowerDirectoryError",
  ],
  "shardline/wal": ["openLog", "attachLog", "Log", ...ERRORS, "LogTrimmedError"],
  "shardline/level": ["ShardlineLevel"],
  "shardline/replicate": ["startPublisher", "openFollower", "Follower", "Publisher", "ReplicationError", "ReplicationGapError"],
};

test(`${runtime}: the installed shardline, shardline/wal, shardline/level and shardline/replicate export exactly their public names at run time`, async () => {
  const pkg = await installedPackage();
  const dir = join(pkg.project, `exports-${runtime}`);
  mkdirSync(dir);
  const specifiers = Object.keys(PUBLIC_EXPORTS);
  writeFileSync(
    join(dir, "exports.mjs"),
    `const names = {};\nfor (const s of ${JSON.stringify(specifiers)}) names[s] = Object.keys(await import(s)).sort();\nconsole.log(JSON.stringify(names));\n`,
  );
  const r = await runProgram(runtime, join(dir, "exports.mjs"), dir);
  assert.is(r.code, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim()) as Record<string, string[]>;
  for (const specifier of specifiers) assert.equal(got[specifier], [...PUBLIC_EXPORTS[specifier]].sort(), specifier);
});

if (runtime === "deno") {
  test("deno imports runtimes/deno/mod.ts by file URL from this repository (no build step)", async () => {
    const pkg = await installedPackage();
    const dir = join(pkg.project, "probe-deno-url");
    mkdirSync(dir);
    const source = PROBE.replace(`from "shardline"`, `from "${pathToFileURL(join(repoDir, "runtimes/deno/mod.ts")).href}"`)
      .replace(`import { openLog } from "shardline/wal";`, `import { openLog } from "${pathToFileURL(join(repoDir, "runtimes/deno/wal.ts")).href}";`)
      .replace(`url: import.meta.resolve("shardline")`, `url: ""`);
    writeFileSync(join(dir, "probe.mjs"), source);
    const r = await runProgram("deno", join(dir, "probe.mjs"), dir);
    assert.is(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim()), { runtime: "deno", value: "Ada", openLog: "function", url: "" });
  });
}

const TSC = join(repoDir, "node_modules", "typescript", "bin", "tsc");

/** tsc on `files` in the installed project; its output (errors) and exit status. */
function tsc(project: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(runtimeExecutable("node"), [TSC, "--noEmit", "--strict", "--module", "nodenext", ...args], { cwd: project, encoding: "utf8", env: { ...process.env, NODE_OPTIONS: "" } });
  return { status: r.status, output: r.error ? `could not run tsc: ${r.error.message}` : `${r.stdout}${r.stderr}` };
}

const APP = `import { open, attach, ClosedError, type Database, type DatabaseOptions, type ChangeEvent } from "shardline";
import { openLog, type Log } from "shardline/wal";

const options: DatabaseOptions = { durability: "async", shards: 2 };
const db: Database = await open("./data", options);
const ts: bigint = await db.put("user:1", "Ada");
const value: Uint8Array | undefined = db.get("user:1");
for (const [key, v] of db.scan({ prefix: "user:" })) console.log(key.length, v.length);
const feed: AsyncIterable<ChangeEvent> = db.subscribe({ prefix: "user:" });
const snapshot = db.snapshot();
snapshot.release();
const disposeDb: () => Promise<void> = () => db[Symbol.asyncDispose]();
const log: Log = await openLog("./log");
await log.close();
await db.close();
console.log(ts, value, feed, disposeDb, attach, new ClosedError("closed") instanceof Error);
`;

const INTERNALS = `import { bindDatabaseApi, nodePlatform } from "shardline";
import { bindLogApi } from "shardline/wal";
import { open } from "shardline";
await open("./data", { faults: {} });
console.log(bindDatabaseApi, nodePlatform, bindLogApi);
`;

test("a TypeScript app type-checks against the published declarations without @types/node", async () => {
  const pkg = await installedPackage();
  const dir = join(pkg.project, "ts-app");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  writeFileSync(join(dir, "app.ts"), APP);
  assert.not.ok(existsSync(join(pkg.project, "node_modules", "@types", "node")), "the project must not have @types/node");
  const plain = tsc(dir, ["--target", "es2022", "app.ts"]);
  assert.is(plain.status, 0, plain.output);
  // The shipped disposable globals merge with TypeScript's own and with @types/node's.
  const full = tsc(dir, ["--target", "esnext", "--types", "node", "--typeRoots", join(repoDir, "node_modules", "@types"), "app.ts"]);
  assert.is(full.status, 0, full.output);
  // @types/node without the DOM lib (lib es2022, as @tsconfig/node20 sets it): @types/node
  // declares no WebAssembly namespace, which the declarations name; disposable.d.ts supplies
  // it (review of first contact, 2026-12-07: TS2503 "Cannot find namespace 'WebAssembly'").
  const nodeOnly = tsc(dir, ["--target", "es2022", "--lib", "es2022", "--types", "node", "--typeRoots", join(repoDir, "node_modules", "@types"), "app.ts"]);
  assert.is(nodeOnly.status, 0, nodeOnly.output);
});

if (runtime === "deno") {
  test("deno check type-checks the app against dist/deno's declarations (runtime \"deno\")", async () => {
    const pkg = await installedPackage();
    const dir = join(pkg.project, "ts-app-deno");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
    writeFileSync(join(dir, "app.ts"), `import { runtime } from "shardline";\nconst deno: "deno" = runtime;\n${APP}console.log(deno);\n`);
    const r = spawnSync(runtimeExecutable("deno"), ["check", "--quiet", "app.ts"], { cwd: dir, encoding: "utf8" });
    assert.is(r.status, 0, r.error ? r.error.message : `${r.stdout}${r.stderr}`);
  });
}

test("the published declarations hide the Platform binders, the Platforms and the faults option", async () => {
  const pkg = await installedPackage();
  const dir = join(pkg.project, "ts-internals");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  writeFileSync(join(dir, "internals.ts"), INTERNALS);
  const r = tsc(dir, ["--target", "es2022", "internals.ts"]);
  assert.is.not(r.status, 0);
  for (const name of ["bindDatabaseApi", "nodePlatform", "bindLogApi", "faults"]) {
    assert.ok(new RegExp(`'${name}'`).test(r.output), `expected an error naming ${name}:\n${r.output}`);
  }
});

test.run();
