/**
 * LinkPacer: when the actor links the nodes that fast-path writers handed to their
 * memtable's pending ring instead of linking them (deferred linking: assembly/skiplist.ts,
 * docs/ARCHITECTURE.md "Deferred linking").
 *
 * Why batches: the linker sorts what it takes into one run and links it in list order,
 * each node's splice search starting from the node before it. The more nodes a run holds,
 * the closer together they lie in the list and the fewer levels each search climbs: at the
 * core's level, 80,000 random keys into a 16 MiB memtable cost 490-770 ns a node linked 256
 * at a time and 360-390 ns 2,048 at a time. An actor that linked whatever was pending
 * whenever it looked took runs of 190-650 nodes while it kept up with one writer, at
 * 790-840 ns a node in the engine against 490-610 ns in runs of 2,048 (docs/PERFORMANCE.md,
 * "Linking in larger runs").
 *
 * Rule, per shard, at each step: link (at most LINK_STEP_MAX) when the active memtable has
 * LINK_BATCH_MIN nodes pending, or half its pending ring if that is smaller (a writer whose
 * ring entry is not free links the oldest itself, so the actor must come before the ring
 * fills), or when its count has not moved over a look LINK_POLL_MS or more ago: the writers
 * stopped, and what they left is linked now, not by the next scan, which would otherwise
 * settle it on its own thread. A frozen memtable is not this class's: the flush's first walk
 * links what it still has.
 *
 * Invariants: `#seen[shard]` is the active memtable and its pending count at the last look
 * (a look is a step at least LINK_POLL_MS after the previous look); a memtable that
 * replaced it since counts as moved. Nothing here decides correctness: any thread that walks
 * a memtable settles it first, whatever was linked here.
 * Threads: the actor only (its own state); the memtables it reads are shared with every
 * writer, and linking takes the memtable's link lock in the core.
 */
import type { CoreExports } from "../core/core.ts";

/** Nodes that gather in a shard's active memtable before the actor links them (at most half its pending ring). */
export const LINK_BATCH_MIN = 2048;
/** Nodes the actor links in one shard's active memtable per step (0.3-0.8 µs each). */
export const LINK_STEP_MAX = 2048;
/** How often the actor looks while nodes are pending, ms; a count that did not move over one look is linked whatever its size. */
export const LINK_POLL_MS = 2;

type LinkExports = Pick<CoreExports, "shardActiveMemtable" | "memtablePending" | "memtablePendingCapacity" | "memtableLinkPending">;

export class LinkPacer {
  readonly #seen: Array<{ mt: number; count: number }>;
  #lookedAtMs = -Infinity;

  constructor(
    private readonly exports: LinkExports,
    private readonly shards: number,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.#seen = Array.from({ length: shards }, () => ({ mt: 0, count: 0 }));
  }

  /** Links where the rule above says so; returns how many nodes it linked. */
  step(): number {
    const e = this.exports;
    const now = this.nowMs();
    const look = now - this.#lookedAtMs >= LINK_POLL_MS;
    if (look) this.#lookedAtMs = now;
    let linked = 0;
    for (let shard = 0; shard < this.shards; shard++) {
      const mt = e.shardActiveMemtable(shard) >>> 0;
      if (mt === 0) continue;
      const pending = e.memtablePending(mt) >>> 0;
      const seen = this.#seen[shard];
      const still = look && seen.mt === mt && seen.count === pending;
      const batch = Math.min(LINK_BATCH_MIN, (e.memtablePendingCapacity(mt) >>> 0) >>> 1);
      const linkedHere = pending > 0 && (pending >= batch || still) ? e.memtableLinkPending(mt, LINK_STEP_MAX) >>> 0 : 0;
      linked += linkedHere;
      if (look) {
        seen.mt = mt;
        seen.count = linkedHere > 0 ? e.memtablePending(mt) >>> 0 : pending; // read again only if this step linked
      }
    }
    return linked;
  }

  /** Nodes pending over the shards' active memtables. */
  pending(): number {
    const e = this.exports;
    let sum = 0;
    for (let shard = 0; shard < this.shards; shard++) {
      const mt = e.shardActiveMemtable(shard) >>> 0;
      if (mt !== 0) sum += e.memtablePending(mt) >>> 0;
    }
    return sum;
  }
}
