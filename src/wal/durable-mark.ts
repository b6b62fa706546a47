/**
 * Durable mark: a log's durable LSN, published in a small file so that processes other than
 * the writer (live read-only handles, src/engine/live-reader.ts) can tell which records are
 * durable without seeing the writer's shared memory. They read the log only below it: a
 * record past it may be written and not yet synced, or torn.
 *
 * Layout (32 bytes, little-endian, rewritten in place at offset 0):
 *
 *   0        4          8                16                 24         32
 *   +--------+----------+----------------+------------------+----------+
 *   | "SLDM" | format 1 | durableLsn u64 | ~durableLsn u64  | zero u64 |
 *   +--------+----------+----------------+------------------+----------+
 *
 * The complement is the checksum: a read that races a rewrite sees bytes of the old and the
 * new mark split at one offset, which either leaves the two fields disagreeing (the reader
 * reads again) or equals a whole old or new mark (both were true).
 *
 * Invariants: the writer stores an LSN only after the fdatasync that made every record below
 * it durable returned (src/wal/durability-worker.ts), and LSNs only grow within one writer's
 * life; the file itself is synced only when a writer's first mark is lower than the one it
 * found (a salvage cut the log below it): otherwise a power loss could bring the higher mark
 * back over a log that no longer reaches it, and recovery, which treats valid records ending
 * below the mark as corruption (docs/wal-format.md R8), would refuse the log. After a power
 * loss every reader is gone too, and the next writer publishes its own mark (after syncing
 * what it recovered) before any write.
 * A mark may be behind the log (never ahead of what was durable when it was stored).
 * Threads: written by the durability worker only; read by any thread of any process.
 */
import { CorruptionError } from "../errors.ts";
import type { FileHandle, Platform } from "../platform.ts";
import { hasErrorCode } from "../platform.ts";
import { LSN_LIMIT } from "./format.ts";

export const DURABLE_MARK_BYTES = 32;
const MAGIC = 0x4d44_4c53; // "SLDM"
const FORMAT = 1;
const READ_ATTEMPTS = 8;

export function encodeDurableMark(lsn: number): Uint8Array {
  const bytes = new Uint8Array(DURABLE_MARK_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, FORMAT, true);
  view.setBigUint64(8, BigInt(lsn), true);
  view.setBigUint64(16, ~BigInt(lsn) & 0xffff_ffff_ffff_ffffn, true);
  return bytes;
}

/** The LSN a whole mark holds, or undefined for anything else (torn, short, another format). */
export function decodeDurableMark(bytes: Uint8Array): number | undefined {
  if (bytes.length < DURABLE_MARK_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, DURABLE_MARK_BYTES);
  if (view.getUint32(0, true) !== MAGIC || view.getUint32(4, true) !== FORMAT) return undefined;
  const lsn = view.getBigUint64(8, true);
  if ((~view.getBigUint64(16, true) & 0xffff_ffff_ffff_ffffn) !== lsn) return undefined;
  return Number(lsn);
}

/** The writer's side: one open file, rewritten in place. */
export class DurableMarkWriter {
  readonly #file: FileHandle;
  #published = -1;

  constructor(platform: Platform, readonly path: string) {
    this.#file = platform.open(path, "create");
  }

  /** Stores `lsn` (call only once every record below it is synced); a failed write throws. */
  publish(lsn: number): void {
    if (lsn === this.#published) return;
    if (lsn < this.#published) throw new RangeError(`durable mark ${this.path}: LSN ${lsn} is below the ${this.#published} already published`);
    this.#file.write(encodeDurableMark(lsn), 0);
    this.#published = lsn;
  }

  /** fdatasync of the mark (a writer lowering the mark it found: see the header). */
  sync(): void {
    this.#file.datasync();
  }

  close(): void {
    this.#file.close();
  }
}

/**
 * The mark in `path`: its LSN, or undefined when there is no such file (no writer of this
 * format has run) or it never reads whole (READ_ATTEMPTS reads, each racing a rewrite).
 * A whole mark no writer can store (an LSN at or past LSN_LIMIT, or not a multiple of 8)
 * is CorruptionError: taken as the log's floor, it failed opens with the core's RangeError
 * (review of open, 2026-12-07).
 */
export function readDurableMark(platform: Platform, path: string): number | undefined {
  let file: FileHandle;
  try {
    file = platform.open(path, "read");
  } catch (error) {
    if (hasErrorCode(error, "ENOENT")) return undefined;
    throw error;
  }
  try {
    const bytes = new Uint8Array(DURABLE_MARK_BYTES);
    for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
      if (file.read(bytes, 0) !== DURABLE_MARK_BYTES) return undefined;
      const lsn = decodeDurableMark(bytes);
      if (lsn === undefined) continue;
      if (lsn >= LSN_LIMIT || lsn % 8 !== 0) throw new CorruptionError(`durable mark ${path} holds LSN ${lsn}, which no log reaches (LSNs are multiples of 8 below 2^53)`, path);
      return lsn;
    }
    return undefined;
  } finally {
    file.close();
  }
}
