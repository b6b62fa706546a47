/**
 * Test harness: simulated power loss. `withPowerLoss(base, root)` is a Platform that
 * passes every operation under `root` to `base` and records what each one made durable;
 * `crash()` then rewrites the real directory to what a disk would hold after the power
 * failed at that moment. In the manner of Pebble's vfs.NewCrashableMem and LevelDB's
 * FaultInjectionTestEnv (ideas only, no code).
 *
 * What it models
 * - File data: what a file held at its last fdatasync/fsync (through any handle) is
 *   durable; every write or truncate since is unsynced. Unsynced changes are undone at the
 *   crash from pre-images (the bytes a write overwrote, recorded before each write).
 * - Directory entries: a create, rename, unlink or mkdir is durable only once its parent
 *   directory was fsynced (`fsyncDir`) after it; the crash undoes the others: a file
 *   whose creation was not made durable vanishes (even if its data was synced), a rename
 *   is undone, an unlinked file comes back with its durable data, a directory vanishes
 *   with everything in it. The root itself (and what was in it when the wrapper was
 *   made) counts as durable. With `entries: "ordered"`, in addition, a seeded prefix of
 *   every directory operation (in journal order, across directories) reached the disk
 *   unasked, as a journaling file system that commits metadata in order may do.
 * - Optionally (`unsynced`), some unsynced data survives, chosen by a seeded PRNG, in
 *   4 KiB pages where the durable and the current bytes differ:
 *     "drop"   (default) none survives;
 *     "prefix" the first pages in file order survive, the next is torn (its first 1 to 7
 *              512-byte sectors are new, the rest old), the others are lost;
 *     "pages"  each page independently survives, is lost, or is torn (reordered writeback).
 *   Where the file grew, pages beyond the durable size that did not survive read as zeros
 *   up to the last page that did (the size reached the disk, the data did not).
 * - Threads: the engine's pooled jobs (durability worker, actor) run on one worker pool
 *   shared by every wrapper of a base platform (not the base's own), each on a wrapper of
 *   its thread's platform on the same journal (Platform.pooledOn), so their I/O is seen too; other workers the wrapped platform
 *   spawns run their role the same way in a thread of their own (the built-in "module"
 *   role, src/worker-main.ts). All threads share one
 *   journal in a SharedArrayBuffer; every mutating operation holds its lock while it
 *   runs, so the journal order is the order the disk saw.
 * - The crash point: `crash()` at any moment, or `crashAtOperation: n` (the n-th
 *   mutating operation, counted over all threads, runs, then the power fails: the call
 *   throws EIO, so a write is in the page cache only and a sync is durable but was never
 *   reported as done). After the crash every call through the wrapper,
 *   in any thread, throws EIO (`close` excepted: it only releases the descriptor), so
 *   the database or log above it must be abandoned; `crash()` then rewrites the disk.
 *   Every call that looks a path up (open, readFile, stat, readdir) holds the lock too: a
 *   rename over an existing file is two renames here (the old file into the graveyard,
 *   then the new one in), and no thread may see the name missing between them, as none
 *   can across rename(2); nor does an "ordered" cut fall between them.
 *   The outcome is a function of the seed and of the journal; threads may interleave
 *   differently from run to run, so a run is reproducible only as far as they do.
 *
 * - A failed sync (`failSyncAfter(n)`: the n-th file sync from then on, over all threads,
 *   throws EIO), as Linux reports a writeback error ("fsyncgate"): the data written since
 *   the file's last sync stays in the page cache, where reads still see it, but is marked
 *   clean, so no later sync writes it. At the crash those bytes are what they were before
 *   (zeros past the old size), unless a write after the failure covered them and a sync
 *   after that write succeeded (byte by byte: stricter than the kernel's 4 KiB pages).
 *
 * What it does not model
 * - fsync and fdatasync are the same here (no separate size/mtime metadata); a file's
 *   fsync does not make its directory entry durable (ext4 often does; POSIX does not
 *   promise it, so the strict reading is the useful one for tests).
 * - A 512-byte sector is written whole or not at all; torn pages mix whole sectors of old
 *   and new bytes, never garbage. Durable data is never corrupted (bit flips are for
 *   src/platform-faults.ts and the WAL recovery tests).
 * - Reads see the page cache, as on a real system: what a read returns may be lost later.
 * - Hard links, ".." in paths, other processes, and a second power loss while `crash()`
 *   rewrites the directory. Paths outside `root` pass through untracked (renames across
 *   it are refused).
 * Cost: every write under the root takes the journal lock, an fstat and, when it
 *   overwrites existing bytes, a read of them; `crash()` holds every durable file in
 *   memory. Meant for small test databases.
 *
 * Threads: the thread that made the wrapper calls `crash()`; any thread may do I/O.
 * Unlinked and replaced files are kept, until the crash, in `<root>.power-loss-graveyard`.
 */
import type { FileHandle, OpenMode, ParentPort, Platform, WorkerHandle, WorkerInit } from "../../src/platform.ts";
import { PlatformError } from "../../src/platform.ts";
import { type ModuleTaskContext, runWorker } from "../../src/worker-main.ts";
import { seededRandom } from "./seeded-random.ts";

export type UnsyncedFate = "drop" | "prefix" | "pages";
export type EntryFate = "fsynced" | "ordered";

export interface PowerLossOptions {
  /** Seeds the PRNG that chooses which unsynced pages survive. Default 1. */
  seed?: number;
  /** What becomes of unsynced data at the crash. Default "drop". */
  unsynced?: UnsyncedFate;
  /** Which directory entries survive: only fsynced ones (default), or also a seeded prefix of the rest, in order. */
  entries?: EntryFate;
  /** The power fails right after the n-th mutating operation (1-based, all threads), which then throws EIO. */
  crashAtOperation?: number;
  /** Size of the shared journal. Default 64 MiB. */
  journalBytes?: number;
}

export interface CrashReport {
  /** Files and directories the durable state holds. */
  files: number;
  directories: number;
  /** Files there were before the crash minus files kept (net: a file that comes back offsets one lost). */
  filesLost: number;
  /** Bytes where a surviving file's content differs from what it held before the crash. */
  bytesChanged: number;
  /** Mutating operations performed before the crash. */
  operations: number;
}

export interface PowerLossPlatform extends Platform {
  /** Stops all I/O through this wrapper (in every thread) and rewrites `root` to its durable state. */
  crash(): CrashReport;
  /** True once crashed (by `crash()` or by `crashAtOperation`). */
  readonly crashed: boolean;
  /** Mutating operations so far, over all threads. */
  readonly operations: number;
  /** The `n`-th file sync from now (fdatasync or fsync, any thread; 1: the next) fails with EIO and loses its data (see the header). */
  failSyncAfter(n: number): void;
  /** The journal itself, for tests that watch it (its layout: Journal, below). */
  readonly journalBuffer: SharedArrayBuffer;
}

/** What a worker needs to join the journal: structured-cloneable. */
interface SharedSetup {
  buffer: SharedArrayBuffer;
  root: string;
  graveyard: string;
}

// ---- the shared journal -------------------------------------------------------------

const PAGE_BYTES = 4096;
const SECTOR_BYTES = 512;
const HEADER_BYTES = 64;
/** Int32 slots of the journal header. */
const LOCK = 0, CRASHED = 1, END = 2, NEXT_HANDLE = 3, NEXT_GRAVE = 4, OPERATIONS = 5, CRASH_AT = 6, SYNCS = 7, FAIL_SYNC_AT = 8;

/** Pre-image of the bytes an operation changes: none, all zeros (not stored), or stored bytes. */
type OldBytes = "none" | "zeros" | "bytes";

type JournalEvent =
  | { op: "open"; handle: number; path: string; created: boolean }
  | { op: "resize"; handle?: number; path?: string; at: number; length: number; oldLength: number; sizeBefore: number; old: OldBytes }
  | { op: "sync"; handle: number }
  | { op: "syncFailed"; handle: number }
  | { op: "mkdir"; path: string }
  | { op: "rename"; from: string; to: string }
  | { op: "detach"; path: string; grave: string; replaced?: true }
  | { op: "fsyncDir"; path: string };
// "resize" is every data change: a write of `length` bytes at `at` (old bytes
// [at, at+oldLength) and the size before) or a truncate (at = new length, length 0).
// Undoing one is the same for both.

const encoder = new TextEncoder();
const decoder = new TextDecoder();

class Journal {
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly view: DataView;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.u8 = new Uint8Array(buffer);
    this.view = new DataView(buffer);
  }

  static create(bytes: number, crashAt: number): Journal {
    const journal = new Journal(new SharedArrayBuffer(bytes));
    Atomics.store(journal.i32, END, HEADER_BYTES);
    Atomics.store(journal.i32, CRASH_AT, crashAt);
    return journal;
  }

  get crashed(): boolean {
    return Atomics.load(this.i32, CRASHED) === 1;
  }

  get operations(): number {
    return Atomics.load(this.i32, OPERATIONS);
  }

  next(slot: number): number {
    return Atomics.add(this.i32, slot, 1) + 1;
  }

  /**
   * Runs `fn` holding the lock; EIO once crashed. A mutating operation (one that may
   * change the disk) counts towards `crashAtOperation`; an open for read or readwrite does not.
   */
  mutate<T>(what: string, fn: () => T, mutating = true): T {
    this.#lock();
    try {
      if (this.crashed) throw crashedError(what);
      if (!mutating) return fn();
      const n = Atomics.add(this.i32, OPERATIONS, 1) + 1;
      const result = fn();
      if (n === Atomics.load(this.i32, CRASH_AT)) {
        // It reached the page cache (or the disk, for a sync); its caller never learns.
        Atomics.store(this.i32, CRASHED, 1);
        throw crashedError(what);
      }
      return result;
    } finally {
      this.#unlock();
    }
  }

  /** Marks the journal crashed, waiting for any operation in progress to end. */
  crash(): void {
    this.#lock();
    Atomics.store(this.i32, CRASHED, 1);
    this.#unlock();
  }

  /** Appends one event (call while holding the lock). */
  append(event: JournalEvent, bytes?: Uint8Array): void {
    const json = encoder.encode(JSON.stringify(event));
    const extra = bytes?.length ?? 0;
    const at = Atomics.load(this.i32, END);
    const end = at + 8 + json.length + extra;
    if (end > this.u8.length) throw new PlatformError(`power-loss journal full (${this.u8.length} bytes); raise journalBytes`, "ENOSPC");
    this.view.setUint32(at, json.length);
    this.view.setUint32(at + 4, extra);
    this.u8.set(json, at + 8);
    if (bytes) this.u8.set(bytes, at + 8 + json.length);
    Atomics.store(this.i32, END, end);
  }

  *events(): Generator<{ event: JournalEvent; bytes: Uint8Array | undefined }> {
    const end = Atomics.load(this.i32, END);
    for (let at = HEADER_BYTES; at < end;) {
      const jsonBytes = this.view.getUint32(at);
      const extra = this.view.getUint32(at + 4);
      const event = JSON.parse(decoder.decode(this.u8.slice(at + 8, at + 8 + jsonBytes))) as JournalEvent;
      const bytes = extra > 0 ? this.u8.slice(at + 8 + jsonBytes, at + 8 + jsonBytes + extra) : undefined;
      yield { event, bytes };
      at += 8 + jsonBytes + extra;
    }
  }

  #lock(): void {
    while (Atomics.compareExchange(this.i32, LOCK, 0, 1) !== 0) Atomics.wait(this.i32, LOCK, 1, 1);
  }

  #unlock(): void {
    Atomics.store(this.i32, LOCK, 0);
    Atomics.notify(this.i32, LOCK, 1);
  }
}

function crashedError(what: string): PlatformError {
  return new PlatformError(`${what}: the power is off (simulated crash)`, "EIO");
}

// ---- paths ----------------------------------------------------------------------------

/** Components of `path` below `root`, or undefined when it is not under it ([] for the root). */
function relativeParts(root: string, path: string): string[] | undefined {
  if (path !== root && !path.startsWith(`${root}/`)) return undefined;
  return path.slice(root.length).split("/").filter((p) => p !== "" && p !== ".");
}

function trimSlashes(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

function allZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** The bytes [from, to) of an open file, for a pre-image. */
function readRange(file: FileHandle, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  let done = 0;
  while (done < out.length) {
    const n = file.read(out.subarray(done), from + done);
    if (n === 0) break;
    done += n;
  }
  return out;
}

// ---- the wrapper (any thread) ---------------------------------------------------------

const HARNESS_URL = import.meta.url;

/**
 * The Platform whose worker pool every wrapper of `base` uses (Platform.pooledOn): a copy of
 * `base`, so that the pool is not base's own. A database abandoned at a crash may leave its
 * actor's job on a pooled thread for good; on base's pool, a later database of the same test
 * process took that thread as a shared one, and did not give it back as idle at its close
 * (tests/engine/worker-pool.test.ts failed so in CI).
 */
const poolOwners = new WeakMap<Platform, Platform>();
function wrappersPoolOwner(base: Platform): Platform {
  let owner = poolOwners.get(base);
  if (!owner) poolOwners.set(base, (owner = { ...base }));
  return owner;
}

function makeWrapper(base: Platform, setup: SharedSetup, journal: Journal): Platform {
  const { root, graveyard } = setup;
  const tracked = (path: string) => relativeParts(root, path) !== undefined;
  const readGate = (what: string) => {
    if (journal.crashed) throw crashedError(what);
  };

  /** Logs a data change [at, at+length) of a file of `sizeBefore` bytes, with its pre-image. */
  function logChange(file: FileHandle, target: { handle?: number; path?: string }, at: number, changeEnd: number, sizeBefore: number): void {
    const oldEnd = Math.min(changeEnd, sizeBefore);
    const old = at < oldEnd ? readRange(file, at, oldEnd) : undefined;
    const kind: OldBytes = !old ? "none" : allZero(old) ? "zeros" : "bytes";
    journal.append({ op: "resize", ...target, at, length: changeEnd - at, oldLength: old?.length ?? 0, sizeBefore, old: kind }, kind === "bytes" ? old : undefined);
  }

  /** A file's sync (holding the lock): done, or the failure `failSyncAfter` planned, with the data it loses. */
  function syncOrFail(what: string, handle: number, sync: () => void): void {
    if (journal.next(SYNCS) === Atomics.load(journal.i32, FAIL_SYNC_AT)) {
      journal.append({ op: "syncFailed", handle });
      throw new PlatformError(`${what}: input/output error (a simulated writeback failure)`, "EIO");
    }
    sync();
    journal.append({ op: "sync", handle });
  }

  function wrapFile(file: FileHandle, handle: number): FileHandle {
    const where = { handle };
    const writeAll = (bytes: number, position: number, write: () => void) =>
      journal.mutate(`write ${file.path}`, () => {
        logChange(file, where, position, position + bytes, file.size());
        write();
      });
    return {
      path: file.path,
      read(buf, position) {
        readGate(`read ${file.path}`);
        return file.read(buf, position);
      },
      write: (buf, position) => writeAll(buf.length, position, () => file.write(buf, position)),
      writev: (bufs, position) => writeAll(bufs.reduce((n, b) => n + b.length, 0), position, () => file.writev(bufs, position)),
      datasync: () => journal.mutate(`fdatasync ${file.path}`, () => syncOrFail(`fdatasync ${file.path}`, handle, () => file.datasync())),
      sync: () => journal.mutate(`fsync ${file.path}`, () => syncOrFail(`fsync ${file.path}`, handle, () => file.sync())),
      truncate: (length) =>
        journal.mutate(`truncate ${file.path}`, () => {
          const size = file.size();
          logChange(file, where, length, size, size);
          file.truncate(length);
        }),
      size() {
        readGate(`size ${file.path}`);
        return file.size();
      },
      close: () => file.close(),
    };
  }

  function open(path: string, mode: OpenMode): FileHandle {
    if (!tracked(path)) {
      readGate(`open ${path}`);
      return base.open(path, mode);
    }
    const existing = mode === "read" || mode === "readwrite";
    return journal.mutate(`open ${path}`, () => {
      const existed = existing || base.stat(path) !== undefined;
      const file = base.open(path, mode);
      const handle = journal.next(NEXT_HANDLE);
      journal.append({ op: "open", handle, path, created: !existed });
      return wrapFile(file, handle);
    }, !existing);
  }

  /** "truncate" mode on an existing non-empty file: log the truncation (with the old bytes) before opening. */
  function openTruncating(path: string): FileHandle {
    return journal.mutate(`open ${path}`, () => {
      const before = base.open(path, "readwrite");
      const handle = journal.next(NEXT_HANDLE);
      try {
        journal.append({ op: "open", handle, path, created: false });
        const size = before.size();
        logChange(before, { handle }, 0, size, size);
      } finally {
        before.close();
      }
      return wrapFile(base.open(path, "truncate"), handle);
    });
  }

  /**
   * Moves `path` into the graveyard (so its data outlives an unlink until the crash);
   * `replaced`: the first half of a rename over it (an "ordered" cut never falls between the two).
   */
  function bury(path: string, replaced = false): void {
    const grave = `g${journal.next(NEXT_GRAVE)}`;
    base.rename(path, `${graveyard}/${grave}`);
    journal.append(replaced ? { op: "detach", path, grave, replaced } : { op: "detach", path, grave });
  }

  const wrapper: Platform = {
    runtime: base.runtime,
    runtimeVersion: base.runtimeVersion,
    open(path, mode) {
      if (mode === "truncate" && tracked(path)) {
        const existing = base.stat(path);
        if (existing?.isFile && existing.size > 0) return openTruncating(path);
      }
      return open(path, mode);
    },
    readFile(path) {
      if (!tracked(path)) return (readGate(`readFile ${path}`), base.readFile(path));
      return journal.mutate(`readFile ${path}`, () => base.readFile(path), false);
    },
    rename(from, to) {
      const a = tracked(from), b = tracked(to);
      if (!a && !b) return (readGate(`rename ${from}`), base.rename(from, to));
      if (a !== b) throw new Error(`power-loss platform: rename across its root (${from} -> ${to})`);
      journal.mutate(`rename ${from} -> ${to}`, () => {
        if (!base.stat(from)) return base.rename(from, to); // fails with the OS's ENOENT
        if (base.stat(to)) bury(to, true);
        base.rename(from, to);
        journal.append({ op: "rename", from, to });
      });
    },
    unlink(path) {
      if (!tracked(path)) return (readGate(`unlink ${path}`), base.unlink(path));
      journal.mutate(`unlink ${path}`, () => {
        const s = base.stat(path);
        if (!s || s.isDirectory) return base.unlink(path); // the OS's error
        bury(path);
      });
    },
    readdir(path) {
      if (!tracked(path)) return (readGate(`readdir ${path}`), base.readdir(path));
      return journal.mutate(`readdir ${path}`, () => base.readdir(path), false);
    },
    mkdir(path, options) {
      const parts = relativeParts(root, trimSlashes(path));
      if (!parts) return (readGate(`mkdir ${path}`), base.mkdir(path, options));
      journal.mutate(`mkdir ${path}`, () => {
        const missing: string[] = [];
        for (let i = 1; i <= parts.length; i++) {
          const p = [root, ...parts.slice(0, i)].join("/");
          if (!base.stat(p)) missing.push(p);
        }
        base.mkdir(path, options);
        for (const p of missing) journal.append({ op: "mkdir", path: p });
      });
    },
    removeAll(path) {
      const parts = relativeParts(root, trimSlashes(path));
      if (!parts) return (readGate(`removeAll ${path}`), base.removeAll(path));
      if (parts.length === 0) throw new Error("power-loss platform: removeAll of its root");
      journal.mutate(`removeAll ${path}`, () => {
        if (base.stat(path)) bury(trimSlashes(path));
      });
    },
    stat(path) {
      if (!tracked(path)) return (readGate(`stat ${path}`), base.stat(path));
      return journal.mutate(`stat ${path}`, () => base.stat(path), false);
    },
    truncate(path, length) {
      if (!tracked(path)) return (readGate(`truncate ${path}`), base.truncate(path, length));
      journal.mutate(`truncate ${path}`, () => {
        const file = base.open(path, "readwrite");
        try {
          const size = file.size();
          logChange(file, { path }, length, size, size);
          file.truncate(length);
        } finally {
          file.close();
        }
      });
    },
    fsyncDir(path) {
      if (!tracked(path)) return (readGate(`fsyncDir ${path}`), base.fsyncDir(path));
      journal.mutate(`fsyncDir ${path}`, () => {
        base.fsyncDir(path);
        journal.append({ op: "fsyncDir", path: trimSlashes(path) });
      });
    },
    makeTempDir: (prefix) => base.makeTempDir(prefix),
    // A kernel lock works on the runtime's own file handles, not on these wrappers.
    kernelLock: undefined,
    processIdentity: () => base.processIdentity(),
    isProcessAlive: (identity) => base.isProcessAlive(identity),
    // The engine's pooled jobs (durability, actor, replay-pages) run on one pool for every
    // wrapper of `base`, each wrapped in its thread on this journal (powerLossPlatform): the
    // threads outlive the wrapper and serve the next (a thread start is most of a wrapped
    // open's cost).
    pooledOn: { base: wrappersPoolOwner(base), wrapper: { url: HARNESS_URL, export: "powerLossPlatform", data: setup } },
    // Any other role: a thread of its own, its role wrapped the same way.
    spawnWorker(init: WorkerInit): WorkerHandle {
      readGate(`spawnWorker ${init.role}`);
      const data: WrappedRole = { setup, role: init.role, args: init.args };
      return base.spawnWorker({ role: "module", module: init.module, memory: init.memory, args: { url: HARNESS_URL, export: "runRoleUnderPowerLoss", data } });
    },
  };
  return wrapper;
}

interface WrappedRole {
  setup: SharedSetup;
  role: string;
  args: unknown;
}

/**
 * Worker side of a pooled job (Platform.pooledOn): the thread's Platform wrapped on the
 * shared journal. A job that starts after the power failed fails at once, as a spawn does.
 * Exported for src/worker-main.ts's import only.
 */
export function powerLossPlatform(platform: Platform, setup: SharedSetup): Platform {
  const journal = new Journal(setup.buffer);
  if (journal.crashed) throw crashedError(`a worker's start`);
  return makeWrapper(platform, setup, journal);
}

/**
 * Worker side ("module" role): runs the role the engine asked for, with the worker's
 * Platform wrapped on the shared journal. Exported for src/worker-main.ts's import only.
 */
export async function runRoleUnderPowerLoss(context: ModuleTaskContext): Promise<void> {
  const { setup, role, args } = context.data as WrappedRole;
  const platform = makeWrapper(context.platform, setup, new Journal(setup.buffer));
  const port: ParentPort = context.port;
  await runWorker(platform, { role, module: context.module, memory: context.memory, args }, port);
}

// ---- the crash: replaying the journal -------------------------------------------------

interface FileNode {
  kind: "file";
  /** Data changes since the last sync, oldest first. */
  unsynced: Change[];
  /** Changes a failed sync lost (oldest first): the disk kept what they overwrote, except where `healed`. */
  lost: Change[];
  /** Byte ranges [from, to) written after a failed sync and synced since: on disk whatever was lost there. */
  healed: Array<[number, number]>;
  parent: DirNode;
  name: string;
}

interface Change {
  at: number;
  length: number;
  sizeBefore: number;
  old: Uint8Array;
}

interface DirNode {
  kind: "dir";
  /** Entries as the running system sees them. */
  live: Map<string, Node>;
  /** Entries as of the last fsync of this directory. */
  durable: Map<string, Node>;
  parent: DirNode | undefined;
  name: string;
  /** Real location for the root and the graveyard. */
  fixedPath?: string;
}

type Node = FileNode | DirNode;

function newDir(parent: DirNode | undefined, name: string, fixedPath?: string): DirNode {
  return { kind: "dir", live: new Map(), durable: new Map(), parent, name, fixedPath };
}

function realPath(node: Node): string {
  if (node.kind === "dir" && node.fixedPath !== undefined) return node.fixedPath;
  return `${realPath(node.parent!)}/${node.name}`;
}

/** The tree under `path` as it is now, all of it durable (the state before the wrapper). */
function scanDurable(base: Platform, dir: DirNode): void {
  for (const name of base.readdir(realPath(dir))) {
    const s = base.stat(`${realPath(dir)}/${name}`);
    if (!s) continue;
    const node: Node = s.isDirectory ? newDir(dir, name) : { kind: "file", unsynced: [], lost: [], healed: [], parent: dir, name };
    dir.live.set(name, node);
    dir.durable.set(name, node);
    if (node.kind === "dir") scanDurable(base, node);
  }
}

/** Every directory reachable through live entries from `dir`, itself included. */
function liveDirs(dir: DirNode, out: DirNode[] = []): DirNode[] {
  out.push(dir);
  for (const node of dir.live.values()) if (node.kind === "dir") liveDirs(node, out);
  return out;
}

class Replay {
  readonly handles = new Map<number, FileNode>();
  /** Journal index of each directory's last fsync. */
  readonly fsyncedAt = new Map<DirNode, number>();
  /** Every directory's entries at the `entries: "ordered"` cut. */
  readonly atCut = new Map<DirNode, Map<string, Node>>();
  index = 0;

  constructor(readonly root: DirNode, readonly graveyard: DirNode, readonly rootPath: string) {}

  lookup(path: string): Node {
    let node: Node = this.root;
    for (const part of relativeParts(this.rootPath, path) ?? fail(`${path} is outside the root`)) {
      if (node.kind !== "dir") fail(`${path}: not a directory on the way`);
      node = (node as DirNode).live.get(part) ?? fail(`${path}: no entry "${part}" in the journal's view`);
    }
    return node;
  }

  parentOf(path: string): { dir: DirNode; name: string } {
    const cut = path.lastIndexOf("/");
    const dir = this.lookup(path.slice(0, cut));
    if (dir.kind !== "dir") fail(`${path}: parent is not a directory`);
    return { dir: dir as DirNode, name: path.slice(cut + 1) };
  }

  fileAt(where: { handle?: number; path?: string }): FileNode {
    const node = where.handle !== undefined ? this.handles.get(where.handle) : this.lookup(where.path!);
    if (!node || node.kind !== "file") fail(`no file for ${JSON.stringify(where)}`);
    return node as FileNode;
  }

  attach(node: Node, dir: DirNode, name: string): void {
    node.parent = dir;
    node.name = name;
    dir.live.set(name, node);
  }

  /** The "ordered" cut: every directory operation so far reached the disk. */
  cut(): void {
    for (const dir of [...liveDirs(this.root), ...liveDirs(this.graveyard)]) this.atCut.set(dir, new Map(dir.live));
  }

  /** After the journal: a directory not fsynced since the cut keeps its entries as of the cut. */
  applyCut(cutIndex: number): void {
    for (const [dir, entries] of this.atCut) if ((this.fsyncedAt.get(dir) ?? -1) < cutIndex) dir.durable = entries;
  }

  apply(event: JournalEvent, bytes: Uint8Array | undefined): void {
    this.index++;
    switch (event.op) {
      case "open": {
        if (event.created) {
          const { dir, name } = this.parentOf(event.path);
          const file: FileNode = { kind: "file", unsynced: [], lost: [], healed: [], parent: dir, name };
          dir.live.set(name, file);
        }
        this.handles.set(event.handle, this.fileAt({ path: event.path }));
        return;
      }
      case "resize": {
        const old = event.old === "bytes" ? bytes! : new Uint8Array(event.oldLength);
        this.fileAt(event).unsynced.push({ at: event.at, length: event.length, sizeBefore: event.sizeBefore, old });
        return;
      }
      case "sync": {
        const file = this.fileAt(event);
        if (file.lost.length > 0) for (const { at, length } of file.unsynced) file.healed.push([at, at + length]);
        file.unsynced = [];
        return;
      }
      case "syncFailed": {
        const file = this.fileAt(event);
        file.lost.push(...file.unsynced);
        file.unsynced = [];
        return;
      }
      case "mkdir": {
        const { dir, name } = this.parentOf(event.path);
        dir.live.set(name, newDir(dir, name));
        return;
      }
      case "rename": {
        const node = this.lookup(event.from);
        node.parent!.live.delete(node.name);
        const { dir, name } = this.parentOf(event.to);
        this.attach(node, dir, name);
        return;
      }
      case "detach": {
        const node = this.lookup(event.path);
        node.parent!.live.delete(node.name);
        this.attach(node, this.graveyard, event.grave);
        return;
      }
      case "fsyncDir": {
        const dir = this.lookup(event.path);
        if (dir.kind !== "dir") fail(`fsyncDir of a file ${event.path}`);
        (dir as DirNode).durable = new Map((dir as DirNode).live);
        this.fsyncedAt.set(dir as DirNode, this.index);
        return;
      }
    }
  }
}

function fail(why: string): never {
  throw new Error(`power-loss platform: journal replay: ${why}`);
}

/** The file's content at its last sync: its current bytes with every later change undone. */
function durableBytes(current: Uint8Array, file: FileNode): Uint8Array {
  let image = current;
  for (let i = file.unsynced.length - 1; i >= 0; i--) {
    const { at, sizeBefore, old } = file.unsynced[i];
    const before = new Uint8Array(sizeBefore);
    before.set(image.subarray(0, Math.min(sizeBefore, image.length)));
    before.set(old.subarray(0, Math.max(0, Math.min(old.length, sizeBefore - at))), at);
    image = before;
  }
  if (file.lost.length > 0) {
    // A failed sync's writes never reached the disk: it holds what they overwrote (the
    // oldest change's pre-image last, so it wins), zeros past the size before them.
    image = image.slice();
    const healed = (i: number) => file.healed.some(([from, to]) => i >= from && i < to);
    for (let c = file.lost.length - 1; c >= 0; c--) {
      const { at, length, sizeBefore, old } = file.lost[c];
      for (let i = at; i < Math.min(at + length, image.length); i++) {
        if (healed(i)) continue;
        image[i] = i < sizeBefore && i - at < old.length ? old[i - at] : 0;
      }
    }
  }
  return image;
}

/** Page indexes where `a` and `b` differ (including pages only one of them reaches). */
function differingPages(a: Uint8Array, b: Uint8Array): number[] {
  const pages: number[] = [];
  const end = Math.max(a.length, b.length);
  for (let page = 0; page * PAGE_BYTES < end; page++) {
    const from = page * PAGE_BYTES, to = Math.min(end, from + PAGE_BYTES);
    for (let i = from; i < to; i++) {
      if (i >= a.length || i >= b.length || a[i] !== b[i]) {
        pages.push(page);
        break;
      }
    }
  }
  return pages;
}

/**
 * What the disk holds for a file whose durable content is `durable` and whose current
 * content is `current`, when some unsynced pages reached the disk (see the header).
 */
function survivingBytes(durable: Uint8Array, current: Uint8Array, fate: UnsyncedFate, random: () => number): Uint8Array {
  if (fate === "drop") return durable;
  const pages = differingPages(durable, current);
  if (pages.length === 0) return durable;
  /** How many bytes of each page reach the disk: a page, a torn part of it, or none. */
  const keptBytes = new Map<number, number>();
  const torn = () => (1 + Math.floor(random() * 7)) * SECTOR_BYTES;
  if (fate === "prefix") {
    const whole = Math.floor(random() * (pages.length + 1));
    for (let i = 0; i < whole; i++) keptBytes.set(pages[i], PAGE_BYTES);
    if (whole < pages.length) keptBytes.set(pages[whole], torn());
  } else {
    for (const page of pages) {
      const r = random();
      if (r < 1 / 3) keptBytes.set(page, PAGE_BYTES);
      else if (r < 2 / 3) keptBytes.set(page, torn());
    }
  }
  // The size: the durable one, grown to cover the last surviving byte of a grown file.
  let size = durable.length;
  for (const [page, kept] of keptBytes) size = Math.max(size, Math.min(current.length, page * PAGE_BYTES + kept));
  if (current.length < durable.length && keptBytes.size > 0 && random() < 0.5) size = current.length; // a truncation that reached the disk
  const out = new Uint8Array(size);
  out.set(durable.subarray(0, Math.min(size, durable.length)));
  for (const [page, kept] of keptBytes) {
    const from = page * PAGE_BYTES;
    const to = Math.min(size, current.length, from + kept);
    if (to > from) out.set(current.subarray(from, to), from);
  }
  return out;
}

interface Planned {
  dirs: string[];
  files: Array<{ path: string; bytes: Uint8Array; changed: number }>;
}

/** Walks the durable entries from the root: every directory and file the disk keeps. */
function plan(base: Platform, root: DirNode, rootPath: string, fate: UnsyncedFate, random: () => number): Planned {
  const out: Planned = { dirs: [], files: [] };
  const walk = (dir: DirNode, at: string, onPath: Set<DirNode>) => {
    for (const name of [...dir.durable.keys()].sort()) {
      const node = dir.durable.get(name)!;
      const path = `${at}/${name}`;
      if (node.kind === "dir") {
        if (onPath.has(node)) continue; // a directory renamed into itself on one side: skip the loop
        out.dirs.push(path);
        walk(node, path, new Set(onPath).add(node));
      } else {
        const current = base.readFile(realPath(node));
        const bytes = survivingBytes(durableBytes(current, node), current, fate, random);
        out.files.push({ path, bytes, changed: countChanged(current, bytes) });
      }
    }
  };
  walk(root, rootPath, new Set([root]));
  return out;
}

function countChanged(a: Uint8Array, b: Uint8Array): number {
  let n = Math.abs(a.length - b.length);
  for (let i = Math.min(a.length, b.length) - 1; i >= 0; i--) if (a[i] !== b[i]) n++;
  return n;
}

function countFiles(base: Platform, dir: string): number {
  let n = 0;
  for (const name of base.readdir(dir)) {
    const s = base.stat(`${dir}/${name}`);
    n += s?.isDirectory ? countFiles(base, `${dir}/${name}`) : 1;
  }
  return n;
}

/** Replaces everything under `rootPath` with the planned durable state. */
function rewrite(base: Platform, rootPath: string, planned: Planned): void {
  for (const name of base.readdir(rootPath)) base.removeAll(`${rootPath}/${name}`);
  for (const dir of planned.dirs) base.mkdir(dir);
  for (const { path, bytes } of planned.files) {
    const file = base.open(path, "createExclusive");
    try {
      if (bytes.length > 0) file.write(bytes, 0);
      file.datasync();
    } finally {
      file.close();
    }
  }
}

// ---- the public constructor -----------------------------------------------------------

/** Wraps `base`; everything under `root` (an existing directory) is tracked. */
export function withPowerLoss(base: Platform, root: string, options: PowerLossOptions = {}): PowerLossPlatform {
  const rootPath = trimSlashes(root);
  if (!base.stat(rootPath)?.isDirectory) throw new Error(`power-loss platform: root ${rootPath} is not a directory`);
  const graveyard = `${rootPath}.power-loss-graveyard`;
  base.removeAll(graveyard);
  base.mkdir(graveyard);
  const journal = Journal.create(options.journalBytes ?? 64 * 1024 * 1024, options.crashAtOperation ?? 0);
  const setup: SharedSetup = { buffer: journal.buffer, root: rootPath, graveyard };

  const rootNode = newDir(undefined, "", rootPath);
  scanDurable(base, rootNode);
  const graveNode = newDir(undefined, "", graveyard);
  let rewritten = false;

  return {
    ...makeWrapper(base, setup, journal),
    get crashed() {
      return journal.crashed;
    },
    get operations() {
      return journal.operations;
    },
    journalBuffer: journal.buffer,
    failSyncAfter(n: number): void {
      Atomics.store(journal.i32, FAIL_SYNC_AT, Atomics.load(journal.i32, SYNCS) + n);
    },
    crash(): CrashReport {
      if (rewritten) throw new Error("power-loss platform: crash() was already called");
      journal.crash();
      rewritten = true;
      const replay = new Replay(rootNode, graveNode, rootPath);
      const random = seededRandom(options.seed ?? 1);
      const events = [...journal.events()];
      let cutIndex = options.entries === "ordered" ? Math.floor(random() * (events.length + 1)) : -1;
      // A rename over a file is two events here and one atomic rename(2) on a disk: a cut
      // between them left neither name (the follower power-loss sweep saw "MANIFEST
      // missing" once in a few runs: review of the sync call sites, 2026-12-08).
      if (cutIndex > 0 && (events[cutIndex - 1].event as { replaced?: true }).replaced) cutIndex++;
      for (const { event, bytes } of events) {
        if (replay.index === cutIndex) replay.cut();
        replay.apply(event, bytes);
      }
      if (replay.index === cutIndex) replay.cut();
      if (cutIndex >= 0) replay.applyCut(cutIndex);
      const filesBefore = countFiles(base, rootPath);
      const planned = plan(base, rootNode, rootPath, options.unsynced ?? "drop", random);
      rewrite(base, rootPath, planned);
      base.removeAll(graveyard);
      return {
        files: planned.files.length,
        directories: planned.dirs.length,
        filesLost: Math.max(0, filesBefore - planned.files.length),
        bytesChanged: planned.files.reduce((n, f) => n + f.changed, 0),
        operations: journal.operations,
      };
    },
  };
}

/** Waits for `promise` (its rejection ignored), but no longer than `ms`: a database or log abandoned at a crash may never settle. */
export function bounded(promise: Promise<unknown>, ms = 5000): Promise<unknown> {
  return Promise.race([promise.catch(() => {}), new Promise((resolve) => setTimeout(resolve, ms).unref?.())]);
}
