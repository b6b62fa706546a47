// ShardShared: the per-shard record every thread reads on every write.
//
// Layout (SHARD_RECORD_BYTES = 128, two cache lines, at SHARD_TABLE + shard * 128):
//
//   +0   u64 commitCounter   last commit timestamp handed out; 0 = none yet (atomic)
//   +8   u32 listSeq         seqlock over activeMemtable and the frozen list: odd while the
//                            owner changes them; readers retry until they read the same even
//                            value before and after (atomic)
//   +12  u32 reserved
//   +16  u32 subscribers     number of change-feed subscriptions, for statistics only: feeds
//                            read the log, writes never look at it (atomic)
//   +20  u32 activeMemtable  address of the memtable fast-path writes go to; 0 = none (atomic);
//                            its header holds the bytes used and the capacity
//                            (shardMemtableBytesUsed / shardMemtableCapacity)
//   +24  u32 flags           SHARD_FAST_WRITE_OFF: every write takes the channel path;
//                            SHARD_OWNER_COMMITTING: the owner commits into the shard's
//                            memtables, and fast-path writes take the channel path until it
//                            is done (atomic; set and cleared by the owner only)
//   +28  u32 frozenCount     memtables frozen and not yet flushed, 0..FROZEN_MAX (atomic)
//   +32  u32 frozen[8]       their addresses, oldest first (written by the owner under listSeq)
//   +64 .. +128 reserved
//
// Invariants
// - commitCounter only grows, by fetch-add of 1, so every timestamp is handed out once
//   and a shard's timestamps are strictly increasing in the order they are taken. Nobody
//   ever stores to it except `shardCounterRaise`, which only moves it forward (CAS), used
//   when recovery finds timestamps already on disk.
// - Between two raises, every timestamp taken is logged in exactly one group-WAL record:
//   the fast path takes it after its ring reservation succeeded, the actor only for
//   operations it then logs (a failure in between fails the database). Change feeds rely
//   on it to put a shard's events back in timestamp order (src/engine/change-feed.ts).
// - activeMemtable, the frozen list and listSeq change only by the shard's single owner
//   (its actor, or the opener during recovery), always inside an odd listSeq.
//
// Threads: any thread reads and takes timestamps; only the shard's owner changes
// activeMemtable; any thread adds or removes itself in subscribers (atomic add, by
// db.subscribe, src/engine/change-feed.ts).
//
// Atomics: fetch-add on commitCounter is the linearisation point that orders all writes
// of a shard, whichever thread or path they come from. activeMemtable is read and
// written atomically so that a writer sees either the old or the new memtable, whole.

import { SHARD_RECORD_BYTES, SHARD_TABLE, shardCount, STATUS_FULL } from "./layout";

export const SHARD_COMMIT_COUNTER: usize = 0;
export const SHARD_SUBSCRIBERS: usize = 16;
export const SHARD_ACTIVE_MEMTABLE: usize = 20;
export const SHARD_FLAGS: usize = 24;
export const SHARD_LIST_SEQ: usize = 8;
export const SHARD_FROZEN_COUNT: usize = 28;
export const SHARD_FROZEN: usize = 32;
export const FROZEN_MAX: u32 = 8;
export const SHARD_FAST_WRITE_OFF: u32 = 1;
/**
 * Set by the shard's owner (the actor) while it commits channel-path writes into the shard:
 * the room it ensured for them (spare memtables reserved while no log record is held) is
 * then its own, not filled meanwhile by fast-path writers (src/engine/actor.ts #commit).
 * A writer admits itself (MT_WRITERS + 1) and then reads the flags again; the owner sets the
 * flag and then reads MT_WRITERS (both sequentially consistent): one of them sees the other,
 * so after the owner has seen MT_WRITERS at 0 no writer is inside or can enter.
 */
export const SHARD_OWNER_COMMITTING: u32 = 2;

@inline
export function shardRecord(shard: u32): usize {
  return SHARD_TABLE + <usize>shard * SHARD_RECORD_BYTES;
}

@inline
export function validShard(shard: u32): bool {
  return shard < shardCount();
}

/** Takes the next commit timestamp of `shard` (1, 2, 3, ...). */
@inline
export function shardNextTs(shard: u32): u64 {
  return atomic.add<u64>(shardRecord(shard), 1, SHARD_COMMIT_COUNTER) + 1;
}

/** Takes `count` consecutive timestamps in one atomic add (dense like single ones); returns the first. */
export function shardTakeTs(shard: u32, count: u32): u64 {
  return atomic.add<u64>(shardRecord(shard), <u64>count, SHARD_COMMIT_COUNTER) + 1;
}

/** Moves the counter forward to at least `ts`, never backwards. Returns the counter after. */
export function shardCounterRaise(shard: u32, ts: u64): u64 {
  const at = shardRecord(shard) + SHARD_COMMIT_COUNTER;
  let seen = atomic.load<u64>(at);
  while (seen < ts) {
    const old = atomic.cmpxchg<u64>(at, seen, ts);
    if (old == seen) return ts;
    seen = old;
  }
  return seen;
}

// ---- the memtable list (owner writes under the seqlock, anyone reads) ----------------

@inline
function listBegin(record: usize): void {
  atomic.add<u32>(record, 1, SHARD_LIST_SEQ); // odd: changing
}

@inline
function listEnd(record: usize): void {
  atomic.add<u32>(record, 1, SHARD_LIST_SEQ); // even: stable
}

/** Owner: makes `mt` the active memtable (the old one, if any, must already be frozen or listed). */
export function shardInstallActive(shard: u32, mt: usize): void {
  const record = shardRecord(shard);
  listBegin(record);
  atomic.store<u32>(record, <u32>mt, SHARD_ACTIVE_MEMTABLE);
  listEnd(record);
}

/**
 * Owner: appends the active memtable to the frozen list (its state already FROZEN) and makes
 * `next` active, in one seqlock section. STATUS_FULL when the frozen list is full.
 */
export function shardRotateActive(shard: u32, next: usize): u32 {
  const record = shardRecord(shard);
  const count = atomic.load<u32>(record, SHARD_FROZEN_COUNT);
  if (count >= FROZEN_MAX) return STATUS_FULL;
  const old = atomic.load<u32>(record, SHARD_ACTIVE_MEMTABLE);
  listBegin(record);
  atomic.store<u32>(record + SHARD_FROZEN + (<usize>count << 2), old);
  atomic.store<u32>(record, count + 1, SHARD_FROZEN_COUNT);
  atomic.store<u32>(record, <u32>next, SHARD_ACTIVE_MEMTABLE);
  listEnd(record);
  return 0;
}

/** Owner: removes the oldest frozen memtable (now flushed to a table) and returns it; 0 if none. */
export function shardDropOldestFrozen(shard: u32): usize {
  const record = shardRecord(shard);
  const count = atomic.load<u32>(record, SHARD_FROZEN_COUNT);
  if (count == 0) return 0;
  const oldest = <usize>atomic.load<u32>(record + SHARD_FROZEN);
  listBegin(record);
  for (let i: u32 = 1; i < count; i++) {
    atomic.store<u32>(record + SHARD_FROZEN + (<usize>(i - 1) << 2), atomic.load<u32>(record + SHARD_FROZEN + (<usize>i << 2)));
  }
  atomic.store<u32>(record + SHARD_FROZEN + (<usize>(count - 1) << 2), 0);
  atomic.store<u32>(record, count - 1, SHARD_FROZEN_COUNT);
  listEnd(record);
  return oldest;
}

/**
 * A consistent copy of the shard's memtables, newest first (active, then frozen from the
 * newest), written as u32 addresses to `out`; returns how many. Retries while the owner is
 * changing the list.
 */
export function shardMemtables(shard: u32, out: usize): u32 {
  const record = shardRecord(shard);
  while (true) {
    const seq = atomic.load<u32>(record, SHARD_LIST_SEQ);
    if ((seq & 1) != 0) continue;
    let n: u32 = 0;
    const active = atomic.load<u32>(record, SHARD_ACTIVE_MEMTABLE);
    if (active != 0) {
      store<u32>(out, active);
      n++;
    }
    const count = atomic.load<u32>(record, SHARD_FROZEN_COUNT);
    for (let i = <i32>count - 1; i >= 0 && count <= FROZEN_MAX; i--) {
      store<u32>(out + (<usize>n << 2), atomic.load<u32>(record + SHARD_FROZEN + (<usize>i << 2)));
      n++;
    }
    if (atomic.load<u32>(record, SHARD_LIST_SEQ) == seq) return n;
  }
}
