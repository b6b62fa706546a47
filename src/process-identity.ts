/**
 * Process identity from Linux procfs: a pid plus the process's start time (field 22 of
 * /proc/<pid>/stat, in clock ticks since boot), so that a pid reused by a new process is
 * never mistaken for the old one. Used by every Platform adapter for `processIdentity()`
 * and `isProcessAlive()`; where /proc does not exist the adapters fall back to kill(pid, 0).
 *
 * Invariants: a process that is a zombie (state Z or X) counts as dead, since it holds no
 * open files any more; an unreadable /proc entry is "unknown", never "dead".
 * Threads: pure functions over a `readFile`; any thread.
 */

/** Linux never hands out a pid above PID_MAX_LIMIT (2^22 on 64-bit kernels). */
export const PID_MAX_LIMIT = 4_194_304;

export interface ProcStat {
  /** Field 3: R, S, D, Z, T, X, ... */
  state: string;
  /** Field 22: start time in clock ticks since boot. */
  startTime: number;
}

/**
 * Parses the contents of /proc/<pid>/stat. The command name (field 2) sits in parentheses
 * and may itself contain spaces and ')', so the fields are read after the LAST ')'.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  // After ") ": field 3 is index 0, so field n is index n - 3.
  const fields = text.slice(close + 1).trim().split(/\s+/);
  const state = fields[0];
  const startTime = Number(fields[22 - 3]);
  if (!state || !Number.isSafeInteger(startTime)) return undefined;
  return { state, startTime };
}

type ReadFile = (path: string) => Uint8Array;
type Outcome = { stat: ProcStat } | "missing" | "unknown";

function readProcStat(readFile: ReadFile, pid: number | "self"): Outcome {
  let bytes: Uint8Array;
  try {
    bytes = readFile(`/proc/${pid}/stat`);
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    return code === "ENOENT" || code === "ESRCH" ? "missing" : "unknown";
  }
  const stat = parseProcStat(new TextDecoder().decode(bytes));
  return stat ? { stat } : "unknown";
}

/** Start time of `pid` from /proc, or 0 where /proc cannot tell. */
export function procStartTime(readFile: ReadFile, pid: number): number {
  const outcome = readProcStat(readFile, pid);
  return typeof outcome === "object" ? outcome.stat.startTime : 0;
}

/**
 * This process's start time (procStartTime of its own pid), kept once /proc has answered
 * for good: a start time, or no /proc at all (0). A transient failure (EMFILE, ENOMEM)
 * answers 0 that once and asks again next time: kept, it would leave every lock file of
 * this process judged by pid alone for its whole life, alive again to anyone once the pid
 * is reused (review, 2026-12-06). Each runtime adapter makes one for its process.
 */
export function ownStartTime(readFile: ReadFile, pid: number): () => number {
  let kept: number | undefined;
  return () => {
    if (kept !== undefined) return kept;
    const outcome = readProcStat(readFile, pid);
    if (typeof outcome === "object") return (kept = outcome.stat.startTime);
    if (outcome === "missing") kept = 0;
    return 0;
  };
}

let procAvailable: boolean | undefined;

/**
 * Liveness from /proc: true or false when /proc can tell, undefined when it cannot (no
 * procfs, or the entry is unreadable) and the caller must fall back to kill(pid, 0).
 * `startTime` 0 means "unknown": only the pid is checked then.
 */
export function procIsAlive(readFile: ReadFile, pid: number, startTime: number): boolean | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > PID_MAX_LIMIT) return false;
  if (procAvailable === undefined) {
    // Only a definite answer is kept: our own entry read (there is a /proc), or no /proc at
    // all. A transient failure (EMFILE, ENOMEM) says nothing: ask again next time.
    const self = readProcStat(readFile, "self");
    if (self === "unknown") return undefined;
    procAvailable = self !== "missing";
  }
  if (!procAvailable) return undefined;
  const outcome = readProcStat(readFile, pid);
  if (outcome === "missing") return false;
  if (outcome === "unknown") return undefined;
  if (outcome.stat.state === "Z" || outcome.stat.state === "X") return false;
  return startTime === 0 || outcome.stat.startTime === startTime;
}
