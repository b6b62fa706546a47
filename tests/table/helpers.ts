/** Shared helpers for the table tests: platform, core (the hasher), temp dirs, a model of table semantics. */
import { Core } from "../../src/core/core.ts";
import { BlockCache } from "../../src/table/block-cache.ts";
import type { TableEntry } from "../../src/table/format.ts";
import { compareEntries, compareKeys } from "../../src/table/key-order.ts";
import { TableReader } from "../../src/table/table-reader.ts";
import { type TableWriterOptions, writeTable } from "../../src/table/table-writer.ts";
import { currentPlatform } from "../harness/platform.ts";

export const platform = await currentPlatform();
export const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
export const enc = new TextEncoder();
export const dec = new TextDecoder();

const made: string[] = [];
/** A fresh temp dir; removed by `cleanup`. */
export function tempDir(prefix = "shardline-table-"): string {
  const dir = platform.makeTempDir(prefix);
  made.push(dir);
  return dir;
}
export function cleanup(): void {
  for (const dir of made.splice(0)) platform.removeAll(dir);
}

export function readAll(path: string): Uint8Array {
  return platform.readFile(path);
}

export function writeAll(path: string, bytes: Uint8Array): void {
  const f = platform.open(path, "truncate");
  try {
    f.write(bytes, 0);
  } finally {
    f.close();
  }
}

/** Sorts entries into table order (key asc, ts desc) and drops repeated (key, ts), keeping the first. */
export function tableOrder(entries: TableEntry[]): TableEntry[] {
  const sorted = entries.slice().sort((a, b) => compareEntries(a.key, a.ts, b.key, b.ts));
  return sorted.filter((e, i) => i === 0 || compareEntries(e.key, e.ts, sorted[i - 1].key, sorted[i - 1].ts) !== 0);
}

/** The model of `get`: newest (highest ts) version of key with seq <= snapshot. */
export function modelGet(sorted: TableEntry[], key: Uint8Array, snapshot: bigint): TableEntry | undefined {
  let best: TableEntry | undefined;
  for (const e of sorted) {
    if (compareKeys(e.key, key) === 0 && e.seq <= snapshot && (best === undefined || e.ts > best.ts)) best = e;
  }
  return best;
}

/** Writes `entries` to a new table in a new temp dir and opens it. */
export function writeAndOpen(entries: TableEntry[], options: TableWriterOptions = {}, cache = new BlockCache()) {
  const dir = tempDir();
  const path = `${dir}/000001.sst`;
  const meta = writeTable(platform, core, path, entries, options);
  const reader = TableReader.open(platform, core, path, cache);
  return { dir, path, meta, reader, cache };
}

/** A comparable plain form of an entry (for assert.equal). */
export function plain(e: TableEntry | undefined) {
  return e === undefined ? undefined : { key: [...e.key], ts: e.ts, seq: e.seq, value: e.value === undefined ? undefined : [...e.value] };
}

export function entry(key: string | Uint8Array, ts: number | bigint, seq: number | bigint, value?: string | Uint8Array): TableEntry {
  return {
    key: typeof key === "string" ? enc.encode(key) : key,
    ts: BigInt(ts),
    seq: BigInt(seq),
    value: value === undefined ? undefined : typeof value === "string" ? enc.encode(value) : value,
  };
}
