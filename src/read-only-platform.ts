/**
 * A Platform that refuses every change to the file system: the platform of a database
 * opened with `readOnly: true` (src/engine/open-read-only.ts), so that such an open cannot
 * write, truncate, rename, delete or create anything, whatever code path it takes:
 * recovery that would repair a log, a replay that would flush, a read that would... all
 * throw ReadOnlyError naming the operation instead.
 *
 * Allowed: opening files with mode "read", reading, listing, stat, fsync of a directory or
 * of a file opened for reading (they change nothing), mkdir of a directory that exists
 * already (`makeDirDurable` of an existing path), temp directories (not the database's).
 * Workers are refused: a read-only database starts no thread.
 * Threads: the opening thread (file handles stay on it, as always).
 */
import { ReadOnlyError } from "./errors.ts";
import { type FileHandle, type Platform, wrappedKernelLock } from "./platform.ts";

export function readOnlyPlatform(base: Platform, dir: string): Platform {
  const refuse = (what: string): never => {
    throw new ReadOnlyError(dir, what);
  };
  const inner = new WeakMap<FileHandle, FileHandle>();
  return {
    ...base,
    kernelLock: wrappedKernelLock(base.kernelLock, inner),
    open(path, mode): FileHandle {
      if (mode !== "read") refuse(`open(${mode}) ${path}`);
      const file = base.open(path, mode);
      const wrapped: FileHandle = {
        path: file.path,
        read: (buf, position) => file.read(buf, position),
        write: () => refuse(`write ${path}`),
        writev: () => refuse(`writev ${path}`),
        datasync: () => file.datasync(),
        sync: () => file.sync(),
        truncate: () => refuse(`truncate ${path}`),
        size: () => file.size(),
        close: () => file.close(),
      };
      inner.set(wrapped, file);
      return wrapped;
    },
    rename: (from, to) => refuse(`rename ${from} -> ${to}`),
    unlink: (path) => refuse(`unlink ${path}`),
    removeAll: (path) => refuse(`removeAll ${path}`),
    truncate: (path) => refuse(`truncate ${path}`),
    mkdir(path, options) {
      if (base.stat(path)?.isDirectory && options?.recursive) return;
      refuse(`mkdir ${path}`);
    },
    spawnWorker: (init) => refuse(`a "${init.role}" worker`),
  };
}
