/**
 * MemtableManager: the owner's side of every shard's memtables: creating, freezing,
 * flushing to table files, and reusing their arenas once no reader can hold them.
 *
 * Freeze (shard): store FROZEN in the active memtable and install a fresh one as active
 * (one seqlock section in the core: shardRotateActive). Fast-path writers still inside the
 * old one finish there (assembly/engine.ts explains why none can be lost); its flush waits
 * for them to leave.
 * Flush (oldest frozen memtable of a shard): write its versions, minus those no snapshot
 * can see (version-gc.ts), to a table; wait until the group WAL is durable beyond its
 * newest version's seq (a MANIFEST never names a table holding what a crash could take from
 * the log; a table it does not name is an orphan open removes); record the table and the
 * new checkpoints in the manifest; bump the shared manifest generation; only then drop the
 * memtable from the shard's list and retire its arena (epoch-based reclamation,
 * assembly/epoch.ts).
 *
 * Replay floor of a shard (manifest.ts): every memtable notes `startTs`, a timestamp below
 * every version it holds. create() reads the shard's commit counter before the memtable
 * becomes active, and a fast-path writer announces itself in the active memtable before it
 * takes its timestamp (assembly/engine.ts), so its versions are above the counter read; the
 * owner, which takes timestamps before it knows which memtable an operation lands in,
 * lowers startTs when it inserts (noteTs) and holds the floor below timestamps it has taken
 * but not inserted yet (holdTs). So a version of the shard with ts <= the minimum startTs of
 * its unflushed memtables (and held timestamps) is in no unflushed memtable: it is in a
 * table, since memtables are flushed oldest first.
 *
 * Checkpoints (what recovery need not replay): the group WAL's is the minimum of the
 * durable LSN (read first) and every unflushed memtable's minGroupLsn; a record below it
 * was published, so its memtable had noted its LSN before that, so that memtable is
 * flushed. A partition's is the minimum partition LSN any unflushed memtable took from it,
 * or the partition's end.
 *
 * Threads: the database's owner only (the actor; the opener during recovery).
 */
import type { Core } from "../core/core.ts";
import { STATUS_LIMIT } from "../core/core.ts";
import { MemoryFullError } from "../errors.ts";
import { Memtable, NODE_HEIGHT, NODE_KEY_LENGTH, NODE_LINKS, NODE_SEQ, NODE_VALUE_LENGTH, VALUE_TOMBSTONE } from "../core/memtable.ts";
import type { Platform } from "../platform.ts";
import { RunWriter } from "../table/run-writer.ts";
import type { TableWriterOptions } from "../table/table-writer.ts";
import { type ManifestData, runRecords, type TableRecord, tableFileName } from "./manifest.ts";
import type { EngineShared } from "./shared-state.ts";
import { type Version, versionsToKeep } from "./version-gc.ts";

/** Most frozen memtables per shard (assembly/shard.ts FROZEN_MAX). */
export const FROZEN_MAX = 8;
const U64_MAX_AS_NUMBER = 1.8e19;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

export interface MemtableInfo {
  shard: number;
  /** Lowest LSN taken from each partition log (by partition) by versions in this memtable. */
  partitionMins: Map<number, number>;
  /** Every version in this memtable has a ts above this (the header); undefined: unknown, no bound. */
  startTs?: bigint;
}

/** A version on its way from a memtable to a table (keys and values are views of the arena). */
interface FlushVersion extends Version {
  key: Uint8Array;
  seqBig: bigint;
  value: Uint8Array | undefined;
}

/** What a flush produced, for the caller to record. */
export interface FlushResult {
  shard: number;
  /** Tables written: 0 for an empty memtable, 1, or a run of several. */
  tables: number;
  entries: number;
}

export class MemtableManager {
  readonly info = new Map<number, MemtableInfo>();
  #retired: Array<{ mt: number; epoch: number }> = [];
  #heldTs = new Map<number, bigint>();

  constructor(
    private readonly core: Core,
    private readonly platform: Platform,
    private readonly dir: string,
    private readonly shared: EngineShared,
    readonly memtableBytes: number,
  ) {}

  /**
   * A new empty memtable of `bytes`: with `spare`, one reserved by reserveSpares if any is
   * left, else a reclaimed arena of that size, else fresh memory. MemoryFullError when the
   * shared memory has none.
   */
  create(shard: number, bytes = this.memtableBytes, spare = false): number {
    const address = (spare && bytes === this.memtableBytes ? this.#spares.pop() : undefined) ?? this.#allocate(bytes);
    this.info.set(address, { shard, partitionMins: new Map(), startTs: this.core.exports.shardCommitCounter(shard) });
    return address;
  }

  #allocate(bytes: number): number {
    this.reclaim();
    const address = this.core.exports.memtableCreate(bytes) >>> 0;
    if (address < STATUS_LIMIT) throw new MemoryFullError(this.dir);
    return address;
  }

  /**
   * Memtables of memtableBytes made before they are needed, in no shard's list (no reader
   * can reach them): the owner reserves them before a commit, for the freezes that commit
   * may make (actor.ts #roomFor), most of them while it holds a log record it must insert
   * under, so that those freezes find a memtable even when the memory is full; only they
   * take spares (create's `spare`). A commit needs 1 or 2 a shard it writes (more only for
   * a request larger than half a memtable): within the memory's budget (open.ts:
   * FROZEN_MAX + 3 memtables a shard).
   */
  #spares: number[] = [];

  /** Makes sure `count` spares exist; MemoryFullError (keeping those made) when the memory has no room for them. */
  reserveSpares(count: number): void {
    while (this.#spares.length < count) this.#spares.push(this.#allocate(this.memtableBytes));
  }

  /** An operation with timestamp `ts` went into `mt` (the owner's inserts): keeps startTs below it. */
  noteTs(mt: number, ts: bigint): void {
    const info = this.info.get(mt);
    if (info?.startTs !== undefined && ts <= info.startTs) info.startTs = ts - 1n;
  }

  /**
   * The owner took timestamps down to `ts` in `shard` for operations not yet inserted
   * (undefined: none any more); the replay floor stays below them meanwhile.
   */
  holdTs(shard: number, ts: bigint | undefined): void {
    if (ts === undefined) this.#heldTs.delete(shard);
    else this.#heldTs.set(shard, ts);
  }

  /**
   * The shard's replay floor computed without memtable `except`: the lowest startTs of its
   * other memtables and of the timestamps held, or 0n where a bound is unknown.
   */
  replayFloor(shard: number, except: number): bigint {
    const held = this.#heldTs.get(shard);
    let floor = held === undefined ? U64_MAX : held - 1n;
    for (const mt of this.list(shard)) {
      if (mt === except) continue;
      const startTs = this.info.get(mt)?.startTs ?? 0n;
      if (startTs < floor) floor = startTs;
    }
    return floor === U64_MAX ? 0n : floor;
  }

  /** The shard's memtables, newest (active) first. */
  list(shard: number): number[] {
    const core = this.core;
    const n = core.exports.shardMemtableList(shard);
    return Array.from({ length: n }, (_, i) => core.u32[(core.shardList >>> 2) + i]);
  }

  active(shard: number): number {
    return this.core.exports.shardActiveMemtable(shard) >>> 0;
  }

  frozenCount(shard: number): number {
    return this.list(shard).length - 1;
  }

  usedFraction(shard: number): number {
    const e = this.core.exports;
    return (e.shardMemtableBytesUsed(shard) >>> 0) / Math.max(1, e.shardMemtableCapacity(shard) >>> 0);
  }

  /**
   * Makes a fresh memtable active (with `spare`, a reserved one: create) and the old one
   * frozen. It does not wait for the fast-path writers still inside the old one: the flush
   * of that memtable does (flushOldest). Waiting here deadlocked: the actor freezes while it inserts under a
   * record it reserved in the group-WAL ring and has not published, and a writer inside
   * the old memtable may be waiting for ring space that the durability worker can free
   * only past that record.
   */
  freeze(shard: number, flushOldest: (shard: number) => void, spare = false): void {
    if (this.frozenCount(shard) >= FROZEN_MAX) flushOldest(shard);
    const next = this.create(shard, this.memtableBytes, spare);
    const old = this.active(shard);
    const e = this.core.exports;
    e.memtableFreeze(old);
    if (e.shardRotateActive(shard, next) !== 0) throw new Error(`shard ${shard}: frozen list full`);
  }

  /**
   * Puts `mt`, filled while no other thread could see it (a large batch's versions, under
   * a record not yet published), into the shard's list as its newest frozen memtable: it
   * becomes active (the old active frozen), then is frozen itself behind `fresh` (an empty
   * memtable the caller created beforehand, so that nothing here can fail for memory). Two
   * rotations, each one seqlock section that readers detect (read-context.ts, step 3b).
   * The caller made room: the frozen list has two free places.
   */
  installFrozen(shard: number, mt: number, fresh: number): void {
    if (this.frozenCount(shard) + 2 > FROZEN_MAX) throw new Error(`shard ${shard}: no room in the frozen list for a large batch's memtable`);
    const e = this.core.exports;
    for (const [old, next] of [[this.active(shard), mt], [mt, fresh]]) {
      e.memtableFreeze(old);
      if (e.shardRotateActive(shard, next) !== 0) throw new Error(`shard ${shard}: frozen list full`);
    }
  }

  /** Gives back a memtable that never was in a shard's list (no reader can be in it). */
  discard(mt: number): void {
    this.info.delete(mt);
    this.core.exports.memtableRelease(mt);
  }

  notePartitionLsn(mt: number, partition: number, lsn: number): void {
    const info = this.info.get(mt);
    if (!info) return;
    const seen = info.partitionMins.get(partition);
    if (seen === undefined || lsn < seen) info.partitionMins.set(partition, lsn);
  }

  /**
   * Adds every version in the memtable to `writer`, in (key asc, ts desc) order, minus
   * those no snapshot can see; returns the highest seq (group-WAL LSN) of any version in
   * the memtable, 0 if none has one (replayed versions carry 0). Keys and values go to the
   * writer as views of the memtable's arena, which it copies before the next one: the
   * memtable is frozen, its writers gone (flushOldest), and its arena retired only after.
   */
  #writeVersions(mt: number, writer: RunWriter): number {
    const core = this.core;
    const e = core.exports;
    const u8 = core.u8;
    const u32 = core.u32;
    const u64 = core.u64;
    const { visible, boundaries } = this.shared.gcHorizon();
    const group: FlushVersion[] = [];
    const addKept = () => {
      for (const i of versionsToKeep(group, boundaries, visible, false)) {
        const v = group[i];
        writer.add(v.key, v.ts, v.seqBig, v.value);
      }
      group.length = 0;
    };
    let maxSeq = 0;
    for (let node = e.memtableFirst(mt) >>> 0; node !== 0; node = e.memtableNext(node) >>> 0) {
      const keyLength = u8[node + NODE_KEY_LENGTH] | (u8[node + NODE_KEY_LENGTH + 1] << 8);
      const keyAt = node + NODE_LINKS + u8[node + NODE_HEIGHT] * 4;
      const valueLength = u32[(node + NODE_VALUE_LENGTH) >>> 2];
      const tombstone = valueLength === VALUE_TOMBSTONE;
      const key = u8.subarray(keyAt, keyAt + keyLength);
      if (group.length > 0 && !sameBytes(group[0].key, key)) addKept();
      const seqBig = u64[(node + NODE_SEQ) >>> 3];
      const seq = Number(seqBig);
      if (seq > maxSeq) maxSeq = seq;
      group.push({ key, ts: u64[node >>> 3], seq, seqBig, tombstone, value: tombstone ? undefined : u8.subarray(keyAt + keyLength, keyAt + keyLength + valueLength) });
    }
    if (group.length > 0) addKept();
    return maxSeq;
  }

  /**
   * Flushes the shard's oldest frozen memtable: writes its tables (none if it is empty; more
   * than one, a run, when it holds more than a table may: RunWriter), calls
   * `beforePublish(maxSeq)` with the highest seq of its versions (the caller waits there
   * until the log is durable beyond it: until then the tables are files no MANIFEST names,
   * which the next open would remove), then `publish(tables, without)` to record the tables
   * and the checkpoints computed without this memtable in the manifest, then drops and
   * retires it. Waiting after the write rather than before lets the log's sync and the
   * tables' overlap.
   */
  flushOldest(
    shard: number,
    manifest: ManifestData,
    beforePublish: (maxSeq: number) => void,
    publish: (tables: TableRecord[], flushed: number) => void,
    /** For tests: the tables' options (a smaller index limit reaches a split sooner). */
    tableOptions: TableWriterOptions = {},
  ): FlushResult {
    const list = this.list(shard);
    if (list.length < 2) return { shard, tables: 0, entries: 0 };
    const mt = list[list.length - 1];
    waitUntil(() => this.core.exports.memtableWriters(mt) === 0);
    let tables: TableRecord[] = [];
    let maxSeq = 0;
    if (new Memtable(this.core, mt).first() !== 0) {
      const run = new RunWriter(this.platform, this.core, (number) => `${this.dir}/tables/${tableFileName(number)}`, manifest.nextTableNumber, tableOptions);
      try {
        maxSeq = this.#writeVersions(mt, run);
        tables = runRecords(shard, 0, run.finish());
      } finally {
        run.abort(); // no-op once finished
      }
    }
    beforePublish(maxSeq);
    publish(tables, mt);
    const dropped = this.core.exports.shardDropOldestFrozen(shard) >>> 0;
    if (dropped !== mt) throw new Error(`shard ${shard}: flushed memtable ${mt} but dropped ${dropped}`);
    this.retire(mt);
    return { shard, tables: tables.length, entries: tables.reduce((sum, t) => sum + t.entries, 0) };
  }

  /** Group-WAL checkpoint: min(durable LSN, minGroupLsn of every unflushed memtable but `except`). */
  groupCheckpoint(durableLsn: number, except: number): number {
    let checkpoint = durableLsn;
    for (let shard = 0; shard < this.shared.shards; shard++) {
      for (const mt of this.list(shard)) {
        if (mt === except) continue;
        const min = this.core.exports.memtableMinGroupLsn(mt);
        if (min < U64_MAX_AS_NUMBER && min < checkpoint) checkpoint = min;
      }
    }
    return checkpoint;
  }

  /**
   * The unflushed memtable holding the oldest group-WAL record, the one the log is kept
   * from (groupCheckpoint): its shard, whether it is the shard's active one, and that LSN.
   * Undefined when no memtable holds a logged version.
   */
  oldestHolder(): { shard: number; active: boolean; lsn: number } | undefined {
    let oldest: { shard: number; active: boolean; lsn: number } | undefined;
    for (let shard = 0; shard < this.shared.shards; shard++) {
      const list = this.list(shard);
      list.forEach((mt, i) => {
        const lsn = this.core.exports.memtableMinGroupLsn(mt);
        if (lsn < U64_MAX_AS_NUMBER && (!oldest || lsn < oldest.lsn)) oldest = { shard, active: i === 0, lsn };
      });
    }
    return oldest;
  }

  /** The shard whose oldest frozen memtable holds the oldest group-WAL record (or is empty): the next to flush. */
  shardToFlush(): number | undefined {
    let best: { shard: number; lsn: number } | undefined;
    for (let shard = 0; shard < this.shared.shards; shard++) {
      const list = this.list(shard);
      if (list.length < 2) continue;
      const min = this.core.exports.memtableMinGroupLsn(list[list.length - 1]);
      const lsn = min < U64_MAX_AS_NUMBER ? min : 0; // no logged version: nothing to wait for, flush it first
      if (!best || lsn < best.lsn) best = { shard, lsn };
    }
    return best?.shard;
  }

  /** A partition's checkpoint: the lowest LSN any unflushed memtable (but `except`) took from it, or `end`. */
  partitionCheckpoint(partition: number, end: number, except: number): number {
    let checkpoint = end;
    for (const [mt, info] of this.info) {
      if (mt === except) continue;
      const min = info.partitionMins.get(partition);
      if (min !== undefined && min < checkpoint) checkpoint = min;
    }
    return checkpoint;
  }

  /** Retires an arena that is no longer in any shard list. */
  retire(mt: number): void {
    this.info.delete(mt);
    this.#retired.push({ mt, epoch: this.core.exports.epochAdvance() >>> 0 });
  }

  /** Returns retired arenas that no reader can still be in. */
  reclaim(): number {
    let freed = 0;
    this.#retired = this.#retired.filter(({ mt, epoch }) => {
      if (this.core.exports.epochQuiet(epoch) !== 1) return true;
      this.core.exports.memtableRelease(mt);
      freed++;
      return false;
    });
    return freed;
  }

  get retiredCount(): number {
    return this.#retired.length;
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Waits (blocking, in short sleeps) until `done()`; the writers it waits for leave within microseconds. */
export function waitUntil(done: () => boolean): void {
  for (let spins = 0; !done(); spins++) {
    if (spins > 100) Atomics.wait(sleeper, 0, 0, 0.05);
  }
}
