/**
 * Runs the whole uvu test corpus inside the current runtime (Node via the TS loader, Bun,
 * Deno) and ends with one machine-readable line `SHARDLINE-TEST-RESULT {...}` that
 * scripts/test.mjs sums over the runtimes.
 *
 * usage: <runtime> tests/run.ts [substring ...]   only files whose path contains one of them
 *        SHARDLINE_TEST_CLAIMS=<dir>              and of those, only the ones this process claims
 *
 * Files run one after the other, each imported when its turn comes. With
 * SHARDLINE_TEST_CLAIMS, several processes share one pass: before a file, each claims it by
 * making `<dir>/<index>` (mkdir: exactly one process succeeds) and skips it if another did.
 * scripts/test.mjs runs each runtime's pass as two such processes, which thus take the next
 * file whenever they are free and end within one file of each other (with every other file
 * fixed to each, one half ran 370 s and the other 250 s: the slow files are not spread evenly).
 */
import { mkdirSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { join, relative } from "node:path";
import process from "node:process";

/** How many of the slowest test files the run names at its end (where the suite's time goes). */
const SLOWEST_FILES_SHOWN = 25;

type SuiteRunner = () => Promise<[string | true, number, number, number]>;
type Queue = Array<Array<string | null | SuiteRunner>>;

// uvu queues each suite's runner in UVU_QUEUE[UVU_INDEX] when the file calls `.run()` (with
// UVU_DEFER set, instead of running it): this runner takes them from there.
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

const chosen = findTests(testsDir).filter((f) =>
  filters.length === 0 || filters.some((s) => relative(repoDir, f).includes(s))
);
const claims = process.env.SHARDLINE_TEST_CLAIMS;

/** Whether this process runs file `index` of `chosen`: always, or if its claim was first. */
function claim(index: number): boolean {
  if (!claims) return true;
  try {
    mkdirSync(join(claims, String(index)));
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === "EEXIST") return false;
    throw error;
  }
}

let files = 0;
let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];
/** Seconds each file took (import and suites), for the list of the slowest at the end. */
const fileSeconds = new Map<string, number>();
const runStarted = performance.now();
/** The file running now, to which an error thrown or rejected outside any test is charged. */
let runningFile = "(before the first file)";

/**
 * An exception nobody caught or a rejection nobody handled, in this process, outside the
 * test that caused it (a timer, a stream's "error", a promise left behind): one failure,
 * named after the file running when it surfaced and printed with its stack. Without this a
 * runtime ends the whole part at once, and the run's log says only that the part "exited 1
 * without a result" (CI of stop 39: a Node part died 14 s in and its cause was lost).
 */
function strayError(kind: string, error: unknown): void {
  failed++;
  const text = `${runningFile}: ${kind} outside any test (while that file ran): ${(error as Error)?.stack ?? String(error)}`;
  failures.push(text);
  console.error(`\n${text}`);
}
const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
if (deno) {
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    strayError("uncaught exception", (event as ErrorEvent).error);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    strayError("unhandled rejection", (event as PromiseRejectionEvent).reason);
  });
} else {
  process.on("uncaughtException", (error) => strayError("uncaught exception", error));
  process.on("unhandledRejection", (reason) => strayError("unhandled rejection", reason));
}

for (const [index, file] of chosen.entries()) {
  if (!claim(index)) continue;
  files++;
  const name = relative(repoDir, file);
  runningFile = name;
  g.UVU_INDEX = index;
  g.UVU_QUEUE[index] = [];
  const started = performance.now();
  try {
    await import(pathToFileURL(file).href);
  } catch (error) {
    // A file that cannot even load counts as one failure, so it is never silently skipped.
    failed++;
    failures.push(`${name}: failed to load: ${(error as Error)?.stack ?? error}`);
    continue;
  }
  console.log(`\n${name}`);
  for (const run of g.UVU_QUEUE[index] as SuiteRunner[]) {
    let outcome: Awaited<ReturnType<SuiteRunner>>;
    try {
      outcome = await run();
    } catch (error) {
      // uvu rejects a suite whose own before or after hook threw: one failure, not the part's end.
      failed++;
      failures.push(`${name}: a suite hook threw: ${(error as Error)?.stack ?? error}`);
      continue;
    }
    const [errors, ran, skips, total] = outcome;
    passed += ran;
    failed += total - ran;
    skipped += skips;
    if (errors !== true && errors.length > 0) {
      console.log(`\n${errors}`);
      failures.push(name);
    }
  }
  fileSeconds.set(name, (performance.now() - started) / 1000);
}
console.log(`\n  Total:     ${passed + failed}\n  Passed:    ${passed}\n  Skipped:   ${skipped}\n  Duration:  ${((performance.now() - runStarted) / 1000).toFixed(1)} s`);

const slowest = [...fileSeconds].sort((a, b) => b[1] - a[1]).slice(0, SLOWEST_FILES_SHOWN);
console.log(`\nslowest files: ${slowest.map(([file, s]) => `${file} ${s.toFixed(1)} s`).join(", ")}`);
for (const f of failures) console.error(`FAILED: ${f}`);
console.log(
  `SHARDLINE-TEST-RESULT ${JSON.stringify({ files, chosen: chosen.length, passed, failed, skipped })}`,
);
// Leave with the right status even if something (a stray worker, a timer) would keep us alive.
process.exit(failed > 0 || chosen.length === 0 ? 1 : 0);
