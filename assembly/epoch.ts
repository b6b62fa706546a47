// Epoch-based reclamation: when a memtable's arena may be reused although other threads
// read memtables without locks.
//
// Each attached thread has an epoch word in its ThreadBlock (TB_EPOCH): 0 while it holds
// no pointer into shared structures, `(epoch << 1) | 1` while it reads. A reader calls
// `epochEnter` before loading any memtable address and `epochExit` when done. The owner
// retires an arena by first unlinking it from every shared list, then advancing the
// global epoch (`epochAdvance` returns the epoch E it retired in); the arena may be reused
// once `epochQuiet(E)` says every registered thread is idle or entered after E.
//
// Why that is safe (sequentially consistent atomics): a thread that entered at an epoch
// greater than E stored its word after the advance, which came after the unlink, so every
// address it loads afterwards is already past the unlink and cannot be the retired one. A
// thread that entered at E or earlier, or is still inside, is waited for.
//
// Reads of one thread may overlap (two scans open at once, a get inside a scan's loop):
// the thread's word holds the oldest entry epoch of its open reads, so that it rises as
// the oldest ones end even if the thread is never without an open read (epochNow,
// epochHold; src/engine/read-context.ts keeps the list).
//
// Threads: enter/exit on any attached thread (its own word only); advance and quiet on the
// owner (actor). The registry of thread blocks (THREAD_REGISTRY) is updated by attach and
// detach with CAS.

import { CONTROL_BASE, CTL_EPOCH, THREAD_REGISTRY, THREADS_MAX } from "./layout";
import { currentThreadBlock, TB_EPOCH } from "./thread";

/** Enters a read: stores the current global epoch in this thread's word; returns it. */
export function epochEnter(): u32 {
  const epoch = atomic.load<u32>(CONTROL_BASE + CTL_EPOCH);
  atomic.store<u32>(currentThreadBlock() + TB_EPOCH, (epoch << 1) | 1);
  return epoch;
}

/** The global epoch now (a read that begins inside another read of the same thread records it). */
export function epochNow(): u32 {
  return atomic.load<u32>(CONTROL_BASE + CTL_EPOCH);
}

/**
 * Sets this thread's word to `epoch`, the oldest entry epoch of its reads still open, when
 * the oldest one ends while later ones go on (src/engine/read-context.ts): every read still
 * open entered at `epoch` or later, so what was retired before `epoch` is not theirs.
 */
export function epochHold(epoch: u32): void {
  atomic.store<u32>(currentThreadBlock() + TB_EPOCH, (epoch << 1) | 1);
}

export function epochExit(): void {
  atomic.store<u32>(currentThreadBlock() + TB_EPOCH, 0);
}

/** Advances the global epoch; returns the epoch in which the caller retired something. */
export function epochAdvance(): u32 {
  return atomic.add<u32>(CONTROL_BASE + CTL_EPOCH, 1);
}

/**
 * 1 when no registered thread is inside a read that began at or before epoch `retired`.
 * A word keeps 31 bits of its epoch, so epochs are compared modulo 2^31: a read began at
 * or before `retired` when `retired` is less than 2^30 epochs past it (an open read is
 * never 2^30 retired memtables old). Plain `<=` lost the top bit once the epoch passed
 * 2^31: every read then looked older than every retire.
 */
export function epochQuiet(retired: u32): u32 {
  for (let i: u32 = 0; i < THREADS_MAX; i++) {
    const block = <usize>atomic.load<u32>(THREAD_REGISTRY + (<usize>i << 2));
    if (block == 0) continue;
    const word = atomic.load<u32>(block + TB_EPOCH);
    if ((word & 1) != 0 && ((retired - (word >>> 1)) & EPOCH_MASK) < EPOCH_HALF) return 0;
  }
  return 1;
}

/** The 31 bits of an epoch a thread's word keeps, and half their range. */
const EPOCH_MASK: u32 = 0x7fffffff;
const EPOCH_HALF: u32 = 0x40000000;

/** Registers a thread block; false when THREADS_MAX threads are attached already. */
export function registerThread(block: usize): bool {
  for (let i: u32 = 0; i < THREADS_MAX; i++) {
    if (atomic.cmpxchg<u32>(THREAD_REGISTRY + (<usize>i << 2), 0, <u32>block) == 0) return true;
  }
  return false;
}

export function unregisterThread(block: usize): void {
  for (let i: u32 = 0; i < THREADS_MAX; i++) {
    if (atomic.cmpxchg<u32>(THREAD_REGISTRY + (<usize>i << 2), <u32>block, 0) == <u32>block) return;
  }
}
