// A publisher whose writer's disk dies under it (a power loss of the writer's platform):
// its loop retries, and what escapes it becomes its failure, never an unhandled rejection
// (which ends a Node process by default). Before, #run's error handler asked whether the
// retained slot was evicted, that stat failed too, and the loop's promise rejected with no
// one listening; close() then rejected with the stat error (review of followers and large
// batches, 2026-12-08).
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { bindReplicateApi } from "../../src/replicate/public.ts";
import { bounded, withPowerLoss } from "../harness/power-loss-platform.ts";
import { cleanup, platform, tempDir } from "../engine/helpers.ts";
import { ownNatsServer, type OwnNatsServer } from "./helpers.ts";

const test = suite("replicate: a publisher whose writer's disk fails");
let server: OwnNatsServer;

test.before(async () => {
  server = await ownNatsServer();
});
test.after(async () => {
  await server?.stop();
  cleanup();
});

/** Rejections no one handled while `body` ran (Node and Bun: the process event; Deno: the global event). */
async function strayRejections(body: () => Promise<void>): Promise<string[]> {
  const stray: string[] = [];
  const onStray = (reason: unknown) => stray.push(String((reason as Error)?.message ?? reason));
  const onEvent = (event: Event) => {
    event.preventDefault();
    onStray((event as PromiseRejectionEvent).reason);
  };
  const target = globalThis as { addEventListener?: (t: string, h: (e: Event) => void) => void; removeEventListener?: (t: string, h: (e: Event) => void) => void };
  process.on("unhandledRejection", onStray);
  target.addEventListener?.("unhandledrejection", onEvent);
  try {
    await body();
  } finally {
    process.off("unhandledRejection", onStray);
    target.removeEventListener?.("unhandledrejection", onEvent);
  }
  return stray;
}

test("the writer's disk dies under a running publisher: no unhandled rejection, close() settles, the last error says why", async () => {
  const root = tempDir();
  const p = withPowerLoss(platform, root, {});
  const writer = await bindDatabaseApi(p).open(`${root}/w`, { shards: 2 });
  const publisher = await bindReplicateApi(p).startPublisher(writer, { servers: server.url, stream: `disk-gone-${Date.now().toString(36)}`, replicas: 1 });
  await writer.put("k", "v");
  await publisher.caughtUp();
  let closed = "";
  const stray = await strayRejections(async () => {
    p.crash();
    // The loop's polls (every 2 ms) meet the dead disk: wait for the first to fail, then a little more.
    for (const until = Date.now() + 10_000; publisher.stats().lastError === undefined && Date.now() < until; ) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
    closed = await publisher.close().then(() => "resolved", (e: Error) => `rejected: ${e?.message}`);
  });
  await bounded(writer.close().catch(() => {}), 3000);
  assert.equal(stray, [], "the publisher's loop rejected with no one to hear it");
  assert.is(closed, "resolved");
  assert.match(publisher.stats().lastError ?? "", /power is off/);
});

test.run();
