// Edges of the runtime adapters (runtimes/*, src/platform.ts) that the conformance suite
// did not reach. From the adapters review of 2026-12-06, each seen failing before its fix
// in the runtime(s) its title names in parentheses (what it did then): a worker left running
// by a refused spawn (Bun), an errno Deno has no class for (EUNKNOWN), positions and
// lengths Node's fs reads as "the descriptor's offset" or 0 (all three), and Deno's own
// EISDIR message. Files live in a temp dir; large offsets use sparse files (nothing of GiB
// size is ever written).
// And from the adapters' second review (2026-12-06, later): kernel locks on the handle's
// own file and through the Platform wrappers, error codes and messages alike in every
// runtime, a closed handle refused whatever the length.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FileHandle, Platform } from "../../src/platform.ts";
import { PlatformError } from "../../src/platform.ts";
import { spawnChild } from "../harness/child.ts";
import { ownStartTime } from "../../src/process-identity.ts";
import { NodeFsFile } from "../../runtimes/common/node-fs-file.ts";
import { fstatSync, symlinkSync } from "node:fs";
import { currentPlatform, runtimeName } from "../harness/platform.ts";
import { readOnlyPlatform } from "../../src/read-only-platform.ts";
import { withFaults } from "../../src/platform-faults.ts";

const test = suite("platform adapter edges");
const enc = new TextEncoder();
const dec = new TextDecoder();

let p: Platform;
let dir: string;
let n = 0;
const fresh = (name: string) => `${dir}/${name}-${n++}`;

test.before(async () => {
  p = await currentPlatform();
  dir = p.makeTempDir("shardline-review-platform-");
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

// ---- bun: spawnWorker leaks a running worker when the init cannot be cloned -----------
// runtimes/bun/web-worker.ts creates the Worker (which starts at once, ref'd) and only then
// posts the init; when that postMessage throws DataCloneError, spawnWorker throws, but the
// thread it started is never terminated: it waits for its init for ever and keeps the
// process alive. Node (workerData is cloned before a thread starts) and Deno exit.
test("spawnWorker with an init that cannot be cloned throws and leaves no live worker behind: the process still exits (bun leaks one)", async () => {
  const script = `${dir}/spawn-uncloneable.ts`;
  const platformUrl = new URL("../../runtimes/current.ts", import.meta.url).href;
  const source = [
    `import { currentPlatform } from ${JSON.stringify(platformUrl)};`,
    `const p = await currentPlatform();`,
    `const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));`,
    `const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });`,
    `try {`,
    `  p.spawnWorker({ role: "module", module, memory, args: { url: "x", export: "y", data: () => 1 } });`,
    `  console.log("spawned");`,
    `} catch (error) {`,
    `  console.log("refused " + (error as Error).name);`,
    `}`,
  ].join("\n");
  const f = p.open(script, "truncate");
  f.write(enc.encode(source), 0);
  f.close();
  const child = spawnChild(runtimeName(), script);
  try {
    assert.is(await child.nextLine(), "refused DataCloneError", child.stderr());
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      child.exited,
      new Promise<"still running">((resolve) => (timer = setTimeout(() => resolve("still running"), 10_000))),
    ]);
    clearTimeout(timer);
    assert.ok(
      outcome !== "still running",
      `${runtimeName()}: the process did not exit within 10 s after spawnWorker refused the init: the worker it started was left running`,
    );
    assert.is((outcome as { code: number | null }).code, 0, child.stderr());
  } finally {
    child.kill();
  }
});

// ---- deno: OS errors Deno has no error code for arrive as EUNKNOWN ---------------------
// Deno's errors for errnos outside its own table carry neither `code` nor a known class
// name, only "File too large (os error 27)"; runtimes/common/os-error.ts `osErrorCode`
// then gives "EUNKNOWN". Node and Bun say EFBIG. A position of 2^50 is past ext4's
// 16 TiB file size limit; on a file system that takes it the write succeeds (a sparse file)
// and there is nothing to check.
test("an OS error without a Deno error class (EFBIG past the file system's size limit) keeps its POSIX code (deno: EUNKNOWN)", () => {
  const path = fresh("efbig");
  const f = p.open(path, "truncate");
  try {
    const onWrite = thrown(() => f.write(new Uint8Array(1), 2 ** 50));
    if (onWrite === undefined) return; // this file system allows such sizes
    assert.instance(onWrite, PlatformError);
    assert.is((onWrite as PlatformError).code, "EFBIG", `handle write: ${(onWrite as Error).message}`);
  } finally {
    f.close();
  }
  const onTruncate = thrown(() => p.truncate(path, 2 ** 50));
  assert.instance(onTruncate, PlatformError);
  assert.is((onTruncate as PlatformError).code, "EFBIG", `path truncate: ${(onTruncate as Error).message}`);
});

// ---- all runtimes: positions outside the contract become non-positional I/O -----------
// runtimes/common/node-fs-file.ts passes `position` straight to fs.readSync/writeSync,
// where -1 (and, for writes, NaN) means "at the descriptor's current offset" (read(2)/
// write(2), advancing it). So a bad position silently reads or overwrites the start of the
// file instead of failing, although the adapter promises positional I/O without a shared
// offset, and fails only with a PlatformError.
test("write at position -1 or NaN is refused and writes nothing (all runtimes write at the descriptor's offset)", () => {
  const path = fresh("negative-write");
  const f = p.open(path, "truncate");
  try {
    f.write(enc.encode("0123456789"), 0);
    const minusOne = thrown(() => f.write(enc.encode("AB"), -1));
    const nan = thrown(() => f.write(enc.encode("Z"), Number.NaN));
    const after = dec.decode(p.readFile(path));
    assert.is(after, "0123456789", `the file was changed: ${JSON.stringify(after)}`);
    assert.instance(minusOne, PlatformError, "write(-1) did not throw");
    assert.instance(nan, PlatformError, "write(NaN) did not throw");
  } finally {
    f.close();
  }
});

test("read at position -1 is refused, not a read at the descriptor's offset (all runtimes return bytes)", () => {
  const path = fresh("negative-read");
  const f = p.open(path, "truncate");
  try {
    f.write(enc.encode("0123456789"), 0);
    const buf = new Uint8Array(3);
    let got: unknown;
    const error = thrown(() => (got = f.read(buf, -1)));
    assert.instance(error, PlatformError, `read(-1) returned ${String(got)} bytes: ${JSON.stringify(dec.decode(buf))}`);
  } finally {
    f.close();
  }
});

// node:fs clamps a negative length to 0 (ftruncateSync/truncateSync: Math.max(0, len)),
// and Deno.truncateSync does the same: truncate(-1) empties the file instead of failing
// with EINVAL as ftruncate(2) does.
test("truncate to a negative length is refused and keeps the file (all runtimes empty it)", () => {
  const path = fresh("negative-truncate");
  const f = p.open(path, "truncate");
  try {
    f.write(enc.encode("0123456789"), 0);
    const byHandle = thrown(() => f.truncate(-1));
    assert.is(f.size(), 10, `handle truncate(-1) left ${f.size()} bytes`);
    assert.instance(byHandle, PlatformError);
    const byPath = thrown(() => p.truncate(path, -1));
    assert.is(p.stat(path)!.size, 10, `path truncate(-1) left ${p.stat(path)!.size} bytes`);
    assert.instance(byPath, PlatformError);
  } finally {
    f.close();
  }
});

// ---- deno: path truncate to a fractional length --------------------------------------
// Node and Bun refuse a non-integer length; Deno.truncateSync (runtimes/deno/platform.ts)
// silently truncates 2.5 to 2.
test("truncate by path to a fractional length behaves alike in every runtime: refused (deno truncates to 2)", () => {
  const path = fresh("fraction-truncate");
  const f = p.open(path, "truncate");
  f.write(enc.encode("0123456789"), 0);
  f.close();
  const error = thrown(() => p.truncate(path, 2.5));
  assert.is(p.stat(path)!.size, 10, `truncate(2.5) left ${p.stat(path)!.size} bytes`);
  assert.instance(error, PlatformError);
});

// ---- deno: unlink of a directory breaks the one message format ------------------------
// runtimes/common/os-error.ts promises "<operation> <path>: <description> (<CODE>)" on
// every runtime; runtimes/deno/platform.ts's unlink builds its own PlatformError inside
// `attempt` (passed through unchanged): "unlink <path>: EISDIR: is a directory".
test("unlink of a directory: EISDIR with the common message format (deno: 'EISDIR: is a directory')", () => {
  const path = fresh("unlink-dir");
  p.mkdir(path);
  const error = thrown(() => p.unlink(path));
  assert.instance(error, PlatformError);
  assert.is((error as PlatformError).code, "EISDIR");
  assert.is((error as PlatformError).message, `unlink ${path}: is a directory (EISDIR)`);
  assert.ok(p.stat(path)?.isDirectory, "the directory is still there");
});

// Review 2026-12-06 (unproven there, shown here): each adapter kept its process's start time
// with `??=` from the first read of /proc, so a transient failure (EMFILE) made it 0 for the
// process's life, and every lock file of it was judged by pid alone.
test("this process's start time is kept only once /proc answered for good: a transient failure is asked again", () => {
  const stat = `4242 (node) S ${Array.from({ length: 18 }, () => "0").join(" ")} 987654 0 0`;
  const answers: Array<() => Uint8Array> = [
    () => {
      throw Object.assign(new Error("too many open files"), { code: "EMFILE" });
    },
    () => enc.encode(stat),
    () => {
      throw Object.assign(new Error("gone"), { code: "ENOENT" });
    },
  ];
  let reads = 0;
  const startTime = ownStartTime(() => answers[Math.min(reads++, answers.length - 1)](), 4242);
  assert.is(startTime(), 0, "a transient failure: unknown this once");
  assert.is(startTime(), 987654, "asked again");
  assert.is(startTime(), 987654, "kept");
  assert.is(reads, 2);
  let noProcReads = 0;
  const noProc = ownStartTime(() => {
    noProcReads++;
    throw Object.assign(new Error("no /proc"), { code: "ENOENT" });
  }, 4242);
  assert.is(noProc(), 0);
  assert.is(noProc(), 0);
  assert.is(noProcReads, 1, "no /proc at all is an answer for good");
});

// Review 2026-12-06 (unproven there, shown here): close() ran its hooks (Deno's kernel lock
// release) outside any try, so a hook that threw left the descriptor open for good.
test("a file handle's close closes its descriptor even when a close hook throws, and reports the hook's error", () => {
  const path = fresh("close-hook");
  const file = NodeFsFile.open(path, "truncate");
  const fd = file.fd;
  file.onClose(() => {
    throw new Error("hook failed");
  });
  assert.throws(() => file.close(), /hook failed/);
  assert.throws(() => fstatSync(fd), (e: NodeJS.ErrnoException) => e.code === "EBADF", "the descriptor is closed");
});

// ---- one behaviour in every runtime, and through the wrappers -------------------------

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
