// The shardline core: the exported surface of the WebAssembly module.
//
// Every thread instantiates this module on the same shared memory. The thread that
// creates the memory calls `coreInit` once; every thread (including that one) then calls
// `threadAttach` and may use everything else concurrently. Functions that return an
// address return a status code (< STATUS_LIMIT, see layout.ts) instead when they fail;
// nothing here traps on bad input and nothing writes outside the structure it was given.

import { blockAlloc, blockFree, heapAlloc, heapFreeBytes, takeDirtyBytes } from "./heap";
import { crc32cInit, crc32cUpdate } from "./crc32c";
import {
  CONTROL_BASE,
  CORE_MAGIC,
  CTL_HEAP_LIMIT,
  CTL_HEAP_START,
  CTL_HEAP_TOP,
  CTL_INIT_STATE,
  CTL_LAYOUT_VERSION,
  CTL_MAGIC,
  CTL_FAST_WRITES_DONE,
  CTL_SHARD_COUNT,
  HEAP_ADDRESS_MAX,
  THREAD_REGISTRY,
  THREADS_MAX,
  INIT_READY,
  INIT_RUNNING,
  INIT_UNTOUCHED,
  KEY_BYTES_MAX,
  LAYOUT_VERSION,
  SHARDS_MAX,
  SHARD_RECORD_BYTES,
  SHARD_TABLE,
  STATUS_BAD_ARGUMENT,
  STATUS_BAD_SHARD,
  STATUS_KEY_TOO_LARGE,
  STATUS_NOT_READY,
  STATUS_NO_MEMORY,
  STATUS_OK,
  STATUS_VALUE_TOO_LARGE,
  VALUE_BYTES_MAX,
  alignUp,
  shardCount,
} from "./layout";
import {
  SHARD_ACTIVE_MEMTABLE,
  SHARD_FAST_WRITE_OFF,
  SHARD_OWNER_COMMITTING,
  SHARD_FLAGS,
  SHARD_SUBSCRIBERS,
  shardCounterRaise,
  shardMemtables,
  shardNextTs,
  shardTakeTs,
  shardRecord,
  validShard,
  shardDropOldestFrozen as dropOldestFrozen,
  shardInstallActive as installActive,
  shardRotateActive as rotateActive,
} from "./shard";
import {
  MEMTABLE_BYTES_MIN,
  MEMTABLE_FROZEN,
  MEMTABLE_MAGIC,
  MT_MIN_GROUP_LSN,
  MT_STATE,
  MT_WRITERS,
  MT_CAPACITY,
  MT_USED,
  HEIGHT_MAX,
  NODE_HEADER_BYTES,
  NODE_TS,
  VALUE_TOMBSTONE,
  countNodes,
  linkPending,
  nodeDefer,
  pendingCapacity,
  pendingCount,
  firstNode,
  getVisibleNode,
  NODE_SEQ,
  noteGroupLsn,
  getNode,
  isStatus,
  lastNode,
  memtableFormat,
  nextNode,
  nodeHeight,
  nodeKeyLength,
  nodeCreate,
  nodeLink,
  prevNode,
  seekGE,
  seekLT,
} from "./skiplist";
import { xxh32, SHARD_SEED } from "./xxhash32";

export { threadAttach, threadDetach, currentThreadBlock } from "./thread";
import { currentThreadBlock, TB_FAST_WRITES, TB_SHARD_LIST } from "./thread";
export {
  ringFormat as walRingFormat,
  ringReserve as walReserve,
  ringPublishReserved as walPublishReserved,
  ringAppend as walAppend,
  ringScan as walScan,
  ringRelease as walRelease,
  ringCloseDrained as walCloseDrained,
  ringPublishDurable as walPublishDurable,
  ringSetState as walSetState,
  headerCrc as walHeaderCrc,
} from "./walring";
export { validateRecords as walValidate, findValidHeader as walFindValidHeader } from "./walscan";
export { engineBatch, engineWrite } from "./engine";
export { epochAdvance, epochEnter, epochExit, epochHold, epochNow, epochQuiet } from "./epoch";
export { replayLink, replayRecord, replayRun, replayStateBytes } from "./replay";

// ---- lifecycle -------------------------------------------------------------------------

/**
 * Lays out the control region for `shards` shards and a heap that may grow up to
 * `heapLimitBytes` (an address). Call once per memory, before any other thread attaches.
 */
export function coreInit(shards: u32, heapLimitBytes: u32): u32 {
  if (__heap_base > CONTROL_BASE) return STATUS_NO_MEMORY;
  if (shards == 0 || shards > SHARDS_MAX) return STATUS_BAD_SHARD;
  const at = CONTROL_BASE + CTL_INIT_STATE;
  if (atomic.cmpxchg<u32>(at, INIT_UNTOUCHED, INIT_RUNNING) != INIT_UNTOUCHED) return STATUS_NOT_READY;
  const heapStart = alignUp(SHARD_TABLE + <usize>shards * SHARD_RECORD_BYTES, 64);
  const limit = <u64>heapLimitBytes < HEAP_ADDRESS_MAX ? <u64>heapLimitBytes : HEAP_ADDRESS_MAX;
  if (<u64>heapStart >= limit || <u64>memory.size() * 65536 < <u64>heapStart) return STATUS_NO_MEMORY;
  memory.fill(SHARD_TABLE, 0, <usize>shards * SHARD_RECORD_BYTES);
  crc32cInit();
  store<u32>(CONTROL_BASE + CTL_LAYOUT_VERSION, LAYOUT_VERSION);
  store<u32>(CONTROL_BASE + CTL_SHARD_COUNT, shards);
  store<u32>(CONTROL_BASE + CTL_HEAP_START, <u32>heapStart);
  atomic.store<u32>(CONTROL_BASE + CTL_HEAP_LIMIT, <u32>limit);
  atomic.store<u32>(CONTROL_BASE + CTL_HEAP_TOP, <u32>heapStart);
  store<u32>(CONTROL_BASE + CTL_MAGIC, CORE_MAGIC);
  // Everything above happens-before this store; attaching threads check it first.
  atomic.store<u32>(at, INIT_READY);
  return STATUS_OK;
}

/** 1 when the memory holds an initialised core of this layout version. */
export function coreReady(): u32 {
  return atomic.load<u32>(CONTROL_BASE + CTL_INIT_STATE) == INIT_READY &&
    load<u32>(CONTROL_BASE + CTL_MAGIC) == CORE_MAGIC &&
    load<u32>(CONTROL_BASE + CTL_LAYOUT_VERSION) == LAYOUT_VERSION
    ? 1
    : 0;
}

export function coreLayoutVersion(): u32 {
  return LAYOUT_VERSION;
}
export function coreShardCount(): u32 {
  return shardCount();
}
export function coreHeapTop(): u32 {
  return atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
}
export function coreHeapStart(): u32 {
  return load<u32>(CONTROL_BASE + CTL_HEAP_START);
}
export function coreHeapLimit(): u32 {
  return atomic.load<u32>(CONTROL_BASE + CTL_HEAP_LIMIT);
}
export function coreKeyBytesMax(): u32 {
  return KEY_BYTES_MAX;
}
export function coreValueBytesMax(): u32 {
  return VALUE_BYTES_MAX;
}

/** A block of `bytes` from the shared heap (64-aligned), or 0. For rings and buffers. */
export function coreAlloc(bytes: u32): usize {
  return blockAlloc(bytes);
}
export function coreFree(ptr: usize, bytes: u32): u32 {
  return blockFree(ptr, bytes) ? 1 : 0;
}
/** Bytes of freed blocks waiting for reuse (heap.ts's free list). */
export function coreHeapFreeBytes(): u64 {
  return heapFreeBytes();
}
/** Bump allocation that is never freed, e.g. for per-database fixed structures. */
export function coreAllocPermanent(bytes: u32, alignment: u32): usize {
  return heapAlloc(bytes, alignment);
}

// ---- hashing and checksums -------------------------------------------------------------

export function hash32(ptr: usize, length: u32, seed: u32): u32 {
  return xxh32(ptr, length, seed);
}

/** The shard a key belongs to: xxh32(key, 0) % shardCount. */
export function shardOf(ptr: usize, length: u32): u32 {
  return xxh32(ptr, length, SHARD_SEED) % shardCount();
}

export function crc32c(crc: u32, ptr: usize, length: u32): u32 {
  return crc32cUpdate(crc, ptr, length);
}

/** 1 when all `length` bytes at `ptr` are zero (a log's zero tail), else 0. */
export function bytesAllZero(ptr: usize, length: u32): u32 {
  let at = ptr;
  const end = ptr + <usize>length;
  while (at + 8 <= end) {
    if (load<u64>(at) != 0) return 0;
    at += 8;
  }
  while (at < end) {
    if (load<u8>(at) != 0) return 0;
    at++;
  }
  return 1;
}

// ---- shards ----------------------------------------------------------------------------

export function shardRecordAddress(shard: u32): usize {
  return validShard(shard) ? shardRecord(shard) : STATUS_BAD_SHARD;
}

/** Takes the next commit timestamp of `shard`; 0 for an invalid shard. */
export function shardNextTimestamp(shard: u32): u64 {
  return validShard(shard) ? shardNextTs(shard) : 0;
}

/** Takes `count` consecutive timestamps of the shard at once (a large batch's); returns the first, 0 if invalid. */
export function shardTakeTimestamps(shard: u32, count: u32): u64 {
  return validShard(shard) && count > 0 ? shardTakeTs(shard, count) : 0;
}

export function shardCommitCounter(shard: u32): u64 {
  return validShard(shard) ? atomic.load<u64>(shardRecord(shard)) : 0;
}

export function shardRaiseCounter(shard: u32, ts: u64): u64 {
  return validShard(shard) ? shardCounterRaise(shard, ts) : 0;
}

export function shardActiveMemtable(shard: u32): usize {
  return validShard(shard) ? <usize>atomic.load<u32>(shardRecord(shard), SHARD_ACTIVE_MEMTABLE) : 0;
}

export function shardSetActiveMemtable(shard: u32, mt: usize): u32 {
  if (!validShard(shard)) return STATUS_BAD_SHARD;
  atomic.store<u32>(shardRecord(shard), <u32>mt, SHARD_ACTIVE_MEMTABLE);
  return STATUS_OK;
}

/** Bytes used in the shard's active memtable (0 when it has none). */
export function shardMemtableBytesUsed(shard: u32): u32 {
  const mt = shardActiveMemtable(shard);
  return isMemtable(mt) ? atomic.load<u32>(mt, MT_USED) : 0;
}

/** Capacity of the shard's active memtable in bytes (0 when it has none). */
export function shardMemtableCapacity(shard: u32): u32 {
  const mt = shardActiveMemtable(shard);
  return isMemtable(mt) ? load<u32>(mt, MT_CAPACITY) : 0;
}

export function shardSubscribers(shard: u32): u32 {
  return validShard(shard) ? atomic.load<u32>(shardRecord(shard), SHARD_SUBSCRIBERS) : 0;
}

export function shardAddSubscribers(shard: u32, delta: i32): u32 {
  if (!validShard(shard)) return 0;
  return atomic.add<u32>(shardRecord(shard), <u32>delta, SHARD_SUBSCRIBERS) + <u32>delta;
}

// ---- memtables -------------------------------------------------------------------------

/** A new, empty memtable of `bytes` (arena included). Address, or STATUS_NO_MEMORY / STATUS_BAD_ARGUMENT. */
export function memtableCreate(bytes: u32): usize {
  if (bytes < MEMTABLE_BYTES_MIN || (bytes & 63) != 0) return STATUS_BAD_ARGUMENT;
  const arena = blockAlloc(bytes);
  if (arena == 0) return STATUS_NO_MEMORY;
  return memtableFormat(arena, bytes, takeDirtyBytes(arena, bytes));
}

/** Gives the arena back for reuse. The caller guarantees no thread still reads it. */
export function memtableRelease(mt: usize): u32 {
  if (!isMemtable(mt)) return STATUS_BAD_ARGUMENT;
  const bytes = load<u32>(mt, MT_CAPACITY);
  atomic.store<u32>(mt, 0); // clear the magic: stale handles now fail isMemtable
  return blockFree(mt, bytes) ? STATUS_OK : STATUS_BAD_ARGUMENT; // not a block of the heap (heap.ts)
}

function isMemtable(mt: usize): bool {
  if (mt < <usize>load<u32>(CONTROL_BASE + CTL_HEAP_START)) return false;
  if (mt >= <usize>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP)) return false;
  if ((mt & 7) != 0) return false;
  return atomic.load<u32>(mt) == MEMTABLE_MAGIC;
}

/** An address that may be a node: 8-aligned, in the heap, with room for a node's header and one link. */
function isNodeAddress(node: usize): bool {
  if ((node & 7) != 0 || node < <usize>load<u32>(CONTROL_BASE + CTL_HEAP_START)) return false;
  return <u64>node + <u64>(NODE_HEADER_BYTES + 4) <= <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
}

/** A node address inside memtable `mt`'s arena whose tower and key lie inside it too. */
function isNodeOf(mt: usize, node: usize): bool {
  if (!isNodeAddress(node) || node < mt) return false;
  const end = <u64>mt + <u64>load<u32>(mt, MT_CAPACITY);
  if (<u64>node + <u64>(NODE_HEADER_BYTES + 4) > end) return false;
  const height = nodeHeight(node);
  if (height == 0 || height > HEIGHT_MAX) return false;
  return <u64>node + <u64>NODE_HEADER_BYTES + (<u64>height << 2) + <u64>nodeKeyLength(node) <= end;
}

function checkLengths(keyLength: u32, valueLength: u32): u32 {
  if (keyLength > KEY_BYTES_MAX) return STATUS_KEY_TOO_LARGE;
  if (valueLength != VALUE_TOMBSTONE && valueLength > VALUE_BYTES_MAX) return STATUS_VALUE_TOO_LARGE;
  return STATUS_OK;
}

/**
 * Inserts (key, value) into `mt` with the next commit timestamp of `shard`, taken only
 * once the node has room, so a full memtable never burns a timestamp.
 * `valueLength == 0xFFFFFFFF` inserts a tombstone. Returns the node (its ts at +0) or a status.
 */
export function memtablePut(mt: usize, shard: u32, key: usize, keyLength: u32, value: usize, valueLength: u32): usize {
  if (!isMemtable(mt)) return STATUS_BAD_ARGUMENT;
  if (!validShard(shard)) return STATUS_BAD_SHARD;
  const bad = checkLengths(keyLength, valueLength);
  if (bad != STATUS_OK) return bad;
  const node = nodeCreate(mt, key, keyLength, value, valueLength);
  if (isStatus(node)) return node;
  store<u64>(node, shardNextTs(shard), NODE_TS);
  store<u64>(node, 0, NODE_SEQ);
  return nodeLink(mt, node);
}

/** A checked, filled node for (key, value) at (ts, seq), not linked yet; or a status. */
function versionNode(mt: usize, key: usize, keyLength: u32, value: usize, valueLength: u32, ts: u64, seq: u64): usize {
  if (!isMemtable(mt)) return STATUS_BAD_ARGUMENT;
  const bad = checkLengths(keyLength, valueLength);
  if (bad != STATUS_OK) return bad;
  const node = nodeCreate(mt, key, keyLength, value, valueLength);
  if (isStatus(node)) return node;
  store<u64>(node, ts, NODE_TS);
  store<u64>(node, seq, NODE_SEQ);
  return node;
}

/**
 * memtableInsert with the fast path's deferred linking (skiplist.ts, "Deferred linking"):
 * the node is indexed and handed to the pending ring, and linked later. For tests; the
 * fast path (engine.ts) does the same inside a write. Returns the node or a status.
 */
export function memtableInsertDeferred(mt: usize, key: usize, keyLength: u32, value: usize, valueLength: u32, ts: u64, seq: u64): usize {
  const node = versionNode(mt, key, keyLength, value, valueLength, ts, seq);
  if (!isStatus(node)) nodeDefer(mt, node);
  return node;
}

/** Inserts (key, value) with a given timestamp and seq (recovery, the actor, tests). Node or status. */
export function memtableInsert(mt: usize, key: usize, keyLength: u32, value: usize, valueLength: u32, ts: u64, seq: u64): usize {
  const node = versionNode(mt, key, keyLength, value, valueLength, ts, seq);
  return isStatus(node) ? node : nodeLink(mt, node);
}

/** Newest version of key visible to snapshot `snapshot` (seq < snapshot; an f64, exact below 2^53), or 0. */
export function memtableGetVisible(mt: usize, key: usize, keyLength: u32, snapshot: f64): usize {
  if (!isMemtable(mt) || keyLength > KEY_BYTES_MAX) return 0;
  return getVisibleNode(mt, key, keyLength, <u64>snapshot);
}

/** Newest version of key at or below ts (value or tombstone), or 0. */
export function memtableGet(mt: usize, key: usize, keyLength: u32, ts: u64): usize {
  if (!isMemtable(mt) || keyLength > KEY_BYTES_MAX) return 0;
  return getNode(mt, key, keyLength, ts);
}

/**
 * A seek's target may be one byte longer than any key: a reverse scan's "<= key" seeks
 * before the key's successor, key + 0x00 (src/engine/scan.ts), also for a key of
 * KEY_BYTES_MAX bytes. The staging area holds it (KEY_BYTES_MAX + VALUE_BYTES_MAX + slack).
 */
const SEEK_KEY_BYTES_MAX: u32 = KEY_BYTES_MAX + 1;

export function memtableSeekGE(mt: usize, key: usize, keyLength: u32, ts: u64): usize {
  if (!isMemtable(mt) || keyLength > SEEK_KEY_BYTES_MAX) return 0;
  return seekGE(mt, key, keyLength, ts);
}

export function memtableSeekLT(mt: usize, key: usize, keyLength: u32, ts: u64): usize {
  if (!isMemtable(mt) || keyLength > SEEK_KEY_BYTES_MAX) return 0;
  return seekLT(mt, key, keyLength, ts);
}

export function memtableFirst(mt: usize): usize {
  return isMemtable(mt) ? firstNode(mt) : 0;
}

export function memtableLast(mt: usize): usize {
  return isMemtable(mt) ? lastNode(mt) : 0;
}

export function memtableNext(node: usize): usize {
  return isNodeAddress(node) ? nextNode(node) : 0;
}

export function memtablePrev(mt: usize, node: usize): usize {
  return isMemtable(mt) && isNodeOf(mt, node) ? prevNode(mt, node) : 0;
}

/** Owner: installs `mt` as the shard's active memtable (nothing for a shard that is not one). */
export function shardInstallActive(shard: u32, mt: usize): void {
  if (validShard(shard)) installActive(shard, mt);
}

/** Owner: shard.ts shardRotateActive; STATUS_BAD_SHARD for a shard that is not one. */
export function shardRotateActive(shard: u32, next: usize): u32 {
  return validShard(shard) ? rotateActive(shard, next) : STATUS_BAD_SHARD;
}

/** Owner: shard.ts shardDropOldestFrozen; 0 (none) for a shard that is not one. */
export function shardDropOldestFrozen(shard: u32): usize {
  return validShard(shard) ? dropOldestFrozen(shard) : 0;
}

/** Bytes reserved from the arena (whole chunks, so up to one chunk per writing thread more than the nodes use). */
export function memtableBytesUsed(mt: usize): u32 {
  return isMemtable(mt) ? atomic.load<u32>(mt, MT_USED) : 0;
}

export function memtableCapacity(mt: usize): u32 {
  return isMemtable(mt) ? load<u32>(mt, MT_CAPACITY) : 0;
}

/** Entries linked now, by walking the list: O(n), for statistics and tests. */
export function memtableCount(mt: usize): u32 {
  return isMemtable(mt) ? countNodes(mt) : 0;
}

/** Background linking: links up to `max` deferred nodes if no other thread is linking; returns how many (skiplist.ts, "Deferred linking"). */
export function memtableLinkPending(mt: usize, max: u32): u32 {
  return isMemtable(mt) ? linkPending(mt, max) : 0;
}

/** Deferred nodes handed in and not linked yet. */
export function memtablePending(mt: usize): u32 {
  return isMemtable(mt) ? pendingCount(mt) : 0;
}

/** Entries of the memtable's pending ring (how many deferred nodes can wait at once); 0 if `mt` is not a memtable. */
export function memtablePendingCapacity(mt: usize): u32 {
  return isMemtable(mt) ? pendingCapacity(mt) : 0;
}

/** A consistent copy of the shard's memtables, newest first, in this thread's shard-list area; returns the count. */
export function shardMemtableList(shard: u32): u32 {
  return validShard(shard) ? shardMemtables(shard, currentThreadBlock() + TB_SHARD_LIST) : 0;
}

/** Turns fast writes off (every write of the shard takes the channel path) or back on. */
export function shardSetFastWrite(shard: u32, enabled: u32): u32 {
  if (!validShard(shard)) return STATUS_BAD_SHARD;
  const record = shardRecord(shard);
  if (enabled != 0) atomic.and<u32>(record, ~SHARD_FAST_WRITE_OFF, SHARD_FLAGS);
  else atomic.or<u32>(record, SHARD_FAST_WRITE_OFF, SHARD_FLAGS);
  return STATUS_OK;
}

/**
 * The owner's commit into the shard begins (`committing` 1: fast-path writes take the
 * channel path) or ends (0). After beginning, the owner waits until memtableWriters of the
 * active memtable is 0 (shard.ts SHARD_OWNER_COMMITTING).
 */
export function shardSetOwnerCommitting(shard: u32, committing: u32): u32 {
  if (!validShard(shard)) return STATUS_BAD_SHARD;
  const record = shardRecord(shard);
  if (committing != 0) atomic.or<u32>(record, SHARD_OWNER_COMMITTING, SHARD_FLAGS);
  else atomic.and<u32>(record, ~SHARD_OWNER_COMMITTING, SHARD_FLAGS);
  return STATUS_OK;
}

/** Freezes a memtable: later fast-path writers back out. Returns the writers still inside. */
export function memtableFreeze(mt: usize): u32 {
  if (!isMemtable(mt)) return 0;
  atomic.store<u32>(mt, MEMTABLE_FROZEN, MT_STATE);
  return atomic.load<u32>(mt, MT_WRITERS);
}

/** Fast-path writers still inside a memtable. */
export function memtableWriters(mt: usize): u32 {
  return isMemtable(mt) ? atomic.load<u32>(mt, MT_WRITERS) : 0;
}

/** Lowest group-WAL LSN of a record in the memtable (as an f64; 2^64-1 reads as 1.8e19 when none). */
export function memtableMinGroupLsn(mt: usize): f64 {
  return isMemtable(mt) ? <f64>atomic.load<u64>(mt, MT_MIN_GROUP_LSN) : 0;
}

/** Notes that a memtable holds a record of the group WAL at `lsn` (recovery's replay). */
export function memtableNoteGroupLsn(mt: usize, lsn: f64): void {
  // NaN, a negative or an inexact value is no LSN (its u64 conversion would saturate to 0).
  if (isMemtable(mt) && lsn >= 0 && lsn <= 9007199254740991.0) noteGroupLsn(mt, <u64>lsn);
}

/** Writes committed on the fast path, by every thread so far (attached and detached). */
export function engineFastWrites(): f64 {
  let total = atomic.load<u64>(CONTROL_BASE + CTL_FAST_WRITES_DONE);
  for (let i: u32 = 0; i < THREADS_MAX; i++) {
    const block = <usize>atomic.load<u32>(THREAD_REGISTRY + (<usize>i << 2));
    if (block != 0) total += atomic.load<u64>(block, TB_FAST_WRITES);
  }
  return <f64>total;
}
