/**
 * bench/harness: every system × every workload in the runtime running this file, for
 * scripts/bench.mjs (one process per runtime). Measures the disk's fdatasync floor first,
 * in the same directory tree every workload then uses, checks which systems load here,
 * and runs each (workload, system) pair that applies, each round in a fresh directory.
 *
 * Output (stdout), one record per line: `SHARDLINE-BENCH {json}` records of type
 * "runtime", "floor", "system", "workload", "result" and "done", and
 * `SHARDLINE-PROGRESS {json}` before each step. A system that cannot run here, or a
 * feature it lacks, becomes a result with status "unavailable" and the reason; an error
 * while measuring becomes "failed" with the error (and its stack on stderr); nothing
 * stops the run but a crash of the runtime itself.
 *
 * usage: <runtime> bench/harness/main.ts [--quick] [--workload ids|groups] [--system ids|families] [--dir path]
 * Threads: main thread; workloads start workers and child processes and end them.
 */
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { currentPlatform } from "../lib/platform.ts";
import { ALL_SYSTEMS, selectSystems } from "../systems/all.ts";
import { reasonOf, Unsupported } from "../systems/system.ts";
import { BenchData } from "../workloads/bench-data.ts";
import { allJobs, selectJobs } from "../workloads/all.ts";
import type { JobContext } from "../workloads/workload.ts";
import { emitProgress, emitRecord } from "./emit.ts";
import { measureFloor } from "./floor.ts";
import { timerCostNs } from "./measure.ts";
import { FULL, QUICK } from "./sizes.ts";

const argv = "Deno" in globalThis ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args : process.argv.slice(2);
const { values: options } = parseArgs({
  args: argv,
  options: {
    quick: { type: "boolean", default: false },
    workload: { type: "string", default: "" },
    system: { type: "string", default: "" },
    dir: { type: "string" },
  },
  strict: true,
});
const list = (text: string) => text.split(",").map((s) => s.trim()).filter(Boolean);

const started = performance.now();
const platform = await currentPlatform();
const sizes = options.quick ? QUICK : FULL;
let root: string;
if (options.dir) {
  root = join(options.dir, `shardline-bench-${process.pid}-${Date.now()}`);
  platform.mkdir(root, { recursive: true });
} else {
  root = platform.makeTempDir("shardline-bench-");
}

const systems = selectSystems(list(options.system));
const unknownSystems = list(options.system).filter((n) => !ALL_SYSTEMS.some((s) => s.id === n || s.family === n));
if (unknownSystems.length > 0) throw new Error(`unknown --system ${unknownSystems.join(", ")}`);
const { jobs, wanted } = selectJobs(sizes, list(options.workload));
const known = allJobs(sizes).flatMap((job) => job.workloads.flatMap((w) => [w.id, w.group]));
const unknownWorkloads = list(options.workload).filter((n) => !known.includes(n));
if (unknownWorkloads.length > 0) throw new Error(`unknown --workload ${unknownWorkloads.join(", ")}; known: ${[...new Set(known)].join(", ")}, and in scripts/bench.mjs core, wal`);

emitRecord({
  type: "runtime",
  runtime: platform.runtime,
  version: platform.runtimeVersion,
  quick: options.quick,
  sizes,
  timerCostNs: timerCostNs(),
  dir: root,
});

try {
  const floor = measureFloor(platform, root, sizes.floorSamples);
  emitRecord({ type: "floor", ...floor });

  const availability = new Map<string, true | string>();
  for (const system of systems) {
    const available = await system.available().catch((e) => `available() threw: ${reasonOf(e)}`);
    availability.set(system.id, available);
    emitRecord({
      type: "system",
      id: system.id,
      name: system.name,
      family: system.family,
      library: system.library,
      mode: system.mode,
      durability: system.durability,
      ...(system.readApi ? { readApi: system.readApi } : {}),
      available: available === true,
      ...(available === true ? {} : { reason: available }),
    });
  }
  for (const job of jobs) {
    for (const w of job.workloads) if (wanted.has(w.id)) emitRecord({ type: "workload", ...w });
  }

  let dirs = 0;
  const ctx: JobContext = {
    platform,
    sizes,
    floor,
    data: new BenchData(sizes),
    freshDir() {
      const dir = `${root}/${++dirs}`;
      platform.mkdir(dir);
      return dir;
    },
    removeDir: (dir) => platform.removeAll(dir),
  };

  const steps = jobs.flatMap((job) => systems.map((system) => ({ job, system, participation: job.participation(system) })))
    .filter((s) => s.participation !== undefined);
  for (const [index, { job, system, participation }] of steps.entries()) {
    emitProgress({ done: index, total: steps.length, workload: job.id, system: system.id });
    const ids = job.workloads.map((w) => w.id).filter((id) => wanted.has(id));
    const emitAll = (fields: Record<string, unknown>) => {
      for (const workload of ids) emitRecord({ type: "result", workload, system: system.id, ...fields });
    };
    if (!participation!.run) {
      emitAll({ status: "not-applicable", reason: participation!.reason });
      continue;
    }
    const available = availability.get(system.id)!;
    if (available !== true && !participation!.evenIfUnavailable) {
      emitAll({ status: "unavailable", reason: available });
      continue;
    }
    const label = { comparable: participation!.comparable, ...(participation!.note ? { note: participation!.note } : {}) };
    try {
      const outcome = await job.run(ctx, system, new Set(ids));
      for (const workload of ids) {
        const figures = outcome[workload];
        if (!figures) emitRecord({ type: "result", workload, system: system.id, status: "failed", reason: "the job produced no figures" });
        else if ("unavailable" in figures) emitRecord({ type: "result", workload, system: system.id, status: "unavailable", reason: figures.unavailable });
        else emitRecord({ type: "result", workload, system: system.id, status: "ok", ...label, ...figures });
      }
    } catch (error) {
      if (error instanceof Unsupported) {
        emitAll({ status: "unavailable", reason: error.message });
      } else {
        console.error(`${job.id} / ${system.id} failed:`, error);
        emitAll({ status: "failed", reason: reasonOf(error) });
      }
    }
  }
  emitProgress({ done: steps.length, total: steps.length, workload: "", system: "" });
} finally {
  platform.removeAll(root);
}
emitRecord({ type: "done", seconds: (performance.now() - started) / 1000 });
process.exit(0);
