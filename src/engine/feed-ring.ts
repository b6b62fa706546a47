/**
 * FeedRing: the change feed's broadcast buffer in shared memory. One writer (the actor)
 * appends change events; any number of readers on any thread read them at their own pace,
 * each with its own position. Nothing waits for readers: a reader that falls more than the
 * ring's capacity behind finds its position overwritten and gets an overflow, never stale
 * bytes and never unbounded memory.
 *
 * Layout (FEED_HEADER_BYTES + capacity, capacity a power of two):
 *   +0  u64 head     bytes ever appended (the next record's position)            atomic
 *   +8  u64 oldest   lowest position still readable (head - capacity, or 0)       atomic
 *   +16 i32 seq      bumped and notified after each append (readers wait on it)   atomic
 *   +20 u32 capacity
 *   +64 data[capacity]
 *   record := u32 length  payload[length]  padding to 8    (at position p, at data[p % capacity])
 *   skip   := u32 0xFFFFFFFF                                  (the rest up to the ring's end is unused)
 *
 * Ordering: the writer stores `oldest` BEFORE overwriting any bytes and `head` AFTER
 * writing a record, so a reader that copied a record and then still finds its position at
 * or above `oldest` copied bytes nobody overwrote; if not, it reports overflow.
 * Threads: the actor writes; any thread reads.
 */
import type { Core } from "../core/core.ts";

export const FEED_HEADER_BYTES = 64;
const H_HEAD = 0;
const H_OLDEST = 8;
const H_SEQ = 16;
const H_CAPACITY = 20;
const SKIP = 0xffffffff;

export type FeedRead = { payload: Uint8Array; next: number } | "empty" | "overflow";

export class FeedRing {
  /** The Core's whole-memory views (src/core/core.ts: views are made once, there only). */
  readonly i32: Int32Array;
  readonly #u64: BigUint64Array;
  readonly capacity: number;

  constructor(readonly core: Core, readonly address: number) {
    this.i32 = core.i32;
    this.#u64 = core.u64;
    this.capacity = core.u32[(address + H_CAPACITY) >>> 2];
  }

  /** Lays out an empty ring at `address` (the opener, before any thread uses it). */
  static format(core: Core, address: number, capacity: number): FeedRing {
    if (capacity < 4096 || (capacity & (capacity - 1)) !== 0) throw new RangeError(`feed ring capacity must be a power of two of at least 4096, got ${capacity}`);
    core.u8.fill(0, address, address + FEED_HEADER_BYTES);
    core.u32[(address + H_CAPACITY) >>> 2] = capacity;
    return new FeedRing(core, address);
  }

  get head(): number {
    return Number(Atomics.load(this.#u64, (this.address + H_HEAD) >>> 3));
  }
  get oldest(): number {
    return Number(Atomics.load(this.#u64, (this.address + H_OLDEST) >>> 3));
  }
  get seqIndex(): number {
    return (this.address + H_SEQ) >>> 2;
  }
  /** The largest payload one record can hold. */
  get payloadBytesMax(): number {
    return this.capacity / 2 - 8;
  }

  /** Writer only: appends one record. */
  append(payload: Uint8Array): void {
    if (payload.length > this.payloadBytesMax) throw new RangeError(`change event of ${payload.length} bytes exceeds the feed ring's ${this.payloadBytesMax}`);
    const record = (4 + payload.length + 7) & ~7;
    let head = this.head;
    const data = this.address + FEED_HEADER_BYTES;
    const at = head % this.capacity;
    if (at + record > this.capacity) {
      // Not enough room before the end: mark the rest unused and start at the beginning.
      this.#advanceOldest(head + (this.capacity - at) + record);
      this.core.u32[(data + at) >>> 2] = SKIP;
      head += this.capacity - at;
    } else {
      this.#advanceOldest(head + record);
    }
    const start = data + (head % this.capacity);
    this.core.u32[start >>> 2] = payload.length;
    this.core.u8.set(payload, start + 4);
    Atomics.store(this.#u64, (this.address + H_HEAD) >>> 3, BigInt(head + record));
    Atomics.add(this.i32, this.seqIndex, 1);
    Atomics.notify(this.i32, this.seqIndex);
  }

  #advanceOldest(end: number): void {
    const oldest = Math.max(0, end - this.capacity);
    if (oldest > this.oldest) Atomics.store(this.#u64, (this.address + H_OLDEST) >>> 3, BigInt(oldest));
  }

  /** Any thread: the record at `position` (a copy), "empty" at the head, "overflow" if it was overwritten. */
  read(position: number): FeedRead {
    for (;;) {
      if (position < this.oldest) return "overflow";
      if (position >= this.head) return "empty";
      const data = this.address + FEED_HEADER_BYTES;
      const at = position % this.capacity;
      const length = Atomics.load(this.core.u32, (data + at) >>> 2);
      if (length === SKIP) {
        position += this.capacity - at;
        continue;
      }
      if (length > this.payloadBytesMax) {
        if (position < this.oldest) return "overflow";
        throw new Error(`feed ring: record at ${position} claims ${length} bytes`);
      }
      const payload = this.core.u8.slice(data + at + 4, data + at + 4 + length);
      if (position < this.oldest) return "overflow";
      return { payload, next: position + ((4 + length + 7) & ~7) };
    }
  }
}
