/**
 * The Deno adapter: path operations through the Deno namespace (readFileSync, renameSync,
 * removeSync, readDirSync, mkdirSync, statSync, truncateSync, makeTempDirSync, FsFile
 * syncSync on directories), file handles through node:fs descriptors, kernel locks
 * through `FsFile.tryLockSync(true)` (flock(2), so they exclude Bun's flock too), workers
 * through node:worker_threads.
 *
 * Why node:fs for file handles: FsFile has no positional read/write, and Deno's node:fs
 * `writeSync(fd, buf, 0, len, pos)` / `readSync` / `writevSync` are single pwrite64 /
 * pread64 calls (checked with strace). Deno 2.9.6, ext4, 2-core VM, median of 8 rounds:
 *   4 KiB append + fdatasync: FsFile seekSync+writeSync+syncDataSync 204 us/op,
 *                             node:fs writeSync+fdatasyncSync         212 us/op (the fsync
 *                             dominates: a tie within the noise)
 *   100-byte write at a position: FsFile seekSync+writeSync 0.98 us, node:fs pwrite 0.70 us
 *   100-byte read at a position:  FsFile seekSync+readSync  0.74 us, node:fs pread  0.61 us
 *   4 KiB write, no sync:         FsFile 1.03 us, node:fs 0.74 us
 * so read/write/writev (and, on the same descriptor, datasync/sync/truncate/size) use
 * node:fs; writev as one pwrite per buffer, since Deno's `writevSync` is slow for large
 * buffers (runtimes/common/node-fs-file.ts). The kernel lock needs an FsFile: `tryLockExclusive` opens one on the handle's
 * path and keeps it, mapped from the FileHandle, until `unlock` or the handle's close; it
 * refuses (ESTALE) when the path no longer names the handle's file (same device and inode),
 * rather than lock another file (the lock protocol never renames or reuses a lock file's name).
 *
 * Why node:worker_threads, not the web Worker: a Deno web Worker has no unref() and keeps
 * the process alive as long as it runs (checked: an idle one never lets `deno run` end),
 * which breaks WorkerHandle.unref. Both clone a WebAssembly.Module and a shared Memory.
 * Deno 2.9.6, 20 000 message round trips x 7 rounds per run (medians of three runs):
 * round trip web 56.0 / 48.0 / 55.4 us, node:worker_threads 55.6 / 36.0 / 55.7 us (a tie);
 * spawn to first message web 8.9 / 11.7 / 9.4 ms, node:worker_threads 21.4 / 22.4 / 21.1 ms
 * (paid once per worker, at open).
 *
 * Invariants: the Platform contract (src/platform.ts). Threads: any thread may use
 * `denoPlatform`; a FileHandle and its kernel lock belong to the thread that opened it
 * (checked: a Deno descriptor number passed to a worker is EBADF there).
 */
import type { FileHandle, FileStat, KernelLock, Platform } from "../../src/platform.ts";
import { PlatformError } from "../../src/platform.ts";
import { fstatSync } from "node:fs";
import { ownStartTime, procIsAlive } from "../../src/process-identity.ts";
import { killProbe } from "../common/kill-probe.ts";
import { NodeFsFile } from "../common/node-fs-file.ts";
import { spawnNodeWorker } from "../common/node-worker.ts";
import { checkOffset, osError } from "../common/os-error.ts";
import { markUntransferable } from "../common/untransferable.ts";
import { v8CollectGarbage } from "../common/v8-memory.ts";

// `worker.ts` beside the sources, `worker.js` beside the esbuild bundle (dist/deno/).
const WORKER_URL = new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url);

function attempt<T>(operation: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw osError(error, operation, path);
  }
}

/** FsFiles that carry kernel locks, keyed by the FileHandle they lock. */
const lockFiles = new Map<FileHandle, Deno.FsFile>();
/** Handles whose close already drops their lock FsFile. */
const hooked = new WeakSet<FileHandle>();

function closeLockFile(file: FileHandle): void {
  const fsFile = lockFiles.get(file);
  if (!fsFile) return;
  lockFiles.delete(file);
  fsFile.close(); // closing drops the flock with it
}

const denoKernelLock: KernelLock = {
  tryLockExclusive(file) {
    if (lockFiles.has(file)) return true; // this handle already holds it
    if (!(file instanceof NodeFsFile)) throw new PlatformError(`${file.path}: not a Deno platform handle`, "EINVAL");
    file.fd; // throws EBADF if the handle is closed
    const fsFile = attempt("open for lock", file.path, () => Deno.openSync(file.path, { read: true }));
    let locked = false;
    try {
      // The FsFile is opened by path: the path must still name the handle's file, or the
      // lock would be taken on another one (a file renamed over the path: review, 2026-12-06).
      const at = fsFile.statSync();
      const own = fstatSync(file.fd);
      if (at.ino !== own.ino || at.dev !== own.dev) {
        throw new PlatformError(`flock ${file.path}: the path no longer names this handle's file (it was replaced or removed)`, "ESTALE");
      }
      locked = attempt("flock", file.path, () => fsFile.tryLockSync(true));
    } finally {
      if (!locked) fsFile.close();
    }
    if (locked) {
      lockFiles.set(file, fsFile);
      if (!hooked.has(file)) {
        hooked.add(file);
        file.onClose(() => closeLockFile(file));
      }
    }
    return locked;
  },
  unlock(file) {
    const fsFile = lockFiles.get(file);
    if (!fsFile) return;
    attempt("unlock", file.path, () => fsFile.unlockSync());
    closeLockFile(file);
  },
};


/** This process's start time, read from /proc once it answers for good. */
const startTime = ownStartTime((path) => denoPlatform.readFile(path), Deno.pid);

export const denoPlatform: Platform = {
  runtime: "deno",
  runtimeVersion: Deno.version.deno,
  open: (path, mode) => NodeFsFile.open(path, mode, { writevByParts: true }),
  readFile: (path) => attempt("readFile", path, () => Deno.readFileSync(path)),
  rename(from, to) {
    attempt("rename", `${from} -> ${to}`, () => Deno.renameSync(from, to));
  },
  unlink(path) {
    attempt("unlink", path, () => {
      // Deno.removeSync (and Deno's node:fs unlinkSync) would also remove an empty
      // directory; unlink(2) must not.
      if (Deno.lstatSync(path).isDirectory) throw osError({ code: "EISDIR" }, "unlink", path);
      Deno.removeSync(path);
    });
  },
  readdir: (path) => attempt("readdir", path, () => Array.from(Deno.readDirSync(path), (e: Deno.DirEntry) => e.name)),
  mkdir(path, options) {
    attempt("mkdir", path, () => Deno.mkdirSync(path, { recursive: options?.recursive === true }));
  },
  removeAll(path) {
    try {
      Deno.removeSync(path, { recursive: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw osError(error, "removeAll", path);
    }
  },
  stat(path): FileStat | undefined {
    let s: Deno.FileInfo;
    try {
      s = Deno.statSync(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) return undefined;
      throw osError(error, "stat", path);
    }
    return { size: s.size, isFile: s.isFile, isDirectory: s.isDirectory, mtimeMs: s.mtime?.getTime() ?? 0 };
  },
  truncate(path, length) {
    checkOffset(length, "truncate", path);
    attempt("truncate", path, () => Deno.truncateSync(path, length));
  },
  fsyncDir(path) {
    attempt("fsyncDir", path, () => {
      const dir = Deno.openSync(path, { read: true });
      try {
        dir.syncSync();
      } finally {
        dir.close();
      }
    });
  },
  makeTempDir: (prefix) => attempt("makeTempDir", prefix, () => Deno.makeTempDirSync({ prefix })),
  kernelLock: denoKernelLock,
  processIdentity() {
    return { pid: Deno.pid, startTime: startTime() };
  },
  isProcessAlive({ pid, startTime }) {
    return procIsAlive(denoPlatform.readFile, pid, startTime) ?? killProbe(pid);
  },
  spawnWorker: (init) => spawnNodeWorker(WORKER_URL, init),
  collectGarbage: v8CollectGarbage,
  markUntransferable,
  // Every typed array here has a backing store (~0.38 µs even for a 16-byte key): pool them all.
  pooledCopyBytesMin: 1,
};
