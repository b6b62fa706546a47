/**
 * Recovery's replay (step 5 of open.ts): every operation the logs hold beyond their
 * checkpoints and above its shard's replay floor goes into its shard's memtable, with its
 * commit timestamp and seq 0 (it came from a durable log: visible to every snapshot).
 *
 * Streaming: the logs are read once, in LSN order (the group WAL, then each legacy
 * partition log, src/engine/partition-log.ts), a buffer at a time (src/wal/record-runs.ts),
 * and nothing per record or operation is kept: memory is the read buffer, the memtables
 * and one pending index per shard (a block of a memtable's size, of which replay touches
 * 16 bytes per version it holds; freed at the end, where later memtables reuse it),
 * however long the logs are. The per-operation work is in the core (assembly/replay.ts):
 * it checks each record as decodeRecord does, skips what is at or below the floor, and
 * creates the version in the shard's active memtable; a shard's versions are linked into
 * its skip list in (key, ts) order in one pass before its memtable is frozen and at the
 * end. The memtable orders versions by (key, ts) whatever the insertion order, so no sort
 * by timestamp is needed: replay order only matters for the checkpoints and the floor.
 *
 * Checkpoints. A long replay fills memtables; the opener then freezes them, and with
 * FROZEN_MAX frozen flushes the oldest to a table (flush.ts), which moves the checkpoints.
 * A flush must not move a log's checkpoint past a record that is not yet in a memtable: the
 * next recovery would skip it. Streaming makes the cap simple: a flush happens only when a
 * memtable is full while the record at LSN L of source log k is being inserted, and then
 * every record of k below L is in some memtable, and noted there (minGroupLsn,
 * partitionMins; `noteAll` runs before every freeze) — so the checkpoint rule of
 * memtables.ts covers it — while L and everything after it is not. So each checkpoint is
 * capped (`cap`): k's at L, the logs after k at their starting checkpoints, the logs before
 * k not at all. For k itself the notes already imply the cap (the memtable just frozen holds
 * a record of k below L); for the logs after k they do not: no memtable holds any of their
 * records yet, so without the cap a flush during the group WAL's replay moved a legacy
 * partition log's checkpoint to its end (tests/engine/replay-stream.test.ts). A record
 * whose operations straddle the flush (a batch across shards) is replayed again next time:
 * harmless, a version is identified by (key, ts).
 *
 * Replay floor (ENGINE.md, "The tombstone rule"; memtables.ts). Versions are inserted in
 * LSN order, not timestamp order: two writers can log their records in the opposite order
 * of their timestamps, and a legacy partition log interleaves with the group WAL. A flush
 * during replay must not raise a shard's floor above a timestamp not yet inserted (the next
 * replay would skip it as "in a table"). Each shard's floor is therefore held at its value
 * in the manifest for the whole replay (`holdTs(shard, floor + 1)`): every operation still
 * to insert has a ts above that value, since those at or below it are skipped, so holding
 * it there is always safe; it rises again when the actor flushes the memtables replay
 * filled. (The memtables replay creates also have startTs 0: the commit counters are raised
 * only after replay, open.ts step 6; `noteTs` keeps startTs right if that ever changes.)
 *
 * Threads: the opening thread. Nothing else of the database runs until replay is done.
 */
import type { Core } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import { readRecordRuns } from "../wal/record-runs.ts";
import { type FlushEnv, flushShard, partitionDir } from "./flush.ts";
import { RECORD_BYTES_MAX, RECORD_HEADER_BYTES, recordBytes } from "../wal/format.ts";
import { BatchAssembler } from "./batch-assembler.ts";
import { decodeRecord, KIND_COMMIT } from "./records.ts";

export interface Replayed {
  records: number;
  operations: number;
  /** The highest commit timestamp read, per shard (0n if none). */
  maxTs: bigint[];
  /** The first fragment's LSN of a large batch the group WAL holds fragments of but not (up to its end) the commit. */
  groupPendingFrom: number | undefined;
}

/** A live reader's append (src/engine/open-read-only.ts): more of the group WAL into a view's memtables. */
export interface ReplayAppend {
  /** Read the group WAL from here (no partition log). */
  fromLsn: number;
}

/** Statuses of the core's replayRun / replayRecord (assembly/replay.ts). */
export const ReplayStatus = { DONE: 0, FULL: 1, NOT_ENGINE_RECORD: 2, BAD_SHARD: 3, TOO_LARGE: 4, NO_ROOM: 5, MEMTABLE_CHANGED: 6, NO_INDEX: 7, BATCH_RECORD: 8 } as const;

/** ReplayState layout (assembly/replay.ts). */
const STATE_BYTES = 64;
const SHARD_BYTES = 64;
const INDEX_ENTRY_BYTES = 16;
const S = { RESUME: 4, STOP_SHARD: 12, STOP_LSN: 16, STOP_OFFSET: 24, STOP_DETAIL: 28, RECORDS: 32, OPERATIONS: 40, FROM_LSN: 48 } as const;
const H = { FLOOR_TS: 0, MAX_TS: 8, MIN_TS: 16, MIN_LSN: 24, MT: 32, INDEX: 36, CAPACITY: 40, PENDING: 44, SEQ: 56 } as const;
/** A pending index when one of a memtable's size cannot be had (the scanner buffer's size class). */
const SMALL_INDEX_BYTES = 1 << 20;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
/** ReplayState.seq: each version takes its record's LSN. */
const SEQ_FROM_LSN = U64_MAX;

interface Source {
  /** -1: the group WAL; s: shard s's partition log. */
  source: number;
  dir: string;
  from: number;
}

/**
 * Replays both kinds of logs from their checkpoints into the memtables; flushes (with capped
 * checkpoints) when they fill. The group WAL is read up to `groupEndLsn` (exclusive; a live
 * reader's durable mark, src/engine/live-reader.ts), or to its end.
 */
export function replay(env: FlushEnv, shards: number, groupEndLsn = Infinity, append?: ReplayAppend): Replayed {
  const { core, dir, memtables } = env;
  const sources: Source[] = [{ source: -1, dir: `${dir}/wal`, from: append?.fromLsn ?? env.manifest.groupCheckpoint }];
  if (!append) for (let shard = 0; shard < shards; shard++) sources.push({ source: shard, dir: partitionDir(dir, shard), from: env.manifest.partitionCheckpoints[shard] });
  let groupPendingFrom: number | undefined;
  const floors = env.manifest.replayFloorTs.map(BigInt);

  // Where replay is: sources[current], inserting the record at `lsn`.
  const at = { current: 0, lsn: sources[0].from };
  const cap = (source: number, limit: number): number => {
    const i = source + 1;
    if (i < at.current) return limit;
    return Math.min(limit, i === at.current ? at.lsn : sources[i].from);
  };
  const { groupDurable, partitionEnds } = env;
  const capped: FlushEnv = {
    ...env,
    groupDurable: () => cap(-1, groupDurable()),
    partitionEnds: () => partitionEnds().map((end, partition) => cap(partition, end)),
  };

  const state = new ReplayState(core, shards, floors, memtables.memtableBytes);
  // Appended versions take their record's LSN as seq: the view's older snapshots do not see them.
  const seqMode = append ? SEQ_FROM_LSN : 0n;
  state.seq = seqMode;
  for (let shard = 0; shard < shards; shard++) memtables.holdTs(shard, floors[shard] + 1n);
  try {
    for (; at.current < sources.length; at.current++) {
      const { source, dir: logDir, from } = sources[at.current];
      at.lsn = from;
      state.fromLsn = from;
      const batches = new BatchAssembler(from);
      /** Handles why the core stopped; true when the record it stopped at is done with (a large batch's). */
      const onStop = (status: number, payloadAt: (offset: number) => { address: number; length: number }): boolean => {
        const lsn = state.stopLsn;
        switch (status) {
          case ReplayStatus.FULL: {
            // Every record of this log below `lsn` is in a memtable; `lsn` may be in part,
            // and so may a large batch whose fragments were read and commit was not.
            const shard = state.stopShard;
            at.lsn = Math.min(lsn, batches.pendingFrom ?? lsn);
            core.exports.replayLink(state.address, shard);
            state.noteAll(source, memtables);
            memtables.freeze(shard, (s) => flushShard(capped, s));
            return false;
          }
          case ReplayStatus.NO_INDEX:
            state.allocateIndex(state.stopShard);
            return false;
          case ReplayStatus.BATCH_RECORD: {
            const { address, length } = payloadAt(state.stopOffset);
            let records: Uint8Array[];
            try {
              records = batches.add(lsn, core.u8.subarray(address, address + length));
            } catch (error) {
              throw new CorruptionError(`log ${logDir}: record at LSN ${lsn}: ${(error as Error).message}`, logDir);
            }
            // A committed batch: its versions as if logged at its first fragment (where a
            // flush while inserting them caps the checkpoint).
            if (records.length > 0) {
              // Appended: the batch's versions take its commit record's LSN (as the actor's do).
              if (append) state.seq = BigInt(lsn);
              replayBatch(core, state, records, decodeCommitFirstLsn(core.u8.subarray(address, address + length)), onStop);
              state.seq = seqMode;
            }
            return true;
          }
          case ReplayStatus.NOT_ENGINE_RECORD: {
            const { address, length } = payloadAt(state.stopOffset);
            let why = "the core's check and decodeRecord disagree";
            try {
              decodeRecord(core.copyOut(address, length));
            } catch (error) {
              why = (error as Error).message;
            }
            throw new CorruptionError(`log ${logDir}: record at LSN ${lsn} is not an engine record: ${why}`, logDir);
          }
          case ReplayStatus.BAD_SHARD:
            throw new CorruptionError(`log ${logDir}: record at LSN ${lsn} names shard ${state.stopShard} of ${shards}`, logDir);
          case ReplayStatus.TOO_LARGE:
            throw new CorruptionError(`log ${logDir}: record at LSN ${lsn} holds a key or value of ${state.stopDetail} bytes, beyond the core's limits`, logDir);
          case ReplayStatus.NO_ROOM:
            throw new RangeError(
              `log ${logDir}: the record at LSN ${lsn} holds an operation larger than an empty memtable of ${memtables.memtableBytes} bytes; open with a larger memtableBytesMax`,
            );
          default:
            throw new Error(`replay: the core stopped with status ${status} at LSN ${lsn} of ${logDir}`);
        }
      };
      // A log directory that is not there holds no records: a read-only view of a database
      // whose writer wrote its MANIFEST and had not made (or was killed before making) wal/
      // and shard-NNN/ (a writer's open makes them before it replays).
      // An append needs the records from its LSN on (readRecordRuns throws LogTrimmedError).
      const runs = append !== undefined || env.platform.stat(logDir)?.isDirectory ? readRecordRuns(core, env.platform, logDir, from, source === -1 ? groupEndLsn : Infinity, append !== undefined) : [];
      for (const run of runs) {
        if (run.kind === "run") {
          const runAt = (offset: number) => ({ address: run.address + offset + RECORD_HEADER_BYTES, length: core.u32[(run.address + offset + 4) >>> 2] & 0xffffff });
          for (let start = 0; ;) {
            const status = core.exports.replayRun(state.address, run.address, run.bytes, BigInt(run.lsn), start);
            if (status === ReplayStatus.DONE) break;
            const offset = state.stopOffset;
            start = onStop(status, runAt) ? offset + recordBytes(runAt(offset).length) : offset;
          }
        } else {
          for (;;) {
            const status = core.exports.replayRecord(state.address, run.address, run.length, BigInt(run.lsn));
            if (status === ReplayStatus.DONE || onStop(status, () => ({ address: run.address, length: run.length }))) break;
          }
        }
      }
      // The log is done: what it put in memtables is noted before the next one starts
      // (the notes say which log a version came from).
      state.noteAll(source, memtables);
      if (source === -1) groupPendingFrom = batches.pendingFrom;
    }
    for (let shard = 0; shard < shards; shard++) core.exports.replayLink(state.address, shard);
    env.manifest = capped.manifest;
    return { records: state.records, operations: state.operations, maxTs: Array.from({ length: shards }, (_, shard) => state.maxTs(shard)), groupPendingFrom };
  } finally {
    for (let shard = 0; shard < shards; shard++) memtables.holdTs(shard, undefined);
    state.free();
  }
}

/**
 * Replays a committed large batch's records (operations records, timestamps filled in) as
 * if logged at `lsn`, its first fragment's: each is copied into shared memory for the core,
 * into a block of RECORD_BYTES_MAX (a record is never larger): one size for every batch,
 * given back after it (the core's free list serves it to any later size).
 */
function replayBatch(core: Core, state: ReplayState, records: Uint8Array[], lsn: number, onStop: (status: number, payloadAt: () => { address: number; length: number }) => boolean): void {
  let longest = 0;
  for (const record of records) if (record.length > longest) longest = record.length;
  const bytes = Math.max(RECORD_BYTES_MAX, (longest + 63) & ~63);
  const address = core.exports.coreAlloc(bytes) >>> 0;
  if (address < 64) throw new RangeError("no shared memory left to replay a large batch");
  try {
    for (const record of records) {
      core.u8.set(record, address);
      for (;;) {
        const status = core.exports.replayRecord(state.address, address, record.length, BigInt(lsn));
        if (status === ReplayStatus.DONE || onStop(status, () => ({ address, length: record.length }))) break;
      }
    }
  } finally {
    core.exports.coreFree(address, bytes);
  }
}

/** The first fragment's LSN a commit record names. */
function decodeCommitFirstLsn(payload: Uint8Array): number {
  const record = decodeRecord(payload);
  if (record.kind !== KIND_COMMIT) throw new Error("not a batch commit record");
  return record.firstFragmentLsn;
}

/**
 * The core's ReplayState for one replay (assembly/replay.ts), and the shards' pending
 * indexes (of `indexBytes` each: a memtable's size; tests/core/replay.test.ts gives smaller
 * ones). Exported for that test.
 */
export class ReplayState {
  readonly address: number;
  #indexes: Array<{ address: number; bytes: number }> = [];

  constructor(
    private readonly core: Core,
    private readonly shards: number,
    floors: bigint[],
    private readonly indexBytes: number,
  ) {
    // Permanent (bump) memory: once per open, never given back. Its size is the core's
    // (shard records for SHARDS_MAX shards, then the sort's and buildList's scratch), so the
    // scratch layout has one source.
    const stateBytes = core.exports.replayStateBytes() >>> 0;
    const address = core.exports.coreAllocPermanent(stateBytes, 64) >>> 0;
    if (address < 64) throw new RangeError("no shared memory left for recovery's replay state");
    this.address = address;
    core.u8.fill(0, address, address + stateBytes);
    core.u32[address >>> 2] = shards;
    for (let shard = 0; shard < shards; shard++) {
      this.#set64(shard, H.FLOOR_TS, floors[shard]);
      this.#set64(shard, H.MIN_TS, U64_MAX);
      this.#set64(shard, H.MIN_LSN, U64_MAX);
    }
  }

  #shard(shard: number): number {
    return this.address + STATE_BYTES + shard * SHARD_BYTES;
  }
  #get64(shard: number, field: number): bigint {
    return this.core.u64[(this.#shard(shard) + field) >>> 3];
  }
  #set64(shard: number, field: number, value: bigint): void {
    this.core.u64[(this.#shard(shard) + field) >>> 3] = value;
  }
  #u32(at: number): number {
    return this.core.u32[(this.address + at) >>> 2];
  }

  /** The seq of the versions created from now on, in every shard: 0n, SEQ_FROM_LSN, or a value (assembly/replay.ts, H_SEQ). */
  set seq(value: bigint) {
    for (let shard = 0; shard < this.shards; shard++) this.#set64(shard, H.SEQ, value);
  }

  set fromLsn(lsn: number) {
    this.core.u64[(this.address + S.FROM_LSN) >>> 3] = BigInt(lsn);
    this.core.u32[(this.address + S.RESUME) >>> 2] = 0;
  }
  get stopLsn(): number {
    return Number(this.core.u64[(this.address + S.STOP_LSN) >>> 3]);
  }
  get stopShard(): number {
    return this.#u32(S.STOP_SHARD);
  }
  get stopOffset(): number {
    return this.#u32(S.STOP_OFFSET);
  }
  get stopDetail(): number {
    return this.#u32(S.STOP_DETAIL);
  }
  get records(): number {
    return Number(this.core.u64[(this.address + S.RECORDS) >>> 3]);
  }
  get operations(): number {
    return Number(this.core.u64[(this.address + S.OPERATIONS) >>> 3]);
  }
  /** Versions whose (key, ts) their memtable held already when they were linked. */
  get duplicates(): number {
    return Number(this.core.u64[(this.address + 56) >>> 3]);
  }
  maxTs(shard: number): bigint {
    return this.#get64(shard, H.MAX_TS);
  }

  /**
   * Notes, in each memtable replay created versions in since the last call, the lowest LSN
   * of `source` they came from (for the checkpoints) and their lowest ts (its startTs).
   */
  noteAll(source: number, memtables: FlushEnv["memtables"]): void {
    for (let shard = 0; shard < this.shards; shard++) {
      const minLsn = this.#get64(shard, H.MIN_LSN);
      if (minLsn === U64_MAX) continue;
      const mt = this.core.u32[(this.#shard(shard) + H.MT) >>> 2];
      if (source < 0) this.core.exports.memtableNoteGroupLsn(mt, Number(minLsn));
      else memtables.notePartitionLsn(mt, source, Number(minLsn));
      memtables.noteTs(mt, this.#get64(shard, H.MIN_TS));
      this.#set64(shard, H.MIN_LSN, U64_MAX);
      this.#set64(shard, H.MIN_TS, U64_MAX);
    }
  }

  /**
   * Gives `shard` its pending index: a block of `indexBytes` (a memtable's size) of
   * 16-byte entries, sorted in place (a version takes at least 40 bytes of arena, its
   * entry 16, so the index never fills before the memtable; replay touches only the
   * entries it writes, and the block, freed, serves as a memtable arena later), or a small
   * one when that cannot be had.
   */
  allocateIndex(shard: number): void {
    const e = this.core.exports;
    let bytes = this.indexBytes;
    let address = e.coreAlloc(bytes) >>> 0;
    if (address < 64) {
      bytes = SMALL_INDEX_BYTES;
      address = e.coreAlloc(bytes) >>> 0;
      if (address < 64) throw new RangeError("no shared memory left for recovery's replay index");
    }
    this.#indexes.push({ address, bytes });
    const h = this.#shard(shard);
    this.core.u32[(h + H.INDEX) >>> 2] = address;
    this.core.u32[(h + H.CAPACITY) >>> 2] = Math.floor(bytes / INDEX_ENTRY_BYTES);
    this.core.u32[(h + H.PENDING) >>> 2] = 0;
  }

  free(): void {
    const e = this.core.exports;
    for (const { address, bytes } of this.#indexes.splice(0)) e.coreFree(address, bytes);
  }
}
