/**
 * Directory lock: at most one process (of any runtime) writes a database directory.
 *
 * Node has no kernel file lock, so the protocol works with plain files and uses the
 * kernel lock only as a better liveness oracle where the runtime has one (Deno, Bun).
 *
 *   <dir>/LOCK.d/<pid>-<startTime>-<random hex>     one file per contender, holding JSON
 *   { pid, startTime, runtime, kernelLock, acquiredAt }
 *
 * One attempt:
 *   1. create our own file with createExclusive; where the platform has a kernel lock, take
 *      it on that file now, before writing anything (so a record that says
 *      `kernelLock: true` is only ever readable while the lock is already held);
 *      write the JSON record and fdatasync it;
 *   2. list LOCK.d and judge every other file (src/lock-holders.ts):
 *      - record unreadable or incomplete: alive if a kernel lock on it is held; else dead
 *        if the process its name names (pid and start time) is gone; else alive iff the
 *        file is younger than 10 s (its writer may still be writing it);
 *      - record says `kernelLock: true` and we have a kernel lock: alive iff our
 *        non-blocking exclusive lock on it FAILS (if it succeeds, we unlock at once);
 *      - otherwise: `platform.isProcessAlive({ pid, startTime })` (a reused pid has another
 *        start time, so it reads as dead);
 *   3. if any other holder is alive, delete our file (kernel lock released first), back
 *      off 5-50 ms at random, and retry until `timeoutMs` has passed, then throw
 *      LockedError; otherwise we hold the lock: delete the dead holders' (stale) files and
 *      fsync LOCK.d. Names that do not match the pattern above are ignored.
 *
 * Why at most one process holds it: a process holds only after its own file was created
 * and its record fully written, and then its listing found every other file dead. Take
 * two processes P and Q that both hold, and say P's create finished first. Q listed after
 * its own create finished, so Q's listing saw P's file (P deletes it only when it releases
 * or backs off, others only once they judged it dead). Q judged P dead, which with a
 * complete record means P really was dead (the oracles do not err on a complete record),
 * a contradiction; or Q found P's record incomplete and P's process (named by P's file)
 * gone, so P was dead and holds nothing, a contradiction; or Q found it incomplete and
 * older than 10 s, so P's write ended after Q's create, P listed after that and saw Q's
 * file with a complete record of a live process, and backed off, a contradiction again. Two contenders may both back off
 * (the random backoff breaks the tie), but never both hold.
 *
 * Limits: liveness by pid needs both processes in one pid namespace (containers sharing a
 * directory need kernel locks on both sides, i.e. not Node); a process stalled for more
 * than 10 s between creating its file and writing it loses only its own attempt.
 * Threads: call from one thread; a DirLock is released by the thread that acquired it
 * (its kernel lock lives on a file handle of that thread).
 */
import { LockedError } from "./errors.ts";
import type { LockHolderInfo } from "./errors.ts";
import { currentBootId, judgeLockFile, LOCK_FILE_NAME, lockDirOf } from "./lock-holders.ts";
import type { LockRecord } from "./lock-holders.ts";
import type { FileHandle, Platform } from "./platform.ts";
import { unlinkIfPresent } from "./platform.ts";

export { LOCK_DIR_NAME, LOCK_FILE_WRITE_GRACE_MS, readLockHolders } from "./lock-holders.ts";
export type { LockHolderStatus, LockRecord } from "./lock-holders.ts";

const BACKOFF_MIN_MS = 5;
const BACKOFF_MAX_MS = 50;

export interface DirLockOptions {
  /** How long "wait" keeps retrying before it throws LockedError; default 0 (one attempt). */
  timeoutMs?: number;
  /** "wait": retry with backoff until timeoutMs; "try": one attempt only. Default "wait". */
  mode?: "wait" | "try";
  /** What the directory holds, for LockedError's message (how to share it instead). Default "database". */
  kind?: "database" | "log";
}

export interface DirLock {
  readonly dir: string;
  /** Path of our lock file. */
  readonly file: string;
  /** Our own record, as written to the lock file. */
  readonly holder: LockRecord;
  readonly released: boolean;
  /** Deletes our lock file (and drops the kernel lock); a second call does nothing. */
  release(): void;
}

function randomHex(bytes: number): string {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

class HeldDirLock implements DirLock {
  #released = false;
  constructor(
    private readonly platform: Platform,
    readonly dir: string,
    readonly file: string,
    readonly holder: LockRecord,
    private handle: FileHandle | undefined,
  ) {}

  get released(): boolean {
    return this.#released;
  }

  release(): void {
    if (this.#released) return;
    this.#released = true;
    dropOwnFile(this.platform, this.file, this.handle);
    this.handle = undefined;
  }
}

/** Releases the kernel lock (if any), closes, and deletes our own lock file. */
function dropOwnFile(platform: Platform, path: string, handle: FileHandle | undefined): void {
  try {
    // Unlocking first means a prober may judge us dead and delete the file for us: harmless,
    // since we are letting go, and the unlink below tolerates ENOENT.
    if (handle) {
      try {
        platform.kernelLock?.unlock(handle);
      } finally {
        handle.close();
      }
    }
  } finally {
    unlinkIfPresent(platform, path);
  }
}

type Attempt = { lock: DirLock } | { holder: LockHolderInfo | undefined };

/**
 * The kernel lock on our own lock file, where the runtime has one: only a better liveness
 * oracle for the others (the pid protocol is the lock), so a kernel that cannot lock
 * (ENOLCK: NFS without lockd, out of lock records) means going without it, not failing.
 */
function tryKernelLock(platform: Platform, handle: FileHandle): boolean {
  try {
    return platform.kernelLock?.tryLockExclusive(handle) ?? false;
  } catch {
    return false;
  }
}

function attemptOnce(platform: Platform, dir: string, lockDir: string): Attempt {
  const { pid, startTime } = platform.processIdentity();
  const name = `${pid}-${startTime}-${randomHex(8)}`;
  const path = `${lockDir}/${name}`;
  let handle: FileHandle | undefined = platform.open(path, "createExclusive");
  try {
    const kernelLock = tryKernelLock(platform, handle);
    const record: LockRecord = {
      pid,
      startTime,
      runtime: platform.runtime,
      kernelLock,
      acquiredAt: new Date().toISOString(),
      bootId: currentBootId(platform),
    };
    handle.write(new TextEncoder().encode(JSON.stringify(record)), 0);
    handle.datasync();
    if (!kernelLock) {
      handle.close();
      handle = undefined;
    }

    const dead: string[] = [];
    for (const other of platform.readdir(lockDir)) {
      if (other === name || !LOCK_FILE_NAME.test(other)) continue;
      const verdict = judgeLockFile(platform, `${lockDir}/${other}`);
      if (verdict.status === "alive") {
        dropOwnFile(platform, path, handle);
        const r = verdict.record;
        const thisProcess = r !== undefined && r.pid === pid && r.startTime === startTime;
        return { holder: r ? { pid: r.pid, runtime: r.runtime, ...(thisProcess ? { thisProcess } : {}) } : undefined };
      }
      if (verdict.status === "dead") dead.push(other);
    }
    for (const other of dead) unlinkIfPresent(platform, `${lockDir}/${other}`);
    platform.fsyncDir(lockDir);
    return { lock: new HeldDirLock(platform, dir, path, record, handle) };
  } catch (error) {
    try {
      dropOwnFile(platform, path, handle);
    } catch {
      // the first error is the one to report
    }
    throw error;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Takes the lock on `dir` (creating `dir/LOCK.d` if needed), or throws LockedError naming
 * the live holder once `timeoutMs` has passed ("wait") or after one attempt ("try").
 */
export async function acquireDirLock(platform: Platform, dir: string, options: DirLockOptions = {}): Promise<DirLock> {
  const timeoutMs = options.timeoutMs ?? 0;
  const mode = options.mode ?? "wait";
  const lockDir = lockDirOf(dir);
  platform.mkdir(lockDir, { recursive: true });
  const started = performance.now();
  for (;;) {
    const attempt = attemptOnce(platform, dir, lockDir);
    if ("lock" in attempt) return attempt.lock;
    const left = timeoutMs - (performance.now() - started);
    if (mode === "try" || left <= 0) throw new LockedError(dir, attempt.holder, { kind: options.kind });
    const backoff = BACKOFF_MIN_MS + Math.random() * (BACKOFF_MAX_MS - BACKOFF_MIN_MS);
    await sleep(Math.min(backoff, left));
  }
}
