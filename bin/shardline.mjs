#!/usr/bin/env node
// The `shardline` command (package.json "bin"): runs the Node bundle of the command line,
// dist/node/cli.js (built from runtimes/node/cli.ts by scripts/build.mjs on install).
// Commands and flags: `shardline --help`, docs/CLI.md.
import { existsSync } from "node:fs";

const bundle = new URL("../dist/node/cli.js", import.meta.url);
if (!existsSync(bundle)) {
  console.error("shardline: dist/node/cli.js is missing: run `npm run build` in the shardline package first");
  process.exit(1);
}
await import(bundle.href);
