// When the actor links the nodes fast-path writers handed in (src/engine/link-pacer.ts): in
// batches while writers keep handing nodes in, at once where they stopped, before a pending
// ring can fill, and never a frozen memtable. Then the same against a real database: what
// writers left below a batch is linked without any reader settling it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core, type CoreExports } from "../../src/core/core.ts";
import { LINK_BATCH_MIN, LINK_POLL_MS, LINK_STEP_MAX, LinkPacer } from "../../src/engine/link-pacer.ts";
import { cleanup, eventually, open, tempDir } from "./helpers.ts";

const test = suite("engine link pacer");

/** Fake core exports: per shard an active memtable with a pending count and a ring capacity; a clock the test moves. */
function fakes(shards: number, capacity = 16384) {
  const active = Array.from({ length: shards }, (_, i) => (i + 1) * 1024 * 1024);
  const pending = new Map<number, number>(active.map((mt) => [mt, 0]));
  const calls: Array<{ mt: number; max: number }> = [];
  const exports = {
    shardActiveMemtable: (shard: number) => active[shard],
    memtablePending: (mt: number) => pending.get(mt) ?? 0,
    memtablePendingCapacity: () => capacity,
    memtableLinkPending: (mt: number, max: number) => {
      calls.push({ mt, max });
      const n = Math.min(max, pending.get(mt) ?? 0);
      pending.set(mt, (pending.get(mt) ?? 0) - n);
      return n;
    },
  } as unknown as CoreExports;
  const clock = { ms: 1000 };
  const pacer = new LinkPacer(exports, shards, () => clock.ms);
  return { active, pending, calls, clock, pacer };
}

test("while writers keep handing nodes in, nothing is linked below a batch; a batch is linked, at most LINK_STEP_MAX a step", () => {
  const { active, pending, calls, clock, pacer } = fakes(2);
  for (let i = 1; i * 100 < LINK_BATCH_MIN; i++) {
    pending.set(active[0], i * 100);
    clock.ms += LINK_POLL_MS;
    assert.is(pacer.step(), 0, `${i * 100} pending, still arriving`);
  }
  assert.equal(calls, []);
  pending.set(active[0], LINK_BATCH_MIN + 5);
  assert.is(pacer.step(), Math.min(LINK_STEP_MAX, LINK_BATCH_MIN + 5));
  assert.equal(calls, [{ mt: active[0], max: LINK_STEP_MAX }]);
  assert.is(pacer.pending(), LINK_BATCH_MIN + 5 - Math.min(LINK_STEP_MAX, LINK_BATCH_MIN + 5));
});

test("a count that did not move over a look is linked whatever its size, and only after a look LINK_POLL_MS on", () => {
  const { active, pending, calls, clock, pacer } = fakes(2);
  pending.set(active[1], 7);
  assert.is(pacer.step(), 0, "the first look only notes the count");
  clock.ms += LINK_POLL_MS / 4;
  assert.is(pacer.step(), 0, "not a look yet: calls in a row are no evidence that writers stopped");
  clock.ms += LINK_POLL_MS;
  assert.is(pacer.step(), 7, "unchanged over a look: linked");
  assert.equal(calls, [{ mt: active[1], max: LINK_STEP_MAX }]);
  assert.is(pacer.pending(), 0);
});

test("a memtable that replaced the active one counts as moved, not as still", () => {
  const { active, pending, clock, pacer } = fakes(1);
  pending.set(active[0], 9);
  pacer.step();
  const fresh = 77 * 1024 * 1024;
  active[0] = fresh;
  pending.set(fresh, 9);
  clock.ms += LINK_POLL_MS;
  assert.is(pacer.step(), 0, "same count, other memtable");
  clock.ms += LINK_POLL_MS;
  assert.is(pacer.step(), 9);
});

test("a small pending ring is linked at half its capacity, before it can fill", () => {
  const { active, pending, clock, pacer } = fakes(1, 256);
  pending.set(active[0], 127);
  pacer.step();
  pending.set(active[0], 128);
  clock.ms += LINK_POLL_MS;
  assert.is(pacer.step(), 128);
});

test("the actor links what writers left below a batch, with no reader settling it", async () => {
  const db = await open(tempDir(), { shards: 2, durability: "async" });
  try {
    const handle = db.share();
    const core = await Core.attach(handle.module, handle.memory);
    try {
      const e = core.exports;
      const pendingNow = () => [0, 1].reduce((n, shard) => n + (e.memtablePending(e.shardActiveMemtable(shard) >>> 0) >>> 0), 0);
      for (let i = 0; i < 500; i++) void db.put(`key-${i}`, "value"); // the fast path: each resolved as it returns
      await eventually(() => pendingNow() === 0, "the actor links the 500 puts' nodes", 5_000);
      assert.is(db.get("key-499")?.length, 5);
    } finally {
      core.detach();
    }
  } finally {
    await db.close();
    cleanup();
  }
});

test.run();
