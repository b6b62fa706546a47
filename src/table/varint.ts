/**
 * Varint: unsigned LEB128 for values 0..2^32-1 (at most 5 bytes), seven bits per byte,
 * low bits first, high bit set on every byte but the last.
 *
 * Invariants: `writeVarint` writes exactly `varintBytes(value)` bytes; `readVarint`
 * never reads at or past `limit` and refuses encodings longer than 5 bytes or above 2^32-1.
 * Threads: pure functions plus one module-level result slot (`varintEnd`), used
 * synchronously; any thread.
 */

export const VARINT_BYTES_MAX = 5;

/** Bytes `value` (0..2^32-1) takes as a varint. */
export function varintBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : value < 0x10000000 ? 4 : 5;
}

/** Writes `value` at `at`; returns the position after it. The caller made room. */
export function writeVarint(buf: Uint8Array, at: number, value: number): number {
  while (value >= 0x80) {
    buf[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[at++] = value;
  return at;
}

/** Position after the varint read by the last `readVarint` call. */
export let varintEnd = 0;

/**
 * The varint at `at`, reading below `limit`; -1 if it runs past `limit`, is longer than
 * 5 bytes or exceeds 2^32-1. Sets `varintEnd`.
 */
export function readVarint(buf: Uint8Array, at: number, limit: number): number {
  if (at >= limit) return -1;
  let b = buf[at];
  if (b < 0x80) {
    varintEnd = at + 1;
    return b;
  }
  let value = b & 0x7f;
  let scale = 128;
  for (let i = 1; i < VARINT_BYTES_MAX; i++) {
    if (at + i >= limit) return -1;
    b = buf[at + i];
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (value > 0xffffffff) return -1;
      varintEnd = at + i + 1;
      return value;
    }
    scale *= 128;
  }
  return -1;
}
