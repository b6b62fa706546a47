/**
 * BlockCache: the data blocks of every open table of one thread, least recently used
 * first out, bounded in bytes. Keyed by (fileId, block offset); a reader takes a fresh
 * `fileId` from the cache when it opens, so a reopened or replaced file never sees
 * another file's blocks, and drops its blocks when it closes.
 *
 * Each cached block is charged the buffer it lives in (`cacheCharge`: its length rounded
 * up to BUFFER_CLASS_BYTES) plus CACHE_ENTRY_OVERHEAD_BYTES (the node, the map slot, the
 * Block object). A block whose charge alone exceeds `cacheBytesMax` is not cached (the
 * reader uses it once and lets it go).
 *
 * Buffers (BlockBuffers): readers read blocks into buffers the cache lends them, and a
 * block's buffer comes back when the cache has evicted the block and no cursor is on it
 * (block.ts, Memory). A miss then reads into the buffer of the block it evicted instead of
 * allocating an ArrayBuffer: per miss, that allocation and its share of garbage collection
 * cost more than the read and the checksum together (docs/PERFORMANCE.md). Free buffers
 * are kept per size class, FREE_BUFFER_BYTES_MAX in all; a block longer than
 * POOLED_BLOCK_BYTES_MAX gets a buffer of its own and never comes back.
 *
 * Invariants: `bytes` <= `cacheBytesMax` after every call; `bytes` is the sum of the
 * charges of the cached blocks; hits + misses = lookups. Cached blocks are immutable and
 * were checksum-verified when read from disk, so a hit is not verified again.
 * Threads: one cache per thread, shared by every reader of that thread; not thread-safe
 * (nothing here is in shared memory).
 */
import type { Block } from "./block.ts";

/** Bytes charged per cached block on top of its buffer. */
export const CACHE_ENTRY_OVERHEAD_BYTES = 128;
/** Pooled buffers come in multiples of this many bytes. */
export const BUFFER_CLASS_BYTES = 256;
/** Longer blocks are read into buffers of their own, never pooled. */
export const POOLED_BLOCK_BYTES_MAX = 64 * 1024;
/** Bytes of free buffers a cache keeps for the next misses. */
export const FREE_BUFFER_BYTES_MAX = 1024 * 1024;

/** The bytes of the buffer a block of `length` bytes is read into. */
export function bufferBytes(length: number): number {
  return length > POOLED_BLOCK_BYTES_MAX ? length : Math.ceil(length / BUFFER_CLASS_BYTES) * BUFFER_CLASS_BYTES;
}

/** What the cache charges for a block of `length` bytes. */
export function cacheCharge(length: number): number {
  return bufferBytes(length) + CACHE_ENTRY_OVERHEAD_BYTES;
}

/**
 * BlockBuffers: the free buffers of one cache, by size, for reading blocks into. Only
 * buffers of blocks that nothing can read any more come here (Block.recycle).
 * Invariants: every free buffer is BUFFER_CLASS_BYTES-aligned in size, at most
 * POOLED_BLOCK_BYTES_MAX, and in one list once; `freeBytes` <= FREE_BUFFER_BYTES_MAX.
 * Threads: the cache's.
 */
export class BlockBuffers {
  #free = new Map<number, ArrayBuffer[]>();
  #freeBytes = 0;
  /** Buffers taken from the free lists (statistics). */
  reused = 0;

  /** A buffer for a block of `length` bytes: a free one of its class, or a new one. */
  take(length: number): Uint8Array {
    const bytes = bufferBytes(length);
    const buffer = this.#free.get(bytes)?.pop();
    if (buffer === undefined) return new Uint8Array(new ArrayBuffer(bytes), 0, length);
    this.#freeBytes -= bytes;
    this.reused++;
    return new Uint8Array(buffer, 0, length);
  }

  /** Takes back a block's buffer (from `take`; nothing reads it any more). Dropped when the lists are full. */
  give(block: Uint8Array): void {
    const buffer = block.buffer as ArrayBuffer;
    const bytes = buffer.byteLength;
    if (block.byteOffset !== 0 || bytes > POOLED_BLOCK_BYTES_MAX || bytes % BUFFER_CLASS_BYTES !== 0) return;
    if (this.#freeBytes + bytes > FREE_BUFFER_BYTES_MAX) return;
    let list = this.#free.get(bytes);
    if (list === undefined) {
      list = [];
      this.#free.set(bytes, list);
    }
    list.push(buffer);
    this.#freeBytes += bytes;
  }

  get freeBytes(): number {
    return this.#freeBytes;
  }
}
/** Default bound: 32 MiB. */
export const CACHE_BYTES_MAX_DEFAULT = 32 * 1024 * 1024;

interface CacheNode {
  fileId: number;
  offset: number;
  block: Block;
  charge: number;
  /** Towards the most recently used. */
  newer: CacheNode | undefined;
  /** Towards the least recently used. */
  older: CacheNode | undefined;
}

export interface BlockCacheStats {
  hits: number;
  misses: number;
  evictions: number;
  /** Bytes charged now. */
  bytes: number;
  /** Blocks cached now. */
  blocks: number;
  cacheBytesMax: number;
  /** Misses read into the buffer of an evicted block rather than a new one. */
  buffersReused: number;
}

export class BlockCache {
  readonly cacheBytesMax: number;
  hits = 0;
  misses = 0;
  evictions = 0;
  #bytes = 0;
  #blocks = 0;
  #files = new Map<number, Map<number, CacheNode>>();
  /** Most recently used end of the list. */
  #newest: CacheNode | undefined;
  /** Least recently used end of the list. */
  #oldest: CacheNode | undefined;
  #nextFileId = 1;
  /** Where readers of this cache get the buffers they read blocks into. */
  readonly buffers = new BlockBuffers();

  constructor(options: { cacheBytesMax?: number } = {}) {
    const max = options.cacheBytesMax ?? CACHE_BYTES_MAX_DEFAULT;
    if (!Number.isSafeInteger(max) || max < 0) throw new RangeError(`cacheBytesMax must be a non-negative integer, got ${max}`);
    this.cacheBytesMax = max;
  }

  /** A file id no other reader of this cache has had. */
  newFileId(): number {
    return this.#nextFileId++;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get blocks(): number {
    return this.#blocks;
  }

  stats(): BlockCacheStats {
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, bytes: this.#bytes, blocks: this.#blocks, cacheBytesMax: this.cacheBytesMax, buffersReused: this.buffers.reused };
  }

  /** The cached block, now the most recently used; counts a hit or a miss. */
  get(fileId: number, offset: number): Block | undefined {
    const node = this.#files.get(fileId)?.get(offset);
    if (node === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (node !== this.#newest) {
      this.#unlink(node);
      this.#pushNewest(node);
    }
    return node.block;
  }

  /** Caches `block` (read from disk and verified) as the most recently used, evicting as needed. */
  insert(fileId: number, offset: number, block: Block): void {
    const charge = cacheCharge(block.length);
    if (charge > this.cacheBytesMax) return;
    const existing = this.#files.get(fileId)?.get(offset);
    if (existing !== undefined) this.#remove(existing, this.#files.get(fileId)!);
    while (this.#bytes + charge > this.cacheBytesMax && this.#oldest !== undefined) {
      const victim = this.#oldest;
      this.#remove(victim, this.#files.get(victim.fileId)!);
      this.evictions++;
    }
    // Looked up after evicting: an eviction may have removed this file's (now empty) map.
    let file = this.#files.get(fileId);
    if (file === undefined) {
      file = new Map();
      this.#files.set(fileId, file);
    }
    const node: CacheNode = { fileId, offset, block, charge, newer: undefined, older: undefined };
    file.set(offset, node);
    block.cached = true;
    this.#pushNewest(node);
    this.#bytes += charge;
    this.#blocks++;
    if (this.#bytes > this.cacheBytesMax) throw new Error(`BlockCache: ${this.#bytes} bytes charged, above cacheBytesMax ${this.cacheBytesMax}`);
  }

  /** Drops every block of `fileId` (its reader closed); not counted as evictions. */
  dropFile(fileId: number): void {
    const file = this.#files.get(fileId);
    if (file === undefined) return;
    for (const node of file.values()) {
      this.#unlink(node);
      this.#bytes -= node.charge;
      this.#blocks--;
      this.#release(node.block);
    }
    this.#files.delete(fileId);
  }

  /** Drops everything (counters are kept). */
  clear(): void {
    for (const id of [...this.#files.keys()]) this.dropFile(id);
  }

  #remove(node: CacheNode, file: Map<number, CacheNode>): void {
    this.#unlink(node);
    file.delete(node.offset);
    if (file.size === 0) this.#files.delete(node.fileId);
    this.#bytes -= node.charge;
    this.#blocks--;
    this.#release(node.block);
  }

  /** The cache lets go of `block`: its buffer is free once no cursor is on it either. */
  #release(block: Block): void {
    block.cached = false;
    if (block.pins === 0) block.recycle();
  }

  #pushNewest(node: CacheNode): void {
    node.older = this.#newest;
    node.newer = undefined;
    if (this.#newest !== undefined) this.#newest.newer = node;
    this.#newest = node;
    if (this.#oldest === undefined) this.#oldest = node;
  }

  #unlink(node: CacheNode): void {
    if (node.newer !== undefined) node.newer.older = node.older;
    else this.#newest = node.older;
    if (node.older !== undefined) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    node.newer = undefined;
    node.older = undefined;
  }
}
