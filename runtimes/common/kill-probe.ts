/**
 * Process liveness without /proc: kill(pid, 0) through node:process, which Node, Bun and
 * Deno all provide. ESRCH means no such process; EPERM means it exists under another user.
 *
 * Invariants: only for pids > 0 (kill(0, ...) would address our own process group);
 * callers check that first. Threads: any.
 */
import process from "node:process";

export function killProbe(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code !== "ESRCH";
  }
}
