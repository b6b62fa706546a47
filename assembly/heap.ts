// Heap: the core's own allocator for long-lived blocks (memtable arenas, thread blocks,
// ring buffers), shared by every thread.
//
// Invariants
// - `heapTop` only grows; every block handed out lies in [heapStart, heapLimit).
// - A block is owned by exactly one holder between `heapAlloc`/`blockAlloc` and
//   `blockFree`; the core never reuses it before `blockFree`.
// - Memory is grown before the bump pointer is advanced past the current memory size,
//   so no pointer handed out is ever outside the memory.
//
// Threads: any thread may call any function here at any time.
//
// Atomics (all WebAssembly atomics are sequentially consistent):
// - heapTop advances by compare-and-swap from the value read, so two racing allocators
//   can never receive overlapping ranges. Growing the memory first and racing is safe:
//   `memory.grow` is itself atomic; the loser of a race may have grown a little more
//   than needed, which is only slack.
// - Free stacks are Treiber stacks whose head packs a 32-bit tag with the pointer in
//   one u64, bumped on every pop and push, so a CAS cannot succeed on a head that was
//   popped and pushed back in between (the ABA problem).

import {
  CONTROL_BASE,
  CTL_FREE_STACKS,
  CTL_HEAP_LIMIT,
  CTL_HEAP_TOP,
  FREE_STACK_BYTES,
  FREE_STACK_COUNT,
  alignUp,
} from "./layout";

const PAGE_BYTES: u64 = 65536;

/** Bump-allocates `bytes` aligned to `alignment` (a power of two). Returns 0 when out of memory. */
export function heapAlloc(bytes: u32, alignment: u32): usize {
  const limit = <u64>atomic.load<u32>(CONTROL_BASE + CTL_HEAP_LIMIT);
  while (true) {
    const top = atomic.load<u32>(CONTROL_BASE + CTL_HEAP_TOP);
    const start = <u64>alignUp(<usize>top, <usize>alignment);
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

@inline
function stackAddress(index: u32): usize {
  return CONTROL_BASE + CTL_FREE_STACKS + <usize>index * FREE_STACK_BYTES;
}

/** Index of the free stack that holds blocks of exactly `bytes`, claiming an empty one if needed; -1 if none left. */
function stackFor(bytes: u32, claim: bool): i32 {
  for (let i: u32 = 0; i < FREE_STACK_COUNT; i++) {
    const at = stackAddress(i);
    const size = atomic.load<u32>(at);
    if (size == bytes) return <i32>i;
    if (size == 0 && claim) {
      const seen = atomic.cmpxchg<u32>(at, 0, bytes);
      if (seen == 0 || seen == bytes) return <i32>i;
    }
  }
  return -1;
}

/**
 * A block of exactly `bytes`, reused from its free stack when one is there, else fresh
 * from the heap. 64-byte aligned. Reused blocks are NOT zeroed. Returns 0 when out of memory.
 */
export function blockAlloc(bytes: u32): usize {
  const index = stackFor(bytes, false);
  if (index >= 0) {
    const head = stackAddress(<u32>index) + 8;
    while (true) {
      const old = atomic.load<u64>(head);
      const ptr = <usize>(<u32>old);
      if (ptr == 0) break;
      // Safe to read: a block on the stack stays allocated; if it was popped meanwhile
      // the tag has changed and the CAS below fails.
      const next = <u64>atomic.load<u32>(ptr);
      const tag = ((old >> 32) + 1) << 32;
      if (atomic.cmpxchg<u64>(head, old, tag | next) == old) {
        lastFreshBlock = 0;
        return ptr;
      }
    }
  }
  const fresh = heapAlloc(bytes, 64);
  lastFreshBlock = fresh;
  return fresh;
}

/**
 * The last block this thread's `blockAlloc` carved from the untouched heap (0 if the last
 * one came from a free stack). Memory above the heap top was never written, so such a
 * block is all zeros: `takeFreshBlock` lets a caller that needs zeros skip writing them,
 * which would make every page of the block resident (a 16 MiB ring: 16 MiB of RSS).
 */
let lastFreshBlock: usize = 0;

/** True, once, when `ptr` is the block this thread's last `blockAlloc` returned from the untouched heap. */
export function takeFreshBlock(ptr: usize): bool {
  const fresh = ptr != 0 && ptr == lastFreshBlock;
  lastFreshBlock = 0;
  return fresh;
}

/** Returns a block of exactly `bytes` (from `blockAlloc`) for reuse. False if it had to be leaked. */
export function blockFree(ptr: usize, bytes: u32): bool {
  const index = stackFor(bytes, true);
  if (index < 0) return false;
  const head = stackAddress(<u32>index) + 8;
  while (true) {
    const old = atomic.load<u64>(head);
    atomic.store<u32>(ptr, <u32>old);
    const tag = ((old >> 32) + 1) << 32;
    if (atomic.cmpxchg<u64>(head, old, tag | <u64>ptr) == old) return true;
  }
}
