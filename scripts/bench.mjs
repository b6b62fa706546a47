// Benchmark driver: runs bench/<suite>/main.ts in each runtime, one process after another,
// prints what each prints, and gathers their `SHARDLINE-BENCH {json}` lines into
// bench/results/<suite>-latest.json.
//
// usage: npm run bench [-- <suite>] [-- --runtime node,bun] [-- --quick]
//        suites: core (default for now)
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { RUNTIMES, repoDir, runtimeCommand } from "./runtimes.mjs";

const argv = process.argv.slice(2);
let runtimes = RUNTIMES;
const passThrough = [];
let suite = "core";
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--runtime") runtimes = argv[++i].split(",");
  else if (argv[i].startsWith("--")) passThrough.push(argv[i]);
  else suite = argv[i];
}

const build = spawnSync(process.execPath, [join(repoDir, "scripts/build.mjs")], { cwd: repoDir, stdio: "inherit" });
if (build.status !== 0) process.exit(1);

const results = [];
let failed = false;
for (const runtime of runtimes) {
  const [cmd, args] = runtimeCommand(runtime, join(repoDir, "bench", suite, "main.ts"), passThrough);
  const r = spawnSync(cmd, args, { cwd: repoDir, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 64 << 20 });
  process.stdout.write(r.stdout.split("\n").filter((l) => !l.startsWith("SHARDLINE-BENCH ")).join("\n"));
  const lines = r.stdout.split("\n").filter((l) => l.startsWith("SHARDLINE-BENCH "));
  if (r.status !== 0 || lines.length === 0) {
    console.log(`\n${runtime}: benchmark failed (status ${r.status})`);
    failed = true;
  }
  for (const line of lines) results.push(JSON.parse(line.slice("SHARDLINE-BENCH ".length)));
}

mkdirSync(join(repoDir, "bench/results"), { recursive: true });
const report = {
  suite,
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryBytes: totalmem(), platform: process.platform, arch: process.arch },
  results,
};
writeFileSync(join(repoDir, "bench/results", `${suite}-latest.json`), JSON.stringify(report, null, 2) + "\n");
console.log(`\nwrote bench/results/${suite}-latest.json`);
process.exit(failed ? 1 : 0);
