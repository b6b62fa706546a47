// Build step of `npm test`, `npm run build`, `npm install` and `npm pack` (prepare):
//  1. compile the core from assembly/ into build/ and check that the committed copy
//     (src/core/wasm-binary.ts) is that build, so nothing runs a stale core;
//  2. bundle, for every entry in package.json "exports" ("." is mod, "./wal" is wal, ...),
//     runtimes/node/<name>.ts into dist/node/<name>.js and runtimes/deno/<name>.ts into
//     dist/deno/<name>.js with esbuild, plus each runtime's worker entry and the Node
//     command line (dist/node/cli.js, and the chunk its commands load when one runs).
//     Deno needs plain JavaScript there: it strips no types under
//     node_modules. Bun runs the TypeScript sources (runtimes/bun/), types stripped even
//     under node_modules. No source maps: they would double the package;
//  3. emit TypeScript declarations into dist/types/ (stripInternal drops what is marked
//     @internal: the Platform binders, the tests-only `faults` option), add the
//     disposable globals they mention (runtimes/common/disposable.d.ts) so they compile
//     without @types/node, and put declarations beside each Deno bundle.
import { spawnSync } from "node:child_process";
import { build } from "esbuild";
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildCore, readEmbedded } from "./build-core.mjs";
import { contractIsCurrent } from "./core-contract.mjs";
import { repoDir } from "./runtimes.mjs";

const core = buildCore(join(repoDir, "build/shardline.wasm"));
if (!readEmbedded().equals(core)) {
  console.error("build: src/core/wasm-binary.ts differs from a fresh build of assembly/. Run `npm run build:core` and commit the result.");
  process.exit(1);
}
// The exports' declarations src/ uses must be jco's output for the core's contract, wit/core.wit.
if (!(await contractIsCurrent())) {
  console.error("build: src/core/core-exports.generated.ts differs from jco's output for wit/core.wit. Run `npm run build:core` and commit the result.");
  process.exit(1);
}

/** Entry names from package.json "exports": "." -> mod, "./wal" -> wal, "./level" -> level. */
const pkg = JSON.parse(readFileSync(join(repoDir, "package.json"), "utf8"));
const exportNames = Object.keys(pkg.exports)
  .filter((subpath) => subpath !== "./package.json")
  .map((subpath) => (subpath === "." ? "mod" : subpath.slice(2)));
/** name in dist/<runtime> -> source, for those sources that exist. */
function entriesOf(runtime, names) {
  const sources = names.map((name) => [name, `runtimes/${runtime}/${name}.ts`]);
  return Object.fromEntries(sources.filter(([, src]) => existsSync(join(repoDir, src))));
}
const nodeEntries = entriesOf("node", [...exportNames, "worker"]);
const denoEntries = entriesOf("deno", [...exportNames, "worker"]);
const cliEntry = entriesOf("node", ["cli"]);

rmSync(join(repoDir, "dist/node"), { recursive: true, force: true });
rmSync(join(repoDir, "dist/deno"), { recursive: true, force: true });
// Every entry imports its npm dependencies (package.json "dependencies": commander,
// cli-table3 and cli-progress for the command line, abstract-level for shardline/level)
// from node_modules at run time rather than bundling them: bundled into an ES module,
// their CommonJS `require("node:events")` calls would fail. Deno resolves them the same
// way from node_modules/shardline/dist/deno/.
const common = {
  absWorkingDir: repoDir,
  bundle: true,
  format: "esm",
  logLevel: "warning",
  packages: "external",
};
// The entries share one copy of the engine, split into chunks beside them: bundled each on
// its own, shardline/wal's and shardline/level's ClosedError, Database, ... were other
// classes than shardline's, and `instanceof` against what "shardline" exports was false
// (review, 2026-12-06; tests/package/first-contact.test.ts).
await build({ ...common, entryPoints: nodeEntries, outdir: "dist/node", platform: "node", target: "node20", splitting: true, chunkNames: "shared-[hash]" });
// The command line, split at its dynamic imports: src/cli/main.ts imports the commands
// (src/cli/commands.ts) only when one runs, so dist/node/cli.js holds the argument parsing
// and the Platform, and a chunk beside it, dist/node/cli-commands-<hash>.js, holds the
// commands and the engine and imports cli-table3 (cli-progress: only when doctor runs);
// `shardline --help` parses and loads none of them. The chunks sit beside cli.js, two
// levels below the package root, as runtimes/common/cli-host.ts expects.
await build({ ...common, entryPoints: cliEntry, outdir: "dist/node", platform: "node", target: "node20", splitting: true, chunkNames: "cli-[name]-[hash]" });
// Deno: node: built-ins stay imports too (Deno provides them).
await build({ ...common, entryPoints: denoEntries, outdir: "dist/deno", platform: "neutral", target: "esnext", external: ["node:*"], splitting: true, chunkNames: "shared-[hash]" });

// Declarations (and a strict type check of src/ and the Node adapter) with tsc.
rmSync(join(repoDir, "dist/types"), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(repoDir, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: repoDir, stdio: "inherit" });
if (tsc.status !== 0) {
  console.error("build: tsc reported errors");
  process.exit(1);
}
copyFileSync(join(repoDir, "runtimes/common/disposable.d.ts"), join(repoDir, "dist/types/disposable.d.ts"));
for (const name of exportNames) {
  const nodeTypes = join(repoDir, `dist/types/runtimes/node/${name}.d.ts`);
  if (!existsSync(nodeTypes)) continue;
  const text = readFileSync(nodeTypes, "utf8");
  writeFileSync(nodeTypes, `/// <reference path="../../disposable.d.ts" />\n${text}`);
  if (!denoEntries[name]) continue;
  // The Deno entries export what the Node ones do, bound to the Deno Platform.
  const runtime = /export declare const runtime\b/.test(text) ? `export declare const runtime = "deno";\n` : "";
  writeFileSync(
    join(repoDir, `dist/deno/${name}.d.ts`),
    `/// <reference path="../types/disposable.d.ts" />\nexport * from "../types/runtimes/node/${name}.js";\n${runtime}`,
  );
}
console.log(`build: core ${core.length} bytes (matches committed), dist/node: ${Object.keys({ ...nodeEntries, ...cliEntry }).join(", ")}, dist/deno: ${Object.keys(denoEntries).join(", ")}, dist/types`);
