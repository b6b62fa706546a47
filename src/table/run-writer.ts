/**
 * RunWriter: one sorted run of entries (key ascending, then ts descending) written as
 * tables numbered from `firstNumber` on. One table, unless it would pass a table's limits
 * (TableWriter.full: TABLE_KEYS_MAX keys, INDEX_BLOCK_BYTES_MAX of index); then the next
 * table starts at a key boundary, so every version of a key is in one table and the
 * tables' key ranges are disjoint. Flushes and merges both write through it: a flush wrote
 * one table whatever its size, and a memtable holding more than a table may (a large
 * batch's of 32,400 keys of 2 KiB) failed the database (review, 2026-12-06).
 *
 * Invariants: `add` takes entries in order (TableWriter checks it); `lastKey` stays valid
 * until the next `add` (callers pass keys that outlive the call: copies, or views of a
 * frozen memtable). `abort` removes the tables already finished, so that their numbers are
 * free again, and the one being written.
 * Threads: the thread writing the run (the actor, or an open's replay).
 */
import type { Core } from "../core/core.ts";
import { type Platform, unlinkIfPresent } from "../platform.ts";
import type { TableMeta } from "./format.ts";
import { compareKeys } from "./key-order.ts";
import { TableWriter, type TableWriterOptions } from "./table-writer.ts";

export class RunWriter {
  readonly #done: Array<{ number: number; meta: TableMeta }> = [];
  #writer: TableWriter | undefined;
  #lastKey: Uint8Array | undefined;
  #finished = false;

  constructor(
    private readonly platform: Platform,
    private readonly core: Core,
    /** The path of table `number`. */
    private readonly pathOf: (number: number) => string,
    private readonly firstNumber: number,
    private readonly options: TableWriterOptions = {},
  ) {}

  add(key: Uint8Array, ts: bigint, seq: bigint, value: Uint8Array | undefined): void {
    if (this.#writer?.full && compareKeys(key, this.#lastKey!) !== 0) {
      this.#done.push({ number: this.#nextNumber(), meta: this.#writer.finish() });
      this.#writer = undefined;
    }
    this.#writer ??= TableWriter.create(this.platform, this.core, this.pathOf(this.#nextNumber()), this.options);
    this.#writer.add(key, ts, seq, value);
    this.#lastKey = key;
  }

  /** The tables written, in key order (none if no entry was added). */
  finish(): Array<{ number: number; meta: TableMeta }> {
    if (this.#writer) this.#done.push({ number: this.#nextNumber(), meta: this.#writer.finish() });
    this.#writer = undefined;
    this.#finished = true;
    return this.#done;
  }

  /** Removes what was written. No-op after finish. */
  abort(): void {
    if (this.#finished) return;
    this.#writer?.abort();
    this.#writer = undefined;
    for (const { number } of this.#done.splice(0)) unlinkIfPresent(this.platform, this.pathOf(number));
  }

  #nextNumber(): number {
    return this.firstNumber + this.#done.length;
  }
}
