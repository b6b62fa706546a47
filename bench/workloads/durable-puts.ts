/**
 * Durable puts (shardline `durability: "full"`) with 1, 16 and 256 kept in flight from one
 * thread: a put counts only once the system says it is durable. Reports puts per second,
 * per-put latency p50/p99, and p50 as a multiple of the fdatasync floor measured in the
 * same run. Synchronous APIs (SQLite) cannot keep more than one write in flight; they are
 * labelled so.
 * Threads: the harness's main thread.
 */
import { laneLoop, measureRounds } from "../harness/measure.ts";
import type { Sizes } from "../harness/sizes.ts";
import type { System } from "../systems/system.ts";
import type { Job, Participation } from "./workload.ts";

function participation(depth: number, system: System): Participation {
  if (system.durability !== "durable") return undefined;
  if (depth > 1 && system.synchronousWrites) {
    return { run: true, comparable: true, note: "synchronous API: one write at a time, whatever the depth" };
  }
  return { run: true, comparable: true };
}

function durableJob(sizes: Sizes, depth: 1 | 16 | 256): Job {
  const id = `durable-${depth}`;
  const count = sizes.durableCount[depth];
  return {
    id,
    workloads: [{
      id,
      group: "durable",
      title: depth === 1 ? "durable put, one at a time" : `durable put, ${depth} in flight`,
      short: `durable ×${depth}`,
      unit: "put",
      latency: "op",
      durability: "durable",
      count,
      valueBytes: sizes.valueBytes,
      description: `${count} puts of random 16-byte keys, ${sizes.valueBytes}-byte values, ${depth} in flight, each acknowledged only once durable`,
    }],
    participation: (system) => participation(depth, system),
    async run(ctx, system) {
      const keys = ctx.data.durableKeys;
      const figures = await measureRounds(ctx.sizes, count, async (n) => {
        const dir = ctx.freshDir();
        const store = await system.open(dir, { valueBytes: ctx.data.values.bytes });
        try {
          return await laneLoop(store, keys, ctx.data.values, n, depth, ctx.sizes.roundCapMs);
        } finally {
          await store.close();
          ctx.removeDir(dir);
        }
      });
      figures.extra = {
        vsFdatasyncP50: figures.p50Us! / ctx.floor.fdatasyncAppend.p50Us,
        vsFdatasyncOverwriteP50: figures.p50Us! / ctx.floor.fdatasyncOverwrite.p50Us,
      };
      return { [id]: figures };
    },
  };
}

export function durableJobs(sizes: Sizes): Job[] {
  return [durableJob(sizes, 1), durableJob(sizes, 16), durableJob(sizes, 256)];
}
