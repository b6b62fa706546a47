/**
 * OS errors into PlatformError: every adapter passes whatever its runtime threw through
 * `osError`, so callers see one error class whose `code` is the POSIX name ("ENOENT",
 * "EEXIST", ...) and whose `cause` is the original error.
 *
 * The message names the operation and the path once, then what went wrong and the code:
 * "mkdir /data/tables: not a directory (ENOTDIR)". The runtimes' own messages differ
 * (Node: "ENOTDIR: not a directory, mkdir '/data/tables'"; Deno: "Not a directory (os
 * error 20): mkdir '/data/tables'") and repeat both, so the description comes from
 * DESCRIPTION_BY_CODE, or from the runtime's message with its code and path cut off.
 *
 * Invariants: never loses the original (kept as `cause`); `code` is "EUNKNOWN" only when
 * the runtime gave neither a code nor a recognisable error class name.
 * Threads: pure; any thread.
 */
import { PlatformError } from "../../src/platform.ts";

/** Error class names some runtimes use instead of a `code` (Deno's `Deno.errors.*`). */
const CODE_BY_NAME: Record<string, string> = {
  NotFound: "ENOENT",
  AlreadyExists: "EEXIST",
  PermissionDenied: "EACCES",
  IsADirectory: "EISDIR",
  NotADirectory: "ENOTDIR",
  DirectoryNotEmpty: "ENOTEMPTY",
  InvalidData: "EINVAL",
  FilesystemLoop: "ELOOP",
  NotSupported: "ENOTSUP",
  Busy: "EBUSY",
  WouldBlock: "EAGAIN",
  Interrupted: "EINTR",
  BadResource: "EBADF",
};

/** strerror(3) texts of the codes a database directory meets, the same on every runtime. */
const DESCRIPTION_BY_CODE: Record<string, string> = {
  ENOENT: "no such file or directory",
  EEXIST: "file already exists",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EIO: "input/output error",
  ENOTEMPTY: "directory not empty",
  ENAMETOOLONG: "file name too long",
  ELOOP: "too many levels of symbolic links",
  EMFILE: "too many open files",
  EBUSY: "resource busy",
};

/** The POSIX code carried by a runtime error, or "EUNKNOWN". */
export function osErrorCode(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
    if (typeof name === "string" && name in CODE_BY_NAME) return CODE_BY_NAME[name];
  }
  return "EUNKNOWN";
}

/** What went wrong, without the code or the path the runtime's message repeats. */
export function osErrorDescription(code: string, error: unknown): string {
  const known = DESCRIPTION_BY_CODE[code];
  if (known) return known;
  const text = error instanceof Error ? error.message : String(error);
  return text
    .replace(new RegExp(`^${code}:\\s*`), "") // Node: "EXYZ: text, syscall 'path'"
    .replace(/,\s*\w+\s+'[^']*'.*$/, "")
    .replace(/\s*\(os error \d+\).*$/, "") // Deno: "Text (os error 5): syscall 'path'"
    .trim() || "failed";
}

/** Wraps what a runtime threw during `operation` on `path`. */
export function osError(error: unknown, operation: string, path: string): PlatformError {
  if (error instanceof PlatformError) return error;
  const code = osErrorCode(error);
  return new PlatformError(`${operation} ${path}: ${osErrorDescription(code, error)} (${code})`, code, { cause: error, operation, path });
}
