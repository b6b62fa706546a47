// WalRing: the lock-free group-commit buffer between writers (any thread) and the one
// durability worker that writes the log to disk.
//
// Writers reserve space with one fetch-add on `reserveHead`, so the LSN of a record is
// the value that fetch-add returned, and copy the record in. The record is in the exact
// on-disk format (docs/wal-format.md), so the worker writes ring bytes to the file as
// they are. A record is published by storing its header `word` (never 0) last.
// The worker scans from `drainTail` for the contiguous run of published records, writes
// it, zeroes that part of the ring and moves `drainTail` (freeing the space), calls
// fdatasync, then stores `durableLsn` and wakes whoever waits for it.
//
// Layout (RING_HEADER_BYTES = 256, then `capacity` bytes of data), at `ring`:
//
//   line 0  +0   u32 magic            0x474E5257 ("WRNG")
//           +4   u32 capacity         data bytes, a power of two, >= 64 KiB
//           +8   u32 data             address of the data area
//           +12  u32 salt             the log's salt, in every record's header checksum
//           +16  u32 recordBytesMax   largest payload accepted
//           +20  u32 state            OPEN, CLOSING, CLOSED or FAILED (atomic)
//           +24  u32 failCode         why FAILED (FAIL_*), set before state
//           +32  32 B failText        OS error code in ASCII (e.g. "EIO"), set before state
//   line 1  +64  u64 reserveHead      next LSN to hand out (atomic fetch-add by writers);
//                                     RESERVE_CLOSED set in it once the worker closed the ring
//   line 2  +128 u64 drainTail        below it, ring bytes are written out and free (worker)
//           +136 u32 drainSeq         +1 after each drainTail move (space waiters wait on it)
//           +140 u32 workerSleeping   1 while the worker waits for records (atomic)
//           +144 u32 wakeSeq          +1 by a writer that wakes the worker (worker waits on it)
//   line 3  +192 u64 durableLsn       below it, the log is durable (worker)
//           +200 u32 durableSeq       +1 after each durableLsn store or state change
//           +208 u64 syncs            fdatasync calls made (worker)
//           +216 u64 syncedRecords    records made durable (worker)
//           +224 u64 publishedEnd     end of the contiguous run of published records from the
//                                     start (atomic; advanced by every publisher, and by the
//                                     worker's release; never below drainTail once released)
//           +232 u32 publishWaiters   threads waiting for publishedEnd to pass a record (atomic)
//           +236 u32 publishSeq       +1 by a publisher or release that saw waiters (they wait on it)
//           +240 u32 flushRequests    +1 by a flush that wants a sync now (JavaScript only:
//                                     src/wal/ring.ts requestSync, durability-worker.ts)
//
// The data area is indexed by `lsn & (capacity - 1)`. Records are 8-aligned and the
// capacity is a multiple of 8, so a record's 8-byte prefix (headerCrc, word) never wraps;
// its payloadCrc and payload may, and are written and read in two parts.
//
// Invariants
// - drainTail <= durable work <= reserveHead; durableLsn <= drainTail; all only grow.
// - Every byte of the data area at a position in [drainTail, drainTail + capacity) that
//   no writer has published is zero: the worker zeroes what it drains before it moves
//   drainTail, so a word read as non-zero is always a current, complete record.
// - A writer touches its reserved range only once it lies within drainTail + capacity, so
//   nothing unwritten is ever overwritten.
// - Reserved ranges are published in any order; the worker only ever takes the contiguous
//   published prefix, so the file receives records in LSN order with no holes.
// - Every range reserved is published unless the ring FAILED: closing drains up to
//   reserveHead, so an unpublished range would stall it (ringReserve waits for room
//   through CLOSING for that reason).
//
// - Closing is decided on reserveHead itself: the worker sets RESERVE_CLOSED in it with a
//   compare-exchange that succeeds only if reserveHead is still the end it drained to
//   (ringCloseDrained). A writer whose fetch-add returns the bit reserved after the close
//   and gives up (WAL_CLOSED); one whose fetch-add came first made the exchange fail, and
//   the worker drains its record before it tries again. (Before, the worker compared
//   reserveHead and then stored CLOSED: a writer that had read the state as OPEN could
//   reserve in between, and its record, reported written, was never drained.)
//
// Threads: any number of writers; exactly one durability worker (scan, release, publish
// durable); any thread may read the counters.
//
// Atomics (sequentially consistent): the fetch-add on reserveHead linearises writers; the
// payload, payloadCrc and headerCrc are plain stores made before the atomic store of the
// word, and the worker loads the word atomically before reading the rest (publication);
// the worker zeroes drained bytes before its atomic store of drainTail, and a writer
// loads drainTail before writing into reused space; durableLsn is stored before
// durableSeq is bumped and notified, so a woken waiter reads the new value. The worker's
// sleep uses a Dekker-style handshake: it sets workerSleeping and re-scans before it
// waits; a writer stores its word and then reads workerSleeping; under sequential
// consistency at least one of them sees the other, so no wake-up is lost.

import { crc32cUpdate } from "./crc32c";
import { currentThreadBlock, TB_RESULT } from "./thread";
import { takeDirtyBytes } from "./heap";
import { CONTROL_BASE, CTL_HEAP_START, CTL_HEAP_TOP } from "./layout";

/** LSNs stay below 2^53 (exact in a JavaScript number; far below RESERVE_CLOSED's bit 62). */
const LSN_LIMIT: u64 = 1 << 53;

export const RING_MAGIC: u32 = 0x474e5257;
/** In reserveHead once the ring is closed (ringCloseDrained); LSNs stay below 2^53. */
export const RESERVE_CLOSED: u64 = 1 << 62;
export const RING_HEADER_BYTES: u32 = 256;
export const RING_CAPACITY_MIN: u32 = 64 * 1024;
export const RECORD_HEADER_BYTES: u32 = 12;
export const RECORD_TYPE_FULL: u32 = 1;
export const RECORD_LENGTH_MAX: u32 = 0xffffff;

export const R_MAGIC: usize = 0;
export const R_CAPACITY: usize = 4;
export const R_DATA: usize = 8;
export const R_SALT: usize = 12;
export const R_RECORD_MAX: usize = 16;
export const R_STATE: usize = 20;
export const R_FAIL_CODE: usize = 24;
/** FailCode.OTHER (src/wal/format.ts): the code of a failure that named none. */
const FAIL_CODE_OTHER: u32 = 4;
export const R_FAIL_TEXT: usize = 32;
export const R_RESERVE_HEAD: usize = 64;
export const R_DRAIN_TAIL: usize = 128;
export const R_DRAIN_SEQ: usize = 136;
export const R_WORKER_SLEEPING: usize = 140;
export const R_WAKE_SEQ: usize = 144;
export const R_DURABLE_LSN: usize = 192;
export const R_DURABLE_SEQ: usize = 200;
export const R_SYNCS: usize = 208;
export const R_SYNCED_RECORDS: usize = 216;
export const R_PUBLISHED_END: usize = 224;
export const R_PUBLISH_WAITERS: usize = 232;
export const R_PUBLISH_SEQ: usize = 236;

export const STATE_OPEN: u32 = 0;
export const STATE_CLOSING: u32 = 1;
export const STATE_CLOSED: u32 = 2;
export const STATE_FAILED: u32 = 3;

export const WAL_OK: u32 = 0;
export const WAL_FULL: u32 = 1;
export const WAL_TOO_LARGE: u32 = 2;
export const WAL_FAILED: u32 = 3;
export const WAL_CLOSED: u32 = 4;
export const WAL_BAD_ARGUMENT: u32 = 5;

/** Nanoseconds a writer that lost the race for space waits per round before re-checking. */
const SPACE_WAIT_NS: i64 = 1_000_000;

@inline
export function recordBytes(payloadLength: u32): u64 {
  return (<u64>RECORD_HEADER_BYTES + <u64>payloadLength + 7) & ~(<u64>7);
}

@inline
function dataAt(ring: usize, lsn: u64): usize {
  return <usize>load<u32>(ring, R_DATA) + <usize>(lsn & <u64>(load<u32>(ring, R_CAPACITY) - 1));
}

/**
 * Formats a ring whose data area follows its header. Returns WAL_OK or WAL_BAD_ARGUMENT.
 * The data area is zeroed as far as the heap says the block may hold old data
 * (takeDirtyBytes: all of it, unless the ring is the block this instance's last allocation
 * returned, with nothing written into it since). The mark is taken first, so that a
 * refused format does not leave it for a later one of the same block.
 */
export function ringFormat(ring: usize, capacity: u32, salt: u32, startLsn: u64, recordBytesMax: u32): u32 {
  const dirty = takeDirtyBytes(ring, RING_HEADER_BYTES + capacity);
  if (capacity < RING_CAPACITY_MIN || (capacity & (capacity - 1)) != 0) return WAL_BAD_ARGUMENT;
  if ((startLsn & 7) != 0 || startLsn >= LSN_LIMIT || recordBytesMax > RECORD_LENGTH_MAX) return WAL_BAD_ARGUMENT;
  // The whole ring inside the heap, 8-aligned (its u64 atomics): one over the control
  // region overwrote the core's header, one past the memory trapped in the fill below, and
  // one at an address 4 past a block was formatted, then trapped at its first reserve
  // (review of the core, 2026-12-06; index.ts: nothing traps on bad input).
  const heapStart = <u64>load<u32>(CONTROL_BASE + CTL_HEAP_START);
  const heapTop = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
  if ((ring & 7) != 0 || <u64>ring < heapStart || <u64>ring + <u64>RING_HEADER_BYTES + <u64>capacity > heapTop) return WAL_BAD_ARGUMENT;
  if (recordBytes(recordBytesMax) > <u64>capacity) return WAL_BAD_ARGUMENT;
  // The data area must be zero (a zero header is "not yet published"); what of the block
  // comes fresh from the heap already is, and writing those zeros would make it resident.
  memory.fill(ring, 0, <usize>max(dirty, RING_HEADER_BYTES));
  store<u32>(ring, capacity, R_CAPACITY);
  store<u32>(ring, <u32>(ring + RING_HEADER_BYTES), R_DATA);
  store<u32>(ring, salt, R_SALT);
  store<u32>(ring, recordBytesMax, R_RECORD_MAX);
  store<u64>(ring, startLsn, R_RESERVE_HEAD);
  store<u64>(ring, startLsn, R_DRAIN_TAIL);
  store<u64>(ring, startLsn, R_DURABLE_LSN);
  store<u64>(ring, startLsn, R_PUBLISHED_END);
  atomic.store<u32>(ring, RING_MAGIC, R_MAGIC);
  return WAL_OK;
}

function stateStatus(ring: usize): u32 {
  const state = atomic.load<u32>(ring, R_STATE);
  return state == STATE_OPEN ? WAL_OK : state == STATE_FAILED ? WAL_FAILED : WAL_CLOSED;
}

/**
 * The worker's close: 1 if nothing was reserved beyond `end` (reserveHead is still `end`),
 * after which every reservation is refused (RESERVE_CLOSED; the caller then stores CLOSED);
 * 0 if a writer reserved meanwhile (drain its record, then try again).
 */
export function ringCloseDrained(ring: usize, end: u64): u32 {
  return atomic.cmpxchg<u64>(ring, end, end | RESERVE_CLOSED, R_RESERVE_HEAD) == end ? 1 : 0;
}

/**
 * Reserves room for a record of `payloadLength` bytes. On WAL_OK the record's LSN and the
 * LSN after it are in the thread's result area (+0, +8); the caller writes the payload at
 * `lsn + 12` (wrapping) and then calls `ringPublish`, with no await in between.
 * WAL_FULL means nothing was reserved because the ring has no room now: wait on drainSeq
 * and retry. A writer that loses the race for the last room after reserving waits here.
 */
export function ringReserve(ring: usize, payloadLength: u32): u32 {
  if (payloadLength > load<u32>(ring, R_RECORD_MAX)) return WAL_TOO_LARGE;
  const status = stateStatus(ring);
  if (status != WAL_OK) return status;
  const size = recordBytes(payloadLength);
  const capacity = <u64>load<u32>(ring, R_CAPACITY);
  const head = atomic.load<u64>(ring, R_RESERVE_HEAD);
  if ((head & RESERVE_CLOSED) != 0) return WAL_CLOSED;
  if (head + size - atomic.load<u64>(ring, R_DRAIN_TAIL) > capacity) return WAL_FULL;
  const lsn = atomic.add<u64>(ring, size, R_RESERVE_HEAD);
  // Reserved after the worker closed the ring: nobody will drain it.
  if ((lsn & RESERVE_CLOSED) != 0) return WAL_CLOSED;
  while (lsn + size - atomic.load<u64>(ring, R_DRAIN_TAIL) > capacity) {
    // Lost the race for the last room: the range is ours, so wait for the worker to
    // drain; it does not need anything from this thread to make progress. Only FAILED
    // ends the wait: under CLOSING the worker drains up to reserveHead, which is beyond
    // this range, so it waits for this record; a writer that left without publishing
    // would make it (and close) wait forever. CLOSED cannot come first, for the same reason.
    const seq = atomic.load<i32>(ring, R_DRAIN_SEQ);
    if (lsn + size - atomic.load<u64>(ring, R_DRAIN_TAIL) <= capacity) break;
    if (atomic.load<u32>(ring, R_STATE) == STATE_FAILED) return WAL_FAILED;
    atomic.wait<i32>(ring + R_DRAIN_SEQ, seq, SPACE_WAIT_NS);
  }
  const result = currentThreadBlock() + TB_RESULT;
  store<u64>(result, lsn);
  store<u64>(result, lsn + size, 8);
  return WAL_OK;
}

/** CRC-32C of `length` ring bytes starting at LSN position `lsn`, across the wrap. */
function ringCrc(ring: usize, lsn: u64, length: u32): u32 {
  const capacity = load<u32>(ring, R_CAPACITY);
  const offset = <u32>(lsn & <u64>(capacity - 1));
  const data = <usize>load<u32>(ring, R_DATA);
  const first = length < capacity - offset ? length : capacity - offset;
  const crc = crc32cUpdate(0, data + offset, first);
  return first == length ? crc : crc32cUpdate(crc, data, length - first);
}

/** The header checksum: crc32c(salt ‖ lsn ‖ word ‖ payloadCrc), via this thread's scratch. */
export function headerCrc(salt: u32, lsn: u64, word: u32, payloadCrc: u32): u32 {
  const scratch = currentThreadBlock() + TB_RESULT + 32;
  store<u32>(scratch, salt);
  store<u64>(scratch, lsn, 4);
  store<u32>(scratch, word, 12);
  store<u32>(scratch, payloadCrc, 16);
  return crc32cUpdate(0, scratch, 20);
}

/**
 * Completes a reserved record whose payload is already in the ring: checksums, then the
 * word (the publication), then wakes the worker if it sleeps.
 */
export function ringPublish(ring: usize, lsn: u64, payloadLength: u32, type: u32): u32 {
  const capacity = load<u32>(ring, R_CAPACITY);
  const mask = <u64>(capacity - 1);
  const data = <usize>load<u32>(ring, R_DATA);
  const word = (type << 24) | payloadLength;
  const payloadCrc = ringCrc(ring, lsn + RECORD_HEADER_BYTES, payloadLength);
  store<u32>(data + <usize>((lsn + 8) & mask), payloadCrc);
  store<u32>(data + <usize>(lsn & mask), headerCrc(load<u32>(ring, R_SALT), lsn, word, payloadCrc));
  atomic.store<u32>(data + <usize>(lsn & mask) + 4, word);
  advancePublished(ring);
  wakePublishWaiters(ring);
  wakeWorker(ring);
  return WAL_OK;
}

/**
 * Wakes the threads waiting for publishedEnd to pass their records, if any: a write under
 * durability "async" is acknowledged only once it is visible, and one published behind
 * another thread's unpublished reservation waits for that thread (src/wal/ring.ts
 * untilPublished). The same Dekker-style handshake as the worker's: a waiter adds itself
 * to publishWaiters, then reads publishedEnd; a publisher moves publishedEnd, then reads
 * publishWaiters; under sequential consistency one of them sees the other.
 */
function wakePublishWaiters(ring: usize): void {
  if (atomic.load<u32>(ring, R_PUBLISH_WAITERS) != 0) {
    atomic.add<u32>(ring, 1, R_PUBLISH_SEQ);
    atomic.notify(ring + R_PUBLISH_SEQ, 0x7fffffff);
  }
}

/**
 * Moves publishedEnd over every contiguous published record. A slot's word is trusted only
 * if drainTail had not passed its LSN when the word was read (after that, the slot may
 * already hold a record of the next lap).
 */
export function advancePublished(ring: usize): void {
  const capacity = <u64>load<u32>(ring, R_CAPACITY);
  const mask = capacity - 1;
  const data = <usize>load<u32>(ring, R_DATA);
  while (true) {
    const seen = atomic.load<u64>(ring, R_PUBLISHED_END);
    const drained = atomic.load<u64>(ring, R_DRAIN_TAIL);
    const at = seen > drained ? seen : drained;
    // A full ring (reserved to drainTail + capacity, all published): the slot at `at` is
    // the oldest undrained record's, a lap earlier. Before, its word was taken for the next
    // record's, and publishedEnd went round the ring past reserveHead until a drain.
    if (at - drained >= capacity) return;
    const word = atomic.load<u32>(data + <usize>(at & mask) + 4);
    if (atomic.load<u64>(ring, R_DRAIN_TAIL) > at) continue; // drained under us: look again
    const next = word == 0 ? at : at + recordBytes(word & RECORD_LENGTH_MAX);
    if (next == seen) return;
    if (atomic.cmpxchg<u64>(ring, seen, next, R_PUBLISHED_END) != seen) continue;
    if (word == 0) return;
  }
}

/** Publishes this thread's last reservation (its LSN is still in the result area). */
export function ringPublishReserved(ring: usize, payloadLength: u32, type: u32): u32 {
  return ringPublish(ring, load<u64>(currentThreadBlock() + TB_RESULT), payloadLength, type);
}

/** Reserve, copy `length` bytes from `source` (anywhere in memory) and publish. LSN in the result area. */
export function ringAppend(ring: usize, source: usize, length: u32): u32 {
  const status = ringReserve(ring, length);
  if (status != WAL_OK) return status;
  const lsn = load<u64>(currentThreadBlock() + TB_RESULT);
  ringCopyIn(ring, lsn + RECORD_HEADER_BYTES, source, length);
  return ringPublish(ring, lsn, length, RECORD_TYPE_FULL);
}

/** Copies `length` bytes from `source` into the ring at LSN position `at`, across the wrap. */
export function ringCopyIn(ring: usize, at: u64, source: usize, length: u32): void {
  const capacity = load<u32>(ring, R_CAPACITY);
  const offset = <u32>(at & <u64>(capacity - 1));
  const data = <usize>load<u32>(ring, R_DATA);
  const first = length < capacity - offset ? length : capacity - offset;
  memory.copy(data + offset, source, first);
  if (first < length) memory.copy(data, source + first, length - first);
}

@inline
function wakeWorker(ring: usize): void {
  if (atomic.load<u32>(ring, R_WORKER_SLEEPING) != 0) {
    atomic.store<u32>(ring, 0, R_WORKER_SLEEPING);
    atomic.add<u32>(ring, 1, R_WAKE_SEQ);
    atomic.notify(ring + R_WAKE_SEQ, 1);
  }
}

// ---- durability worker side ------------------------------------------------------

/**
 * End of the contiguous run of published records starting at `from`, taking only whole
 * records that end at or before `limit`. The number of records goes to the result area (+16).
 */
export function ringScan(ring: usize, from: u64, limit: u64): u64 {
  const capacity = load<u32>(ring, R_CAPACITY);
  const mask = <u64>(capacity - 1);
  const data = <usize>load<u32>(ring, R_DATA);
  const end = from + <u64>capacity < limit ? from + <u64>capacity : limit;
  let at = from;
  let count: u64 = 0;
  while (true) {
    const word = atomic.load<u32>(data + <usize>(at & mask) + 4);
    if (word == 0) break;
    const next = at + recordBytes(word & RECORD_LENGTH_MAX);
    if (next > end) break;
    at = next;
    count++;
  }
  store<u64>(currentThreadBlock() + TB_RESULT, count, 16);
  return at;
}

/**
 * Zeroes the ring from drainTail up to `upTo` and moves drainTail there, waking space
 * waiters. WAL_BAD_ARGUMENT, changing nothing, unless drainTail <= upTo <= reserveHead and
 * `upTo` is a record boundary (8-aligned): a range outside would zero memory past the ring
 * (upTo - drainTail is the length), or records not yet drained.
 */
export function ringRelease(ring: usize, upTo: u64): u32 {
  const capacity = load<u32>(ring, R_CAPACITY);
  const data = <usize>load<u32>(ring, R_DATA);
  const from = atomic.load<u64>(ring, R_DRAIN_TAIL);
  const head = atomic.load<u64>(ring, R_RESERVE_HEAD) & ~RESERVE_CLOSED;
  // Never more than the ring: writers that lost the race for the last room can leave the
  // reserve head more than a capacity past the drain tail (ringReserve).
  if (upTo < from || upTo > head || upTo - from > <u64>capacity || (upTo & 7) != 0) return WAL_BAD_ARGUMENT;
  const length = <u32>(upTo - from);
  const offset = <u32>(from & <u64>(capacity - 1));
  const first = length < capacity - offset ? length : capacity - offset;
  memory.fill(data + offset, 0, first);
  if (first < length) memory.fill(data, 0, length - first);
  atomic.store<u64>(ring, upTo, R_DRAIN_TAIL);
  // Everything drained was published: keep publishedEnd at or above drainTail.
  let seen = atomic.load<u64>(ring, R_PUBLISHED_END);
  while (seen < upTo) {
    const old = atomic.cmpxchg<u64>(ring, seen, upTo, R_PUBLISHED_END);
    if (old == seen) break;
    seen = old;
  }
  wakePublishWaiters(ring);
  atomic.add<u32>(ring, 1, R_DRAIN_SEQ);
  atomic.notify(ring + R_DRAIN_SEQ, 0x7fffffff);
  return WAL_OK;
}

/** Publishes that everything below `lsn` is durable, after `records` more records and one more sync. */
export function ringPublishDurable(ring: usize, lsn: u64, records: u64): void {
  atomic.add<u64>(ring, 1, R_SYNCS);
  atomic.add<u64>(ring, records, R_SYNCED_RECORDS);
  atomic.store<u64>(ring, lsn, R_DURABLE_LSN);
  atomic.add<u32>(ring, 1, R_DURABLE_SEQ);
  atomic.notify(ring + R_DURABLE_SEQ, 0x7fffffff);
}

/**
 * Moves the ring to `state` (CLOSING, CLOSED or FAILED with `failCode`) and wakes every
 * waiter of every kind, so that nobody sleeps through it. FAILED is final.
 */
export function ringSetState(ring: usize, state: u32, failCode: u32): u32 {
  // The first failure's code stays: a later one (the actor failing a ring the durability
  // worker already failed) must not rewrite why (claimed by CAS from none, before FAILED
  // is stored, so that whoever sees FAILED reads a code).
  if (state == STATE_FAILED) atomic.cmpxchg<u32>(ring, 0, failCode == 0 ? FAIL_CODE_OTHER : failCode, R_FAIL_CODE);
  while (true) {
    const old = atomic.load<u32>(ring, R_STATE);
    if (old == STATE_FAILED) return old;
    if (atomic.cmpxchg<u32>(ring, old, state, R_STATE) == old) break;
  }
  atomic.add<u32>(ring, 1, R_DURABLE_SEQ);
  atomic.notify(ring + R_DURABLE_SEQ, 0x7fffffff);
  atomic.add<u32>(ring, 1, R_DRAIN_SEQ);
  atomic.notify(ring + R_DRAIN_SEQ, 0x7fffffff);
  atomic.add<u32>(ring, 1, R_WAKE_SEQ);
  atomic.notify(ring + R_WAKE_SEQ, 0x7fffffff);
  atomic.add<u32>(ring, 1, R_PUBLISH_SEQ);
  atomic.notify(ring + R_PUBLISH_SEQ, 0x7fffffff);
  return state;
}
