/**
 * Path-level Platform operations over node:fs (Node and Bun): read a whole file, rename,
 * unlink, list, create and remove directories, stat, truncate by path, fsync a directory,
 * make a scratch directory.
 *
 * Invariants: every failure is a PlatformError with the OS code; returned bytes are plain
 * Uint8Arrays that own their memory (never a view of Node's shared Buffer pool).
 * Threads: stateless; any thread.
 */
import * as fs from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FileStat, Platform } from "../../src/platform.ts";
import { checkOffset, osError } from "./os-error.ts";

type PathOps = Pick<
  Platform,
  "readFile" | "rename" | "unlink" | "readdir" | "mkdir" | "removeAll" | "stat" | "truncate" | "fsyncDir" | "makeTempDir"
>;

function attempt<T>(operation: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw osError(error, operation, path);
  }
}

export const nodeFsPaths: PathOps = {
  readFile(path) {
    const buf = attempt("readFile", path, () => fs.readFileSync(path));
    // A Buffer may be a window on a larger pooled ArrayBuffer: hand out only its bytes.
    if (buf.byteOffset === 0 && buf.byteLength === buf.buffer.byteLength) {
      return new Uint8Array(buf.buffer, 0, buf.byteLength);
    }
    return new Uint8Array(buf);
  },
  rename(from, to) {
    attempt("rename", `${from} -> ${to}`, () => fs.renameSync(from, to));
  },
  unlink(path) {
    attempt("unlink", path, () => fs.unlinkSync(path));
  },
  readdir(path) {
    return attempt("readdir", path, () => fs.readdirSync(path));
  },
  mkdir(path, options) {
    attempt("mkdir", path, () => {
      try {
        fs.mkdirSync(path, { recursive: options?.recursive === true });
      } catch (error) {
        // Node's recursive mkdir says ENOENT where something that is no directory (a
        // dangling symlink) is at the path; mkdir(2), Bun and Deno say EEXIST.
        if (options?.recursive && (error as { code?: string }).code === "ENOENT" && lstatOrUndefined(path)) throw Object.assign(new Error(`file already exists, mkdir '${path}'`), { code: "EEXIST" });
        throw error;
      }
    });
  },
  removeAll(path) {
    attempt("removeAll", path, () => fs.rmSync(path, { recursive: true, force: true }));
  },
  stat(path): FileStat | undefined {
    let s: fs.Stats;
    try {
      s = fs.statSync(path);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw osError(error, "stat", path);
    }
    return { size: s.size, isFile: s.isFile(), isDirectory: s.isDirectory(), mtimeMs: s.mtimeMs };
  },
  truncate(path, length) {
    checkOffset(length, "truncate", path);
    attempt("truncate", path, () => fs.truncateSync(path, length));
  },
  fsyncDir(path) {
    attempt("fsyncDir", path, () => {
      const fd = fs.openSync(path, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    });
  },
  makeTempDir(prefix) {
    return attempt("makeTempDir", prefix, () => fs.mkdtempSync(join(tmpdir(), prefix)));
  },
};

/** lstat(2) of `path`, or undefined when nothing is there (or it cannot be seen). */
function lstatOrUndefined(path: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(path);
  } catch {
    return undefined;
  }
}
