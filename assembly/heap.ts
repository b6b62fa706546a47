// Heap: the core's own allocator for long-lived blocks (memtable arenas, thread blocks,
// rings, read buffers), shared by every thread. Blocks are coarse (one per memtable,
// thread or buffer, never one per write), so a lock around the free list costs nothing
// that shows.
//
//   heapStart                                        heapTop                  heapLimit
//   | blocks in use and free blocks, interleaved      | never written (zeros)  |
//
// - The bump region [heapTop, heapLimit) was never written: a block carved from it is all
//   zeros, and one made by extending the last free entry into it is zeros past that
//   entry's old bytes (takeDirtyBytes); the memory is grown before the top passes its size.
// - Every block below the top that was freed is on the free list, one entry per run of
//   free bytes: in address order, and no two entries touch (a freed block is merged with
//   the free blocks right before and after it). An allocation takes the smallest entry
//   that fits (an exact fit first: memtables of one size reuse each other's arenas) and
//   leaves the rest of it on the list; when none fits, a last entry that ends at the top
//   is extended into the bump region rather than left behind. (The alignment gaps after
//   permanent allocations, heapAlloc, are on no list.)
//
//   free block:  +0 u32 next  (the next free block's address, higher; 0 = none)
//                +4 u32 bytes (this run's size, a multiple of BLOCK_ALIGN)
//
// So memory freed by blocks of one size serves any other size: the memtables a long scan
// held back, once freed, make room for a large batch's arena or a new thread's block. (It
// used to be kept in a free stack per exact size, 8 of them: after a held scan the memory
// was full of 64 KiB arenas, and a large batch or an attach was refused until the
// database was reopened: tests/engine/large-batch-after-held-scan.test.ts.)
//
// Invariants
// - `heapTop` only grows; every block lies in [heapStart, heapLimit).
// - A block is owned by exactly one holder between `blockAlloc` and `blockFree`; a block
//   is a multiple of BLOCK_ALIGN bytes at a BLOCK_ALIGN-aligned address, so it owns its
//   padding and no permanent allocation (heapAlloc) ever lies inside a block's bytes.
// - The free list and its entries' words are read and written only under the heap lock.
//   Each entry is checked before it is followed (64-aligned, above the one before, its run
//   below the top): a list broken by a stray write elsewhere stops the walk there instead
//   of trapping with the lock held, which would hang every thread's next allocation.
//
// Threads: any thread may call any function here at any time.
//
// Atomics (all WebAssembly atomics are sequentially consistent):
// - heapTop advances by compare-and-swap from the value read, so two racing allocators
//   can never receive overlapping ranges. Growing the memory first and racing is safe:
//   `memory.grow` is itself atomic; the loser of a race may have grown a little more
//   than needed, which is only slack.
// - The heap lock is taken by compare-and-swap 0 → 1 and given back by an atomic store of
//   0: every plain access to the list inside happens after the taking and before the
//   giving back, so the next holder sees all of it. A holder walks the list and links an
//   entry or two; the others spin meanwhile, reading the word until it is 0 before they
//   try again. No thread waits while holding it; a worker terminated inside these few
//   instructions would leave it held (terminating a thread in a call is unsupported:
//   README, workers).

import { CONTROL_BASE, CTL_FREE_HEAD, CTL_HEAP_LIMIT, CTL_HEAP_LOCK, CTL_HEAP_START, CTL_HEAP_TOP } from "./layout";

const PAGE_BYTES: u64 = 65536;
/** Every block's alignment and size granule. */
const BLOCK_ALIGN: u32 = 64;
const FREE_NEXT: usize = 0;
const FREE_BYTES: usize = 4;

/** Bump-allocates `bytes` aligned to `alignment` (a power of two). Returns 0 when out of memory. */
export function heapAlloc(bytes: u32, alignment: u32): usize {
  // Not a power of two (0 included): refused. The rounding is done in u64: in u32 a large
  // alignment near the top wrapped to 0, and the CAS then moved heapTop backwards.
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) return 0;
  const limit = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_LIMIT);
  while (true) {
    const top = atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
    const start = (<u64>top + <u64>alignment - 1) & ~(<u64>alignment - 1);
    const end = start + <u64>bytes;
    if (end > limit) return 0;
    if (!ensureMemory(end)) return 0;
    if (atomic.cmpxchg<u32>(CONTROL_BASE + CTL_HEAP_TOP, top, <u32>end) == top) {
      return <usize>start;
    }
  }
}

/** Grows the memory so that addresses below `end` exist. False if the memory's maximum forbids it. */
function ensureMemory(end: u64): bool {
  while (<u64>memory.size() * PAGE_BYTES < end) {
    const have = <u64>memory.size() * PAGE_BYTES;
    const pages = <i32>((end - have + PAGE_BYTES - 1) / PAGE_BYTES);
    if (memory.grow(pages) < 0) {
      // Another thread may have grown it meanwhile; only fail if it is still too small.
      return <u64>memory.size() * PAGE_BYTES >= end;
    }
  }
  return true;
}

/** The bytes a block of `bytes` takes: rounded up to BLOCK_ALIGN, at least one granule; 0 if that overflows. */
@inline
function blockBytes(bytes: u32): u32 {
  if (bytes > 0xffffffff - BLOCK_ALIGN) return 0;
  return bytes == 0 ? BLOCK_ALIGN : (bytes + BLOCK_ALIGN - 1) & ~(BLOCK_ALIGN - 1);
}

function lockHeap(): void {
  while (atomic.cmpxchg<u32>(CONTROL_BASE + CTL_HEAP_LOCK, 0, 1) != 0) {
    // Spin on a read (no write to the line) until the holder is done: it only walks the list.
    while (atomic.load<u32>(CONTROL_BASE + CTL_HEAP_LOCK) != 0) {}
  }
}

/**
 * Whether `entry`, reached from a free entry whose run ended at `after`, can be one: 64-
 * aligned, at or above `after` (in address order, no overlap), its run below `top`. A
 * list broken by a stray write elsewhere fails this instead of sending the walk (under the
 * lock) to an address that traps or loops.
 */
function validEntry(entry: usize, after: u64, top: u64): bool {
  if ((entry & <usize>(BLOCK_ALIGN - 1)) != 0 || <u64>entry < after || <u64>entry >= top) return false;
  const bytes = load<u32>(entry + FREE_BYTES);
  return bytes >= BLOCK_ALIGN && (bytes & (BLOCK_ALIGN - 1)) == 0 && <u64>entry + <u64>bytes <= top;
}

function unlockHeap(): void {
  atomic.store<u32>(CONTROL_BASE + CTL_HEAP_LOCK, 0);
}

/** Links `entry` where `prev`'s next was (prev 0: the head). */
@inline
function setNext(prev: usize, entry: usize): void {
  if (prev == 0) store<u32>(CONTROL_BASE + CTL_FREE_HEAD, <u32>entry);
  else store<u32>(prev + FREE_NEXT, <u32>entry);
}

/**
 * A block of at least `bytes` (a multiple of BLOCK_ALIGN), BLOCK_ALIGN-aligned: from the
 * free list when an entry fits (the smallest that does), else fresh from the bump region.
 * Reused blocks are NOT zeroed. Returns 0 when out of memory.
 */
export function blockAlloc(bytes: u32): usize {
  const size = blockBytes(bytes);
  if (size == 0) return 0;
  lockHeap();
  const top = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
  let best: usize = 0;
  let bestPrev: usize = 0;
  let bestBytes: u32 = 0xffffffff;
  let prev: usize = 0;
  let beforePrev: usize = 0; // the entry before `prev` (0: prev is the head)
  let prevEnd: u64 = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_START);
  let entry = <usize>load<u32>(CONTROL_BASE + CTL_FREE_HEAD);
  while (entry != 0 && validEntry(entry, prevEnd, top)) {
    const have = load<u32>(entry + FREE_BYTES);
    if (have >= size && have < bestBytes) {
      best = entry;
      bestPrev = prev;
      bestBytes = have;
      if (have == size) break;
    }
    beforePrev = prev;
    prev = entry;
    prevEnd = <u64>entry + <u64>have;
    entry = <usize>load<u32>(entry + FREE_NEXT);
  }
  if (best == 0 && prev != 0 && entry == 0) {
    const had = load<u32>(prev + FREE_BYTES);
    if (extendLast(prev, size)) {
      // The last entry ended at the top: it and the bump region after it are the block;
      // only the entry's own bytes were ever written.
      setNext(beforePrev, 0);
      unlockHeap();
      lastFreshBlock = prev;
      lastDirtyBytes = had;
      return prev;
    }
  }
  if (best != 0) {
    const next = load<u32>(best + FREE_NEXT);
    if (bestBytes == size) {
      setNext(bestPrev, next);
    } else {
      // The block is the entry's start; its rest stays free, in the same place in the order.
      const rest = best + <usize>size;
      store<u32>(rest + FREE_NEXT, next);
      store<u32>(rest + FREE_BYTES, bestBytes - size);
      setNext(bestPrev, rest);
    }
    unlockHeap();
    lastFreshBlock = 0;
    return best;
  }
  unlockHeap();
  const fresh = heapAlloc(size, BLOCK_ALIGN);
  lastFreshBlock = fresh;
  lastDirtyBytes = 0;
  return fresh;
}

/**
 * Moves the top so that the last free entry `last`, if its run ends at the top, reaches
 * `size` bytes: true when it did (the entry is then the start of a block of `size`). Under
 * the heap lock; the top itself is moved by compare-and-swap as heapAlloc does, since
 * heapAlloc runs outside the lock.
 */
function extendLast(last: usize, size: u32): bool {
  const have = load<u32>(last + FREE_BYTES);
  const limit = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_LIMIT);
  const top = atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
  if (<u64>last + <u64>have != <u64>top) return false;
  const end = <u64>last + <u64>size;
  if (end > limit || !ensureMemory(end)) return false;
  return atomic.cmpxchg<u32>(CONTROL_BASE + CTL_HEAP_TOP, top, <u32>end) == top;
}

/**
 * The last block this thread's `blockAlloc` took at least in part from the untouched heap
 * (0 if the last one came whole from the free list), and how many of its first bytes may
 * have been written before (0: none, a block carved from the bump region; the old entry's
 * bytes, a block made by extending the last free entry). Memory above the heap top was
 * never written, so the rest of such a block is all zeros: `takeDirtyBytes` lets a caller
 * that needs zeros write only that prefix, since writing all of them would make every page
 * of the block resident (a 16 MiB ring: 16 MiB of RSS, and ~25 ms of first touches on a VM
 * at every reopen, where recovery's freed read buffer was the last entry the ring extended).
 */
let lastFreshBlock: usize = 0;
let lastDirtyBytes: u32 = 0;

/**
 * How many of the first bytes of the block at `ptr`, of `bytes` bytes, may not be zero:
 * at most the old free entry's bytes (0 for a block carved from the untouched region),
 * once, when `ptr` is the block this instance's last `blockAlloc` returned (one thread may
 * hold several instances, each with its own mark); else all `bytes`. The caller must
 * not have written into the block since the allocation: the mark knows nothing of it.
 */
export function takeDirtyBytes(ptr: usize, bytes: u32): u32 {
  const dirty = ptr != 0 && ptr == lastFreshBlock ? min(lastDirtyBytes, bytes) : bytes;
  lastFreshBlock = 0;
  return dirty;
}

/**
 * Returns a block of `bytes` (the size given to `blockAlloc`) for reuse, merged with the
 * free blocks it touches. False, with nothing changed, for what cannot be a block of the
 * heap: outside [heapStart, heapTop), misaligned, or overlapping a free block (freed twice),
 * or when the list is found broken.
 */
export function blockFree(ptr: usize, bytes: u32): bool {
  const size = blockBytes(bytes);
  if (size == 0 || (ptr & <usize>(BLOCK_ALIGN - 1)) != 0) return false;
  const start = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_START);
  const end = <u64>ptr + <u64>size;
  lockHeap();
  const top = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
  if (<u64>ptr < start || end > top) {
    unlockHeap();
    return false;
  }
  let prev: usize = 0;
  let prevEnd = start;
  let next = <usize>load<u32>(CONTROL_BASE + CTL_FREE_HEAD);
  while (next != 0 && next < ptr) {
    if (!validEntry(next, prevEnd, top)) {
      unlockHeap();
      return false; // a broken list (see the header): nothing is changed
    }
    prev = next;
    prevEnd = <u64>next + <u64>load<u32>(next + FREE_BYTES);
    next = <usize>load<u32>(next + FREE_NEXT);
  }
  if ((next != 0 && !validEntry(next, prevEnd, top)) || (prev != 0 && prevEnd > <u64>ptr) || (next != 0 && <u64>next < end)) {
    unlockHeap();
    return false;
  }
  let entry = ptr;
  let entryBytes = size;
  if (prev != 0 && prevEnd == <u64>ptr) {
    entry = prev;
    entryBytes = load<u32>(prev + FREE_BYTES) + size;
  } else {
    setNext(prev, ptr);
  }
  if (next != 0 && <u64>next == end) {
    entryBytes += load<u32>(next + FREE_BYTES);
    next = <usize>load<u32>(next + FREE_NEXT);
  }
  store<u32>(entry + FREE_NEXT, <u32>next);
  store<u32>(entry + FREE_BYTES, entryBytes);
  unlockHeap();
  return true;
}

/** The bytes on the free list (for tests and statistics). */
export function heapFreeBytes(): u64 {
  lockHeap();
  const top = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
  let total: u64 = 0;
  let after = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_START);
  let entry = <usize>load<u32>(CONTROL_BASE + CTL_FREE_HEAD);
  while (entry != 0 && validEntry(entry, after, top)) {
    const bytes = load<u32>(entry + FREE_BYTES);
    total += <u64>bytes;
    after = <u64>entry + <u64>bytes;
    entry = <usize>load<u32>(entry + FREE_NEXT);
  }
  unlockHeap();
  return total;
}
