/**
 * Test harness: shardline as a user installs it. `installedPackage()` packs this
 * repository with `npm pack`, installs the tarball into a fresh temporary project with
 * `npm install <tarball>`, and resolves with where things are; it does this once per test
 * process (tests/package/install.test.ts and tests/package/readme.test.ts share it) and
 * removes the project when the process exits.
 *
 * Why `npm pack --ignore-scripts`: `npm test` (scripts/test.mjs) has just run
 * scripts/build.mjs, which is also the `prepare` script; letting npm run it again would
 * rebuild dist/ once per runtime and, while it does, delete dist/node/ under any other
 * test process using this tree. Run `npm run build` first when running these tests alone.
 *
 * Why `npm install --offline` first: the runtime dependencies are pinned and normally in
 * npm's cache already (the repository's own `npm install` put them there), so the install
 * needs no network and takes about a second. Only when the cache lacks one
 * (ENOTCACHED) does it retry with `--prefer-offline`, which fetches just what is missing.
 *
 * Threads: main test thread. Runs under Node, Bun and Deno (node:child_process).
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import type { RuntimeName } from "../../src/platform.ts";
// @ts-ignore: plain .mjs without types
import { repoDir } from "../../scripts/runtimes.mjs";

export interface InstalledPackage {
  /** The temporary project: package.json, node_modules/shardline and its dependencies. */
  readonly project: string;
  /** The tarball's file paths, relative to the package root, as `npm pack` listed them. */
  readonly files: readonly string[];
  /** The installed package root (node_modules/shardline). */
  readonly packageDir: string;
}

/** Generous bound for npm itself; the whole pack and install usually takes 2 to 4 s. */
const NPM_TIMEOUT_MS = 120_000;

let installed: Promise<InstalledPackage> | undefined;

export function installedPackage(): Promise<InstalledPackage> {
  installed ??= install();
  return installed;
}

function npm(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("npm", args, { cwd, encoding: "utf8", timeout: NPM_TIMEOUT_MS, env: { ...process.env, npm_config_update_notifier: "false" } });
  if (r.error) throw new Error(`could not run npm ${args.join(" ")}: ${r.error.message}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

async function install(): Promise<InstalledPackage> {
  const project = mkdtempSync(join(tmpdir(), "shardline-installed-"));
  process.on("exit", () => rmSync(project, { recursive: true, force: true }));

  const pack = npm(["pack", "--ignore-scripts", "--json", "--pack-destination", project], repoDir);
  if (pack.status !== 0) throw new Error(`npm pack failed: ${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;

  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "shardline-user", private: true, type: "module" }));
  const tarball = join(project, info.filename);
  const common = ["install", "--no-audit", "--no-fund", "--no-package-lock", tarball];
  let result = npm([...common, "--offline"], project);
  if (result.status !== 0 && /ENOTCACHED/.test(result.stderr)) result = npm([...common, "--prefer-offline"], project);
  if (result.status !== 0) throw new Error(`npm install ${tarball} failed: ${result.stderr}`);
  rmSync(tarball);
  return { project, files: info.files.map((f) => f.path), packageDir: join(project, "node_modules", "shardline") };
}

/** The plain executable of a runtime, with no TypeScript loader: what a user runs. */
export function runtimeExecutable(runtime: RuntimeName): string {
  switch (runtime) {
    case "node": {
      const inNode = !("Bun" in globalThis) && !("Deno" in globalThis);
      return inNode ? process.execPath : process.env.npm_node_execpath || "node";
    }
    case "bun":
      return join(repoDir, "node_modules", ".bin", "bun");
    case "deno":
      return join(repoDir, "node_modules", ".bin", "deno");
  }
}

export interface RunResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** True if the program had to be killed at the timeout: it did not end by itself. */
  timedOut: boolean;
}

export interface RunOptions {
  /** Arguments for the program, after the file. */
  args?: string[];
  /** Options for the runtime itself, before the file (e.g. node's `--import`). */
  runtimeArgs?: string[];
  /** Variables added to the environment. */
  env?: Record<string, string>;
}

/**
 * Runs a JavaScript file in `runtime` as a user would (`node f.mjs`, `bun f.mjs`,
 * `deno run -A f.mjs`) in `cwd`, killing it after `timeoutMs` if it does not end itself.
 */
export function runProgram(runtime: RuntimeName, file: string, cwd: string, timeoutMs = 60_000, options: RunOptions = {}): Promise<RunResult> {
  const runtimeArgs = [...(runtime === "deno" ? ["run", "-A", "--quiet"] : []), ...(options.runtimeArgs ?? [])];
  const args = [...runtimeArgs, file, ...(options.args ?? [])];
  return new Promise((resolve, reject) => {
    // NODE_OPTIONS could carry the suite's TypeScript loader into the child: a user has none.
    const env = { ...process.env, NODE_OPTIONS: "", ...options.env };
    const child = spawn(runtimeExecutable(runtime), args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout!.setEncoding("utf8").on("data", (s: string) => void (stdout += s));
    child.stderr!.setEncoding("utf8").on("data", (s: string) => void (stderr += s));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** The package.json of the installed package. */
export function installedManifest(pkg: InstalledPackage): { exports: Record<string, Record<string, string> | string> } {
  return JSON.parse(readFileSync(join(pkg.packageDir, "package.json"), "utf8"));
}
