/**
 * Compaction: merging a shard's tables so that their number stays bounded while writes go on.
 *
 * Policy: size-tiered, per shard. A flushed memtable makes a tier-0 table; merging
 * COMPACTION_FAN_IN tables of one tier makes one table of the next tier, about that many
 * times larger, or, at the shard's highest tier, of the same tier when it is not at least
 * twice its largest input (the inputs held mostly the same keys: outputTier). So a shard
 * holds fewer than FAN_IN tables per tier and about log_FAN_IN(data / memtable) tiers:
 * with 4 MiB memtables and a fan-in of 4, 1 GiB of a shard's data is at most 3 x 4 + 1 = 13
 * tables, and each byte is rewritten once per tier (about 4 times for that gigabyte). Why
 * size-tiered and not leveled: shardline is write-optimised; tiering writes each byte fewer
 * times (leveled LSMs rewrite ~10x per level) at the cost of more tables per read, which
 * bloom filters keep cheap for gets.
 *
 * Runs: a merge whose output would pass a table's limits writes several tables of disjoint
 * key ranges, one sorted run (TableRecord.run names it). Tiers count runs, not tables, and a
 * run is merged whole: counting tables, four full tables merged into four full tables one
 * tier up, which were picked again, for ever (review, 2026-12-06). Each merge turns FAN_IN
 * runs into one, so merging ends.
 *
 * Scheduling (actor.ts #background): a flush goes before a merge, except when a tier holds
 * 2 x FAN_IN tables: then merges go first, so that a sustained load cannot pile tables up
 * faster than they are merged (tests/engine/compaction.test.ts measures the peak). Last,
 * when nothing else is to do, a merge that gives deleted data's space back
 * (pickDeletesMerge): tombstones with the runs holding what they shadow, whatever their tiers.
 *
 * A merge keeps every version a snapshot can still need and drops the rest (version-gc.ts);
 * a tombstone at the bottom of a key's history goes too when nothing it shadows can exist
 * anywhere else, now or after a recovery: no table outside the merge may hold the key
 * (their bloom filters say no), no memtable of the shard holds it, and every tombstone of
 * the key is at or below the shard's replay floor (manifest.ts), so recovery will never
 * insert an older version of it from a log (the logs are replayed from checkpoints that a
 * quiet shard can hold far back: tests/engine/tombstone.test.ts).
 *
 * Threads: the database's owner (actor).
 */
import type { Core } from "../core/core.ts";
import type { Platform } from "../platform.ts";
import type { BlockCache } from "../table/block-cache.ts";
import type { TableEntry } from "../table/format.ts";
import type { TableCursor } from "../table/table-cursor.ts";
import { TableReader } from "../table/table-reader.ts";
import { RunWriter } from "../table/run-writer.ts";
import type { TableWriterOptions } from "../table/table-writer.ts";
import { fromBase64, type ManifestData, runRecords, type TableRecord, tableFileName } from "./manifest.ts";
import { compareKeys } from "../table/key-order.ts";
import type { EngineShared } from "./shared-state.ts";
import { type Version, versionsToKeep } from "./version-gc.ts";

export const COMPACTION_FAN_IN = 4;

/** `tables`' runs by tier, each tier's runs oldest first (a run: the tables of one merge's output, or one table). */
export function runsByTier(tables: readonly TableRecord[]): Map<number, TableRecord[][]> {
  const runs = new Map<number, Map<number, TableRecord[]>>();
  for (const t of tables) {
    const tier = runs.get(t.tier) ?? runs.set(t.tier, new Map()).get(t.tier)!;
    const id = t.run ?? t.number;
    (tier.get(id) ?? tier.set(id, []).get(id)!).push(t);
  }
  const out = new Map<number, TableRecord[][]>();
  for (const [tier, byId] of runs) out.set(tier, [...byId.entries()].sort((a, b) => a[0] - b[0]).map(([, run]) => run));
  return out;
}

/** The tables to merge next in `shard`, or undefined: every table of the oldest FAN_IN runs of the lowest tier that has FAN_IN. */
export function pickCompaction(manifest: ManifestData, shard: number, fanIn = COMPACTION_FAN_IN): TableRecord[] | undefined {
  const byTier = runsByTier(manifest.tables.filter((t) => t.shard === shard));
  for (const tier of [...byTier.keys()].sort((a, b) => a - b)) {
    const runs = byTier.get(tier)!;
    if (runs.length >= fanIn) return runs.slice(0, fanIn).flat().sort((a, b) => a.number - b.number);
  }
  return undefined;
}

/**
 * Of every run's tombstones, the share of the entries a deletes' merge rewrites that they
 * must be at least: such a merge rewrites at most 1 / share entries per tombstone.
 */
export const DELETES_MERGE_TOMBSTONE_SHARE = 0.25;

/**
 * A merge that gives deleted data's space back, or undefined: the runs whose tombstones are
 * all at or below the shard's replay floor (so the merge may drop them with what they
 * shadow: nothing older can come back from a log) and below every live snapshot and the
 * visible point (none may read them), with every other run of the shard whose
 * key range overlaps one of theirs, when those tombstones are at least
 * DELETES_MERGE_TOMBSTONE_SHARE of all those runs' entries. Tiers alone never bring them
 * together: tombstones are small and stay in low tiers while the values they shadow sit in
 * high ones, so before 2026-12-07 a shard whose 12,000 keys were all deleted kept 4.2 MB of
 * tables for ever (more than before the deletes: tests/engine/disk-space.test.ts). Each such
 * merge turns two runs or more into one, so they end.
 */
export function pickDeletesMerge(
  manifest: ManifestData,
  shard: number,
  /** The lowest of the visible point and the live snapshots (EngineShared.gcHorizon), asked only when a run has tombstones. */
  seqFloor: () => number,
  share = DELETES_MERGE_TOMBSTONE_SHARE,
): TableRecord[] | undefined {
  const floor = BigInt(manifest.replayFloorTs[shard] ?? "0");
  const runs = [...runsByTier(manifest.tables.filter((t) => t.shard === shard)).values()].flat();
  const tombstonesOf = (run: readonly TableRecord[]) => run.reduce((n, t) => n + t.tombstones, 0);
  const withTombstones = runs.filter((run) => tombstonesOf(run) > 0 && run.every((t) => BigInt(t.maxTs) <= floor));
  if (withTombstones.length === 0) return undefined;
  // A snapshot may still need them (and what they shadow): merged, they would stay, and every
  // flush while it lives would pick the same runs again, each time rewriting what they overlap.
  const seqs = BigInt(seqFloor());
  const deleting = withTombstones.filter((run) => run.every((t) => BigInt(t.maxSeq) < seqs));
  if (deleting.length === 0) return undefined;
  const inputs = runs.filter((run) => deleting.includes(run) || deleting.some((d) => rangesOverlap(d, run)));
  if (inputs.length < 2) return undefined;
  const tombstones = deleting.reduce((n, run) => n + tombstonesOf(run), 0);
  const entries = inputs.flat().reduce((n, t) => n + t.entries, 0);
  return tombstones >= share * entries ? inputs.flat().sort((a, b) => a.number - b.number) : undefined;
}

/** Whether two runs' key ranges (smallest to largest key of their tables) overlap. */
function rangesOverlap(a: readonly TableRecord[], b: readonly TableRecord[]): boolean {
  const lo = (run: readonly TableRecord[]) => run.map((t) => fromBase64(t.smallestKey)).reduce((m, k) => (compareKeys(k, m) < 0 ? k : m));
  const hi = (run: readonly TableRecord[]) => run.map((t) => fromBase64(t.largestKey)).reduce((m, k) => (compareKeys(k, m) > 0 ? k : m));
  return compareKeys(lo(a), hi(b)) <= 0 && compareKeys(lo(b), hi(a)) <= 0;
}

/**
 * The tier of a merge's output of `outputBytes`, in a shard whose highest tier is
 * `highestTier`: one above its inputs' highest when it holds at least twice its largest
 * input run (the inputs were mostly distinct keys, so it is a bigger run) or when a higher
 * tier exists (so that newer versions climb to the older ones there and merge with them);
 * else that highest input tier again. Promoted by merge count regardless, as before
 * 2026-12-07, overwrites of the same keys made a run no bigger than one input one tier up:
 * a shard of 1,000 keys overwritten 120 times climbed to tier 4 and kept 8.8 versions of
 * every key (8.8x its live data), the number of tiers growing with the bytes ever written
 * rather than with the data (tests/engine/disk-space.test.ts). Kept always in the same tier,
 * overwrites of some keys never reached the older versions in higher tiers, which then
 * stayed for good (tests/engine/live-readers.test.ts). Merging ends still: every merge turns
 * FAN_IN runs into one, whichever tier it lands in, and a tier above the highest is made only
 * by a run that at least doubled.
 */
export function outputTier(inputs: readonly TableRecord[], outputBytes: number, highestTier: number): number {
  const top = Math.max(...inputs.map((t) => t.tier));
  const runBytes = new Map<number, number>();
  for (const t of inputs) if (t.tier === top) runBytes.set(t.run ?? t.number, (runBytes.get(t.run ?? t.number) ?? 0) + t.bytes);
  const largest = Math.max(...runBytes.values());
  return outputBytes >= 2 * largest || top < highestTier ? top + 1 : top;
}

export function tablePath(dir: string, number: number): string {
  return `${dir}/tables/${tableFileName(number)}`;
}

/** Merges `inputs` (tables of one shard) into one new table; returns its manifest record (undefined if nothing remains). */
export function mergeTables(
  core: Core,
  platform: Platform,
  dir: string,
  shared: EngineShared,
  cache: BlockCache,
  manifest: ManifestData,
  inputs: TableRecord[],
  outputNumber: number,
  memtablesHold: (key: Uint8Array) => boolean,
  /** For tests: the outputs' options (a smaller index limit reaches a split sooner). */
  outputOptions: TableWriterOptions = {},
): TableRecord[] {
  const shard = inputs[0].shard;
  // Every reader opened is closed in `finally`, also when a later open fails (EMFILE, a
  // missing file): they were leaked before (review of resource limits, 2026-12-07).
  const opened: TableReader[] = [];
  const openTable = (t: TableRecord) => {
    const reader = TableReader.open(platform, core, tablePath(dir, t.number), cache);
    opened.push(reader);
    return reader;
  };
  const readers: TableReader[] = [];
  const cursors: TableCursor[] = [];
  try {
    for (const t of inputs) readers.push(openTable(t));
    for (const r of readers) cursors.push(r.cursor());
    const inputNumbers = new Set(inputs.map((t) => t.number));
    const shardTables = manifest.tables.filter((t) => t.shard === shard);
    const otherTables = shardTables.filter((t) => !inputNumbers.has(t.number));
    // The shard's other tables are asked only whether a key a tombstone may drop has an
    // older version there: opened at the first such tombstone, so a merge without one holds
    // no descriptor beyond its inputs and outputs.
    let others: TableReader[] | undefined;
    const { visible, boundaries } = shared.gcHorizon();
    const replayFloorTs = BigInt(manifest.replayFloorTs[shard]);
    const nothingOutside = (key: Uint8Array) => (others ??= otherTables.map(openTable)).every((r) => !r.mayContain(key)) && !memtablesHold(key);
    const entries = mergedEntries(cursors, nothingOutside, replayFloorTs, boundaries, visible);
    const run = new RunWriter(platform, core, (number) => tablePath(dir, number), outputNumber, outputOptions);
    try {
      for (const e of entries) run.add(e.key, e.ts, e.seq, e.value);
      const tables = run.finish();
      const highest = Math.max(...shardTables.map((t) => t.tier));
      return runRecords(shard, outputTier(inputs, tables.reduce((bytes, t) => bytes + t.meta.bytes, 0), highest), tables);
    } finally {
      run.abort(); // no-op once finished
    }
  } finally {
    // The cursors leave their blocks first, so that the blocks' buffers go back to the
    // cache's pool (a reader's close leaves a cursor on its block).
    cursors.forEach((c, i) => readers[i].releaseCursor(c));
    for (const r of opened) r.close();
  }
}



/** Every version of the inputs in (key asc, ts desc) order, with what no snapshot needs dropped. */
function* mergedEntries(
  cursors: TableCursor[],
  nothingOutside: (key: Uint8Array) => boolean,
  replayFloorTs: bigint,
  boundaries: number[],
  visible: number,
): Generator<TableEntry> {
  const live = cursors.filter((c) => c.seekFirst());
  const before = (a: TableCursor, b: TableCursor) => {
    const c = compareKeys(a.key, b.key);
    return c < 0 || (c === 0 && a.ts > b.ts);
  };
  while (live.length > 0) {
    // The smallest key among the cursors, and every version of it, newest first.
    let min = live[0];
    for (const c of live) if (before(c, min)) min = c;
    const key = min.key.slice();
    const versions: TableEntry[] = [];
    for (;;) {
      let best: TableCursor | undefined;
      for (const c of live) if (compareKeys(c.key, key) === 0 && (!best || c.ts > best.ts)) best = c;
      if (!best) break;
      const e = best.entry();
      // The same version in two inputs (a replayed write flushed twice) is kept once.
      if (versions.length === 0 || versions[versions.length - 1].ts !== e.ts) versions.push(e);
      if (!best.next()) live.splice(live.indexOf(best), 1);
    }
    const asVersions: Version[] = versions.map((v) => ({ ts: v.ts, seq: Number(v.seq), tombstone: v.value === undefined }));
    const tombstonesBelowFloor = asVersions.some((v) => v.tombstone) && asVersions.every((v) => !v.tombstone || v.ts <= replayFloorTs);
    const nothingBelow = tombstonesBelowFloor && nothingOutside(key);
    for (const i of versionsToKeep(asVersions, boundaries, visible, nothingBelow)) yield versions[i];
  }
}
