// Recovery's replay, inside the core (called by src/engine/replay.ts, on the opening
// thread, before any other thread of the database runs).
//
// JavaScript reads a log's segment files into a buffer in shared memory and has the core
// validate a run of whole records there (walValidate: framing, both checksums, LSN
// binding). `replayRun` then takes the run as it is: for each record at or after
// `fromLsn`, it checks that the payload is an engine record (the format in engine.ts's
// header, the same checks as src/engine/records.ts decodeRecord), and for each operation
// above its shard's replay floor it creates the version (ts, seq 0) in the shard's active
// memtable. No per-operation object, copy or call crosses into JavaScript.
//
// Created, not linked: a version is written into the arena in log order, and its
// (key prefix, node) goes to the shard's pending index. Linking random keys one by one
// costs a descent of the skip list per key with a cache miss at nearly every level
// (~1 µs at a few hundred thousand versions); `replayLink` instead sorts the pending
// index by (key asc, ts desc) (a radix sort on the key prefix) and, when the memtable is
// still empty, as it is unless the index ran out of room first, builds the skip list in
// one pass (`buildList`: each node is appended after the last node of each of its levels;
// no search; and no key index: that memtable's lookups search the list, since indexing
// every version made recovery ~40% slower). Otherwise it links the versions in sorted
// order with nodeLink (which indexes them), each link starting from the splice the
// previous one left. A shard's versions are linked before
// its memtable is frozen (JavaScript calls replayLink first), when the index is full, and
// at the end of replay; until then nothing reads them (no other thread runs, and the
// opener reads only frozen memtables, to flush them).
//
// Nodes come from the arena in chunks kept per shard in the state (not the thread's
// eight splice slots, which replay across more than eight shards would thrash, each
// eviction abandoning a partly used chunk).
//
// A call stops early, with the record's place in the state, when a shard's memtable is
// full (REPLAY_FULL: JavaScript links that shard, notes, freezes, maybe flushes, and calls
// again from the same record, which continues at the operation that did not fit), when a
// shard needs its pending index (REPLAY_NO_INDEX: allocated on first use, then the same),
// or when a record is not what it should be (the caller reports the LSN). A record is checked
// whole before any of its operations is created, so a bad record adds nothing.
//
// ReplayState (allocated and zeroed by the caller, REPLAY_STATE_ALLOC_BYTES):
//   +0  u32 shards
//   +4  u32 resume        1: the next call's first record was checked and counted; it
//                         continues at resumeOp
//   +8  u32 resumeOp
//   +12 u32 stopShard     the shard whose memtable is full, or the bad shard number
//   +16 u64 stopLsn       LSN of the record where the call stopped
//   +24 u32 stopOffset    its offset in the run
//   +28 u32 stopDetail    REPLAY_TOO_LARGE: the key or value length
//   +32 u64 records       engine records read at or after fromLsn (markers included)
//   +40 u64 operations    versions created
//   +48 u64 fromLsn       records below it are skipped (the log's checkpoint)
//   +56 u64 duplicates    versions whose (key, ts) the memtable held already
//   +64 per shard, 64 bytes:
//     +0  u64 floorTs     operations at or below it are skipped (manifest.replayFloorTs)
//     +8  u64 maxTs       highest ts of any operation of the shard read (skipped or not)
//     +16 u64 minTs       lowest ts created in `mt` since JavaScript last read it (u64 max: none)
//     +24 u64 minLsn      lowest record LSN created in `mt` since then (u64 max: none)
//     +32 u32 mt          the memtable of the pending and not yet noted versions (0: none)
//     +36 u32 index       address of the pending index: 16 bytes per version,
//                         u64 key prefix, u32 node, u32 0 (sorted in place)
//     +40 u32 capacity    entries the index holds
//     +44 u32 pending     entries in it
//     +48 u32 chunkCursor next free byte of the shard's arena chunk
//     +52 u32 chunkEnd
//     +56 u64 seq         the seq of the versions it creates: 0 (recovery: visible to every
//                         snapshot), u64 max: the record's LSN (a live reader's view appending
//                         what the writer made durable since, src/engine/open-read-only.ts,
//                         invisible to the view's older snapshots), else that value (a
//                         large batch's versions: its commit record's LSN)
//   then scratch for one call at a time: the radix sort's 8 levels of 2 x 256 u32 (bucket
//   ends, next free places), buildList's u32 prev[HEIGHT_MAX]
//
// Threads: the opening thread only. Atomics: none needed beyond those of the skip list;
// the memtables it fills are installed in the shard records but no other thread runs.

import { KEY_BYTES_MAX, SHARDS_MAX, STATUS_DUPLICATE, VALUE_BYTES_MAX } from "./layout";
import { SHARD_ACTIVE_MEMTABLE, shardRecord } from "./shard";
import {
  arenaReserve,
  compareBytes,
  firstNode,
  HEIGHT_MAX,
  indexAbandon,
  MT_CAPACITY,
  MT_HEAD,
  MT_HEIGHT,
  NODE_LINKS,
  NODE_PREFIX,
  NODE_SEQ,
  NODE_TS,
  nodeBytes,
  nodeHeight,
  nodeInit,
  nodeKey,
  nodeKeyLength,
  nodeLink,
  randomHeight,
  VALUE_TOMBSTONE,
} from "./skiplist";
import { RECORD_HEADER_BYTES, RECORD_LENGTH_MAX, recordBytes } from "./walring";

export const REPLAY_DONE: u32 = 0;
/** stopShard's active memtable has no room for the next version. */
export const REPLAY_FULL: u32 = 1;
/** The record at stopLsn is not an engine record (decodeRecord says why). */
export const REPLAY_NOT_ENGINE_RECORD: u32 = 2;
/** An operation of the record at stopLsn names shard stopShard, beyond the shard count. */
export const REPLAY_BAD_SHARD: u32 = 3;
/** An operation of the record at stopLsn has a key or value longer than the core takes (stopDetail). */
export const REPLAY_TOO_LARGE: u32 = 4;
/** A version of the record at stopLsn does not fit in stopShard's memtable even when it is empty. */
export const REPLAY_NO_ROOM: u32 = 5;
/** stopShard's active memtable changed while versions created in the previous one were not yet linked or noted. */
export const REPLAY_MEMTABLE_CHANGED: u32 = 6;
/** stopShard has no pending index yet: the caller gives it one (capacity, index) and calls again. */
export const REPLAY_NO_INDEX: u32 = 7;
/**
 * The record at stopLsn (stopOffset) is part of a large batch (a fragment or its commit):
 * the caller applies the batch when it reads the commit (src/engine/batch-assembler.ts)
 * and calls again from the record after it.
 */
export const REPLAY_BATCH_RECORD: u32 = 8;

export const REPLAY_STATE_BYTES: u32 = 64;
export const REPLAY_SHARD_BYTES: u32 = 64;
export const REPLAY_INDEX_ENTRY_BYTES: u32 = 16;
/** Scratch per level of flagSort: 256 u32 bucket ends, 256 u32 next free places. */
const FLAG_LEVEL_BYTES: usize = 2 * 256 * 4;
/** Scratch after the shards' records (room for SHARDS_MAX): flagSort's 8 levels, then buildList's prev[]. */
const SCRATCH_FLAG_LEVELS: usize = <usize>REPLAY_STATE_BYTES + <usize>SHARDS_MAX * <usize>REPLAY_SHARD_BYTES;
const SCRATCH_PREVS: usize = SCRATCH_FLAG_LEVELS + 8 * FLAG_LEVEL_BYTES;
/** Bytes the caller allocates for the state (JavaScript asks replayStateBytes: one source for the layout's size). */
export const REPLAY_STATE_ALLOC_BYTES: usize = SCRATCH_PREVS + <usize>HEIGHT_MAX * 4;

/** REPLAY_STATE_ALLOC_BYTES, for the caller that allocates the state. */
export function replayStateBytes(): u32 {
  return <u32>REPLAY_STATE_ALLOC_BYTES;
}

const S_SHARDS: usize = 0;
const S_RESUME: usize = 4;
const S_RESUME_OP: usize = 8;
const S_STOP_SHARD: usize = 12;
const S_STOP_LSN: usize = 16;
const S_STOP_OFFSET: usize = 24;
const S_STOP_DETAIL: usize = 28;
const S_RECORDS: usize = 32;
const S_OPERATIONS: usize = 40;
const S_FROM_LSN: usize = 48;
const S_DUPLICATES: usize = 56;

const H_FLOOR_TS: usize = 0;
const H_MAX_TS: usize = 8;
const H_MIN_TS: usize = 16;
const H_MIN_LSN: usize = 24;
const H_MT: usize = 32;
const H_INDEX: usize = 36;
const H_CAPACITY: usize = 40;
const H_PENDING: usize = 44;
const H_CHUNK_CURSOR: usize = 48;
const H_CHUNK_END: usize = 52;
const H_SEQ: usize = 56;

// Engine record format (engine.ts header; src/engine/records.ts).
const RECORD_VERSION: u8 = 1;
const KIND_OPERATIONS: u8 = 1;
const KIND_MARKER: u8 = 2;
const KIND_FRAGMENT: u8 = 3;
const KIND_COMMIT: u8 = 4;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
const PREFIX_BYTES: u32 = 8;
const OP_HEADER_BYTES: u32 = 20;
const MARKER_BODY_BYTES: u32 = 12;

/** H_SEQ's "the record's LSN". */
const U64_MAX_SEQ: u64 = 0xffff_ffff_ffff_ffff;

/** Largest arena chunk replay reserves for a shard at once. */
const REPLAY_CHUNK_BYTES_MAX: u32 = 65536;

@inline
function shardState(state: usize, shard: u32): usize {
  return state + <usize>REPLAY_STATE_BYTES + <usize>shard * <usize>REPLAY_SHARD_BYTES;
}

function stopAt(state: usize, lsn: u64, shard: u32, detail: u32): void {
  store<u64>(state, lsn, S_STOP_LSN);
  store<u32>(state, shard, S_STOP_SHARD);
  store<u32>(state, detail, S_STOP_DETAIL);
}

/** Checks a payload as decodeRecord does, and its operations' shards and sizes: REPLAY_DONE or why not. */
function checkRecord(state: usize, payload: usize, length: u32, lsn: u64): u32 {
  if (length < PREFIX_BYTES || load<u8>(payload) != RECORD_VERSION) return notEngineRecord(state, lsn);
  const kind = load<u8>(payload, 1);
  if (kind == KIND_MARKER) {
    return length == PREFIX_BYTES + MARKER_BODY_BYTES ? REPLAY_DONE : notEngineRecord(state, lsn);
  }
  if (kind == KIND_FRAGMENT || kind == KIND_COMMIT) {
    stopAt(state, lsn, 0, 0);
    return REPLAY_BATCH_RECORD;
  }
  if (kind != KIND_OPERATIONS) return notEngineRecord(state, lsn);
  const count = load<u32>(payload, 4);
  // Framing first, for the whole record (decodeRecord decodes everything before any
  // operation's shard is looked at).
  let at = PREFIX_BYTES;
  for (let i: u32 = 0; i < count; i++) {
    if (<u64>at + <u64>OP_HEADER_BYTES > <u64>length) return notEngineRecord(state, lsn);
    const op = payload + <usize>at;
    const type = load<u8>(op);
    if (type != OP_PUT && type != OP_DELETE) return notEngineRecord(state, lsn);
    const keyLength = <u32>load<u16>(op, 4);
    const valueLength = type == OP_PUT ? load<u32>(op, 8) : 0;
    const end = <u64>at + <u64>OP_HEADER_BYTES + <u64>keyLength + <u64>valueLength;
    if (end > <u64>length) return notEngineRecord(state, lsn);
    at = <u32>end;
  }
  if (at != length) return notEngineRecord(state, lsn);
  const shards = load<u32>(state, S_SHARDS);
  at = PREFIX_BYTES;
  for (let i: u32 = 0; i < count; i++) {
    const op = payload + <usize>at;
    const shard = <u32>load<u16>(op, 2);
    const keyLength = <u32>load<u16>(op, 4);
    const valueLength = load<u8>(op) == OP_PUT ? load<u32>(op, 8) : 0;
    if (shard >= shards) {
      stopAt(state, lsn, shard, 0);
      return REPLAY_BAD_SHARD;
    }
    if (keyLength > KEY_BYTES_MAX || valueLength > VALUE_BYTES_MAX) {
      stopAt(state, lsn, shard, keyLength > KEY_BYTES_MAX ? keyLength : valueLength);
      return REPLAY_TOO_LARGE;
    }
    at += OP_HEADER_BYTES + keyLength + valueLength;
  }
  return REPLAY_DONE;
}

function notEngineRecord(state: usize, lsn: u64): u32 {
  stopAt(state, lsn, 0, 0);
  return REPLAY_NOT_ENGINE_RECORD;
}

/** `bytes` of the shard's current memtable `mt` for a node: from its chunk, else a new chunk, else exactly; 0 when full. */
function replayAlloc(h: usize, mt: usize, bytes: u32): usize {
  const cursor = load<u32>(h, H_CHUNK_CURSOR);
  const end = load<u32>(h, H_CHUNK_END);
  if (<u64>cursor + <u64>bytes <= <u64>end) {
    store<u32>(h, cursor + bytes, H_CHUNK_CURSOR);
    return <usize>cursor;
  }
  const sixteenth = (load<u32>(mt, MT_CAPACITY) >>> 4) & ~7;
  const chunk = sixteenth < REPLAY_CHUNK_BYTES_MAX ? sixteenth : REPLAY_CHUNK_BYTES_MAX;
  if (chunk > bytes) {
    const start = arenaReserve(mt, chunk);
    if (start != 0) {
      store<u32>(h, <u32>(start + <usize>bytes), H_CHUNK_CURSOR);
      store<u32>(h, <u32>(start + <usize>chunk), H_CHUNK_END);
      return start;
    }
  }
  return arenaReserve(mt, bytes);
}

/**
 * Creates the versions of operations `firstOp`.. of a checked operations record. Stops
 * with REPLAY_FULL (resume fields set) when a memtable has no room.
 */
function createVersions(state: usize, payload: usize, lsn: u64, firstOp: u32): u32 {
  const count = load<u32>(payload, 4);
  let at = PREFIX_BYTES;
  for (let i: u32 = 0; i < count; i++) {
    const op = payload + <usize>at;
    const put = load<u8>(op) == OP_PUT;
    const shard = <u32>load<u16>(op, 2);
    const keyLength = <u32>load<u16>(op, 4);
    const valueLength = put ? load<u32>(op, 8) : 0;
    at += OP_HEADER_BYTES + keyLength + valueLength;
    if (i < firstOp) continue;
    const ts = load<u64>(op, 12);
    const h = shardState(state, shard);
    if (ts > load<u64>(h, H_MAX_TS)) store<u64>(h, ts, H_MAX_TS);
    if (ts <= load<u64>(h, H_FLOOR_TS)) continue;

    const mt = <usize>atomic.load<u32>(shardRecord(shard), SHARD_ACTIVE_MEMTABLE);
    if (<usize>load<u32>(h, H_MT) != mt) {
      if (load<u32>(h, H_PENDING) != 0 || load<u64>(h, H_MIN_LSN) != U64.MAX_VALUE) {
        stopAt(state, lsn, shard, 0);
        return REPLAY_MEMTABLE_CHANGED;
      }
      store<u32>(h, <u32>mt, H_MT);
      store<u32>(h, 0, H_CHUNK_CURSOR);
      store<u32>(h, 0, H_CHUNK_END);
    }
    const capacity = load<u32>(h, H_CAPACITY);
    if (capacity == 0) {
      stopAt(state, lsn, shard, 0);
      store<u32>(state, 1, S_RESUME);
      store<u32>(state, i, S_RESUME_OP);
      return REPLAY_NO_INDEX;
    }
    if (load<u32>(h, H_PENDING) >= capacity) linkPending(state, h);

    const valueStored = put ? valueLength : VALUE_TOMBSTONE;
    const height = randomHeight();
    const node = replayAlloc(h, mt, nodeBytes(height, keyLength, valueStored));
    if (node == 0) {
      stopAt(state, lsn, shard, 0);
      if (load<u32>(h, H_PENDING) == 0 && firstNode(mt) == 0) return REPLAY_NO_ROOM;
      store<u32>(state, 1, S_RESUME);
      store<u32>(state, i, S_RESUME_OP);
      return REPLAY_FULL;
    }
    const key = op + <usize>OP_HEADER_BYTES;
    nodeInit(node, height, key, keyLength, key + <usize>keyLength, valueStored);
    store<u64>(node, ts, NODE_TS);
    const seq = load<u64>(h, H_SEQ);
    store<u64>(node, seq == U64_MAX_SEQ ? lsn : seq, NODE_SEQ);
    const pending = load<u32>(h, H_PENDING);
    const entry = <usize>load<u32>(h, H_INDEX) + (<usize>pending << 4);
    store<u64>(entry, load<u64>(node, NODE_PREFIX));
    store<u64>(entry, <u64>node, 8);
    store<u32>(h, pending + 1, H_PENDING);
    if (ts < load<u64>(h, H_MIN_TS)) store<u64>(h, ts, H_MIN_TS);
    if (lsn < load<u64>(h, H_MIN_LSN)) store<u64>(h, lsn, H_MIN_LSN);
    store<u64>(state, load<u64>(state, S_OPERATIONS) + 1, S_OPERATIONS);
  }
  return REPLAY_DONE;
}

/** One record's payload at LSN `lsn`; `resumed`: checked and counted by the call that stopped in it. */
function replayPayload(state: usize, payload: usize, length: u32, lsn: u64, resumed: bool): u32 {
  let firstOp: u32 = 0;
  if (resumed) {
    firstOp = load<u32>(state, S_RESUME_OP);
  } else {
    const checked = checkRecord(state, payload, length, lsn);
    if (checked != REPLAY_DONE) return checked;
    store<u64>(state, load<u64>(state, S_RECORDS) + 1, S_RECORDS);
    if (load<u8>(payload, 1) != KIND_OPERATIONS) return REPLAY_DONE; // a channel marker
  }
  return createVersions(state, payload, lsn, firstOp);
}

/**
 * Replays the records of a validated run: `bytes` bytes of whole log records at `run`, the
 * first at LSN `lsn`, from the record at offset `start` (0, or the stopOffset of a call
 * that stopped). REPLAY_DONE when the run is done, else why it stopped (stopOffset set).
 */
export function replayRun(state: usize, run: usize, bytes: u32, lsn: u64, start: u32): u32 {
  const fromLsn = load<u64>(state, S_FROM_LSN);
  let at = start;
  while (<u64>at + <u64>RECORD_HEADER_BYTES <= <u64>bytes) {
    const record = run + <usize>at;
    const length = load<u32>(record, 4) & RECORD_LENGTH_MAX;
    const recordLsn = lsn + <u64>at;
    if (recordLsn >= fromLsn) {
      const resumed = at == start && load<u32>(state, S_RESUME) != 0;
      store<u32>(state, 0, S_RESUME);
      const status = replayPayload(state, record + <usize>RECORD_HEADER_BYTES, length, recordLsn, resumed);
      if (status != REPLAY_DONE) {
        store<u32>(state, at, S_STOP_OFFSET);
        return status;
      }
    }
    at += <u32>recordBytes(length);
  }
  return REPLAY_DONE;
}

/** Replays one record whose payload (`length` bytes) the caller holds at `payload` (a record too large for a run). */
export function replayRecord(state: usize, payload: usize, length: u32, lsn: u64): u32 {
  if (lsn < load<u64>(state, S_FROM_LSN)) return REPLAY_DONE;
  const resumed = load<u32>(state, S_RESUME) != 0;
  store<u32>(state, 0, S_RESUME);
  const status = replayPayload(state, payload, length, lsn, resumed);
  if (status != REPLAY_DONE) store<u32>(state, 0, S_STOP_OFFSET);
  return status;
}

/** Links the shard's pending versions into its memtable (sorted first); returns how many were pending. */
export function replayLink(state: usize, shard: u32): u32 {
  if (shard >= load<u32>(state, S_SHARDS)) return 0;
  return linkPending(state, shardState(state, shard));
}

function linkPending(state: usize, h: usize): u32 {
  const n = load<u32>(h, H_PENDING);
  if (n == 0) return 0;
  const mt = <usize>load<u32>(h, H_MT);
  const index = <usize>load<u32>(h, H_INDEX);
  sortEntries(state, index, n);
  let duplicates: u64 = 0;
  if (firstNode(mt) == 0) {
    duplicates = buildList(state, mt, index, n);
  } else {
    for (let i: u32 = 0; i < n; i++) {
      if (nodeLink(mt, <usize>load<u32>(index + (<usize>i << 4), 8)) == STATUS_DUPLICATE) duplicates++;
    }
  }
  store<u32>(h, 0, H_PENDING);
  store<u64>(state, load<u64>(state, S_DUPLICATES) + duplicates, S_DUPLICATES);
  return n;
}

/**
 * Links `n` nodes, sorted by (key asc, ts desc) at `sorted` (index entries), into the
 * empty memtable `mt`: each node becomes the successor of the last node linked at each of
 * its levels, so no search and no comparison is needed beyond skipping a (key, ts) equal
 * to the previous one (a duplicate, left unlinked as nodeLink leaves it). The result is
 * the list nodeLink would have built: strictly increasing at every level, every node at
 * every level below its height, the list height the tallest node's. Plain stores for the
 * links: no other thread reads the memtable during replay, and the threads that read it
 * later start after it (the actor is spawned after replay). Returns the duplicates.
 */
function buildList(state: usize, mt: usize, sorted: usize, n: u32): u64 {
  // No key index for a memtable built here: indexing each version (a hash and a slot at a
  // random place) made recovery ~40% slower (bench recover 256 MiB: 0.73-0.99 s -> 1.05-1.42
  // s in Node). Its lookups search the list until it is frozen and flushed.
  indexAbandon(mt);
  const head = <usize>load<u32>(mt, MT_HEAD);
  // prev[level]: the last node linked at that level so far.
  const prevs = state + SCRATCH_PREVS;
  for (let l: u32 = 0; l < HEIGHT_MAX; l++) store<u32>(prevs + (<usize>l << 2), <u32>head);
  let height = atomic.load<u32>(mt, MT_HEIGHT);
  let duplicates: u64 = 0;
  let last: usize = 0;
  for (let i: u32 = 0; i < n; i++) {
    const entry = sorted + (<usize>i << 4);
    const node = <usize>load<u32>(entry, 8);
    if (last != 0 && load<u64>(entry) == load<u64>(last, NODE_PREFIX) && compareNodes(last, node) == 0) {
      duplicates++;
      continue;
    }
    const h = nodeHeight(node);
    for (let l: u32 = 0; l < h; l++) {
      const at = prevs + (<usize>l << 2);
      store<u32>(<usize>load<u32>(at) + NODE_LINKS + (<usize>l << 2), <u32>node);
      store<u32>(at, <u32>node);
    }
    if (h > height) height = h;
    last = node;
  }
  for (let l: u32 = 0; l < HEIGHT_MAX; l++) store<u32>(<usize>load<u32>(prevs + (<usize>l << 2)) + NODE_LINKS + (<usize>l << 2), 0);
  atomic.store<u32>(mt, height, MT_HEIGHT); // after the links: an atomic store orders them before it
  return duplicates;
}

// ---- sorting the pending index by (key asc, ts desc) ------------------------------------

/** Compares two index entries as the skip list orders their nodes. */
@inline
function compareEntries(a: usize, b: usize): i32 {
  const pa = load<u64>(a);
  const pb = load<u64>(b);
  if (pa != pb) return pa < pb ? -1 : 1;
  return compareNodes(<usize>load<u32>(a, 8), <usize>load<u32>(b, 8));
}

/** Equal key prefixes: the rest of the keys (as skiplist.ts compareNode), then ts descending. */
function compareNodes(x: usize, y: usize): i32 {
  const xLength = nodeKeyLength(x);
  const yLength = nodeKeyLength(y);
  let c: i32;
  if (xLength <= 8 || yLength <= 8) c = xLength < yLength ? -1 : xLength > yLength ? 1 : 0;
  else c = compareBytes(nodeKey(x) + 8, xLength - 8, nodeKey(y) + 8, yLength - 8);
  if (c != 0) return c;
  const xTs = load<u64>(x, NODE_TS);
  const yTs = load<u64>(y, NODE_TS);
  return xTs > yTs ? -1 : xTs < yTs ? 1 : 0;
}

@inline
function swapEntries(a: usize, b: usize): void {
  const a0 = load<u64>(a);
  const a1 = load<u64>(a, 8);
  store<u64>(a, load<u64>(b));
  store<u64>(a, load<u64>(b, 8), 8);
  store<u64>(b, a0);
  store<u64>(b, a1, 8);
}

const INSERTION_SORT_MAX: u32 = 16;

/**
 * Sorts `n` 16-byte entries at `base` by (key asc, ts desc), in place. Nothing to do when
 * they are sorted already (a log of ascending keys). Else an in-place most-significant-
 * digit radix sort on the 8-byte key prefix (flagSort), each bucket by the next byte, and
 * every bucket of at most RADIX_SMALL entries, or of entries whose prefixes are all equal,
 * by quicksort on the whole order (prefix, the rest of the key, ts descending). The sort
 * needs no stability: the order it produces is total but for (key, ts) duplicates, which
 * are equal in every byte the list keeps.
 * In place, not the least-significant-digit sort it replaced: that one needed as many bytes
 * again as the entries for its passes, on pages no thread had touched, and on this VM a
 * page's first touch costs ~12 µs; recovering 256 MiB of log touched ~6,500 pages (26 MB)
 * for it (docs/PERFORMANCE.md, "Recovery: page faults again").
 */
function sortEntries(state: usize, base: usize, n: u32): void {
  let sorted = true;
  for (let i: u32 = 1; i < n && sorted; i++) {
    if (compareEntries(base + (<usize>(i - 1) << 4), base + (<usize>i << 4)) > 0) sorted = false;
  }
  if (sorted) return;
  flagSort(state + SCRATCH_FLAG_LEVELS, base, 0, n, 56);
}

/** Buckets this small are sorted by quicksort instead of another radix pass. */
const RADIX_SMALL: u32 = 64;

@inline
function prefixByte(base: usize, i: u32, shift: u32): u32 {
  return <u32>(load<u64>(base + (<usize>i << 4)) >> <u64>shift) & 0xff;
}

/**
 * American flag sort of entries [lo, hi) of `base`, whose prefixes agree in every byte
 * above the one at bit `shift` (56: the key's first byte, 0: its eighth), by that byte,
 * then each bucket by the next byte (recursion depth at most 8, FLAG_LEVEL_BYTES of
 * `scratch` per level). A pass counts the bucket sizes, then walks each bucket's places
 * and swaps every entry that belongs elsewhere into the next free place of its own
 * bucket: each swap settles one entry, so a pass is O(hi - lo) swaps at most.
 */
function flagSort(scratch: usize, base: usize, lo: u32, hi: u32, shift: i32): void {
  const n = hi - lo;
  if (n <= RADIX_SMALL || shift < 0) {
    if (n > 1) quicksort(base, lo, hi, 2 * (32 - clz<u32>(n)));
    return;
  }
  const ends = scratch;
  const next = scratch + 1024;
  memory.fill(ends, 0, 1024);
  const s = <u32>shift;
  for (let i = lo; i < hi; i++) {
    const at = ends + (<usize>prefixByte(base, i, s) << 2);
    store<u32>(at, load<u32>(at) + 1);
  }
  let place = lo;
  for (let b: u32 = 0; b < 256; b++) {
    const count = load<u32>(ends + (<usize>b << 2));
    store<u32>(next + (<usize>b << 2), place);
    place += count;
    store<u32>(ends + (<usize>b << 2), place);
  }
  for (let b: u32 = 0; b < 256; b++) {
    const end = load<u32>(ends + (<usize>b << 2));
    let i = load<u32>(next + (<usize>b << 2));
    while (i < end) {
      const v = prefixByte(base, i, s);
      if (v == b) {
        i++;
        continue;
      }
      const slot = next + (<usize>v << 2);
      const j = load<u32>(slot);
      store<u32>(slot, j + 1);
      swapEntries(base + (<usize>i << 4), base + (<usize>j << 4));
    }
    store<u32>(next + (<usize>b << 2), end);
  }
  let start = lo;
  for (let b: u32 = 0; b < 256; b++) {
    const end = load<u32>(ends + (<usize>b << 2));
    if (end - start > 1) flagSort(scratch + FLAG_LEVEL_BYTES, base, start, end, shift - 8);
    start = end;
  }
}

function quicksort(base: usize, from: u32, to: u32, depth: u32): void {
  let lo = from;
  let hi = to;
  while (hi - lo > INSERTION_SORT_MAX) {
    if (depth == 0) {
      heapsort(base + (<usize>lo << 4), hi - lo);
      return;
    }
    depth--;
    // Median of three to the front as the pivot.
    const mid = lo + ((hi - lo) >>> 1);
    const a = base + (<usize>lo << 4);
    const b = base + (<usize>mid << 4);
    const c = base + (<usize>(hi - 1) << 4);
    if (compareEntries(b, a) < 0) swapEntries(a, b);
    if (compareEntries(c, b) < 0) {
      swapEntries(b, c);
      if (compareEntries(b, a) < 0) swapEntries(a, b);
    }
    swapEntries(a, b); // pivot at lo
    // Hoare partition of (lo, hi) around the pivot at lo.
    let i = lo;
    let j = hi;
    while (true) {
      do i++; while (i < hi && compareEntries(base + (<usize>i << 4), a) < 0);
      do j--; while (compareEntries(base + (<usize>j << 4), a) > 0);
      if (i >= j) break;
      swapEntries(base + (<usize>i << 4), base + (<usize>j << 4));
    }
    swapEntries(a, base + (<usize>j << 4));
    // [lo, j) <= pivot at j <= (j, hi): recurse into the smaller side, loop on the larger.
    if (j - lo < hi - j - 1) {
      quicksort(base, lo, j, depth);
      lo = j + 1;
    } else {
      quicksort(base, j + 1, hi, depth);
      hi = j;
    }
  }
  insertionSort(base, lo, hi);
}

function insertionSort(base: usize, from: u32, to: u32): void {
  for (let i = from + 1; i < to; i++) {
    const at = base + (<usize>i << 4);
    const e0 = load<u64>(at);
    const e1 = load<u64>(at, 8);
    let j = i;
    while (j > from) {
      const prev = base + (<usize>(j - 1) << 4);
      const p0 = load<u64>(prev);
      let c: i32 = p0 != e0 ? (p0 < e0 ? -1 : 1) : compareNodes(<usize>load<u32>(prev, 8), <usize>(<u32>e1));
      if (c <= 0) break;
      store<u64>(prev + 16, p0);
      store<u64>(prev + 16, load<u64>(prev, 8), 8);
      j--;
    }
    const to_ = base + (<usize>j << 4);
    store<u64>(to_, e0);
    store<u64>(to_, e1, 8);
  }
}

function heapsort(base: usize, n: u32): void {
  for (let i = <i32>(n >>> 1) - 1; i >= 0; i--) siftDown(base, <u32>i, n);
  for (let end = n - 1; end > 0; end--) {
    swapEntries(base, base + (<usize>end << 4));
    siftDown(base, 0, end);
  }
}

function siftDown(base: usize, start: u32, n: u32): void {
  let root = start;
  while (true) {
    let child: u32 = 2 * root + 1;
    if (child >= n) return;
    if (child + 1 < n && compareEntries(base + (<usize>child << 4), base + (<usize>(child + 1) << 4)) < 0) child++;
    if (compareEntries(base + (<usize>root << 4), base + (<usize>child << 4)) >= 0) return;
    swapEntries(base + (<usize>root << 4), base + (<usize>child << 4));
    root = child;
  }
}
