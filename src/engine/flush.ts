/**
 * Flushing a shard's oldest frozen memtable and publishing the result: the table in the
 * manifest together with the checkpoints and the shard's replay floor computed without
 * that memtable, the manifest
 * replaced durably, the shared manifest generation bumped (readers re-read it), and only
 * then the memtable dropped from the shard's list (src/engine/memtables.ts).
 * Used by the actor, and by the opener when a long replay fills the memtables.
 * Threads: the database's owner.
 */
import type { Core } from "../core/core.ts";
import type { Platform } from "../platform.ts";
import { Ring, RingState } from "../wal/format.ts";
import type { RingView } from "../wal/ring.ts";
import { trimSegments } from "../wal/segment-files.ts";
import { type ManifestData, writeManifest } from "./manifest.ts";
import type { MemtableManager } from "./memtables.ts";
import type { ReaderRetention } from "./reader-slots.ts";
import type { EngineShared } from "./shared-state.ts";

export interface FlushEnv {
  core: Core;
  platform: Platform;
  dir: string;
  shared: EngineShared;
  memtables: MemtableManager;
  /** The group WAL's durable LSN now. */
  groupDurable(): number;
  /**
   * Blocks until the group WAL is durable beyond `seq` (the record starting there is on
   * disk); throws the log's failure if it failed meanwhile.
   */
  awaitGroupDurable(seq: number): void;
  /** Each partition log's end (next LSN). */
  partitionEnds(): number[];
  manifest: ManifestData;
  /**
   * What live read-only handles in other processes still read (reader-slots.ts): the
   * writer deletes no segment or table they need. Undefined for a read-only open, which
   * never flushes.
   */
  retention?: ReaderRetention;
}

/** Replaces the manifest durably and tells every reader (bumps the shared generation). */
export function publishManifest(env: FlushEnv, next: ManifestData): void {
  env.manifest = writeManifest(env.core, env.platform, env.dir, next);
  env.shared.bumpManifestGeneration();
}

export function flushShard(env: FlushEnv, shard: number): void {
  // A published table may only hold versions whose log record is durable: after a crash
  // the log is cut to its durable prefix, and a version in a table above it would surface
  // later as half of a batch (tests/engine/crash-batch.test.ts). The table is written
  // first; until the MANIFEST names it, open removes it as an orphan.
  // (Replayed versions carry seq 0: they came from durable logs.)
  const beforePublish = (maxSeq: number) => {
    if (maxSeq > 0) env.awaitGroupDurable(maxSeq);
  };
  env.memtables.flushOldest(shard, env.manifest, beforePublish, (tables, flushed) => {
    const durable = env.groupDurable();
    const next: ManifestData = structuredClone(env.manifest);
    for (const record of tables) {
      next.tables.push(record);
      next.nextTableNumber = record.number + 1;
      if (BigInt(record.maxTs) > BigInt(next.maxTs[shard])) next.maxTs[shard] = record.maxTs;
      if (BigInt(record.maxSeq) > BigInt(next.maxSeq)) next.maxSeq = record.maxSeq;
    }
    raiseReplayFloor(next, shard, env.memtables.replayFloor(shard, flushed));
    next.groupCheckpoint = Math.max(next.groupCheckpoint, env.memtables.groupCheckpoint(durable, flushed));
    const ends = env.partitionEnds();
    next.partitionCheckpoints = ends.map((end, i) => Math.max(next.partitionCheckpoints[i], env.memtables.partitionCheckpoint(i, end, flushed)));
    publishManifest(env, next);
  });
  env.shared.addStat("flushes", 1);
  // After the MANIFEST is published: the live readers' slots are listed now (reader-slots.ts),
  // and the logs are trimmed as far as they allow.
  if (env.retention) {
    env.retention.afterFlush(env.manifest);
    return;
  }
  trimSegments(env.platform, `${env.dir}/wal`, env.manifest.groupCheckpoint);
  for (let i = 0; i < env.manifest.partitionCheckpoints.length; i++) {
    trimSegments(env.platform, partitionDir(env.dir, i), env.manifest.partitionCheckpoints[i]);
  }
}

/**
 * Raises the shard's replay floor (manifest.ts) to `floorTs`, never lowers it, and the
 * shard's maxTs with it: recovery restarts the commit counter above maxTs, and a write
 * that got a timestamp at or below the floor would be skipped by the next replay.
 */
function raiseReplayFloor(next: ManifestData, shard: number, floorTs: bigint): void {
  if (floorTs <= BigInt(next.replayFloorTs[shard])) return;
  next.replayFloorTs[shard] = String(floorTs);
  if (floorTs > BigInt(next.maxTs[shard])) next.maxTs[shard] = String(floorTs);
}

/** Blocking wait on the ring's durable LSN, for the owner's thread (the actor, or the opener). */
export function awaitDurableBeyond(ring: RingView, seq: number): void {
  for (;;) {
    const seen = ring.durableSeq;
    if (ring.durableLsn > seq) return;
    if (ring.state === RingState.FAILED) throw ring.stateError("the group WAL");
    Atomics.wait(ring.i32, ring.index(Ring.DURABLE_SEQ), seen, 50);
  }
}

export function partitionDir(dir: string, shard: number): string {
  return `${dir}/shard-${String(shard).padStart(3, "0")}`;
}
