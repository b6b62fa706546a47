// Version GC's rule (src/engine/version-gc.ts) for a key with one version, which takes a
// path of its own (no set, sort or array: most keys of a flush), against the rule as the
// header states it, and against the general path given the same version twice over
// (an older copy below it never changes whether the newest is kept).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { versionsToKeep } from "../../src/engine/version-gc.ts";

const test = suite("engine version GC");

/** The header's rule for one version: kept if seq >= V or it is the newest visible at some boundary; a tombstone visible to all may go when nothing is below. */
function keptByRule(seq: number, tombstone: boolean, boundaries: number[], visible: number, nothingBelow: boolean): boolean {
  const kept = seq >= visible || boundaries.some((b) => seq < b);
  const oldest = Math.min(visible, ...boundaries);
  return kept && !(nothingBelow && tombstone && seq < oldest);
}

test("a key with one version: kept exactly as the rule says", () => {
  fc.assert(
    fc.property(fc.nat(100), fc.boolean(), fc.array(fc.nat(100), { maxLength: 4 }), fc.nat(100), fc.boolean(), (seq, tombstone, snapshots, visible, nothingBelow) => {
      const boundaries = [...snapshots, visible].sort((a, b) => a - b); // as gcHorizon gives them
      const kept = versionsToKeep([{ ts: 1n, seq, tombstone }], boundaries, visible, nothingBelow);
      assert.equal([...kept], keptByRule(seq, tombstone, boundaries, visible, nothingBelow) ? [0] : [], JSON.stringify({ seq, tombstone, boundaries, visible, nothingBelow }));
    }),
    { seed: 20261204, numRuns: 2000 },
  );
});

test("a key with one version keeps it as the general path keeps the newest of two", () => {
  fc.assert(
    fc.property(fc.nat(100), fc.array(fc.nat(100), { maxLength: 4 }), fc.nat(100), (seq, snapshots, visible) => {
      const boundaries = [...snapshots, visible].sort((a, b) => a - b);
      const one = versionsToKeep([{ ts: 2n, seq, tombstone: false }], boundaries, visible, false);
      const two = versionsToKeep([{ ts: 2n, seq, tombstone: false }, { ts: 1n, seq, tombstone: false }], boundaries, visible, false);
      assert.is(one.includes(0), two.includes(0));
    }),
    { seed: 20261205, numRuns: 2000 },
  );
});

test.run();
