// Loaded by scripts/ts-register.mjs: the engine's own worker threads, in Node from sources,
// run from one esbuild bundle of runtimes/node/worker.ts instead of through the module hooks.
//
// Why: Node 20 gives every worker thread that inherits `--import ts-register.mjs` a
// module-hooks thread of its own (one more V8 isolate; hooks are not shared with workers
// before Node 22). A worker that only exits took ~60-80 ms to start without the loader and
// ~300-400 ms with it on the 2-core CI, and a Node pass of the test suite starts ~300 engine
// threads, most of them in the child processes of the crash tests (3 a child: durability,
// actor, pool). From the bundle, a child that opens, writes and closes a database took
// ~0.8 s of CPU instead of ~1.2 s.
//
// What runs from the bundle: `new Worker(<runtimes/node/worker.ts>)` for any role but
// "module" (which imports a module by URL at once: src/worker-client.ts, the tests' own
// worker code), without the `--import` of this loader. What such a thread imports later by
// URL (a pooled job's Platform wrapper, Platform.pooledOn: the tests' power-loss wrapper)
// still loads: the bundle's `await import(x)` calls go through `__shardlineImport`, which
// registers the hooks in that thread at its first `.ts` import. Any other Worker, and this
// one whenever the bundle cannot be made (a syntax error in the sources: the hooks then
// report it as before), is left as it was.
//
// The bundle is cached in node_modules/.cache/shardline-ts/engine-worker-<hash>/worker.js,
// the hash taken over esbuild's version, this file, and the path and bytes of every .ts file
// under src/ and runtimes/ (read again by each process at its first engine thread, ~5 ms), so
// an edit to the sources is never run stale. It is written to a temporary directory and
// renamed, so a process never reads another's half-written bundle. It is named worker.js so
// that runtimes/node/platform.ts, bundled, finds itself as its worker entry
// (`new URL("./worker.js", import.meta.url)`).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import workerThreads from "node:worker_threads";
import { CACHE_DIR, ESBUILD_VERSION } from "./ts-hooks.mjs";

const repoDir = fileURLToPath(new URL("..", import.meta.url));
const ENTRY = join(repoDir, "runtimes/node/worker.ts");
const SOURCE_DIRS = ["src", "runtimes"];
const HOOKS_URL = new URL("./ts-hooks.mjs", import.meta.url).href;
/** Dynamic imports of the bundle, rerouted through __shardlineImport (the banner's own `import(` has no `await`). */
const AWAITED_IMPORT = /\bawait import\(/g;
const BANNER = `import { register as __shardlineRegister } from "node:module";
let __shardlineHooked = false;
const __shardlineImport = (specifier) => {
  if (!__shardlineHooked && String(specifier).endsWith(".ts")) {
    __shardlineRegister(${JSON.stringify(HOOKS_URL)});
    __shardlineHooked = true;
  }
  return import(specifier);
};`;

/** The bundle's file URL; null once making it failed in this process. */
let bundled;

function sourcesHash() {
  const hash = createHash("sha256").update(ESBUILD_VERSION).update("\0").update(readFileSync(fileURLToPath(import.meta.url)));
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".ts")) hash.update(`\0${path}\0`).update(readFileSync(path));
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(repoDir, dir));
  return hash.digest("hex").slice(0, 32);
}

function makeBundle(dir) {
  const esbuild = createRequire(import.meta.url)("esbuild");
  const result = esbuild.buildSync({
    entryPoints: [ENTRY],
    bundle: true,
    write: false,
    format: "esm",
    platform: "node",
    target: "es2022",
    packages: "external",
    keepNames: true,
    logLevel: "silent",
    banner: { js: BANNER },
  });
  const code = result.outputFiles[0].text;
  if (!AWAITED_IMPORT.test(code)) throw new Error("the bundle has no `await import(` to reroute (src/worker-main.ts changed?)");
  const temporary = `${dir}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  mkdirSync(temporary, { recursive: true });
  writeFileSync(join(temporary, "worker.js"), code.replace(AWAITED_IMPORT, "await __shardlineImport("));
  try {
    renameSync(temporary, dir);
  } catch {
    rmSync(temporary, { recursive: true, force: true }); // another process made it first
  }
}

function bundleUrl() {
  if (bundled !== undefined) return bundled;
  try {
    const dir = join(CACHE_DIR, `engine-worker-${sourcesHash()}`);
    const file = join(dir, "worker.js");
    if (!existsSync(file)) makeBundle(dir);
    if (!existsSync(file)) throw new Error(`no bundle at ${file}`);
    bundled = pathToFileURL(file);
  } catch {
    bundled = null;
  }
  return bundled;
}

/** `argv` without this loader's `--import`. */
function withoutLoader(argv) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--import" && String(argv[i + 1]).endsWith("ts-register.mjs")) i++;
    else if (!(argv[i].startsWith("--import=") && argv[i].endsWith("ts-register.mjs"))) out.push(argv[i]);
  }
  return out;
}

function isEngineEntry(url) {
  try {
    const u = url instanceof URL ? url : new URL(String(url));
    return u.protocol === "file:" && fileURLToPath(u) === ENTRY;
  } catch {
    return false;
  }
}

const BaseWorker = workerThreads.Worker;
class EngineWorker extends BaseWorker {
  constructor(url, options = {}) {
    const bundle = isEngineEntry(url) && options.workerData?.role !== "module" ? bundleUrl() : null;
    if (bundle) super(bundle, { ...options, execArgv: withoutLoader(options.execArgv ?? process.execArgv) });
    else super(url, options);
  }
}
workerThreads.Worker = EngineWorker;
syncBuiltinESMExports();
