/**
 * Memtable: JavaScript view of one skip-list arena of the core (assembly/skiplist.ts).
 *
 * Writes copy the key and value into the thread's staging area and make one call into
 * the core. Reads return copies, so nothing handed to a caller aliases shared memory
 * that a later arena reuse could change.
 *
 * ArenaNeed (below) bounds the arena a known set of versions can take, from the core's
 * allocation rules (nodes carved from per-thread chunks), for memtables filled privately.
 *
 * Threads: any thread holding a Core on the same memory may build a Memtable over the
 * same address and use it concurrently with the others (the skip list is lock-free).
 * Nodes are read through the Core's views, which cover the whole memory (core.ts header).
 */
import { checkKey, checkValue, Core, CoreError, Status, STATUS_LIMIT } from "./core.ts";

/** Node layout (assembly/skiplist.ts): u64 ts, u64 seq, u64 prefix, u16 keyLength, u8 height, u8, u32 valueLength, links. */
export const NODE_SEQ = 8;
export const NODE_KEY_LENGTH = 24;
export const NODE_HEIGHT = 26;
export const NODE_VALUE_LENGTH = 28;
export const NODE_LINKS = 32;
/** valueLength of a deletion marker. */
export const VALUE_TOMBSTONE = 0xffffffff;
/** Smallest memtable arena, in bytes (assembly/skiplist.ts MEMTABLE_BYTES_MIN). */
export const MEMTABLE_BYTES_MIN = 4096;
/** The core's allocation (assembly/skiplist.ts): tallest tower, node header, arena header, chunk, splice slots per thread. */
export const HEIGHT_MAX = 16;
export const NODE_HEADER_BYTES = 32;
export const MEMTABLE_HEADER_BYTES = 64;
/** Offset of the arena header's indexFull word (assembly/skiplist.ts MT_INDEX_FULL). */
const MT_INDEX_FULL = 52;
export const CHUNK_BYTES_MAX = 16384;
export const SPLICE_SLOTS = 8;

/**
 * Arena bytes of the key index of an arena of `capacity` bytes (assembly/skiplist.ts
 * indexSlots: one u32 slot per 64 arena bytes, rounded down to a power of two, at least
 * 16), reserved at format between the head node and the first node. tests/core/skiplist
 * checks it against the core.
 */
export function keyIndexBytes(capacity: number): number {
  const wanted = Math.floor(capacity / 64);
  return 4 * (wanted < 16 ? 16 : 2 ** (31 - Math.clz32(wanted)));
}

/**
 * Arena bytes of the pending ring of an arena of `capacity` bytes (assembly/skiplist.ts
 * pendingEntries: one u32 entry per 256 arena bytes, rounded down to a power of two, 16 to
 * 16,384), reserved at format right after the key index. tests/core/skiplist checks it.
 */
export function pendingRingBytes(capacity: number): number {
  const wanted = Math.floor(capacity / 256);
  return 4 * (wanted >= 16384 ? 16384 : wanted < 16 ? 16 : 2 ** (31 - Math.clz32(wanted)));
}

/** Arena bytes of a node of `height` (assembly/skiplist.ts nodeBytes); `valueLength` undefined: a tombstone. */
export function nodeBytes(height: number, keyLength: number, valueLength: number | undefined): number {
  return (NODE_HEADER_BYTES + height * 4 + keyLength + (valueLength ?? 0) + 7) & ~7;
}

/**
 * An upper bound on the arena bytes one thread reserves to insert a known set of versions
 * into an empty memtable that no other thread writes, provided it keeps the memtable's
 * splice slot from its first insert to its last (it writes at most SPLICE_SLOTS memtables
 * in turn meanwhile: a slot is replaced only when the thread writes a memtable it does not
 * hold, round robin, and a replaced slot's chunk is abandoned). The large-batch actor sizes
 * its private memtables with it (src/engine/actor.ts #commitLarge): one that fills up under
 * the batch's held commit record fails the database.
 *
 * The core's allocator (nodeAlloc): a node of b bytes with b < chunk C (CHUNK_BYTES_MAX or a
 * sixteenth of the arena) is carved from the thread's chunk, and when the chunk's remainder
 * r is less than b, a new chunk is reserved and r is wasted; a node of b >= C is reserved
 * exactly, as is a slot's first node. A slot's chunks grow from 1 KiB, doubling, to C: those
 * smaller than C waste less than C in all (their sizes sum below C), one more C in the
 * bound. After them, every closed chunk holds more than C - b_o of nodes and wastes r < b_o, where
 * o is the node that closed it (b_o < C). With m the largest such b (m < C, a multiple of
 * 8, so m <= C - 8) and S the bytes of all nodes below C: closed chunks number fewer than
 * S / (C - m) and waste less than m each, and never more than the nodes that closed them:
 *   waste < min(S, S * m / (C - m)).
 * The arena then holds its header, head node and key index, the nodes (each at most its
 * size at HEIGHT_MAX, whatever height it draws), the waste, the growing chunks' waste and
 * the last chunk: that is the bound.
 * Without the factor, nodes of just over C / 2 (values of about 8 KiB) fill an arena sized
 * for their payload at half of it; without the slot, every insert opens a chunk.
 */
export class ArenaNeed {
  #nodes = 0;
  /** Nodes that may be smaller than a chunk (their smallest size is below CHUNK_BYTES_MAX): their bytes at HEIGHT_MAX, and the largest. */
  #small = 0;
  #largestSmall = 0;

  add(keyLength: number, valueLength: number | undefined): void {
    const most = nodeBytes(HEIGHT_MAX, keyLength, valueLength);
    this.#nodes += most;
    if (nodeBytes(1, keyLength, valueLength) < CHUNK_BYTES_MAX) {
      this.#small += most;
      if (most > this.#largestSmall) this.#largestSmall = most;
    }
  }

  /** The need of both sets of versions together. */
  plus(other: ArenaNeed): ArenaNeed {
    const both = new ArenaNeed();
    both.#nodes = this.#nodes + other.#nodes;
    both.#small = this.#small + other.#small;
    both.#largestSmall = Math.max(this.#largestSmall, other.#largestSmall);
    return both;
  }

  /** The bound for an arena of `capacity` bytes (its chunk size depends on it). */
  bytesFor(capacity: number): number {
    const chunk = Math.min(Math.floor(capacity / 16) & ~7, CHUNK_BYTES_MAX);
    const m = Math.min(this.#largestSmall, chunk - 8);
    const waste = m <= 0 ? 0 : Math.min(this.#small, Math.ceil((this.#small * m) / (chunk - m)));
    return MEMTABLE_HEADER_BYTES + nodeBytes(HEIGHT_MAX, 0, 0) + keyIndexBytes(capacity) + pendingRingBytes(capacity) + this.#nodes + waste + 2 * chunk;
  }
}

/** One version of a key as stored in a memtable. `value` is undefined for a tombstone. */
export interface MemtableEntry {
  key: Uint8Array;
  ts: bigint;
  /** Place in the global commit order (0 = visible to every snapshot). */
  seq?: bigint;
  value: Uint8Array | undefined;
}

export class Memtable {
  constructor(readonly core: Core, readonly address: number) {}

  /** A new empty memtable of `bytes` (a multiple of 64, at least MEMTABLE_BYTES_MIN). */
  static create(core: Core, bytes: number): Memtable {
    if (!Number.isInteger(bytes) || bytes < MEMTABLE_BYTES_MIN || bytes % 64 !== 0 || bytes > 0xffffffff) {
      throw new RangeError(`memtable size must be a multiple of 64 from ${MEMTABLE_BYTES_MIN} bytes, got ${bytes}`);
    }
    const address = core.exports.memtableCreate(bytes) >>> 0;
    if (address < STATUS_LIMIT) throw new CoreError(`cannot create a ${bytes}-byte memtable (status ${address})`, address);
    return new Memtable(core, address);
  }

  /**
   * Inserts key → value (undefined: a tombstone) with the next commit timestamp of `shard`.
   * Returns the node address, or `Status.FULL` when the arena has no room (nothing was
   * inserted and no timestamp was taken). Throws RangeError for oversized input.
   */
  put(shard: number, key: Uint8Array, value: Uint8Array | undefined): number {
    checkKey(key);
    const core = this.core;
    const keyAt = core.stage(key);
    let result: number;
    if (value === undefined) {
      result = core.exports.memtablePut(this.address, shard, keyAt, key.length, 0, VALUE_TOMBSTONE) >>> 0;
    } else {
      checkValue(value);
      const valueAt = core.stage(value, key.length);
      result = core.exports.memtablePut(this.address, shard, keyAt, key.length, valueAt, value.length) >>> 0;
    }
    return this.#expectNode(result);
  }

  /**
   * `insert` as the fast path links: the node is indexed and handed to the pending ring,
   * and linked into the list later (by `linkPending`, a full ring, or the next walk of the
   * list). Node address or `Status.FULL`.
   */
  insertDeferred(key: Uint8Array, value: Uint8Array | undefined, ts: bigint, seq = 0n): number {
    checkKey(key);
    const core = this.core;
    const keyAt = core.stage(key);
    if (value !== undefined) checkValue(value);
    const valueAt = value === undefined ? 0 : core.stage(value, key.length);
    const result = core.exports.memtableInsertDeferred(this.address, keyAt, key.length, valueAt, value?.length ?? VALUE_TOMBSTONE, ts, seq) >>> 0;
    return this.#expectNode(result);
  }

  /** Deferred nodes not linked yet. */
  get pending(): number {
    return this.core.exports.memtablePending(this.address) >>> 0;
  }

  /** Links up to `max` deferred nodes unless another thread is linking; how many it linked. */
  linkPending(max: number): number {
    return this.core.exports.memtableLinkPending(this.address, max) >>> 0;
  }

  /** Inserts with a given timestamp (and seq). Node address, `Status.FULL` or `Status.DUPLICATE`. */
  insert(key: Uint8Array, value: Uint8Array | undefined, ts: bigint, seq = 0n): number {
    checkKey(key);
    const core = this.core;
    const keyAt = core.stage(key);
    let result: number;
    if (value === undefined) {
      result = core.exports.memtableInsert(this.address, keyAt, key.length, 0, VALUE_TOMBSTONE, ts, seq) >>> 0;
    } else {
      checkValue(value);
      const valueAt = core.stage(value, key.length);
      result = core.exports.memtableInsert(this.address, keyAt, key.length, valueAt, value.length, ts, seq) >>> 0;
    }
    return this.#expectNode(result);
  }

  #expectNode(result: number): number {
    if (result >= STATUS_LIMIT || result === Status.FULL || result === Status.DUPLICATE) return result;
    throw new CoreError(`memtable insert failed with status ${result}`, result);
  }

  /** Newest version of `key` visible to `snapshot` (seq below it), or undefined. */
  getVisible(key: Uint8Array, snapshot: number): MemtableEntry | undefined {
    checkKey(key);
    const node = this.core.exports.memtableGetVisible(this.address, this.core.stage(key), key.length, snapshot) >>> 0;
    return node === 0 ? undefined : this.entry(node);
  }

  /** Newest version of `key` at or below `ts` (a value or a tombstone), or undefined. */
  get(key: Uint8Array, ts: bigint): MemtableEntry | undefined {
    checkKey(key);
    const node = this.core.exports.memtableGet(this.address, this.core.stage(key), key.length, ts) >>> 0;
    return node === 0 ? undefined : this.entry(node);
  }

  /** First node at or after (key, ts) in (key asc, ts desc) order; 0 if none. */
  seekGE(key: Uint8Array, ts: bigint): number {
    checkKey(key);
    return this.core.exports.memtableSeekGE(this.address, this.core.stage(key), key.length, ts) >>> 0;
  }

  /** Last node before (key, ts); 0 if none. */
  seekLT(key: Uint8Array, ts: bigint): number {
    checkKey(key);
    return this.core.exports.memtableSeekLT(this.address, this.core.stage(key), key.length, ts) >>> 0;
  }

  first(): number {
    return this.core.exports.memtableFirst(this.address) >>> 0;
  }
  last(): number {
    return this.core.exports.memtableLast(this.address) >>> 0;
  }
  next(node: number): number {
    return this.core.exports.memtableNext(node) >>> 0;
  }
  prev(node: number): number {
    return this.core.exports.memtablePrev(this.address, node) >>> 0;
  }

  /** Every version in order (key asc, ts desc), as copies. */
  *entries(): IterableIterator<MemtableEntry> {
    for (let node = this.first(); node !== 0; node = this.next(node)) yield this.entry(node);
  }

  /** Every version in reverse order. */
  *entriesReverse(): IterableIterator<MemtableEntry> {
    for (let node = this.last(); node !== 0; node = this.prev(node)) yield this.entry(node);
  }

  /** Copies a node out. */
  entry(node: number): MemtableEntry {
    const core = this.core;
    const u8 = core.u8;
    const keyLength = u8[node + NODE_KEY_LENGTH] | (u8[node + NODE_KEY_LENGTH + 1] << 8);
    const valueLength = core.u32[(node + NODE_VALUE_LENGTH) >>> 2];
    const keyAt = node + NODE_LINKS + u8[node + NODE_HEIGHT] * 4;
    const ts = core.u64[node >>> 3];
    const seq = core.u64[(node + NODE_SEQ) >>> 3];
    const key = core.copyOut(keyAt, keyLength);
    const value = valueLength === VALUE_TOMBSTONE ? undefined : core.copyOut(keyAt + keyLength, valueLength);
    return { key, ts, seq, value };
  }

  /** Commit timestamp of a node. */
  nodeTs(node: number): bigint {
    return this.core.u64[node >>> 3];
  }

  /** Bytes reserved from the arena: nodes plus at most one partly used chunk per writing thread. */
  get bytesUsed(): number {
    return this.core.exports.memtableBytesUsed(this.address) >>> 0;
  }
  get capacity(): number {
    return this.core.exports.memtableCapacity(this.address) >>> 0;
  }
  /** Entries linked now, counted by walking the list (O(n)). */
  get count(): number {
    return this.core.exports.memtableCount(this.address) >>> 0;
  }
  /** Whether the key index gave up (header word indexFull, +52: assembly/skiplist.ts) and lookups search the list. */
  get keyIndexFull(): boolean {
    return Atomics.load(this.core.u32, (this.address + MT_INDEX_FULL) >>> 2) !== 0;
  }

  /** Returns the arena for reuse; the caller guarantees no thread reads it any more. */
  release(): void {
    const status = this.core.exports.memtableRelease(this.address);
    if (status !== Status.OK) throw new CoreError(`memtable release failed with status ${status}`, status);
  }
}
