// Snapshots across version GC: which versions a flush or a merge may
// drop while snapshots are live on this handle, on an attached handle (another ThreadBlock,
// the same shared snapshot slots), or released meanwhile.
// - versionsToKeep against read semantics, for histories whose timestamp order and seq order
//   disagree (fast-path writers reserve their LSN before they take their timestamp, so they
//   do): at every live snapshot and at every point at or above V, the newest visible version
//   of what the GC kept is the newest visible of what it was given (so no other source can
//   change the answer), or, with nothingBelow, the same value or the same absence.
// - End to end: three snapshots (the middle one on an attached handle) over overwrites and
//   deletes, then flushes and merges; each reads exactly its point; releasing the middle one
//   changes nothing for the others; reads without a snapshot never bring an old value back.
// - A snapshot's point cannot be moved by its holder (it is frozen).
// (Written as an adversarial review, 2026-12-07: no defect in the GC; the movable point was
// the one finding.)
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { type Version, versionsToKeep } from "../../src/engine/version-gc.ts";
import { attach, cleanup, eventually, open, rows, tempDir, text } from "./helpers.ts";

const test = suite("engine snapshots across GC");

/** Index of the newest (highest ts) version with seq < S in `vs` (any order), or -1. */
function newestAt(vs: readonly Version[], S: number): number {
  let best = -1;
  vs.forEach((v, i) => {
    if (v.seq < S && (best < 0 || v.ts > vs[best].ts)) best = i;
  });
  return best;
}

test("versionsToKeep keeps the newest visible version at every snapshot and every point >= V", () => {
  const history = fc.uniqueArray(fc.record({ ts: fc.integer({ min: 1, max: 200 }), seq: fc.nat(40), tombstone: fc.boolean() }), { minLength: 1, maxLength: 7, selector: (v) => v.ts });
  fc.assert(
    fc.property(history, fc.array(fc.nat(45), { maxLength: 4 }), fc.nat(45), fc.boolean(), (raw, snapshots, visible, nothingBelow) => {
      const versions: Version[] = raw.map((v) => ({ ts: BigInt(v.ts), seq: v.seq, tombstone: v.tombstone })).sort((a, b) => (a.ts > b.ts ? -1 : 1));
      // Every live snapshot is below V or not (a snapshot at or above V is allowed too).
      const boundaries = [...snapshots, visible].sort((a, b) => a - b);
      const kept = versionsToKeep(versions, boundaries, visible, nothingBelow).map((i) => versions[i]);
      const points = [...boundaries, ...versions.map((v) => v.seq + 1).filter((s) => s >= visible), visible, 1000];
      const ctx = JSON.stringify({ versions: versions.map((v) => [Number(v.ts), v.seq, v.tombstone]), boundaries, visible, nothingBelow });
      for (const S of points) {
        const before = newestAt(versions, S);
        const after = newestAt(kept, S);
        if (!nothingBelow) {
          assert.is(after < 0 ? undefined : kept[after].ts, before < 0 ? undefined : versions[before].ts, `at ${S}: ${ctx}`);
        } else {
          const value = (vs: readonly Version[], i: number) => (i < 0 || vs[i].tombstone ? "absent" : String(vs[i].ts));
          assert.is(value(kept, after), value(versions, before), `at ${S} (nothing below): ${ctx}`);
        }
      }
    }),
    { seed: 20261207, numRuns: 20000 },
  );
});

const KEYS = 40;
const key = (i: number) => `key${String(i).padStart(3, "0")}`;
const filler = (round: number, i: number) => [`fill${String(i).padStart(4, "0")}`, `${round}-`.padEnd(200, "f")] as const;

test("three snapshots (the middle one on an attached handle) read their points across flushes and merges; releasing one changes no other read", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  const other = await attach(db.share());
  // Point 0: every key v0. Point 1: v1, odd keys deleted. Point 2: v2 for even keys, odd keys back (w2).
  for (let i = 0; i < KEYS; i++) await db.put(key(i), `v0-${i}`);
  const s0 = db.snapshot();
  for (let i = 0; i < KEYS; i++) await (i % 2 ? db.delete(key(i)) : db.put(key(i), `v1-${i}`));
  const s1 = other.snapshot(); // another handle's ThreadBlock, the same slots
  for (let i = 0; i < KEYS; i++) await db.put(key(i), i % 2 ? `w2-${i}` : `v2-${i}`);
  const s2 = db.snapshot();
  // Now: every key deleted but one in three, which gets v3.
  for (let i = 0; i < KEYS; i++) await (i % 3 === 0 ? db.put(key(i), `v3-${i}`) : db.delete(key(i)));
  const expect0 = (i: number) => `v0-${i}`;
  const expect1 = (i: number) => (i % 2 ? undefined : `v1-${i}`);
  const expect2 = (i: number) => (i % 2 ? `w2-${i}` : `v2-${i}`);
  const expectNow = (i: number) => (i % 3 === 0 ? `v3-${i}` : undefined);
  const check = (what: string, middle: boolean, outer = true) => {
    for (let i = 0; i < KEYS; i++) {
      if (outer) assert.is(text(db.get(key(i), { snapshot: s0 })), expect0(i), `${what}: s0 ${key(i)}`);
      if (middle) assert.is(text(other.get(key(i), { snapshot: s1 })), expect1(i), `${what}: s1 ${key(i)}`);
      if (outer) assert.is(text(db.get(key(i), { snapshot: s2 })), expect2(i), `${what}: s2 ${key(i)}`);
      assert.is(text(db.get(key(i))), expectNow(i), `${what}: now ${key(i)}`);
      assert.is(text(other.get(key(i))), expectNow(i), `${what}: now (attached) ${key(i)}`);
    }
    const scanned = (snapshot: typeof s0 | undefined, h = db) => rows(h.scan(snapshot ? { prefix: "key", snapshot } : { prefix: "key" }));
    const want = (f: (i: number) => string | undefined) => Array.from({ length: KEYS }, (_, i) => [key(i), f(i)]).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
    if (outer) assert.equal(scanned(s0), want(expect0), `${what}: scan s0`);
    if (middle) assert.equal(scanned(s1, other), want(expect1), `${what}: scan s1`);
    if (outer) assert.equal(scanned(s2), want(expect2), `${what}: scan s2`);
    assert.equal(scanned(undefined), want(expectNow), `${what}: scan now`);
  };
  check("before any flush", true);
  /** Filler writes until `flushes` more flushes and `merges` more merges are done. */
  const churn = async (flushes: number, merges: number, middle: boolean, outer = true) => {
    const f0 = db.stats().flushes;
    const c0 = db.stats().compactions;
    for (let round = 0; db.stats().flushes < f0 + flushes || db.stats().compactions < c0 + merges; round++) {
      for (let i = 0; i < 100; i++) await db.put(...filler(round, i));
      if (round % 10 === 0) check(`churn round ${round}`, middle, outer);
      if (round > 3000) throw new Error(`no progress: ${db.stats().flushes - f0} flushes, ${db.stats().compactions - c0} merges`);
    }
    await eventually(() => db.stats().shards[0].frozenMemtables === 0, "flushes done");
  };
  await churn(6, 2, true);
  check("after flushes and merges", true);
  s1.release();
  await churn(6, 2, false);
  check("after the middle snapshot's release", false);
  s0.release();
  s2.release();
  await churn(6, 2, false, false);
  check("after every release (no snapshot)", false, false);
  assert.is(db.stats().liveSnapshots, 0);
  console.log(`  [review] ${db.stats().flushes} flushes, ${db.stats().compactions} merges, ${db.stats().shards[0].tables} tables`);
  await other.close();
  await db.close();
});

test("a snapshot taken right after a reopen (replayed versions carry seq 0) reads what was written before", async () => {
  const dir = tempDir();
  for (let round = 0; round < 3; round++) {
    const db = await open(dir, { shards: 1, durability: "async" });
    const s = db.snapshot();
    for (let r = 0; r < round; r++) assert.is(text(db.get(`a${r}`, { snapshot: s })), `${r}`, `round ${round}: a${r} at snapshot ${s.seq}`);
    console.log(`  [review] round ${round}: snapshot seq ${s.seq}`);
    s.release();
    await db.put(`a${round}`, `${round}`);
    await db.close();
  }
});

test("the snapshot slots are shared by every handle: the 1025th live snapshot is refused, and a released slot serves again", async () => {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  const other = await attach(db.share());
  await db.put("k", "v0");
  const taken = Array.from({ length: 1024 }, (_, i) => (i % 2 ? other : db).snapshot());
  assert.throws(() => db.snapshot(), /too many live snapshots/);
  assert.throws(() => other.snapshot(), /too many live snapshots/);
  assert.is(db.stats().liveSnapshots, 1024, "a refused take holds no slot");
  await db.put("k", "v1");
  taken[7].release();
  const again = db.snapshot();
  assert.is(text(db.get("k", { snapshot: again })), "v1");
  assert.is(text(db.get("k", { snapshot: taken[0] })), "v0");
  assert.is(text(other.get("k", { snapshot: taken[1] })), "v0");
  again.release();
  for (const s of taken) s.release();
  assert.is(db.stats().liveSnapshots, 0);
  await other.close();
  await db.close();
});

test.after(cleanup);
test("a snapshot's point cannot be moved: assigning its seq throws, and reads stay at the point it was taken", async () => {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  try {
    await db.put("k", "v0");
    const s = db.snapshot();
    await db.put("k", "v1");
    const taken = s.seq;
    assert.throws(() => {
      (s as { seq: bigint }).seq = taken + 1000n;
    }, (e: unknown) => e instanceof TypeError);
    assert.is(s.seq, taken);
    assert.is(text(db.get("k", { snapshot: s })), "v0", "the snapshot still reads its point");
    assert.is(text(db.get("k")), "v1");
    s.release();
  } finally {
    await db.close();
  }
});

test.run();
