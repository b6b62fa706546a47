/**
 * One thread's view of the database's live table files, as reference-counted versions.
 *
 * TableVersion: the live tables of one manifest generation, per shard in descending order
 * of their highest timestamp (a lookup stops at the first table whose newest version is
 * older than what it found). Immutable once built. Every reader that may still read a
 * table (a get, a scan, a read at a snapshot) holds a reference on the version it started
 * with and releases it when it ends; the TableSet holds one more on its current version.
 * While a version is referenced, every table of it that was opened stays open, whatever
 * the same or another thread does meanwhile (a flush or compaction publishing a new
 * manifest, this thread loading it): so a scan suspended across a compaction, or a get
 * inside such a scan's loop, reads the files it started with (LevelDB's Version Ref/Unref;
 * Pebble's readState).
 *
 * TableHandle: one open table file (a TableReader) of this thread, shared by every version
 * that lists the table; reference-counted by the versions that opened it, closed when the
 * last one lets it go. Table numbers are never reused, so the number identifies the file.
 *
 * Opening: `openShard` opens every table of a shard in the version (reusing handles other
 * versions already hold) before the reader reads its visible point; a version built on a
 * refresh adopts the handles of the previous versions for the tables still live, so a
 * table is opened once per thread, not once per generation. A table a compaction deleted
 * between the manifest read and the open makes `openShard` throw TableGoneError: the
 * caller releases the version, refreshes (the manifest it read is stale) and retries.
 *
 * Deleted files: the actor deletes a compaction's inputs after publishing the manifest that
 * drops them, whoever still has them open. All three runtimes open tables with Node's
 * fs.openSync (runtimes/common/node-fs-file.ts) and delete with unlink(2) (Deno:
 * Deno.removeSync, unlink(2) as well). On POSIX an unlinked file stays readable through
 * every descriptor open on it, and its blocks are freed when the last one closes (here:
 * when the last version holding its handle is released). On Windows libuv and Rust's std
 * open files with FILE_SHARE_DELETE, so the delete succeeds there too and the open handle
 * keeps reading; the name lingers until the last handle closes.
 *
 * Invariants
 * - handle.refs = the number of versions whose `#handles` hold it; refs 0 ⇔ closed and
 *   absent from `TableSet.#open`.
 * - a version's refs = the readers holding it + 1 while it is the set's current one;
 *   refs 0 ⇔ its handles released (it is never used again).
 * - after `TableSet.close()` every handle is closed (a reader still holding a version gets
 *   ClosedError on its next block read) and `acquire` throws ClosedError.
 * Threads: the owning thread only (file handles and the block cache are per thread).
 */
import { ClosedError, CorruptionError } from "../errors.ts";
import type { Core } from "../core/core.ts";
import { hasErrorCode, type Platform } from "../platform.ts";
import { BlockCache } from "../table/block-cache.ts";
import { TableReader } from "../table/table-reader.ts";
import { type ManifestData, readOpenManifest, type TableRecord, tableFileName, tableRecord } from "./manifest.ts";
import type { EngineShared } from "./shared-state.ts";

export interface LiveTable {
  record: TableRecord;
  maxTs: bigint;
  path: string;
}

/** A table listed in the manifest the caller read is gone: refresh and retry. */
export class TableGoneError extends Error {
  override readonly name = "TableGoneError";
  constructor(readonly path: string) {
    super(`table ${path} was removed by a compaction`);
  }

  /** After the retries: the freshly read MANIFEST still names a file that is not there. */
  asCorruption(): CorruptionError {
    return new CorruptionError(`table ${this.path} is named by the MANIFEST but missing`, this.path, undefined, { cause: this });
  }
}

/**
 * Where a table file's footer and meta block disagree with the MANIFEST's record of it
 * (undefined if nowhere). Block checksums bind a block to its kind and offset, not to its
 * file: another table's contents under this name passed them all and were read as this
 * table, a key it held answering "not found" (review, 2026-12-06).
 */
function recordDiffers(record: TableRecord, reader: TableReader): string | undefined {
  const found = tableRecord(record.shard, record.number, record.tier, reader.meta);
  for (const field of ["bytes", "entries", "tombstones", "smallestKey", "largestKey", "minTs", "maxTs", "maxSeq"] as const) {
    if (found[field] !== record[field]) return `${field} is ${found[field]}, the MANIFEST says ${record[field]}`;
  }
  return undefined;
}

/** One open table file, shared by the versions that list it (see the header). */
interface TableHandle {
  readonly number: number;
  readonly reader: TableReader;
  refs: number;
}

/** What a version needs from its set: handles by table number. */
interface HandleSource {
  acquireHandle(table: LiveTable): TableHandle;
  releaseHandle(handle: TableHandle): void;
}

export class TableVersion {
  #refs = 0;
  readonly #handles = new Map<number, TableHandle>();

  constructor(
    private readonly source: HandleSource,
    /** The manifest generation this version was read at. */
    readonly generation: number,
    private readonly byShard: readonly (readonly LiveTable[])[],
  ) {}

  get released(): boolean {
    return this.#refs === 0;
  }

  /** One more holder; pair with `release`. */
  ref(): this {
    this.#refs++;
    return this;
  }

  /** One holder less; the last one gives back the version's table handles. */
  release(): void {
    if (this.#refs <= 0) throw new Error("TableVersion released more often than referenced");
    if (--this.#refs > 0) return;
    for (const handle of this.#handles.values()) this.source.releaseHandle(handle);
    this.#handles.clear();
  }

  /** The shard's tables, highest timestamp first. */
  tables(shard: number): readonly LiveTable[] {
    return this.byShard[shard] ?? [];
  }

  /** Every table of every shard. */
  all(): LiveTable[] {
    return this.byShard.flat();
  }

  /** Takes a handle another version of the set already holds open (on a refresh). */
  adopt(handle: TableHandle): void {
    if (this.#handles.has(handle.number)) return;
    handle.refs++;
    this.#handles.set(handle.number, handle);
  }

  /** Opens every table of `shard` not open yet in this version; TableGoneError if one is gone. */
  openShard(shard: number): void {
    this.#checkHeld();
    for (const table of this.tables(shard)) {
      if (!this.#handles.has(table.record.number)) this.#handles.set(table.record.number, this.source.acquireHandle(table));
    }
  }

  /** Opens every table of every shard (a scan reads them all). */
  openAll(): void {
    for (let shard = 0; shard < this.byShard.length; shard++) this.openShard(shard);
  }

  /** The reader of a table of this version, opened if it is not yet. */
  reader(table: LiveTable): TableReader {
    this.#checkHeld();
    let handle = this.#handles.get(table.record.number);
    if (!handle) {
      handle = this.source.acquireHandle(table);
      this.#handles.set(table.record.number, handle);
    }
    return handle.reader;
  }

  #checkHeld(): void {
    if (this.#refs === 0) throw new Error("TableVersion used after its last release");
  }
}

export class TableSet implements HandleSource {
  readonly cache: BlockCache;
  #current: TableVersion | undefined;
  /** Every open handle of this thread, by table number. */
  readonly #open = new Map<number, TableHandle>();
  #closed = false;

  constructor(
    private readonly core: Core,
    private readonly platform: Platform,
    private readonly dir: string,
    private readonly shared: EngineShared,
    cacheBytesMax: number,
    /**
     * A read-only view's MANIFEST (open-read-only.ts): its tables are the set for good, the
     * file on disk is never read again (a writer may have replaced it since the view's log
     * replay, and mixing a newer table set with an older replay loses rows).
     */
    private readonly fixed?: ManifestData,
  ) {
    this.cache = new BlockCache({ cacheBytesMax });
  }

  /**
   * The current version, with a reference the caller must `release()`. Re-reads the
   * manifest first if the actor published a new one since the last look (or if `force`).
   */
  acquire(force = false): TableVersion {
    if (this.#closed) throw new ClosedError(`the table set of ${this.dir}`);
    this.#refresh(force);
    return this.#current!.ref();
  }

  /** Open table files of this thread now (for tests and statistics). */
  get openTables(): number {
    return this.#open.size;
  }

  #refresh(force: boolean): void {
    const generation = this.shared.manifestGeneration;
    if (!force && this.#current && generation === this.#current.generation) return;
    // The generation is read before the manifest: if the manifest is newer than it, the
    // next call reads it again, which is harmless.
    const next = new TableVersion(this, generation, this.#readLiveTables()).ref();
    for (const table of next.all()) {
      const handle = this.#open.get(table.record.number);
      if (handle) next.adopt(handle);
    }
    const previous = this.#current;
    this.#current = next;
    previous?.release();
  }

  /** The manifest's tables per shard, highest timestamp first (ties: the newer file first). */
  #readLiveTables(): LiveTable[][] {
    const manifest = this.fixed ?? readOpenManifest(this.core, this.platform, this.dir);
    const byShard: LiveTable[][] = Array.from({ length: this.shared.shards }, () => []);
    for (const record of manifest.tables) {
      byShard[record.shard].push({ record, maxTs: BigInt(record.maxTs), path: `${this.dir}/tables/${tableFileName(record.number)}` });
    }
    for (const tables of byShard) tables.sort((a, b) => (a.maxTs > b.maxTs ? -1 : a.maxTs < b.maxTs ? 1 : b.record.number - a.record.number));
    return byShard;
  }

  acquireHandle(table: LiveTable): TableHandle {
    if (this.#closed) throw new ClosedError(`table ${table.path}`);
    const open = this.#open.get(table.record.number);
    if (open) {
      open.refs++;
      return open;
    }
    let reader: TableReader;
    try {
      reader = TableReader.open(this.platform, this.core, table.path, this.cache);
    } catch (error) {
      if (hasErrorCode(error, "ENOENT")) throw new TableGoneError(table.path);
      throw error;
    }
    const differs = recordDiffers(table.record, reader);
    if (differs) {
      reader.close();
      throw new CorruptionError(`table ${table.path} is not the table the MANIFEST names: its ${differs}`, table.path);
    }
    const handle: TableHandle = { number: table.record.number, reader, refs: 1 };
    this.#open.set(handle.number, handle);
    return handle;
  }

  releaseHandle(handle: TableHandle): void {
    if (--handle.refs > 0) return;
    handle.reader.close();
    if (this.#open.get(handle.number) === handle) this.#open.delete(handle.number);
  }

  /** Closes every table file, whoever still holds a version (the database is closing). */
  close(): void {
    this.#closed = true;
    for (const handle of this.#open.values()) handle.reader.close();
    this.#open.clear();
    this.#current = undefined;
    this.cache.clear();
  }
}
