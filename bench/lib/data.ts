/**
 * Deterministic benchmark data: every system and every runtime gets the same keys and
 * values for the same seed. xorshift32, so no runtime's Math.random is involved.
 */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** `count` random keys of `bytes` bytes each. */
export function randomKeys(count: number, bytes: number, seed: number): Uint8Array[] {
  const next = rng(seed);
  const keys: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const key = new Uint8Array(bytes);
    for (let j = 0; j < bytes; j += 4) {
      const r = next();
      for (let b = 0; b < 4 && j + b < bytes; b++) key[j + b] = (r >>> (8 * b)) & 0xff;
    }
    keys.push(key);
  }
  return keys;
}

/** `count` keys of `bytes` bytes in ascending order (big-endian counter after a fixed prefix). */
export function sequentialKeys(count: number, bytes: number, start = 0): Uint8Array[] {
  const keys: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const key = new Uint8Array(bytes).fill(0x6b);
    let n = start + i;
    for (let j = bytes - 1; j >= bytes - 8 && j >= 0; j--) {
      key[j] = n & 0xff;
      n = Math.floor(n / 256);
    }
    keys.push(key);
  }
  return keys;
}

/** One value of `bytes` bytes (shared by every write: values are not what is measured). */
export function value(bytes: number, seed = 1): Uint8Array {
  const next = rng(seed);
  return Uint8Array.from({ length: bytes }, () => next() & 0xff);
}

/**
 * Distinct values of `bytes` bytes each, all views into one random pool, so every write
 * carries different bytes (a constant value would flatter any system that compresses
 * blocks, as LevelDB does with Snappy) and handing out a value allocates nothing.
 * Value i starts at (i * stride) mod poolBytes, where the stride is 4099 (a prime) or,
 * for values longer than that, the first odd number above `bytes` that shares no factor
 * with the pool's size: neighbours never overlap.
 */
export class ValuePool {
  readonly #pool: Uint8Array;
  readonly #span: number;
  readonly #stride: number;
  constructor(readonly bytes: number, seed = 7, poolBytes = 4 << 20) {
    this.#pool = new Uint8Array(poolBytes + bytes);
    const next = rng(seed);
    const words = new Uint32Array(this.#pool.buffer, 0, this.#pool.length >>> 2);
    for (let i = 0; i < words.length; i++) words[i] = next();
    this.#span = poolBytes;
    // poolBytes is a power of two, so any odd stride visits every start before repeating.
    this.#stride = bytes < 4099 ? 4099 : bytes + 1 + (bytes % 2);
  }
  /** The i-th value (a view: copy it if it must outlive the pool). */
  at(i: number): Uint8Array {
    const start = (i * this.#stride) % this.#span;
    return this.#pool.subarray(start, start + this.bytes);
  }
}

/** The characters of the string workloads' keys and values (the base64url alphabet: ASCII, one UTF-8 byte each). */
const STRING_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * `count` random strings of `chars` characters each (STRING_CHARS), each a flat string of
 * its own (built from char codes, never a slice of a larger string).
 */
export function randomStrings(count: number, chars: number, seed: number): string[] {
  const next = rng(seed);
  const codes = new Array<number>(chars);
  const out: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < chars; j++) codes[j] = STRING_CHARS.charCodeAt(next() & 63);
    out[i] = String.fromCharCode(...codes);
  }
  return out;
}

/** A copy of `items` in a fixed pseudo-random order (Fisher-Yates with xorshift32). */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const next = rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Byte-wise comparison of two keys, the order every system here sorts keys in. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
