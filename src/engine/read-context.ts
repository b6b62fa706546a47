/**
 * ReadContext: one thread's means of reading the database: the core (memtables in shared
 * memory), the table set (files, as reference-counted versions), the reclamation epoch, and
 * point lookups.
 *
 * A lookup of a key at snapshot S (versions with seq < S are visible) takes, among every
 * memtable of the key's shard and every table of that shard, the visible version with the
 * highest timestamp. It cannot stop at the first memtable that has one: writers that were
 * racing a memtable freeze can leave a newer timestamp in the older memtable. Tables are
 * visited in descending order of their highest timestamp and skipped once they cannot hold
 * anything newer than what was found.
 *
 * What a read holds while it runs (so that nothing it reads changes or goes away):
 * - the thread's reclamation epoch while it reads memtables (epochEnter/epochExit, counted
 *   so that a scan holding it and a get inside the scan's loop nest; the word keeps the
 *   OUTERMOST entry's epoch, which protects everything a nested read loads too), so their
 *   arenas are not reused under it;
 * - a reference on a TableVersion with the tables it reads open (table-set.ts), so a
 *   compaction deleting them, or this thread loading a newer version, closes nothing it
 *   still reads.
 *
 * Order of a read without a registered snapshot (pinRead): (1) the memtable lists, (2) the
 * table version, its tables opened, (3) S = the visible point, (3b) check that each shard's
 * active memtable is still the newest of its list (1), else start again, (4) the memtables'
 * contents, then the tables. Why every version with seq < S is found, and with what S needs
 * kept:
 * - it was linked into its memtable M before it was published, so before (3). If M is in
 *   the list (1), step (4) reads M after (3) and finds it.
 * - if M is not in the list, either M was installed by a freeze after (1): then the active
 *   memtable at (3b) is not the one (1) listed (it is M or newer), and the read starts
 *   again (a freeze between (1) and (3) is rare, so is a retry); or a flush removed M, and
 *   it publishes its table (manifest and generation) before removing the memtable: the
 *   table is in the version (2), or a merge output that replaced it is. (Without (3b), a
 *   scan returned half of a batch published into a memtable frozen in between:
 *   tests/engine/model-threads.test.ts.)
 * - every table in the version was written by a flush or merge that read its visible point
 *   V before publishing the table, so before (2), so V <= S: version GC kept every version
 *   a reader at S or later needs (version-gc.ts). And the version's files are open from (2)
 *   on, so no later merge (whose V may exceed S) can take them away.
 * With a registered snapshot S (db.snapshot(), or a scan given one), S was read before (1)
 * and the flushes and merges that ran since kept what S needs (its slot, shared-state.ts):
 * the same steps find every version.
 * A large batch (actor.ts #commitLarge) is the one writer whose versions are linked before
 * their memtable is in any list: the actor fills a private memtable under the batch's
 * commit record C, installs it (two rotations, each a change of the active memtable), and
 * only then publishes C. So the first point above holds for it too: a read whose S passes
 * C read S after C was published, so after the install; if the install came after (1),
 * (3b) sees another active memtable than (1) listed and the read starts again (a
 * multi-shard scan checks every shard, so it never takes one shard's batch memtable and
 * misses another's); if it came before (1), (1) lists the memtable. With a registered
 * snapshot S > C, S itself was read after the publication, so before (1), after the
 * install: (1) lists it. (The check (3b) cannot be fooled by reuse: the active memtable
 * listed at (1) stays in the list, and its arena unreclaimed, while this thread is in its
 * epoch.)
 * Garbage: a lookup allocates nothing of its own (docs/PERFORMANCE.md, "A get's garbage"):
 * it reuses one PinnedRead (#lookupPin, its memtable lists filled in place) and keeps the
 * version found so far in two fields (#foundTs, #foundValue). Reuse cannot overlap: a lookup
 * calls no user code and starts no other read on this context before it returns (a scan
 * pins its own PinnedRead, and a get inside a scan's loop runs between the scan's steps),
 * and #foundValue is cleared before the value is returned, so the context keeps nothing
 * the caller may drop.
 * Held scans (scan.ts re-pinning): the context keeps this thread's scans that hold a
 * snapshot slot of their own, weakly, and the slots themselves (given back at close), and
 * publishes how many such scans are open in the ThreadBlock (TB_HELD_SCANS, an atomic store
 * the actor reads to decide whether asking this thread to let go can help: channel.ts).
 * `letGoHeldScans` re-pins them; it runs on this thread only, between synchronous steps.
 * Threads: the owning thread only (the actor only reads the TB_HELD_SCANS word).
 */
import type { Core } from "../core/core.ts";
import { NODE_KEY_LENGTH, NODE_HEIGHT, NODE_LINKS, NODE_VALUE_LENGTH, VALUE_TOMBSTONE } from "../core/memtable.ts";
import type { Platform } from "../platform.ts";
import { ClosedError, publicError, ShardlineError } from "../errors.ts";
import { filterHash1, filterHash2 } from "../table/bloom-filter.ts";
import { ValueRead } from "../table/table-reader.ts";
import type { EngineShared } from "./shared-state.ts";
import type { ManifestData } from "./manifest.ts";
import { TableGoneError, TableSet, type TableVersion } from "./table-set.ts";
import { CALL_BYTES, GarbagePacer } from "./garbage-pacer.ts";
import { TB_HELD_SCANS } from "./channel.ts";
import { ValueCopies } from "./value-copies.ts";

/** What pinRead pins (steps (1) to (3b) of the header), for the caller to read and release. */
export class PinnedRead {
  /** Per shard asked for, in the same order: its memtables, newest first. */
  readonly memtables: number[][] = [];
  /** The table version, referenced: the caller releases it. */
  version: TableVersion | undefined;
  /** S: versions with seq below it are visible. */
  snapshot = 0;
}

/** What a lookup with ValueRead.VIEW (has) gives for a value: present, not copied. */
export const PRESENT = new Uint8Array(0);

const RETRIES_MAX = 8;
/** Reads started again because a freeze fell between their steps (1) and (3): far more than a write load can cause. */
const FREEZE_RETRIES_MAX = 10_000;

export class ReadContext {
  readonly tables: TableSet;
  /** Entry epochs of this thread's open reads, oldest first (the global epoch only rises). */
  readonly #openEpochs: number[] = [];
  #closed = false;
  /**
   * The lookup under way: the newest visible version's timestamp so far (-1: none), and
   * its value (undefined: a tombstone, or none). Fields, not an object a version: a get
   * makes no garbage of its own.
   */
  #foundTs: number | bigint = -1;
  #foundValue: Uint8Array | string | undefined;
  /** What lookup pins, and its one shard: kept, so that a get makes no garbage of its own. */
  readonly #lookupPin = new PinnedRead();
  readonly #lookupShard = [0];

  constructor(
    readonly core: Core,
    readonly platform: Platform,
    readonly dir: string,
    readonly shared: EngineShared,
    cacheBytesMax: number,
    /** A read-only view's MANIFEST, its table set for good (table-set.ts). */
    manifest?: ManifestData,
  ) {
    this.tables = new TableSet(core, platform, dir, shared, cacheBytesMax, manifest);
    const mark = platform.markUntransferable;
    this.copies = new ValueCopies(mark ? (buffer) => mark.call(platform, buffer) : undefined, platform.pooledCopyBytesMin);
    const collectYoung = platform.collectYoung;
    this.garbage = new GarbagePacer(collectYoung ? () => collectYoung.call(platform) : undefined);
  }

  /** Counts the garbage this thread's calls make, for collectors that need asking (garbage-pacer.ts). */
  readonly garbage: GarbagePacer;

  /** How this thread's reads copy what they hand out (value-copies.ts). */
  readonly copies: ValueCopies;

  /** Scans dropped without being ended, released by the garbage collector (scan.ts). */
  abandonedScans = 0;

  /**
   * This thread's open scans that hold a snapshot slot of their own, so can re-pin newer
   * sources (scan.ts ScanIterator.repin). Weak: a scan dropped without being ended must
   * stay collectable (its pins are released by the collector, and it leaves the set then).
   */
  readonly #repinnable = new Set<WeakRef<{ repin(): void }>>();

  /** Whether this thread has open scans that can re-pin (a plain check on the write path). */
  get holdsRepinnable(): boolean {
    return this.#repinnable.size > 0;
  }

  /** A scan that can re-pin, open from now until `dropRepinnable`. */
  addRepinnable(scan: WeakRef<{ repin(): void }>): void {
    this.#repinnable.add(scan);
    this.#advertise();
  }

  dropRepinnable(scan: WeakRef<{ repin(): void }>): void {
    if (this.#repinnable.delete(scan)) this.#advertise();
  }

  /**
   * Tells the actor how many scans of this thread can let go (the ThreadBlock's word at
   * TB_HELD_SCANS): it asks this thread to (channel.ts askLetGo) only if some can, and
   * refuses other writes at once. A dropped scan not yet collected is still counted: the
   * actor then waits for nothing, once, before it refuses.
   */
  #advertise(): void {
    if (this.#closed) return;
    Atomics.store(this.core.i32, (this.core.threadBlock + TB_HELD_SCANS) >>> 2, this.#repinnable.size);
  }

  /**
   * Lets this thread's held scans go of what flushes made obsolete since they pinned it
   * (called by this thread's channel-path writes, the writes that wait for memtable room,
   * and when the actor asks: channel.ts askLetGo). A scan that cannot re-pin ends, and its
   * next step throws that error.
   */
  letGoHeldScans(): void {
    for (const ref of this.#repinnable) {
      const scan = ref.deref();
      if (!scan) {
        this.dropRepinnable(ref);
        continue;
      }
      try {
        scan.repin();
      } catch {
        // repin ended the scan; its caller learns of it at its next step (a ClosedError or
        // what the table open threw is not this write's failure).
      }
    }
  }

  /** Snapshot slots this thread's scans hold (scan.ts): given back by them, or by `close`. */
  readonly #scanSlots = new Set<number>();

  /** A snapshot slot for a scan and S (shared-state.ts takeSnapshot), or undefined when every slot is taken. */
  tryTakeSnapshot(): [number, number] | undefined {
    this.#checkOpen();
    let taken: [number, number];
    try {
      taken = this.shared.takeSnapshot(undefined, true);
    } catch (error) {
      if (error instanceof RangeError) return undefined;
      throw error;
    }
    this.#scanSlots.add(taken[0]);
    return taken;
  }

  /**
   * Gives a scan's slot back. After `close` it is already free: close gives back every slot
   * still held (a scan left open, or dropped and not yet collected, would keep its slot in
   * the database's shared memory for the opener's life when an attached handle closed).
   */
  releaseScanSlot(slot: number): void {
    if (!this.#scanSlots.delete(slot) || this.#closed) return;
    this.shared.releaseSnapshot(slot);
  }

  /**
   * Enters a read; returns its entry epoch, which its `exit` gives back. The first open
   * read stores the thread's word; a read that begins while others are open records the
   * epoch now (the word keeps the oldest).
   */
  enter(): number {
    this.#checkOpen();
    const epoch = this.#openEpochs.length === 0 ? this.core.exports.epochEnter() >>> 0 : this.core.exports.epochNow() >>> 0;
    this.#openEpochs.push(epoch);
    return epoch;
  }

  /**
   * Ends the read that entered at `epoch`. The last one clears the word; when the oldest
   * ends and later ones go on, the word rises to the oldest still open, so reads that
   * overlap without end (two scans open in turn) do not hold back every arena retired
   * since the first (they did: found by review, 2026-12-04; tests/engine/overlapping-reads).
   * After `close` the thread's block may already belong to another thread (Core.detach): a
   * scan ending then touches nothing.
   */
  exit(epoch: number): void {
    const open = this.#openEpochs;
    const last = open.length - 1;
    const at = last >= 0 && open[last] === epoch ? last : open.lastIndexOf(epoch);
    if (at < 0) throw new Error(`ReadContext: no open read entered at epoch ${epoch}`);
    if (at === last) open.pop(); // the common case (a get, nested or not): no garbage
    else open.splice(at, 1);
    if (this.#closed) return;
    if (open.length === 0) this.core.exports.epochExit();
    else if (at === 0 && open[0] !== epoch) this.core.exports.epochHold(open[0]);
  }

  /** The shard's memtables now (newest first), as addresses, into `out` (its old contents replaced); valid while inside the epoch. */
  memtables(shard: number, out: number[] = []): number[] {
    const core = this.core;
    const n = core.exports.shardMemtableList(shard);
    for (let i = 0; i < n; i++) out[i] = core.u32[(core.shardList >>> 2) + i];
    // Only when it changes: setting an array's length goes through V8's runtime even to the
    // same value (~5% of a memtable get, measured 2026-12-05).
    if (out.length !== n) out.length = n;
    return out;
  }

  /**
   * Newest visible version of `key` (already staged at the start of the staging area) in the
   * given memtables, its value as `read` says (ValueRead.VIEW: PRESENT).
   */
  #fromMemtables(memtables: number[], keyLength: number, snapshot: number, read: ValueRead): void {
    const core = this.core;
    for (let i = 0; i < memtables.length; i++) {
      const mt = memtables[i];
      const node = core.exports.memtableGetVisible(mt, core.staging, keyLength, snapshot) >>> 0;
      if (node === 0) continue;
      const ts = core.u64Number(node); // a number: exact below 2^53, which a shard's counter never reaches
      if (this.#foundTs >= ts) continue;
      this.#foundTs = ts;
      const valueLength = core.u32[(node + NODE_VALUE_LENGTH) >>> 2];
      if (valueLength === VALUE_TOMBSTONE || read === ValueRead.VIEW) {
        this.#foundValue = valueLength === VALUE_TOMBSTONE ? undefined : PRESENT;
        continue;
      }
      const keyAt = node + NODE_LINKS + core.u8[node + NODE_HEIGHT] * 4;
      const keyLen = core.u8[node + NODE_KEY_LENGTH] | (core.u8[node + NODE_KEY_LENGTH + 1] << 8);
      const valueAt = keyAt + keyLen;
      this.#foundValue = read === ValueRead.TEXT ? core.textAt(valueAt, valueLength) : this.copies.copy(core.u8, valueAt, valueAt + valueLength);
    }
  }

  /**
   * The value of the newest version of `key` visible at `given` (or, without one, at the
   * visible point read in the order of the header); undefined if that version is a
   * tombstone or there is none. The value as `read` says: a copy (get), its UTF-8 text (getString), or PRESENT, an empty array
   * (has: nothing copied). `key` is not kept: the caller may reuse its bytes afterwards.
   */
  lookup(key: Uint8Array, given: number | undefined, read: ValueRead = ValueRead.COPY): Uint8Array | string | undefined {
    this.#checkOpen();
    const shard = this.core.shardOf(key);
    const epoch = this.enter();
    let version: TableVersion | undefined;
    let snapshot: number;
    this.#foundTs = -1;
    this.#foundValue = undefined;
    try {
      // One pin a thread, reused: a lookup calls nothing that could start another meanwhile.
      const pinned = this.#lookupPin;
      this.#lookupShard[0] = shard;
      this.pinRead(this.#lookupShard, given, pinned); // (1) to (3b)
      version = pinned.version!;
      pinned.version = undefined;
      snapshot = pinned.snapshot;
      this.core.stage(key); // after (2): opening a table stages its checksums
      this.#fromMemtables(pinned.memtables[0], key.length, snapshot, read); // (4)
    } catch (error) {
      version?.release();
      throw publicError(error); // a file that could not be opened or read: FileSystemError, as everywhere in the API
    } finally {
      this.exit(epoch);
    }
    try {
      if (snapshot! > 0) this.#fromTables(version!, shard, key, snapshot!, read);
    } catch (error) {
      throw publicError(error);
    } finally {
      version!.release();
    }
    const value = this.#foundValue as Uint8Array | string | undefined; // set by the calls above (TypeScript narrowed it at the start)
    this.#foundValue = undefined; // keeps nothing the caller may drop
    this.garbage.note(CALL_BYTES + (value === undefined ? 0 : typeof value === "string" ? value.length * 2 : value.length));
    return value;
  }

  /**
   * Steps (1) to (3b) of the header for `shards`: their memtable lists (aligned with
   * `shards`), a referenced table version with their tables open (the caller releases it),
   * and S (`given`, or the visible point read after the version). Call inside the epoch.
   */
  pinRead(shards: readonly number[], given: number | undefined, into: PinnedRead = new PinnedRead()): PinnedRead {
    const memtables = into.memtables;
    for (let attempt = 0; ; attempt++) {
      for (let i = 0; i < shards.length; i++) memtables[i] = this.memtables(shards[i], memtables[i]); // (1)
      if (memtables.length !== shards.length) memtables.length = shards.length;
      const version = this.pin(shards); // (2)
      const snapshot = given ?? this.shared.visibleSeq(); // (3)
      // (3b) A registered snapshot needs no check: a write admitted into a memtable installed
      // after (1) reserved its seq after (1), so after S was read; a large batch's memtable,
      // installed after (1), holds a seq whose record was published after (1), so after S.
      if (given !== undefined || this.#activeStill(shards, memtables)) {
        into.version = version;
        into.snapshot = snapshot;
        return into;
      }
      version.release();
      if (attempt >= FREEZE_RETRIES_MAX) {
        throw new ShardlineError(`a read found a memtable freeze between its steps ${FREEZE_RETRIES_MAX} times in a row`, "SHARDLINE_INTERNAL");
      }
    }
  }

  /** Step (3b): whether each shard's active memtable is still the newest one (1) listed. */
  #activeStill(shards: readonly number[], memtables: number[][]): boolean {
    const e = this.core.exports;
    for (let i = 0; i < shards.length; i++) if (memtables[i][0] !== e.shardActiveMemtable(shards[i]) >>> 0) return false;
    return true;
  }

  /**
   * The current table version, referenced (the caller releases it), with every table of
   * `shards` open. A table deleted between the manifest read and the open means the
   * manifest read was stale: read it again (up to RETRIES_MAX times, then the MANIFEST
   * names a file that is not there: CorruptionError).
   */
  pin(shards: readonly number[]): TableVersion {
    for (let attempt = 0; ; attempt++) {
      const version = this.tables.acquire(attempt > 0);
      try {
        for (let i = 0; i < shards.length; i++) version.openShard(shards[i]);
        return version;
      } catch (error) {
        version.release();
        if (!(error instanceof TableGoneError)) throw error;
        if (attempt >= RETRIES_MAX) throw this.tableGone?.() ?? error.asCorruption();
      }
    }
  }

  /**
   * A live reader's view (live-reader.ts): why a table its MANIFEST names can be gone other
   * than damage, if it is so now (the writer evicted the reader: ReaderEvictedError).
   */
  tableGone: (() => Error | undefined) | undefined;

  /** The shard's tables' newest version of `key` visible at `snapshot` if newer than `best`. */
  #fromTables(version: TableVersion, shard: number, key: Uint8Array, snapshot: number, read: ValueRead): void {
    const seqMax = snapshot - 1; // tables: visible iff seq <= that
    let h1 = -1;
    let h2 = -1;
    const tables = version.tables(shard);
    for (let i = 0; i < tables.length; i++) {
      const table = tables[i];
      if (this.#foundTs >= table.maxTs) break; // a number against a bigint: compared exactly
      if (h1 < 0) {
        // Once per lookup, not per table: the filter hashes depend on the key alone.
        h1 = filterHash1(this.core, key);
        h2 = filterHash2(this.core, key);
      }
      const got = version.reader(table).getVisible(key, seqMax, h1, h2, read, this.copies);
      if (got && got.ts > this.#foundTs) {
        this.#foundTs = got.ts;
        this.#foundValue = got.value === undefined || read !== ValueRead.VIEW ? got.value : PRESENT;
      }
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A read is under way on this thread: a scan not yet ended holds the epoch (scan.ts). */
  get busy(): boolean {
    return this.#openEpochs.length > 0;
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError(`database ${this.dir}`);
  }

  close(): void {
    this.#repinnable.clear();
    this.#advertise();
    for (const slot of this.#scanSlots) this.shared.releaseSnapshot(slot);
    this.#scanSlots.clear();
    this.#closed = true;
    this.tables.close();
  }
}
