/**
 * Puts from one thread with a non-durable acknowledgement (shardline `durability:
 * "async"`): sequential keys, random keys, and random keys with 1 KiB values. Every
 * system writes the same keys and values, one after another, each acknowledged as its
 * API acknowledges a write (see WriteStyle); ns/op is round time / puts.
 * Threads: the harness's main thread.
 */
import { measureRounds, putLoop } from "../harness/measure.ts";
import type { System } from "../systems/system.ts";
import type { Job, JobContext, Participation, Workload } from "./workload.ts";

/** Who takes part in a workload that asks for a non-durable acknowledgement. */
export function nonDurableParticipation(system: System): Participation {
  if (system.durability === "non-durable") return { run: true, comparable: true };
  if (system.noNonDurable) return { run: false, reason: system.noNonDurable };
  return undefined;
}

function putJob(workload: Workload, keysOf: (ctx: JobContext) => readonly Uint8Array[], large: boolean): Job {
  return {
    id: workload.id,
    workloads: [workload],
    participation: nonDurableParticipation,
    async run(ctx, system) {
      const keys = keysOf(ctx);
      const values = large ? ctx.data.largeValues : ctx.data.values;
      const figures = await measureRounds(ctx.sizes, workload.count, async (count) => {
        const dir = ctx.freshDir();
        const store = await system.open(dir, { valueBytes: values.bytes });
        try {
          return await putLoop(store, keys, values, count, ctx.sizes.roundCapMs);
        } finally {
          await store.close();
          ctx.removeDir(dir);
        }
      });
      return { [workload.id]: figures };
    },
  };
}

export function putJobs(sizes: JobContext["sizes"]): Job[] {
  const common = { group: "put", unit: "put", latency: "none" as const, durability: "non-durable" as const };
  return [
    putJob({
      ...common,
      id: "put-seq",
      title: "put, sequential keys, non-durable ack",
      short: "put seq",
      count: sizes.putCount,
      valueBytes: sizes.valueBytes,
      description: `${sizes.putCount} puts of 16-byte keys in ascending order, ${sizes.valueBytes}-byte values, into an empty store; acknowledged without waiting for the disk`,
    }, (ctx) => ctx.data.sequentialKeys, false),
    putJob({
      ...common,
      id: "put-rand",
      title: "put, random keys, non-durable ack",
      short: "put rand",
      count: sizes.putCount,
      valueBytes: sizes.valueBytes,
      description: `${sizes.putCount} puts of random 16-byte keys, ${sizes.valueBytes}-byte values, into an empty store; acknowledged without waiting for the disk`,
    }, (ctx) => ctx.data.putKeys, false),
    putJob({
      ...common,
      id: "put-rand-1k",
      title: "put, random keys, 1 KiB values, non-durable ack",
      short: "put rand 1K",
      count: sizes.putLargeCount,
      valueBytes: sizes.largeValueBytes,
      description: `${sizes.putLargeCount} puts of random 16-byte keys, ${sizes.largeValueBytes}-byte values, into an empty store; acknowledged without waiting for the disk`,
    }, (ctx) => ctx.data.putKeys, true),
  ];
}
