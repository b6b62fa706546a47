/**
 * Snapshots: a consistent copy of a database's tables in a JetStream object store, from
 * which a new follower starts before it applies the stream (docs/REPLICATION.md).
 *
 *   bucket   "<stream>-snapshots"
 *   tables/<number>.sst        a table file, uploaded once (table files never change); an
 *                              object of that name not named by this database's previous
 *                              snapshot is uploaded again (it may be another database's)
 *   manifests/<version>        the MANIFEST file naming them, byte for byte
 *   latest                     JSON: { format: 1, lsn, manifestVersion, manifest, tables,
 *                                      previousLsn, createdAt, databaseId, consistentLsn },
 *                              replaced last
 *
 * A snapshot is consistent because a MANIFEST names whole, immutable tables and its
 * checkpoint (`lsn`, the group WAL's `groupCheckpoint`) says every record below it is in
 * them; the follower replays the stream from `lsn`. A reader slot of the upload's own
 * (src/engine/reader-slots.ts; bound to this process, claiming no log, deleted when the
 * upload ends) keeps the writer from deleting a table of the MANIFEST it copies: the slot
 * claims version 0 before the MANIFEST is read and that version after, so the writer
 * deletes none of those tables until the copy is done. It was the publisher's retained
 * slot, `retain-publisher-<stream>`, which every publisher of the stream shares: another
 * publisher's routine rewrite of it (the acknowledged LSN, claiming no table) dropped the
 * claim mid-upload, the writer deleted a table being copied, and the upload failed on the
 * missing file (review of table deletions, 2026-12-07). The retained slot keeps the log
 * from the stream's acknowledged end on, which the snapshot's records after `lsn` need. `latest` is written only
 * after every object it names is stored, and only over the `latest` the upload read (a
 * compare-and-set on its revision): a follower never sees a half-uploaded snapshot, and two
 * uploads at once never move `latest` back.
 * The object store checks each object's SHA-256 digest on the way back; the MANIFEST's own
 * CRC-32C and the tables' block checksums are checked again by the follower's engine.
 *
 * Download (`downloadSnapshot`): every table is written as `<name>.tmp`, fdatasynced and
 * renamed, the directory fsynced, then the MANIFEST the same way, last: a crash before it
 * leaves a directory without a MANIFEST, which the follower recognises by its
 * FOLLOWER file (follower.ts) and downloads again.
 *
 * Threads: the thread of the publisher or follower that calls it.
 */
import type { ObjectStore } from "@nats-io/obj";
import type { Core } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import { decodeManifest, MANIFEST_NAME, type ManifestData, readManifestBytes, tableFileName, type TableRecord } from "../engine/manifest.ts";
import { BlockCache } from "../table/block-cache.ts";
import { TableReader } from "../table/table-reader.ts";
import { durableMarkPath, ReaderSlot, READS_NO_LOG } from "../engine/reader-slots.ts";
import { makeDirDurable } from "../durable-dirs.ts";
import type { Platform } from "../platform.ts";
import { listSegmentFiles } from "../wal/segment-files.ts";
import { readDurableMark } from "../wal/durable-mark.ts";
import { ReplicationError } from "./stream-messages.ts";

export const SNAPSHOT_FORMAT = 1;
const LATEST = "latest";
const CHUNK_BYTES = 1 << 20;
/** JetStream's error code for a publish whose expected last (subject) sequence did not hold. */
const WRONG_LAST_SEQUENCE = 10071;
/** Times an upload reads `latest` again after another upload replaced it first. */
const LATEST_ATTEMPTS_MAX = 3;

export interface SnapshotInfo {
  format: number;
  /** The group WAL checkpoint of the copy: the stream continues it from this LSN. */
  lsn: number;
  manifestVersion: number;
  /** Object name of the MANIFEST. */
  manifest: string;
  /** Object names of the tables. */
  tables: string[];
  /** The previous snapshot's LSN (the stream is kept from there), if any. */
  previousLsn: number | undefined;
  createdAt: string;
  /** The MANIFEST's databaseId: whose snapshot (and stream) this is. Absent in snapshots of databases made before it. */
  databaseId?: string;
  /**
   * The writer's durable mark read after the MANIFEST: every version the tables hold comes
   * from a record below it (a flush publishes only durable records; a replay's, from the
   * log recovered below the mark its durability worker published first). The tables may
   * reach far past `lsn` (a quiet shard holds the checkpoint back while busy shards flush
   * and merge, and a replay's tables carry no record LSN in maxSeq): a follower shows its
   * state only once it has applied the stream up to here (follower.ts). Absent in
   * snapshots made before it (then the MANIFEST's maxSeq is all there is).
   */
  consistentLsn?: number;
}

export function snapshotBucket(stream: string): string {
  return `${stream}-snapshots`;
}

const encoder = new TextEncoder();

/**
 * A stream carries one database's log: a publisher of another database (a stream name
 * reused) appending its records after the first one's would fork every follower into a
 * state neither database had. The stream's snapshots name their database (SnapshotInfo.
 * databaseId, from the MANIFEST); snapshots made before that field was named are taken on trust.
 */
export function refuseAnotherDatabase(own: string | undefined, dir: string, stream: string, theirs: string | undefined, what: string): void {
  if (theirs === undefined || own === undefined || theirs === own) return;
  throw new ReplicationError(
    `stream ${stream} carries the log of another database (${what} database ${theirs}'s; ${dir} is database ${own}, ` +
      `and a database opened with salvage that gave up records takes a new id: docs/RECOVERY.md): ` +
      `a publisher never appends one database's records to another's stream; publish on another stream, or delete this stream and its snapshot bucket first`,
    "SHARDLINE_REPLICATION_FORK",
  );
}

export async function latestSnapshot(store: ObjectStore): Promise<SnapshotInfo | undefined> {
  const bytes = await store.getBlob(LATEST);
  if (!bytes) return undefined;
  let info: SnapshotInfo;
  try {
    info = JSON.parse(new TextDecoder().decode(bytes)) as SnapshotInfo;
  } catch (error) {
    throw new ReplicationError(`snapshot "latest" is not JSON (${(error as Error).message}): the bucket is damaged or another tool's`, "SHARDLINE_REPLICATION_CORRUPT");
  }
  // Every field a follower uses, of its type: a "latest" without a manifest name reached
  // getBlob(undefined), an untyped error (review, 2026-12-06).
  const named = (name: unknown) => typeof name === "string" && name.length > 0;
  if (
    typeof info !== "object" || info === null || info.format !== SNAPSHOT_FORMAT || !Number.isSafeInteger(info.lsn) || info.lsn < 0 ||
    info.lsn % 8 !== 0 || !named(info.manifest) || !Array.isArray(info.tables) || !info.tables.every(named) ||
    (info.consistentLsn !== undefined && (!Number.isSafeInteger(info.consistentLsn) || info.consistentLsn < info.lsn))
  ) {
    throw new ReplicationError(`snapshot "latest" is not a shardline snapshot of format ${SNAPSHOT_FORMAT}`, "SHARDLINE_REPLICATION_CORRUPT");
  }
  return info;
}

/** A file as a stream of chunks (the whole of a table can be large). */
function fileStream(platform: Platform, path: string): ReadableStream<Uint8Array> {
  const file = platform.open(path, "read");
  const size = file.size();
  let position = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (position >= size) {
        file.close();
        controller.close();
        return;
      }
      const chunk = new Uint8Array(Math.min(CHUNK_BYTES, size - position));
      const n = file.read(chunk, position);
      if (n <= 0) {
        file.close();
        controller.error(new ReplicationError(`${path} ended at ${position} of ${size} bytes while it was uploaded`));
        return;
      }
      position += n;
      controller.enqueue(n === chunk.length ? chunk : chunk.subarray(0, n));
    },
    cancel() {
      file.close();
    },
  });
}

/** Uploads the database's current tables and MANIFEST, then `latest`, its tables claimed by a slot of its own meanwhile (see the header). */
export async function uploadSnapshot(core: Core, platform: Platform, dir: string, store: ObjectStore, stream: string): Promise<SnapshotInfo> {
  // `revision`: every object stored after it may be a concurrent upload's, not yet named by
  // any `latest` (removeUnreferenced); `latest` is replaced only over it (below).
  const { snapshot: previous, revision: latestRevision } = await readLatest(store);
  const claim = ReaderSlot.create(platform, dir, READS_NO_LOG); // every table, before the MANIFEST is read
  if (!claim) throw new ReplicationError(`cannot write a reader slot in ${dir}/readers: a snapshot upload needs one to keep its tables`);
  try {
    return await uploadClaimed(core, platform, dir, store, claim, stream, previous, latestRevision);
  } finally {
    claim.release();
  }
}

/** uploadSnapshot's copy, with `claim` holding every table from before the MANIFEST is read. */
async function uploadClaimed(core: Core, platform: Platform, dir: string, store: ObjectStore, claim: ReaderSlot, stream: string, previous: SnapshotInfo | undefined, latestRevision: number): Promise<SnapshotInfo> {
  // Where the log starts, read BEFORE the MANIFEST: the writer trims only segments wholly
  // below its checkpoint at the time, which is at most the checkpoint C the MANIFEST read
  // next names, so this first LSN is at most C unless the log was begun anew past every
  // table's seqs (src/engine/open.ts), and then nothing lies between C and it. Listed
  // after the MANIFEST (as before 2026-12-05), a flush and trim in between, or during the
  // upload, made it a later LSN, and the snapshot skipped the records between C and it.
  const firstLsn = listSegmentFiles(platform, `${dir}/wal`)[0]?.firstLsn;
  const path = `${dir}/${MANIFEST_NAME}`;
  const bytes = readManifestBytes(platform, dir);
  if (!bytes) throw new CorruptionError(`${dir} has no MANIFEST: nothing to snapshot`, path, 0);
  const manifest: ManifestData = decodeManifest(core, bytes, path);
  // The bucket may have been made again by another database's publisher since this one
  // started (the stream and bucket deleted, the name reused): its `latest` is not ours to
  // write over (review, 2026-12-06: a new follower then bootstrapped our tables under
  // its records).
  refuseAnotherDatabase(manifest.databaseId, dir, stream, previous?.databaseId, "its snapshots are");
  // After the MANIFEST: the mark then covers every version its tables hold.
  const consistentLsn = readDurableMark(platform, durableMarkPath(dir));
  claim.update(manifest.version, READS_NO_LOG);
  const tables: string[] = [];
  for (const table of manifest.tables) {
    const name = `tables/${tableFileName(table.number)}`;
    tables.push(name);
    // Reused only when this database's previous snapshot names it: table numbers are the
    // same in every database, and an object of the same name and size may be another's (its
    // publisher stopped before its `latest`: a follower then held that database's values,
    // review, 2026-12-07). `previous` is this database's: refuseAnotherDatabase above.
    if (previous?.tables.includes(name)) {
      const stored = await store.info(name);
      if (stored && !stored.deleted && stored.size === table.bytes) continue;
    }
    const info = await store.put({ name }, fileStream(platform, `${dir}/tables/${tableFileName(table.number)}`));
    if (info.size !== table.bytes) throw new ReplicationError(`uploaded ${name}: ${info.size} bytes stored, the MANIFEST says ${table.bytes}`);
  }
  const manifestName = `manifests/${manifest.version}`;
  await store.putBlob({ name: manifestName }, bytes);
  // The stream continues the copy from its checkpoint C (the records from C on are in the
  // stream already, or in the log the publisher's slot keeps until they are), or from where
  // a log begun anew starts, when that is past C (see firstLsn above).
  const lsn = Math.max(manifest.groupCheckpoint, firstLsn ?? manifest.groupCheckpoint);
  const snapshot: SnapshotInfo = {
    format: SNAPSHOT_FORMAT,
    lsn,
    manifestVersion: manifest.version,
    manifest: manifestName,
    tables,
    previousLsn: previousLsnOf(previous, lsn),
    createdAt: new Date().toISOString(),
    databaseId: manifest.databaseId,
    consistentLsn: consistentLsn === undefined ? undefined : Math.max(consistentLsn, lsn),
  };
  // `latest` is replaced only if no other upload replaced it since this one read it (a
  // compare-and-set on its revision; 0: there is none yet). Two publishers of one writer may
  // upload at once: one that finished two snapshots meanwhile had deleted what this one then
  // named, and this one moved `latest` back to an older LSN (review, 2026-12-07). Losing to
  // a snapshot at least as new, this one's is dropped (its objects go at a later snapshot);
  // to an older one, it is written over that, its `previous`.
  let base = { previous, revision: latestRevision };
  for (let attempt = 0; ; attempt++) {
    snapshot.previousLsn = previousLsnOf(base.previous, lsn);
    try {
      await store.putBlob({ name: LATEST }, encoder.encode(JSON.stringify(snapshot)), { previousRevision: base.revision });
      break;
    } catch (error) {
      if ((error as { code?: unknown })?.code !== WRONG_LAST_SEQUENCE || attempt >= LATEST_ATTEMPTS_MAX) throw error;
      const { snapshot: current, revision } = await readLatest(store);
      refuseAnotherDatabase(manifest.databaseId, dir, stream, current?.databaseId, "its snapshots are");
      if (current && current.lsn >= lsn) return current;
      base = { previous: current, revision };
    }
  }
  if (base.previous) await removeUnreferenced(store, base.previous, snapshot, base.revision);
  return snapshot;
}

/** `latest` and the bucket revision it had, read first (0: no `latest`), so the snapshot is at that revision or later. */
async function readLatest(store: ObjectStore): Promise<{ snapshot: SnapshotInfo | undefined; revision: number }> {
  const revision = (await store.info(LATEST))?.revision ?? 0;
  return { snapshot: await latestSnapshot(store), revision };
}

/** A new snapshot's `previousLsn` at `lsn` after `previous`: where the stream must be kept from. */
function previousLsnOf(previous: SnapshotInfo | undefined, lsn: number): number | undefined {
  return previous && previous.lsn < lsn ? previous.lsn : previous?.previousLsn;
}

/**
 * Deletes the objects that neither of the last two snapshots needs and that were stored
 * before `previous` was (bucket revision below `previousRevision`, that of its `latest`).
 * An object stored since may be another upload's, in progress (two publishers of one writer
 * at once): deleted, it left that upload's `latest` naming objects the bucket no longer held
 * (review, 2026-12-07). One that no upload names goes at a later snapshot.
 */
async function removeUnreferenced(store: ObjectStore, previous: SnapshotInfo, latest: SnapshotInfo, previousRevision: number): Promise<void> {
  const keep = new Set([...previous.tables, ...latest.tables, previous.manifest, latest.manifest, LATEST]);
  const listed = await store.list();
  for (const entry of listed) {
    if (entry.deleted || keep.has(entry.name)) continue;
    // list() leaves an entry's revision out (@nats-io/obj); info() has it.
    const revision = entry.revision ?? (await store.info(entry.name))?.revision;
    if (revision === undefined || revision >= previousRevision) continue;
    await store.delete(entry.name);
  }
}

async function download(store: ObjectStore, name: string, platform: Platform, path: string): Promise<number> {
  const result = await store.get(name);
  if (!result) throw new ReplicationError(`snapshot object ${name} is missing from the object store`);
  const file = platform.open(path, "truncate");
  let bytes = 0;
  try {
    const reader = result.data.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      file.write(value, bytes);
      bytes += value.length;
    }
    const error = await result.error;
    if (error) throw new ReplicationError(`snapshot object ${name}: ${error.message}`);
    file.datasync();
  } finally {
    file.close();
  }
  return bytes;
}

/**
 * Runs `read` over a snapshot object; its CorruptionError (which names a file of a
 * database) is the damaged snapshot the README calls ReplicationError
 * SHARDLINE_REPLICATION_CORRUPT (review, 2026-12-06).
 */
function damagedSnapshotIfThrows<T>(what: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!(error instanceof CorruptionError)) throw error;
    throw new ReplicationError(`${what} is damaged: ${error.message}`, "SHARDLINE_REPLICATION_CORRUPT", { cause: error });
  }
}

/**
 * Every data block of a downloaded table checked (its checksum, and its keys against the
 * index), and its footer against the MANIFEST's record, before it is installed: a table
 * damaged in the bucket (or on the writer's disk, uploaded as it was) was installed, and
 * the follower, "following", failed every read of it for good (review, 2026-12-06).
 */
function verifyTable(core: Core, platform: Platform, path: string, table: TableRecord): void {
  const reader = TableReader.open(platform, core, path, new BlockCache({ cacheBytesMax: 0 }));
  try {
    if (reader.meta.entries !== table.entries) throw new CorruptionError(`holds ${reader.meta.entries} entries by its footer, the MANIFEST says ${table.entries}`, path, 0);
    for (let i = 0; i < reader.dataBlocks; i++) reader.blockAt(i);
  } finally {
    reader.close();
  }
}

/** Writes the snapshot's tables into `dir`, then its MANIFEST (durably, MANIFEST last). */
export async function downloadSnapshot(core: Core, platform: Platform, dir: string, store: ObjectStore, snapshot: SnapshotInfo): Promise<ManifestData> {
  const manifestBytes = await store.getBlob(snapshot.manifest);
  if (!manifestBytes) throw new ReplicationError(`snapshot object ${snapshot.manifest} is missing from the object store`);
  const manifest = damagedSnapshotIfThrows(`snapshot object ${snapshot.manifest}`, () => decodeManifest(core, manifestBytes, snapshot.manifest));
  makeDirDurable(platform, `${dir}/tables`);
  for (const table of manifest.tables) {
    const name = tableFileName(table.number);
    const path = `${dir}/tables/${name}`;
    const bytes = await download(store, `tables/${name}`, platform, `${path}.tmp`);
    if (bytes !== table.bytes) throw new ReplicationError(`snapshot table ${name}: ${bytes} bytes downloaded, the MANIFEST says ${table.bytes}`, "SHARDLINE_REPLICATION_CORRUPT");
    damagedSnapshotIfThrows(`snapshot table ${name}`, () => verifyTable(core, platform, `${path}.tmp`, table));
    platform.rename(`${path}.tmp`, path);
  }
  platform.fsyncDir(`${dir}/tables`);
  const tmp = `${dir}/${MANIFEST_NAME}.tmp`;
  const file = platform.open(tmp, "truncate");
  try {
    file.write(manifestBytes, 0);
    file.datasync();
  } finally {
    file.close();
  }
  platform.rename(tmp, `${dir}/${MANIFEST_NAME}`);
  platform.fsyncDir(dir);
  return manifest;
}
