/**
 * Which versions of a key a flush or a compaction must keep.
 *
 * Reads happen at a snapshot S (versions with seq < S are visible; of those, the one with
 * the highest timestamp is the value). Let V be the visible point and L the live snapshots
 * of the horizon the flush or merge reads when it starts (`EngineShared.gcHorizon`: V first,
 * then L, with the handshake of shared-state.ts): every snapshot that exists or can still be
 * taken is in L or is at least V. So a version must stay if
 *   - its seq >= V: not visible yet, it may be the newest visible at some later S; or
 *   - it is the newest visible version at V, or at some snapshot in L.
 * Every other version is shadowed at every snapshot that matters. Reads without a snapshot
 * slot (a get, a scan without a snapshot) never read what this drops: they pin the memtables
 * and table files they read before reading their S, and every table they pinned was written
 * by a GC whose V was read before it, so V <= S (src/engine/read-context.ts).
 * Reading L before V loses a snapshot taken between the two reads (below V, in no slot the
 * GC saw): callers must take both from `gcHorizon`, never from `liveSnapshotSeqs()` and a
 * later `visibleSeq()`.
 *
 * A tombstone left as the oldest version kept may also go, when it is visible to every
 * snapshot (seq below the oldest of L and V) and nothing older can exist below it: the
 * caller says so with `nothingBelow` (a compaction that checked every other table's bloom
 * filter; a flush never can, older tables may hold the key).
 *
 * Threads: pure function.
 */

export interface Version {
  ts: bigint;
  seq: number;
  tombstone: boolean;
}

/**
 * `versions`: one key's versions in timestamp-descending order. `boundaries` and `visible`:
 * a horizon from `EngineShared.gcHorizon()` (the live snapshots and V, ascending; V).
 * Returns the indexes to keep, in the same order.
 */
export function versionsToKeep(versions: readonly Version[], boundaries: readonly number[], visible: number, nothingBelow: boolean): readonly number[] {
  if (versions.length === 1) return keepsOnly(versions[0], boundaries, visible, nothingBelow) ? KEEP_FIRST : KEEP_NONE;
  const keep = new Set<number>();
  versions.forEach((v, i) => {
    if (v.seq >= visible) keep.add(i);
  });
  for (const b of boundaries) {
    const i = versions.findIndex((v) => v.seq < b);
    if (i >= 0) keep.add(i);
  }
  const kept = [...keep].sort((a, b) => a - b);
  if (nothingBelow && kept.length > 0) {
    const last = kept[kept.length - 1];
    const oldestBoundary = Math.min(visible, ...boundaries);
    if (versions[last].tombstone && versions[last].seq < oldestBoundary) kept.pop();
  }
  return kept;
}

const KEEP_FIRST: readonly number[] = Object.freeze([0]);
const KEEP_NONE: readonly number[] = Object.freeze([]);

/** versionsToKeep for a key with one version, without allocating (most keys of a flush). */
function keepsOnly(v: Version, boundaries: readonly number[], visible: number, nothingBelow: boolean): boolean {
  let oldestBoundary = visible;
  let kept = v.seq >= visible;
  for (const b of boundaries) {
    if (v.seq < b) kept = true;
    if (b < oldestBoundary) oldestBoundary = b;
  }
  return kept && !(nothingBelow && v.tombstone && v.seq < oldestBoundary);
}
