/**
 * Key order: the one order of table entries. Keys compare as unsigned bytes, a key
 * before its extensions; versions of one key compare by commit timestamp DESCENDING
 * (newest first). A timestamp is handed around as two u32 halves (hi, lo) on hot paths
 * so that comparing one allocates nothing.
 *
 * Threads: pure functions; any thread.
 */

/** Negative, 0 or positive as a[aStart, aEnd) sorts before, with or after b[bStart, bEnd). */
export function compareByteRanges(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): number {
  const aLength = aEnd - aStart;
  const bLength = bEnd - bStart;
  const n = aLength < bLength ? aLength : bLength;
  for (let i = 0; i < n; i++) {
    const d = a[aStart + i] - b[bStart + i];
    if (d !== 0) return d;
  }
  return aLength - bLength;
}

/** Negative, 0 or positive as key `a` sorts before, with or after key `b`. */
export function compareKeys(a: Uint8Array, b: Uint8Array): number {
  return compareByteRanges(a, 0, a.length, b, 0, b.length);
}

/** Timestamps sort descending: negative when (aHi, aLo) is NEWER than (bHi, bLo). */
export function compareTsDescending(aHi: number, aLo: number, bHi: number, bLo: number): number {
  if (aHi !== bHi) return aHi > bHi ? -1 : 1;
  if (aLo !== bLo) return aLo > bLo ? -1 : 1;
  return 0;
}

/** Negative, 0 or positive as entry (aKey, aTs) sorts before, with or after (bKey, bTs). */
export function compareEntries(aKey: Uint8Array, aTs: bigint, bKey: Uint8Array, bTs: bigint): number {
  const c = compareKeys(aKey, bKey);
  if (c !== 0) return c;
  return aTs === bTs ? 0 : aTs > bTs ? -1 : 1;
}

/** High 32 bits of a u64. */
export function hi32(n: bigint): number {
  return Number(n >> 32n);
}

/** Low 32 bits of a u64. */
export function lo32(n: bigint): number {
  return Number(n & 0xffffffffn);
}
