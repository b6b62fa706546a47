/**
 * GarbagePacer: asks the thread's collector for a young collection after every
 * PACE_BYTES of garbage the engine's calls made on this thread, where the platform says its
 * collector needs asking (Platform.collectYoung: Bun).
 *
 * Why: Bun's JavaScriptCore counts a thread's views of the database's shared memory as
 * heap (`heapStats().extraMemorySize`: 1,417 MiB for the default 708 MiB memory), and sizes
 * the budget of its young generation in proportion to the heap. With a database open it
 * therefore collects after ~1 GiB of new objects instead of ~8 MiB, and since the memory
 * freed by one collection is given back to the system, nearly every byte allocated between
 * two collections lands on a page not yet mapped: 0.32 page faults per 1,000-byte array,
 * which made a `slice` of it 3.7-6.9 µs instead of ~0.1-0.3 µs, and a get or scan row of a
 * 1 KiB value as slow (docs/PERFORMANCE.md, "Bun: allocation slows down while a database is
 * open"). A young collection every 8 MiB (JavaScriptCore's own budget for a small heap)
 * keeps the garbage on pages already mapped; it costs 0.1-0.25 ms, 3 MiB of live objects
 * or not, i.e. ~25 ns per get of a 1 KiB value.
 *
 * What is counted: what a call hands out or leaves behind on the caller's thread, the copies
 * and strings a read returns (their byte length) plus CALL_BYTES for its promise, result
 * objects and timestamp; and each change-feed event the thread reads (its key and value
 * bytes plus CALL_BYTES: change-feed.ts). An estimate: it sets how often the collector is
 * asked, nothing else.
 *
 * Invariants: `#bytes` < `#paceBytes` between calls; without a collector `#paceBytes` is
 * Infinity, so `note` never calls one. Threads: one pacer per read context (one handle, one
 * thread); nothing shared.
 */

/** Garbage between two young collections, bytes (JavaScriptCore's own young budget for a small heap). */
export const PACE_BYTES = 8 << 20;
/** What one call leaves besides the bytes it hands out (its promise, result objects, BigInt timestamp), bytes. */
export const CALL_BYTES = 128;

export class GarbagePacer {
  #bytes = 0;
  readonly #paceBytes: number;

  /** `collectYoung`: the platform's (undefined: the collector needs no asking; `note` does nothing). */
  constructor(private readonly collectYoung: (() => void) | undefined, paceBytes = PACE_BYTES) {
    this.#paceBytes = collectYoung === undefined ? Infinity : paceBytes;
  }

  /** Counts `bytes` of garbage made for a caller; asks for a young collection every PACE_BYTES. */
  note(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes < this.#paceBytes) return;
    this.#bytes = 0;
    this.collectYoung!();
  }
}
