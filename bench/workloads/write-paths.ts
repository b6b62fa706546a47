/**
 * shardline's two other write paths, against its fast path (put-rand):
 * - "channel-path": `fastWrite: false`, so every put goes to its shard's actor over a
 *   channel (what happens when the memtable is full);
 * - "subscriber": the fast path with one change-feed subscriber (`db.subscribe()`)
 *   reading every change while the puts run; also reports how long after the last put's
 *   acknowledgement the subscriber saw the last change (`feedDrainMs`).
 * Same keys, values and counts as put-rand, non-durable acknowledgement. The peers have
 * no equivalent and are listed as not applicable.
 * Threads: the harness's main thread.
 */
import { measureRounds, putLoop, type Round } from "../harness/measure.ts";
import type { Sizes } from "../harness/sizes.ts";
import { median } from "../lib/timing.ts";
import { type Store, type System, Unsupported } from "../systems/system.ts";
import { isRepresentative, type Job, type Participation, type Workload } from "./workload.ts";

/** Longest the subscriber may lag behind the last put before the round fails. */
const FEED_DRAIN_LIMIT_MS = 15_000;

function participation(system: System): Participation {
  if (system.id === "shardline-async") return { run: true, comparable: true };
  if (system.family !== "shardline" && isRepresentative(system)) {
    return { run: false, reason: "no equivalent: these are shardline's own write paths, compared with its fast path" };
  }
  return undefined;
}

/** Changes in one feed event (an event may carry several). */
function changesIn(event: unknown): number {
  if (Array.isArray(event)) return event.length;
  const changes = (event as { changes?: unknown } | null)?.changes;
  return Array.isArray(changes) ? changes.length : 1;
}

async function subscribedRound(store: Store, run: () => Promise<Round>): Promise<Round & { drainMs: number }> {
  if (!store.subscribe) throw new Unsupported("db.subscribe() is not in the engine yet (issue 6)");
  const abort = new AbortController();
  let seen = 0;
  let target = Infinity;
  let lastSeenAt = 0;
  let reached: () => void = () => {};
  const allSeen = new Promise<void>((resolve) => (reached = resolve));
  const check = () => {
    if (seen < target) return false;
    lastSeenAt ||= performance.now();
    reached();
    return true;
  };
  const feed = (async () => {
    for await (const event of store.subscribe!(abort.signal)) {
      seen += changesIn(event);
      if (check()) break;
    }
  })();
  try {
    const round = await run();
    const doneAt = performance.now();
    target = round.ops;
    check();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the subscriber saw ${seen} of ${round.ops} changes within ${FEED_DRAIN_LIMIT_MS} ms`)), FEED_DRAIN_LIMIT_MS);
    });
    try {
      await Promise.race([allSeen, late, feed.then(() => check() || Promise.reject(new Error(`the feed ended after ${seen} of ${round.ops} changes`)))]);
    } finally {
      clearTimeout(timer);
    }
    return { ...round, drainMs: Math.max(0, lastSeenAt - doneAt) };
  } finally {
    abort.abort();
    await feed.catch(() => {});
  }
}

function pathJob(sizes: Sizes, workload: Workload, subscribed: boolean): Job {
  return {
    id: workload.id,
    workloads: [workload],
    participation,
    async run(ctx, system) {
      const drains: number[] = [];
      const figures = await measureRounds(ctx.sizes, workload.count, async (count) => {
        const dir = ctx.freshDir();
        const store = await system.open(dir, subscribed ? { valueBytes: sizes.valueBytes } : { valueBytes: sizes.valueBytes, fastWrite: false });
        try {
          const run = () => putLoop(store, ctx.data.putKeys, ctx.data.values, count, ctx.sizes.roundCapMs);
          if (!subscribed) return await run();
          const round = await subscribedRound(store, run);
          drains.push(round.drainMs);
          return round;
        } finally {
          await store.close();
          ctx.removeDir(dir);
        }
      });
      // With a warm-up, drains[0] is the warm-up round's.
      if (subscribed) figures.extra = { feedDrainMs: median(ctx.sizes.warmup ? drains.slice(1) : drains) };
      return { [workload.id]: figures };
    },
  };
}

export function writePathJobs(sizes: Sizes): Job[] {
  const common = { group: "paths", unit: "put", latency: "none" as const, durability: "non-durable" as const, count: sizes.pathCount, valueBytes: sizes.valueBytes };
  return [
    pathJob(sizes, {
      ...common,
      id: "channel-path",
      title: "put via the channel path (fastWrite: false), non-durable ack",
      short: "channel path",
      description: `put-rand's ${sizes.pathCount} puts with fastWrite: false: every put goes through its shard's actor`,
    }, false),
    pathJob(sizes, {
      ...common,
      id: "subscriber",
      title: "put on the fast path with one change-feed subscriber, non-durable ack",
      short: "1 subscriber",
      description: `put-rand's ${sizes.pathCount} puts while one db.subscribe() reader consumes every change`,
    }, true),
  ];
}
