/**
 * A 64-bit word of the shared memory that only rises (an LSN, a counter), read as a number
 * without the BigInt that a 64-bit `Atomics.load` makes on every call (a get or a put paid
 * one or more: docs/PERFORMANCE.md, "A get's garbage").
 *
 * Read as its two 32-bit halves, high, low, then high again, each an atomic load (each half
 * is single-copy atomic under the core's 64-bit atomic stores). Since the word only rises,
 * when both reads of the high half agree, the high half held that value all the while the
 * low half was read, so the pair is a value the word had at that moment; if they differ, the
 * word crossed a multiple of 2^32 meanwhile, and the read starts again. Exact below 2^53
 * (an LSN there is 8 PiB of log). Little-endian: the low half at the lower address.
 *
 * Threads: any; the word's writers store it atomically and never lower it.
 */
export function loadRisingU64(i32: Int32Array, byteOffset: number): number {
  const lowIndex = byteOffset >>> 2;
  for (;;) {
    const high = Atomics.load(i32, lowIndex + 1);
    const low = Atomics.load(i32, lowIndex) >>> 0;
    if (Atomics.load(i32, lowIndex + 1) === high) return (high >>> 0) * 2 ** 32 + low;
  }
}
