// Checks that a report (bench/report/report.mjs) has the shape it promises: runtimes,
// systems, workloads, floors, goals, and every figure a finite number or, where there is
// no figure, an explicit reason. Returns the list of problems (empty when valid). Used by
// scripts/bench.mjs before it writes anything, and by tests/bench/harness.test.ts.
// It never looks at what a figure is, only that it is one.

const STATUSES = new Set(["ok", "unavailable", "not-applicable", "failed"]);
const GOAL_STATUSES = new Set(["met", "missed", "not-measured"]);

export function validateReport(report) {
  const problems = [];
  const fail = (path, what) => problems.push(`${path}: ${what}`);
  const isText = (x) => typeof x === "string" && x.length > 0;
  const isFigure = (x) => typeof x === "number" && Number.isFinite(x);

  // Every number anywhere must be finite (JSON cannot carry NaN or Infinity; null would hide one).
  (function walk(value, path) {
    if (value === null) fail(path, "null where a figure or a reason belongs");
    else if (typeof value === "number" && !Number.isFinite(value)) fail(path, "not a finite number");
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (typeof value === "object") for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
  })(report, "report");

  if (report?.schema !== "shardline-bench/1") fail("schema", `expected "shardline-bench/1", got ${report?.schema}`);
  if (!isText(report?.date)) fail("date", "missing");
  if (typeof report?.quick !== "boolean") fail("quick", "missing");
  if (!report?.machine || !isFigure(report.machine.cpus)) fail("machine", "missing or without cpus");
  for (const key of ["workloads", "systems", "runtimes", "goals"]) {
    if (!Array.isArray(report?.[key])) fail(key, "not an array");
  }
  if (problems.length > 0) return problems;
  if (report.runtimes.length === 0) fail("runtimes", "empty");
  const harness = report.runtimes.some((rt) => rt.harness);
  if (harness && report.workloads.length === 0) fail("workloads", "empty");
  if (harness && report.systems.length === 0) fail("systems", "empty");

  const workloadIds = new Set(report.workloads.map((w) => w.id));
  const systemIds = new Set(report.systems.map((s) => s.id));
  report.workloads.forEach((w, i) => {
    for (const k of ["id", "group", "title", "short", "unit", "latency", "durability", "description"]) if (!isText(w[k])) fail(`workloads[${i}].${k}`, "missing");
    if (!isFigure(w.count) || !isFigure(w.valueBytes)) fail(`workloads[${i}]`, "count or valueBytes missing");
  });
  report.systems.forEach((s, i) => {
    for (const k of ["id", "name", "family", "mode", "durability"]) if (!isText(s[k])) fail(`systems[${i}].${k}`, "missing");
  });

  report.runtimes.forEach((rt, i) => {
    const at = `runtimes[${i}] (${rt.runtime})`;
    if (!isText(rt.runtime) || !isText(rt.version)) fail(at, "runtime or version missing");
    if (rt.status !== "ok" && rt.status !== "failed") fail(`${at}.status`, `unknown ${rt.status}`);
    if (rt.status === "failed" && !isText(rt.error)) fail(at, "failed without an error");
    if (typeof rt.harness !== "boolean") fail(`${at}.harness`, "not a boolean");
    if (rt.status === "ok" && rt.harness) {
      for (const f of ["fdatasyncAppend", "fdatasyncOverwrite"]) {
        const floor = rt.floor?.[f];
        if (!floor || !isFigure(floor.p50Us) || !isFigure(floor.p99Us) || !isFigure(floor.samples)) fail(`${at}.floor.${f}`, "missing p50Us/p99Us/samples");
      }
      if (!Array.isArray(rt.results) || rt.results.length === 0) fail(`${at}.results`, "none");
    }
    (rt.systems ?? []).forEach((s, j) => {
      if (!systemIds.has(s.id)) fail(`${at}.systems[${j}]`, `unknown system ${s.id}`);
      if (typeof s.available !== "boolean") fail(`${at}.systems[${j}]`, "available is not a boolean");
      if (!s.available && !isText(s.reason)) fail(`${at}.systems[${j}]`, "unavailable without a reason");
      if (!isText(s.library)) fail(`${at}.systems[${j}]`, "library missing");
    });
    (rt.results ?? []).forEach((r, j) => {
      const rat = `${at}.results[${j}] (${r.workload} / ${r.system})`;
      if (!workloadIds.has(r.workload)) fail(rat, "unknown workload");
      if (!systemIds.has(r.system)) fail(rat, "unknown system");
      if (!STATUSES.has(r.status)) fail(rat, `unknown status ${r.status}`);
      if (r.status === "ok") {
        for (const k of ["ops", "rounds", "nsPerOp", "opsPerSecond"]) if (!isFigure(r[k])) fail(rat, `${k} is not a figure`);
        if (!(r.opsPerSecond > 0)) fail(rat, "opsPerSecond is not positive");
        if (typeof r.comparable !== "boolean") fail(rat, "comparable is not a boolean");
        if (r.comparable === false && !isText(r.note)) fail(rat, "not comparable without a note saying why");
        for (const k of ["p50Us", "p99Us", "latencySamples", "shardlineRatio", "opsDoneMin"]) if (k in r && !isFigure(r[k])) fail(rat, `${k} is not a figure`);
        if (r.extra !== undefined) for (const [k, v] of Object.entries(r.extra)) if (!isFigure(v)) fail(rat, `extra.${k} is not a figure`);
        if (r.byType !== undefined) {
          if (typeof r.byType !== "object" || Object.keys(r.byType).length === 0) fail(rat, "byType is empty");
          else for (const [t, x] of Object.entries(r.byType)) {
            for (const k of ["ops", "p50Us", "p99Us"]) if (!isFigure(x?.[k])) fail(rat, `byType.${t}.${k} is not a figure`);
          }
        }
      } else if (!isText(r.reason)) {
        fail(rat, `${r.status} without a reason`);
      }
    });
    for (const [name, suite] of Object.entries(rt.suites ?? {})) {
      if (suite.status === "failed") {
        if (!isText(suite.reason)) fail(`${at}.suites.${name}`, "failed without a reason");
      } else if (suite.bench !== name) fail(`${at}.suites.${name}`, "not a bench/" + name + " result");
    }
  });

  report.goals.forEach((g, i) => {
    const at = `goals[${i}] (${g.runtime} ${g.id})`;
    if (!GOAL_STATUSES.has(g.status)) fail(at, `unknown status ${g.status}`);
    if (g.status === "not-measured" ? !isText(g.reason) : !(isFigure(g.measured) && isFigure(g.target) && isText(g.detail))) {
      fail(at, "a goal needs a measured figure and a target, or the reason it was not measured");
    }
  });
  return problems;
}
