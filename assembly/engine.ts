// The engine's fast path: one call per write, from any thread, with no lock and no
// message (docs/ARCHITECTURE.md, "Write paths").
//
//   shard = xxh32(key) % shards
//   admit: fast writes are on and the shard's active memtable is ACTIVE; announce
//          ourselves in that memtable's `writers`, then re-check its state
//   node  = space for the version in the memtable       (FULL -> take the channel path)
//   lsn   = space for the record in the group-WAL ring  (FULL -> wait for the worker, retry)
//   ts    = the shard's commit counter, fetch-add
//   write the record (engine record format below) into the ring
//   hand the node to the memtable's pending ring and index it (seq = lsn; it is linked
//   into the list later, before anything walks the list: assembly/skiplist.ts, "Deferred
//   linking"), lower the memtable's minGroupLsn
//   publish the record (after the hand-in: published, and so durable, implies applied)
//   leave the memtable
//
// A batch does the same for every operation, across shards, with ONE record: on a crash
// it is all or nothing, and since every version of a batch has the same seq (the record's
// LSN), a snapshot sees all of it or none of it.
//
// Engine record payload (inside a WAL record; docs/ENGINE.md "Engine records" has them all,
// kinds 3 and 4 being a large batch's fragments and commit, written by the actor only):
//   u8 version = 1, u8 kind (1 = operations, the kind written here), u16 reserved, u32 count
//   count x operation:
//     u8 type (1 put, 2 delete), u8 reserved, u16 shard, u16 keyLength, u16 reserved,
//     u32 valueLength (0 for a delete), u64 ts, key bytes, value bytes
//
// Admission and freezing: a writer adds itself to the memtable's `writers`, then re-reads
// the memtable's state and the shard's active pointer. The owner freezing a memtable
// stores FROZEN, installs the next memtable, then waits for `writers` to drain. Under
// sequential consistency either the writer sees FROZEN (and backs out) or the owner sees
// the writer (and waits): no write is ever missing from the memtable that is flushed.
//
// Threads: any attached thread. Results go to the caller's ThreadBlock result area:
//   +0 u64 lsn, +8 u64 lsnEnd (as ringReserve leaves them), +16 u64 ts (the largest, for a
//   batch), +24 u32 shard (of a single write), +28 u32 channel reason.

import {
  KEY_BYTES_MAX,
  shardCount,
  VALUE_BYTES_MAX,
} from "./layout";
import { SHARD_ACTIVE_MEMTABLE, SHARD_FAST_WRITE_OFF, SHARD_FLAGS, SHARD_OWNER_COMMITTING, shardNextTs, shardRecord } from "./shard";
import {
  isStatus,
  MEMTABLE_ACTIVE,
  MT_STATE,
  MT_WRITERS,
  NODE_SEQ,
  NODE_TS,
  nodeCreate,
  nodeDefer,
  noteGroupLsn,
  VALUE_TOMBSTONE,
} from "./skiplist";
import { epochEnter, epochExit } from "./epoch";
import { currentThreadBlock, TB_EPOCH, TB_FAST_WRITES, TB_RESULT, TB_SCRATCH } from "./thread";
import { RECORD_HEADER_BYTES, RECORD_TYPE_FULL, ringCopyIn, ringPublish, ringReserve, WAL_CLOSED, WAL_FAILED, WAL_FULL, WAL_OK, WAL_TOO_LARGE } from "./walring";
import { SHARD_SEED, xxh32 } from "./xxhash32";

export const E_OK: u32 = 0;
export const E_CHANNEL: u32 = 1;
export const E_RING_FULL: u32 = 2;
export const E_FAILED: u32 = 3;
export const E_CLOSED: u32 = 4;
export const E_TOO_LARGE: u32 = 5;
export const E_KEY_TOO_LARGE: u32 = 6;
export const E_VALUE_TOO_LARGE: u32 = 7;
export const E_BAD_BATCH: u32 = 8;

export const REASON_FAST_WRITE_OFF: u32 = 2;
export const REASON_MEMTABLE_FULL: u32 = 3;
export const REASON_NO_ACTIVE: u32 = 4;
export const REASON_OWNER_COMMITTING: u32 = 5;

export const RECORD_VERSION: u8 = 1;
export const KIND_OPERATIONS: u8 = 1;
export const OP_PUT: u8 = 1;
export const OP_DELETE: u8 = 2;
export const RECORD_PREFIX_BYTES: u32 = 8;
export const OP_HEADER_BYTES: u32 = 20;
/** Staged batch operation header: u8 type, u8 0, u16 keyLength, u32 valueLength. */
export const STAGED_OP_HEADER_BYTES: u32 = 8;

const R_LSN: usize = 0;
const R_TS: usize = 16;
const R_SHARD: usize = 24;
const R_REASON: usize = 28;

@inline
function result(): usize {
  return currentThreadBlock() + TB_RESULT;
}

function channel(reason: u32): u32 {
  store<u32>(result(), reason, R_REASON);
  return E_CHANNEL;
}

function ringStatus(status: u32): u32 {
  if (status == WAL_FULL) return E_RING_FULL;
  if (status == WAL_TOO_LARGE) return E_TOO_LARGE;
  if (status == WAL_FAILED) return E_FAILED;
  if (status == WAL_CLOSED) return E_CLOSED;
  return E_FAILED;
}

/** Admits the caller into the shard's active memtable; 0 (reason stored) when it must take the channel path. */
function enterActive(shard: u32): usize {
  const record = shardRecord(shard);
  const flags = atomic.load<u32>(record, SHARD_FLAGS);
  if (flags != 0) {
    channel((flags & SHARD_FAST_WRITE_OFF) != 0 ? REASON_FAST_WRITE_OFF : REASON_OWNER_COMMITTING);
    return 0;
  }
  const mt = <usize>atomic.load<u32>(record, SHARD_ACTIVE_MEMTABLE);
  if (mt == 0) {
    channel(REASON_NO_ACTIVE);
    return 0;
  }
  atomic.add<u32>(mt, 1, MT_WRITERS);
  if (atomic.load<u32>(mt, MT_STATE) != MEMTABLE_ACTIVE || <usize>atomic.load<u32>(record, SHARD_ACTIVE_MEMTABLE) != mt) {
    atomic.sub<u32>(mt, 1, MT_WRITERS);
    channel(REASON_NO_ACTIVE);
    return 0;
  }
  // The owner may have begun a commit since the first look (SHARD_OWNER_COMMITTING: it
  // sets the flag, then waits for MT_WRITERS to reach 0).
  if ((atomic.load<u32>(record, SHARD_FLAGS) & SHARD_OWNER_COMMITTING) != 0) {
    atomic.sub<u32>(mt, 1, MT_WRITERS);
    channel(REASON_OWNER_COMMITTING);
    return 0;
  }
  return mt;
}

@inline
function leave(mt: usize): void {
  atomic.sub<u32>(mt, 1, MT_WRITERS);
}

@inline
function opPayloadBytes(keyLength: u32, valueLength: u32): u32 {
  return OP_HEADER_BYTES + keyLength + (valueLength == VALUE_TOMBSTONE ? 0 : valueLength);
}

/** Writes one operation into the ring at `at`; returns the position after it. */
function writeOp(ring: usize, at: u64, shard: u32, ts: u64, key: usize, keyLength: u32, value: usize, valueLength: u32): u64 {
  const scratch = currentThreadBlock() + TB_SCRATCH;
  const tomb = valueLength == VALUE_TOMBSTONE;
  store<u8>(scratch, tomb ? OP_DELETE : OP_PUT);
  store<u8>(scratch, 0, 1);
  store<u16>(scratch, <u16>shard, 2);
  store<u16>(scratch, <u16>keyLength, 4);
  store<u16>(scratch, 0, 6);
  store<u32>(scratch, tomb ? 0 : valueLength, 8);
  store<u64>(scratch, ts, 12);
  ringCopyIn(ring, at, scratch, OP_HEADER_BYTES);
  ringCopyIn(ring, at + OP_HEADER_BYTES, key, keyLength);
  if (!tomb) ringCopyIn(ring, at + OP_HEADER_BYTES + keyLength, value, valueLength);
  return at + <u64>opPayloadBytes(keyLength, valueLength);
}

function writePrefix(ring: usize, at: u64, count: u32): void {
  const scratch = currentThreadBlock() + TB_SCRATCH;
  store<u8>(scratch, RECORD_VERSION);
  store<u8>(scratch, KIND_OPERATIONS, 1);
  store<u16>(scratch, 0, 2);
  store<u32>(scratch, count, 4);
  ringCopyIn(ring, at, scratch, RECORD_PREFIX_BYTES);
}

/** A put (or, with valueLength = 0xFFFFFFFF, a delete) on the fast path. */
function writeOne(ring: usize, key: usize, keyLength: u32, value: usize, valueLength: u32): u32 {
  if (keyLength > KEY_BYTES_MAX) return E_KEY_TOO_LARGE;
  if (valueLength != VALUE_TOMBSTONE && valueLength > VALUE_BYTES_MAX) return E_VALUE_TOO_LARGE;
  const shard = xxh32(key, keyLength, SHARD_SEED) % shardCount();
  store<u32>(result(), shard, R_SHARD);
  const mt = enterActive(shard);
  if (mt == 0) return E_CHANNEL;
  const node = nodeCreate(mt, key, keyLength, value, valueLength);
  if (isStatus(node)) {
    leave(mt);
    return channel(REASON_MEMTABLE_FULL);
  }
  const payload = RECORD_PREFIX_BYTES + opPayloadBytes(keyLength, valueLength);
  const reserved = ringReserve(ring, payload);
  if (reserved != WAL_OK) {
    leave(mt);
    return ringStatus(reserved);
  }
  const lsn = load<u64>(result(), R_LSN);
  const ts = shardNextTs(shard);
  store<u64>(node, ts, NODE_TS);
  store<u64>(node, lsn, NODE_SEQ);
  const body = lsn + RECORD_HEADER_BYTES;
  writePrefix(ring, body, 1);
  writeOp(ring, body + RECORD_PREFIX_BYTES, shard, ts, key, keyLength, value, valueLength);
  nodeDefer(mt, node);
  noteGroupLsn(mt, lsn);
  ringPublish(ring, lsn, payload, RECORD_TYPE_FULL);
  leave(mt);
  store<u64>(result(), ts, R_TS);
  atomic.add<u64>(currentThreadBlock(), 1, TB_FAST_WRITES);
  return E_OK;
}

/**
 * A batch of `count` staged operations at `ops` (each: u8 type, u8 0, u16 keyLength,
 * u32 valueLength, key, value; valueLength ignored for deletes), applied atomically with
 * one record. `scratch` holds 12 bytes per operation (memtable, node, shard).
 */
function writeBatch(ring: usize, ops: usize, opsBytes: u32, count: u32, scratch: usize): u32 {
  // Pass 1: validate, route, admit, allocate nodes.
  let at = ops;
  const end = ops + <usize>opsBytes;
  let payload = RECORD_PREFIX_BYTES;
  for (let i: u32 = 0; i < count; i++) {
    if (at + STAGED_OP_HEADER_BYTES > end) return abort(scratch, i, E_BAD_BATCH);
    const type = load<u8>(at);
    const keyLength = <u32>load<u16>(at, 2);
    const valueLength = type == OP_DELETE ? VALUE_TOMBSTONE : load<u32>(at, 4);
    if (type != OP_PUT && type != OP_DELETE) return abort(scratch, i, E_BAD_BATCH);
    if (keyLength > KEY_BYTES_MAX) return abort(scratch, i, E_KEY_TOO_LARGE);
    if (valueLength != VALUE_TOMBSTONE && valueLength > VALUE_BYTES_MAX) return abort(scratch, i, E_VALUE_TOO_LARGE);
    const key = at + STAGED_OP_HEADER_BYTES;
    const next = key + <usize>keyLength + (valueLength == VALUE_TOMBSTONE ? 0 : <usize>valueLength);
    if (next > end) return abort(scratch, i, E_BAD_BATCH);
    const shard = xxh32(key, keyLength, SHARD_SEED) % shardCount();
    const mt = enterActive(shard);
    if (mt == 0) return abort(scratch, i, E_CHANNEL);
    const node = nodeCreate(mt, key, keyLength, key + keyLength, valueLength);
    if (isStatus(node)) {
      leave(mt);
      channel(REASON_MEMTABLE_FULL);
      return abort(scratch, i, E_CHANNEL);
    }
    const slot = scratch + <usize>i * 12;
    store<u32>(slot, <u32>mt);
    store<u32>(slot, <u32>node, 4);
    store<u32>(slot, shard, 8);
    payload += opPayloadBytes(keyLength, valueLength);
    at = next;
  }
  // One record for all of it.
  const reserved = ringReserve(ring, payload);
  if (reserved != WAL_OK) return abort(scratch, count, ringStatus(reserved));
  const lsn = load<u64>(result(), R_LSN);
  const body = lsn + RECORD_HEADER_BYTES;
  writePrefix(ring, body, count);
  // Pass 2: timestamps, then the operations into the record.
  let write = body + RECORD_PREFIX_BYTES;
  let maxTs: u64 = 0;
  at = ops;
  for (let i: u32 = 0; i < count; i++) {
    const slot = scratch + <usize>i * 12;
    const node = <usize>load<u32>(slot, 4);
    const shard = load<u32>(slot, 8);
    const type = load<u8>(at);
    const keyLength = <u32>load<u16>(at, 2);
    const valueLength = type == OP_DELETE ? VALUE_TOMBSTONE : load<u32>(at, 4);
    const key = at + STAGED_OP_HEADER_BYTES;
    const ts = shardNextTs(shard);
    if (ts > maxTs) maxTs = ts;
    store<u64>(node, ts, NODE_TS);
    store<u64>(node, lsn, NODE_SEQ);
    write = writeOp(ring, write, shard, ts, key, keyLength, key + keyLength, valueLength);
    at = key + <usize>keyLength + (valueLength == VALUE_TOMBSTONE ? 0 : <usize>valueLength);
  }
  // Pass 3: hand every version in (indexed now, linked later, as a single write's), then
  // publish the record, then leave.
  for (let i: u32 = 0; i < count; i++) {
    const slot = scratch + <usize>i * 12;
    const mt = <usize>load<u32>(slot);
    nodeDefer(mt, <usize>load<u32>(slot, 4));
    noteGroupLsn(mt, lsn);
  }
  ringPublish(ring, lsn, payload, RECORD_TYPE_FULL);
  for (let i: u32 = 0; i < count; i++) leave(<usize>load<u32>(scratch + <usize>i * 12));
  store<u64>(result(), maxTs, R_TS);
  atomic.add<u64>(currentThreadBlock(), <u64>count, TB_FAST_WRITES);
  return E_OK;
}

/** Leaves the memtables of the first `admitted` operations (their nodes stay unlinked, wasted) and returns `status`. */
function abort(scratch: usize, admitted: u32, status: u32): u32 {
  for (let i: u32 = 0; i < admitted; i++) leave(<usize>load<u32>(scratch + <usize>i * 12));
  return status;
}

// Writers hold an epoch while they use a memtable address they loaded, like readers, so
// that the owner never recycles an arena a writer is about to announce itself in (its
// `writers` count would be reset under it). A thread already inside an epoch (a scan in
// progress on this thread) keeps it.

@inline
function pinEpoch(): bool {
  if (atomic.load<u32>(currentThreadBlock() + TB_EPOCH) != 0) return false;
  epochEnter();
  return true;
}

/** One put or delete on the fast path (see the top of this file); E_* status. */
export function engineWrite(ring: usize, key: usize, keyLength: u32, value: usize, valueLength: u32): u32 {
  const pinned = pinEpoch();
  const status = writeOne(ring, key, keyLength, value, valueLength);
  if (pinned) epochExit();
  return status;
}

/** One atomic batch on the fast path; E_* status. */
export function engineBatch(ring: usize, ops: usize, opsBytes: u32, count: u32, scratch: usize): u32 {
  const pinned = pinEpoch();
  const status = writeBatch(ring, ops, opsBytes, count, scratch);
  if (pinned) epochExit();
  return status;
}
