/**
 * OS errors into PlatformError: every adapter passes whatever its runtime threw through
 * `osError`, so callers see one error class whose `code` is the POSIX name ("ENOENT",
 * "EEXIST", ...) and whose `cause` is the original error.
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

/** The POSIX code carried by a runtime error, or "EUNKNOWN". */
export function osErrorCode(error: unknown): string {
  if (typeof error === "object" && error !== null) {
    const { code, name } = error as { code?: unknown; name?: unknown };
    if (typeof code === "string" && /^E[A-Z0-9]+$/.test(code)) return code;
    if (typeof name === "string" && name in CODE_BY_NAME) return CODE_BY_NAME[name];
  }
  return "EUNKNOWN";
}

/** Wraps what a runtime threw during `operation` on `path`. */
export function osError(error: unknown, operation: string, path: string): PlatformError {
  if (error instanceof PlatformError) return error;
  const code = osErrorCode(error);
  const detail = error instanceof Error ? error.message : String(error);
  return new PlatformError(`${operation} ${path}: ${code}: ${detail}`, code, { cause: error });
}
