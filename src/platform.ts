/**
 * Platform: every primitive the engine may use from its host runtime.
 *
 * `src/` and `assembly/` are runtime-agnostic: they never name `Deno`, `Bun` or `process`.
 * Each runtime supplies one `Platform` from `runtimes/<runtime>/platform.ts`, and nothing
 * else lives in those adapters. One conformance test file (tests/platform/conformance.test.ts)
 * holds every adapter to the same contract.
 *
 * File I/O is synchronous on purpose: the engine does its disk work on worker threads
 * (the durability worker, the shard actors), where a blocking `pwrite` + `fdatasync` is
 * the fastest and simplest thing, and the main thread touches the disk only while opening
 * and recovering. Every method either completes fully or throws a `PlatformError`
 * carrying the OS error code (`ENOENT`, `EEXIST`, `EIO`, ...); there are no partial
 * results to check for (a short write is retried inside the adapter until done or failed).
 */

export type RuntimeName = "node" | "bun" | "deno";

/** How a file is opened. Every mode opens for positional reads as well. */
export type OpenMode =
  /** read only; the file must exist */
  | "read"
  /** read and write; the file must exist */
  | "readwrite"
  /** read and write; created empty if missing, kept as it is if present */
  | "create"
  /** read and write; must not exist (fails with EEXIST), created atomically */
  | "createExclusive"
  /** read and write; created if missing, truncated to zero if present */
  | "truncate";

export interface FileStat {
  size: number;
  isFile: boolean;
  isDirectory: boolean;
  mtimeMs: number;
}

/** An open file. Positions and lengths are byte counts below 2^53. */
export interface FileHandle {
  readonly path: string;
  /** Reads up to `buf.length` bytes at `position`; returns the count read, 0 at end of file. */
  read(buf: Uint8Array, position: number): number;
  /** Writes all of `buf` at `position` (looping over short writes), or throws. */
  write(buf: Uint8Array, position: number): void;
  /** Writes all buffers back to back starting at `position`, or throws. */
  writev(bufs: readonly Uint8Array[], position: number): void;
  /** fdatasync(2): file data and the metadata needed to read it back are durable. */
  datasync(): void;
  /** fsync(2): data and all metadata are durable. */
  sync(): void;
  truncate(length: number): void;
  size(): number;
  close(): void;
}

/**
 * A kernel advisory lock held on an open file (flock(2) or the runtime's equivalent).
 * Released by the kernel when the process dies, which makes it the best liveness oracle
 * there is. Node has none (nodejs/node#54446), so this is optional; the cross-runtime
 * directory lock in src/lock.ts works without it.
 */
export interface KernelLock {
  /**
   * Non-blocking exclusive lock on the handle's own open file; true if taken, false if
   * another process holds it. Never locks another file: where a runtime can lock only by
   * path (Deno), it throws (ESTALE, ENOENT) once the path no longer names the handle's file.
   */
  tryLockExclusive(file: FileHandle): boolean;
  unlock(file: FileHandle): void;
}

/** Identity of a live process: pid plus its start time, so a reused pid is not mistaken for it. */
export interface ProcessIdentity {
  pid: number;
  /** Start time in clock ticks since boot (/proc/<pid>/stat field 22), or 0 where unknown. */
  startTime: number;
}

/** What a worker is told to do; the first thing every worker receives. */
export interface WorkerInit {
  /** Which role in src/worker-main.ts to run ("durability", "actor", "module", ...). */
  role: string;
  /** The compiled shardline core, shared by every thread. */
  module: WebAssembly.Module;
  /** The one shared memory every thread instantiates the core on. */
  memory: WebAssembly.Memory;
  /** Role-specific, structured-cloneable arguments. */
  args?: unknown;
  /**
   * The byte address in `memory` of the u32 word the job sleeps on when idle, where adding
   * 1 and notifying wakes nothing but its loop (a WAL ring's wake word); with it, a worker
   * pool may run the job on a thread shared with other jobs (src/worker-pool.ts).
   */
  wakeAddress?: number;
}

/**
 * How a worker thread wraps its Platform: it imports `url` and calls `export(platform,
 * data)`, which returns the wrapped Platform. Structured-cloneable.
 */
export interface PlatformWrapper {
  /** Absolute URL of the module to import in the worker. */
  url: string;
  /** Name of the exported function `(platform: Platform, data: unknown) => Platform`. */
  export: string;
  data: unknown;
}

/** A worker thread, as the engine sees it. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  /** Messages that arrive before the first listener is added are held for it, not dropped. */
  onMessage(listener: (message: unknown) => void): void;
  /** Called once if the worker throws an uncaught error or exits before it was terminated. */
  onError(listener: (error: Error) => void): void;
  /** Lets the process exit while this worker is still running (the engine refs what it waits on). */
  unref(): void;
  ref(): void;
  terminate(): Promise<void>;
}

/** The worker side of the channel to the thread that spawned it. */
export interface ParentPort {
  postMessage(message: unknown): void;
  /** Messages that arrive before the first listener is added are held for it, not dropped. */
  onMessage(listener: (message: unknown) => void): void;
}

export interface Platform {
  readonly runtime: RuntimeName;
  /** Runtime version string, for reports (e.g. "20.20.2"). */
  readonly runtimeVersion: string;

  open(path: string, mode: OpenMode): FileHandle;
  /** Whole file; throws ENOENT if missing. */
  readFile(path: string): Uint8Array;
  /** Atomic within one directory (rename(2)); replaces `to` if present. */
  rename(from: string, to: string): void;
  unlink(path: string): void;
  /** Names (not paths) in a directory, in no particular order. */
  readdir(path: string): string[];
  /** Creates a directory; with `recursive` creates parents and tolerates an existing one. */
  mkdir(path: string, options?: { recursive?: boolean }): void;
  /** Removes a file or a directory tree; missing is not an error. For tests and tools. */
  removeAll(path: string): void;
  /** undefined when the path does not exist. */
  stat(path: string): FileStat | undefined;
  truncate(path: string, length: number): void;
  /** fsync(2) of a directory, so that creates, renames and unlinks in it are durable. */
  fsyncDir(path: string): void;
  /** A fresh, empty directory for scratch use (tests, benchmarks). */
  makeTempDir(prefix: string): string;

  /** Kernel lock where the runtime has one (Deno, Bun); undefined on Node. */
  readonly kernelLock: KernelLock | undefined;
  /** This process. */
  processIdentity(): ProcessIdentity;
  /** false only when certain the process is gone (or its pid was reused by another). */
  isProcessAlive(identity: ProcessIdentity): boolean;

  /** Starts a worker running runtimes/<runtime>/worker.ts with `init` as its first message. */
  spawnWorker(init: WorkerInit): WorkerHandle;

  /**
   * For a Platform that wraps another and must see its workers' I/O too (the tests'
   * power-loss wrapper): the engine's pooled jobs then run on `base`'s worker pool, each
   * on the Platform that `wrapper` makes, in the job's thread, from that thread's own
   * (src/worker-pool.ts). Without it a wrapper object has a pool, and threads, of its own,
   * and starts them again for every wrapper made.
   */
  readonly pooledOn?: { base: Platform; wrapper: PlatformWrapper };

  /**
   * A full, synchronous garbage collection of the calling thread's heap; false (and nothing
   * done) where the runtime offers none. Called by src/worker-pool.ts on a pooled thread
   * that has been idle for a while, and by a live reader after it closed views where the
   * platform has neither collectSoon nor weighSharedMemory (Deno; src/engine/live-reader.ts);
   * never by the engine otherwise on an application's thread: an idle thread allocates nothing, so
   * its collector would never run on its own, and it would keep the garbage of the job it
   * ran (the shared memory of a closed database among it) for as long as it lives
   * (docs/ARCHITECTURE.md, "Decision: worker threads are pooled per process"). Optional, so
   * that wrappers and test platforms need not have it; the three adapters do.
   */
  collectGarbage?(): boolean;

  /**
   * Asks this thread's garbage collector to run soon, without waiting for it. Where present,
   * the engine's writer thread (the actor) calls it after each flush and each compaction.
   * Bun's JavaScriptCore counts a thread's view of the database's shared memory as extra
   * heap memory (`heapStats().extraMemorySize`: 1,417 MiB with the default 708 MiB memory),
   * so its collector, left to itself, let the actor's garbage grow: RSS rose from 537 to
   * 1,353 MiB in 7 s of background work after 500,000 puts (129 MiB after close). Asking
   * after each flush and compaction keeps it near Node's (docs/PERFORMANCE.md). Node and
   * Deno collect in time by themselves and leave it out.
   */
  collectSoon?(): void;

  /**
   * Runs a young (eden) collection of this thread's heap now. Where present, each handle's
   * reads and writes ask for one after every 8 MiB of garbage they made for their callers
   * (src/engine/garbage-pacer.ts): Bun's JavaScriptCore sizes its young generation in
   * proportion to a heap it believes holds the database's shared memory, so it would let
   * ~1 GiB of garbage pile up on freshly mapped pages between collections and every
   * allocation pays page faults (a 1,000-byte `slice`: 3.7-6.9 µs instead of ~0.2 µs).
   * Node and Deno leave it out.
   */
  collectYoung?(): void;

  /**
   * Makes `buffer` impossible to detach by transferring it (postMessage, structuredClone:
   * it is copied or refused instead). Where present, reads hand out copies cut from shared
   * chunks, each marked with this first (src/engine/value-copies.ts): in V8 a typed array
   * over 64 bytes costs ~1 µs to allocate, a view of a chunk ~0.1 µs. Node and Deno have it
   * (node:worker_threads' markAsUntransferable); Bun's adapter leaves it out, since there a
   * `slice` is cheaper than a view. Optional: without it every copy is a `slice`.
   */
  markUntransferable?(buffer: ArrayBuffer): void;

  /**
   * With markUntransferable: copies of at least this many bytes are cut from chunks, shorter
   * ones are `slice`s (src/engine/value-copies.ts). Node's V8 keeps a typed array of up to
   * 64 bytes on its heap, cheap to make: 65 (the default). Deno's V8 gives every typed array a
   * backing store, 16 bytes as dearly as 1,000 (~0.38 µs; a view of a chunk ~0.05 µs): 1.
   */
  readonly pooledCopyBytesMin?: number;

  /**
   * Makes the calling thread's garbage collector count about `bytes` for as long as
   * `memory` (a shared memory) is reachable from it, where the runtime counts nothing for a
   * shared memory (Node's V8: runtimes/common/v8-memory.ts), so that dropping shared memories
   * prompts a collection as dropping ArrayBuffers of that size would. Costs no resident
   * memory. src/worker-pool.ts weighs each database's memory on the opening thread and on
   * the pooled threads. Optional: runtimes whose collector needs no help (Bun, Deno 2.9) do
   * without.
   */
  weighSharedMemory?(memory: WebAssembly.Memory, bytes: number): void;
}

/**
 * Errors thrown by a Platform carry the OS error code. Internal: the public API turns
 * them into FileSystemError (src/errors.ts), whose `cause` is this error.
 */
export class PlatformError extends Error {
  override readonly name = "PlatformError";
  constructor(
    message: string,
    /** OS error code such as "ENOENT", "EEXIST", "EIO", "ENOSPC"; "EUNKNOWN" if none. */
    readonly code: string,
    options?: { cause?: unknown; operation?: string; path?: string },
  ) {
    super(message, options);
    this.operation = options?.operation;
    this.path = options?.path;
  }
  /** The operation that failed ("mkdir", "open(create)", ...), when the adapter said. */
  readonly operation: string | undefined;
  /** The path it failed on, when the adapter said. */
  readonly path: string | undefined;
}

/**
 * A Platform wrapper's kernel lock (src/read-only-platform.ts, src/platform-faults.ts): the
 * wrapper hands out its own FileHandle objects, which the base lock refuses (it locks its
 * own handles' descriptors), so the lock is taken on the base handle each wraps (`inner`).
 * Before, under either wrapper, the kernel lock was never taken, silently (review, 2026-12-06).
 */
export function wrappedKernelLock(base: KernelLock | undefined, inner: WeakMap<FileHandle, FileHandle>): KernelLock | undefined {
  if (!base) return undefined;
  return {
    tryLockExclusive: (file) => base.tryLockExclusive(inner.get(file) ?? file),
    unlock: (file) => base.unlock(inner.get(file) ?? file),
  };
}

/** True when `error` is a platform error with the given OS code. */
export function hasErrorCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}

/** Deletes the file at `path` if it is there (ENOENT is not an error); any other failure is thrown. */
export function unlinkIfPresent(platform: Platform, path: string): void {
  try {
    platform.unlink(path);
  } catch (error) {
    if (!hasErrorCode(error, "ENOENT")) throw error;
  }
}
