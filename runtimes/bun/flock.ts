/**
 * Kernel lock for Bun: flock(2) from libc through bun:ffi, on the descriptor of a
 * node:fs-backed FileHandle. Exclusive with Deno's `FsFile.tryLockSync`, which is flock
 * too, and released by the kernel when the holder dies.
 *
 * Invariants: `loadFlock()` returns undefined (never throws) where libc cannot be
 * loaded through bun:ffi, and the adapter then has no kernel lock; a failed try answers "not locked"
 * unless the failure is a programming error (EBADF, EINVAL, ENOLCK), which throws.
 * Threads: flock locks belong to the open file description, so any thread may probe; a
 * held lock is released through the same handle.
 */
import { dlopen, FFIType, read } from "bun:ffi";
import type { FileHandle, KernelLock } from "../../src/platform.ts";
import { PlatformError } from "../../src/platform.ts";
import { NodeFsFile } from "../common/node-fs-file.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;

interface Libc {
  flock(fd: number, operation: number): number;
  errno(): number | undefined;
}

const ERRNO: Record<string, { EINTR: number; EWOULDBLOCK: number; fatal: Record<number, string> }> = {
  linux: { EINTR: 4, EWOULDBLOCK: 11, fatal: { 9: "EBADF", 22: "EINVAL", 37: "ENOLCK" } },
  darwin: { EINTR: 4, EWOULDBLOCK: 35, fatal: { 9: "EBADF", 22: "EINVAL", 77: "ENOLCK" } },
};

function loadLibc(os: string): Libc | undefined {
  const names: Record<string, [string, string]> = {
    linux: ["libc.so.6", "__errno_location"],
    darwin: ["libc.dylib", "__error"],
  };
  if (!names[os]) return undefined;
  const [file, errnoSymbol] = names[os];
  try {
    const lib = dlopen(file, {
      flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      [errnoSymbol]: { args: [], returns: FFIType.ptr },
    });
    const errnoLocation = lib.symbols[errnoSymbol] as () => number | null;
    return {
      flock: (fd, operation) => lib.symbols.flock(fd, operation) as number,
      errno() {
        const ptr = errnoLocation();
        return ptr ? read.i32(ptr as never, 0) : undefined;
      },
    };
  } catch {
    return undefined;
  }
}

function fdOf(file: FileHandle): number {
  if (!(file instanceof NodeFsFile)) throw new PlatformError(`${file.path}: not a Bun platform handle`, "EINVAL");
  return file.fd;
}

/** flock-based KernelLock, or undefined where it cannot be loaded. */
export function loadFlock(os: string): KernelLock | undefined {
  const libc = loadLibc(os);
  const errnos = ERRNO[os];
  if (!libc || !errnos) return undefined;
  const call = (file: FileHandle, operation: number): boolean => {
    const fd = fdOf(file);
    for (;;) {
      if (libc.flock(fd, operation) === 0) return true;
      const errno = libc.errno();
      if (errno === errnos.EINTR) continue;
      const fatal = errno === undefined ? undefined : errnos.fatal[errno];
      if (fatal) throw new PlatformError(`flock ${file.path}: ${fatal}`, fatal);
      return false;
    }
  };
  return {
    tryLockExclusive: (file) => call(file, LOCK_EX | LOCK_NB),
    unlock(file) {
      if (!call(file, LOCK_UN)) throw new PlatformError(`flock(LOCK_UN) ${file.path} failed`, "EIO");
    },
  };
}
