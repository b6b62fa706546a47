// A snapshot is protected from the moment it is taken: every flush or merge keeps what it
// needs. Version GC reads a horizon (the visible point V and the live snapshots, shared-state.ts
// gcHorizon) and keeps, per key, the newest version below V and below each live snapshot.
// A snapshot S that the horizon does not list must therefore have S >= V. These tests force
// the two interleavings that can break that, deterministically, on one thread, through the
// hooks gcHorizon and takeSnapshot offer between their steps; a write made visible inside
// the hook moves the visible point on in between:
// - a snapshot taken whole while a horizon is being read;
// - a horizon read whole while a snapshot is being taken (between its visible-point read
//   and the store into its slot).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { EngineShared } from "../../src/engine/shared-state.ts";
import { cleanup, open, tempDir } from "./helpers.ts";

const test = suite("engine snapshot horizon");

/** The property GC relies on: S is one of the horizon's boundaries, or at least its V. */
function assertProtected(seq: number, horizon: { visible: number; boundaries: number[] }, what: string): void {
  const ok = horizon.boundaries.includes(seq) || seq >= horizon.visible;
  assert.ok(ok, `${what}: snapshot ${seq} is neither in the horizon's boundaries [${horizon.boundaries}] nor at or above its visible point ${horizon.visible}`);
}

async function setup() {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  await db.put("k", "v0");
  const handle = db.share();
  const core = await Core.attach(handle.module, handle.memory);
  const shared = new EngineShared(core, handle.shared);
  return { db, core, shared };
}

test("a snapshot taken while flush or compaction reads its horizon is protected by that horizon", async () => {
  const { db, core, shared } = await setup();
  let seq = -1;
  const horizon = shared.gcHorizon(() => {
    const before = shared.visibleSeq();
    void db.put("k", "v1"); // fast path, "async": visible when this returns
    assert.ok(shared.visibleSeq() > before, "the write moved the visible point on");
    const snapshot = db.snapshot();
    seq = Number(snapshot.seq);
    void db.put("k", "v2");
  });
  assertProtected(seq, horizon, "taken between the horizon's reads");
  core.detach();
  await db.close();
});

test("a horizon read while a snapshot is being taken protects that snapshot", async () => {
  const { db, core, shared } = await setup();
  let horizon: { visible: number; boundaries: number[] } | undefined;
  const [slot, seq] = shared.takeSnapshot(() => {
    if (horizon) return; // only the first round
    void db.put("k", "v1");
    horizon = shared.gcHorizon();
  });
  assertProtected(seq, horizon!, "a horizon read between the snapshot's steps");
  assert.ok(shared.liveSnapshotSeqs().includes(seq), "the slot holds the snapshot");
  shared.releaseSnapshot(slot);
  core.detach();
  await db.close();
});

test.after(cleanup);
test.run();
