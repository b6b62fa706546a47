/**
 * `shardline get | put | delete | scan`: one operation on a database, through the engine's
 * public API (open, operate, close). Keys and values are UTF-8 text by default, hex digits
 * with `--hex`; output is a table, or JSON with `--json` (timestamps as decimal strings).
 *
 * JSON shapes:
 *   get     { "key", "found": true, "value" } | { "key", "found": false }
 *   put     { "key", "ts" }
 *   delete  { "key", "existed", "ts" }
 *   scan    [ { "key", "value" }, ... ]
 * A key or value that is not valid UTF-8 (without --hex) is given as hex digits, with a
 * "keyEncoding": "hex" / "valueEncoding": "hex" field beside it.
 * Threads: the main thread of the command line.
 */
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../core/core.ts";
import type { ScanOptions } from "../engine/database.ts";
import { openForCli } from "./database.ts";
import { argBytes, cellBytes, type Encoding, fields, putBytes, table, TablePager } from "./format.ts";
import type { CliContext } from "./io.ts";
import { EXIT_FAILURE, EXIT_OK, JsonArrayWriter, toJson, UsageError } from "./io.ts";
import { terminalSafe } from "./terminal-safe.ts";

export interface DataOptions {
  json?: boolean;
  hex?: boolean;
  /** How long to wait for the directory lock, ms. */
  wait?: number;
}

const encodingOf = (o: DataOptions): Encoding => (o.hex ? "hex" : "utf8");

export async function getCommand(ctx: CliContext, dir: string, keyArg: string, o: DataOptions): Promise<number> {
  const encoding = encodingOf(o);
  const key = argBytes(keyArg, encoding, "key", KEY_BYTES_MAX);
  const db = await openForCli(ctx.platform, dir, { waitMs: o.wait, readOnly: true });
  let value: Uint8Array | undefined;
  try {
    value = db.get(key);
  } finally {
    await db.close();
  }
  if (o.json) {
    const out: Record<string, unknown> = {};
    putBytes(out, "key", key, encoding);
    out.found = value !== undefined;
    if (value !== undefined) putBytes(out, "value", value, encoding);
    ctx.io.stdout(toJson(out));
  } else if (value !== undefined) {
    ctx.io.stdout(table(["key", "value"], [[cellBytes(key, encoding), cellBytes(value, encoding)]]));
  }
  if (value === undefined) {
    ctx.io.stderr(`shardline get: key ${cellBytes(key, encoding)} not found in ${terminalSafe(dir)}\n`);
    return EXIT_FAILURE;
  }
  return EXIT_OK;
}

export async function putCommand(ctx: CliContext, dir: string, keyArg: string, valueArg: string | undefined, o: DataOptions & { valueFile?: string }): Promise<number> {
  const encoding = encodingOf(o);
  const key = argBytes(keyArg, encoding, "key", KEY_BYTES_MAX);
  if ((valueArg === undefined) === (o.valueFile === undefined)) {
    throw new UsageError(valueArg === undefined ? "put needs a value argument or --value-file" : "put takes either a value argument or --value-file, not both");
  }
  const value = valueArg !== undefined ? argBytes(valueArg, encoding, "value", VALUE_BYTES_MAX) : await valueFromFile(ctx, o.valueFile!);
  const db = await openForCli(ctx.platform, dir, { waitMs: o.wait, create: true });
  let ts: bigint;
  try {
    ts = await db.put(key, value);
  } finally {
    await db.close();
  }
  if (o.json) {
    const out: Record<string, unknown> = {};
    putBytes(out, "key", key, encoding);
    out.ts = ts;
    ctx.io.stdout(toJson(out));
  } else {
    ctx.io.stdout(fields([["put", cellBytes(key, encoding)], ["bytes", value.length], ["commit timestamp", ts], ["durable", "yes"]]));
  }
  return EXIT_OK;
}

/** `--value-file`: a file's bytes, or standard input's for "-", refused over VALUE_BYTES_MAX before anything is opened. */
async function valueFromFile(ctx: CliContext, path: string): Promise<Uint8Array> {
  const overLimit = (bytes: string) => new UsageError(`value of ${bytes} bytes is over VALUE_BYTES_MAX (${VALUE_BYTES_MAX} bytes)`);
  if (path === "-") {
    if (!ctx.io.readStdin) throw new UsageError("--value-file -: this command line has no standard input to read");
    const bytes = await ctx.io.readStdin(VALUE_BYTES_MAX);
    if (bytes.length > VALUE_BYTES_MAX) throw overLimit(`more than ${VALUE_BYTES_MAX}`); // it stopped reading there
    return bytes;
  }
  const stat = ctx.platform.stat(path);
  if (!stat || stat.isDirectory) throw new UsageError(`cannot read --value-file ${path}: ${stat ? "it is a directory" : "no such file"}`);
  if (!stat.isFile) {
    // A pipe or a device has no size to judge first: read at most one byte past the limit,
    // as standard input is (before, it was read to its end: /dev/zero filled the memory).
    if (!ctx.io.readStream) throw new UsageError(`--value-file ${path} is not a regular file; give - to read standard input`);
    let bytes: Uint8Array;
    try {
      bytes = await ctx.io.readStream(path, VALUE_BYTES_MAX);
    } catch (error) {
      throw new UsageError(`cannot read --value-file ${path}: ${(error as Error).message}`);
    }
    if (bytes.length > VALUE_BYTES_MAX) throw overLimit(`more than ${VALUE_BYTES_MAX}`);
    return bytes;
  }
  if (stat.size > VALUE_BYTES_MAX) throw overLimit(String(stat.size));
  let bytes: Uint8Array;
  try {
    bytes = ctx.platform.readFile(path);
  } catch (error) {
    throw new UsageError(`cannot read --value-file ${path}: ${(error as Error).message}`);
  }
  if (bytes.length > VALUE_BYTES_MAX) throw overLimit(String(bytes.length)); // it grew since the stat
  return bytes;
}

export async function deleteCommand(ctx: CliContext, dir: string, keyArg: string, o: DataOptions): Promise<number> {
  const encoding = encodingOf(o);
  const key = argBytes(keyArg, encoding, "key", KEY_BYTES_MAX);
  const db = await openForCli(ctx.platform, dir, { waitMs: o.wait });
  let existed: boolean;
  let ts: bigint;
  try {
    existed = db.get(key) !== undefined;
    ts = await db.delete(key);
  } finally {
    await db.close();
  }
  if (o.json) {
    const out: Record<string, unknown> = {};
    putBytes(out, "key", key, encoding);
    out.existed = existed;
    out.ts = ts;
    ctx.io.stdout(toJson(out));
  } else {
    ctx.io.stdout(fields([["deleted", cellBytes(key, encoding)], ["existed", existed ? "yes" : "no"], ["commit timestamp", ts], ["durable", "yes"]]));
  }
  return EXIT_OK;
}

export interface ScanCommandOptions extends DataOptions {
  prefix?: string;
  gte?: string;
  gt?: string;
  lte?: string;
  lt?: string;
  limit?: number;
  reverse?: boolean;
}

/** Rows per table in scan's output: a scan is printed as it goes, never held whole. */
export const SCAN_TABLE_ROWS = 1000;

/** The rows as one JSON array (the text toJson would make of it), written row by row; returns how many. */
async function printJsonRows(ctx: CliContext, rows: Iterable<[Uint8Array, Uint8Array]>, encoding: Encoding): Promise<number> {
  const array = new JsonArrayWriter((text) => ctx.io.stdout(text));
  for (const [key, value] of rows) {
    const out: Record<string, unknown> = {};
    putBytes(out, "key", key, encoding);
    putBytes(out, "value", value, encoding);
    array.item(out);
    await ctx.io.drained?.();
  }
  array.end();
  ctx.io.stdout("\n");
  return array.count;
}

/** The rows as tables of at most SCAN_TABLE_ROWS rows, each written when full; returns how many. */
async function printTableRows(ctx: CliContext, rows: Iterable<[Uint8Array, Uint8Array]>, encoding: Encoding): Promise<number> {
  let count = 0;
  const pager = new TablePager((text) => ctx.io.stdout(text), ["key", "value"], SCAN_TABLE_ROWS);
  for (const [key, value] of rows) {
    pager.add([[cellBytes(key, encoding), cellBytes(value, encoding)]]);
    count++;
    await ctx.io.drained?.();
  }
  pager.end();
  return count;
}

/** `flags`: scan's own flags (main.ts), which a bound's value cannot be. */
export async function scanCommand(ctx: CliContext, dir: string, o: ScanCommandOptions, flags: readonly string[]): Promise<number> {
  const encoding = encodingOf(o);
  const bounds: ScanOptions = { reverse: o.reverse === true };
  for (const name of ["prefix", "gte", "gt", "lte", "lt"] as const) {
    const text = o[name];
    if (text === undefined) continue;
    // A bound given without its value takes the next flag as one (`--prefix --json`).
    if (flags.includes(text)) {
      throw new UsageError(`--${name} has no value (it took ${text}, one of scan's flags, as its value)`, `give --${name} a value; keys that really start with "${text}" can be given as hex digits with --hex`);
    }
    bounds[name] = argBytes(text, encoding, `--${name}`);
  }
  if (o.limit !== undefined) bounds.limit = o.limit;
  const db = await openForCli(ctx.platform, dir, { waitMs: o.wait, readOnly: true });
  let count = 0;
  try {
    count = await (o.json ? printJsonRows(ctx, db.scan(bounds), encoding) : printTableRows(ctx, db.scan(bounds), encoding));
  } finally {
    await db.close();
  }
  if (!o.json) ctx.io.stdout(`${count} ${count === 1 ? "row" : "rows"}\n`);
  return EXIT_OK;
}
