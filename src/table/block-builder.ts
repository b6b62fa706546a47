/**
 * BlockBuilder: assembles one data or index block (docs/table-format.md, `block`) in a
 * growable buffer: prefix-compressed entries, a restart point every
 * `restartIntervalEntries` entries (where the key is stored whole), the restart array,
 * the restart count and the block's checksum.
 *
 * Invariants
 * - Entries are added in table order; the builder does not check order (the table
 *   writer does) but does check every length against its limits.
 * - The first entry of a block, and every `restartIntervalEntries`-th after it, has
 *   shared = 0, and its offset is in the restart array.
 * - A block never grows past `blockBytesMax`: `add` throws a RangeError first.
 * - `finish` returns a view of the internal buffer, valid until `reset`.
 * Threads: the thread that created it.
 */
import { BLOCK_TRAILER_BYTES, blockChecksum, KEY_BYTES_MAX, type TableHasher, VALUE_BYTES_MAX } from "./format.ts";
import { varintBytes, writeVarint } from "./varint.ts";

export class BlockBuilder {
  #buf: Uint8Array;
  #view: DataView;
  /** Bytes of entries written so far. */
  #length = 0;
  #restarts: number[] = [];
  #entries = 0;
  #sinceRestart = 0;
  #lastKey = new Uint8Array(KEY_BYTES_MAX);
  #lastKeyLength = 0;

  constructor(
    readonly restartIntervalEntries: number,
    initialBytes: number,
    /** The block may not grow past this many bytes (trailer included). */
    readonly blockBytesMax: number,
    /** Name for limit errors ("data block", "index block"). */
    readonly what: string,
  ) {
    this.#buf = new Uint8Array(Math.max(64, initialBytes));
    this.#view = new DataView(this.#buf.buffer);
  }

  get entries(): number {
    return this.#entries;
  }

  get empty(): boolean {
    return this.#entries === 0;
  }

  /** Size of the block if it were finished now. */
  get bytes(): number {
    return this.#length + 4 * this.#restarts.length + BLOCK_TRAILER_BYTES;
  }

  /** Upper bound of the bytes adding an entry with these lengths would add (valueLength -1: tombstone). */
  entryBytesMax(keyLength: number, valueLength: number): number {
    return varintBytes(keyLength) * 2 + varintBytes(valueLength + 1) + 16 + keyLength + Math.max(0, valueLength) + 4;
  }

  /** Appends one entry; `value` undefined is a tombstone. */
  add(key: Uint8Array, ts: bigint, seq: bigint, value: Uint8Array | undefined): void {
    if (key.length > KEY_BYTES_MAX) throw new RangeError(`key is ${key.length} bytes; the limit is ${KEY_BYTES_MAX} bytes (KEY_BYTES_MAX)`);
    const valueLength = value === undefined ? -1 : value.length;
    if (valueLength > VALUE_BYTES_MAX) throw new RangeError(`value is ${valueLength} bytes; the limit is ${VALUE_BYTES_MAX} bytes (VALUE_BYTES_MAX)`);
    let shared = 0;
    if (this.#sinceRestart >= this.restartIntervalEntries || this.#entries === 0) {
      this.#restarts.push(this.#length);
      this.#sinceRestart = 0;
    } else {
      const last = this.#lastKey;
      const n = Math.min(this.#lastKeyLength, key.length);
      while (shared < n && last[shared] === key[shared]) shared++;
    }
    const unshared = key.length - shared;
    const needed = this.#length + this.entryBytesMax(key.length, valueLength) + 4 * this.#restarts.length + BLOCK_TRAILER_BYTES;
    if (needed > this.blockBytesMax) {
      throw new RangeError(`${this.what} would be ${needed} bytes; the limit is ${this.blockBytesMax} bytes`);
    }
    this.#reserve(needed);
    const buf = this.#buf;
    let at = this.#length;
    at = writeVarint(buf, at, shared);
    at = writeVarint(buf, at, unshared);
    at = writeVarint(buf, at, valueLength + 1);
    this.#view.setBigUint64(at, ts, true);
    this.#view.setBigUint64(at + 8, seq, true);
    at += 16;
    for (let i = shared; i < key.length; i++) buf[at++] = key[i];
    if (value !== undefined) {
      buf.set(value, at);
      at += value.length;
    }
    this.#length = at;
    const last = this.#lastKey;
    for (let i = shared; i < key.length; i++) last[i] = key[i];
    this.#lastKeyLength = key.length;
    this.#entries++;
    this.#sinceRestart++;
  }

  /** Writes the restart array, restart count and checksum; the finished block (a view, valid until `reset`). */
  finish(hasher: TableHasher, kind: number, fileOffset: number): Uint8Array {
    if (this.#entries === 0) throw new Error(`BlockBuilder.finish: an empty ${this.what} is never written`);
    const total = this.bytes;
    this.#reserve(total);
    const view = this.#view;
    let at = this.#length;
    for (const r of this.#restarts) {
      view.setUint32(at, r, true);
      at += 4;
    }
    view.setUint32(at, this.#restarts.length, true);
    at += 4;
    view.setUint32(at, blockChecksum(hasher, kind, fileOffset, this.#buf.subarray(0, at)), true);
    at += 4;
    if (at !== total) throw new Error(`BlockBuilder.finish: wrote ${at} bytes, expected ${total}`);
    return this.#buf.subarray(0, total);
  }

  /** Empties the builder for the next block (keeps its buffer). */
  reset(): void {
    this.#length = 0;
    this.#restarts.length = 0;
    this.#entries = 0;
    this.#sinceRestart = 0;
    this.#lastKeyLength = 0;
  }

  #reserve(bytes: number): void {
    if (bytes <= this.#buf.length) return;
    let size = this.#buf.length;
    while (size < bytes) size *= 2;
    const grown = new Uint8Array(Math.min(size, Math.max(bytes, this.blockBytesMax)));
    grown.set(this.#buf.subarray(0, this.#length));
    this.#buf = grown;
    this.#view = new DataView(grown.buffer);
  }
}
