// The report (bench/results/latest.json): what each runtime's processes printed, folded
// into one object, with shardline's ratio to each peer and the goals added. Every figure
// in it was measured in this run; nothing is carried over from an earlier one.
//
// Shape (schema "shardline-bench/1"; bench/report/validate.mjs checks it):
//   { schema, date, quick, command, durationSeconds, selection, machine, sizes, standIn?,
//     workloads: [{ id, group, title, short, unit, latency, durability, count, valueBytes, description }],
//     systems:   [{ id, name, family, mode, durability, readApi? }],
//     runtimes:  [{ runtime, version, status: "ok"|"failed", harness, error?, seconds, timerCostNs?,
//                   floor?: { fdatasyncAppend: {p50Us, p99Us, samples}, fdatasyncOverwrite: {...} },
//                   systems: [{ id, library, available, reason? }],
//                   results: [{ workload, system, status: "ok"|"unavailable"|"not-applicable"|"failed",
//                               reason?, comparable?, note?, variant?, ops, rounds, nsPerOp, opsPerSecond,
//                               p50Us?, p99Us?, latencySamples?, capped?, opsDoneMin?, extra?,
//                               byType?: { [read|update|insert|scan]: { ops, p50Us, p99Us } }, shardlineRatio? }],
//                   suites: { core?: {...}|{status:"failed",reason}, wal?: ..., engine?: ... } }],
//     goals: [{ id, runtime, goal, status: "met"|"missed"|"not-measured", measured?, target?, detail?, reason? }] }
import { evaluateGoals } from "./goals.mjs";

export const SCHEMA = "shardline-bench/1";

/** The runtime entry from one harness process's records (parsed SHARDLINE-BENCH lines). */
export function runtimeEntry(runtime, records, outcome) {
  const info = records.find((r) => r.type === "runtime");
  const floor = records.find((r) => r.type === "floor");
  const entry = {
    runtime,
    version: info?.version ?? "unknown",
    status: outcome.ok ? "ok" : "failed",
    /** Whether bench/harness ran here (not when only bench/core, bench/wal or bench/engine were asked for). */
    harness: outcome.harness,
    ...(outcome.ok ? {} : { error: outcome.error }),
    seconds: outcome.seconds,
    ...(info ? { timerCostNs: info.timerCostNs } : {}),
    ...(floor ? { floor: { fdatasyncAppend: floor.fdatasyncAppend, fdatasyncOverwrite: floor.fdatasyncOverwrite } } : {}),
    systems: records.filter((r) => r.type === "system").map(({ id, library, available, reason }) => ({ id, library, available, ...(reason ? { reason } : {}) })),
    results: records.filter((r) => r.type === "result").map(({ type: _type, ...rest }) => rest),
    suites: {},
  };
  return entry;
}

/** Workloads and systems as the processes described them (the first description wins). */
function catalogue(allRecords) {
  const workloads = new Map();
  const systems = new Map();
  for (const r of allRecords) {
    if (r.type === "workload" && !workloads.has(r.id)) {
      const { type: _type, ...w } = r;
      workloads.set(r.id, w);
    }
    if (r.type === "system" && !systems.has(r.id)) {
      const { id, name, family, mode, durability, readApi } = r;
      systems.set(id, { id, name, family, mode, durability, ...(readApi ? { readApi } : {}) });
    }
  }
  return { workloads: [...workloads.values()], systems: [...systems.values()] };
}

/**
 * shardline ops/s ÷ the peer's, on every peer result whose workload shardline also ran and
 * measured as the peer did: both comparable, and shardline's row the engine's (a row with
 * a variant that does not start "engine:" is the WAL-only stand-in of a build without the
 * engine, recovery.ts: no ratio, as goals.mjs's engineOnly gives no verdict).
 */
function addRatios(runtimes, systems) {
  const isShardline = new Set(systems.filter((s) => s.family === "shardline").map((s) => s.id));
  const engines = (x) => x.variant === undefined || String(x.variant).startsWith("engine:");
  for (const rt of runtimes) {
    for (const r of rt.results) {
      if (r.status !== "ok" || r.comparable === false || isShardline.has(r.system)) continue;
      const own = rt.results.find((x) => x.workload === r.workload && isShardline.has(x.system) && x.status === "ok" && x.comparable !== false && engines(x));
      if (own) r.shardlineRatio = own.opsPerSecond / r.opsPerSecond;
    }
  }
}

export function buildReport({ date, quick, command, durationSeconds, selection, machine, sizes, runtimes, records }) {
  const { workloads, systems } = catalogue(records);
  addRatios(runtimes, systems);
  const report = { schema: SCHEMA, date, quick, command, durationSeconds, selection, machine, sizes, workloads, systems, runtimes, goals: [] };
  // SHARDLINE_BENCH_ENGINE (bench/systems/shardline.ts) swaps in another module: say so everywhere.
  const standIn = runtimes.flatMap((rt) => rt.systems).find((s) => s.library.startsWith("STAND-IN"));
  if (standIn) report.standIn = standIn.library;
  report.goals = evaluateGoals(report);
  return report;
}
