/**
 * ValueCopies: the arrays a read hands out (a get's value, a scan's keys and values), as
 * copies the caller owns. Where the runtime makes a new typed array expensive, copies of
 * 65 to POOLED_BYTES_MAX bytes are cut from shared chunks, as Node cuts small Buffers from
 * its 8 KiB pool.
 *
 * Why: in V8 (Node, Deno) a typed array of up to 64 bytes lives on the heap, but a longer
 * one gets a backing store of its own, which costs ~1 µs to allocate and collect: more than
 * the rest of a get of a 100-byte value. A view of an existing ArrayBuffer costs ~0.1 µs
 * (docs/PERFORMANCE.md, "Copies handed out by reads"). In Bun (JavaScriptCore) `slice` takes
 * ~50 ns and a view costs more, so Bun's adapter leaves pooling off.
 *
 *   chunk (CHUNK_BYTES, an ArrayBuffer; marked untransferable)
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
 * for a copy of 65 bytes or more (Node's pool: 8 KiB for one of a byte). `slice()` makes a
 * standalone copy.
 *
 * Invariants: `#used` <= CHUNK_BYTES; the bytes below `#used` of the current chunk belong
 * to copies already handed out and are never written again; copies are disjoint.
 * Threads: one ValueCopies per read context (one handle, one thread); nothing shared.
 */

/** Bytes of one chunk (Node's Buffer.poolSize). */
export const CHUNK_BYTES = 8192;
/** Longer copies get an array of their own: a pooled one could pin a chunk many times its size. */
export const POOLED_BYTES_MAX = 1024;
/** V8 keeps typed arrays up to this length on its heap: allocating one is already cheap. */
const ON_HEAP_BYTES_MAX = 64;

export class ValueCopies {
  #chunk: ArrayBuffer | undefined;
  #used = CHUNK_BYTES;

  /** `markUntransferable`: the platform's (undefined: no pooling; every copy is a `slice`). */
  constructor(private readonly markUntransferable: ((buffer: ArrayBuffer) => void) | undefined) {}

  /** Whether copies are cut from chunks (for tests and statistics). */
  get pooled(): boolean {
    return this.markUntransferable !== undefined;
  }

  /** A copy of `source[from, to)`. */
  copy(source: Uint8Array, from: number, to: number): Uint8Array {
    const length = to - from;
    if (this.markUntransferable === undefined || length <= ON_HEAP_BYTES_MAX || length > POOLED_BYTES_MAX) return source.slice(from, to);
    if (this.#used + length > CHUNK_BYTES) this.#newChunk();
    const out = new Uint8Array(this.#chunk!, this.#used, length);
    out.set(source.subarray(from, to));
    this.#used += (length + 7) & ~7;
    return out;
  }

  #newChunk(): void {
    const chunk = new ArrayBuffer(CHUNK_BYTES);
    this.markUntransferable!(chunk);
    this.#chunk = chunk;
    this.#used = 0;
  }
}
