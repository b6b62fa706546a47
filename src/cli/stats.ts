/**
 * `shardline stats <dir>`: opens the database (which recovers it, as every open does),
 * prints `db.stats()` and closes it. Tables by default; `--json` prints the stats object
 * as it is, bigints as decimal strings, with `dir` added.
 * Threads: the main thread of the command line.
 */
import type { DatabaseStats } from "../engine/database.ts";
import { openForCli } from "./database.ts";
import { bytesText, fields, table } from "./format.ts";
import type { CliContext } from "./io.ts";
import { EXIT_OK, toJson } from "./io.ts";

export interface StatsOptions {
  json?: boolean;
  wait?: number;
}

export async function statsCommand(ctx: CliContext, dir: string, o: StatsOptions): Promise<number> {
  const db = await openForCli(ctx.platform, dir, { waitMs: o.wait, readOnly: true });
  let stats: DatabaseStats;
  try {
    stats = db.stats();
  } finally {
    await db.close();
  }
  ctx.io.stdout(o.json ? toJson({ dir, ...stats }) : renderStats(dir, stats));
  return EXIT_OK;
}

function renderStats(dir: string, s: DatabaseStats): string {
  const out: string[] = [];
  const tables = s.shards.reduce((n, x) => n + x.tables, 0);
  const tableBytes = s.shards.reduce((n, x) => n + x.tableBytes, 0);
  const coordination = s.coordination
    ? `${s.coordination.mode}, ${s.coordination.locked ? "locked by this command" : `not locked${s.coordination.reason ? ` (${s.coordination.reason})` : ""}`}`
    : "";
  out.push("Database\n");
  out.push(fields([
    ["directory", dir],
    ["state", s.state],
    ["shards", s.shards.length],
    ["tables", `${tables} (${bytesText(tableBytes)})`],
    ["flushes", s.flushes],
    ["compactions", `${s.compactions} (${bytesText(s.compactedBytes)} merged)`],
    ["live snapshots", s.liveSnapshots],
    ["coordination", coordination],
  ]));

  out.push("\nShards\n");
  out.push(table(
    ["shard", "commit ts", "memtable used", "memtable max", "frozen", "tables", "table bytes", "tables per tier", "subscribers"],
    s.shards.map((x) => [
      x.shard,
      x.commitTimestamp,
      bytesText(x.memtableBytesUsed),
      bytesText(x.memtableBytesMax),
      x.frozenMemtables,
      x.tables,
      bytesText(x.tableBytes),
      Object.entries(x.tablesPerTier).map(([tier, n]) => `tier ${tier}: ${n}`).join(", "),
      x.subscribers,
    ]),
  ));

  out.push("\nGroup WAL\n");
  out.push(fields([
    ["durable LSN", s.wal.durableLsn],
    ["current LSN", s.wal.currentLsn],
    ["syncs (this open)", s.wal.syncs],
    ["synced records (this open)", s.wal.syncedRecords],
    ["records per sync", s.wal.recordsPerSync.toFixed(2)],
  ]));

  const r = s.recovery;
  if (r) {
    out.push("\nRecovery (what opening found)\n");
    const partitions = r.partitions;
    const sum = (f: (p: (typeof partitions)[number]) => number) => partitions.reduce((n, p) => n + f(p), 0);
    out.push(table(["log", "segments read", "segments left to replay", "records", "bytes cut", "decisions", "corrupt segments moved aside"], [
      r.groupLog
        ? ["group WAL", r.groupLog.segmentsRead, r.groupLog.segmentsLeftToReader, r.groupLog.records, r.groupLog.bytesCut, r.groupLog.decisions.join(" "), r.groupLog.corruptSegments.length]
        : ["group WAL", "", "", "", "", "", ""],
      [
        `partition logs (${partitions.length})`,
        sum((p) => p.segmentsRead),
        sum((p) => p.segmentsLeftToReader),
        sum((p) => p.records),
        sum((p) => p.bytesCut),
        [...new Set(partitions.flatMap((p) => p.decisions))].join(" "),
        sum((p) => p.corruptSegments.length),
      ],
    ]));
    out.push(fields([["replayed records", r.replayedRecords], ["replayed operations", r.replayedOperations]]));
  }

  out.push("\nBlock cache (this open)\n");
  out.push(fields(Object.entries(s.blockCache).map(([k, v]) => [k, typeof v === "number" || typeof v === "string" || typeof v === "bigint" ? v : JSON.stringify(v)])));
  return out.join("");
}
