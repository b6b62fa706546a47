// One behaviour in every runtime, and through the Platform wrappers
// (src/read-only-platform.ts, src/platform-faults.ts): kernel locks on the right file and
// through the wrappers, error codes and messages alike, a closed handle refused whatever
// the length. From the adapters' second review (2026-12-06); each test names, in
// parentheses, the runtime(s) where it failed before its fix and what they did instead.
// Files live in a temp dir; nothing large is written.
import { symlinkSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FileHandle, Platform } from "../../src/platform.ts";
import { PlatformError } from "../../src/platform.ts";
import { readOnlyPlatform } from "../../src/read-only-platform.ts";
import { withFaults } from "../../src/platform-faults.ts";
import { currentPlatform } from "../harness/platform.ts";

const test = suite("platform adapters alike");
const enc = new TextEncoder();

let p: Platform;
let dir: string;
let n = 0;
const fresh = (name: string) => `${dir}/${name}-${n++}`;

test.before(async () => {
  p = await currentPlatform();
  dir = p.makeTempDir("shardline-review-adapters-");
});
test.after(() => p.removeAll(dir));

/** What `fn` throws, or undefined if it returns. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function describe(error: unknown): string {
  if (error === undefined) return "nothing thrown";
  const e = error as { code?: unknown; message?: unknown };
  return `${String(e.code)}: ${String(e.message)}`;
}

// ---- deno: the kernel lock is taken on whatever file is at the handle's PATH now ------
// runtimes/deno/platform.ts `tryLockExclusive` opens a second FsFile with
// `Deno.openSync(file.path)` and flocks that. KernelLock locks "an open file"; once the
// handle's path names another file (renamed over) or none (renamed away, unlinked), Deno
// locks the wrong file, or throws ENOENT. Bun flocks the handle's own descriptor.
test("kernelLock never locks another file than the handle's: after a file is renamed over its path, the file at the path stays free", () => {
  // Deno's lock opens an FsFile on the handle's path: after a rename over that path it
  // locked the new file there, not the handle's (review, 2026-12-06). It now refuses with
  // ESTALE when the path names another file; Bun locks the handle's own descriptor.
  const kl = p.kernelLock;
  if (!kl) return; // Node: no kernel lock
  const path = fresh("replaced");
  const other = fresh("replacement");
  const opened: FileHandle[] = [];
  const open = (at: string, mode: "create" | "read") => {
    const f = p.open(at, mode);
    opened.push(f);
    return f;
  };
  try {
    const original = open(path, "create");
    open(other, "create").close();
    p.rename(other, path); // `path` now names another file; `original` still has the first
    const replacement = open(path, "read");
    let got: boolean | undefined;
    const error = thrown(() => (got = kl.tryLockExclusive(original)));
    if (error === undefined) assert.is(got, true, "the original file is free");
    else assert.is((error as PlatformError).code, "ESTALE", describe(error));
    assert.is(kl.tryLockExclusive(replacement), true, "nobody locked the file now at the path, so it is free");
  } finally {
    for (const f of opened) f.close();
  }
});

// ---- bun, deno: the wrappers hand out the base kernelLock, which refuses their handles ---
// src/read-only-platform.ts and src/platform-faults.ts keep `base.kernelLock` but wrap every
// FileHandle in a plain object; runtimes/bun/flock.ts `fdOf` and runtimes/deno/platform.ts
// require `instanceof NodeFsFile` and throw EINVAL. So under either wrapper the kernel lock
// never works (src/lock.ts and src/lock-holders.ts swallow the throw and fall back to pids:
// the fault-injected actor and durability workers lock without a kernel lock, and probe
// other holders by pid).
test("the wrapped platforms' kernelLock locks the handles they open (bun, deno: EINVAL 'not a platform handle')", () => {
  if (!p.kernelLock) return;
  const path = fresh("wrapped-lock");
  p.open(path, "create").close();
  for (const [name, wrapped] of [
    ["withFaults", withFaults(p, {})],
    ["readOnlyPlatform", readOnlyPlatform(p, dir)],
  ] as const) {
    const f = wrapped.open(path, "read");
    try {
      let got: unknown;
      const error = thrown(() => (got = wrapped.kernelLock!.tryLockExclusive(f)));
      assert.is(error, undefined, `${name}: ${describe(error)}`);
      assert.is(got, true, name);
      wrapped.kernelLock!.unlock(f);
    } finally {
      f.close();
    }
  }
});

// ---- node: mkdir recursive on a dangling symlink says ENOENT --------------------------
// mkdir(2) on a path that is a dangling symlink fails with EEXIST, as Bun and Deno report;
// Node's recursive mkdirSync (runtimes/common/node-fs-paths.ts) reports ENOENT, the code
// callers read as "a parent is missing".
test("mkdir recursive on a dangling symlink fails with EEXIST in every runtime (node: ENOENT)", () => {
  const path = fresh("dangling");
  symlinkSync(`${path}-target-missing`, path);
  const error = thrown(() => p.mkdir(path, { recursive: true }));
  assert.instance(error, PlatformError, describe(error));
  assert.is((error as PlatformError).code, "EEXIST", describe(error));
});

// ---- all: a path with a NUL byte has no OS code, and not the same one everywhere -------
// Node's and Bun's fs throw ERR_INVALID_ARG_VALUE (a TypeError), which osErrorCode turns into
// "EUNKNOWN"; Deno's own path APIs say EINVAL, its node:fs open EUNKNOWN. A path the OS can
// never take is EINVAL, the same for every operation and runtime.
test("a path with a NUL byte is refused with EINVAL by every operation (node, bun: EUNKNOWN; deno: EUNKNOWN from open)", () => {
  const path = `${dir}/nul\0byte`;
  const codes: Record<string, string> = {};
  const ops: Record<string, () => unknown> = {
    open: () => p.open(path, "create").close(),
    stat: () => p.stat(path),
    mkdir: () => p.mkdir(path),
    readFile: () => p.readFile(path),
    unlink: () => p.unlink(path),
    readdir: () => p.readdir(path),
  };
  for (const [op, fn] of Object.entries(ops)) {
    const error = thrown(fn);
    codes[op] = error instanceof PlatformError ? error.code : `not a PlatformError: ${String(error)}`;
  }
  assert.equal(codes, { open: "EINVAL", stat: "EINVAL", mkdir: "EINVAL", readFile: "EINVAL", unlink: "EINVAL", readdir: "EINVAL" });
});

// ---- all: EBADF's message repeats the syscall or is the runtime's own ---------------------
// runtimes/common/os-error.ts promises "<operation> <path>: <description> (<CODE>)" alike on
// every runtime, with the description from DESCRIPTION_BY_CODE. EBADF is not in that table:
// Node says "bad file descriptor, write", Bun "bad file descriptor, pwritev" (for a
// writev), Deno "Bad file descriptor" (and names the writev "write").
test("a write through a read-only handle: EBADF with the common message format (all runtimes differ)", () => {
  const path = fresh("ebadf");
  p.open(path, "create").close();
  const f = p.open(path, "read");
  try {
    const onWrite = thrown(() => f.write(enc.encode("x"), 0));
    const onWritev = thrown(() => f.writev([enc.encode("x"), enc.encode("y")], 0));
    assert.is((onWrite as PlatformError).code, "EBADF");
    assert.is((onWritev as PlatformError).code, "EBADF");
    assert.equal(
      [(onWrite as Error).message, (onWritev as Error).message],
      [`write ${path}: bad file descriptor (EBADF)`, `writev ${path}: bad file descriptor (EBADF)`],
    );
  } finally {
    f.close();
  }
});

// ---- all: a closed handle accepts zero-length I/O -------------------------------------
// runtimes/common/node-fs-file.ts returns before touching the descriptor when there is
// nothing to move (read of an empty buffer, write of an empty buffer, writev of [] or of
// empty buffers), so these succeed on a closed handle, where every other call is EBADF.
test("a closed handle refuses zero-length reads and writes too (all runtimes succeed)", () => {
  const f = p.open(fresh("closed-empty"), "truncate");
  f.close();
  const outcomes = {
    read: describe(thrown(() => f.read(new Uint8Array(0), 0))),
    write: describe(thrown(() => f.write(new Uint8Array(0), 0))),
    writev: describe(thrown(() => f.writev([], 0))),
    writevEmpties: describe(thrown(() => f.writev([new Uint8Array(0)], 0))),
  };
  for (const [op, outcome] of Object.entries(outcomes)) {
    assert.ok(outcome.startsWith("EBADF"), `${op} on a closed handle: ${outcome}`);
  }
});

test.run();
