/**
 * Puts from one thread with a non-durable acknowledgement (shardline `durability:
 * "async"`): sequential keys, random keys, and random keys with 1 KiB and 16 KiB values,
 * all with Uint8Array keys and values; and random string keys with string values
 * ("put-rand-str", each system's string API: bench/systems/system.ts StringStore). Every
 * system writes the same keys and values, one after another, each acknowledged as its
 * API acknowledges a write (see WriteStyle); ns/op is round time / puts.
 * Threads: the harness's main thread.
 */
import { measureRounds, putLoop } from "../harness/measure.ts";
import type { ValuePool } from "../lib/data.ts";
import type { System } from "../systems/system.ts";
import type { Job, JobContext, Participation, Workload } from "./workload.ts";

/** Who takes part in a workload that asks for a non-durable acknowledgement. */
export function nonDurableParticipation(system: System): Participation {
  if (system.durability === "non-durable") return { run: true, comparable: true };
  if (system.noNonDurable) return { run: false, reason: system.noNonDurable };
  return undefined;
}

function putJob(workload: Workload, keysOf: (ctx: JobContext) => readonly Uint8Array[], valuesOf: (ctx: JobContext) => ValuePool): Job {
  return {
    id: workload.id,
    workloads: [workload],
    participation: nonDurableParticipation,
    async run(ctx, system) {
      const keys = keysOf(ctx);
      const values = valuesOf(ctx);
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

/** put-rand with JS strings: string keys and values through each system's string API. */
function stringPutJob(workload: Workload): Job {
  return {
    id: workload.id,
    workloads: [workload],
    participation: nonDurableParticipation,
    async run(ctx, system) {
      const keys = ctx.data.stringPutKeys;
      const strings = ctx.data.stringValues;
      const values = { at: (i: number) => strings[i] };
      const figures = await measureRounds(ctx.sizes, workload.count, async (count) => {
        const dir = ctx.freshDir();
        const store = await system.openStrings(dir, { valueBytes: ctx.sizes.stringValueChars });
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
    }, (ctx) => ctx.data.sequentialKeys, (ctx) => ctx.data.values),
    putJob({
      ...common,
      id: "put-rand",
      title: "put, random keys, non-durable ack",
      short: "put rand",
      count: sizes.putCount,
      valueBytes: sizes.valueBytes,
      description: `${sizes.putCount} puts of random 16-byte keys, ${sizes.valueBytes}-byte values, into an empty store; acknowledged without waiting for the disk`,
    }, (ctx) => ctx.data.putKeys, (ctx) => ctx.data.values),
    putJob({
      ...common,
      id: "put-rand-1k",
      title: "put, random keys, 1 KiB values, non-durable ack",
      short: "put rand 1K",
      count: sizes.putLargeCount,
      valueBytes: sizes.largeValueBytes,
      description: `${sizes.putLargeCount} puts of random 16-byte keys, ${sizes.largeValueBytes}-byte values, into an empty store; acknowledged without waiting for the disk`,
    }, (ctx) => ctx.data.putKeys, (ctx) => ctx.data.largeValues),
    putJob({
      ...common,
      id: "put-rand-16k",
      title: "put, random keys, 16 KiB values, non-durable ack",
      short: "put rand 16K",
      count: sizes.putHugeCount,
      valueBytes: sizes.hugeValueBytes,
      description: `${sizes.putHugeCount} puts of random 16-byte keys, ${sizes.hugeValueBytes}-byte values, into an empty store; acknowledged without waiting for the disk`,
    }, (ctx) => ctx.data.putKeys, (ctx) => ctx.data.hugeValues),
    stringPutJob({
      ...common,
      id: "put-rand-str",
      title: "put, random string keys and string values, non-durable ack",
      short: "put rand str",
      count: sizes.stringPutCount,
      valueBytes: sizes.stringValueChars,
      description: `${sizes.stringPutCount} puts of random ${sizes.stringKeyChars}-character string keys with ${sizes.stringValueChars}-character string values (ASCII, so as many UTF-8 bytes), JS strings handed to each system's string API (shardline: db.put(string, string); lmdb-js: encoding "string"; SQLite: TEXT columns; classic-level: "utf8" encodings), into an empty store; acknowledged without waiting for the disk`,
    }),
  ];
}
