/**
 * Recovery's replay (step 5 of open.ts): every operation the logs hold beyond their
 * checkpoints goes into its shard's memtable, each shard's operations in commit-timestamp
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
 * with operations not yet inserted. Invariant: every pending count is > 0 exactly for the
 * records still to insert; `#next[source]` indexes the lowest of them in `#lsns[source]`.
 */
export class ReplayHorizon {
  #lsns = new Map<number, number[]>();
  #pending = new Map<number, Map<number, number>>();
  #next = new Map<number, number>();

  constructor(items: readonly LoggedOperation[]) {
    for (const { source, lsn } of items) {
      let counts = this.#pending.get(source);
      if (!counts) this.#pending.set(source, (counts = new Map()));
      counts.set(lsn, (counts.get(lsn) ?? 0) + 1);
    }
    for (const [source, counts] of this.#pending) {
      this.#lsns.set(source, [...counts.keys()].sort((a, b) => a - b));
      this.#next.set(source, 0);
    }
  }

  /** One operation of the record at `lsn` in `source` is in a memtable (and noted there). */
  inserted(source: number, lsn: number): void {
    const counts = this.#pending.get(source);
    const left = counts?.get(lsn);
    if (counts === undefined || left === undefined || left <= 0) throw new Error(`replay: no pending operation at LSN ${lsn} of log ${source}`);
    counts.set(lsn, left - 1);
    const lsns = this.#lsns.get(source)!;
    let next = this.#next.get(source)!;
    while (next < lsns.length && counts.get(lsns[next]) === 0) next++;
    this.#next.set(source, next);
  }

  /** `limit`, lowered to the first record of `source` still to insert. */
  cap(source: number, limit: number): number {
    const lsns = this.#lsns.get(source);
    if (!lsns) return limit;
    const next = this.#next.get(source)!;
    return next < lsns.length ? Math.min(limit, lsns[next]) : limit;
  }
}

/** Replays both kinds of logs from their checkpoints into the memtables; flushes (with capped checkpoints) when they fill. */
export function replay(env: FlushEnv, shards: number): Replayed {
  const { core, platform, dir, memtables } = env;
  const count = { records: 0 };
  const items = [...loggedOperations(core, platform, dir, env.manifest, shards, count)];
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
