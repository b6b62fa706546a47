/**
 * A Platform that records the unlinks, renames and directory fsyncs made in one directory,
 * in order: `unlink <file name>`, `rename <from> <to>` and `fsync`, each after the base
 * platform did it. For tests of the order in which the engine deletes files and makes the
 * deletions durable (a merge's dropped inputs behind their note, a trim's segments).
 */
import type { Platform } from "../../src/platform.ts";

export function recordedDeletions(base: Platform, dir: string): { platform: Platform; calls: string[] } {
  const calls: string[] = [];
  const platform: Platform = {
    ...base,
    unlink(path) {
      base.unlink(path);
      if (path.startsWith(`${dir}/`)) calls.push(`unlink ${path.slice(dir.length + 1)}`);
    },
    rename(from, to) {
      base.rename(from, to);
      if (from.startsWith(`${dir}/`)) calls.push(`rename ${from.slice(dir.length + 1)} ${to.slice(dir.length + 1)}`);
    },
    fsyncDir(path) {
      base.fsyncDir(path);
      if (path === dir) calls.push("fsync");
    },
  };
  return { platform, calls };
}
