/**
 * System: one storage engine in one mode, as the benchmark harness drives it. shardline
 * and each peer (lmdb-js, SQLite, classic-level, Deno KV) implement it in
 * bench/systems/<name>.ts; bench/systems/all.ts lists them.
 *
 * Invariants:
 * - `durability` states what an acknowledged put means in this mode: "durable" only if it
 *   survives power loss once acknowledged (the fdatasync/fsync that covers it has
 *   returned), "non-durable" otherwise. Workloads use it to give every system the same
 *   durability meaning, and label any mode that differs.
 * - `available()` never throws: it resolves `true`, or the reason the system cannot run in
 *   this runtime (a native addon that will not load, an API that does not exist yet).
 *   Nothing else is called on a system that is not available.
 * - A Store is opened on an empty directory that belongs to it alone, and is closed before
 *   its directory is removed. Keys and values handed to it may be views into shared pools:
 *   a store copies what it keeps.
 * Threads: a System and its Stores are used by the thread that opened them; a
 * WorkerWriter lives in the worker that attached it (bench/harness/put-worker.ts).
 */

export type Durability = "durable" | "non-durable";

/**
 * How a store's `put` is driven in a loop of writes from one thread:
 * - "sync": `put` returns when the write is acknowledged (a synchronous API);
 * - "await": `put` returns a promise, awaited before the next write;
 * - "turn": `put` returns a promise; the library batches every write issued in one event
 *   turn into one transaction, so a loop issues a round's writes, then awaits them all.
 */
export type WriteStyle = "sync" | "await" | "turn";

export interface OpenOptions {
  /** Bytes per value in this workload (some systems size buffers from it). */
  valueBytes: number;
  /** shardline only: false sends every write through the shard actors (the channel path). */
  fastWrite?: boolean;
  /** shardline only: its shards and memtable bytes per shard (its defaults when absent). */
  shards?: number;
  memtableBytesMax?: number;
}

export interface Store {
  readonly writeStyle: WriteStyle;
  /** One write; a promise for "await" and "turn" styles, undefined for "sync". */
  put(key: Uint8Array, value: Uint8Array): Promise<unknown> | undefined;
  /** "sync": `get` returns the value; "await": a promise of it. */
  readonly readStyle: "sync" | "await";
  get(key: Uint8Array): Uint8Array | undefined | Promise<Uint8Array | undefined>;
  /** Reads up to `limit` rows in key order from the first key >= `start`; returns the count read. */
  scan(start: Uint8Array, limit: number): number | Promise<number>;
  /** Writes every key with value `values(i)` the fastest way the library offers (not measured). */
  load(keys: readonly Uint8Array[], values: (i: number) => Uint8Array): Promise<void>;
  /** Makes everything written so far durable, and settled where the library can. */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** shardline only: a change feed over every key (undefined when the engine has none). */
  subscribe?(signal: AbortSignal): AsyncIterable<unknown>;
  /** shardline only: its memtable capacity and the flushes and compactions so far (db.stats()). */
  engineStats?(): EngineStats | undefined;
}

export interface EngineStats {
  /** Sum of memtableBytesMax over the shards. */
  memtableBytesTotal: number;
  flushes: number;
  compactions: number;
}

/**
 * A store whose keys and values are JS strings, opened the way each library takes
 * strings natively (lmdb-js `encoding: "string"`, SQLite TEXT, classic-level "utf8",
 * Deno KV string keys and values, shardline's string keys and values). `get` returns
 * the string; where the library hands back bytes (shardline), the store decodes them
 * with a TextDecoder, because a caller who stored a string wants a string back.
 */
export interface StringStore {
  readonly writeStyle: WriteStyle;
  put(key: string, value: string): Promise<unknown> | undefined;
  readonly readStyle: "sync" | "await";
  get(key: string): string | undefined | Promise<string | undefined>;
  /** Writes every key with value `values(i)` the fastest way the library offers (not measured). */
  load(keys: readonly string[], values: (i: number) => string): Promise<void>;
  flush(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A peer's crash recovery (the recovery workload, bench/workloads/recovery.ts): a child
 * process (bench/harness/recovery-writer.ts) writes through `openWriter` until the log
 * holds the workload's bytes and is then killed with SIGKILL; the harness times `reopen`
 * on a copy of what it left.
 */
export interface CrashRecovery {
  /** What is written and replayed, for the report: the log and the setting that lets it grow. */
  readonly mode: string;
  /** Whether a file of the directory is (part of) the log. */
  isLog(name: string): boolean;
  /** In the writer process: the store on `dir`, configured so that nothing folds the log away while it is written. */
  openWriter(dir: string): Promise<{
    /** One transaction (batch) of these puts, acknowledged as surviving a process crash. */
    write(keys: readonly Uint8Array[], values: (i: number) => Uint8Array): Promise<void>;
  }>;
  /**
   * The timed part: opens `dir` as the killed writer left it and reads `probe` back (it
   * must be there); resolves with the store's close, which is not timed (SQLite's close
   * checkpoints the whole WAL into the database: work a recovery does not need).
   */
  reopen(dir: string, probe: Uint8Array, valueBytes: number): Promise<() => Promise<void>>;
}

/** A writer in a worker thread (the two-worker workload). */
export interface WorkerWriter {
  readonly writeStyle: WriteStyle;
  put(key: Uint8Array, value: Uint8Array): Promise<unknown> | undefined;
  close(): Promise<void>;
}

/** Where several threads can write to one store: how the workers reach it. */
export interface SharedWriters {
  /** Structured-cloneable; handed to `attachWorker` in each worker. */
  handle: unknown;
  /** Called after the workers are done, before the store closes. */
  release?(): Promise<void>;
}

export interface System {
  /** Stable identifier, e.g. "lmdb-put"; `--system` matches it or `family`. */
  readonly id: string;
  /** The engine as people know it, e.g. "lmdb-js". */
  readonly name: string;
  /** Library and engine, e.g. "lmdb 3.5.6"; filled in by `available()`. */
  library: string;
  /** The mode, as the report names it, e.g. "putSync, noSync". */
  readonly mode: string;
  /** Groups the modes of one engine: "shardline", "lmdb", "sqlite", "classic-level", "deno-kv". */
  readonly family: string;
  readonly durability: Durability;
  /**
   * A non-durable mode whose acknowledgement still waits for an fdatasync (of the write's
   * data, not the one that makes it durable): lmdb-put. Every other non-durable mode
   * acknowledges before any sync. tests/bench/sync-acknowledgement.test.ts checks each
   * non-durable mode's put against it with every sync failing (strace fault injection).
   */
  readonly ackAfterSync?: boolean;
  /** The read API used by the read workloads, for the report (only on the mode that does reads). */
  readonly readApi?: string;
  /** The same for the string gets (get-hit-str), with how a string comes back. */
  readonly stringReadApi?: string;
  /** A synchronous write API: one write at a time from a thread, whatever the depth asked. */
  readonly synchronousWrites?: boolean;
  /** Why the engine has no non-durable mode at all (listed, not run, in those workloads). */
  readonly noNonDurable?: string;
  /** Why several threads cannot write here, or undefined if they can (`shareWriters`). */
  readonly noWorkers?: string;
  available(): Promise<true | string>;
  open(dir: string, options: OpenOptions): Promise<Store>;
  /** The same mode with string keys and values (StringStore). */
  openStrings(dir: string, options: OpenOptions): Promise<StringStore>;
  /** How this engine recovers a log after kill -9 (only on the mode that does reads); undefined: no comparable log. */
  readonly crashRecovery?: CrashRecovery;
  /** Prepares `store` (opened by `open` on `dir`) for writers in other threads. */
  shareWriters?(store: Store, dir: string): Promise<SharedWriters>;
  /** In a worker: a writer on the store `shareWriters` described. */
  attachWorker?(handle: unknown): Promise<WorkerWriter>;
}

/** A feature a system (or this version of it) does not have: reported as unavailable, never as a failure. */
export class Unsupported extends Error {
  override readonly name = "Unsupported";
}

let touched = 0;
/** Counts bytes a read handed back, so no runtime can skip the read as dead code. */
export function touch(bytes: number): void {
  touched += bytes;
}
/** Total bytes touched so far (the harness prints nothing of it; it only keeps reads honest). */
export function touchedBytes(): number {
  return touched;
}

/** The message of anything thrown, for reasons and failures in the report. */
export function reasonOf(error: unknown): string {
  const text = error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error);
  return text.split("\n")[0].slice(0, 300);
}
