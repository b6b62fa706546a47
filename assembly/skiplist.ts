// Memtable: a lock-free skip list in one arena of shared memory.
//
// Shape after Pebble's internal/arenaskl (itself after RocksDB's InlineSkipList and
// Badger): nodes are bump-allocated from the arena, links are u32 addresses, every node
// carries a tower of `height` forward links, insertion links the node bottom-up with one
// compare-and-swap per level. Unlike arenaskl there are no backward links: reverse
// iteration searches for the predecessor (as LevelDB's SkipList::FindLessThan does),
// which keeps insertion at one CAS per level.
//
// Order: key bytes ascending (unsigned, shorter prefix first), then commit timestamp
// DESCENDING, so the newest version of a key comes first and "newest version at or
// below ts" is a single seek to (key, ts).
//
// Arena layout (arena = MemtableHeader followed by nodes):
//
//   +0  u32 magic          0x4C42544D ("MTBL")
//   +4  u32 capacityBytes  arena size including this header
//   +8  u32 usedBytes      bytes reserved from the arena, by whole chunks (atomic; never
//                          past capacity: a reservation is checked before it is made)
//   +12 u32 height         list height 1..HEIGHT_MAX (atomic, only raised, by CAS)
//   +16 u32 head           address of the head node (a full-height sentinel)
//   +20 u32 pendingHead    deferred nodes handed in so far (atomic fetch-add by fast-path
//                          writers: below)
//   +24 u32 state          0 active, 1 frozen (atomic; set by the shard's owner)
//   +28 u32 writers        fast-path writers between admission and leaving (atomic)
//   +32 u64 minGroupLsn    lowest group-WAL LSN of a record in this memtable, u64 max if
//                          none (atomic min; set before the record is published, so that a
//                          checkpoint read after the durable LSN sees it)
//   +40 u32 generation     unique per format of an arena, so that a splice or chunk cached
//                          for an earlier memtable in a recycled arena is never used for this one
//   +44 u32 index          address of the key index's slots (below), set by every format
//   +48 u32 indexMask      slots - 1 (slots: a power of two)
//   +52 u32 indexFull      1 once a key found no free slot within INDEX_PROBES_MAX (atomic):
//                          from then on lookups in this memtable search the list
//   +56 u32 pendingDone    deferred nodes linked so far, all of them below this count
//                          (atomic; stored only by the holder of linkLock)
//   +60 u32 linkLock       1 while a thread links deferred nodes (atomic CAS 0 -> 1)
//
// Arena after the header: the head node, the key index, the pending ring (below), then
// nodes (from MT_USED on).
//
// Deferred linking (the fast path's writes, single and batched; docs/ARCHITECTURE.md
// "Deferred linking"): a put does not walk the list. It indexes its node and hands its address to
// the memtable's pending ring, and the node is linked later, in sorted runs, by
// whichever thread holds linkLock: the actor in the background (memtableLinkPending), a
// writer that finds the ring full, or any reader that needs the list (settle). The walk
// was half of a put (~30 dependent cache misses over a 16 MiB working set:
// docs/PERFORMANCE.md).
//
//   pending ring: `pendingEntries` u32 node addresses (a power of two), entry i at i mod n
//   +--------+--------+-----+--------+
//   | node a | node b | ... |   0    |   0 = not handed in yet (or already linked: cleared)
//   +--------+--------+-----+--------+
//        ^ pendingDone (next to link)        pendingHead (next to hand in) ^
//
// - A writer takes entry i = fetch-add(pendingHead), waits until i - pendingDone < n (the
//   entry is free; meanwhile it links earlier entries itself, or waits for the lock's
//   holder), stores its node into the entry, then indexes the node, then publishes its
//   record. So a node whose record is published is indexed and handed in.
// - The lock's holder links entries from pendingDone in runs (linkPendingLocked): it waits
//   until the entry at pendingDone is stored (an entry still 0 has its writer between its
//   fetch-add and its store, which has nothing to wait for once its entry is free: the
//   lowest entry not stored always is), takes the entries stored from there on as the
//   run (up to the first still 0), sorts it into list order in place, links each node
//   (nodeLink's CAS protocol: other threads may be linking channel-path nodes at the same
//   time), clearing its entry, then stores pendingDone past the run. An entry is
//   cleared before pendingDone passes it, and a writer stores into entry i only after
//   reading pendingDone > i - n, so a nonzero entry below pendingDone + n at or above
//   pendingDone is that lap's node, and the run's entries are the holder's alone.
// - Settle: before anything walks the list (seeks, first/last, counting, and a point
//   lookup that must step past a version its snapshot cannot see), the caller reads
//   pendingHead and links (or waits for the holder to link) every entry below it. A reader
//   reads its snapshot S before it calls into the memtable; every record below S was
//   published before S was read, so its node was handed in before, below the pendingHead
//   the settle reads: every version visible at S is linked when the walk starts. Nodes
//   handed in later are linked concurrently with the walk, as channel-path nodes always
//   were, and their seqs are at or above S.
// - A batch (engine.ts writeBatch) hands in one node after another, across the memtables
//   of its shards, while it is admitted into all of them and holds its unpublished record.
//   Its waits for a free entry are the same as a single write's: for entries below its own
//   to be linked, whose writers are each either storing (nothing to wait for once their
//   entry is free) or, if themselves batches, waiting only for entries lower still in
//   that ring. No wait is on a freeze, on the ring's room or on a publication, so no
//   cycle of waits forms, and a freeze waiting for the batch to leave waits for a writer
//   that is linking or storing. Every version of the batch carries the record's LSN as
//   its seq and is handed in before the record is published, so a snapshot sees all of
//   them after its settle, or (below their seq) none.
// - A writer that dies between its fetch-add and its store would leave every settle
//   waiting, as one that dies between reserving and publishing its record leaves the
//   durability worker waiting: a write is one call into the core, which no JavaScript
//   interrupts, and terminating a thread in the middle of one is outside the contract.
//
// Key index: an open-addressing hash table (linear probing, no deletion) of u32 slots, one
// per 64 arena bytes (rounded down to a power of two; 65,536 slots, 256 KiB, in a 4 MiB
// memtable), hashed with xxh32 under a seed of the memtable's own (INDEX_SEED mixed with
// its generation: not SHARD_SEED, whose low bits the keys of one shard share, and not one
// a writer of keys could aim at across memtables). A slot holds the newest linked version
// (highest ts) of one key: its node address (8-aligned) with the hash's top 3 bits in the
// low 3 bits, so a probe past other keys' slots mostly skips loading their nodes. A point
// lookup (getVisibleNode) probes it instead of descending the list (~30 dependent cache
// misses at 10^5 versions: docs/PERFORMANCE.md), then walks that key's older versions at
// level 0 as before; a key with no slot is a miss.
// Scans and inserts still use the list; the index only answers "where is this key".
//
// There is no entry counter: a shared counter bumped by every insert would bounce one
// cache line between writers' cores on every write. `countNodes` walks level 0 instead,
// for the statistics and tests that need an exact count.
//
// Node layout (8-aligned):
//
//   +0   u64 ts            commit timestamp (per shard; orders the versions of a key)
//   +8   u64 seq           place in the database's global commit order (the group-WAL LSN
//                          of the write's record; 0 = visible to everyone): a version is
//                          visible to a snapshot S when seq < S
//   +16  u64 keyPrefix     first 8 key bytes, big-endian, zero-padded: comparing two
//                          prefixes as integers orders them as their bytes would, so most
//                          comparisons cost one load; equal prefixes fall back to the bytes
//   +24  u16 keyLength     0..KEY_BYTES_MAX
//   +26  u8  height        1..HEIGHT_MAX
//   +27  u8  reserved
//   +28  u32 valueLength   VALUE_TOMBSTONE (0xFFFFFFFF) marks a deletion
//   +32  u32 next[height]  forward links (atomic), 0 = end of level
//   +32+4*height           key bytes, then value bytes
//
// Allocation chunks: a thread reserves arena space in chunks (CHUNK_BYTES_MAX, or a
// sixteenth of a small arena) with one atomic add, then carves nodes out of its chunk
// privately, like a JVM's thread-local allocation buffer. Writers on different cores
// then share no header cache line per insert. The price is at most one partly used chunk
// per writing thread when the memtable fills up.
//
// Splice cache (after Pebble's Inserter and RocksDB's splice hint): each thread keeps, per
// memtable it recently wrote (8 slots in its ThreadBlock, fully associative, round-robin
// replacement), the
// prev/next pair of its last insert at every level. The next insert starts from the lowest
// level whose cached pair is still adjacent and still brackets the new key, so ordered or
// clustered inserts skip most of the descent; anything else falls back to a full search.
// The cache is only ever a starting point: every pair is re-checked by key comparison
// before use, and a stale pair makes its CAS fail, which re-searches that level.
//
// Invariants
// - At every level the list is strictly increasing in (key asc, ts desc).
// - A node is immutable once linked at level 0; only its links change, and a link only
//   ever changes from `next` to a node that sorts between the owner and `next`.
// - No node is ever unlinked or freed while the arena is in use; the whole arena is
//   recycled at once by its owner after no reader can hold a pointer into it.
// - No input makes the core write outside the arena: the node size is checked against
//   the remaining capacity before anything is copied, and lengths against their maxima.
// - Cached splices are monotone across levels: for i > j, prev[i] <= prev[j] and
//   next[i] >= next[j] (in key order), so a pair that brackets a key at level j brackets
//   it at every level above too.
// - Key index: a slot, once set, only ever changes to a newer version (higher ts) of the
//   same key, so slots never become empty and a probe that reaches an empty slot has
//   passed every slot its key could be in. A node is indexed after it is linked at every
//   level (nodeLink) or handed in to the pending ring (nodeDefer), and before its writer
//   publishes its record (replay's buildList, which links without nodeLink, abandons the
//   memtable's index first: indexFull), and a version is visible to a snapshot only once
//   its record is published (its seq below the visible point: src/engine/read-context.ts).
//   So for a reader holding snapshot S, every key with a version visible at S has its
//   slot, pointing at that version or a newer one of the same key: if the slot's version
//   is visible it is the newest visible one (slots only move to higher ts); if not, the
//   reader settles the memtable (every version visible at S is then linked) and walks on
//   at level 0 (versions are adjacent there, newest first); or indexFull was set before
//   that version was published, and the reader, which reads indexFull after S, searches
//   the list (which settles first).
//
// Threads: any number of threads insert, read and iterate concurrently. The one lock is a
// memtable's linkLock, which orders the linking of deferred nodes: a writer waits on it
// only when its pending ring is full, a walker only for the nodes handed in before it,
// and its holder only on writers between their fetch-add and their store. Splice slots are
// private to their thread.
//
// Atomics (WebAssembly atomics are sequentially consistent):
// - A node's body (ts, prefix, lengths, key, value) is written with plain stores BEFORE
//   the level-0 CAS that publishes it. A reader reaches a node only through an atomic
//   link load that observed that CAS, so it sees the finished body (publication safety).
// - A node's own next[i] is stored atomically before the CAS at level i, because from
//   level 0 upwards the node is already reachable and may be traversed at lower levels.
// - On a failed CAS the splice for that level is searched again from `prev`, which stays
//   valid: nodes are never removed, so prev still sorts before the new node.
// - `height` is raised by CAS before the search; readers that see a taller list than
//   any linked tower just find empty head links at the top levels.
// - Index slots are CASed (0 -> node | tag, or an older version's slot -> a newer one's)
//   after the node's level-0 CAS, and loaded atomically: a reader that finds a node in a
//   slot sees its body and its level-0 link. A slot's tag is a function of its key (under
//   the memtable's seed), so a tag mismatch proves another key. indexFull is stored before
//   the inserting writer publishes its record, and loaded after the reader's snapshot was
//   read (see the invariant above).

import { CONTROL_BASE, CTL_GENERATION, STATUS_DUPLICATE, STATUS_FULL, STATUS_LIMIT } from "./layout";
import { xxh32 } from "./xxhash32";

export const MEMTABLE_MAGIC: u32 = 0x4c42544d;
export const MEMTABLE_HEADER_BYTES: u32 = 64;
export const HEIGHT_MAX: u32 = 16;
export const NODE_HEADER_BYTES: u32 = 32;
export const VALUE_TOMBSTONE: u32 = 0xffffffff;

export const MT_MAGIC: usize = 0;
export const MT_CAPACITY: usize = 4;
export const MT_USED: usize = 8;
export const MT_HEIGHT: usize = 12;
export const MT_HEAD: usize = 16;
export const MT_STATE: usize = 24;
export const MT_WRITERS: usize = 28;
export const MT_MIN_GROUP_LSN: usize = 32;
export const MT_GENERATION: usize = 40;
export const MT_INDEX: usize = 44;
export const MT_INDEX_MASK: usize = 48;
export const MT_INDEX_FULL: usize = 52;
export const MT_PENDING_HEAD: usize = 20;
export const MT_PENDING_DONE: usize = 56;
export const MT_LINK_LOCK: usize = 60;

/** Pending-ring entries at most per memtable (64 KiB of ring). */
const PENDING_ENTRIES_MAX: u32 = 16384;
/** Arena bytes per pending-ring entry (a 64 KiB memtable gets 256 entries). */
const ARENA_BYTES_PER_PENDING: u32 = 256;
/** Spins on an entry not stored yet before waiting on it. */
const ENTRY_SPINS: u32 = 256;
/** How long a thread sleeps at a time on an entry not stored yet, or on the lock's holder, ns. */
const PENDING_WAIT_NS: i64 = 20_000;
/** Pending entries linked as one sorted run at most (linkPendingLocked), then pendingDone moves and waiters wake. */
const LINK_RUN_MAX: u32 = 4096;
/** Runs of node addresses this short or shorter are sorted by insertion. */
const SORT_INSERTION_MAX: u32 = 12;

/** Arena bytes per key-index slot (the index takes 4 / 64 of the arena). */
const INDEX_ARENA_BYTES_PER_SLOT: u32 = 64;
/**
 * Slots a key may probe before the index gives up on it (and on the memtable: indexFull).
 * With linear probing the longest run grows well before the table is full: simulated,
 * random keys first need more than 32 probes at a load of 0.45-0.56 of 65,536 slots, more
 * than 128 at 0.74-0.77; a 4 MiB memtable of 96-byte nodes fills 0.62 of its slots.
 */
export const INDEX_PROBES_MAX: u32 = 128;
/** Mixed with a memtable's generation into its key index's xxh32 seed. */
const INDEX_SEED: u32 = 0x6b657973;
/** A slot's tag bits (the low bits of a node address, which is 8-aligned). */
const INDEX_TAG_MASK: u32 = 7;
/** What `indexFind` answers when the index cannot say (full, or its probes ran out): search the list. */
const INDEX_UNKNOWN: usize = 1;

export const MEMTABLE_ACTIVE: u32 = 0;
export const MEMTABLE_FROZEN: u32 = 1;

export const NODE_TS: usize = 0;
export const NODE_SEQ: usize = 8;
export const NODE_PREFIX: usize = 16;
export const NODE_KEY_LENGTH: usize = 24;
export const NODE_HEIGHT: usize = 26;
export const NODE_VALUE_LENGTH: usize = 28;
export const NODE_LINKS: usize = 32;

/** Smallest arena that holds the header, the head node and one maximal-height node. */
export const MEMTABLE_BYTES_MIN: u32 = 4096;

/** Largest allocation chunk a thread reserves at once. */
export const CHUNK_BYTES_MAX: u32 = 16384;

/**
 * Per-thread memtable slots (splice cache and allocation chunk), and their layout:
 * u32 memtable, u32 generation, u32 spliceHeight (0 = no splice), u32 chunks (taken
 * since the slot was keyed), u32 chunkCursor, u32 chunkEnd, u32 prev[16], u32 next[16].
 * A slot's first node is reserved exactly, and its chunks then grow from CHUNK_BYTES_FIRST,
 * doubling, to the full chunk: a thread that writes more memtables in turn than it has
 * slots (the fast path over more than 8 shards) re-keys slots all the time, and a full
 * chunk taken at each keying was abandoned nearly unused (a 1 MiB memtable full after 367
 * nodes of ~80 bytes: review, 2026-12-06). The chunks before the full one waste less than
 * one full chunk in all (src/core/memtable.ts ArenaNeed counts it).
 */
export const SPLICE_SLOTS: u32 = 8;
export const SPLICE_SLOT_BYTES: u32 = 24 + 2 * 4 * HEIGHT_MAX;
const SLOT_MEMTABLE: usize = 0;
const SLOT_GENERATION: usize = 4;
const SLOT_HEIGHT: usize = 8;
const SLOT_CHUNKS: usize = 12;
/** A slot's first chunk after its first node (then 2x, 4x, ... up to the full chunk). */
const CHUNK_BYTES_FIRST: u32 = 1024;
const SLOT_CHUNK_CURSOR: usize = 16;
const SLOT_CHUNK_END: usize = 20;
const SLOT_PREV: usize = 24;
const SLOT_NEXT: usize = 24 + 4 * <usize>HEIGHT_MAX;

// ---- per-thread state (module globals are per instance, i.e. per thread) -----------

/** xorshift32 state for tower heights; seeded per thread in `skiplistSeed`. */
let rngState: u32 = 0x9e3779b9;
/** This thread's splice slots (SPLICE_SLOTS * SPLICE_SLOT_BYTES, in its ThreadBlock). */
let spliceSlots: usize = 0;
/** The slot the next memtable without one takes (this thread's, round-robin). */
let nextVictim: u32 = 0;
/** Out-values of `findSpliceForLevel` (per thread, so no sharing). */
let foundNext: usize = 0;
let foundEqual: bool = false;

/** Gives this thread its splice slots (zeroed) and a height seed. */
export function skiplistSeed(slots: usize, seed: u32): void {
  spliceSlots = slots;
  memory.fill(slots, 0, <usize>(SPLICE_SLOTS * SPLICE_SLOT_BYTES));
  rngState = seed | 1;
}

/** A random tower height with P(height > h) = 4^-h, capped at HEIGHT_MAX. */
@inline
export function randomHeight(): u32 {
  let x = rngState;
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  rngState = x;
  // Two bits per level: each extra level has probability 1/4 (as LevelDB's kBranching).
  const h = (ctz<u32>(x | 0x80000000) >>> 1) + 1;
  return h < HEIGHT_MAX ? h : HEIGHT_MAX;
}

@inline
export function nodeBytes(height: u32, keyLength: u32, valueLength: u32): u32 {
  const payload = valueLength == VALUE_TOMBSTONE ? keyLength : keyLength + valueLength;
  return (NODE_HEADER_BYTES + (height << 2) + payload + 7) & ~7;
}

@inline
export function nodeKeyLength(node: usize): u32 {
  return <u32>load<u16>(node, NODE_KEY_LENGTH);
}

@inline
export function nodeHeight(node: usize): u32 {
  return <u32>load<u8>(node, NODE_HEIGHT);
}

@inline
export function nodeKey(node: usize): usize {
  return node + NODE_LINKS + (<usize>nodeHeight(node) << 2);
}

@inline
function link(node: usize, level: u32): usize {
  return <usize>atomic.load<u32>(node + NODE_LINKS + (<usize>level << 2));
}

/** The first 8 bytes of a key as a big-endian integer, zero-padded. */
@inline
export function keyPrefix(key: usize, keyLength: u32): u64 {
  if (keyLength >= 8) return bswap<u64>(load<u64>(key));
  let prefix: u64 = 0;
  for (let i: u32 = 0; i < keyLength; i++) prefix |= (<u64>load<u8>(key + i)) << (56 - 8 * <u64>i);
  return prefix;
}

/** Unsigned lexicographic comparison, 8 bytes at a time. */
@inline
export function compareBytes(a: usize, aLength: u32, b: usize, bLength: u32): i32 {
  const n = aLength < bLength ? aLength : bLength;
  let i: u32 = 0;
  while (i + 8 <= n) {
    const x = bswap<u64>(load<u64>(a + i));
    const y = bswap<u64>(load<u64>(b + i));
    if (x != y) return x < y ? -1 : 1;
    i += 8;
  }
  while (i < n) {
    const x = load<u8>(a + i);
    const y = load<u8>(b + i);
    if (x != y) return x < y ? -1 : 1;
    i++;
  }
  return aLength < bLength ? -1 : aLength > bLength ? 1 : 0;
}

/**
 * Where `node` sorts relative to (key, ts) whose prefix is `prefix`: negative before,
 * 0 equal, positive after.
 *
 * Different prefixes decide the order: at the first differing byte either both keys have
 * real bytes, or the shorter key has a padding zero where the longer has a non-zero byte,
 * and a key sorts before its own extensions. Equal prefixes with either key at most 8
 * bytes long mean every byte of the shorter key equals the longer key's byte at the same
 * place, i.e. the shorter is a prefix of the longer: only the lengths remain to compare.
 */
@inline
function compareNode(node: usize, key: usize, keyLength: u32, prefix: u64, ts: u64): i32 {
  const nodePrefix = load<u64>(node, NODE_PREFIX);
  if (nodePrefix != prefix) return nodePrefix < prefix ? -1 : 1;
  const nodeLength = nodeKeyLength(node);
  let c: i32;
  if (nodeLength <= 8 || keyLength <= 8) {
    c = nodeLength < keyLength ? -1 : nodeLength > keyLength ? 1 : 0;
  } else {
    c = compareBytes(nodeKey(node) + 8, nodeLength - 8, key + 8, keyLength - 8);
  }
  if (c != 0) return c;
  const nodeTs = load<u64>(node, NODE_TS);
  return nodeTs > ts ? -1 : nodeTs < ts ? 1 : 0;
}

/**
 * Walks `level` from `start` (which sorts before (key, ts)) to the splice: returns the
 * last node before (key, ts); the first node at or after it goes to `foundNext`, and
 * `foundEqual` says whether that node equals (key, ts).
 */
function findSpliceForLevel(key: usize, keyLength: u32, prefix: u64, ts: u64, level: u32, start: usize): usize {
  let prev = start;
  while (true) {
    const next = link(prev, level);
    if (next == 0) {
      foundNext = 0;
      foundEqual = false;
      return prev;
    }
    const c = compareNode(next, key, keyLength, prefix, ts);
    if (c >= 0) {
      foundNext = next;
      foundEqual = c == 0;
      return prev;
    }
    prev = next;
  }
}

// ---- arena ---------------------------------------------------------------------------

/**
 * Formats `bytes` at `arena` as an empty memtable. Returns the memtable address or a status.
 * `dirtyBytes`: how many of the arena's first bytes may not be zero (heap.ts
 * takeDirtyBytes); the key index is written only there: writing all of it would map every
 * page of it at once (a 128 MiB memtable's index is 8 MiB; at ~12 µs a first touch on a VM,
 * ~25 ms), where inserts map them as they reach them, or the actor does ahead of them
 * (src/engine/pages-ahead.ts).
 */
export function memtableFormat(arena: usize, bytes: u32, dirtyBytes: u32 = 0xffffffff): usize {
  if (bytes < MEMTABLE_BYTES_MIN) return STATUS_FULL;
  memory.fill(arena, 0, MEMTABLE_HEADER_BYTES);
  store<u32>(arena, bytes, MT_CAPACITY);
  const head = arena + MEMTABLE_HEADER_BYTES;
  const headBytes = nodeBytes(HEIGHT_MAX, 0, 0);
  memory.fill(head, 0, headBytes);
  store<u8>(head, <u8>HEIGHT_MAX, NODE_HEIGHT);
  store<u32>(arena, <u32>head, MT_HEAD);
  const slots = indexSlots(bytes);
  const index = head + headBytes; // 8-aligned: the header and a node's size are
  const pending = pendingEntries(bytes);
  // The pending ring follows the index; both must start all zeros.
  const zeroEnd = index + (<usize>slots << 2) + (<usize>pending << 2);
  const dirtyEnd = arena + <usize>min(dirtyBytes, bytes);
  if (dirtyEnd > index) memory.fill(index, 0, min(dirtyEnd, zeroEnd) - index);
  store<u32>(arena, <u32>index, MT_INDEX);
  store<u32>(arena, slots - 1, MT_INDEX_MASK);
  store<u32>(arena, MEMTABLE_HEADER_BYTES + headBytes + (slots << 2) + (pending << 2), MT_USED);
  store<u32>(arena, 1, MT_HEIGHT);
  store<u64>(arena, U64.MAX_VALUE, MT_MIN_GROUP_LSN);
  store<u32>(arena, atomic.add<u32>(CONTROL_BASE + CTL_GENERATION, 1) + 1, MT_GENERATION);
  atomic.store<u32>(arena, MEMTABLE_MAGIC, MT_MAGIC);
  return arena;
}

/** Pending-ring entries of an arena of `bytes`: one per ARENA_BYTES_PER_PENDING, a power of two, 16 to PENDING_ENTRIES_MAX. */
function pendingEntries(bytes: u32): u32 {
  const wanted = bytes / ARENA_BYTES_PER_PENDING;
  if (wanted >= PENDING_ENTRIES_MAX) return PENDING_ENTRIES_MAX;
  return wanted < 16 ? 16 : (<u32>1) << (31 - clz<u32>(wanted));
}

/** Key-index slots of an arena of `bytes`: one per INDEX_ARENA_BYTES_PER_SLOT, a power of two, at least 16. */
function indexSlots(bytes: u32): u32 {
  const wanted = bytes / INDEX_ARENA_BYTES_PER_SLOT;
  return wanted < 16 ? 16 : (<u32>1) << (31 - clz<u32>(wanted));
}

/** Reserves `bytes` from the arena's shared cursor; 0 when they do not fit. */
export function arenaReserve(mt: usize, bytes: u32): usize {
  const capacity = load<u32>(mt, MT_CAPACITY);
  while (true) {
    const used = atomic.load<u32>(mt, MT_USED);
    if (<u64>used + <u64>bytes > <u64>capacity) return 0;
    if (atomic.cmpxchg<u32>(mt, used, used + bytes, MT_USED) == used) return mt + <usize>used;
  }
}

/**
 * This thread's slot for `mt`: the one that holds it (any of the SPLICE_SLOTS, checked in
 * turn from the address's home slot), or else the next slot in round-robin order,
 * re-keyed (its splice and chunk dropped). Fully associative on purpose: with a
 * direct-mapped slot, two memtables of different shards sharing one would drop each
 * other's chunk on every alternating insert and fill their arenas with abandoned chunks.
 */
function slotFor(mt: usize): usize {
  const generation = load<u32>(mt, MT_GENERATION);
  const home = ((<u32>mt >>> 6) * 0x9e3779b1) >>> (32 - 3);
  for (let i: u32 = 0; i < SPLICE_SLOTS; i++) {
    const slot = spliceSlots + <usize>((home + i) & (SPLICE_SLOTS - 1)) * SPLICE_SLOT_BYTES;
    if (<usize>load<u32>(slot, SLOT_MEMTABLE) == mt && load<u32>(slot, SLOT_GENERATION) == generation) return slot;
  }
  const slot = spliceSlots + <usize>nextVictim * SPLICE_SLOT_BYTES;
  nextVictim = (nextVictim + 1) & (SPLICE_SLOTS - 1);
  store<u32>(slot, <u32>mt, SLOT_MEMTABLE);
  store<u32>(slot, generation, SLOT_GENERATION);
  store<u32>(slot, 0, SLOT_HEIGHT);
  store<u32>(slot, 0, SLOT_CHUNKS);
  store<u32>(slot, 0, SLOT_CHUNK_CURSOR);
  store<u32>(slot, 0, SLOT_CHUNK_END);
  return slot;
}

/** `bytes` for a node from this thread's chunk, refilling it from the arena; 0 when full. */
function nodeAlloc(mt: usize, slot: usize, bytes: u32): usize {
  const cursor = load<u32>(slot, SLOT_CHUNK_CURSOR);
  const end = load<u32>(slot, SLOT_CHUNK_END);
  if (<u64>cursor + <u64>bytes <= <u64>end) {
    store<u32>(slot, cursor + bytes, SLOT_CHUNK_CURSOR);
    return <usize>cursor;
  }
  const taken = load<u32>(slot, SLOT_CHUNKS);
  if (taken < 31) store<u32>(slot, taken + 1, SLOT_CHUNKS);
  // The slot's first node: exactly its bytes; then chunks that grow (the header).
  if (taken == 0) return arenaReserve(mt, bytes);
  const sixteenth = (load<u32>(mt, MT_CAPACITY) >>> 4) & ~7;
  const full = sixteenth < CHUNK_BYTES_MAX ? sixteenth : CHUNK_BYTES_MAX;
  const grown = taken > 8 ? CHUNK_BYTES_MAX : CHUNK_BYTES_FIRST << (taken - 1);
  const chunk = grown < full ? grown : full;
  if (chunk > bytes) {
    const start = arenaReserve(mt, chunk);
    if (start != 0) {
      store<u32>(slot, <u32>(start + bytes), SLOT_CHUNK_CURSOR);
      store<u32>(slot, <u32>(start + chunk), SLOT_CHUNK_END);
      return start;
    }
  }
  // A node larger than a chunk, or the arena's last bytes: reserve exactly this node.
  return arenaReserve(mt, bytes);
}

// ---- insert --------------------------------------------------------------------------

/**
 * Allocates a node and copies key and value into it (not yet linked, ts not yet set).
 * `valueLength == VALUE_TOMBSTONE` makes a deletion marker. Returns the node or STATUS_FULL.
 * Lengths must already be checked against KEY_BYTES_MAX / VALUE_BYTES_MAX.
 */
export function nodeCreate(mt: usize, key: usize, keyLength: u32, value: usize, valueLength: u32): usize {
  const height = randomHeight();
  const node = nodeAlloc(mt, slotFor(mt), nodeBytes(height, keyLength, valueLength));
  if (node == 0) return STATUS_FULL;
  return nodeInit(node, height, key, keyLength, value, valueLength);
}

/**
 * Fills a node of `height` at `node` (nodeBytes(height, keyLength, valueLength) bytes of
 * arena the caller reserved) with the key and value; ts, seq and links are left to the
 * caller. Returns `node`.
 */
export function nodeInit(node: usize, height: u32, key: usize, keyLength: u32, value: usize, valueLength: u32): usize {
  store<u64>(node, keyPrefix(key, keyLength), NODE_PREFIX);
  store<u16>(node, <u16>keyLength, NODE_KEY_LENGTH);
  store<u8>(node, <u8>height, NODE_HEIGHT);
  store<u32>(node, valueLength, NODE_VALUE_LENGTH);
  const keyAt = node + NODE_LINKS + (<usize>height << 2);
  memory.copy(keyAt, key, keyLength);
  if (valueLength != VALUE_TOMBSTONE) memory.copy(keyAt + keyLength, value, valueLength);
  return node;
}

/**
 * Fills the slot's prev/next below some level for (key, ts) and returns STATUS_OK, or
 * STATUS_DUPLICATE when (key, ts) is already in the list. Levels at and above the lowest
 * cached level that still brackets the key keep their cached pairs.
 */
function findSplice(mt: usize, slot: usize, listHeight: u32, key: usize, keyLength: u32, prefix: u64, ts: u64): u32 {
  const head = <usize>load<u32>(mt, MT_HEAD);
  const prevs = slot + SLOT_PREV;
  const nexts = slot + SLOT_NEXT;
  let level = listHeight;
  let prev = head;
  // The slot belongs to this memtable (slotFor re-keyed it); its splice is usable if it
  // was made at the list's current height. From level 0 up, the first level whose (prev,
  // next) still brackets the key is where the descent starts: each level up brackets a
  // wider range (a prev at or before, a next at or after the one below), so a key past the
  // splice at one level, as the next key of a sorted run mostly is, may be inside it a few
  // levels up (linkPendingLocked).
  if (load<u32>(slot, SLOT_HEIGHT) == listHeight) {
    for (let l: u32 = 0; l < listHeight; l++) {
      const p = <usize>load<u32>(prevs + (<usize>l << 2));
      const n = <usize>load<u32>(nexts + (<usize>l << 2));
      if (link(p, l) != n) continue; // something was inserted in between: look higher
      if (p != head && compareNode(p, key, keyLength, prefix, ts) >= 0) continue; // key before the splice
      if (n != 0) {
        const c = compareNode(n, key, keyLength, prefix, ts);
        if (c == 0) return STATUS_DUPLICATE;
        if (c < 0) continue; // key after the splice
      }
      level = l;
      prev = p;
      break;
    }
  }
  while (level > 0) {
    level--;
    prev = findSpliceForLevel(key, keyLength, prefix, ts, level, prev);
    if (foundEqual) return STATUS_DUPLICATE;
    store<u32>(prevs + (<usize>level << 2), <u32>prev);
    store<u32>(nexts + (<usize>level << 2), <u32>foundNext);
  }
  return 0;
}

/** Links a filled node (ts set) into the list and indexes it. Returns the node, or STATUS_DUPLICATE. */
export function nodeLink(mt: usize, node: usize): usize {
  const linked = linkNode(mt, node);
  if (linked == node) indexNode(mt, node);
  return linked;
}

/** Links a filled node (ts set) into the list, without indexing it. Returns the node, or STATUS_DUPLICATE. */
function linkNode(mt: usize, node: usize): usize {
  const height = nodeHeight(node);
  const key = nodeKey(node);
  const keyLength = nodeKeyLength(node);
  const prefix = load<u64>(node, NODE_PREFIX);
  const ts = load<u64>(node, NODE_TS);

  let listHeight = atomic.load<u32>(mt, MT_HEIGHT);
  while (height > listHeight) {
    const seen = atomic.cmpxchg<u32>(mt, listHeight, height, MT_HEIGHT);
    if (seen == listHeight) {
      listHeight = height;
      break;
    }
    listHeight = seen;
  }

  const slot = slotFor(mt);
  if (findSplice(mt, slot, listHeight, key, keyLength, prefix, ts) == STATUS_DUPLICATE) {
    return forgetSplice(slot);
  }
  const prevs = slot + SLOT_PREV;
  const nexts = slot + SLOT_NEXT;

  // Bottom-up linking: one CAS per level, re-searching from prev when it loses a race.
  for (let i: u32 = 0; i < height; i++) {
    const prevAt = prevs + (<usize>i << 2);
    const nextAt = nexts + (<usize>i << 2);
    let p = <usize>load<u32>(prevAt);
    let n = <usize>load<u32>(nextAt);
    const slotLink = node + NODE_LINKS + (<usize>i << 2);
    while (true) {
      atomic.store<u32>(slotLink, <u32>n);
      const owner = p + NODE_LINKS + (<usize>i << 2);
      if (atomic.cmpxchg<u32>(owner, <u32>n, <u32>node) == <u32>n) break;
      p = findSpliceForLevel(key, keyLength, prefix, ts, i, p);
      n = foundNext;
      // Above level 0 our node is not linked yet, so an equal node found at any level
      // is another writer's (key, ts): a duplicate, detected first at level 0.
      if (foundEqual) return forgetSplice(slot);
    }
    // The new node is the predecessor of the next key that lands right after it.
    store<u32>(prevAt, <u32>node);
    store<u32>(nextAt, <u32>n);
  }
  store<u32>(slot, listHeight, SLOT_HEIGHT);
  return node;
}

// ---- deferred linking (see the header) -------------------------------------------------

@inline
function pendingMask(mt: usize): u32 {
  return pendingEntries(load<u32>(mt, MT_CAPACITY)) - 1;
}

/** The pending ring's address: right after the key index. */
@inline
function pendingRing(mt: usize): usize {
  return <usize>load<u32>(mt, MT_INDEX) + ((<usize>load<u32>(mt, MT_INDEX_MASK) + 1) << 2);
}

/**
 * Hands a filled node (ts and seq set, not linked) to the pending ring and indexes it;
 * it is linked later (linkPendingTo). The caller publishes the node's record afterwards.
 */
export function nodeDefer(mt: usize, node: usize): void {
  const mask = pendingMask(mt);
  const i = atomic.add<u32>(mt, 1, MT_PENDING_HEAD);
  // Entry i is free once every entry n below it is linked (i - pendingDone <= mask).
  while (i - atomic.load<u32>(mt, MT_PENDING_DONE) > mask) linkPendingTo(mt, i - mask);
  atomic.store<u32>(pendingRing(mt) + (<usize>(i & mask) << 2), <u32>node);
  indexNode(mt, node);
}

/** Links (or waits for the lock's holder to link) every pending entry below `target`. */
function linkPendingTo(mt: usize, target: u32): void {
  while (<i32>(target - atomic.load<u32>(mt, MT_PENDING_DONE)) > 0) {
    if (atomic.cmpxchg<u32>(mt, 0, 1, MT_LINK_LOCK) == 0) {
      linkPendingLocked(mt, target);
      atomic.store<u32>(mt, 0, MT_LINK_LOCK);
      atomic.notify(mt + MT_PENDING_DONE, 0x7fffffff);
    } else {
      const done = atomic.load<u32>(mt, MT_PENDING_DONE);
      if (<i32>(target - done) > 0) atomic.wait<i32>(mt + MT_PENDING_DONE, <i32>done, PENDING_WAIT_NS);
    }
  }
}

/**
 * With linkLock held: links entries from pendingDone up to (not including) `target`.
 * Returns how many. In runs (contiguous in the ring, at most LINK_RUN_MAX): wait until
 * the lowest entry is stored, take the entries stored from there on, sort their nodes into
 * list order in place, then link them in that order, clearing each entry, and store
 * pendingDone past the run. Sorted,
 * each node's splice search starts from the one before it (the thread's splice slot: see
 * findSplice), a few levels up instead of from the head: linking in arrival order cost a
 * full descent, ~30 dependent cache misses, per node (docs/PERFORMANCE.md). The run's
 * entries are this thread's to reorder: no writer stores into an entry until pendingDone
 * passes it a lap earlier, and only the lock's holder reads them.
 */
function linkPendingLocked(mt: usize, target: u32): u32 {
  const mask = pendingMask(mt);
  const ring = pendingRing(mt);
  let done = atomic.load<u32>(mt, MT_PENDING_DONE);
  let linked: u32 = 0;
  while (<i32>(target - done) > 0) {
    const first = done & mask;
    let count = target - done;
    if (count > mask + 1 - first) count = mask + 1 - first;
    if (count > LINK_RUN_MAX) count = LINK_RUN_MAX;
    const run = ring + (<usize>first << 2);
    // Only the lowest entry is waited for (its writer has nothing to wait for); the run is
    // the entries stored from there on.
    awaitEntry(run);
    let stored: u32 = 1;
    while (stored < count && atomic.load<u32>(run + (<usize>stored << 2)) != 0) stored++;
    count = stored;
    sortNodes(run, count);
    for (let k: u32 = 0; k < count; k++) {
      const at = run + (<usize>k << 2);
      const node = <usize>load<u32>(at);
      atomic.store<u32>(at, 0);
      // A deferred node whose (key, ts) is in the list already is dropped, but nodeDefer
      // indexed it, and its key's slot may still name it: lookups would start from a node
      // that is in no list and find nothing (review of the core, 2026-12-06). The engine
      // never defers a duplicate (a writer's timestamps are unique); for a caller that does,
      // the index is given up and lookups search the list.
      if (linkNode(mt, node) != node) indexAbandon(mt);
    }
    done += count;
    linked += count;
    atomic.store<u32>(mt, done, MT_PENDING_DONE);
    atomic.notify(mt + MT_PENDING_DONE, 0x7fffffff);
  }
  return linked;
}

/** Waits until the pending entry at `at` is stored (its writer is between its fetch-add and its store). */
function awaitEntry(at: usize): void {
  for (let spins: u32 = 0; atomic.load<u32>(at) == 0; spins++) {
    if (spins >= ENTRY_SPINS) atomic.wait<i32>(at, 0, PENDING_WAIT_NS);
  }
}

/** Whether node `a` sorts before node `b` in the list (key ascending, then ts descending). */
@inline
function nodeBefore(a: usize, b: usize): bool {
  return compareNode(a, nodeKey(b), nodeKeyLength(b), load<u64>(b, NODE_PREFIX), load<u64>(b, NODE_TS)) < 0;
}

/**
 * Sorts `count` u32 node addresses at `base` into list order: quicksort (median of three,
 * the smaller side first, so the stack stays at log2(count) frames), runs of at most
 * SORT_INSERTION_MAX by insertion.
 */
function sortNodes(base: usize, count: u32): void {
  let lo: u32 = 0;
  let hi = count;
  while (hi - lo > SORT_INSERTION_MAX) {
    const mid = lo + ((hi - lo) >>> 1);
    const a = base + (<usize>lo << 2);
    const b = base + (<usize>mid << 2);
    const c = base + (<usize>(hi - 1) << 2);
    if (nodeBefore(<usize>load<u32>(b), <usize>load<u32>(a))) swapWords(a, b);
    if (nodeBefore(<usize>load<u32>(c), <usize>load<u32>(b))) {
      swapWords(b, c);
      if (nodeBefore(<usize>load<u32>(b), <usize>load<u32>(a))) swapWords(a, b);
    }
    swapWords(a, b); // the median, as the pivot, at lo
    const pivot = <usize>load<u32>(a);
    // Hoare partition of (lo, hi) around the pivot.
    let i = lo;
    let j = hi;
    while (true) {
      do i++; while (i < hi && nodeBefore(<usize>load<u32>(base + (<usize>i << 2)), pivot));
      do j--; while (nodeBefore(pivot, <usize>load<u32>(base + (<usize>j << 2))));
      if (i >= j) break;
      swapWords(base + (<usize>i << 2), base + (<usize>j << 2));
    }
    swapWords(a, base + (<usize>j << 2));
    if (j - lo < hi - j - 1) {
      sortNodes(base + (<usize>lo << 2), j - lo);
      lo = j + 1;
    } else {
      sortNodes(base + (<usize>(j + 1) << 2), hi - j - 1);
      hi = j;
    }
  }
  for (let i = lo + 1; i < hi; i++) {
    const node = load<u32>(base + (<usize>i << 2));
    let j = i;
    while (j > lo && nodeBefore(<usize>node, <usize>load<u32>(base + (<usize>(j - 1) << 2)))) {
      store<u32>(base + (<usize>j << 2), load<u32>(base + (<usize>(j - 1) << 2)));
      j--;
    }
    store<u32>(base + (<usize>j << 2), node);
  }
}

@inline
function swapWords(a: usize, b: usize): void {
  const t = load<u32>(a);
  store<u32>(a, load<u32>(b));
  store<u32>(b, t);
}

/** Links every node handed in before this call (see "Settle" in the header). */
export function settle(mt: usize): void {
  const head = atomic.load<u32>(mt, MT_PENDING_HEAD);
  if (head != atomic.load<u32>(mt, MT_PENDING_DONE)) linkPendingTo(mt, head);
}

/** Entries of the memtable's pending ring: how many nodes can wait to be linked at once. */
export function pendingCapacity(mt: usize): u32 {
  return pendingMask(mt) + 1;
}

/** Nodes handed in and not linked yet. */
export function pendingCount(mt: usize): u32 {
  return atomic.load<u32>(mt, MT_PENDING_HEAD) - atomic.load<u32>(mt, MT_PENDING_DONE);
}

/**
 * Background linking: if no other thread holds linkLock, links up to `max` pending nodes
 * (those handed in before this call) and returns how many; 0 if the lock was taken.
 */
export function linkPending(mt: usize, max: u32): u32 {
  if (atomic.cmpxchg<u32>(mt, 0, 1, MT_LINK_LOCK) != 0) return 0;
  const done = atomic.load<u32>(mt, MT_PENDING_DONE);
  const head = atomic.load<u32>(mt, MT_PENDING_HEAD);
  const target = head - done > max ? done + max : head;
  const linked = linkPendingLocked(mt, target);
  atomic.store<u32>(mt, 0, MT_LINK_LOCK);
  atomic.notify(mt + MT_PENDING_DONE, 0x7fffffff);
  return linked;
}

// ---- key index -----------------------------------------------------------------------

/** Whether `node`'s key is (key, keyLength), whose prefix is `prefix`. */
@inline
function nodeHasKey(node: usize, key: usize, keyLength: u32, prefix: u64): bool {
  return load<u64>(node, NODE_PREFIX) == prefix && compareBytes(nodeKey(node), nodeKeyLength(node), key, keyLength) == 0;
}

/**
 * Records a linked node in the key index: in its key's slot if that holds an older
 * version, in the first empty slot of its probe sequence if its key has none. A key that
 * finds neither within INDEX_PROBES_MAX slots sets indexFull. Any thread; lock-free.
 */
export function indexNode(mt: usize, node: usize): void {
  const slots = <usize>load<u32>(mt, MT_INDEX); // set by memtableFormat, before any insert
  if (atomic.load<u32>(mt, MT_INDEX_FULL) != 0) return; // full: nobody reads it
  const mask = load<u32>(mt, MT_INDEX_MASK);
  const key = nodeKey(node);
  const keyLength = nodeKeyLength(node);
  const prefix = load<u64>(node, NODE_PREFIX);
  const ts = load<u64>(node, NODE_TS);
  const hash = xxh32(key, keyLength, indexSeed(mt));
  const tag = hash >>> 29;
  const mine = <u32>node | tag;
  let i = hash & mask;
  for (let probe: u32 = 0; probe < INDEX_PROBES_MAX; probe++) {
    const at = slots + (<usize>i << 2);
    let seen = atomic.load<u32>(at);
    while (true) {
      if (seen == 0) {
        seen = atomic.cmpxchg<u32>(at, 0, mine);
        if (seen == 0) return;
        continue; // another key (or version) took the slot first: look at it
      }
      if ((seen & INDEX_TAG_MASK) != tag) break;
      const other = <usize>(seen & ~INDEX_TAG_MASK);
      if (!nodeHasKey(other, key, keyLength, prefix)) break;
      if (load<u64>(other, NODE_TS) >= ts) return; // a newer version is indexed already
      const was = atomic.cmpxchg<u32>(at, seen, mine);
      if (was == seen) return;
      seen = was;
    }
    i = (i + 1) & mask;
  }
  atomic.store<u32>(mt, 1, MT_INDEX_FULL);
}

/** Gives up the key index of `mt`: its lookups search the list (replay's buildList, before any link). */
export function indexAbandon(mt: usize): void {
  atomic.store<u32>(mt, 1, MT_INDEX_FULL);
}

/** The key index's hash seed for `mt` (its generation is set by memtableFormat, before any insert). */
@inline
function indexSeed(mt: usize): u32 {
  return INDEX_SEED ^ (load<u32>(mt, MT_GENERATION) * 0x9e3779b1);
}

/**
 * The newest indexed version of `key`; 0 when the index has none (no version of the key
 * visible to a snapshot read before this call is in the memtable); INDEX_UNKNOWN when the
 * index cannot say (indexFull, or every probed slot taken by other keys).
 */
function indexFind(mt: usize, key: usize, keyLength: u32): usize {
  const slots = <usize>load<u32>(mt, MT_INDEX);
  if (atomic.load<u32>(mt, MT_INDEX_FULL) != 0) return INDEX_UNKNOWN;
  const mask = load<u32>(mt, MT_INDEX_MASK);
  const prefix = keyPrefix(key, keyLength);
  const hash = xxh32(key, keyLength, indexSeed(mt));
  const tag = hash >>> 29;
  let i = hash & mask;
  for (let probe: u32 = 0; probe < INDEX_PROBES_MAX; probe++) {
    const slot = atomic.load<u32>(slots + (<usize>i << 2));
    if (slot == 0) return 0;
    if ((slot & INDEX_TAG_MASK) == tag) {
      const node = <usize>(slot & ~INDEX_TAG_MASK);
      if (nodeHasKey(node, key, keyLength, prefix)) return node;
    }
    i = (i + 1) & mask;
  }
  return INDEX_UNKNOWN;
}

/** Drops the slot's splice (it may be half updated) and answers DUPLICATE. The node's space is not reused. */
function forgetSplice(slot: usize): usize {
  store<u32>(slot, 0, SLOT_HEIGHT);
  return STATUS_DUPLICATE;
}

// ---- read ----------------------------------------------------------------------------

/** First node at or after (key, ts); 0 if none. */
export function seekGE(mt: usize, key: usize, keyLength: u32, ts: u64): usize {
  settle(mt);
  const prefix = keyPrefix(key, keyLength);
  let prev = <usize>load<u32>(mt, MT_HEAD);
  let level = atomic.load<u32>(mt, MT_HEIGHT);
  while (level > 0) {
    level--;
    prev = findSpliceForLevel(key, keyLength, prefix, ts, level, prev);
    if (foundEqual) return foundNext;
  }
  return foundNext;
}

/** Last node before (key, ts); 0 if none. */
export function seekLT(mt: usize, key: usize, keyLength: u32, ts: u64): usize {
  settle(mt);
  const prefix = keyPrefix(key, keyLength);
  const head = <usize>load<u32>(mt, MT_HEAD);
  let prev = head;
  let level = atomic.load<u32>(mt, MT_HEIGHT);
  while (level > 0) {
    level--;
    prev = findSpliceForLevel(key, keyLength, prefix, ts, level, prev);
  }
  return prev == head ? 0 : prev;
}

/** Newest version of `key` with timestamp <= ts (a value or a tombstone); 0 if none. */
export function getNode(mt: usize, key: usize, keyLength: u32, ts: u64): usize {
  const node = seekGE(mt, key, keyLength, ts);
  if (node == 0) return 0;
  if (compareBytes(nodeKey(node), nodeKeyLength(node), key, keyLength) != 0) return 0;
  return node;
}

/** Nodes linked at level 0 now, counted by walking the list (O(n); for statistics and tests). */
export function countNodes(mt: usize): u32 {
  settle(mt);
  let count: u32 = 0;
  for (let node = link(<usize>load<u32>(mt, MT_HEAD), 0); node != 0; node = link(node, 0)) count++;
  return count;
}

/**
 * Newest version of `key` (highest ts) whose seq is below `snapshot`, value or tombstone;
 * 0 if none. Versions of a key are adjacent and ordered by ts descending, so this walks
 * past the few versions too new for the snapshot, from the key index's node for the key
 * (or, when the index cannot say, from a search of the list). Call with a snapshot read
 * before the call (the key index's invariant in the header).
 */
export function getVisibleNode(mt: usize, key: usize, keyLength: u32, snapshot: u64): usize {
  let node = indexFind(mt, key, keyLength);
  if (node == INDEX_UNKNOWN) node = seekGE(mt, key, keyLength, U64.MAX_VALUE);
  let settled = false;
  while (node != 0) {
    if (compareBytes(nodeKey(node), nodeKeyLength(node), key, keyLength) != 0) return 0;
    if (load<u64>(node, NODE_SEQ) < snapshot) return node;
    // Older versions are reached at level 0: link what is pending first (the node itself
    // may be a deferred one, with no links yet).
    if (!settled) {
      settle(mt);
      settled = true;
    }
    node = link(node, 0);
  }
  return 0;
}

/** Lowers the memtable's minGroupLsn to `lsn` if it is higher (atomic min). */
export function noteGroupLsn(mt: usize, lsn: u64): void {
  let seen = atomic.load<u64>(mt, MT_MIN_GROUP_LSN);
  while (lsn < seen) {
    const old = atomic.cmpxchg<u64>(mt, seen, lsn, MT_MIN_GROUP_LSN);
    if (old == seen) return;
    seen = old;
  }
}

export function firstNode(mt: usize): usize {
  settle(mt);
  return link(<usize>load<u32>(mt, MT_HEAD), 0);
}

export function nextNode(node: usize): usize {
  return link(node, 0);
}

export function lastNode(mt: usize): usize {
  settle(mt);
  const head = <usize>load<u32>(mt, MT_HEAD);
  let node = head;
  let level = atomic.load<u32>(mt, MT_HEIGHT);
  while (level > 0) {
    level--;
    let next = link(node, level);
    while (next != 0) {
      node = next;
      next = link(node, level);
    }
  }
  return node == head ? 0 : node;
}

/** The node just before `node`; 0 at the start. */
export function prevNode(mt: usize, node: usize): usize {
  return seekLT(mt, nodeKey(node), nodeKeyLength(node), load<u64>(node, NODE_TS));
}

@inline
export function isStatus(value: usize): bool {
  return value < <usize>STATUS_LIMIT;
}
