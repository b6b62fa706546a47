/**
 * ReadKey: one handle's buffer for the string keys of its point reads (get, getString,
 * has). A string key is encoded into it instead of into a new array per read: in V8 (Node,
 * Deno) `TextEncoder.encode` costs about 1.2 µs however short the string, `encodeInto`
 * 50-120 ns (docs/PERFORMANCE.md, "String keys and values"). A short key of ASCII
 * characters only (the common case) is stored by a loop, which is as fast as `encodeInto`
 * in Node and Bun and twice as fast in Deno; any other character, and any longer key, goes
 * to `encodeInto`. The result is a view kept per length for keys up to VIEWS_BYTES_MAX, not
 * a new view each read (docs/PERFORMANCE.md, "getString: no view made per read").
 *
 * Invariant: the bytes handed out are valid until the next `encode`, and the same view
 * object is handed out again for the next key of the same length. That is safe only for
 * reads that keep no reference to their key once they return (ReadContext.lookup), on the
 * one thread that owns this handle; writes and scans keep their keys and encode their own.
 */
import { KEY_BYTES_MAX } from "../core/core.ts";

const encoder = new TextEncoder();
/** Keys up to this many bytes come back as a view kept per length (and are tried as ASCII first). */
const VIEWS_BYTES_MAX = Math.min(256, KEY_BYTES_MAX);

export class ReadKey {
  /** Room for the largest key and one more UTF-8 sequence: a longer key does not fit whole. */
  readonly #buffer = new Uint8Array(KEY_BYTES_MAX + 4);
  /** `#buffer.subarray(0, n)` by n, made on first use (the array sized at once: a sparse one could become a dictionary). */
  readonly #views: (Uint8Array | undefined)[] = new Array(VIEWS_BYTES_MAX + 1);

  /**
   * `key`'s UTF-8 bytes, a view of this buffer, or undefined beyond KEY_BYTES_MAX (the
   * caller's general key check then reports the key's size).
   */
  encode(key: string): Uint8Array | undefined {
    const buffer = this.#buffer;
    const n = key.length;
    if (n <= VIEWS_BYTES_MAX && asciiInto(key, buffer)) return (this.#views[n] ??= buffer.subarray(0, n));
    const { read, written } = encoder.encodeInto(key, buffer);
    if (read < n || written > KEY_BYTES_MAX) return undefined;
    return written <= VIEWS_BYTES_MAX ? (this.#views[written] ??= buffer.subarray(0, written)) : buffer.subarray(0, written);
  }
}

/** Stores `text` into `out` if every character is ASCII (its UTF-8 is then one byte each); false at the first one that is not. */
function asciiInto(text: string, out: Uint8Array): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return false;
    out[i] = c;
  }
  return true;
}
