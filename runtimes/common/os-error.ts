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
  EINVAL: "invalid argument",
  EBADF: "bad file descriptor",
  EXDEV: "cross-device link",
  ESPIPE: "illegal seek",
  ENXIO: "no such device or address",
  EFBIG: "file too large",
};

/**
 * Node's (and Bun's) codes for arguments its fs refuses before any system call: a path with a
 * NUL byte is ERR_INVALID_ARG_VALUE there, EINVAL from the system call everywhere else
 * (review, 2026-12-06: the same bad path was EUNKNOWN or EINVAL by runtime and operation).
 */
const EINVAL_CODES = new Set(["ERR_INVALID_ARG_VALUE", "ERR_INVALID_ARG_TYPE"]);

/**
 * The classic errno numbers, the same on Linux, macOS and the BSDs (1 to 34; above that
 * they differ): Deno names only some errors, and says the others' number alone in the
 * message, "File too large (os error 27)".
 */
const CODE_BY_ERRNO: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 5: "EIO", 6: "ENXIO", 7: "E2BIG", 9: "EBADF",
  12: "ENOMEM", 13: "EACCES", 16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR",
  21: "EISDIR", 22: "EINVAL", 23: "ENFILE", 24: "EMFILE", 26: "ETXTBSY", 27: "EFBIG", 28: "ENOSPC",
  29: "ESPIPE", 30: "EROFS", 31: "EMLINK", 32: "EPIPE",
};

/** The POSIX code carried by a runtime error, or "EUNKNOWN". */
export function osErrorCode(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, name, message } = error as { code?: unknown; name?: unknown; message?: unknown };
    if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
    if (typeof code === "string" && EINVAL_CODES.has(code)) return "EINVAL";
    if (typeof message === "string" && /null bytes|NUL byte|\\0/i.test(message)) return "EINVAL"; // Deno's node:fs: a TypeError without a code
    if (typeof name === "string" && name in CODE_BY_NAME) return CODE_BY_NAME[name];
    const errno = typeof message === "string" ? /\(os error (\d+)\)/.exec(message) : null;
    if (errno && CODE_BY_ERRNO[Number(errno[1])]) return CODE_BY_ERRNO[Number(errno[1])];
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

/**
 * A file position or length as the system calls take it: a safe integer >= 0, else EINVAL.
 * Node's fs reads -1 (and a write NaN) as "at the descriptor's own offset", and truncates
 * to a negative or fractional length as 0 or its floor, where pread, pwrite and ftruncate
 * would refuse.
 */
export function checkOffset(value: number, operation: string, path: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw osError({ code: "EINVAL" }, `${operation} at ${value}`, path);
  return value;
}
