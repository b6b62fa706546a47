// npm test: build the core and the Node bundle, then run the whole test corpus under Node,
// then Bun, then Deno, each in its own process, and sum the results.
//
// usage: npm test [-- --runtime node,bun] [-- substring ...]
// Last line: `N passed, N failed` over all runtimes. Exit status non-zero if anything failed
// or any runtime could not run.
// Needs nats-server (the JetStream cluster tests, tests/harness/nats-cluster.ts): on PATH or
// in /usr/sbin, else installed with apt-get when run as root; if still missing, no test runs.
import { spawn, spawnSync } from "node:child_process";
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

function runOne(runtime) {
  return new Promise((resolve) => {
    const [cmd, args] = runtimeCommand(runtime, join(repoDir, "tests/run.ts"), filters);
    console.log(`\n== tests under ${runtime}: ${[cmd, ...args].join(" ")}`);
    const started = Date.now();
    const child = spawn(cmd, args, { cwd: repoDir, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, SHARDLINE_TEST_RUNTIME: runtime } });
    let result;
    let tail = "";
    child.stdout.on("data", (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4096);
    });
    const timer = setTimeout(() => {
      console.log(`\n${runtime}: timed out after ${RUNTIME_TIMEOUT_MS / 1000}s, killing`);
      child.kill("SIGKILL");
    }, RUNTIME_TIMEOUT_MS);
    child.on("error", (error) => console.log(`${runtime}: could not start: ${error.message}`));
    child.on("close", (code, signal) => {
      clearTimeout(timer);
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

const results = [];
for (const runtime of runtimes) results.push(await runOne(runtime));

console.log("\n== summary");
for (const r of results) {
  console.log(`${r.runtime.padEnd(5)} ${String(r.passed).padStart(5)} passed ${String(r.failed).padStart(4)} failed  ${r.seconds}s ${r.note}`);
}
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
