// The goals of the benchmark issue, checked against the figures of one run, per runtime.
// A goal is "met" or "missed" only from figures measured in that run; when a figure is
// missing (shardline or the peer unavailable, a workload not selected) it is "not
// measured" with the reason. Tests never assert goals; the report states them.
import { micros, ratio } from "./format.mjs";

function find(rt, workload, system) {
  return rt.results.find((r) => r.workload === workload && r.system === system);
}

/** The ok result, or the reason there is none (named by engine, so one reason covers its modes). */
function figure(report, rt, workload, system) {
  const r = find(rt, workload, system);
  const name = report.systems.find((s) => s.id === system)?.name ?? system;
  if (!r) return { missing: `${name} / ${workload} was not run (not selected)` };
  if (r.status !== "ok") return { missing: `${name} ${r.status}: ${r.reason}` };
  return { result: r };
}

/** A judge: shardline's rate at least `target` times the peer's (both from the same workload). */
function rateAtLeast(target, unit) {
  return ([s, p]) => {
    const x = s.opsPerSecond / p.opsPerSecond;
    return { measured: x, target, met: x >= target, text: `${ratio(x)} (${Math.round(s.opsPerSecond).toLocaleString("en-US")} vs ${Math.round(p.opsPerSecond).toLocaleString("en-US")} ${unit})` };
  };
}

/** Each goal: which figures it needs, and how it is judged (issue 12's table and the earlier issues' goals). */
const GOALS = [
  {
    id: "put-ns",
    goal: "non-durable put from one thread ≤ 500 ns/op (random keys, 100 B values)",
    needs: [["put-rand", "shardline-async"]],
    judge: ([s]) => ({ measured: s.nsPerOp, target: 500, met: s.nsPerOp <= 500, text: `${s.nsPerOp.toFixed(0)} ns/op` }),
  },
  {
    id: "put-vs-lmdb",
    goal: "non-durable put ≥ 3x lmdb-js's batched put (resolves at commit)",
    needs: [["put-rand", "shardline-async"], ["put-rand", "lmdb-put"]],
    judge: ([s, p]) => {
      const x = s.opsPerSecond / p.opsPerSecond;
      return { measured: x, target: 3, met: x >= 3, text: `${ratio(x)} (${Math.round(s.opsPerSecond).toLocaleString("en-US")} vs ${Math.round(p.opsPerSecond).toLocaleString("en-US")} puts/s)` };
    },
  },
  {
    id: "put-vs-sqlite",
    goal: "non-durable put ≥ 20x SQLite WAL synchronous=NORMAL insert",
    needs: [["put-rand", "shardline-async"], ["put-rand", "sqlite-normal"]],
    judge: ([s, p]) => {
      const x = s.opsPerSecond / p.opsPerSecond;
      return { measured: x, target: 20, met: x >= 20, text: `${ratio(x)} (${Math.round(s.opsPerSecond).toLocaleString("en-US")} vs ${Math.round(p.opsPerSecond).toLocaleString("en-US")} puts/s)` };
    },
  },
  {
    id: "durable-256-vs-lmdb",
    goal: "durable puts, 256 in flight ≥ lmdb-js's batched put awaited until flushed (per second)",
    needs: [["durable-256", "shardline-full"], ["durable-256", "lmdb-put-flushed"]],
    judge: ([s, p]) => {
      const x = s.opsPerSecond / p.opsPerSecond;
      return { measured: x, target: 1, met: x >= 1, text: `${ratio(x)} (${Math.round(s.opsPerSecond).toLocaleString("en-US")} vs ${Math.round(p.opsPerSecond).toLocaleString("en-US")} puts/s)` };
    },
  },
  {
    id: "lone-durable-vs-floor",
    goal: "lone durable put p50 ≤ 1.5x fdatasync p50",
    needs: [["durable-1", "shardline-full"]],
    // Against the overwrite floor: shardline's log segments are preallocated, so its
    // durable put pays an fdatasync of data written into space the file has, the cheaper of
    // the two floors (bench/harness/floor.ts). Against the append floor it came out faster
    // than one fdatasync (review, 2026-12-06).
    judge: ([s], rt) => {
      const x = s.p50Us / rt.floor.fdatasyncOverwrite.p50Us;
      return { measured: x, target: 1.5, met: x <= 1.5, text: `${ratio(x)} (${micros(s.p50Us)} vs fdatasync into preallocated space ${micros(rt.floor.fdatasyncOverwrite.p50Us)})` };
    },
  },
  {
    id: "two-workers",
    goal: "2 workers ≥ 1.6x one worker (2 cores)",
    needs: [["workers", "shardline-async"]],
    judge: ([s], _rt, report) => {
      const x = s.extra.speedup;
      const note = report.machine.cpus < 2 ? ` on ${report.machine.cpus} core (the goal is for 2)` : "";
      return { measured: x, target: 1.6, met: x >= 1.6, text: `${ratio(x)}${note}` };
    },
  },
  {
    id: "put-seq-vs-lmdb",
    goal: "non-durable put, sequential keys ≥ 3x lmdb-js's batched put",
    needs: [["put-seq", "shardline-async"], ["put-seq", "lmdb-put"]],
    judge: rateAtLeast(3, "puts/s"),
  },
  {
    id: "get-hit-vs-lmdb",
    goal: "get hit ≥ 1.5x lmdb-js get (gets per second)",
    needs: [["get-hit", "shardline-async"], ["get-hit", "lmdb-putsync"]],
    judge: rateAtLeast(1.5, "gets/s"),
  },
  {
    id: "get-miss-vs-lmdb",
    goal: "get miss ≥ 1.5x lmdb-js get (gets per second)",
    needs: [["get-miss", "shardline-async"], ["get-miss", "lmdb-putsync"]],
    judge: rateAtLeast(1.5, "gets/s"),
  },
  {
    id: "scan-vs-lmdb",
    goal: "scan of 10k rows ≥ 1.5x lmdb-js getRange (rows per second)",
    needs: [["scan", "shardline-async"], ["scan", "lmdb-putsync"]],
    judge: rateAtLeast(1.5, "rows/s"),
  },
  {
    id: "recovery-mb",
    goal: "recovery after kill -9 ≥ 200 MB/s of log",
    needs: [["recovery", "shardline-async"]],
    // Only the engine's open() after kill -9 counts (not the WAL-only stand-in a build
    // without the engine measures).
    engineOnly: true,
    judge: ([s]) => {
      const x = s.extra.logBytes / 1e6 / (s.extra.recoveryMs / 1000);
      return { measured: x, target: 200, met: x >= 200, text: `${x.toFixed(0)} MB/s (${(s.extra.logBytes / 1e6).toFixed(0)} MB in ${(s.extra.recoveryMs / 1000).toFixed(2)} s)` };
    },
  },
];

export function evaluateGoals(report) {
  const out = [];
  for (const rt of report.runtimes) {
    for (const g of GOALS) {
      const base = { id: g.id, runtime: rt.runtime, goal: g.goal };
      if (rt.status !== "ok") {
        out.push({ ...base, status: "not-measured", reason: `the ${rt.runtime} run failed: ${rt.error}` });
        continue;
      }
      if (report.quick) {
        out.push({ ...base, status: "not-measured", reason: "a --quick run (its figures mean nothing: bench/harness/sizes.ts)" });
        continue;
      }
      const got = g.needs.map(([w, s]) => figure(report, rt, w, s));
      const missing = got.find((f) => f.missing);
      if (missing) {
        out.push({ ...base, status: "not-measured", reason: missing.missing });
        continue;
      }
      if (g.engineOnly && got.some((f) => !String(f.result.variant ?? "engine:").startsWith("engine:"))) {
        out.push({ ...base, status: "not-measured", reason: `measured without the engine: ${got[0].result.variant}` });
        continue;
      }
      const verdict = g.judge(got.map((f) => f.result), rt, report);
      out.push({ ...base, status: verdict.met ? "met" : "missed", measured: verdict.measured, target: verdict.target, detail: verdict.text });
    }
  }
  return out;
}
