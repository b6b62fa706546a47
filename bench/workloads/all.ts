/**
 * Every job of the harness, in report order, and the `--workload` selection (a workload
 * id such as "durable-256", or a group such as "durable"). Threads: any.
 */
import type { Sizes } from "../harness/sizes.ts";
import { durableJobs } from "./durable-puts.ts";
import { putJobs } from "./puts.ts";
import { readJob, stringReadJob } from "./reads.ts";
import { recoveryJob } from "./recovery.ts";
import { sustainedJob } from "./sustained.ts";
import { twoWorkersJob } from "./two-workers.ts";
import type { Job } from "./workload.ts";
import { writePathJobs } from "./write-paths.ts";
import { ycsbJob } from "./ycsb.ts";

export function allJobs(sizes: Sizes): Job[] {
  return [
    ...putJobs(sizes),
    ...durableJobs(sizes),
    ...writePathJobs(sizes),
    readJob(sizes),
    stringReadJob(sizes),
    ycsbJob(sizes),
    sustainedJob(sizes),
    twoWorkersJob(sizes),
    recoveryJob(sizes),
  ];
}

/** The jobs with at least one selected workload, and the selected workload ids. */
export function selectJobs(sizes: Sizes, names: readonly string[]): { jobs: Job[]; wanted: Set<string> } {
  const wanted = new Set<string>();
  const jobs = allJobs(sizes).filter((job) => {
    const picked = job.workloads.filter((w) => names.length === 0 || names.includes(w.id) || names.includes(w.group));
    for (const w of picked) wanted.add(w.id);
    return picked.length > 0;
  });
  return { jobs, wanted };
}
