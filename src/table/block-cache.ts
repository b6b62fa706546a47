/**
 * BlockCache: the data blocks of every open table of one thread, least recently used
 * first out, bounded in bytes. Keyed by (fileId, block offset); a reader takes a fresh
 * `fileId` from the cache when it opens, so a reopened or replaced file never sees
 * another file's blocks, and drops its blocks when it closes.
 *
 * Each cached block is charged its length plus CACHE_ENTRY_OVERHEAD_BYTES (the node, the
 * map slot, the Block object). A block whose charge alone exceeds `cacheBytesMax` is not
 * cached (the reader uses it once and lets it go).
 *
 * Invariants: `bytes` <= `cacheBytesMax` after every call; `bytes` is the sum of the
 * charges of the cached blocks; hits + misses = lookups. Cached blocks are immutable and
 * were checksum-verified when read from disk, so a hit is not verified again.
 * Threads: one cache per thread, shared by every reader of that thread; not thread-safe
 * (nothing here is in shared memory).
 */
import type { Block } from "./block.ts";

/** Bytes charged per cached block on top of its length. */
export const CACHE_ENTRY_OVERHEAD_BYTES = 128;
/** Default bound: 8 MiB. */
export const CACHE_BYTES_MAX_DEFAULT = 8 * 1024 * 1024;

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
    return { hits: this.hits, misses: this.misses, evictions: this.evictions, bytes: this.#bytes, blocks: this.#blocks, cacheBytesMax: this.cacheBytesMax };
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
    const charge = block.length + CACHE_ENTRY_OVERHEAD_BYTES;
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
