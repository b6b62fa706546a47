/**
 * ValueCopies: the arrays a read hands out (a get's value, a scan's keys and values), as
 * copies the caller owns. Where the runtime makes a new typed array expensive, copies of
 * 65 (Deno: 1) to POOLED_BYTES_MAX bytes are cut from shared chunks, as Node cuts small
 * Buffers from its 8 KiB pool.
 *
 * Why: in V8 (Node, Deno) a typed array of up to 64 bytes lives on the heap, but a longer
 * one gets a backing store of its own, which costs ~1 µs to allocate and collect: more than
 * the rest of a get of a 100-byte value. A view of an existing ArrayBuffer costs ~0.1 µs
 * (docs/PERFORMANCE.md, "Copies handed out by reads"). In Bun (JavaScriptCore) `slice` takes
 * ~50 ns and a view costs more, so Bun's adapter leaves pooling off.
 *
 * Where the runtime gives even a short typed array a backing store of its own (Deno: a
 * 16-byte key's `slice` ~0.38 µs, Platform.pooledCopyBytesMin 1), copies shorter than 65
 * bytes come from chunks too, of TINY_CHUNK_BYTES: a scan's every key is one.
 *
 * Two chunk sizes: copies of up to SMALL_COPY_BYTES_MAX bytes come from chunks of
 * CHUNK_BYTES, longer ones from chunks of LARGE_CHUNK_BYTES. In V8 a new ArrayBuffer costs
 * ~3.5-4.5 µs whatever its size up to 32 KiB (its allocation, its external-memory
 * accounting, its collection), so an 8 KiB chunk of 1 KiB copies cost 0.43-0.5 µs a copy,
 * a quarter of a YCSB C get; a 32 KiB chunk costs 0.14 µs a copy (docs/PERFORMANCE.md,
 * "Copies handed out by reads"). The large class starts above SMALL_COPY_BYTES_MAX so
 * that the most a kept copy can pin, relative to its size, stays what it was with one
 * class: 32 KiB for 257 bytes is 128 times, as 8 KiB for 65 bytes is 126 times.
 *
 *   chunk (CHUNK_BYTES or LARGE_CHUNK_BYTES, an ArrayBuffer; marked untransferable)
 *   +--------+--------+-----+----------------------+
 *   | copy 0 | copy 1 | ... |   free               |
 *   +--------+--------+-----+----------------------+
 *   each copy starts 8-aligned; a copy that does not fit in what is left starts a new chunk
 *
 * What a caller sees: a pooled copy's `buffer` holds other copies too (`byteOffset` says
 * where its bytes start), exactly like a pooled Node Buffer. Its bytes are its own: no other
 * copy overlaps them and the engine never writes them again. Transferring its `buffer`
 * (postMessage, structuredClone) cannot detach the chunk under the other copies: each chunk
 * is handed to `Platform.markUntransferable` before its first copy (Node copies it instead,
 * Deno and Bun throw DataCloneError). A kept copy keeps its chunk alive: at most CHUNK_BYTES
 * for a copy of 65 to 256 bytes, LARGE_CHUNK_BYTES for one of 257 to 1,024 (Node's pool:
 * 8 KiB for one of a byte). `slice()` makes a standalone copy.
 *
 * Invariants: in each class, `used` <= its chunk's size; the bytes below `used` of its
 * current chunk belong to copies already handed out and are never written again; copies are
 * disjoint (the classes never share a chunk).
 * Threads: one ValueCopies per read context (one handle, one thread); nothing shared.
 */

/** Bytes of a chunk for copies of up to SMALL_COPY_BYTES_MAX (Node's Buffer.poolSize). */
export const CHUNK_BYTES = 8192;
/**
 * Bytes of a chunk for copies shorter than ON_HEAP_BYTES_MAX + 1, where those are pooled
 * (Deno): a 16-byte key pins at most 2 KiB (128 times its size, about what a 257-byte copy
 * pins in a 32 KiB chunk); a chunk costs ~2.1 µs there, ~25 ns a copy of 16 bytes.
 */
export const TINY_CHUNK_BYTES = 2048;
/** Bytes of a chunk for longer copies. */
export const LARGE_CHUNK_BYTES = 32768;
/** The longest copy cut from a CHUNK_BYTES chunk. */
export const SMALL_COPY_BYTES_MAX = 256;
/** Longer copies get an array of their own: a pooled one could pin a chunk many times its size. */
export const POOLED_BYTES_MAX = 1024;
/** Node's V8 keeps typed arrays up to this length on its heap: allocating one is already cheap. */
export const ON_HEAP_BYTES_MAX = 64;

/** One chunk size's current chunk. */
class ChunkClass {
  chunk: ArrayBuffer | undefined;
  used: number;

  constructor(readonly chunkBytes: number) {
    this.used = chunkBytes;
  }
}

export class ValueCopies {
  #tiny = new ChunkClass(TINY_CHUNK_BYTES);
  #small = new ChunkClass(CHUNK_BYTES);
  #large = new ChunkClass(LARGE_CHUNK_BYTES);
  /** The shortest copy cut from a chunk (Platform.pooledCopyBytesMin). */
  readonly #pooledFromBytes: number;

  /**
   * `markUntransferable`: the platform's (undefined: no pooling; every copy is a `slice`);
   * `pooledFromBytes`: the shortest copy to cut from a chunk (1 to ON_HEAP_BYTES_MAX + 1).
   */
  constructor(private readonly markUntransferable: ((buffer: ArrayBuffer) => void) | undefined, pooledFromBytes = ON_HEAP_BYTES_MAX + 1) {
    this.#pooledFromBytes = Math.min(Math.max(1, pooledFromBytes), ON_HEAP_BYTES_MAX + 1);
  }

  /** Whether copies are cut from chunks (for tests and statistics). */
  get pooled(): boolean {
    return this.markUntransferable !== undefined;
  }

  /** A copy of `source[from, to)`. */
  copy(source: Uint8Array, from: number, to: number): Uint8Array {
    const length = to - from;
    if (this.markUntransferable === undefined || length < this.#pooledFromBytes || length > POOLED_BYTES_MAX) return source.slice(from, to);
    const c = length <= ON_HEAP_BYTES_MAX ? this.#tiny : length <= SMALL_COPY_BYTES_MAX ? this.#small : this.#large;
    if (c.used + length > c.chunkBytes) this.#newChunk(c);
    const out = new Uint8Array(c.chunk!, c.used, length);
    out.set(source.subarray(from, to));
    c.used += (length + 7) & ~7;
    return out;
  }

  #newChunk(c: ChunkClass): void {
    const chunk = new ArrayBuffer(c.chunkBytes);
    this.markUntransferable!(chunk);
    c.chunk = chunk;
    c.used = 0;
  }
}
