/**
 * ShardlineLevel: an abstract-level (v3) database backed by shardline, for the Level
 * ecosystem (sublevels, encodings, level-* plugins). Runtime-agnostic: each runtime entry
 * (runtimes/<rt>/level.ts) binds it to its own `open` with `bindLevel`.
 *
 * What it declares (the manifest) and how each holds:
 * - keys and values are bytes in shardline; the private API takes 'view' (Uint8Array) and
 *   'utf8' (string) natively, abstract-level transcodes every other encoding to one of them;
 * - implicit snapshots: `get` and `has` read synchronously when called; `getMany` and
 *   `hasMany` read every key at one snapshot taken for the call (synchronous is not one
 *   point: another thread may publish a batch between two keys); an iterator takes its
 *   snapshot when it is created (`db.scan()` pins its sources at
 *   the call: src/engine/scan.ts); `clear` deletes what its range held when it was called;
 * - explicit snapshots: `db.snapshot()` is a shardline snapshot (`Snapshot`), released on
 *   `snapshot.close()` or the database's close;
 * - getSync, has/hasMany, iterator seek, createIfMissing/errorIfExists, iterator abort
 *   signals (each call yields once and then checks the signal).
 * Batches are atomic up to shardline's batch limits (BATCH_OPS_MAX, BATCH_BYTES_MAX); `clear`
 * is not atomic (abstract-level does not ask it to be): it deletes in batches, all written
 * in one synchronous run, so a write made after `clear()` is never one of its victims.
 * Write options: `sync: true` waits for flush() under durability "async" (synced); the rest
 * are ignored. An iterator's scan is held until close(), also at its end (for seek); it lets
 * go of the memtables flushed meanwhile at its steps and this thread's writes (scan.ts
 * repin), except at an explicit snapshot (README, "Where it differs from classic-level").
 * Errors: shardline's errors become abstract-level's LEVEL_* codes (level-errors.ts); a
 * batch or snapshot over shardline's limits stays a RangeError without a code (abstract-level
 * README, "Errors": invalid arguments are programming mistakes).
 * Threads: the thread that created it (a shardline Database belongs to one thread).
 */
import { AbstractChainedBatch, AbstractIterator, AbstractKeyIterator, AbstractLevel, AbstractSnapshot, AbstractValueIterator } from "abstract-level";
import type { BatchOperation, Database, Key, Snapshot } from "../engine/database.ts";
import type { DatabaseOptions } from "../engine/options.ts";
import type { ScanIterator } from "../engine/scan.ts";
import { SnapshotReleasedError } from "../errors.ts";
import { compareKeys } from "../table/key-order.ts";
import { abortError, LevelError, levelError } from "./level-errors.ts";

/** What a runtime gives the adapter: its bound `open` (which checks createIfMissing and errorIfExists). */
export interface LevelRuntime {
  open(dir: string, options?: DatabaseOptions): Promise<Database>;
}

/** Options of `new ShardlineLevel(location, options)`: abstract-level's, plus shardline's own under `shardline`. */
export interface ShardlineLevelOptions {
  keyEncoding?: unknown;
  valueEncoding?: unknown;
  createIfMissing?: boolean;
  errorIfExists?: boolean;
  passive?: boolean;
  /** Options for shardline's `open` (durability, shards, memtableBytesMax, ...). */
  shardline?: Omit<DatabaseOptions, "createIfMissing" | "errorIfExists">;
  [option: string]: unknown;
}

type Format = "view" | "utf8";
type Encoded = Uint8Array | string;
interface RangeOptions {
  gt?: Encoded;
  gte?: Encoded;
  lt?: Encoded;
  lte?: Encoded;
  reverse?: boolean;
  limit?: number;
}
interface ReadOptions {
  keyEncoding?: Format;
  valueEncoding?: Format;
  /** A ShardlineLevelSnapshot, or one taken for a single call (#atOnePoint). */
  snapshot?: { readonly inner: Snapshot };
}
interface IteratorOptions extends RangeOptions, ReadOptions {
  keys?: boolean;
  values?: boolean;
  signal?: AbortSignal;
}

/** ignoreBOM: a leading U+FEFF is part of the key or value (core.ts `utf8`). */
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** A row's key or value in the format the private API was asked for. */
function decoded(bytes: Uint8Array, format: Format | undefined): Encoded {
  return format === "utf8" ? decoder.decode(bytes) : bytes;
}

/** Runs `fn`, rethrowing its error as abstract-level reports it. */
function mapped<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw levelError(error);
  }
}

/** A shardline snapshot as an abstract-level explicit snapshot. */
class ShardlineLevelSnapshot extends AbstractSnapshot {
  constructor(readonly inner: Snapshot, options: object) {
    // abstract-level's typings declare no constructor argument; the class takes { owner }.
    super(...([options] as unknown as []));
  }

  async _close(): Promise<void> {
    this.inner.release();
  }
}

/**
 * The engine's snapshot of a read's `snapshot` option. One this Level closed (its own
 * close, or the database's) is SnapshotReleasedError (LEVEL_SNAPSHOT_NOT_OPEN) for every
 * read: abstract-level checks it before get() but only at an iterator's first read, after
 * the scan is made, and after a reopen the engine's handle is another one, which called the
 * snapshot another handle's, a TypeError (review of the Level adapter, 2026-12-07).
 */
function innerSnapshot(snapshot: { readonly inner: Snapshot } | undefined): Snapshot | undefined {
  if (snapshot?.inner.released) throw new SnapshotReleasedError();
  return snapshot?.inner;
}

type Entry = [Encoded | undefined, Encoded | undefined];

/** Level's range options after its precedence (gte over gt, lte over lt), as given (encoded keys). */
type LevelRange = { gt?: Encoded; gte?: Encoded; lt?: Encoded; lte?: Encoded };

function levelRange(options: RangeOptions): LevelRange {
  // Copies (not slice(): a Buffer's is a view): an iterator keeps its range for its seeks.
  const own = (key: unknown): Encoded => (key instanceof Uint8Array ? new Uint8Array(key) : key as Encoded);
  const range: LevelRange = {};
  if (options.gte !== undefined) range.gte = own(options.gte);
  else if (options.gt !== undefined) range.gt = own(options.gt);
  if (options.lte !== undefined) range.lte = own(options.lte);
  else if (options.lt !== undefined) range.lt = own(options.lt);
  return range;
}

const utf8 = new TextEncoder();
const bytesOf = (key: Encoded): Uint8Array => (typeof key === "string" ? utf8.encode(key) : key);

/** Unsigned byte order of two keys (negative, 0, positive): the engine's key order. */
function compareEncoded(a: Encoded, b: Encoded): number {
  return compareKeys(bytesOf(a), bytesOf(b));
}

/** Whether `target` lies outside `range` (abstract-level: a seek there reaches the natural end). */
function outside(range: LevelRange, target: Encoded): boolean {
  return (range.gte !== undefined && compareEncoded(target, range.gte) < 0) ||
    (range.gt !== undefined && compareEncoded(target, range.gt) <= 0) ||
    (range.lte !== undefined && compareEncoded(target, range.lte) > 0) ||
    (range.lt !== undefined && compareEncoded(target, range.lt) >= 0);
}

/**
 * What the three iterator kinds share: a shardline scan taken when the iterator is created
 * (its implicit snapshot), the formats to decode to, and the abort signal. The scan is
 * unlimited and stays open at its end (so that seek can go back); abstract-level counts the
 * limit, and `max` is what it still allows.
 */
class ScanReader {
  /** A seek went outside the range: the iterator is at its natural end until a seek inside it. */
  #ended = false;

  constructor(
    readonly scan: ScanIterator,
    readonly range: LevelRange,
    readonly keys: boolean,
    readonly values: boolean,
    readonly keyFormat: Format | undefined,
    readonly valueFormat: Format | undefined,
    readonly signal: AbortSignal | undefined,
  ) {}

  /** The next entry, or undefined at the end. */
  take(): Entry | undefined {
    if (this.#ended) return undefined;
    const r = mapped(() => this.scan.next());
    if (r.done) return undefined;
    const [key, value] = r.value;
    return [this.keys ? decoded(key, this.keyFormat) : undefined, this.values ? decoded(value, this.valueFormat) : undefined];
  }

  /** Every call yields once before it reads, so that an abort signalled meanwhile rejects it. */
  async pause(): Promise<void> {
    await undefined;
    if (this.signal?.aborted) throw abortError(this.signal.reason);
  }

  async many(max: number): Promise<Entry[]> {
    await this.pause();
    const out: Entry[] = [];
    while (out.length < max) {
      const entry = this.take();
      if (entry === undefined) break;
      out.push(entry);
    }
    return out;
  }

  /**
   * abstract-level's seek: a target outside the range options reaches the natural end
   * (shardline's own scan starts at the bound instead, so `{ gt: "5" }.seek("4")` yielded
   * "6": review, 2026-12-06; abstract-level's own test of it never runs its expectations).
   */
  seek(target: Encoded): void {
    this.#ended = outside(this.range, target);
    if (!this.#ended) mapped(() => this.scan.seek(target));
  }

  close(): void {
    this.scan.return();
  }
}

/**
 * abstract-level's chained batch kept the arrays given to put() and del() until write(), so
 * a caller that reused its Buffer between them wrote its later bytes (review, 2026-12-06;
 * classic-level copies at once). This one copies them as they are added, as every write of
 * shardline reads its arrays during the call.
 */
class ShardlineChainedBatch extends AbstractChainedBatch<ShardlineLevelBase, Encoded, unknown> {
  #operations: Array<{ type: "put" | "del"; key: Encoded; value?: Encoded }> = [];

  constructor(db: ShardlineLevelBase) {
    // abstract-level's typings declare one argument; the class takes (db, { add }) to opt in to _add.
    super(...([db, { add: true }] as unknown as [never]));
  }

  _add(op: { type: "put" | "del"; key: Encoded; value?: Encoded }): void {
    const own = (x: Encoded | undefined) => (x instanceof Uint8Array ? new Uint8Array(x) : x);
    this.#operations.push(op.type === "put" ? { type: "put", key: own(op.key)!, value: own(op.value) } : { type: "del", key: own(op.key)! });
  }

  _clear(): void {
    this.#operations = [];
  }

  async _write(options: WriteOptions): Promise<void> {
    return (this.db as ShardlineLevelBase)._batch(this.#operations, options);
  }
}

/** A write's options as abstract-level passes them (classic-level's `sync`). */
type WriteOptions = { sync?: boolean } | undefined;

/**
 * abstract-level's `sync: true` (classic-level fsyncs before such a write resolves): under
 * durability "async" the write resolves once `flush()` made it durable; under "full" it
 * already is. It was ignored: a `{ sync: true }` put resolved before its fdatasync (review of
 * the Level adapter, 2026-12-07).
 */
async function synced(db: Database, options: WriteOptions): Promise<void> {
  if (options?.sync === true && db.durability !== "full") await db.flush();
}

/** What abstract-level's iterators expose that the private methods need. */
interface Counted {
  readonly count: number;
  readonly limit: number;
}
const remaining = (it: Counted) => (Number.isFinite(it.limit) && it.limit >= 0 ? it.limit - it.count : Infinity);

class ShardlineLevelIterator extends AbstractIterator<unknown, unknown, unknown> {
  constructor(db: ShardlineLevelBase, readonly reader: ScanReader, options: IteratorOptions) {
    super(db as never, options as never);
  }
  async _next(): Promise<Entry | undefined> {
    return (await this.reader.many(1))[0];
  }
  _nextv(size: number): Promise<Entry[]> {
    return this.reader.many(size);
  }
  _all(): Promise<Entry[]> {
    return this.reader.many(remaining(this as unknown as Counted));
  }
  _seek(target: Encoded): void {
    this.reader.seek(target);
  }
  async _close(): Promise<void> {
    this.reader.close();
  }
}

class ShardlineLevelKeyIterator extends AbstractKeyIterator<unknown, unknown> {
  constructor(db: ShardlineLevelBase, readonly reader: ScanReader, options: IteratorOptions) {
    super(db as never, options as never);
  }
  async _next(): Promise<Encoded | undefined> {
    return (await this.reader.many(1))[0]?.[0];
  }
  async _nextv(size: number): Promise<Array<Encoded | undefined>> {
    return (await this.reader.many(size)).map((e) => e[0]);
  }
  async _all(): Promise<Array<Encoded | undefined>> {
    return (await this.reader.many(remaining(this as unknown as Counted))).map((e) => e[0]);
  }
  _seek(target: Encoded): void {
    this.reader.seek(target);
  }
  async _close(): Promise<void> {
    this.reader.close();
  }
}

class ShardlineLevelValueIterator extends AbstractValueIterator<unknown, unknown, unknown> {
  constructor(db: ShardlineLevelBase, readonly reader: ScanReader, options: IteratorOptions) {
    super(db as never, options as never);
  }
  async _next(): Promise<Encoded | undefined> {
    return (await this.reader.many(1))[0]?.[1];
  }
  async _nextv(size: number): Promise<Array<Encoded | undefined>> {
    return (await this.reader.many(size)).map((e) => e[1]);
  }
  async _all(): Promise<Array<Encoded | undefined>> {
    return (await this.reader.many(remaining(this as unknown as Counted))).map((e) => e[1]);
  }
  _seek(target: Encoded): void {
    this.reader.seek(target);
  }
  async _close(): Promise<void> {
    this.reader.close();
  }
}

/** Most deletes `clear` puts in one batch: a small batch (SMALL_BATCH_OPS_MAX), which takes the fast path and holds no other writer back. */
const CLEAR_BATCH_OPS = 1000;

/** The adapter, bound to a runtime by `bindLevel`. */
export class ShardlineLevelBase extends AbstractLevel<Encoded, unknown, unknown> {
  readonly location: string;
  readonly #runtime: LevelRuntime;
  readonly #databaseOptions: ShardlineLevelOptions["shardline"];
  #db: Database | undefined;

  constructor(runtime: LevelRuntime, location: string, options: ShardlineLevelOptions = {}) {
    // shardline's own options stay here: abstract-level hands the rest to hooks and _open.
    const { shardline, ...levelOptions } = options ?? {};
    super(
      {
        encodings: { view: true, utf8: true },
        implicitSnapshots: true,
        explicitSnapshots: true,
        getSync: true,
        has: true,
        seek: true,
        createIfMissing: true,
        errorIfExists: true,
        signals: { iterators: true },
      } as never, // level-supports' typings predate getSync, has, explicitSnapshots
      levelOptions as never,
    );
    if (typeof location !== "string" || location === "") throw new TypeError("The first argument 'location' must be a non-empty string");
    this.location = location;
    this.#runtime = runtime;
    this.#databaseOptions = shardline;
  }

  /** The shardline database underneath (while open): for shardline-only features such as change feeds. */
  get database(): Database {
    if (this.#db === undefined) throw new LevelError("Database is not open", "LEVEL_DATABASE_NOT_OPEN");
    return this.#db;
  }

  async _open(options: { createIfMissing: boolean; errorIfExists: boolean }): Promise<void> {
    try {
      this.#db = await this.#runtime.open(this.location, {
        ...this.#databaseOptions,
        createIfMissing: options.createIfMissing,
        errorIfExists: options.errorIfExists,
      });
    } catch (error) {
      // abstract-level reports these as LEVEL_DATABASE_NOT_OPEN with this error as `cause`,
      // whose message Level users (and abstract-level's tests) read as "does not exist" /
      // "exists".
      const code = (error as { code?: unknown })?.code;
      if (code === "SHARDLINE_NOT_FOUND") throw new LevelError(`database ${this.location} does not exist (createIfMissing is false)`, "LEVEL_DATABASE_NOT_OPEN", { cause: error });
      if (code === "SHARDLINE_EXISTS") throw new LevelError(`database ${this.location} exists (errorIfExists is true)`, "LEVEL_DATABASE_NOT_OPEN", { cause: error });
      throw levelError(error);
    }
  }

  async _close(): Promise<void> {
    // Let go of the handle only once it closed: a close that failed leaves it for the next
    // close() to try again (abstract-level reports the Level open again), not a handle that
    // holds the lock with no way left to close it.
    await this.#db?.close();
    this.#db = undefined;
  }

  #open(): Database {
    if (this.#db === undefined) throw new LevelError("Database is not open", "LEVEL_DATABASE_NOT_OPEN");
    return this.#db;
  }

  _getSync(key: Encoded, options: ReadOptions): Encoded | undefined {
    return mapped(() => {
      const db = this.#open();
      const at = { snapshot: innerSnapshot(options.snapshot) };
      // utf8: decoded by the engine in place, no copy of the bytes first.
      return options.valueEncoding === "utf8" ? db.getString(key, at) : db.get(key, at);
    });
  }

  async _get(key: Encoded, options: ReadOptions): Promise<Encoded | undefined> {
    return this._getSync(key, options);
  }

  async _getMany(keys: Encoded[], options: ReadOptions): Promise<Array<Encoded | undefined>> {
    return this.#atOnePoint(options, (at) => keys.map((key) => this._getSync(key, at)));
  }

  /**
   * Reads of several keys at one point: the caller's snapshot, or one taken for the call.
   * Synchronous reads alone are not one point: a batch becomes visible when another thread
   * (the durability worker, under "full") publishes it, which may fall between two keys.
   */
  #atOnePoint<T>(options: ReadOptions, read: (at: ReadOptions) => T): T {
    if (options.snapshot !== undefined) return read(options);
    const snapshot = mapped(() => this.#open().snapshot());
    try {
      return read({ ...options, snapshot: { inner: snapshot } });
    } finally {
      snapshot.release();
    }
  }

  async _has(key: Encoded, options: ReadOptions): Promise<boolean> {
    return mapped(() => this.#open().has(key, { snapshot: innerSnapshot(options.snapshot) }));
  }

  async _hasMany(keys: Encoded[], options: ReadOptions): Promise<boolean[]> {
    return this.#atOnePoint(options, (at) =>
      mapped(() => {
        const db = this.#open();
        const read = { snapshot: innerSnapshot(at.snapshot) };
        return keys.map((key) => db.has(key, read));
      }),
    );
  }

  async _put(key: Encoded, value: Encoded, options: WriteOptions): Promise<void> {
    try {
      const db = this.#open();
      await db.put(key, value);
      await synced(db, options);
    } catch (error) {
      throw levelError(error);
    }
  }

  async _del(key: Encoded, options: WriteOptions): Promise<void> {
    try {
      const db = this.#open();
      await db.delete(key);
      await synced(db, options);
    } catch (error) {
      throw levelError(error);
    }
  }

  /** A chained batch that reads its keys and values when they are added (ShardlineChainedBatch). */
  _chainedBatch(): ShardlineChainedBatch {
    return new ShardlineChainedBatch(this);
  }

  async _batch(operations: Array<{ type: "put" | "del"; key: Encoded; value?: Encoded }>, options: WriteOptions): Promise<void> {
    const ops: BatchOperation[] = operations.map((op) =>
      op.type === "put" ? { type: "put", key: op.key, value: op.value as Encoded } : { type: "delete", key: op.key }
    );
    try {
      const db = this.#open();
      await db.batch(ops);
      await synced(db, options);
    } catch (error) {
      throw levelError(error);
    }
  }

  /**
   * A shardline scan over abstract-level's range options, taken now. Level's `gte` and `lte`
   * take precedence over `gt` and `lt` (shardline's own scan would take the tighter bound).
   */
  #scan(options: RangeOptions & { snapshot?: { readonly inner: Snapshot } }, limited: boolean, holdAtEnd: boolean): ScanIterator {
    const range: { gt?: Key; gte?: Key; lt?: Key; lte?: Key } = levelRange(options);
    const limit = limited && options.limit !== undefined && options.limit >= 0 ? options.limit : undefined;
    return mapped(() => this.#open().scan({ ...range, reverse: options.reverse === true, limit, snapshot: innerSnapshot(options.snapshot), holdAtEnd }));
  }

  /** The scan of an iterator of any kind: created before the iterator, so a failure leaves none behind. */
  #reader(options: IteratorOptions, keys: boolean, values: boolean): ScanReader {
    // abstract-level counts the limit itself (also across seeks): the scan is unlimited, and
    // stays open at its end so that a seek can go back.
    return new ScanReader(this.#scan(options, false, true), levelRange(options), keys, values, options.keyEncoding, options.valueEncoding, options.signal);
  }

  _iterator(options: IteratorOptions): ShardlineLevelIterator {
    return new ShardlineLevelIterator(this, this.#reader(options, options.keys !== false, options.values !== false), options);
  }

  _keys(options: IteratorOptions): ShardlineLevelKeyIterator {
    return new ShardlineLevelKeyIterator(this, this.#reader(options, true, false), options);
  }

  _values(options: IteratorOptions): ShardlineLevelValueIterator {
    return new ShardlineLevelValueIterator(this, this.#reader(options, false, true), options);
  }

  /**
   * Every delete batch is written in this one synchronous run, none awaited before the next:
   * a write the caller makes after `clear()` comes after all of them in this thread's
   * program order (docs/ENGINE.md), so no batch of the clear can delete it. The range's
   * keys are held until their batches are in the log (behind the ring gate when it is full).
   */
  async _clear(options: RangeOptions & { snapshot?: { readonly inner: Snapshot } }): Promise<void> {
    const written: Array<Promise<unknown>> = [];
    try {
      const scan = this.#scan(options, true, false);
      try {
        for (let more = true; more;) {
          const deletes: BatchOperation[] = [];
          while (deletes.length < CLEAR_BATCH_OPS) {
            const r = scan.next();
            if (r.done) break;
            deletes.push({ type: "delete", key: r.value[0] });
          }
          if (deletes.length > 0) written.push(this.#open().batch(deletes));
          more = deletes.length === CLEAR_BATCH_OPS;
        }
      } finally {
        scan.return();
      }
    } catch (error) {
      await Promise.allSettled(written);
      throw levelError(error);
    }
    const failed = (await Promise.allSettled(written)).find((r) => r.status === "rejected");
    if (failed) throw levelError((failed as PromiseRejectedResult).reason);
  }

  _snapshot(options: object): ShardlineLevelSnapshot {
    return new ShardlineLevelSnapshot(mapped(() => this.#open().snapshot()), options);
  }
}

/** The `ShardlineLevel` class of a runtime: `new ShardlineLevel(location, options)`. */
export type ShardlineLevelClass = new (location: string, options?: ShardlineLevelOptions) => ShardlineLevelBase;

/** Binds the adapter to a runtime's `open` (runtimes/<rt>/level.ts). */
export function bindLevel(runtime: LevelRuntime): ShardlineLevelClass {
  return class ShardlineLevel extends ShardlineLevelBase {
    constructor(location: string, options?: ShardlineLevelOptions) {
      super(runtime, location, options);
    }
  };
}
