// ShardShared: the per-shard record every thread reads on every write.
//
// Layout (SHARD_RECORD_BYTES = 128, two cache lines, at SHARD_TABLE + shard * 128):
//
//   +0   u64 commitCounter   last commit timestamp handed out; 0 = none yet (atomic)
//   +8   u64 visibleTs       reserved for the engine's visibility watermark (atomic)
//   +16  u32 hasSubscribers  number of change-feed subscribers; non-zero sends writes
//                            to the shard's actor (atomic, read on every fast-path write)
//   +20  u32 activeMemtable  address of the memtable fast-path writes go to; 0 = none (atomic);
//                            its header holds the bytes used and the capacity
//                            (shardMemtableBytesUsed / shardMemtableCapacity)
//   +24  u32 flags           reserved for the engine (atomic)
//   +28 .. +128 reserved
//
// Invariants
// - commitCounter only grows, by fetch-add of 1, so every timestamp is handed out once
//   and a shard's timestamps are strictly increasing in the order they are taken. Nobody
//   ever stores to it except `shardCounterRaise`, which only moves it forward (CAS), used
//   when recovery finds timestamps already on disk.
// - activeMemtable changes only by the shard's single owner (its actor).
//
// Threads: any thread reads and takes timestamps; only the shard's owner changes
// activeMemtable and hasSubscribers.
//
// Atomics: fetch-add on commitCounter is the linearisation point that orders all writes
// of a shard, whichever thread or path they come from. activeMemtable is read and
// written atomically so that a writer sees either the old or the new memtable, whole.

import { SHARD_RECORD_BYTES, SHARD_TABLE, shardCount } from "./layout";

export const SHARD_COMMIT_COUNTER: usize = 0;
export const SHARD_VISIBLE_TS: usize = 8;
export const SHARD_HAS_SUBSCRIBERS: usize = 16;
export const SHARD_ACTIVE_MEMTABLE: usize = 20;
export const SHARD_FLAGS: usize = 24;

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
