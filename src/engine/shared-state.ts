/**
 * EngineShared: the database's own block in shared memory, next to the core's control
 * region, read and written by every thread of the database.
 *
 * Layout (SHARED_BYTES, 64-aligned, from the core's heap):
 *   +0   u32 magic 0x42444C53 ("SLDB")
 *   +4   u32 manifestGeneration  bumped (atomic) after each manifest replacement is durable;
 *                                readers re-read MANIFEST when it changes
 *   +8   u32 groupRing           address of the group WAL's ring
 *   +12  u32 requestRing         address of the actor's request queue (a ring, no disk)
 *   +16  u32 state              OPEN, CLOSING (the opener's close), CLOSED (the actor
 *                                stopped after it), FAILED (atomic)
 *   +20  u32 durabilityFull      1 when snapshots read the durable LSN, 0 for the published one
 *   +24  u32 shards
 *   +28  u32 valueBytesMax       the value size limit (derived from memtableBytesMax)
 *   +32  u64 channelWrites       operations applied by the actor (atomic, actor)
 *   +40  u64 flushes             memtables written to tables (atomic, actor)
 *   +48  u64 compactions         merges done (atomic, actor)
 *   +56  u64 compactedBytes      bytes written by merges (atomic, actor)
 *   +64  u32 actorStopped        1 once the actor will write no more replies: it stopped
 *                                after answering everything it took, or it died (set by
 *                                the opener). Channel clients then fail what is pending.
 *   +68  u32 reserved            (the change feed's buffer until feeds read the log)
 *   +72  u32 horizonReads        +1 (atomic add) by every version-GC horizon read (gcHorizon)
 *   +76  u32 takeSeq             odd while the actor takes a large batch's timestamps, one
 *                                shard after the other (+1 before, +1 after; atomic; the
 *                                actor). Change feeds read their starting counters between
 *                                two equal even values (change-feed.ts, starting point)
 *   +80  u64 largeBatchLsn       the first fragment's LSN of the large batch the actor is
 *                                committing, 0 when none (atomic; the actor). Change feeds
 *                                start reading there (change-feed.ts, starting point)
 *   +88  ... reserved to +128
 *   +128 u64 snapshots[SNAPSHOTS_MAX]  live snapshots: seq + 1; 0 a free slot; 1 (RESERVED)
 *                                a slot taken whose seq is not stored yet
 *   +8320 u64 recoveredTs[SHARDS_MAX]  each shard's commit counter as the open's recovery
 *                                (or a read-only view's refresh) raised it: timestamps at or
 *                                below it came from the logs and tables, and a crash may
 *                                have left gaps among them; every one above was taken by a
 *                                writer of this database since and is logged once (stored
 *                                by the opener before any write; atomic; change-feed.ts
 *                                #replay)
 *
 * Snapshot slots and the GC horizon: a snapshot is protected from the moment it is taken.
 * Threads: any thread takes (`takeSnapshot`) and releases (`releaseSnapshot`) snapshots in
 * its own slots; the thread doing version GC (the actor; the opener during replay) reads a
 * horizon (`gcHorizon`): the visible point V, then the live slots. GC keeps, per key, every
 * version with seq >= V and the newest version below each boundary (version-gc.ts), so it
 * needs: every snapshot S that exists or can still be taken is a boundary or is >= V.
 *
 *   taker (any thread)                           GC (actor)
 *   t0 CAS slot 0 → RESERVED                     g1 V = load visible point
 *   t1 h = load horizonReads                     g2 add horizonReads, 1
 *   t2 S = load visible point                    g3 load every slot
 *   t3 store slot = S + 1
 *   t4 if load horizonReads != h: again from t1
 *
 * Every access is an Atomics operation, so all of them fall in one total order consistent
 * with each thread's program order (sequential consistency), and the visible point never
 * decreases. Take the taker's final round (h equal at t1 and t4). If g3 reads the slot after
 * t3, S is a boundary. Otherwise t3 comes after g3, so t4 comes after g2; as t4 saw the same
 * count as t1, g2 came before t1, so t2 comes after g1, and S >= V. A RESERVED slot seen by
 * g3 is therefore skipped: whatever it ends up holding is >= V. Reading the slots before V
 * (as flush and compaction did) loses the snapshot taken between the two reads; storing S
 * without the re-check loses the snapshot whose S was read before g1 and stored after g3
 * (tests/engine/snapshot-horizon.test.ts forces both). The loop ends once a round meets no
 * horizon read, and horizons are read once per flush or merge (and once per manifest version
 * by the actor's search for a merge that drops deletes). A seq stored by an earlier
 * round only protects more meanwhile. A release is a plain store of 0: a GC that still sees
 * the old seq keeps a little more than it must.
 * Reads without a slot (a get, a scan without a snapshot) need none of this: they pin what
 * they read before they read their visible point (src/engine/read-context.ts).
 * Threads: any thread of the database; the actor alone writes the stats counters.
 */
import { loadRisingU64 } from "../core/rising-u64.ts";
import { type Core, SHARDS_MAX } from "../core/core.ts";
import { Ring } from "../wal/format.ts";

export const SHARED_MAGIC = 0x42444c53;
export const SNAPSHOTS_MAX = 1024;
/** Of the SNAPSHOTS_MAX slots, the most open scans take (#reserveSlot): the rest stay for `snapshot()`. */
export const SCAN_SLOTS_MAX = SNAPSHOTS_MAX / 2;
export const SHARED_BYTES = 128 + SNAPSHOTS_MAX * 8 + SHARDS_MAX * 8;
export const DbState = { OPEN: 0, CLOSING: 1, CLOSED: 2, FAILED: 3 } as const;

const F = {
  MAGIC: 0,
  MANIFEST_GENERATION: 4,
  GROUP_RING: 8,
  REQUEST_RING: 12,
  STATE: 16,
  DURABILITY_FULL: 20,
  SHARDS: 24,
  VALUE_BYTES_MAX: 28,
  CHANNEL_WRITES: 32,
  FLUSHES: 40,
  COMPACTIONS: 48,
  COMPACTED_BYTES: 56,
  ACTOR_STOPPED: 64,
  HORIZON_READS: 72,
  TAKE_SEQ: 76,
  LARGE_BATCH_LSN: 80,
  SNAPSHOTS: 128,
  RECOVERED_TS: 128 + SNAPSHOTS_MAX * 8,
} as const;

/** A reserved, not yet filled snapshot slot holds this (below every real seq + 1 it is 1: visible to nothing). */
const RESERVED = 1n;

export class EngineShared {
  /** The Core's whole-memory views (src/core/core.ts: views are made once, there only). */
  readonly i32: Int32Array;
  readonly u64: BigUint64Array;

  constructor(readonly core: Core, readonly address: number) {
    this.i32 = core.i32;
    this.u64 = core.u64;
  }

  /** Lays out a fresh block (opener only). */
  static create(core: Core, options: { groupRing: number; requestRing: number; durabilityFull: boolean; shards: number; valueBytesMax: number }): EngineShared {
    const address = core.exports.coreAlloc(SHARED_BYTES) >>> 0;
    if (address < 64) throw new RangeError("no shared memory for the database's state");
    core.u8.fill(0, address, address + SHARED_BYTES);
    const shared = new EngineShared(core, address);
    const u32 = core.u32;
    u32[(address + F.GROUP_RING) >>> 2] = options.groupRing;
    u32[(address + F.REQUEST_RING) >>> 2] = options.requestRing;
    u32[(address + F.DURABILITY_FULL) >>> 2] = options.durabilityFull ? 1 : 0;
    u32[(address + F.SHARDS) >>> 2] = options.shards;
    u32[(address + F.VALUE_BYTES_MAX) >>> 2] = options.valueBytesMax;
    Atomics.store(shared.i32, (address + F.MAGIC) >>> 2, SHARED_MAGIC);
    return shared;
  }

  /** Stores `shard`'s counter as recovery raised it (see the layout). */
  setRecoveredTs(shard: number, ts: bigint): void {
    Atomics.store(this.u64, this.#q(F.RECOVERED_TS) + shard, ts);
  }

  /** `shard`'s counter as recovery raised it: no gap among the timestamps above it. */
  recoveredTs(shard: number): bigint {
    return Atomics.load(this.u64, this.#q(F.RECOVERED_TS) + shard);
  }

  #i(field: number): number {
    return (this.address + field) >>> 2;
  }
  #q(field: number): number {
    return (this.address + field) >>> 3;
  }

  get valid(): boolean {
    return Atomics.load(this.i32, this.#i(F.MAGIC)) === SHARED_MAGIC;
  }
  get groupRing(): number {
    return this.core.u32[this.#i(F.GROUP_RING)];
  }
  get requestRing(): number {
    return this.core.u32[this.#i(F.REQUEST_RING)];
  }
  get durabilityFull(): boolean {
    return this.core.u32[this.#i(F.DURABILITY_FULL)] === 1;
  }
  get shards(): number {
    return this.core.u32[this.#i(F.SHARDS)];
  }
  get valueBytesMax(): number {
    return this.core.u32[this.#i(F.VALUE_BYTES_MAX)];
  }
  get state(): number {
    return Atomics.load(this.i32, this.#i(F.STATE));
  }
  set state(value: number) {
    Atomics.store(this.i32, this.#i(F.STATE), value);
  }
  /** True once the actor will answer no more requests (see the layout). */
  get actorStopped(): boolean {
    return Atomics.load(this.i32, this.#i(F.ACTOR_STOPPED)) === 1;
  }
  /** Marks the actor stopped; threads waiting for a reply see it at their next check (channel.ts, STOPPED_CHECK_MS). */
  markActorStopped(): void {
    Atomics.store(this.i32, this.#i(F.ACTOR_STOPPED), 1);
  }
  /** The first fragment's LSN of the large batch being committed, or 0 (see the layout). */
  get largeBatchLsn(): number {
    return Number(Atomics.load(this.u64, this.#q(F.LARGE_BATCH_LSN)));
  }
  set largeBatchLsn(lsn: number) {
    Atomics.store(this.u64, this.#q(F.LARGE_BATCH_LSN), BigInt(lsn));
  }
  /**
   * Runs `take` (a large batch's takes of its shards' timestamps) inside the takeSeq section
   * of the layout, so that a change feed never reads a set of counters from partway through.
   */
  takingTimestamps<T>(take: () => T): T {
    const index = this.#i(F.TAKE_SEQ);
    Atomics.add(this.i32, index, 1);
    try {
      return take();
    } finally {
      Atomics.add(this.i32, index, 1);
    }
  }
  /**
   * What `read` returns when it ran while no large batch was taking its timestamps: the
   * section was even before and unchanged after (else `read` runs again). The section lasts
   * a few core calls; a reader meanwhile spins, then sleeps in 50 µs steps.
   */
  betweenTakes<T>(read: () => T): T {
    const index = this.#i(F.TAKE_SEQ);
    for (let spins = 0; ; spins++) {
      const seq = Atomics.load(this.i32, index);
      if ((seq & 1) === 0) {
        const value = read();
        if (Atomics.load(this.i32, index) === seq) return value;
      }
      if (spins > 100) Atomics.wait(this.i32, index, seq, 0.05);
    }
  }
  get manifestGeneration(): number {
    return Atomics.load(this.i32, this.#i(F.MANIFEST_GENERATION));
  }
  bumpManifestGeneration(): void {
    Atomics.add(this.i32, this.#i(F.MANIFEST_GENERATION), 1);
  }

  /** The visible point: versions with seq below it are visible (durable or published LSN of the group WAL). */
  visibleSeq(): number {
    return loadRisingU64(this.i32, this.groupRing + (this.durabilityFull ? Ring.DURABLE_LSN : Ring.PUBLISHED_END));
  }

  /**
   * Takes a snapshot: reserves a free slot (CAS 0 → RESERVED), then, until no horizon was
   * read meanwhile, reads the horizon counter, reads the visible point S and stores S + 1
   * in the slot (see the header for why this protects S). Returns [slot, S].
   * `afterVisibleRead` runs between reading S and storing it (tests force interleavings).
   */
  takeSnapshot(afterVisibleRead: () => void = () => {}, forScan = false): [number, number] {
    const [slot, index] = this.#reserveSlot(forScan);
    for (;;) {
      const horizonsBefore = Atomics.load(this.i32, this.#i(F.HORIZON_READS));
      const seq = this.visibleSeq();
      afterVisibleRead();
      Atomics.store(this.u64, index, BigInt(seq) + 1n);
      if (Atomics.load(this.i32, this.#i(F.HORIZON_READS)) === horizonsBefore) return [slot, seq];
    }
  }

  /**
   * A free snapshot slot, now RESERVED: [slot, its u64 index]. A scan's (`forScan`, scan.ts)
   * comes from the lower SCAN_SLOTS_MAX slots, from the bottom up; a snapshot's from any,
   * from the top down: so open scans never take the last slots `snapshot()` has (held
   * scans took them all, and snapshot() said "too many live snapshots" to a caller holding
   * none: review of scan re-pinning, 2026-12-07), and a scan finding none of its own free
   * pins what it reads instead.
   */
  #reserveSlot(forScan: boolean): [number, number] {
    const base = this.#q(F.SNAPSHOTS);
    if (forScan) {
      for (let slot = 0; slot < SCAN_SLOTS_MAX; slot++) if (Atomics.compareExchange(this.u64, base + slot, 0n, RESERVED) === 0n) return [slot, base + slot];
      throw new RangeError(`too many open scans with a snapshot slot: the limit is ${SCAN_SLOTS_MAX} (SCAN_SLOTS_MAX)`);
    }
    for (let slot = SNAPSHOTS_MAX - 1; slot >= 0; slot--) if (Atomics.compareExchange(this.u64, base + slot, 0n, RESERVED) === 0n) return [slot, base + slot];
    throw new RangeError(`too many live snapshots: the limit is ${SNAPSHOTS_MAX} (SNAPSHOTS_MAX) with open scans' (at most ${SCAN_SLOTS_MAX}) included; release old ones`);
  }

  /**
   * What version GC (flush, compaction) must keep for: the visible point V, then the live
   * snapshots, read in that order with the horizon counter bumped in between (see the
   * header). Every snapshot that exists or can still be taken is in `boundaries` or at
   * least V. `boundaries` is ascending and includes V. `betweenReads` runs after the bump,
   * before the slots are read (tests force interleavings).
   */
  gcHorizon(betweenReads: () => void = () => {}): { visible: number; boundaries: number[] } {
    const visible = this.visibleSeq();
    Atomics.add(this.i32, this.#i(F.HORIZON_READS), 1);
    betweenReads();
    const live = this.#filledSnapshotSeqs();
    return { visible, boundaries: [...live, visible].sort((a, b) => a - b) };
  }

  /** Seqs of the filled slots (a RESERVED one will hold a seq >= the caller's V: header). */
  #filledSnapshotSeqs(): number[] {
    const out: number[] = [];
    const base = this.#q(F.SNAPSHOTS);
    for (let slot = 0; slot < SNAPSHOTS_MAX; slot++) {
      const v = Atomics.load(this.u64, base + slot);
      if (v > RESERVED) out.push(Number(v - 1n));
    }
    return out;
  }

  releaseSnapshot(slot: number): void {
    Atomics.store(this.u64, this.#q(F.SNAPSHOTS) + slot, 0n);
  }

  /**
   * Every live snapshot's seq, ascending (a slot still being filled counts as seq 0).
   * Not a GC horizon on its own: a snapshot taken between this and a later read of the
   * visible point is in neither. Version GC uses `gcHorizon`.
   */
  liveSnapshotSeqs(): number[] {
    const out: number[] = [];
    const base = this.#q(F.SNAPSHOTS);
    for (let slot = 0; slot < SNAPSHOTS_MAX; slot++) {
      const v = Atomics.load(this.u64, base + slot);
      if (v !== 0n) out.push(Number(v - 1n));
    }
    return out.sort((a, b) => a - b);
  }

  liveSnapshots(): number {
    let n = 0;
    const base = this.#q(F.SNAPSHOTS);
    for (let slot = 0; slot < SNAPSHOTS_MAX; slot++) if (Atomics.load(this.u64, base + slot) !== 0n) n++;
    return n;
  }

  addStat(field: "channelWrites" | "flushes" | "compactions" | "compactedBytes", n: number): void {
    const at = { channelWrites: F.CHANNEL_WRITES, flushes: F.FLUSHES, compactions: F.COMPACTIONS, compactedBytes: F.COMPACTED_BYTES }[field];
    Atomics.add(this.u64, this.#q(at), BigInt(n));
  }

  stat(field: "channelWrites" | "flushes" | "compactions" | "compactedBytes"): number {
    const at = { channelWrites: F.CHANNEL_WRITES, flushes: F.FLUSHES, compactions: F.COMPACTIONS, compactedBytes: F.COMPACTED_BYTES }[field];
    return Number(Atomics.load(this.u64, this.#q(at)));
  }
}
