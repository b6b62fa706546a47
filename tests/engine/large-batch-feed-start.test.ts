// A change feed started while a large batch takes its shards' timestamps (src/engine/
// change-feed.ts, starting point): the subscription's starting counters, read one shard
// after the other, must not fall between the batch's takes of two shards, or it delivers
// the batch's operations of one shard and not of the other. The interleaving is forced:
// the subscription's core is wrapped so that its read of shard 0's counter lets a worker's
// batch take its timestamps (on the actor's thread) before it returns.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { Subscription } from "../../src/engine/change-feed.ts";
import { GarbagePacer } from "../../src/engine/garbage-pacer.ts";
import { EngineShared } from "../../src/engine/shared-state.ts";
import { RingView } from "../../src/wal/ring.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { signalKey } from "./fixtures/large-batch-on-signal.ts";
import { cleanup, enc, eventually, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine large batch feed start");
const sleeper = new Int32Array(new SharedArrayBuffer(4));

test.after.each(cleanup);

test("a subscription whose shard counters are read while a large batch takes its timestamps gets all of the batch or none of it", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 2, durability: "async" });
  const handle = db.share();
  const flags = new SharedArrayBuffer(8);
  const i32 = new Int32Array(flags);
  const n = 2000;
  const worker = runModuleInWorker(platform, {
    module: handle.module,
    memory: handle.memory,
    url: new URL("./fixtures/large-batch-on-signal.ts", import.meta.url).href,
    exportName: "largeBatchOnSignal",
    data: { handle, flags, count: n },
  });
  let core: Core | undefined;
  try {
    await eventually(() => Atomics.load(i32, 0) === 1, "the worker attached");
    core = await Core.attach(handle.module, handle.memory);
    const perShard = [0n, 0n];
    for (let i = 0; i < n; i++) perShard[core.shardOf(enc.encode(signalKey(i)))]++;
    assert.ok(perShard[0] > 0n && perShard[1] > 0n, "the batch is on both shards");
    // The subscription reads shard 0's counter, then (held here, on its own thread) the
    // worker's batch takes both shards' timestamps, then it reads shard 1's counter.
    const real = core.exports;
    let held = false;
    const exports = {
      ...real,
      shardCommitCounter(shard: number): bigint {
        const value = real.shardCommitCounter(shard);
        if (shard !== 0 || held) return value;
        held = true;
        const base = [value, real.shardCommitCounter(1)];
        Atomics.store(i32, 1, 1);
        Atomics.notify(i32, 1);
        const deadline = Date.now() + 60_000;
        while (real.shardCommitCounter(0) < base[0] + perShard[0] || real.shardCommitCounter(1) < base[1] + perShard[1]) {
          if (Date.now() > deadline) throw new Error("the batch never took its timestamps");
          Atomics.wait(sleeper, 0, 0, 1);
        }
        return value;
      },
    };
    const stub = new Proxy(core, {
      get(target, name) {
        if (name === "exports") return exports;
        const value = Reflect.get(target, name, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const shared = new EngineShared(core, handle.shared);
    const feed = new Subscription(
      { core: stub, platform, dir, shared, group: new RingView(core, shared.groupRing), flush: async () => {}, garbage: new GarbagePacer(undefined), ended: () => {} },
      {},
    );
    assert.ok(held, "the subscription read shard 0's counter first");
    assert.ok(await worker, "the worker wrote its batch");
    await db.put("end", "marker");
    let events = 0;
    for await (const event of feed) {
      const key = text(event.key)!;
      if (key === "end") break;
      if (key.startsWith("sig")) events++;
    }
    assert.ok(events === 0 || events === n, `the subscription got ${events} of the batch's ${n} operations (${perShard.join(" + ")} by shard)`);
  } finally {
    // A failure before the go must not leave the worker waiting (its timeout would reject
    // into a later test file): stop it, then wait for it either way.
    Atomics.compareExchange(i32, 1, 0, 2);
    Atomics.notify(i32, 1);
    await worker.catch(() => {});
    core?.detach();
    await db.close();
  }
});

test.run();
