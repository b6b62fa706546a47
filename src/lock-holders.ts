/**
 * Lock files and their holders, for the directory lock (src/lock.ts): the record a
 * contender writes into its file in `<dir>/LOCK.d/`, and the judgement whether the holder
 * of a file is alive, which is the only place where the lock protocol can err.
 *
 * Judgement of another contender's file:
 *   - no complete record: alive if a kernel lock on it is held (where we can probe); else
 *     dead if the process its name names (`<pid>-<startTime>-...`, written atomically with
 *     the file by its creator) is gone; else alive iff younger than
 *     LOCK_FILE_WRITE_GRACE_MS (its writer may still be writing). So a contender killed
 *     between creating its file and writing its record (a process killed while it opened
 *     the database) no longer keeps the directory locked for 10 s;
 *   - record says `kernelLock: true` and we have a kernel lock: alive iff our
 *     non-blocking exclusive lock on it fails (a success is undone at once);
 *   - otherwise `platform.isProcessAlive({ pid, startTime })`.
 * Invariants: a complete record is never judged dead while its process lives (pid plus
 * start time, or a kernel lock released only by the holder's exit or release); an
 * incomplete one is judged dead before its grace only when the process named by its file
 * is gone, which then can never complete it; a probe never keeps a lock it took.
 * Threads: any one thread at a time; stateless.
 */
import type { FileHandle, Platform, RuntimeName } from "./platform.ts";
import { hasErrorCode } from "./platform.ts";

export const LOCK_DIR_NAME = "LOCK.d";

export function lockDirOf(dir: string): string {
  return `${dir.replace(/\/+$/, "")}/${LOCK_DIR_NAME}`;
}

/** A lock file without a complete record counts as being written for this long. */
export const LOCK_FILE_WRITE_GRACE_MS = 10_000;
/** `<pid>-<startTime>-<random hex>`; other names in LOCK.d are ignored. */
export const LOCK_FILE_NAME = /^\d+-\d+-[0-9a-f]+$/;
const RECORD_BYTES_MAX = 4096;

/** What a lock file says about its holder. */
export interface LockRecord {
  pid: number;
  startTime: number;
  runtime: RuntimeName;
  /** Reserved: not written yet (the Platform has no hostname). */
  hostname?: string;
  /** The holder took a kernel lock on its lock file before writing this record. */
  kernelLock: boolean;
  /** When the holder created the file (ISO 8601). */
  acquiredAt: string;
  /**
   * The kernel's boot id when it was written (/proc/sys/kernel/random/boot_id), where there
   * is one: a record from before a restart is dead whatever its pid and start time say
   * (a container's pid 1 can come back with both the same).
   */
  bootId?: string;
}

let bootIdCache: string | null | undefined;

/** This machine's boot id, or undefined where /proc cannot tell; only a definite answer is kept. */
export function currentBootId(platform: Platform): string | undefined {
  if (bootIdCache !== undefined) return bootIdCache ?? undefined;
  try {
    const id = new TextDecoder().decode(platform.readFile("/proc/sys/kernel/random/boot_id")).trim();
    bootIdCache = /^[0-9a-f-]{36}$/.test(id) ? id : null;
  } catch (error) {
    if (hasErrorCode(error, "ENOENT") || hasErrorCode(error, "ENOTDIR")) bootIdCache = null;
    else return undefined; // a transient failure says nothing: ask again next time
  }
  return bootIdCache ?? undefined;
}

export interface LockHolderStatus {
  /** Name of the lock file in LOCK.d. */
  file: string;
  /** undefined when the file holds no complete record. */
  record: LockRecord | undefined;
  alive: boolean;
  /** Why it was judged alive or dead, for diagnostics. */
  reason: string;
  /** Not a regular file: no writer's lock; it is left where it is (Verdict "foreign"). */
  foreign?: true;
}

/**
 * "foreign": the entry is not a regular file (a directory, a FIFO, a socket named like a lock
 * file): no writer made it, so it holds nothing and is left where it is; opening a FIFO to
 * read it blocked for ever, and a directory's read threw a raw EISDIR (review of the CLI, 2026-12-08).
 */
export type Verdict = { status: "alive" | "dead"; record: LockRecord | undefined; reason: string } | { status: "gone" } | { status: "foreign"; reason: string };

function parseRecord(bytes: Uint8Array): LockRecord | undefined {
  try {
    const r = JSON.parse(new TextDecoder().decode(bytes)) as Partial<LockRecord>;
    if (typeof r !== "object" || r === null) return undefined;
    if (!Number.isSafeInteger(r.pid) || !Number.isSafeInteger(r.startTime)) return undefined;
    if (typeof r.runtime !== "string" || typeof r.kernelLock !== "boolean") return undefined;
    return r as LockRecord;
  } catch {
    return undefined;
  }
}

function readRecord(file: FileHandle): LockRecord | undefined {
  const buf = new Uint8Array(RECORD_BYTES_MAX);
  let n = 0;
  while (n < buf.length) {
    const got = file.read(buf.subarray(n), n);
    if (got === 0) break;
    n += got;
  }
  return parseRecord(buf.subarray(0, n));
}

/**
 * Non-blocking probe: true if someone holds a kernel lock on `file`, undefined when the
 * kernel cannot say (ENOLCK on NFS without lockd, or out of lock records): the kernel lock
 * is only a better liveness oracle, so the caller judges by the process then.
 */
function kernelLockHeld(platform: Platform, file: FileHandle): boolean | undefined {
  const kl = platform.kernelLock!;
  let got: boolean;
  try {
    got = kl.tryLockExclusive(file);
  } catch {
    return undefined;
  }
  if (!got) return true;
  kl.unlock(file);
  return false;
}

/** The pid and start time a lock file's name carries (`<pid>-<startTime>-<random hex>`), or undefined. */
function identityOfName(path: string): { pid: number; startTime: number } | undefined {
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (!LOCK_FILE_NAME.test(name)) return undefined;
  const [pid, startTime] = name.split("-").map(Number);
  return Number.isSafeInteger(pid) && Number.isSafeInteger(startTime) ? { pid, startTime } : undefined;
}

/** Whether the holder of the lock file at `path` is alive; "gone" if the file vanished. */
export function judgeLockFile(platform: Platform, path: string): Verdict {
  const found = platform.stat(path);
  if (!found) return { status: "gone" };
  if (!found.isFile) return { status: "foreign", reason: found.isDirectory ? "a directory, not a lock file" : "not a regular file (a FIFO, a socket or a device)" };
  let file: FileHandle;
  try {
    file = platform.open(path, "read");
  } catch (error) {
    if (hasErrorCode(error, "ENOENT")) return { status: "gone" };
    // Another user's lock file (made under a umask of 077): its holder may well be alive.
    // Thrown, EACCES would read as "no lock protocol here" and let a second writer in.
    if (hasErrorCode(error, "EACCES") || hasErrorCode(error, "EPERM")) return { status: "alive", record: undefined, reason: "cannot be read by this user" };
    throw error;
  }
  try {
    const record = readRecord(file);
    if (!record) {
      if (platform.kernelLock && kernelLockHeld(platform, file) === true) {
        return { status: "alive", record, reason: "being written (kernel lock held)" };
      }
      const named = identityOfName(path);
      if (named && !platform.isProcessAlive(named)) {
        return { status: "dead", record, reason: "no complete record, and the process its name names is gone" };
      }
      const stat = platform.stat(path);
      if (!stat) return { status: "gone" };
      const young = Date.now() - stat.mtimeMs < LOCK_FILE_WRITE_GRACE_MS;
      return young
        ? { status: "alive", record, reason: "no complete record yet, younger than 10 s" }
        : { status: "dead", record, reason: "no complete record, older than 10 s" };
    }
    const held = record.kernelLock && platform.kernelLock ? kernelLockHeld(platform, file) : undefined;
    if (held !== undefined) {
      return held ? { status: "alive", record, reason: "kernel lock held" } : { status: "dead", record, reason: "kernel lock released" };
    }
    const bootId = currentBootId(platform);
    if (record.bootId !== undefined && bootId !== undefined && record.bootId !== bootId) {
      return { status: "dead", record, reason: "written before the machine restarted" };
    }
    return platform.isProcessAlive(record)
      ? { status: "alive", record, reason: "process alive" }
      : { status: "dead", record, reason: "process gone (or pid reused)" };
  } catch (error) {
    if (hasErrorCode(error, "ENOENT")) return { status: "gone" };
    throw error;
  } finally {
    file.close();
  }
}

/** Every lock file in `dir/LOCK.d` with its holder and whether it is alive, for diagnostics. */
export function readLockHolders(platform: Platform, dir: string): LockHolderStatus[] {
  const lockDir = lockDirOf(dir);
  if (!platform.stat(lockDir)?.isDirectory) return [];
  const out: LockHolderStatus[] = [];
  for (const file of platform.readdir(lockDir).sort()) {
    if (!LOCK_FILE_NAME.test(file)) continue;
    const verdict = judgeLockFile(platform, `${lockDir}/${file}`);
    if (verdict.status === "gone") continue;
    if (verdict.status === "foreign") out.push({ file, record: undefined, alive: false, foreign: true, reason: verdict.reason });
    else out.push({ file, record: verdict.record, alive: verdict.status === "alive", reason: verdict.reason });
  }
  return out;
}
