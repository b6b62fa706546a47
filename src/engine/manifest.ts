/**
 * Manifest: which table files make up the database and how far each log is checkpointed.
 *
 * File `MANIFEST`, replaced atomically: the new version is written to `MANIFEST.tmp`,
 * fdatasynced, renamed over `MANIFEST`, and the directory fsynced, so a crash leaves
 * either the old or the new version whole. Contents:
 *
 *   "SLMF 1\n" json "\n" crc32c(json) as 8 hex digits "\n"
 *
 * A table counts as part of the database only once a manifest naming it is durable; the
 * table itself was synced (and its directory) before. Checkpoints: every record of the
 * group WAL below `groupCheckpoint`, and of shard s's partition log below
 * `partitionCheckpoints[s]`, is in a table; recovery replays from there (replaying a
 * version a table already has is harmless: versions are identified by (key, ts)).
 *
 * Replay floors: `replayFloorTs[s]` is a commit timestamp of shard s such that every
 * version of s with ts <= it is in a table this manifest names (or was dropped by a merge
 * as shadowed). Recovery skips logged operations at or below it, so a version a table
 * already holds is never inserted again, and a merge may drop a tombstone at or below it
 * together with what it shadows: nothing older can come back from a log (the group WAL's
 * checkpoint alone cannot say so, since a quiet shard holds it back for every shard).
 * Floors only grow. A manifest without the field (written before it existed) reads as
 * floors of 0: replay then skips nothing, and merges keep every tombstone until the next
 * flush of the shard raises its floor.
 *
 * Threads: written only by the database's owner (the opener during recovery, then the
 * actor); read by any thread that needs the table list (readers re-read it when the
 * shared manifest generation changes).
 */
import { Core, SHARDS_MAX } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import type { TableMeta } from "../table/format.ts";
import { LSN_LIMIT } from "../wal/format.ts";
import { checksummedJsonText } from "./checksummed-json.ts";

const U64_MAX = 0xffff_ffff_ffff_ffffn;

export const MANIFEST_NAME = "MANIFEST";
/** Marks a follower's directory (src/replicate/follower.ts): no writer but the follower opens it. */
export const FOLLOWER_FILE_NAME = "FOLLOWER";
const MAGIC_LINE = "SLMF 1\n";
export const MANIFEST_FORMAT_VERSION = 1;

export interface TableRecord {
  shard: number;
  /** File number: tables/<number, 6+ digits>.sst */
  number: number;
  /** Size tier (compaction.ts): 0 for a flushed memtable; a merge's output is one above its inputs' highest, or, at the shard's highest tier, that tier again when it did not grow (outputTier). */
  tier: number;
  /**
   * The sorted run it belongs to: the number of the first table a merge wrote, when the
   * merge's output was split at a table's limits (those tables merge together or not at
   * all: compaction.ts). Absent: a run of its own.
   */
  run?: number;
  bytes: number;
  entries: number;
  tombstones: number;
  /** base64 of the smallest and largest key */
  smallestKey: string;
  largestKey: string;
  minTs: string;
  maxTs: string;
  maxSeq: string;
}

export interface ManifestData {
  formatVersion: number;
  shards: number;
  /** Incremented on every replacement. */
  version: number;
  nextTableNumber: number;
  /** Newest first within a shard is not implied: readers order by number (higher = newer data). */
  tables: TableRecord[];
  groupCheckpoint: number;
  partitionCheckpoints: number[];
  /** Per shard, at least the highest ts in tables and the replay floor (recovery raises the counters at least this far). */
  maxTs: string[];
  /** Highest seq (group-WAL LSN) written to a table. */
  maxSeq: string;
  /** Per shard: every version with ts <= this is in a table (see the header). Decimal strings. */
  replayFloorTs: string[];
  /**
   * 32 hex digits, random, given when the database is made (or first opened by a writer
   * that knows the field): who the database is, for replication (a publisher refuses a
   * stream whose snapshots are another database's). Copied with the MANIFEST to followers.
   */
  databaseId?: string;
}

/** A new databaseId: 128 random bits as 32 hex digits. */
export function newDatabaseId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export function newManifest(shards: number): ManifestData {
  return {
    formatVersion: MANIFEST_FORMAT_VERSION,
    shards,
    version: 0,
    nextTableNumber: 1,
    tables: [],
    groupCheckpoint: 0,
    partitionCheckpoints: new Array(shards).fill(0),
    maxTs: new Array(shards).fill("0"),
    maxSeq: "0",
    replayFloorTs: new Array(shards).fill("0"),
    databaseId: newDatabaseId(),
  };
}

export function tableFileName(number: number): string {
  return `${String(number).padStart(6, "0")}.sst`;
}

/**
 * The number of the table file `name`, if it is a name the engine gives (tableFileName of a
 * number from 1); undefined for anything else (`old.sst`, `0000001.sst`, `000000.sst`),
 * which open, doctor and its rebuild leave alone (RECOVERY.md F5).
 */
export function tableNumberOf(name: string): number | undefined {
  const digits = /^(\d{6,})\.sst$/.exec(name)?.[1];
  if (digits === undefined) return undefined;
  const number = Number(digits);
  return Number.isSafeInteger(number) && number >= 1 && tableFileName(number) === name ? number : undefined;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const raw = atob(text);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

/** The manifest record of a table just written. */
export function tableRecord(shard: number, number: number, tier: number, meta: TableMeta): TableRecord {
  return {
    shard,
    number,
    tier,
    bytes: meta.bytes,
    entries: meta.entries,
    tombstones: meta.tombstones,
    smallestKey: toBase64(meta.smallestKey),
    largestKey: toBase64(meta.largestKey),
    minTs: String(meta.minTs),
    maxTs: String(meta.maxTs),
    maxSeq: String(meta.maxSeq),
  };
}

/** The manifest records of a run's tables (src/table/run-writer.ts): several make one run (TableRecord.run), merged whole. */
export function runRecords(shard: number, tier: number, tables: ReadonlyArray<{ number: number; meta: TableMeta }>): TableRecord[] {
  const records = tables.map(({ number, meta }) => tableRecord(shard, number, tier, meta));
  if (records.length > 1) for (const t of records) t.run = records[0].number;
  return records;
}

/**
 * The manifest of a database that has one (an open database's: its open wrote it first):
 * gone is corruption, never "no tables" (reads answered from no tables: review, 2026-12-06).
 */
export function readOpenManifest(core: Core, platform: Platform, dir: string): ManifestData {
  const manifest = readManifest(core, platform, dir);
  if (!manifest) throw new CorruptionError(`manifest ${dir}/${MANIFEST_NAME} of an open database is missing`, `${dir}/${MANIFEST_NAME}`, 0);
  return manifest;
}

/**
 * The largest MANIFEST read: ~250 bytes a table, so about 1 million tables (a shard's data
 * over size-tiered tiers is tens of tables). A larger file is corruption, refused before it
 * is read: read whole, a garbage or sparse one ended in an untyped "string too long" error,
 * or allocated all of it (review, 2026-12-06).
 */
export const MANIFEST_BYTES_MAX = 256 * 1024 * 1024;

/** Reads the manifest; undefined when there is none (a new database). */
export function readManifest(core: Core, platform: Platform, dir: string): ManifestData | undefined {
  const bytes = readManifestBytes(platform, dir);
  return bytes && decodeManifest(core, bytes, `${dir}/${MANIFEST_NAME}`);
}

/**
 * The MANIFEST file's bytes, undefined when there is none; judged by its size before it is
 * read (CorruptionError over MANIFEST_BYTES_MAX): every reader of the file goes through here.
 */
export function readManifestBytes(platform: Platform, dir: string): Uint8Array | undefined {
  const path = `${dir}/${MANIFEST_NAME}`;
  const stat = platform.stat(path);
  if (!stat) return undefined;
  if (stat.size > MANIFEST_BYTES_MAX) throw new CorruptionError(`manifest ${path} is corrupt: ${stat.size} bytes, over MANIFEST_BYTES_MAX (${MANIFEST_BYTES_MAX})`, path, 0);
  return platform.readFile(path);
}

/** A MANIFEST file's contents, checked (CorruptionError naming `path` otherwise). */
export function decodeManifest(core: Core, bytes: Uint8Array, path: string): ManifestData {
  const text = dec.decode(bytes);
  const fail = (why: string) => new CorruptionError(`manifest ${path} is corrupt: ${why}`, path, 0);
  if (!text.startsWith(MAGIC_LINE)) throw fail("bad magic line");
  const body = text.slice(MAGIC_LINE.length);
  const cut = body.lastIndexOf("\n", body.length - 2);
  if (cut < 0 || !body.endsWith("\n")) throw fail("no checksum line");
  const json = body.slice(0, cut);
  const crc = body.slice(cut + 1, -1);
  if (!/^[0-9a-f]{8}$/.test(crc) || parseInt(crc, 16) !== core.crc32c(enc.encode(json))) throw fail("checksum mismatch");
  let data: ManifestData;
  try {
    data = JSON.parse(json);
  } catch (error) {
    throw fail(`unreadable JSON (${(error as Error).message})`);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) throw fail("not an object");
  if (data.formatVersion !== MANIFEST_FORMAT_VERSION) throw fail(`format version ${data.formatVersion}`);
  const shards = data.shards;
  if (!Number.isInteger(shards) || shards < 1 || shards > SHARDS_MAX) throw fail(`bad shard count ${shards}`);
  // A log's position: the next log starts at the largest of them (rounded up to 8), which
  // must stay below LSN_LIMIT; larger ones failed opens with the core's RangeError, and a
  // maxSeq of 2^64-1 wrapped the start to 0, every row hidden (review of open, 2026-12-07).
  const isLsn = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= LSN_LIMIT - 8;
  // A timestamp or sequence: a decimal u64 (the core takes them as u64; a longer one wrapped).
  const isDecimal = (t: unknown) => typeof t === "string" && /^[0-9]{1,20}$/.test(t) && BigInt(t) <= U64_MAX;
  const listOf = (name: string, list: unknown, ok: (x: unknown) => boolean) => {
    if (!Array.isArray(list) || list.length !== shards) throw fail(`${name} is not a list of ${shards} (inconsistent shard count)`);
    if (!list.every(ok)) throw fail(`bad ${name}`);
  };
  listOf("partitionCheckpoints", data.partitionCheckpoints, isLsn);
  listOf("maxTs", data.maxTs, isDecimal);
  data.replayFloorTs ??= new Array(shards).fill("0");
  listOf("replay floors", data.replayFloorTs, isDecimal);
  if (!(Number.isSafeInteger(data.version) && data.version >= 0)) throw fail(`bad version ${data.version}`);
  if (!isLsn(data.groupCheckpoint)) throw fail(`bad groupCheckpoint ${data.groupCheckpoint}`);
  if (!isDecimal(data.maxSeq) || BigInt(data.maxSeq) >= BigInt(LSN_LIMIT - 8)) throw fail(`bad maxSeq ${data.maxSeq}`);
  if (data.databaseId !== undefined && !(typeof data.databaseId === "string" && /^[0-9a-f]{32}$/.test(data.databaseId))) throw fail(`bad databaseId ${JSON.stringify(data.databaseId)}`);
  if (!Array.isArray(data.tables)) throw fail("no table list");
  // Every field a reader uses, of its type: a checksum-right MANIFEST of a writer bug or an
  // edit by hand reached atob (a DOMException) or opened one file twice (review, 2026-12-06).
  const isCount = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  const isBase64 = (t: unknown) => typeof t === "string" && /^[A-Za-z0-9+/]*={0,2}$/.test(t) && t.length % 4 === 0;
  const numbers = new Set<number>();
  for (const t of data.tables) {
    const fine = typeof t === "object" && t !== null && Number.isSafeInteger(t.number) && t.number >= 1 && Number.isInteger(t.shard) && t.shard >= 0 && t.shard < shards &&
      Number.isInteger(t.tier) && t.tier >= 0 && (t.run === undefined || (Number.isSafeInteger(t.run) && t.run >= 1)) && isDecimal(t.minTs) && isDecimal(t.maxTs) && isDecimal(t.maxSeq) &&
      isCount(t.bytes) && isCount(t.entries) && isCount(t.tombstones) && isBase64(t.smallestKey) && isBase64(t.largestKey);
    if (!fine) throw fail(`bad table record ${JSON.stringify(t)?.slice(0, 200)}`);
    if (numbers.has(t.number)) throw fail(`it names table ${t.number} twice`);
    numbers.add(t.number);
  }
  // Open deletes unnamed tables numbered at or past nextTableNumber (open.ts removeOrphans)
  // and the next flush takes that number: both rely on every named table being below it.
  if (!Number.isSafeInteger(data.nextTableNumber) || data.nextTableNumber < 1) throw fail(`bad nextTableNumber ${data.nextTableNumber}`);
  const past = data.tables.find((t) => !(t.number < data.nextTableNumber));
  if (past) throw fail(`it names table ${past.number}, at or past its nextTableNumber ${data.nextTableNumber}`);
  return data;
}

/** Replaces the manifest atomically and durably with `data` (its version incremented). */
export function writeManifest(core: Core, platform: Platform, dir: string, data: ManifestData): ManifestData {
  const next = { ...data, version: data.version + 1 };
  const text = `${MAGIC_LINE}${checksummedJsonText(next, (bytes) => core.crc32c(bytes))}`;
  replaceFileDurably(platform, dir, MANIFEST_NAME, enc.encode(text));
  return next;
}

/**
 * Replaces `<dir>/<name>` with `bytes` whole or not at all: `<name>.tmp` written and
 * fdatasynced (its size checked), renamed over `<name>`, the directory fsynced. A crash
 * leaves the old file or the new one, and perhaps a `.tmp` that open deletes (RECOVERY.md F4).
 */
export function replaceFileDurably(platform: Platform, dir: string, name: string, bytes: Uint8Array): void {
  const tmp = `${dir}/${name}.tmp`;
  const file = platform.open(tmp, "truncate");
  try {
    file.write(bytes, 0);
    file.datasync();
    if (file.size() !== bytes.length) throw new Error(`${name} write: size ${file.size()} is not ${bytes.length}`);
  } finally {
    file.close();
  }
  platform.rename(tmp, `${dir}/${name}`);
  platform.fsyncDir(dir);
}

/**
 * This thread's core for reading a MANIFEST before the database's own core exists (the
 * shard count it records sizes that core): made once per thread and kept, since
 * `readManifest` only stages the text for its CRC-32C, synchronously. A core per open
 * cost a WebAssembly.Memory each, and V8 reserves 10 GiB of address space for every wasm
 * memory on 64-bit until the object is collected (docs/PERFORMANCE.md, "Address space").
 */
let manifestCoreMade: Promise<Core> | undefined;

export function manifestCore(): Promise<Core> {
  manifestCoreMade ??= Core.create({ shards: 1, memoryBytesMax: 8 * 1024 * 1024 }).catch((error) => {
    manifestCoreMade = undefined; // the next open tries again
    throw error;
  });
  return manifestCoreMade;
}
