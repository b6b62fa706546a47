/**
 * Recovery's replay (step 5 of open.ts): every operation the logs hold beyond their
 * checkpoints and above its shard's replay floor goes into its shard's memtable, each shard's operations in commit-timestamp
 * order, with seq 0 (they came from durable logs: visible to every snapshot).
 *
 * A long replay fills memtables, and the opener then flushes some to tables (flush.ts)
 * before the rest of the operations are in a memtable. Such a flush must not move a log's
 * checkpoint past a record that is not yet in any memtable: the next recovery would skip
 * it, and a crash before the actor flushed it would lose acknowledged writes
 * (tests/engine/replay.test.ts). The ReplayHorizon below caps every checkpoint at the
 * lowest LSN, per log, of a record with an operation still to insert. Records are
 * noted in their memtable (minGroupLsn / partitionMins) before they leave the horizon,
 * so the checkpoint rule of memtables.ts covers them from then on.
 *
 * Threads: the opening thread.
 */
import { Status, STATUS_LIMIT } from "../core/core.ts";
import { Memtable } from "../core/memtable.ts";
import { type FlushEnv, flushShard } from "./flush.ts";
import { type LoggedOperation, loggedOperations } from "./logged-operations.ts";
import { OP_PUT } from "./records.ts";

export interface Replayed {
  records: number;
  operations: number;
  /** The highest commit timestamp replayed, per shard (0n if none). */
  maxTs: bigint[];
}

/**
 * The lowest LSN, per source log (-1: the group WAL; s: shard s's partition), of a record
 * with operations not yet inserted. Invariant, per source: `pending` counts are > 0 exactly
 * for the records still to insert, and `lsns[next]` is the lowest of them.
 */
export class ReplayHorizon {
  #sources = new Map<number, { lsns: number[]; pending: Map<number, number>; next: number }>();

  constructor(items: readonly LoggedOperation[]) {
    const pendingBySource = new Map<number, Map<number, number>>();
    for (const { source, lsn } of items) {
      let pending = pendingBySource.get(source);
      if (!pending) pendingBySource.set(source, (pending = new Map()));
      pending.set(lsn, (pending.get(lsn) ?? 0) + 1);
    }
    for (const [source, pending] of pendingBySource) {
      this.#sources.set(source, { lsns: [...pending.keys()].sort((a, b) => a - b), pending, next: 0 });
    }
  }

  /** One operation of the record at `lsn` in `source` is in a memtable (and noted there). */
  inserted(source: number, lsn: number): void {
    const s = this.#sources.get(source);
    const left = s?.pending.get(lsn);
    if (s === undefined || left === undefined || left <= 0) throw new Error(`replay: no pending operation at LSN ${lsn} of log ${source}`);
    s.pending.set(lsn, left - 1);
    while (s.next < s.lsns.length && s.pending.get(s.lsns[s.next]) === 0) s.next++;
  }

  /** `limit`, lowered to the first record of `source` still to insert. */
  cap(source: number, limit: number): number {
    const s = this.#sources.get(source);
    return s !== undefined && s.next < s.lsns.length ? Math.min(limit, s.lsns[s.next]) : limit;
  }
}

/** Replays both kinds of logs from their checkpoints into the memtables; flushes (with capped checkpoints) when they fill. */
export function replay(env: FlushEnv, shards: number): Replayed {
  const { core, platform, dir, memtables } = env;
  const count = { records: 0 };
  // What a table already holds is not inserted again (the replay floor, manifest.ts): a
  // merge may have dropped a tombstone that shadowed it.
  const floors = env.manifest.replayFloorTs.map(BigInt);
  const items = [...loggedOperations(core, platform, dir, env.manifest, shards, count)].filter(({ op }) => op.ts > floors[op.shard]);
  const horizon = new ReplayHorizon(items);
  const perShard: LoggedOperation[][] = Array.from({ length: shards }, () => []);
  for (const item of items) perShard[item.op.shard].push(item);

  const { groupDurable, partitionEnds } = env;
  const capped: FlushEnv = {
    ...env,
    groupDurable: () => horizon.cap(-1, groupDurable()),
    partitionEnds: () => partitionEnds().map((end, partition) => horizon.cap(partition, end)),
  };
  let operations = 0;
  const maxTs: bigint[] = new Array(shards).fill(0n);
  for (let shard = 0; shard < shards; shard++) {
    const ordered = perShard[shard].sort((a, b) => (a.op.ts < b.op.ts ? -1 : a.op.ts > b.op.ts ? 1 : 0));
    for (const { op, source, lsn } of ordered) {
      if (op.ts > maxTs[shard]) maxTs[shard] = op.ts;
      for (;;) {
        const mt = memtables.active(shard);
        const node = new Memtable(core, mt).insert(op.key, op.type === OP_PUT ? op.value : undefined, op.ts, 0n);
        if (node >= STATUS_LIMIT || node === Status.DUPLICATE) {
          memtables.noteTs(mt, op.ts);
          if (source < 0) core.exports.memtableNoteGroupLsn(mt, lsn);
          else memtables.notePartitionLsn(mt, source, lsn);
          break;
        }
        memtables.freeze(shard, (s) => flushShard(capped, s));
      }
      horizon.inserted(source, lsn);
      operations++;
    }
  }
  env.manifest = capped.manifest;
  return { records: count.records, operations, maxTs };
}
