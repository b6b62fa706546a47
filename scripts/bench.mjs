// `npm run bench`: shardline against lmdb-js, SQLite, classic-level and Deno KV, in Node,
// Bun and Deno, with the disk's fdatasync floor measured beside them, in one run.
//
// For each runtime, one after another, each in its own process: bench/harness/main.ts
// (every workload × system, see bench/harness/main.ts), then bench/core, bench/wal,
// bench/engine and bench/replicate (a 3-server JetStream cluster on 127.0.0.1).
// Shows live progress (cli-progress, fed by the children's SHARDLINE-PROGRESS lines),
// gathers their SHARDLINE-BENCH records, and writes <out>/latest.json (every figure, the
// machine, the runtimes and versions), <out>/latest.svg (the chart) and <out>/latest.md
// (the tables, for the README), then prints a table per runtime (cli-table3) and the goals,
// met or MISSED. A full run writing to bench/results also refreshes the README between
// `<!-- shardline-bench:start -->` and `<!-- shardline-bench:end -->`, if it has them.
//
// usage: npm run bench [-- options] [core|wal|engine|replicate ...]
//   --runtime node,bun,deno   runtimes to run (default all three)
//   --quick                   every workload at a tiny size, in seconds (figures mean nothing)
//   --workload a,b            workload ids or groups (put, durable, paths, reads, ycsb,
//                             sustained, workers, recovery) and/or the suites core, wal, engine, replicate;
//                             positional names work too
//   --system a,b              system ids or families (shardline, lmdb, sqlite, classic-level, deno-kv)
//   --out <dir>               where to write latest.* (default: bench/results for a full run
//                             of everything, .tmp/bench-results for a quick or narrowed one)
//   --dir <dir>               where the benchmark directories go (default the OS temp dir)
//   --no-build                skip `node scripts/build.mjs` (the test suite has built already)
// Exit status: 0 when every runtime ran and no result failed (unavailable systems are fine).
//
// Flags are parsed with node:util parseArgs: stable in Node 20, strict about unknown
// flags, and no dependency for a handful of options.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, totalmem, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { renderChart } from "../bench/report/chart.mjs";
import { buildReport, runtimeEntry } from "../bench/report/report.mjs";
import { markdownReport, readmeSection, terminalGoals, terminalRuntimeTable, terminalSuiteTable } from "../bench/report/tables.mjs";
import { validateReport } from "../bench/report/validate.mjs";
import { ensureNatsServer } from "./nats-server.mjs";
import { RUNTIMES, repoDir, runtimeCommand } from "./runtimes.mjs";

let parsed;
try {
  parsed = parseArgs({
    options: {
      runtime: { type: "string" },
      quick: { type: "boolean", default: false },
      workload: { type: "string" },
      system: { type: "string" },
      out: { type: "string" },
      dir: { type: "string" },
      "no-build": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
    allowPositionals: true,
    strict: true,
  });
} catch (error) {
  console.error(`bench: ${error.message} (see npm run bench -- --help)`);
  process.exit(2);
}
const { values: opts, positionals } = parsed;
if (opts.help) {
  const lines = readFileSync(new URL(import.meta.url), "utf8").split("\n");
  console.log(lines.slice(0, lines.findIndex((l) => !l.startsWith("//"))).map((l) => l.slice(3)).join("\n"));
  process.exit(0);
}

const list = (text) => (text ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const runtimes = opts.runtime ? list(opts.runtime) : RUNTIMES;
for (const r of runtimes) if (!RUNTIMES.includes(r)) throw new Error(`unknown runtime ${r}; known: ${RUNTIMES.join(", ")}`);
const names = [...list(opts.workload), ...positionals.flatMap(list)];
const SUITES = ["core", "wal", "engine", "replicate"];
const harnessNames = names.filter((n) => !SUITES.includes(n));
const suites = SUITES.filter((s) => names.length === 0 || names.includes(s));
const runHarness = names.length === 0 || harnessNames.length > 0;
if (suites.includes("replicate") && !ensureNatsServer()) process.exit(1);
// Only a full run of everything may replace the committed report in bench/results; a quick
// or narrowed run goes to .tmp/bench-results unless --out says otherwise.
const complete = !opts.quick && names.length === 0 && !opts.system && runtimes.length === RUNTIMES.length;
const outDir = resolve(opts.out ?? join(repoDir, complete ? "bench/results" : ".tmp/bench-results"));
const benchDir = opts.dir ? resolve(opts.dir) : tmpdir();
const quick = opts.quick;
/** A child that takes longer is killed and its runtime reported as failed. */
const CHILD_LIMIT_MS = quick ? 5 * 60_000 : 30 * 60_000;

const started = Date.now();
if (!opts["no-build"]) {
  const build = spawnSync(process.execPath, [join(repoDir, "scripts/build.mjs")], { cwd: repoDir, stdio: "inherit" });
  if (build.status !== 0) {
    console.error("bench: the build failed");
    process.exit(1);
  }
}

// A live bar per runtime on a terminal; on anything else (CI, the test suite) one plain
// line per workload instead.
const tty = Boolean(process.stderr.isTTY);
const multibar = tty && new cliProgress.MultiBar({
  format: " {runtime} [{bar}] {value}/{total} {step}",
  barsize: 30,
  hideCursor: true,
  clearOnComplete: false,
  stopOnComplete: false,
  noTTYOutput: false,
}, cliProgress.Presets.shades_classic);

/** What the loop below needs of a bar, when there is none to draw. */
function plainBar() {
  let total = 0;
  return { setTotal: (t) => void (total = t), getTotal: () => total, update: () => {} };
}

/** Lines of progress for logs when stderr is not a terminal: one per workload. */
let lastPlain = "";
function plain(runtime, text) {
  if (tty || text === lastPlain) return;
  lastPlain = text;
  process.stderr.write(`bench ${runtime}: ${text}\n`);
}

/** Runs one .ts entry in `runtime`, streaming its stdout lines to `onLine`. */
function runChild(runtime, entry, args, onLine) {
  const [cmd, argv] = runtimeCommand(runtime, join(repoDir, entry), args);
  return new Promise((resolvePromise) => {
    const t0 = Date.now();
    const child = spawn(cmd, argv, { cwd: repoDir, stdio: ["ignore", "pipe", "pipe"] });
    let partial = "";
    let log = "";
    const keep = (text) => void (log = (log + text).slice(-20_000));
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      partial += chunk;
      let i;
      while ((i = partial.indexOf("\n")) >= 0) {
        const line = partial.slice(0, i);
        partial = partial.slice(i + 1);
        if (!onLine(line)) keep(`${line}\n`);
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, CHILD_LIMIT_MS);
    child.on("error", (error) => keep(`could not start: ${error.message}\n`));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (partial) onLine(partial) || keep(partial);
      resolvePromise({ code, signal, timedOut, log, seconds: (Date.now() - t0) / 1000 });
    });
  });
}

function lastLines(text, n = 6) {
  return text.trim().split("\n").slice(-n).join(" | ");
}

const entries = [];
const allRecords = [];
let failures = 0;
let sizes;

/** Runs bench/<suite>/main.ts in `runtime`: its SHARDLINE-BENCH record, or why there is none. */
async function runSuite(runtime, suite) {
  let found;
  const result = await runChild(runtime, `bench/${suite}/main.ts`, quick ? ["--quick"] : [], (line) => {
    if (!line.startsWith("SHARDLINE-BENCH ")) return false;
    found = JSON.parse(line.slice("SHARDLINE-BENCH ".length));
    return true;
  });
  if (found && result.code === 0) return { ok: true, record: found };
  return { ok: false, record: { status: "failed", reason: result.timedOut ? "timed out" : `exited with ${result.code ?? result.signal}: ${lastLines(result.log)}` } };
}

for (const runtime of runtimes) {
  const bar = multibar ? multibar.create(1 + suites.length, 0, { runtime: runtime.padEnd(4), step: "starting" }) : plainBar();
  let doneBefore = 0;
  const records = [];
  let outcome = { ok: true, harness: false, seconds: 0 };
  // --quick only proves that everything runs (its figures mean nothing: tests/bench): the
  // suites run beside the harness, on the same cores. A full run measures one at a time.
  const early = quick ? suites.map((suite) => runSuite(runtime, suite)) : undefined;
  if (runHarness) {
    const args = [];
    if (quick) args.push("--quick");
    if (harnessNames.length) args.push("--workload", harnessNames.join(","));
    if (opts.system) args.push("--system", opts.system);
    if (opts.dir) args.push("--dir", benchDir);
    const result = await runChild(runtime, "bench/harness/main.ts", args, (line) => {
      if (line.startsWith("SHARDLINE-PROGRESS ")) {
        const p = JSON.parse(line.slice("SHARDLINE-PROGRESS ".length));
        bar.setTotal(p.total + suites.length);
        bar.update(p.done, { step: p.workload ? `${p.workload} · ${p.system}` : "harness done" });
        if (p.workload) plain(runtime, `${p.done}/${p.total} ${p.workload}`);
        return true;
      }
      if (line.startsWith("SHARDLINE-BENCH ")) {
        records.push(JSON.parse(line.slice("SHARDLINE-BENCH ".length)));
        return true;
      }
      return false;
    });
    const done = records.some((r) => r.type === "done");
    outcome = done && result.code === 0
      ? { ok: true, harness: true, seconds: result.seconds }
      : { ok: false, harness: true, seconds: result.seconds, error: result.timedOut ? `timed out after ${CHILD_LIMIT_MS / 1000} s` : `exited with ${result.code ?? result.signal}: ${lastLines(result.log)}` };
    if (!outcome.ok) failures++;
    doneBefore = bar.getTotal() - suites.length;
    sizes ??= records.find((r) => r.type === "runtime")?.sizes;
  }
  const entry = runtimeEntry(runtime, records, outcome);
  allRecords.push(...records);
  for (const [i, suite] of suites.entries()) {
    bar.update(doneBefore + i, { step: `bench/${suite}` });
    plain(runtime, `bench/${suite}`);
    const { ok, record } = await (early ? early[i] : runSuite(runtime, suite));
    entry.suites[suite] = record;
    if (!ok) failures++;
    else if (entry.version === "unknown") entry.version = record.runtimeVersion;
  }
  bar.update(bar.getTotal(), { step: "done" });
  entries.push(entry);
}
if (multibar) multibar.stop();

const cpuList = cpus();
const report = buildReport({
  date: new Date(started).toISOString(),
  quick,
  command: ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(" "),
  durationSeconds: (Date.now() - started) / 1000,
  selection: { runtimes, workloads: names, systems: list(opts.system) },
  machine: { cpus: cpuList.length, cpuModel: cpuList[0]?.model ?? "unknown", memoryBytes: totalmem(), platform: process.platform, release: release(), arch: process.arch, benchDir },
  sizes: sizes ?? {},
  runtimes: entries,
  records: allRecords,
});
failures += report.runtimes.reduce((n, rt) => n + rt.results.filter((r) => r.status === "failed").length, 0);

console.log("");
for (const rt of report.runtimes) {
  if (rt.results.length > 0 || rt.status !== "ok") console.log(`${terminalRuntimeTable(report, rt)}\n`);
}
const suiteTable = terminalSuiteTable(report);
if (suiteTable) console.log(`${suiteTable}\n`);
if (sizes) {
  const s = sizes;
  const y = s.ycsb;
  const t = s.sustained;
  const ycsb = y ? `; YCSB: ${y.records} records of ${y.valueBytes} B, ${y.operations} operations (E: ${y.scanOperations})` : "";
  const sustained = t ? `; sustained: ${t.factor}× ${t.shards} × ${t.memtableBytesMax / (1 << 20)} MiB memtables, ${t.valueBytes} B values` : "";
  console.log(`Sizes${quick ? " (quick)" : ""}: ${s.rounds} round(s)${s.warmup ? ` after a warm-up of ${s.warmupFraction * 100}%` : ", no warm-up"}; puts ${s.putCount} (1 KiB: ${s.putLargeCount}; 16 KiB: ${s.putHugeCount}; strings: ${s.stringPutCount}); durable ${s.durableCount[1]}/${s.durableCount[16]}/${s.durableCount[256]} at depth 1/16/256; ${s.readKeys} keys loaded, ${s.getCount} gets (strings: ${s.stringGetCount}), ${s.scans} scans of ${s.scanRows} rows${ycsb}${sustained}; ${s.workerPutsEach} puts per worker; ${s.recoveryLogBytes / (1 << 20)} MiB log; ${s.floorSamples} fdatasyncs for the floor; a round stops at ${s.roundCapMs / 1000} s.\n`);
}
if (report.runtimes.some((rt) => rt.harness)) console.log(terminalGoals(report));

if (report.runtimes.every((rt) => rt.status === "failed")) {
  console.error("\nbench: every runtime failed (see above); nothing written");
  process.exit(1);
}
const problems = validateReport(report);
if (problems.length > 0) {
  console.error(`\nbench: the report is malformed (a harness bug), not writing it:\n  ${problems.slice(0, 20).join("\n  ")}`);
  process.exit(1);
}
mkdirSync(outDir, { recursive: true });
writeFileSync(join(outDir, "latest.json"), JSON.stringify(report, null, 2) + "\n");
writeFileSync(join(outDir, "latest.svg"), renderChart(report));
const markdown = markdownReport(report, "bench/results/latest.svg");
writeFileSync(join(outDir, "latest.md"), markdown);
const shown = outDir.startsWith(repoDir) ? relative(repoDir, outDir) || "." : outDir;
console.log(`\nwrote ${shown}/latest.json, latest.svg, latest.md in ${Math.round(report.durationSeconds)} s`);

// The README shows the last committed full run, with the machine it came from.
const readme = join(repoDir, "README.md");
const START = "<!-- shardline-bench:start -->";
const END = "<!-- shardline-bench:end -->";
// Only from a complete run: a narrowed one sent to bench/results with --out would replace
// the section with some rows (review, 2026-12-06).
if (complete && !report.standIn && outDir === resolve(repoDir, "bench/results") && existsSync(readme)) {
  const text = readFileSync(readme, "utf8");
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) {
    writeFileSync(readme, `${text.slice(0, a + START.length)}\n${readmeSection(report, "bench/results/latest.svg", "bench/results/latest.md")}${text.slice(b)}`);
    console.log("updated the benchmark section of README.md");
  }
}
if (failures > 0) console.log(`\n${failures} failure(s): see the tables above`);
process.exit(failures > 0 ? 1 : 0);
