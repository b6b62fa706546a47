/**
 * Creating directories durably. `mkdir` alone only puts the new entry in its parent's
 * page cache: until the parent directory is fsynced, a power loss may drop the new
 * directory and everything later written into it, fdatasynced files included
 * (tests/wal/power-loss.test.ts and tests/engine/power-loss.test.ts show it).
 *
 * `makeDirDurable` creates every missing component of `path` and fsyncs the parent of
 * each one it created, outermost first, so once it returns the whole path survives a
 * power loss. A directory that already existed is taken as durable (it may not be if a
 * process was killed between its mkdir and the fsync, and the power then failed before
 * the kernel wrote the entry back; closing that window would cost an fsync per open).
 * Threads: any.
 */
import type { Platform } from "./platform.ts";

function parentOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
}

/** mkdir -p `path`, then fsync the parent of every directory that had to be created. */
export function makeDirDurable(platform: Platform, path: string): void {
  const created: string[] = [];
  for (let at = path.replace(/\/+$/, ""); at !== "" && at !== "." && at !== "/" && !platform.stat(at); at = parentOf(at)) {
    created.push(at);
  }
  platform.mkdir(path, { recursive: true });
  for (const dir of created.reverse()) platform.fsyncDir(parentOf(dir));
}
