/**
 * bench/engine's change-feed subscriber, in a worker thread: attaches to the database the
 * main thread opened, subscribes to every write, puts the key `bench/subscribed` to say so,
 * then reads events until it has read `expected[0]` of them (the main thread stores that
 * count once its phase is over, then writes one more put so a waiting `next()` wakes).
 * Returns how many events it read.
 * Threads: one worker, started by bench/engine/main.ts through runModuleInWorker.
 */
import { bindDatabaseApi } from "../../src/engine/public.ts";
import type { DatabaseHandle } from "../../src/engine/database.ts";
import type { ModuleTaskContext } from "../../src/worker-main.ts";

export interface SubscriberResult {
  eventsRead: number;
}

export async function readEveryEvent(ctx: ModuleTaskContext): Promise<SubscriberResult> {
  const { handle, expected } = ctx.data as { handle: DatabaseHandle; expected: Int32Array };
  const db = await bindDatabaseApi(ctx.platform).attach(handle);
  const feed = db.subscribe();
  await db.put("bench/subscribed", "1");
  let eventsRead = 0;
  for await (const _ of feed) {
    eventsRead++;
    const want = Atomics.load(expected, 0);
    if (want > 0 && eventsRead >= want) break;
  }
  await db.close();
  return { eventsRead };
}
