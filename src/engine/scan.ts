/**
 * Scans: the database's rows in key order, across every shard, memtable and table.
 *
 * Each memtable and table gives a cursor over its versions in (key ascending, ts
 * descending) order; a binary heap merges them all. For each key, the newest version
 * visible to the snapshot (seq < S) decides: a value is yielded, a tombstone hides the
 * key. Forward, the first visible version popped for a key is the newest; in reverse the
 * heap yields a key's versions oldest first, so the last visible one wins.
 *
 * A scan reads at the point of its creation (`db.scan()`) until it ends or is closed by
 * `break`/`return`, holding a snapshot slot, the thread's reclamation epoch (memtable
 * arenas stay valid) and a table version with every table open (files stay readable
 * through compactions and this thread's later reads); after a flush or merge it trades
 * them for the current ones at the same point (`ScanIterator.repin`). See `ScanIterator`. Keys and
 * values yielded are copies (value-copies.ts: they may share an untransferable ArrayBuffer).
 * A scan that ends gives its table cursors back to their readers (TableReader.releaseCursor)
 * before it releases the version, so the next scan allocates none; a scan dropped without
 * ending keeps them (the collector takes them).
 * Threads: the thread that iterates it (re-pins included: they run in its steps and in that
 * thread's writes, never while another of its steps is under way, as scans run no user code).
 */
import { KEY_BYTES_MAX } from "../core/core.ts";
import { NODE_HEIGHT, NODE_KEY_LENGTH, NODE_LINKS, NODE_SEQ, NODE_VALUE_LENGTH, VALUE_TOMBSTONE } from "../core/memtable.ts";
import type { TableCursor } from "../table/table-cursor.ts";
import { compareByteRanges, compareKeys } from "../table/key-order.ts";
import type { TableReader } from "../table/table-reader.ts";
import { ClosedError, publicError } from "../errors.ts";
import type { ReadContext } from "./read-context.ts";
import type { TableVersion } from "./table-set.ts";
import { CALL_BYTES } from "./garbage-pacer.ts";
import type { ValueCopies } from "./value-copies.ts";

export interface ScanBounds {
  /** Inclusive lower bound. */
  lower?: Uint8Array;
  lowerExclusive?: boolean;
  /** Upper bound. */
  upper?: Uint8Array;
  upperInclusive?: boolean;
  reverse?: boolean;
  limit?: number;
  /** Stay open at the natural end (a later seek can go back) until `return()`. */
  holdAtEnd?: boolean;
}

/** The smallest key greater than every key that starts with `prefix`; undefined when there is none (all 0xff). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  const end = new Uint8Array(prefix); // a copy: slice() of a Node Buffer is a view of the caller's bytes
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] !== 0xff) {
      end[i]++;
      return end.slice(0, i + 1);
    }
  }
  return undefined;
}

/**
 * One source of versions: a memtable or a table. Its current key is
 * keyBytes[keyStart, keyStart + keyLength) (the shared memory, or the table cursor's key
 * buffer), and its timestamp and seq are numbers (exact below 2^53): a row makes no view and
 * no BigInt of its own.
 */
interface Source {
  valid: boolean;
  keyBytes: Uint8Array;
  keyStart: number;
  keyLength: number;
  ts: number;
  seq: number;
  tombstone: boolean;
  /** The current value, copied by `copies`. */
  copyValue(copies: ValueCopies): Uint8Array;
  next(): void;
  prev(): void;
}

class MemtableSource implements Source {
  valid = false;
  keyBytes: Uint8Array;
  keyStart = 0;
  keyLength = 0;
  ts = 0;
  seq = 0;
  tombstone = false;
  #node = 0;
  #valueAt = 0;
  #valueLength = 0;

  constructor(private readonly ctx: ReadContext, private readonly mt: number) {
    this.keyBytes = ctx.core.u8;
  }

  #load(node: number): void {
    this.#node = node;
    this.valid = node !== 0;
    if (!this.valid) return;
    const core = this.ctx.core;
    const u8 = core.u8;
    const keyLength = u8[node + NODE_KEY_LENGTH] | (u8[node + NODE_KEY_LENGTH + 1] << 8);
    const keyAt = node + NODE_LINKS + u8[node + NODE_HEIGHT] * 4;
    const valueLength = core.u32[(node + NODE_VALUE_LENGTH) >>> 2];
    this.keyStart = keyAt;
    this.keyLength = keyLength;
    this.ts = core.u64Number(node);
    this.seq = core.u64Number(node + NODE_SEQ);
    this.tombstone = valueLength === VALUE_TOMBSTONE;
    this.#valueAt = keyAt + keyLength;
    this.#valueLength = this.tombstone ? 0 : valueLength;
  }

  copyValue(copies: ValueCopies): Uint8Array {
    return copies.copy(this.ctx.core.u8, this.#valueAt, this.#valueAt + this.#valueLength);
  }

  seek(key: Uint8Array | undefined): void {
    const e = this.ctx.core.exports;
    if (!key) return this.#load(e.memtableFirst(this.mt) >>> 0);
    this.#load(e.memtableSeekGE(this.mt, this.ctx.core.stage(key), key.length, 0xffffffffffffffffn) >>> 0);
  }

  seekBefore(key: Uint8Array | undefined): void {
    const e = this.ctx.core.exports;
    if (!key) return this.#load(e.memtableLast(this.mt) >>> 0);
    this.#load(e.memtableSeekLT(this.mt, this.ctx.core.stage(key), key.length, 0xffffffffffffffffn) >>> 0);
  }

  next(): void {
    this.#load(this.ctx.core.exports.memtableNext(this.#node) >>> 0);
  }

  prev(): void {
    this.#load(this.ctx.core.exports.memtablePrev(this.mt, this.#node) >>> 0);
  }
}

class TableSource implements Source {
  valid = false;
  keyBytes: Uint8Array;
  keyStart = 0;
  keyLength = 0;
  ts = 0;
  seq = 0;
  tombstone = false;

  constructor(private readonly cursor: TableCursor, private readonly reader: TableReader) {
    this.keyBytes = cursor.keyBuffer; // one buffer for the cursor's life (its block cursor is readonly)
  }

  /** Gives the cursor back to its reader (the scan ended and reads nothing more). */
  release(): void {
    this.valid = false;
    this.reader.releaseCursor(this.cursor);
  }

  #load(ok: boolean): void {
    this.valid = ok;
    if (!ok) return;
    const c = this.cursor;
    this.keyLength = c.keyLength;
    this.ts = c.tsHi * 4294967296 + c.tsLo;
    this.seq = c.seqHi * 4294967296 + c.seqLo;
    this.tombstone = c.isTombstone;
  }

  copyValue(copies: ValueCopies): Uint8Array {
    const value = this.cursor.value!;
    return copies.copy(value, 0, value.length);
  }

  seek(key: Uint8Array | undefined): void {
    this.#load(key ? this.cursor.seek(key) : this.cursor.seekFirst());
  }

  seekBefore(key: Uint8Array | undefined): void {
    this.#load(key ? this.cursor.seekBefore(key) : this.cursor.seekLast());
  }

  next(): void {
    this.#load(this.cursor.next());
  }

  prev(): void {
    this.#load(this.cursor.prev());
  }
}

/** Binary heap of sources; `before(a, b)` true when a comes first. */
class SourceHeap {
  items: Source[] = [];
  constructor(private readonly before: (a: Source, b: Source) => boolean) {}

  push(s: Source): void {
    const items = this.items;
    items.push(s);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }

  /** Restores the heap after the top moved (or removes it when it is no longer valid). */
  fixTop(): void {
    const items = this.items;
    if (!items[0].valid) {
      const last = items.pop()!;
      if (items.length === 0) return;
      items[0] = last;
    }
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < items.length && this.before(items[l], items[best])) best = l;
      if (r < items.length && this.before(items[r], items[best])) best = r;
      if (best === i) return;
      [items[i], items[best]] = [items[best], items[i]];
      i = best;
    }
  }
}

/** The two sources' current keys compared. */
const compareSourceKeys = (a: Source, b: Source) => compareByteRanges(a.keyBytes, a.keyStart, a.keyStart + a.keyLength, b.keyBytes, b.keyStart, b.keyStart + b.keyLength);
const forward = (a: Source, b: Source) => {
  const c = compareSourceKeys(a, b);
  return c < 0 || (c === 0 && a.ts > b.ts);
};
const backward = (a: Source, b: Source) => {
  const c = compareSourceKeys(a, b);
  return c > 0 || (c === 0 && a.ts < b.ts);
};

/**
 * Rows in key order from every shard: [key, value] copies, at `given` (a registered
 * snapshot) or, without one, at S, the visible point when it was created.
 *
 * Without `given`, the iterator takes a snapshot slot of its own when it is created
 * (`db.scan()`: S is read then, as `db.snapshot()` reads it) and pins its sources at S:
 * the epoch (memtable arenas stay valid) and a reference on a table version whose every
 * table is open (files stay readable though a compaction deletes them, and this thread
 * loading a newer version closes nothing the scan reads). It holds them until it ends
 * (finished, `break`/`return`, an error, or its `limit` reached), or until a flush or merge
 * published a newer table version: then, between two rows, it re-pins (`repin`): the
 * current memtables and tables, at the same S, positioned at the key it would have read
 * next. That is what lets a scan held open across any amount of writes keep no memtable
 * the flushes retired (held, the epoch kept every arena retired since the scan began, and
 * the writes were refused with MemoryFullError after ~512 MiB). Why the rows do not change:
 * the slot made every flush and merge since S keep the newest version of each key below S
 * (version-gc.ts; the slot was filled before the first pin, so before any of them read its
 * horizon: shared-state.ts), versions written later have seq >= S and are invisible, and a
 * row's key is the heap's top when the scan re-pins, every version of it still unread.
 * With no slot free for scans (SCAN_SLOTS_MAX of the SNAPSHOTS_MAX `db.snapshot()` shares),
 * or with `given` (whose slot is the caller's to release), it keeps its first pins for its
 * whole life: pinned in the order of a get (read-context.ts pinRead: memtable lists, then
 * the table version, then S, then the check that no freeze came in between), nothing it
 * reads changes under it.
 *
 * `seek(target)` repositions every source (the same pinned ones, so at the same S) at the
 * first key >= target (reverse: <= target), clamped to the scan's bounds; `limit` counts
 * rows over the whole life of the iterator, seeks included. A target, like a bound, may be
 * longer than any key (`seekable`); a memtable seek then takes KEY_BYTES_MAX + 1 bytes.
 */
/**
 * What a scan holds while it is open: this thread's epoch, a table version, and (when one
 * was free) a snapshot slot of its own. Kept apart from the iterator so that an iterator
 * dropped without being ended (never stepped to its end, no `break`, no `return()`) can be
 * released by the garbage collector: otherwise it would keep this thread in the epoch (no
 * memtable arena reused), its table files open and its slot taken until the handle closes.
 * `ReadContext.abandonedScans` counts those releases. A re-pin (ScanIterator.repin)
 * replaces `epoch` and `version`; the slot stays until release.
 */
class ScanPins {
  version: TableVersion | undefined;
  #held = true;

  /** `epoch`: the scan's entry epoch (ReadContext.enter), given back at release. `slot`: its snapshot slot, if it took one. */
  constructor(readonly ctx: ReadContext, public epoch: number, readonly slot: number | undefined) {}

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    const version = this.version;
    this.version = undefined;
    try {
      version?.release();
    } finally {
      this.ctx.exit(this.epoch);
      if (this.slot !== undefined) this.ctx.releaseScanSlot(this.slot); // (close gave it back already)
    }
  }
}

const abandonedScans = new FinalizationRegistry<ScanPins>((pins) => {
  pins.ctx.abandonedScans++;
  pins.release();
});

export class ScanIterator implements IterableIterator<[Uint8Array, Uint8Array]> {
  readonly #ctx: ReadContext;
  readonly #bounds: ScanBounds;
  readonly #reverse: boolean;
  readonly #limit: number;
  readonly #heap: SourceHeap;
  #sources: Array<MemtableSource | TableSource> = [];
  #pins: ScanPins | undefined;
  #snapshot = 0;
  #produced = 0;
  /** Pins held (entered the epoch, referenced the version); false once ended. */
  #open = false;
  /** Why a re-pin ended the scan: its later steps throw it (they must not answer "done"). */
  #failure: Error | undefined;
  /** This scan among ReadContext's repinnable ones while it is open with a slot of its own. */
  #self: WeakRef<ScanIterator> | undefined;

  readonly #toKey: (target: unknown) => Uint8Array;

  /** `toKey` validates and converts `seek`'s target (the database's key rules). */
  constructor(ctx: ReadContext, given: number | undefined, bounds: ScanBounds, toKey: (target: unknown) => Uint8Array = (t) => t as Uint8Array) {
    this.#ctx = ctx;
    this.#toKey = toKey;
    this.#bounds = bounds;
    this.#reverse = bounds.reverse ?? false;
    this.#limit = bounds.limit ?? Infinity;
    this.#heap = new SourceHeap(this.#reverse ? backward : forward);
    if (this.#limit <= 0) return;
    // A slot of its own (taken before anything is pinned: S is read first, as for a
    // snapshot) lets the scan re-pin newer sources at the same S later (repin); with no
    // slot free it pins what it reads for its whole life instead.
    const own = given === undefined ? ctx.tryTakeSnapshot() : undefined;
    const epoch = ctx.enter();
    this.#open = true;
    const pins = (this.#pins = new ScanPins(ctx, epoch, own?.[0]));
    abandonedScans.register(this, pins, pins);
    try {
      this.#pinSources(own?.[1] ?? given);
      this.#position(undefined);
    } catch (error) {
      this.#end();
      throw publicError(error);
    }
    if (own) ctx.addRepinnable(this.#self = new WeakRef(this));
  }

  /** Pins every shard's memtables and the table version at `given` (or at the visible point then: pinRead) and makes their sources. */
  #pinSources(given: number | undefined): void {
    const ctx = this.#ctx;
    const shards = ctx.shared.shards;
    const pinned = ctx.pinRead(Array.from({ length: shards }, (_, shard) => shard), given);
    const version = (this.#pins!.version = pinned.version!);
    this.#snapshot = pinned.snapshot;
    for (let shard = 0; shard < shards; shard++) {
      for (const mt of pinned.memtables[shard]) this.#sources.push(new MemtableSource(ctx, mt));
      for (const table of version.tables(shard)) {
        const reader = version.reader(table);
        this.#sources.push(new TableSource(reader.cursor(), reader));
      }
    }
  }

  /**
   * Lets go of the memtables and tables pinned at the last (re-)pin when a flush or merge
   * published a new table version since, and pins the current ones at the same S: the
   * scan's slot kept every version S sees through those flushes and merges (shared-state.ts,
   * version-gc.ts), so the new sources hold the same rows at S. Called between rows (by
   * `next`, `seek`, this thread's channel-path writes, and the actor's request that this
   * thread let go, which its reply wait receives: ReadContext.letGoHeldScans, channel.ts
   * askLetGo; all of them run on this thread between its synchronous steps), so the heap's
   * top is the next row's candidate: the new sources are positioned at its key.
   * Without it, a scan held open across writes kept every memtable flushed since it began
   * (the epoch) and the writes were refused with MemoryFullError after ~512 MiB.
   */
  repin(): void {
    const pins = this.#pins;
    if (!this.#open || pins?.slot === undefined || this.#ctx.closed) return;
    if (this.#ctx.shared.manifestGeneration === pins.version!.generation) return;
    const top = this.#heap.items[0];
    const resumeAt = top === undefined ? undefined : top.keyBytes.slice(top.keyStart, top.keyStart + top.keyLength);
    try {
      this.#dropSources();
      const oldVersion = pins.version!;
      const oldEpoch = pins.epoch;
      pins.version = undefined;
      pins.epoch = this.#ctx.enter(); // before the old entry goes: the word never passes what a source still reads
      try {
        oldVersion.release();
      } finally {
        this.#ctx.exit(oldEpoch);
      }
      this.#pinSources(this.#snapshot);
      if (resumeAt !== undefined) this.#position(resumeAt);
      this.repins++;
    } catch (error) {
      this.#failure = publicError(error) as Error;
      this.#end();
      throw this.#failure;
    }
  }

  /** Re-pins done (tests). */
  repins = 0;

  [Symbol.iterator](): this {
    return this;
  }

  /** Positions every source at `target` (undefined: the scan's start), within the bounds. */
  #position(target: Uint8Array | undefined): void {
    const { lower, upper, upperInclusive } = this.#bounds;
    const heap = this.#heap;
    heap.items.length = 0;
    if (this.#reverse) {
      // "<= key" starts before the key's immediate successor (key + 0x00).
      const upperStart = upper && upperInclusive ? concatZero(upper) : upper;
      const wanted = target === undefined ? undefined : concatZero(target);
      const start = wanted === undefined ? upperStart : upperStart === undefined || compareKeys(wanted, upperStart) < 0 ? wanted : upperStart;
      for (const source of this.#sources) {
        source.seekBefore(start);
        if (source.valid) heap.push(source);
      }
    } else {
      const start = target === undefined ? lower : lower === undefined || compareKeys(target, lower) > 0 ? target : lower;
      for (const source of this.#sources) {
        source.seek(start);
        if (source.valid) heap.push(source);
      }
    }
  }

  /**
   * Repositions the scan at the first key >= `target` (reverse: <= `target`) within its
   * bounds, at the same snapshot. On an ended scan it does nothing.
   */
  seek(target: Uint8Array | string): void {
    const key = seekable(this.#toKey(target), this.#reverse);
    if (this.#failure) throw this.#failure;
    if (!this.#open) return;
    if (this.#ctx.closed) throw new ClosedError(`database ${this.#ctx.dir}`);
    this.repin();
    try {
      this.#position(key);
    } catch (error) {
      this.#end();
      throw publicError(error);
    }
  }

  next(): IteratorResult<[Uint8Array, Uint8Array], undefined> {
    if (this.#failure) throw this.#failure;
    if (!this.#open) return { done: true, value: undefined };
    try {
      // Here, not only in #step's loop: a scan with no row left would answer "done".
      if (this.#ctx.closed) throw new ClosedError(`database ${this.#ctx.dir}`);
      this.repin();
      const row = this.#step();
      if (row === undefined) {
        if (!this.#bounds.holdAtEnd) this.#end();
        return { done: true, value: undefined };
      }
      if (++this.#produced >= this.#limit) this.#end();
      return { done: false, value: row };
    } catch (error) {
      this.#end();
      throw publicError(error);
    }
  }

  /** Ends the scan (what `break` calls) and releases what it holds. */
  return(): IteratorResult<[Uint8Array, Uint8Array], undefined> {
    this.#end();
    return { done: true, value: undefined };
  }

  [Symbol.dispose](): void {
    this.#end();
  }

  /** Whether the scan still holds its sources (not finished, not ended). */
  get open(): boolean {
    return this.#open;
  }

  /** The next visible row within the bounds, or undefined at the end. */
  #step(): [Uint8Array, Uint8Array] | undefined {
    const ctx = this.#ctx;
    const heap = this.#heap;
    const bounds = this.#bounds;
    const { lower, upper } = bounds;
    const reverse = this.#reverse;
    const snapshot = this.#snapshot;
    while (heap.items.length > 0) {
      if (ctx.closed) throw new ClosedError(`database ${ctx.dir}`);
      const first = heap.items[0];
      const key = ctx.copies.copy(first.keyBytes, first.keyStart, first.keyStart + first.keyLength);
      // Bounds on the far side of the iteration direction.
      if (!reverse) {
        if (upper) {
          const c = compareKeys(key, upper);
          if (c > 0 || (c === 0 && !bounds.upperInclusive)) return undefined;
        }
      } else if (lower) {
        const c = compareKeys(key, lower);
        if (c < 0 || (c === 0 && bounds.lowerExclusive)) return undefined;
      }
      let winner: Source | undefined;
      let value: Uint8Array | undefined;
      let tombstone = false;
      // Pop every version of this key from every source.
      while (heap.items.length > 0 && isKeyOf(heap.items[0], key)) {
        const top = heap.items[0];
        if (top.seq < snapshot && (reverse || !winner)) {
          winner = top;
          tombstone = top.tombstone;
          value = tombstone ? undefined : top.copyValue(ctx.copies);
        }
        if (reverse) top.prev();
        else top.next();
        heap.fixTop();
      }
      if (!winner || tombstone) continue;
      if (!reverse && bounds.lowerExclusive && lower && compareKeys(key, lower) === 0) continue;
      if (reverse && upper && !bounds.upperInclusive && compareKeys(key, upper) === 0) continue;
      ctx.garbage.note(CALL_BYTES + key.length + value!.length);
      return [key, value!];
    }
    return undefined;
  }

  /** Empties the heap and gives the table cursors back (before the version that keeps their readers open is released). */
  #dropSources(): void {
    this.#heap.items.length = 0;
    for (const source of this.#sources) if (source instanceof TableSource) source.release();
    this.#sources = [];
  }

  #end(): void {
    if (!this.#open) return;
    this.#open = false;
    if (this.#self) this.#ctx.dropRepinnable(this.#self);
    this.#self = undefined;
    this.#dropSources();
    const pins = this.#pins!;
    abandonedScans.unregister(pins);
    pins.release();
  }
}

/** Whether the source's current key is `key`. */
function isKeyOf(source: Source, key: Uint8Array): boolean {
  return compareByteRanges(source.keyBytes, source.keyStart, source.keyStart + source.keyLength, key, 0, key.length) === 0;
}

/**
 * A seek target longer than any key (KEY_BYTES_MAX), as one the sources can seek to: the
 * keys at or below it are those at or below its first KEY_BYTES_MAX bytes (reverse), and
 * the keys at or above it those above them, at or above that cut plus a zero byte.
 */
function seekable(target: Uint8Array, reverse: boolean): Uint8Array {
  if (target.length <= KEY_BYTES_MAX) return target;
  const cut = target.subarray(0, KEY_BYTES_MAX);
  return reverse ? cut : concatZero(cut);
}

function concatZero(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}
