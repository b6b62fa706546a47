/**
 * The operations the database's logs still hold: the group WAL from its checkpoint and each
 * shard's partition log from its own, decoded (engine records, src/engine/records.ts; a large
 * batch's operations at its commit record, src/engine/batch-assembler.ts).
 * Used by recovery's replay (open.ts) and by change feeds replaying `from` a timestamp.
 *
 * Threads: any thread of the database (it reads files with its own handles); the caller
 * makes sure the part it needs is durable before reading.
 */
import type { Core } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { readRecords } from "../wal/read-records.ts";
import { partitionDir } from "./flush.ts";
import type { ManifestData } from "./manifest.ts";
import { BatchAssembler } from "./batch-assembler.ts";
import { decodeRecord, KIND_OPERATIONS, type Operation } from "./records.ts";

export interface LoggedOperation {
  op: Operation;
  /** -1 for the group WAL, else the partition (shard) number. */
  source: number;
  lsn: number;
}

/** Log records read (markers included) and their operations, in log order per source. */
export function* loggedOperations(core: Core, platform: Platform, dir: string, manifest: ManifestData, shards: number, count?: { records: number }): Generator<LoggedOperation> {
  const sources: Array<[number, string, number]> = [[-1, `${dir}/wal`, manifest.groupCheckpoint]];
  for (let shard = 0; shard < shards; shard++) sources.push([shard, partitionDir(dir, shard), manifest.partitionCheckpoints[shard]]);
  for (const [source, logDir, from] of sources) {
    // A log directory that is not there holds nothing (open makes them before it replays;
    // doctor reads a directory as it is).
    if (!platform.stat(logDir)?.isDirectory) continue;
    const batches = new BatchAssembler(from);
    for (const { lsn, payload } of readRecords(core, platform, logDir, from)) {
      let records;
      try {
        records = batches.add(lsn, payload).map(decodeRecord);
      } catch (error) {
        throw new CorruptionError(`log ${logDir}: record at LSN ${lsn} is not an engine record: ${(error as Error).message}`, logDir);
      }
      if (count) count.records++;
      for (const record of records) {
        if (record.kind !== KIND_OPERATIONS) continue;
        for (const op of record.ops) {
          if (op.shard >= shards) throw new CorruptionError(`log ${logDir}: record at LSN ${lsn} names shard ${op.shard} of ${shards}`, logDir);
          yield { op, source, lsn };
        }
      }
    }
  }
}
