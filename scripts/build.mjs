// Build step of `npm test`, `npm run build` and `npm install` (prepare):
//  1. compile the core from assembly/ into build/ and check that the committed copy
//     (src/core/wasm-binary.ts) is that build, so nothing runs a stale core;
//  2. bundle the Node entry points with esbuild into dist/node/ (Bun and Deno run the
//     TypeScript sources directly);
//  3. emit TypeScript declarations into dist/types/ for the package's "types" condition.
import { spawnSync } from "node:child_process";
import { build } from "esbuild";
import { existsSync, rmSync } from "node:fs";
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

/** Node entry points: name in dist/node -> source. Only those that exist are built. */
const entries = {
  mod: "runtimes/node/mod.ts",
  worker: "runtimes/node/worker.ts",
  wal: "runtimes/node/wal.ts",
  cli: "runtimes/node/cli.ts",
};
const entryPoints = Object.fromEntries(Object.entries(entries).filter(([, src]) => existsSync(join(repoDir, src))));

rmSync(join(repoDir, "dist/node"), { recursive: true, force: true });
const common = {
  absWorkingDir: repoDir,
  outdir: "dist/node",
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
};
const { cli, ...library } = entryPoints;
await build({ ...common, entryPoints: library });
// The command line imports its npm dependencies (commander, cli-table3, cli-progress:
// package.json "dependencies") from node_modules at run time rather than bundling them:
// bundled into an ES module, their CommonJS `require("node:events")` calls would fail.
if (cli) await build({ ...common, entryPoints: { cli }, packages: "external" });
// Declarations (and a strict type check of src/ and the Node adapter) with tsc.
rmSync(join(repoDir, "dist/types"), { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(repoDir, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], { cwd: repoDir, stdio: "inherit" });
if (tsc.status !== 0) {
  console.error("build: tsc reported errors");
  process.exit(1);
}
console.log(`build: core ${core.length} bytes (matches committed), dist/node: ${Object.keys(entryPoints).join(", ")}, dist/types`);
