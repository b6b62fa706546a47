/**
 * Runs the whole uvu test corpus inside the current runtime (Node via the TS loader, Bun,
 * Deno) and ends with one machine-readable line `SHARDLINE-TEST-RESULT {...}` that
 * scripts/test.mjs sums over the runtimes.
 *
 * usage: <runtime> tests/run.ts [substring ...]   only files whose path contains one of them
 *        SHARDLINE_TEST_SHARD=i/n                 and of those, every n-th from the i-th
 */
import { readdirSync, statSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join, relative } from "node:path";
import process from "node:process";

/** How many of the slowest test files the run names at its end (where the suite's time goes). */
const SLOWEST_FILES_SHOWN = 25;

type SuiteRunner = () => Promise<[string | true, number, number, number]>;
type Queue = Array<Array<string | null | SuiteRunner>>;

const g = globalThis as unknown as { UVU_DEFER: number; UVU_QUEUE: Queue; UVU_INDEX: number };
g.UVU_DEFER = 1;
g.UVU_QUEUE = [];

const testsDir = fileURLToPath(new URL(".", import.meta.url));
const repoDir = join(testsDir, "..");
const filters = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  process.argv.slice(2);

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

/**
 * SHARDLINE_TEST_SHARD=i/n runs every n-th file from the i-th (0-based) of those chosen:
 * scripts/test.mjs splits each runtime's pass in n, so that no pass runs alone at the end.
 */
const shard = /^(\d+)\/(\d+)$/.exec(process.env.SHARDLINE_TEST_SHARD ?? "0/1");
if (!shard || Number(shard[1]) >= Number(shard[2])) throw new Error(`SHARDLINE_TEST_SHARD must be i/n with 0 <= i < n`);
const chosen = findTests(testsDir).filter((f) =>
  filters.length === 0 || filters.some((s) => relative(repoDir, f).includes(s))
);
const files = chosen.filter((_, i) => i % Number(shard[2]) === Number(shard[1]));

let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];
/** Seconds each file's suites took, for the list of the slowest at the end. */
const fileSeconds = new Map<string, number>();

for (const [index, file] of files.entries()) {
  const name = relative(repoDir, file);
  g.UVU_INDEX = index;
  g.UVU_QUEUE.push([name]);
  const loadStarted = performance.now();
  try {
    await import(pathToFileURL(file).href);
    fileSeconds.set(name, (performance.now() - loadStarted) / 1000);
  } catch (error) {
    // A file that cannot even load counts as one failure, so it is never silently skipped.
    failed++;
    failures.push(`${name}: failed to load: ${(error as Error)?.stack ?? error}`);
    continue;
  }
  const group = g.UVU_QUEUE[index];
  for (let i = 1; i < group.length; i++) {
    const run = group[i] as SuiteRunner;
    group[i] = async () => {
      const started = performance.now();
      const result = await run();
      fileSeconds.set(name, (fileSeconds.get(name) ?? 0) + (performance.now() - started) / 1000);
      const [errors, ran, skips, total] = result;
      passed += ran;
      failed += total - ran;
      skipped += skips;
      if (errors !== true) failures.push(`${name}`);
      return result;
    };
  }
}

const { exec } = await import("uvu");
await exec();

const slowest = [...fileSeconds].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST_FILES_SHOWN);
console.log(`\nslowest files: ${slowest.map(([file, s]) => `${file} ${s.toFixed(1)} s`).join(", ")}`);
for (const f of failures) console.error(`FAILED: ${f}`);
console.log(
  `SHARDLINE-TEST-RESULT ${JSON.stringify({ files: files.length, passed, failed, skipped })}`,
);
// Leave with the right status even if something (a stray worker, a timer) would keep us alive.
process.exit(failed > 0 || chosen.length === 0 ? 1 : 0);
