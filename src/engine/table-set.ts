/**
 * TableSet: one thread's view of the database's live table files.
 *
 * The actor publishes a new set by replacing MANIFEST and then bumping the shared manifest
 * generation; a thread re-reads MANIFEST when it sees a new generation, and opens table
 * readers lazily (each thread has its own file handles and block cache). A table a
 * compaction removed may vanish between the manifest read and the open: `reader` then
 * throws TableGoneError and the caller refreshes and retries; a thread that already has a
 * table open keeps reading it (the file stays readable until closed).
 *
 * Per shard, tables are kept in descending order of their highest timestamp, so a lookup
 * can stop at the first table whose newest version is older than what it already found.
 * Threads: the owning thread only.
 */
import { CorruptionError } from "../errors.ts";
import type { Core } from "../core/core.ts";
import { hasErrorCode, type Platform } from "../platform.ts";
import { BlockCache } from "../table/block-cache.ts";
import { TableReader } from "../table/table-reader.ts";
import { readManifest, type TableRecord, tableFileName } from "./manifest.ts";
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

export class TableSet {
  readonly cache: BlockCache;
  #generation = -1;
  #byShard: LiveTable[][] = [];
  #readers = new Map<number, TableReader>();

  constructor(
    private readonly core: Core,
    private readonly platform: Platform,
    private readonly dir: string,
    private readonly shared: EngineShared,
    cacheBytesMax: number,
  ) {
    this.cache = new BlockCache({ cacheBytesMax });
  }

  /** Re-reads the manifest if the actor published a new one since the last look. */
  refresh(force = false): void {
    const generation = this.shared.manifestGeneration;
    if (!force && generation === this.#generation) return;
    const manifest = readManifest(this.core, this.platform, this.dir);
    const byShard: LiveTable[][] = Array.from({ length: this.shared.shards }, () => []);
    const live = new Set<number>();
    for (const record of manifest?.tables ?? []) {
      byShard[record.shard].push({ record, maxTs: BigInt(record.maxTs), path: `${this.dir}/tables/${tableFileName(record.number)}` });
      live.add(record.number);
    }
    for (const tables of byShard) tables.sort((a, b) => (a.maxTs > b.maxTs ? -1 : a.maxTs < b.maxTs ? 1 : b.record.number - a.record.number));
    for (const [number, reader] of this.#readers) {
      if (!live.has(number)) {
        reader.close();
        this.#readers.delete(number);
      }
    }
    this.#byShard = byShard;
    this.#generation = generation;
  }

  /** The shard's live tables, highest timestamp first (call `refresh` first). */
  tables(shard: number): readonly LiveTable[] {
    return this.#byShard[shard] ?? [];
  }

  /** Every live table of every shard. */
  all(): LiveTable[] {
    return this.#byShard.flat();
  }

  /** The table's reader, opened on first use. */
  reader(table: LiveTable): TableReader {
    let reader = this.#readers.get(table.record.number);
    if (!reader) {
      try {
        reader = TableReader.open(this.platform, this.core, table.path, this.cache);
      } catch (error) {
        if (hasErrorCode(error, "ENOENT")) throw new TableGoneError(table.path);
        throw error;
      }
      this.#readers.set(table.record.number, reader);
    }
    return reader;
  }

  close(): void {
    for (const reader of this.#readers.values()) reader.close();
    this.#readers.clear();
    this.cache.clear();
  }
}
