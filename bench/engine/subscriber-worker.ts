/**
 * bench/engine's change-feed subscriber, in a worker thread: attaches to the database the
 * main thread opened, subscribes to every write, puts the key `bench/subscribed` to say so,
 * then reads events (touching each key and value, as a consumer would) until it has read
 * `counters[0]` of them (the main thread stores that count once its phase is over, then
 * writes one more put so a waiting `next()` wakes). It publishes how many it has read so
 * far in `counters[1]`, so that the main thread can let it catch up with a warm-up before
 * the measured puts. Returns how many events it read.
 * Threads: one worker, started by bench/engine/main.ts through runModuleInWorker.
 */
import { bindDatabaseApi } from "../../src/engine/public.ts";
import type { DatabaseHandle } from "../../src/engine/database.ts";
import type { ModuleTaskContext } from "../../src/worker-main.ts";

export interface SubscriberResult {
  eventsRead: number;
  /** Key and value bytes of the events read (so that reading them is not optimised away). */
  bytesRead: number;
}

export async function readEveryEvent(ctx: ModuleTaskContext): Promise<SubscriberResult> {
  const { handle, counters } = ctx.data as { handle: DatabaseHandle; counters: Int32Array };
  const db = await bindDatabaseApi(ctx.platform).attach(handle);
  const feed = db.subscribe();
  await db.put("bench/subscribed", "1");
  let eventsRead = 0;
  let bytesRead = 0;
  for await (const event of feed) {
    bytesRead += event.key.length + (event.value?.length ?? 0);
    eventsRead++;
    Atomics.store(counters, 1, eventsRead);
    const want = Atomics.load(counters, 0);
    if (want > 0 && eventsRead >= want) break;
  }
  await db.close();
  return { eventsRead, bytesRead };
}
