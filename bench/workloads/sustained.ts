/**
 * A sustained load: random puts from one thread until 10 times shardline's total memtable
 * size has been written (sizes.sustained: shards × memtableBytesMax × factor, in keys
 * plus values; 4 × 4 MiB × 10 = 160 MiB of 16-byte keys and 4 KiB values in a full run),
 * into an empty store, so that shardline's memtables fill, freeze and flush, and its
 * tables compact, while the puts are measured (LevelDB's compactions run too; LMDB and
 * SQLite grow their B-trees). Every system writes the same keys and values in the same
 * order. shardline opens with exactly those shards and memtables (its defaults in a full
 * run; smaller in --quick so the quick run flushes too) and the workload checks, from
 * `db.stats()`, that the store has that memtable capacity and reports the flushes and
 * compactions that ran during the load.
 * Figures: puts per second over the whole load (first put to last acknowledgement; the
 * load is one round, long enough to be its own warm-up), and p50/p99 of per-put latency
 * from every `latencyEvery`-th put timed from its call to its acknowledgement. Writes are
 * acknowledged as in put-rand (non-durable modes), except that "turn" systems (lmdb-put)
 * issue 256 puts per event turn and await them before the next 256, so that the load is
 * a stream of transactions rather than one.
 * Threads: the harness's main thread.
 */
import { type Round, summarize } from "../harness/measure.ts";
import { type Sizes, sustainedPuts } from "../harness/sizes.ts";
import type { ValuePool } from "../lib/data.ts";
import type { Store } from "../systems/system.ts";
import { nonDurableParticipation } from "./puts.ts";
import type { Job, Workload } from "./workload.ts";

/** Puts per event turn for "turn" systems. */
const TURN = 256;

async function sustainedLoop(store: Store, keys: readonly Uint8Array[], values: ValuePool, count: number, every: number, capMs: number): Promise<Round> {
  const latenciesUs: number[] = [];
  const started = performance.now();
  const deadline = started + capMs;
  let i = 0;
  switch (store.writeStyle) {
    case "sync":
      while (i < count) {
        const end = Math.min(count, i + 256);
        for (; i < end; i++) {
          if (i % every === 0) {
            const t = performance.now();
            store.put(keys[i], values.at(i));
            latenciesUs.push((performance.now() - t) * 1000);
          } else {
            store.put(keys[i], values.at(i));
          }
        }
        if (performance.now() > deadline) break;
      }
      break;
    case "await":
      while (i < count) {
        const end = Math.min(count, i + 256);
        for (; i < end; i++) {
          if (i % every === 0) {
            const t = performance.now();
            await store.put(keys[i], values.at(i));
            latenciesUs.push((performance.now() - t) * 1000);
          } else {
            await store.put(keys[i], values.at(i));
          }
        }
        if (performance.now() > deadline) break;
      }
      break;
    case "turn":
      while (i < count) {
        const end = Math.min(count, i + TURN);
        const pending: Array<Promise<unknown> | undefined> = [];
        for (; i < end; i++) {
          if (i % every === 0) {
            const t = performance.now();
            pending.push(store.put(keys[i], values.at(i))!.then(() => void latenciesUs.push((performance.now() - t) * 1000)));
          } else {
            pending.push(store.put(keys[i], values.at(i)));
          }
        }
        await Promise.all(pending);
        if (performance.now() > deadline) break;
      }
      break;
  }
  const ms = performance.now() - started;
  return { ms, ops: i, capped: i < count, latenciesUs };
}

export function sustainedJob(sizes: Sizes): Job {
  const t = sizes.sustained;
  const count = sustainedPuts(sizes);
  const memtables = t.shards * t.memtableBytesMax;
  const mib = (n: number) => `${+(n / (1 << 20)).toFixed(2)} MiB`;
  const workload: Workload = {
    id: "sustained",
    group: "sustained",
    title: `sustained random puts, ${t.factor}× shardline's memtables, non-durable ack`,
    short: "sustained",
    unit: "put",
    latency: "op",
    durability: "non-durable",
    count,
    valueBytes: t.valueBytes,
    description: `${count} puts of random ${sizes.keyBytes}-byte keys with ${t.valueBytes}-byte values (${mib(count * (sizes.keyBytes + t.valueBytes))}, ${t.factor}× shardline's ${t.shards} shards × ${mib(t.memtableBytesMax)} memtables) into an empty store, in one round: puts per second over the whole load, with flushes and compactions running during it; p50/p99 of every ${t.latencyEvery}th put; acknowledged without waiting for the disk`,
  };
  return {
    id: "sustained",
    workloads: [workload],
    participation: nonDurableParticipation,
    async run(ctx, system) {
      const dir = ctx.freshDir();
      const store = await system.open(dir, { valueBytes: t.valueBytes, shards: t.shards, memtableBytesMax: t.memtableBytesMax });
      try {
        const before = store.engineStats?.();
        if (before && before.memtableBytesTotal !== memtables) {
          throw new Error(`the store has ${before.memtableBytesTotal} memtable bytes, not the ${memtables} this load is sized for`);
        }
        const round = await sustainedLoop(store, ctx.data.sustainedKeys, ctx.data.sustainedValues, count, t.latencyEvery, t.capMs);
        const figures = summarize([round], count);
        figures.extra = { loadBytes: round.ops * (sizes.keyBytes + t.valueBytes) };
        const after = store.engineStats?.();
        if (before && after) {
          figures.extra.memtableBytes = after.memtableBytesTotal;
          figures.extra.flushes = after.flushes - before.flushes;
          figures.extra.compactions = after.compactions - before.compactions;
        }
        return { sustained: figures };
      } finally {
        await store.close();
        ctx.removeDir(dir);
      }
    },
  };
}
