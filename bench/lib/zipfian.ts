/**
 * The key choosers of YCSB's core workloads, seeded and deterministic, so that every
 * system and every runtime gets the same sequence of operations:
 * - `Zipfian`: Gray et al.'s generator ("Quickly Generating Billion-Record Synthetic
 *   Databases", SIGMOD 1994), as YCSB's ZipfianGenerator: item 0 is the most popular, then
 *   item 1, ...; zeta(n) grows incrementally when the item count grows. One difference
 *   from YCSB: when the count grows, eta is recomputed from the new count (YCSB keeps the
 *   count it was constructed with in that formula).
 * - `ScrambledZipfian`: YCSB's ScrambledZipfianGenerator: a zipfian rank over 10^10 items
 *   (zeta precomputed as YCSB does, 26.46902820178302 for constant 0.99), hashed with
 *   64-bit FNV-1a and taken modulo the item count, so the popular items are scattered.
 * - `SkewedLatest`: YCSB's "latest" distribution (workload D): `latest - zipfian(latest)`,
 *   so the most recently inserted items are the most popular.
 * Random numbers: xorshift32 (bench/lib/data.ts), two draws per 53-bit double.
 * Threads: any (no shared state).
 */
import { rng } from "./data.ts";

/** YCSB's zipfian constant. */
export const ZIPFIAN_CONSTANT = 0.99;
/** YCSB's ScrambledZipfianGenerator: the rank space, and zeta over it for constant 0.99. */
const SCRAMBLED_ITEMS = 1e10;
const SCRAMBLED_ZETAN = 26.46902820178302;

/** Uniform doubles in [0, 1) with 53 random bits, from a seeded xorshift32. */
export function uniform(seed: number): () => number {
  const next = rng(seed);
  return () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

/** zeta(n) = sum of 1 / i^theta for i = 1..n, continued from zeta(from) = `sum`. */
export function zeta(from: number, n: number, theta: number, sum = 0): number {
  for (let i = from; i < n; i++) sum += 1 / Math.pow(i + 1, theta);
  return sum;
}

/** Zipfian ranks in [0, items): 0 the most popular. */
export class Zipfian {
  readonly #theta: number;
  readonly #alpha: number;
  readonly #zeta2: number;
  readonly #half: number;
  #items: number;
  #zetan: number;
  #eta: number;
  readonly #random: () => number;

  constructor(items: number, random: () => number, theta = ZIPFIAN_CONSTANT, zetan?: number) {
    this.#theta = theta;
    this.#alpha = 1 / (1 - theta);
    this.#zeta2 = zeta(0, 2, theta);
    this.#half = 1 + Math.pow(0.5, theta);
    this.#items = items;
    this.#zetan = zetan ?? zeta(0, items, theta);
    this.#eta = this.#etaFor(items);
    this.#random = random;
  }

  #etaFor(items: number): number {
    return (1 - Math.pow(2 / items, 1 - this.#theta)) / (1 - this.#zeta2 / this.#zetan);
  }

  /** The next rank among `items` items (the count may only grow). */
  next(items = this.#items): number {
    if (items !== this.#items) {
      if (items < this.#items) throw new RangeError(`the item count may only grow (${this.#items} -> ${items})`);
      this.#zetan = zeta(this.#items, items, this.#theta, this.#zetan);
      this.#items = items;
      this.#eta = this.#etaFor(items);
    }
    const u = this.#random();
    const uz = u * this.#zetan;
    if (uz < 1) return 0;
    if (uz < this.#half) return 1;
    return Math.min(items - 1, Math.floor(items * Math.pow(this.#eta * u - this.#eta + 1, this.#alpha)));
  }
}

const TWO_32 = 4294967296;

/**
 * 64-bit FNV-1a of the 8 little-endian bytes of `value` (an integer below 2^53), as YCSB's
 * Utils.fnvhash64 before its Math.abs: [high 32 bits, low 32 bits], unsigned.
 */
export function fnv64(value: number): [number, number] {
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  let vlo = value % TWO_32;
  let vhi = Math.floor(value / TWO_32);
  for (let i = 0; i < 8; i++) {
    lo = (lo ^ (vlo & 0xff)) >>> 0;
    vlo = (vlo >>> 8) | ((vhi & 0xff) << 24);
    vlo >>>= 0;
    vhi >>>= 8;
    // (hi:lo) * 0x100000001b3 mod 2^64 = (hi:lo) * 0x1b3 + (lo << 40)
    const low = lo * 0x1b3;
    const carry = Math.floor(low / TWO_32);
    hi = (hi * 0x1b3 + carry + ((lo << 8) >>> 0)) >>> 0;
    lo = low >>> 0;
  }
  return [hi, lo];
}

/** YCSB's fnvhash64(value) (Math.abs of the signed 64-bit hash) modulo `n` (n < 2^31). */
export function fnv64Mod(value: number, n: number): number {
  let [hi, lo] = fnv64(value);
  if (hi >= 0x80000000) {
    // Two's complement negation: |x| of a negative 64-bit x.
    lo = (~lo + 1) >>> 0;
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
  }
  let r = hi % n;
  r = (r * 65536 + (lo >>> 16)) % n;
  r = (r * 65536 + (lo & 0xffff)) % n;
  return r;
}

/** YCSB's scrambled zipfian: popular items scattered over [0, items). */
export class ScrambledZipfian {
  readonly #zipfian: Zipfian;
  constructor(readonly items: number, random: () => number) {
    this.#zipfian = new Zipfian(SCRAMBLED_ITEMS, random, ZIPFIAN_CONSTANT, SCRAMBLED_ZETAN);
  }
  next(): number {
    return fnv64Mod(this.#zipfian.next(), this.items);
  }
}

/** YCSB's "latest": item `latest - zipfian(latest)`, where `latest` is the newest item. */
export class SkewedLatest {
  readonly #zipfian: Zipfian;
  constructor(latest: number, random: () => number) {
    this.#zipfian = new Zipfian(latest, random);
  }
  /** An item in [1, latest] (as YCSB's generator, never item 0), favouring `latest`. */
  next(latest: number): number {
    return latest - this.#zipfian.next(latest);
  }
}
