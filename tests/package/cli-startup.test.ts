// The `shardline` command as a user installs it (issue 11, "first contact": 0.5 to 0.95 s
// per call in Node): the package's bin/shardline.mjs from the installed tarball
// (tests/package/installed.ts) runs `put`, `--help` and `get` in the runtime this suite
// runs in. Under Node it also records, through a module load hook, every module the command
// loads, and checks that it loads only what that command needs (src/cli/main.ts imports the
// commands when one runs; scripts/build.mjs splits dist/node/cli.js there):
//  - `--help` loads commander and no other package, and less than 64 KiB of shardline's
//    JavaScript (the engine alone is about 300 KB);
//  - `get` loads commander and cli-table3 but not cli-progress (only `doctor` draws a
//    progress bar).
// Times are not asserted (they depend on the machine); docs/CLI.md has measured ones.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { runtimeName } from "../harness/platform.ts";
import { installedPackage, runProgram } from "./installed.ts";

const test = suite("shardline command, installed");
const runtime = runtimeName();

/** Node: `--import` this (written into the project) to log every module URL loaded to $SHARDLINE_LOAD_LOG. */
const REGISTER = `import { register } from "node:module";
register("./load-log-hooks.mjs", import.meta.url);
`;
const HOOKS = `import { appendFileSync } from "node:fs";
export async function load(url, context, nextLoad) {
  appendFileSync(process.env.SHARDLINE_LOAD_LOG, url + "\\n");
  return nextLoad(url, context);
}
`;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Node only: the file URLs of the modules loaded. */
  loaded: string[];
}

let calls = 0;

/** Runs the installed bin/shardline.mjs with `args` in the project directory. */
async function shardline(args: string[]): Promise<Ran> {
  const pkg = await installedPackage();
  const bin = join(pkg.packageDir, "bin", "shardline.mjs");
  if (runtime !== "node") {
    const r = await runProgram(runtime, bin, pkg.project, 60_000, { args });
    return { ...r, loaded: [] };
  }
  writeFileSync(join(pkg.project, "load-log-register.mjs"), REGISTER);
  writeFileSync(join(pkg.project, "load-log-hooks.mjs"), HOOKS);
  const log = join(pkg.project, `load-log-${calls++}.txt`);
  writeFileSync(log, "");
  const r = await runProgram("node", bin, pkg.project, 60_000, {
    args,
    runtimeArgs: ["--import", pathToFileURL(join(pkg.project, "load-log-register.mjs")).href],
    env: { SHARDLINE_LOAD_LOG: log },
  });
  const loaded = readFileSync(log, "utf8").split("\n").filter((url) => url.startsWith("file:"));
  return { ...r, loaded };
}

/** The npm packages (other than shardline) among the loaded module URLs. */
function packagesLoaded(loaded: string[]): string[] {
  const names = new Set<string>();
  for (const url of loaded) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m && m[1] !== "shardline") names.add(m[1]);
  }
  return [...names].sort();
}

/** The loaded files of the shardline package, relative to it. */
function shardlineFiles(loaded: string[], packageDir: string): string[] {
  const root = pathToFileURL(packageDir).href + "/";
  return loaded.filter((url) => url.startsWith(root)).map((url) => url.slice(root.length));
}

test(`${runtime}: the installed command puts, prints its help and gets`, async () => {
  const put = await shardline(["put", "cli-db", "user:1", "Ada"]);
  assert.is(put.code, 0, put.stderr);
  const help = await shardline(["--help"]);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: shardline /);
  const get = await shardline(["get", "cli-db", "user:1", "--json"]);
  assert.is(get.code, 0, get.stderr);
  assert.equal(JSON.parse(get.stdout), { key: "user:1", found: true, value: "Ada" });
});

if (runtime === "node") {
  test("node: --help loads commander alone, and none of the engine", async () => {
    const pkg = await installedPackage();
    const help = await shardline(["--help"]);
    assert.is(help.code, 0, help.stderr);
    assert.equal(packagesLoaded(help.loaded), ["commander"]);
    const files = shardlineFiles(help.loaded, pkg.packageDir);
    assert.ok(files.includes("dist/node/cli.js"), files.join(", "));
    const bytes = files.reduce((sum, f) => sum + statSync(join(pkg.packageDir, f)).size, 0);
    assert.ok(bytes < 64 * 1024, `--help loaded ${bytes} bytes of shardline: ${files.join(", ")}`);
  });

  test("node: get loads commander and cli-table3, not cli-progress", async () => {
    const pkg = await installedPackage();
    await shardline(["put", "cli-db-get", "k", "v"]);
    const get = await shardline(["get", "cli-db-get", "k"]);
    assert.is(get.code, 0, get.stderr);
    assert.match(get.stdout, /\bv\b/);
    assert.equal(packagesLoaded(get.loaded), ["cli-table3", "commander"]);
    const files = shardlineFiles(get.loaded, pkg.packageDir);
    assert.ok(files.some((f) => /^dist\/node\/cli-commands-/.test(f)), files.join(", "));
  });
}

test.run();
