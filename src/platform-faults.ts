/**
 * Fault injection: a Platform that wraps another and fails on purpose, to prove that
 * shardline fails stop (tests/wal/faults.test.ts). The plan is plain data, so it can be
 * handed to a worker thread, which wraps its own Platform with it.
 *
 * Counting: every `write`/`writev` call on any file opened through the wrapper counts as
 * one write, every `datasync`/`sync` as one sync, 1-based, per wrapper.
 * Threads: the thread that made the wrapper.
 */
import type { FileHandle, OpenMode, Platform } from "./platform.ts";
import { PlatformError, wrappedKernelLock } from "./platform.ts";

export interface FaultPlan {
  /** The n-th write throws (nothing written). */
  failWriteAt?: number;
  /** The n-th write writes only the first half of its bytes, then throws. */
  partialWriteAt?: number;
  /** The n-th fdatasync/fsync throws. */
  failSyncAt?: number;
  /** Every fdatasync/fsync throws while a file at this path exists (a test makes it when the disk is to fail). */
  failSyncWhileExists?: string;
  /** The OS error code to report; default "EIO". */
  code?: string;
  /** Every fdatasync/fsync first sleeps this long: a slow disk (for grouping tests). */
  syncDelayMs?: number;
  /**
   * Not a fault: how long the durability worker of a closing log waits for a reservation
   * never published before it fails the log (EABANDONED), instead of its 5 s, so that tests
   * of a terminated writer do not wait out the real bound.
   */
  abandonedReservationMs?: number;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepMs(ms: number): void {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
}

export function withFaults(base: Platform, plan: FaultPlan): Platform {
  let writes = 0;
  let syncs = 0;
  const code = plan.code ?? "EIO";
  const fail = (what: string, path: string) => new PlatformError(`${what} ${path}: injected fault`, code);
  /** Counts one sync; whether it is to fail. */
  const syncFails = (): boolean => {
    syncs++;
    return syncs === plan.failSyncAt || (plan.failSyncWhileExists !== undefined && base.stat(plan.failSyncWhileExists) !== undefined);
  };

  const inner = new WeakMap<FileHandle, FileHandle>();
  function wrap(file: FileHandle): FileHandle {
    const wrapped: FileHandle = {
      path: file.path,
      read: (buf, position) => file.read(buf, position),
      write(buf, position) {
        writes++;
        if (writes === plan.failWriteAt) throw fail("write", file.path);
        if (writes === plan.partialWriteAt) {
          file.write(buf.subarray(0, buf.length >> 1), position);
          throw fail("write", file.path);
        }
        file.write(buf, position);
      },
      writev(bufs, position) {
        writes++;
        if (writes === plan.failWriteAt) throw fail("writev", file.path);
        if (writes === plan.partialWriteAt) {
          const total = bufs.reduce((n, b) => n + b.length, 0);
          let left = total >> 1;
          const head: Uint8Array[] = [];
          for (const b of bufs) {
            if (left <= 0) break;
            head.push(b.subarray(0, Math.min(b.length, left)));
            left -= b.length;
          }
          file.writev(head, position);
          throw fail("writev", file.path);
        }
        file.writev(bufs, position);
      },
      datasync() {
        sleepMs(plan.syncDelayMs ?? 0);
        if (syncFails()) throw fail("fdatasync", file.path);
        file.datasync();
      },
      sync() {
        sleepMs(plan.syncDelayMs ?? 0);
        if (syncFails()) throw fail("fsync", file.path);
        file.sync();
      },
      truncate: (length) => file.truncate(length),
      size: () => file.size(),
      close: () => file.close(),
    };
    inner.set(wrapped, file); // its kernel lock is the base handle's (wrappedKernelLock)
    return wrapped;
  }

  return {
    ...base,
    runtime: base.runtime,
    runtimeVersion: base.runtimeVersion,
    kernelLock: wrappedKernelLock(base.kernelLock, inner),
    open: (path: string, mode: OpenMode) => wrap(base.open(path, mode)),
  };
}
