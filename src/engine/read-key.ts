/**
 * ReadKey: one handle's buffer for the string keys of its point reads (get, getString,
 * has). A string key is encoded into it with TextEncoder.encodeInto instead of into a new
 * array per read: in V8 (Node, Deno) `TextEncoder.encode` costs about 1.2 µs however short
 * the string, `encodeInto` 50-120 ns (docs/PERFORMANCE.md, "String keys and values").
 *
 * Invariant: the bytes handed out are valid until the next `encode`. That is safe only for
 * reads that keep no reference to their key once they return (ReadContext.lookup), on the
 * one thread that owns this handle; writes and scans keep their keys and encode their own.
 */
import { KEY_BYTES_MAX } from "../core/core.ts";

const encoder = new TextEncoder();

export class ReadKey {
  /** Room for the largest key and one more UTF-8 sequence: a longer key does not fit whole. */
  readonly #buffer = new Uint8Array(KEY_BYTES_MAX + 4);

  /**
   * `key`'s UTF-8 bytes, a view of this buffer, or undefined beyond KEY_BYTES_MAX (the
   * caller's general key check then reports the key's size).
   */
  encode(key: string): Uint8Array | undefined {
    const { read, written } = encoder.encodeInto(key, this.#buffer);
    return read < key.length || written > KEY_BYTES_MAX ? undefined : this.#buffer.subarray(0, written);
  }
}
