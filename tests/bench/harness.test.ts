// The benchmark harness end to end, in the runtime running the tests: `node
// scripts/bench.mjs --quick --runtime <this runtime>` into a scratch directory, then the
// shape of what it wrote. It proves the harness runs and writes valid output; it never
// looks at what a figure says (no time, no ratio, no goal is asserted).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { XMLValidator } from "fast-xml-parser";
import { suite } from "uvu";
import * as assert from "uvu/assert";
// @ts-ignore: plain .mjs without types
import { validateReport } from "../../bench/report/validate.mjs";
// @ts-ignore: plain .mjs without types
import { repoDir, runtimeCommand } from "../../scripts/runtimes.mjs";
import { runtimeName } from "../harness/platform.ts";

const test = suite("bench harness");
/** Only so a broken harness cannot hang the suite; a quick run takes seconds. */
const SAFETY_TIMEOUT_MS = 240_000;

const WORKLOADS = [
  "put-seq", "put-rand", "put-rand-1k", "put-rand-16k", "put-rand-str", "durable-1", "durable-16", "durable-256", "channel-path", "subscriber",
  "get-hit", "get-miss", "scan", "get-hit-str", "ycsb-a", "ycsb-b", "ycsb-c", "ycsb-d", "ycsb-e", "sustained", "workers", "recovery",
];
const SYSTEMS = ["shardline-async", "shardline-full", "lmdb-put", "lmdb-put-flushed", "lmdb-putsync", "sqlite-normal", "sqlite-full", "classic-level-nosync", "classic-level-sync", "deno-kv"];

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  // The driver is plain JavaScript; running it through the Node command line of
  // scripts/runtimes.mjs finds node from any runtime (its TypeScript loader does no harm).
  const [cmd, argv] = runtimeCommand("node", join(repoDir, "scripts/bench.mjs"), args) as [string, string[]];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { cwd: repoDir, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (chunk: Buffer) => void (output = (output + chunk.toString()).slice(-20_000));
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), SAFETY_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

test("--quick runs every workload and system in this runtime and writes a valid report, chart and tables", async () => {
  const out = mkdtempSync(join(tmpdir(), "shardline-bench-test-"));
  try {
    const runtime = runtimeName();
    const { code, output } = await run(["--quick", "--no-build", "--runtime", runtime, "--out", out]);
    assert.is(code, 0, `bench exited with ${code}:\n${output}`);

    const report = JSON.parse(readFileSync(join(out, "latest.json"), "utf8"));
    assert.equal(validateReport(report), [], "the report has the promised shape");
    assert.is(report.quick, true);
    assert.equal(report.runtimes.map((r: { runtime: string }) => r.runtime), [runtime]);
    assert.equal(report.workloads.map((w: { id: string }) => w.id), WORKLOADS);
    assert.equal(report.systems.map((s: { id: string }) => s.id), SYSTEMS);

    const rt = report.runtimes[0];
    assert.is(rt.status, "ok");
    assert.is(rt.harness, true);
    assert.ok(rt.floor.fdatasyncAppend.samples > 0 && rt.floor.fdatasyncOverwrite.samples > 0, "the floor was measured");
    // Every workload has a row for shardline (measured, or unavailable with the reason).
    for (const w of WORKLOADS) {
      assert.ok(rt.results.some((r: { workload: string; system: string }) => r.workload === w && r.system.startsWith("shardline")), `shardline listed for ${w}`);
    }
    // Mixed workloads report latency per operation type.
    for (const r of rt.results.filter((x: { workload: string; status: string }) => x.workload.startsWith("ycsb-") && x.status === "ok")) {
      assert.ok(r.byType && Object.keys(r.byType).length > 0, `${r.workload} / ${r.system} has latency per operation type`);
    }
    // Peers that load here were measured: at least one figure beside shardline's.
    assert.ok(rt.results.some((r: { status: string; system: string }) => r.status === "ok" && !r.system.startsWith("shardline")), "some peer ran");
    // A peer with a log recovered beside shardline (SQLite loads in every runtime).
    const sqliteRecovery = rt.results.find((r: { workload: string; system: string }) => r.workload === "recovery" && r.system === "sqlite-normal");
    assert.is(sqliteRecovery?.status, "ok", `SQLite's crash recovery was measured: ${JSON.stringify(sqliteRecovery)}`);
    assert.ok(sqliteRecovery.extra.logBytes >= report.sizes.recoveryLogBytes, "its log held the workload's bytes");
    assert.ok(rt.suites.core?.bench === "core" && rt.suites.wal?.bench === "wal" && rt.suites.engine?.bench === "engine", "bench/core, bench/wal and bench/engine ran");
    assert.ok(rt.suites.replicate?.bench === "replicate", `bench/replicate ran: ${JSON.stringify(rt.suites.replicate)}`);
    assert.ok(rt.suites.replicate.withPublisherPerSecond > 0 && rt.suites.replicate.lagMs.notes > 0, "bench/replicate measured a follower's lag under load");
    assert.ok(report.goals.length > 0, "goals are reported");

    const svg = readFileSync(join(out, "latest.svg"), "utf8");
    assert.is(XMLValidator.validate(svg), true, "the chart is well-formed XML");
    assert.ok(svg.startsWith("<svg "), "an SVG document");
    assert.ok((svg.match(/<rect class="bar"/g) ?? []).length > 0, "the chart has bars");

    const markdown = readFileSync(join(out, "latest.md"), "utf8");
    assert.ok(markdown.includes("| workload |"), "the Markdown has the tables");
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test.run();
