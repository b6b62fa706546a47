// npm test: build the core and the Node bundle, then run the whole test corpus under Node,
// Bun and Deno, and sum the results.
//
// usage: npm test [-- --runtime node,bun] [-- substring ...]
// Last line: `N passed, N failed` over all runtimes. Exit status non-zero if anything failed
// or any runtime could not run.
// Needs nats-server (the JetStream cluster tests, tests/harness/nats-cluster.ts): on PATH or
// in /usr/sbin, else installed with apt-get when run as root; if still missing, no test runs.
//
// Each runtime's pass is split in SHARDLINE_TEST_SHARDS parts (default 2), each its own
// process, and SHARDLINE_TEST_JOBS of those parts run at once (default 2). The parts of a
// runtime share its files: each takes the next file not yet taken when it is free (a claim
// directory per runtime, tests/run.ts SHARDLINE_TEST_CLAIMS), so they end within one file
// of each other. One pass keeps ~1.1 cores busy on average (it waits on child processes,
// NATS servers, sleeps and fsyncs), so two side by side use a 2-core machine instead of
// leaving a core idle; and with halves instead of whole passes, no pass is left running
// alone at the end. Each part's output is printed whole when it
// ends, so the log reads as if they had run one after the other.
//
// Scratch directories go to a fresh directory on tmpfs (/dev/shm) where the machine has
// one, removed at the end (SHARDLINE_TEST_TMPDIR picks another place): the suite proves
// durability with SIGKILLed children and the Platform wrapper that drops what was not
// fdatasynced (tests/harness/power-loss-platform.ts), never with the disk's flush, so a
// real disk's fsync latency only slowed it (Node pass 327 s on the disk, 280 s on tmpfs).
// The disk's fdatasync is measured by the benchmarks (bench/wal, bench/engine), not here.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { ensureNatsServer } from "./nats-server.mjs";
import { RUNTIMES, repoDir, runtimeCommand } from "./runtimes.mjs";

const argv = process.argv.slice(2);
let runtimes = RUNTIMES;
const filters = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--runtime") runtimes = argv[++i].split(",");
  else filters.push(argv[i]);
}
const RUNTIME_TIMEOUT_MS = 20 * 60 * 1000;
const jobs = Math.max(1, Number(process.env.SHARDLINE_TEST_JOBS ?? Math.min(2, availableParallelism())));
const shards = Math.max(1, Number(process.env.SHARDLINE_TEST_SHARDS ?? 2));

/** A fresh scratch directory: under SHARDLINE_TEST_TMPDIR, else on /dev/shm if writable, else the system's. */
function scratchRoot() {
  let parent = process.env.SHARDLINE_TEST_TMPDIR;
  if (!parent) {
    try {
      accessSync("/dev/shm", constants.W_OK);
      parent = "/dev/shm";
    } catch {
      parent = tmpdir();
    }
  }
  return mkdtempSync(join(parent, "shardline-test-"));
}

function step(title, cmd, args) {
  console.log(`\n== ${title}`);
  const r = spawnSync(cmd, args, { cwd: repoDir, stdio: "inherit" });
  if (r.status !== 0) {
    console.log(`${title} failed`);
    console.log("0 passed, 1 failed");
    process.exit(1);
  }
}

if (!ensureNatsServer()) {
  console.log("0 passed, 1 failed");
  process.exit(1);
}
step("build core (asc) and Node bundle (esbuild)", process.execPath, [join(repoDir, "scripts/build.mjs")]);
// tests/, bench/ and scripts/ are checked as strictly as src/ (the build checks src/): a test
// that calls what the engine no longer has fails here, before any runtime runs it.
step("type-check tests, bench and scripts (tsc -p tsconfig.tests.json)", process.execPath, [join(repoDir, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.tests.json"]);

/** Runs part `shard` of the corpus in `runtime`; its output (stdout and stderr) is printed whole when it ends. */
function runOne(runtime, shard, scratch, claims) {
  return new Promise((resolve) => {
    const [cmd, args] = runtimeCommand(runtime, join(repoDir, "tests/run.ts"), filters);
    const part = `${shard}/${shards}`;
    const output = [`\n== tests under ${runtime}, part ${part}: ${[cmd, ...args].join(" ")}\n`];
    console.log(`(started the tests under ${runtime}, part ${part})`);
    const started = Date.now();
    const env = { ...process.env, SHARDLINE_TEST_RUNTIME: runtime, SHARDLINE_TEST_CLAIMS: claims, TMPDIR: scratch, TMP: scratch, TEMP: scratch };
    const child = spawn(cmd, args, { cwd: repoDir, stdio: ["ignore", "pipe", "pipe"], env });
    let result;
    let tail = "";
    child.stdout.on("data", (chunk) => {
      output.push(chunk.toString());
      tail = (tail + chunk.toString()).slice(-4096);
    });
    child.stderr.on("data", (chunk) => output.push(chunk.toString()));
    const timer = setTimeout(() => {
      output.push(`\n${runtime} part ${part}: timed out after ${RUNTIME_TIMEOUT_MS / 1000}s, killing\n`);
      child.kill("SIGKILL");
    }, RUNTIME_TIMEOUT_MS);
    child.on("error", (error) => output.push(`${runtime}: could not start: ${error.message}\n`));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      process.stdout.write(output.join(""));
      const m = /SHARDLINE-TEST-RESULT (\{.*\})/.exec(tail);
      if (m) result = JSON.parse(m[1]);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (!result) {
        resolve({ runtime, ok: false, passed: 0, failed: 1, seconds, note: `exited ${code ?? signal} without a result` });
      } else {
        const ok = code === 0 && result.failed === 0;
        resolve({ runtime, ok, ...result, seconds, note: ok ? "" : `exit status ${code ?? signal}` });
      }
    });
  });
}

const scratch = scratchRoot();
console.log(`\n== scratch directories in ${scratch}; each runtime in ${shards} part(s), ${jobs} at a time`);
const parts = runtimes.flatMap((runtime) => Array.from({ length: shards }, (_, shard) => ({ runtime, shard })));
/** Each runtime's claim directory: its parts claim its files there (tests/run.ts). */
const claimDirs = Object.fromEntries(runtimes.map((runtime) => [runtime, mkdtempSync(join(scratch, `claims-${runtime}-`))]));
const partResults = [];
let next = 0;
async function worker() {
  while (next < parts.length) {
    const { runtime, shard } = parts[next++];
    partResults.push(await runOne(runtime, shard, scratch, claimDirs[runtime]));
  }
}
await Promise.all(Array.from({ length: Math.min(jobs, parts.length) }, worker));
rmSync(scratch, { recursive: true, force: true });

console.log("\n== summary");
const results = runtimes.map((runtime) => {
  const mine = partResults.filter((r) => r.runtime === runtime);
  // Every file chosen ran in exactly one part: the parts' files add up to what each chose
  // (a claim directory shared by mistake would otherwise skip files and stay green).
  const ran = mine.reduce((sum, r) => sum + (r.files ?? 0), 0);
  const chosen = Math.max(0, ...mine.map((r) => r.chosen ?? 0));
  const unrun = mine.every((r) => r.chosen !== undefined) && ran !== chosen ? `${ran} of ${chosen} test files ran` : "";
  return {
    runtime,
    ok: mine.every((r) => r.ok) && !unrun,
    passed: mine.reduce((sum, r) => sum + r.passed, 0),
    failed: mine.reduce((sum, r) => sum + r.failed, 0) + (unrun ? 1 : 0),
    seconds: mine.map((r) => `${r.seconds}s`).join(" + "),
    note: [...mine.map((r) => r.note), unrun].filter(Boolean).join("; "),
  };
});
for (const r of results) {
  console.log(`${r.runtime.padEnd(5)} ${String(r.passed).padStart(5)} passed ${String(r.failed).padStart(4)} failed  ${r.seconds} ${r.note}`);
}
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
