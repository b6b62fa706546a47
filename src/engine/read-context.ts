/**
 * ReadContext: one thread's means of reading the database: the core (memtables in shared
 * memory), the table set (files), the reclamation epoch, and point lookups.
 *
 * A lookup of a key at snapshot S (versions with seq < S are visible) takes, among every
 * memtable of the key's shard and every table of that shard, the visible version with the
 * highest timestamp. It cannot stop at the first memtable that has one: writers that were
 * racing a memtable freeze can leave a newer timestamp in the older memtable. Tables are
 * visited in descending order of their highest timestamp and skipped once they cannot hold
 * anything newer than what was found.
 *
 * Memtables are read inside the thread's reclamation epoch (epochEnter/epochExit, counted so
 * that a scan holding it and a get inside the scan's loop nest), so their arenas are not
 * reused under a reader.
 * Threads: the owning thread only.
 */
import type { Core } from "../core/core.ts";
import { NODE_KEY_LENGTH, NODE_HEIGHT, NODE_LINKS, NODE_SEQ, NODE_VALUE_LENGTH, VALUE_TOMBSTONE } from "../core/memtable.ts";
import type { Platform } from "../platform.ts";
import type { EngineShared } from "./shared-state.ts";
import { TableGoneError, TableSet } from "./table-set.ts";

export interface Found {
  ts: bigint;
  /** undefined: a tombstone */
  value: Uint8Array | undefined;
}

const RETRIES_MAX = 8;

export class ReadContext {
  readonly tables: TableSet;
  #epochDepth = 0;

  constructor(
    readonly core: Core,
    readonly platform: Platform,
    readonly dir: string,
    readonly shared: EngineShared,
    cacheBytesMax: number,
  ) {
    this.tables = new TableSet(core, platform, dir, shared, cacheBytesMax);
  }

  enter(): void {
    if (this.#epochDepth++ === 0) this.core.exports.epochEnter();
  }

  exit(): void {
    if (--this.#epochDepth === 0) this.core.exports.epochExit();
  }

  /** The shard's memtables now (newest first), as addresses; valid while inside the epoch. */
  memtables(shard: number): number[] {
    const core = this.core;
    const n = core.exports.shardMemtableList(shard);
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(core.u32[(core.shardList >>> 2) + i]);
    return out;
  }

  /** Newest visible version of `key` (already staged at the start of the staging area) in the given memtables. */
  #fromMemtables(memtables: number[], keyLength: number, snapshot: number): Found | undefined {
    const core = this.core;
    let best: Found | undefined;
    for (const mt of memtables) {
      const node = core.exports.memtableGetVisible(mt, core.staging, keyLength, snapshot) >>> 0;
      if (node === 0) continue;
      core.ensure(node + NODE_LINKS);
      const ts = core.u64[node >>> 3];
      if (best && best.ts >= ts) continue;
      const valueLength = core.u32[(node + NODE_VALUE_LENGTH) >>> 2];
      const keyAt = node + NODE_LINKS + core.u8[node + NODE_HEIGHT] * 4;
      const keyLen = core.u8[node + NODE_KEY_LENGTH] | (core.u8[node + NODE_KEY_LENGTH + 1] << 8);
      best = { ts, value: valueLength === VALUE_TOMBSTONE ? undefined : core.copyOut(keyAt + keyLen, valueLength) };
    }
    return best;
  }

  /**
   * The newest version of `key` visible at `snapshot` (value or tombstone), or undefined if
   * none. Without a snapshot, the visible point is read AFTER the memtable list: a flush
   * that removed a memtable from the list already published its table, and kept in it every
   * version a reader at this (or any later) visible point needs (src/engine/version-gc.ts).
   */
  lookup(key: Uint8Array, given: number | undefined): Found | undefined {
    const core = this.core;
    const keyAt = core.stage(key);
    const shard = core.exports.shardOf(keyAt, key.length) >>> 0;
    this.enter();
    let best: Found | undefined;
    let snapshot: number;
    try {
      const memtables = this.memtables(shard);
      snapshot = given ?? this.shared.visibleSeq();
      best = this.#fromMemtables(memtables, key.length, snapshot);
    } finally {
      this.exit();
    }
    if (snapshot <= 0) return best;
    const visible = BigInt(snapshot) - 1n; // tables: visible iff seq <= that
    for (let attempt = 0; ; attempt++) {
      this.tables.refresh(attempt > 0);
      try {
        let found = best;
        for (const table of this.tables.tables(shard)) {
          if (found && found.ts >= table.maxTs) break;
          const got = this.tables.reader(table).get(key, visible);
          if (got && (!found || got.ts > found.ts)) found = { ts: got.ts, value: got.value };
        }
        return found;
      } catch (error) {
        if (!(error instanceof TableGoneError)) throw error;
        if (attempt >= RETRIES_MAX) throw error.asCorruption();
      }
    }
  }

  /** Reads a memtable node's seq (for scans). */
  nodeSeq(node: number): number {
    return Number(this.core.u64[(node + NODE_SEQ) >>> 3]);
  }

  close(): void {
    this.tables.close();
  }
}
