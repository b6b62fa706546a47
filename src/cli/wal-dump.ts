/**
 * `shardline wal dump <dir>`: the records of the group WAL (`<dir>/wal`), or with
 * `--shard n` of shard n's partition log (`<dir>/shard-NNN`), from `--from LSN` on, at
 * most `--limit n` of them: each record's LSN, payload length and the engine operations it
 * holds (src/engine/records.ts). Read-only: takes no lock and changes nothing, so it works
 * beside a running database (it sees what is on disk) and on a damaged one (it stops at the
 * first record it cannot trust and says so, exit status 1).
 *
 * JSON (`--json`): { "log", "records": [ { "lsn", "bytes", "kind": "operations", "ops": [
 * { "type": "put" | "delete", "shard", "ts", "key", "value" } ] } | { "lsn", "bytes",
 * "kind": "marker", "shard", "partitionLsn", "count" } | { "lsn", "bytes", "kind":
 * "unknown", "error" } ], "error"? }.
 * Threads: the main thread of the command line.
 */
import type { Core } from "../core/core.ts";
import { partitionDir } from "../engine/flush.ts";
import { readManifest } from "../engine/manifest.ts";
import { decodeRecord, KIND_COMMIT, KIND_FRAGMENT, KIND_MARKER, OP_PUT } from "../engine/records.ts";
import { CorruptionError } from "../errors.ts";
import { readRecords } from "../wal/read-records.ts";
import { toolCore } from "./database.ts";
import { cellBytes, type Encoding, putBytes, TablePager } from "./format.ts";
import { terminalSafe } from "./terminal-safe.ts";
import type { CliContext } from "./io.ts";
import { CliError, EXIT_FAILURE, EXIT_OK, JsonArrayWriter, UsageError } from "./io.ts";

export interface WalDumpOptions {
  from?: number;
  limit?: number;
  shard?: number;
  json?: boolean;
  hex?: boolean;
}

/** Table rows per table printed (a record's operations are never split across two tables). */
export const WAL_TABLE_ROWS = 1000;

interface Dumped {
  json: Record<string, unknown>;
  rows: Array<Array<string | number | bigint>>;
}

function dumpRecord(lsn: number, payload: Uint8Array, encoding: Encoding): Dumped {
  let record;
  try {
    record = decodeRecord(payload);
  } catch (error) {
    const message = (error as Error).message;
    return { json: { lsn, bytes: payload.length, kind: "unknown", error: message }, rows: [[lsn, payload.length, "not an engine record", "", "", "", terminalSafe(message), ""]] };
  }
  if (record.kind === KIND_MARKER) {
    return {
      json: { lsn, bytes: payload.length, kind: "marker", shard: record.shard, partitionLsn: record.partitionLsn, count: record.count },
      rows: [[lsn, payload.length, "marker", record.shard, "", "", `partition LSN ${record.partitionLsn}`, `${record.count} operations`]],
    };
  }
  if (record.kind === KIND_COMMIT) {
    const shards = record.shards.map((s) => ({ shard: s.shard, operations: s.operations, firstTs: s.firstTs }));
    return {
      json: { lsn, bytes: payload.length, kind: "batch-commit", firstFragmentLsn: record.firstFragmentLsn, fragments: record.fragments, count: record.count, shards },
      rows: [[lsn, payload.length, "batch commit", "", "", "", `fragments from LSN ${record.firstFragmentLsn}`, `${record.count} operations in ${record.fragments} fragments`]],
    };
  }
  const kind = record.kind === KIND_FRAGMENT ? "batch-fragment" : "operations";
  const ops = record.ops.map((op) => {
    const out: Record<string, unknown> = { type: op.type === OP_PUT ? "put" : "delete", shard: op.shard, ts: op.ts };
    putBytes(out, "key", op.key, encoding);
    if (op.value !== undefined) putBytes(out, "value", op.value, encoding);
    return out;
  });
  const rows = record.ops.map((op, i): Array<string | number | bigint> => [
    i === 0 ? lsn : "",
    i === 0 ? payload.length : "",
    i === 0 ? `${kind === "operations" ? "operations" : "batch fragment"} (${record.ops.length})` : "",
    op.shard,
    op.ts,
    op.type === OP_PUT ? "put" : "delete",
    cellBytes(op.key, encoding),
    op.value === undefined ? "" : cellBytes(op.value, encoding),
  ]);
  if (rows.length === 0) rows.push([lsn, payload.length, "operations (0)", "", "", "", "", ""]);
  return { json: { lsn, bytes: payload.length, kind, ops }, rows };
}

/** The log directory `wal dump` reads: the group WAL, or shard n's partition log. */
function logDirOf(core: Core, ctx: CliContext, dir: string, shard: number | undefined): string {
  const { platform } = ctx;
  if (!platform.stat(dir)?.isDirectory) throw new CliError(`${dir} is not a directory`, EXIT_FAILURE, "check the path");
  if (shard === undefined) {
    const logDir = `${dir}/wal`;
    if (!platform.stat(logDir)?.isDirectory) throw new CliError(`${dir} has no group WAL (${logDir} is missing)`, EXIT_FAILURE, "check the path: is it a shardline database?");
    return logDir;
  }
  let shards: number | undefined;
  try {
    shards = readManifest(core, platform, dir)?.shards;
  } catch {
    shards = undefined; // a damaged manifest: the partition log may still be readable
  }
  if (shards !== undefined && shard >= shards) throw new UsageError(`--shard ${shard}: ${dir} has ${shards} shards (0 to ${shards - 1})`);
  const logDir = partitionDir(dir, shard);
  if (!platform.stat(logDir)?.isDirectory) throw new CliError(`${dir} has no partition log for shard ${shard} (${logDir} is missing)`, EXIT_FAILURE, "check the path and the shard number");
  return logDir;
}

export async function walDumpCommand(ctx: CliContext, dir: string, o: WalDumpOptions): Promise<number> {
  const encoding: Encoding = o.hex ? "hex" : "utf8";
  const core = await toolCore();
  try {
    const logDir = logDirOf(core, ctx, dir, o.shard);
    const limit = o.limit ?? Infinity;
    // Printed as read (a log can be larger than memory): JSON through a JsonArrayWriter
    // (the same text as toJson of the whole object), tables of about WAL_TABLE_ROWS rows.
    const write = (text: string) => ctx.io.stdout(text);
    let array: JsonArrayWriter | undefined;
    if (o.json) {
      write(`{\n  "log": ${JSON.stringify(logDir)},\n  "records": `);
      array = new JsonArrayWriter(write, 2);
    }
    const pager = new TablePager(write, ["LSN", "bytes", "record", "shard", "ts", "op", "key", "value"], WAL_TABLE_ROWS);
    let count = 0;
    let failure: string | undefined;
    if (limit > 0) {
      try {
        for (const { lsn, payload } of readRecords(core, ctx.platform, logDir, o.from ?? 0)) {
          const dumped = dumpRecord(lsn, payload, encoding);
          count++;
          if (array) array.item(dumped.json);
          else pager.add(dumped.rows);
          if (count >= limit) break;
          await ctx.io.drained?.();
        }
      } catch (error) {
        if (!(error instanceof CorruptionError)) throw error;
        failure = error.message;
      }
    }
    if (array) {
      array.end();
      write(failure ? `,\n  "error": ${JSON.stringify(failure)}\n}\n` : "\n}\n");
    } else {
      pager.end();
      write(`${count} ${count === 1 ? "record" : "records"} from ${terminalSafe(logDir)}\n`);
    }
    if (failure) {
      ctx.io.stderr(`shardline wal dump: ${terminalSafe(failure)}\nrun \`shardline doctor ${terminalSafe(dir)}\` for a full report\n`);
      return EXIT_FAILURE;
    }
    return EXIT_OK;
  } finally {
    core.detach();
  }
}
