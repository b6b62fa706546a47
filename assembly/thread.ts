// ThreadBlock: each thread's private scratch in shared memory.
//
// Every thread that instantiates the core calls `threadAttach` once and gets its own
// block. JavaScript copies keys and values into the staging area and passes addresses,
// so one call into the core carries a whole write; the core keeps its splice arrays and
// out-values here instead of on a managed stack (there is none with --runtime stub).
//
// Layout (THREAD_BLOCK_BYTES):
//
//   +0     u32 threadId        1, 2, 3, ... in attach order
//   +4     u32 blockBytes
//   +8     u32 epoch           reclamation epoch word (epoch.ts): 0 idle, (e << 1) | 1 reading
//   +12    u32 replySeq        bumped by the actor after each reply to this thread (src/engine/channel.ts)
//   +16    u64 fastWrites      writes this thread committed on the fast path (engine.ts)
//   +24    u32 letGoSeq        bumped by the actor to ask the thread to let go of its held scans (src/engine/channel.ts)
//   +28    u32 heldScans       how many of its open scans can let go (src/engine/read-context.ts)
//   +32    u32 letGoDone       the letGoSeq value the thread has answered (src/engine/channel.ts)
//   +36 .. +64 reserved
//   +64    result area, 64 B   out-values of multi-result calls (little-endian)
//   +128   memtable slots      SPLICE_SLOTS x SPLICE_SLOT_BYTES (8 x 152 B): the skip
//                              list's per-memtable splice cache and allocation chunk
//   +1344  scratch, 64 B       the engine's record headers on their way into the ring
//   +1408  shard list, 64 B    a consistent copy of a shard's memtable list (shardMemtables)
//   +1472  reply slots, 2 KiB  64 x 32 B, the actor's replies to this thread (src/engine/channel.ts)
//   +3520 .. +4096 reserved
//   +4096  staging area        KEY_BYTES_MAX + VALUE_BYTES_MAX + STAGING_SLACK bytes
//
// Invariants: only the owning thread reads or writes its block (so no atomics are needed
// inside it), except the reply slots and the reply and let-go sequence words, which the
// actor writes (atomic stores and notify, src/engine/channel.ts), and heldScans and
// letGoDone, which the actor reads (the owner stores them atomically); blocks are recycled
// through the heap's free list by `threadDetach` (and zeroed up to the staging area by the
// next attach).

import { registerThread, unregisterThread } from "./epoch";
import { blockAlloc, blockFree } from "./heap";
import { CONTROL_BASE, CTL_FAST_WRITES_DONE, CTL_THREAD_COUNT, KEY_BYTES_MAX, VALUE_BYTES_MAX } from "./layout";
import { skiplistSeed } from "./skiplist";

export const TB_THREAD_ID: usize = 0;
export const TB_BLOCK_BYTES: usize = 4;
export const TB_EPOCH: usize = 8;
export const TB_REPLY_SEQ: usize = 12;
export const TB_FAST_WRITES: usize = 16;
export const TB_RESULT: usize = 64;
export const TB_SPLICE: usize = 128;
export const TB_SCRATCH: usize = 1344;
export const TB_SHARD_LIST: usize = 1408;
export const TB_STAGING: usize = 4096;
/** Room beyond a maximal key and value: a batch's operation headers and the core's per-operation scratch. */
export const STAGING_SLACK: u32 = 64 * 1024;
export const STAGING_BYTES: u32 = KEY_BYTES_MAX + VALUE_BYTES_MAX + STAGING_SLACK;
export const THREAD_BLOCK_BYTES: u32 = <u32>TB_STAGING + STAGING_BYTES;

/** This instance's (this thread's) block; 0 until attached. */
let threadBlock: usize = 0;

/** Allocates this thread's block. Returns its address, or 0 when out of memory. */
export function threadAttach(): usize {
  if (threadBlock != 0) return threadBlock;
  const block = blockAlloc(THREAD_BLOCK_BYTES);
  if (block == 0) return 0;
  memory.fill(block, 0, <usize>TB_STAGING);
  if (!registerThread(block)) {
    blockFree(block, THREAD_BLOCK_BYTES);
    return 0;
  }
  const id = atomic.add<u32>(CONTROL_BASE + CTL_THREAD_COUNT, 1) + 1;
  store<u32>(block, id, TB_THREAD_ID);
  store<u32>(block, THREAD_BLOCK_BYTES, TB_BLOCK_BYTES);
  // A per-thread seed so threads do not draw identical tower heights.
  skiplistSeed(block + TB_SPLICE, id * 0x9e3779b9 + <u32>block);
  threadBlock = block;
  return block;
}

/** Returns this thread's block for reuse. The instance must not be used afterwards. */
export function threadDetach(): void {
  if (threadBlock == 0) return;
  atomic.add<u64>(CONTROL_BASE + CTL_FAST_WRITES_DONE, atomic.load<u64>(threadBlock, TB_FAST_WRITES));
  unregisterThread(threadBlock);
  blockFree(threadBlock, THREAD_BLOCK_BYTES);
  threadBlock = 0;
}

export function currentThreadBlock(): usize {
  return threadBlock;
}
