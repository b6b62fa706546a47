/**
 * PartitionLog: a shard's own log partition, written synchronously by the shard's actor.
 *
 * Same files and format as every shardline log (docs/wal-format.md), but no ring and no
 * durability worker: the actor frames its group of records, writes them with one writev,
 * and calls `sync` once for the group (strict group commit: nothing is acknowledged before
 * that sync returns). Recovery is the log's own (src/wal/recovery.ts).
 *
 * Invariants: records are appended in LSN order at the segment writer's data end; a
 * failed write or sync propagates (the actor then fails the database: fail-stop).
 * Threads: the actor that owns the shard (or the opener during recovery).
 */
import type { Core } from "../core/core.ts";
import type { Platform } from "../platform.ts";
import { recordBytes, RECORD_HEADER_BYTES, RECORD_TYPE_FULL } from "../wal/format.ts";
import { recoverLog, type RecoveredLog } from "../wal/recovery.ts";
import { trimSegments } from "../wal/segment-files.ts";
import { SegmentWriter } from "../wal/segment-writer.ts";

export interface PartitionLogOptions {
  segmentBytesMax: number;
  /** Most bytes written between two syncs (recorded in segment headers for recovery). */
  syncBytesMax: number;
}

export class PartitionLog {
  #writer: SegmentWriter;

  private constructor(
    private readonly core: Core,
    private readonly platform: Platform,
    readonly dir: string,
    readonly salt: number,
    writer: SegmentWriter,
  ) {
    this.#writer = writer;
  }

  /** Opens the partition in `dir` from its recovered state (recovery already ran). */
  static open(core: Core, platform: Platform, dir: string, recovered: RecoveredLog, options: PartitionLogOptions): PartitionLog {
    const writer = SegmentWriter.open(
      platform,
      core,
      { dir, salt: recovered.salt, segmentBytesMax: options.segmentBytesMax, syncBytesMax: options.syncBytesMax },
      recovered.last,
      { number: (recovered.last?.number ?? 0) + 1, firstLsn: recovered.nextLsn },
    );
    return new PartitionLog(core, platform, dir, recovered.salt, writer);
  }

  /** Recovers the partition in `dir` (creating it if missing). */
  static recover(core: Core, platform: Platform, dir: string, salvage: boolean): RecoveredLog {
    platform.mkdir(dir, { recursive: true });
    return recoverLog(core, platform, dir, { salvage });
  }

  get nextLsn(): number {
    return this.#writer.nextLsn;
  }

  /** Frames and writes `payloads` as records (not yet synced); returns their LSNs. */
  append(payloads: readonly Uint8Array[]): number[] {
    const lsns: number[] = [];
    let pending: Uint8Array[] = [];
    let pendingBytes = 0;
    const flushPending = () => {
      if (pendingBytes > 0) this.#writer.write(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
    };
    for (const payload of payloads) {
      const size = recordBytes(payload.length);
      if (pendingBytes + size > this.#writer.roomBytes) {
        flushPending();
        if (size > this.#writer.roomBytes) this.#writer.rotate();
      }
      const lsn = this.#writer.nextLsn + pendingBytes;
      pending.push(this.#frame(lsn, payload));
      pendingBytes += size;
      lsns.push(lsn);
    }
    flushPending();
    return lsns;
  }

  /** One fdatasync for everything appended so far. */
  sync(): void {
    this.#writer.sync();
  }

  /** Deletes whole segments whose records all lie below `lsn` (never the current one). */
  trimBefore(lsn: number): number {
    return trimSegments(this.platform, this.dir, lsn).removed;
  }

  close(): void {
    this.#writer.close();
  }

  /** One record in the log format: header checksum bound to this LSN and salt, payload checksum, padding. */
  #frame(lsn: number, payload: Uint8Array): Uint8Array {
    const bytes = new Uint8Array(recordBytes(payload.length));
    const view = new DataView(bytes.buffer);
    const word = ((RECORD_TYPE_FULL << 24) | payload.length) >>> 0;
    const payloadCrc = this.core.crc32c(payload);
    view.setUint32(0, this.core.exports.walHeaderCrc(this.salt, BigInt(lsn), word, payloadCrc) >>> 0, true);
    view.setUint32(4, word, true);
    view.setUint32(8, payloadCrc, true);
    bytes.set(payload, RECORD_HEADER_BYTES);
    return bytes;
  }
}
