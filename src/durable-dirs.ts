/**
 * Creating directories durably. `mkdir` alone only puts the new entry in its parent's
 * page cache: until the parent directory is fsynced, a power loss may drop the new
 * directory and everything later written into it, fdatasynced files included
 * (tests/wal/power-loss.test.ts and tests/engine/power-loss.test.ts show it).
 *
 * `makeDirDurable` creates every missing component of `path` and fsyncs the parent of
 * each one it created, outermost first, so once it returns the whole path survives a
 * power loss. A directory that already existed is taken as durable, unless the caller
 * says `found: "fsync-entry"`: a process killed between its mkdir and the fsync leaves an
 * entry only the page cache holds, and a restart that builds on it loses everything to the
 * next power loss (tests/engine/power-loss-restart.test.ts). The roots a database, a log or
 * a follower opens pass it (one fsync of the parent an open); their subdirectories need not,
 * as each open fsyncs the root once it made or found them (the MANIFEST's directory, the
 * log's segment directory).
 * Threads: any.
 */
import { hasErrorCode, type Platform } from "./platform.ts";

function parentOf(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
}

/**
 * mkdir -p `path`, then fsync the parent of every directory that had to be created; with
 * `found: "fsync-entry"`, the parent of `path` also when `path` was there already.
 */
export function makeDirDurable(platform: Platform, path: string, found: "trusted" | "fsync-entry" = "trusted"): void {
  const leaf = path.replace(/\/+$/, "");
  const created: string[] = [];
  for (let at = leaf; at !== "" && at !== "." && at !== "/" && !platform.stat(at); at = parentOf(at)) {
    created.push(at);
  }
  platform.mkdir(path, { recursive: true });
  for (const dir of created.reverse()) platform.fsyncDir(parentOf(dir));
  if (created.length === 0 && found === "fsync-entry" && leaf !== "" && leaf !== "." && leaf !== "/") fsyncFoundParent(platform, parentOf(leaf));
}

/**
 * fsync of the parent of a directory that was found: a parent this process may not read
 * (EACCES: a directory of mode 0711) cannot be opened to be fsynced, and was not before
 * this fsync existed either; that is no reason to refuse the open. Any other failure is.
 */
function fsyncFoundParent(platform: Platform, parent: string): void {
  try {
    platform.fsyncDir(parent);
  } catch (error) {
    if (!hasErrorCode(error, "EACCES")) throw error;
  }
}
