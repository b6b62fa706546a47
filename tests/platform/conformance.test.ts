// Platform conformance: the one contract every runtime adapter (runtimes/<rt>/platform.ts)
// is held to, run unchanged under Node, Bun and Deno against the adapter of the runtime
// running it. Files: open modes, positional and vectored writes, reads, sync, size,
// truncate, rename, unlink, directories, stat, errors. Workers: a module + shared memory
// round trip. Processes: identity and liveness. Garbage: collections on demand and weights
// for shared memories (src/worker-pool.ts uses both).
import { spawnSync } from "node:child_process";
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { FileHandle, Platform } from "../../src/platform.ts";
import { hasErrorCode, PlatformError } from "../../src/platform.ts";
import { PID_MAX_LIMIT } from "../../src/process-identity.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { rejects } from "../harness/assert.ts";
import { spawnChild } from "../harness/child.ts";
import { currentPlatform, runtimeName } from "../harness/platform.ts";

const test = suite("platform conformance");
const enc = new TextEncoder();
const dec = new TextDecoder();

let p: Platform;
let dir: string;

test.before(async () => {
  p = await currentPlatform();
  dir = p.makeTempDir("shardline-conformance-");
});
test.after(() => p.removeAll(dir));

/** Runs `fn` and returns the PlatformError it throws; fails if it does not throw one. */
function platformError(fn: () => unknown): PlatformError {
  try {
    fn();
  } catch (error) {
    assert.instance(error, PlatformError, `expected a PlatformError, got ${error}`);
    return error as PlatformError;
  }
  assert.unreachable("expected a PlatformError");
  throw new Error("unreachable");
}

/** `promise`, or a failure if it has not settled after a generous guard (against hangs only). */
async function guarded<T>(promise: Promise<T>, what: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after 30 s: ${what()}`)), 30_000);
  });
  try {
    return await Promise.race([promise, guard]);
  } finally {
    clearTimeout(timer);
  }
}

function readAll(file: FileHandle): string {
  const buf = new Uint8Array(file.size());
  let n = 0;
  while (n < buf.length) {
    const got = file.read(buf.subarray(n), n);
    if (got === 0) break;
    n += got;
  }
  return dec.decode(buf.subarray(0, n));
}

test("the adapter is the current runtime's", () => {
  assert.is(p.runtime, runtimeName());
  assert.type(p.runtimeVersion, "string");
  assert.ok(p.runtimeVersion.length > 0);
});

test("create: new file is empty, existing file is kept", () => {
  const path = `${dir}/create`;
  const f = p.open(path, "create");
  assert.is(f.path, path);
  assert.is(f.size(), 0);
  f.write(enc.encode("keep me"), 0);
  f.close();
  const g = p.open(path, "create");
  assert.is(readAll(g), "keep me");
  g.close();
});

test("createExclusive: fails with EEXIST on an existing file, creates a missing one", () => {
  const path = `${dir}/exclusive`;
  const f = p.open(path, "createExclusive");
  f.write(enc.encode("first"), 0);
  f.close();
  const error = platformError(() => p.open(path, "createExclusive"));
  assert.is(error.code, "EEXIST");
  assert.ok(hasErrorCode(error, "EEXIST"));
  assert.ok(error.cause instanceof Error, "the runtime's own error is kept as cause");
  assert.is(dec.decode(p.readFile(path)), "first", "the failed open left the file alone");
});

test("read and readwrite need the file; truncate empties it", () => {
  const missing = `${dir}/missing`;
  assert.is(platformError(() => p.open(missing, "read")).code, "ENOENT");
  assert.is(platformError(() => p.open(missing, "readwrite")).code, "ENOENT");
  assert.is(p.stat(missing), undefined, "a failed open creates nothing");

  const path = `${dir}/modes`;
  const t = p.open(path, "truncate");
  t.write(enc.encode("0123456789"), 0);
  t.close();
  const rw = p.open(path, "readwrite");
  rw.write(enc.encode("ab"), 4);
  assert.is(readAll(rw), "0123ab6789");
  rw.close();
  const r = p.open(path, "read");
  assert.is(readAll(r), "0123ab6789");
  assert.ok(platformError(() => r.write(enc.encode("x"), 0)).code.startsWith("E"), "a read-only handle refuses writes");
  r.close();
  const t2 = p.open(path, "truncate");
  assert.is(t2.size(), 0);
  t2.close();
});

test("write at positions, past the end (zero-filled gap), read back", () => {
  const f = p.open(`${dir}/positions`, "truncate");
  f.write(enc.encode("world"), 6);
  f.write(enc.encode("hello"), 0);
  assert.is(f.size(), 11);
  const buf = new Uint8Array(11);
  assert.is(f.read(buf, 0), 11);
  assert.is(buf[5], 0, "the unwritten byte reads as zero");
  assert.is(dec.decode(buf.subarray(0, 5)), "hello");
  assert.is(dec.decode(buf.subarray(6)), "world");
  const mid = new Uint8Array(3);
  assert.is(f.read(mid, 7), 3);
  assert.is(dec.decode(mid), "orl");
  f.close();
});

test("read past the end returns 0, a read across the end returns the rest", () => {
  const f = p.open(`${dir}/eof`, "truncate");
  f.write(enc.encode("abc"), 0);
  const buf = new Uint8Array(8);
  assert.is(f.read(buf, 3), 0);
  assert.is(f.read(buf, 100), 0);
  assert.is(f.read(buf, 1), 2);
  assert.is(dec.decode(buf.subarray(0, 2)), "bc");
  assert.is(f.read(new Uint8Array(0), 0), 0);
  f.close();
});

test("writev writes the buffers back to back; large and empty buffers included", () => {
  const f = p.open(`${dir}/writev`, "truncate");
  const big = new Uint8Array(1 << 20);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  f.writev([enc.encode("head:"), new Uint8Array(0), big, enc.encode(":tail")], 3);
  assert.is(f.size(), 3 + 5 + big.length + 5);
  const back = new Uint8Array(big.length + 10);
  let n = 0;
  while (n < back.length) n += f.read(back.subarray(n), 3 + n);
  assert.is(dec.decode(back.subarray(0, 5)), "head:");
  assert.is(dec.decode(back.subarray(back.length - 5)), ":tail");
  let same = true;
  for (let i = 0; i < big.length; i++) if (back[5 + i] !== big[i]) same = false;
  assert.ok(same, "the big buffer came back intact");
  f.writev([], 0);
  assert.is(f.size(), 3 + 5 + big.length + 5, "an empty writev changes nothing");
  f.close();
});

test("views into a larger buffer write only their own bytes", () => {
  const backing = enc.encode("xxxxPAYLOADyyyy");
  const view = backing.subarray(4, 11);
  const f = p.open(`${dir}/views`, "truncate");
  f.write(view, 0);
  f.writev([view, view.subarray(0, 3)], 7);
  assert.is(readAll(f), "PAYLOADPAYLOADPAY");
  f.close();
});

test("writes to shared memory views (the core's memory) work", () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true });
  const view = new Uint8Array(memory.buffer, 100, 6);
  view.set(enc.encode("shared"));
  const f = p.open(`${dir}/shared`, "truncate");
  f.write(view, 0);
  f.writev([view], 6);
  const back = new Uint8Array(memory.buffer, 1000, 12);
  assert.is(f.read(back, 0), 12);
  assert.is(dec.decode(back.slice()), "sharedshared");
  f.close();
});

test("datasync and sync succeed on written files; fsyncDir on a directory", () => {
  const f = p.open(`${dir}/sync`, "truncate");
  f.write(new Uint8Array(4096).fill(1), 0);
  f.datasync();
  f.write(new Uint8Array(4096).fill(2), 4096);
  f.sync();
  assert.is(f.size(), 8192);
  f.close();
  p.fsyncDir(dir);
  assert.is(platformError(() => p.fsyncDir(`${dir}/no-such-dir`)).code, "ENOENT");
});

test("truncate: handle and path, shrink and grow", () => {
  const path = `${dir}/truncate`;
  const f = p.open(path, "truncate");
  f.write(enc.encode("0123456789"), 0);
  f.truncate(4);
  assert.is(f.size(), 4);
  assert.is(readAll(f), "0123");
  f.truncate(6);
  const buf = new Uint8Array(6);
  assert.is(f.read(buf, 0), 6);
  assert.equal(Array.from(buf.subarray(4)), [0, 0], "growing zero-fills");
  f.close();
  p.truncate(path, 2);
  assert.is(p.stat(path)?.size, 2);
  assert.is(dec.decode(p.readFile(path)), "01");
  assert.is(platformError(() => p.truncate(`${dir}/missing-truncate`, 0)).code, "ENOENT");
});

test("readFile returns a plain Uint8Array of exactly the file; ENOENT when missing", () => {
  const path = `${dir}/readfile`;
  const f = p.open(path, "truncate");
  f.write(enc.encode("tiny"), 0);
  f.close();
  const bytes = p.readFile(path);
  assert.instance(bytes, Uint8Array);
  assert.is(bytes.byteLength, 4);
  assert.is(bytes.buffer.byteLength, 4, "owns its memory, not a window on a pool");
  assert.is(dec.decode(bytes), "tiny");
  const error = platformError(() => p.readFile(`${dir}/missing-readfile`));
  assert.is(error.code, "ENOENT");
  assert.ok(error.cause instanceof Error, "the runtime's own error is kept as cause");
  assert.ok(error.message.includes("missing-readfile"), "the message names the path");
});

test("rename replaces an existing target atomically; unlink removes", () => {
  const a = `${dir}/rename-a`;
  const b = `${dir}/rename-b`;
  for (const [path, text] of [[a, "new"], [b, "old"]]) {
    const f = p.open(path, "truncate");
    f.write(enc.encode(text), 0);
    f.close();
  }
  p.rename(a, b);
  assert.is(p.stat(a), undefined);
  assert.is(dec.decode(p.readFile(b)), "new");
  assert.is(platformError(() => p.rename(a, b)).code, "ENOENT");
  p.unlink(b);
  assert.is(p.stat(b), undefined);
  assert.is(platformError(() => p.unlink(b)).code, "ENOENT");
  p.mkdir(`${dir}/not-a-file`);
  platformError(() => p.unlink(`${dir}/not-a-file`));
  assert.is(p.stat(`${dir}/not-a-file`)?.isDirectory, true, "unlink leaves a directory alone");
});

test("mkdir (plain and recursive), readdir, stat, removeAll", () => {
  const root = `${dir}/tree`;
  p.mkdir(root);
  assert.is(platformError(() => p.mkdir(root)).code, "EEXIST");
  p.mkdir(root, { recursive: true });
  p.mkdir(`${root}/a/b/c`, { recursive: true });
  assert.is(platformError(() => p.mkdir(`${root}/x/y`)).code, "ENOENT");
  const f = p.open(`${root}/a/file`, "create");
  f.write(enc.encode("12345"), 0);
  f.close();
  assert.equal(p.readdir(root).sort(), ["a"]);
  assert.equal(p.readdir(`${root}/a`).sort(), ["b", "file"]);
  assert.is(platformError(() => p.readdir(`${root}/none`)).code, "ENOENT");

  const fileStat = p.stat(`${root}/a/file`);
  assert.ok(fileStat);
  assert.is(fileStat!.size, 5);
  assert.is(fileStat!.isFile, true);
  assert.is(fileStat!.isDirectory, false);
  assert.ok(Math.abs(fileStat!.mtimeMs - Date.now()) < 24 * 3600_000, "mtime is a plausible wall-clock time");
  const dirStat = p.stat(`${root}/a/b`);
  assert.is(dirStat?.isDirectory, true);
  assert.is(dirStat?.isFile, false);
  assert.is(p.stat(`${root}/nothing`), undefined);
  assert.is(p.stat(`${root}/a/file/below-a-file`), undefined);

  p.removeAll(root);
  assert.is(p.stat(root), undefined);
  p.removeAll(root); // missing is not an error
  const lone = `${dir}/lone-file`;
  p.open(lone, "create").close();
  p.removeAll(lone);
  assert.is(p.stat(lone), undefined);
});

test("makeTempDir gives a fresh empty directory each time", () => {
  const a = p.makeTempDir("shardline-tmp-");
  const b = p.makeTempDir("shardline-tmp-");
  try {
    assert.not.equal(a, b);
    assert.is(p.stat(a)?.isDirectory, true);
    assert.equal(p.readdir(a), []);
    assert.ok(a.split("/").pop()!.startsWith("shardline-tmp-"));
  } finally {
    p.removeAll(a);
    p.removeAll(b);
  }
});

test("a closed handle refuses I/O with a PlatformError; close twice is harmless", () => {
  const f = p.open(`${dir}/closed`, "truncate");
  f.close();
  f.close();
  assert.is(platformError(() => f.write(enc.encode("x"), 0)).code, "EBADF");
  assert.is(platformError(() => f.read(new Uint8Array(1), 0)).code, "EBADF");
});

test("kernelLock (where the runtime has one) excludes a second handle until unlocked", () => {
  const kl = p.kernelLock;
  if (runtimeName() === "node") {
    assert.is(kl, undefined, "Node has no kernel lock");
    return;
  }
  assert.ok(kl, `${runtimeName()} provides a kernel lock`);
  const path = `${dir}/kernel-lock`;
  const a = p.open(path, "create");
  const b = p.open(path, "read");
  assert.is(kl!.tryLockExclusive(a), true);
  assert.is(kl!.tryLockExclusive(b), false, "another open file is refused");
  kl!.unlock(a);
  assert.is(kl!.tryLockExclusive(b), true, "free again after unlock");
  assert.is(kl!.tryLockExclusive(a), false);
  b.close(); // closing the holder drops its lock
  assert.is(kl!.tryLockExclusive(a), true);
  kl!.unlock(a);
  a.close();
});

test("worker: module and shared memory arrive, progress and result come back", async () => {
  const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4, shared: true });
  const words = new Int32Array(memory.buffer);
  words[3] = 40;
  const progress: unknown[] = [];
  const result = (await runModuleInWorker(p, {
    module,
    memory,
    url: new URL("./fixtures/worker-tasks.ts", import.meta.url).href,
    exportName: "bumpSharedWord",
    data: { index: 3, amount: 2 },
    onMessage: (m) => progress.push(m),
  })) as Record<string, unknown>;
  assert.is(Atomics.load(words, 3), 42, "the worker's Atomics.add landed in our memory");
  assert.is(result.before, 40, "the worker saw what we wrote");
  assert.is(result.isModule, true);
  assert.equal(result.moduleExports, []);
  assert.is(result.sharedBuffer, true);
  assert.is(result.runtime, p.runtime, "the worker got this runtime's platform");
  assert.equal(progress, [{ progress: "started" }]);
});

test("worker: a throwing function, a missing export and an unknown role all reject", async () => {
  const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const url = new URL("./fixtures/worker-tasks.ts", import.meta.url).href;
  const thrown = await rejects(() => runModuleInWorker(p, { module, memory, url, exportName: "failWith", data: "xyz" }));
  assert.ok(thrown.message.includes("task failed on purpose: xyz"), thrown.message);
  const missing = await rejects(() => runModuleInWorker(p, { module, memory, url, exportName: "noSuchExport" }));
  assert.ok(missing.message.includes("noSuchExport"), missing.message);

  const worker = p.spawnWorker({ role: "no-such-role", module, memory });
  const reply = await new Promise((resolve) => {
    worker.onMessage(resolve);
    worker.onError(resolve);
  });
  await worker.terminate();
  assert.is((reply as { type?: string }).type, "error");
  assert.ok(String((reply as { message?: string }).message).includes("no-such-role"));
});

test("worker: messages sent before anyone listens are held, on both sides", async () => {
  const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const words = new Int32Array(memory.buffer);
  const worker = p.spawnWorker({
    role: "module",
    module,
    memory,
    args: { url: new URL("./fixtures/worker-tasks.ts", import.meta.url).href, export: "collectMessages", data: { count: 2, flag: 7 } },
  });
  try {
    // Sent before the worker has even imported the task, let alone listened.
    worker.postMessage("ping-1");
    worker.postMessage("ping-2");
    // The task posts "hello", then raises the flag; only after that do we listen.
    const deadline = Date.now() + 30_000; // guard against a hang only
    while (Atomics.load(words, 7) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    assert.is(Atomics.load(words, 7), 1, "the task ran");
    await new Promise((r) => setTimeout(r, 20)); // let the event loop take the message in unheard
    const received: unknown[] = [];
    await guarded(
      new Promise<void>((resolve, reject) => {
        worker.onMessage((m) => {
          received.push(m);
          if ((m as { type?: string }).type === "result") resolve();
        });
        worker.onError(reject);
      }),
      () => `only received ${JSON.stringify(received)}`,
    );
    assert.equal(received, ["hello", { type: "result", value: ["ping-1", "ping-2"] }]);
  } finally {
    await worker.terminate();
  }
});

test("worker: unref/ref and terminate of a worker that stays alive", async () => {
  const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const worker = p.spawnWorker({ role: "no-such-role", module, memory });
  const errors: Error[] = [];
  worker.onError((e) => errors.push(e));
  worker.unref();
  worker.ref();
  await new Promise((resolve) => worker.onMessage(resolve));
  await worker.terminate();
  assert.equal(errors, [], "terminate() is not reported as an error");
});

test("worker: an unref'd worker does not keep the process alive", async () => {
  const child = spawnChild(runtimeName(), new URL("./fixtures/unref-worker.ts", import.meta.url).pathname);
  try {
    await child.waitFor("unrefd");
    assert.equal(await child.waitExit(), { code: 0, signal: null }, child.stderr());
  } finally {
    child.kill();
  }
});

/** A WeakRef to a shared memory that nothing else references, after the job that made it. */
async function droppedMemory(weigh?: (memory: WebAssembly.Memory) => void): Promise<WeakRef<WebAssembly.Memory>> {
  const ref = ((memory: WebAssembly.Memory) => {
    weigh?.(memory);
    return new WeakRef(memory);
  })(new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }));
  await new Promise((resolve) => setTimeout(resolve, 0)); // a WeakRef holds its target until the job that made it ends
  return ref;
}

test("collectGarbage: every adapter has it; it collects this thread's garbage, here and in a worker", async () => {
  assert.type(p.collectGarbage, "function");
  const ref = await droppedMemory();
  assert.is(p.collectGarbage!(), true);
  assert.is(ref.deref(), undefined, "a shared memory nothing references is collected");

  const module = new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const url = new URL("./fixtures/worker-tasks.ts", import.meta.url).href;
  const inWorker = await runModuleInWorker(p, { module, memory, url, exportName: "collectsGarbage" });
  assert.equal(inWorker, { collected: true, cleared: true }, "in a worker thread too");
});

test("weighSharedMemory: Node's adapter has it; a weighed memory is still collected", async () => {
  if (p.runtime === "node") assert.type(p.weighSharedMemory, "function");
  if (!p.weighSharedMemory) return;
  const ref = await droppedMemory((memory) => {
    p.weighSharedMemory!(memory, 4 << 20);
    p.weighSharedMemory!(memory, 4 << 20); // twice: one weight
  });
  p.collectGarbage!();
  assert.is(ref.deref(), undefined, "the weight does not keep its memory alive");
});

test("processIdentity: this process, with its /proc start time", () => {
  const self = p.processIdentity();
  assert.is(self.pid, process.pid);
  assert.ok(Number.isSafeInteger(self.startTime) && self.startTime >= 0);
  const procStat = p.stat("/proc/self/stat");
  if (procStat) {
    const text = dec.decode(p.readFile(`/proc/${self.pid}/stat`));
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    assert.is(self.startTime, Number(fields[19]), "field 22 of /proc/<pid>/stat");
    assert.ok(self.startTime > 0);
  }
  assert.equal(p.processIdentity(), self, "stable across calls");
});

test("isProcessAlive: self alive; reused pid, exited child and impossible pid dead", () => {
  const self = p.processIdentity();
  assert.is(p.isProcessAlive(self), true);
  assert.is(p.isProcessAlive({ pid: self.pid, startTime: 0 }), true, "start time 0 means unknown");
  if (self.startTime > 0) {
    assert.is(p.isProcessAlive({ pid: self.pid, startTime: self.startTime + 1 }), false, "same pid, other start time");
  }
  const child = spawnSync(process.execPath, ["--version"]);
  assert.is(child.status, 0, "the child ran");
  assert.is(p.isProcessAlive({ pid: child.pid!, startTime: 0 }), false, "an exited, reaped child");
  assert.is(p.isProcessAlive({ pid: PID_MAX_LIMIT + 1, startTime: 0 }), false, "above pid_max");
  assert.is(p.isProcessAlive({ pid: 0, startTime: 0 }), false);
  assert.is(p.isProcessAlive({ pid: -1, startTime: 0 }), false);
});

test.run();
