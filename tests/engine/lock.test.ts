// One writer process per directory, across runtimes: a second open waits
// coordinationTimeoutMs and rejects with LockedError; a lock left by a process killed with
// SIGKILL is taken over (and what it acknowledged is there); "required" fails where the
// file system refuses the lock, "auto" opens without it and says so; "single-process-unsafe"
// takes none. From a review (2026-12-05), each seen failing before its fix: a transient
// failure of the first /proc read was cached as "no /proc" for the process's life (a reused
// pid then looked alive); a kernel lock failing with ENOLCK (NFS without lockd) failed the
// open instead of going without the oracle; a record of this process's pid and start time
// from before a restart (a container's pid 1) was never taken over: records carry the boot id.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { FileSystemError, LockedError, LockUnavailableError } from "../../src/engine/public.ts";
import { openDatabase } from "../../src/engine/open.ts";
import { type Platform, PlatformError, type RuntimeName } from "../../src/platform.ts";
import { rejects } from "../harness/assert.ts";
import { spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine lock");
const HOLDER = new URL("./fixtures/lock-holder.ts", import.meta.url).pathname;
const RUNTIMES: RuntimeName[] = ["node", "bun", "deno"];
/** Another runtime than the one running the tests. */
const other = RUNTIMES[(RUNTIMES.indexOf(runtimeName()) + 1) % RUNTIMES.length];

test(`a ${other} process holds the database: open waits, then LockedError; after it closes, open succeeds`, async () => {
  const dir = tempDir();
  const child = spawnChild(other, HOLDER, [dir]);
  try {
    await child.waitFor("ready");
    const error = await rejects(() => open(dir, { coordinationTimeoutMs: 300 }), LockedError);
    assert.is(error.code, "SHARDLINE_LOCKED");
    assert.equal(error.holder, { pid: child.pid, runtime: other });
    child.send("close");
    await child.waitFor("closed");
    const db = await open(dir, { coordinationTimeoutMs: 300 });
    assert.is(text(db.get("holder")), other);
    assert.ok(db.stats().coordination?.locked);
    await db.close();
  } finally {
    child.kill();
  }
});

test(`a ${other} process holding the database is killed with SIGKILL: open takes over`, async () => {
  const dir = tempDir();
  const child = spawnChild(other, HOLDER, [dir]);
  try {
    await child.waitFor("ready");
    await rejects(() => open(dir, { coordinationTimeoutMs: 100 }), LockedError);
    child.kill("SIGKILL");
    assert.equal(await child.waitExit(), { code: null, signal: "SIGKILL" });
    const db = await open(dir, { coordinationTimeoutMs: 300 });
    assert.is(text(db.get("holder")), other, "its acknowledged write survived");
    await db.close();
  } finally {
    child.kill();
  }
});

test("a second open in the same process is refused too; the first close releases it", async () => {
  const dir = tempDir();
  const first = await open(dir);
  await rejects(() => open(dir, { coordinationTimeoutMs: 50 }), LockedError);
  await first.close();
  const second = await open(dir, { coordinationTimeoutMs: 50 });
  await second.close();
});

/** A platform whose file system refuses the lock directory (as some network file systems do). */
function refusingLocks(base: Platform, code: string): Platform {
  return {
    ...base,
    mkdir(path, options) {
      if (path.endsWith("/LOCK.d")) throw new PlatformError(`mkdir ${path}: refused`, code);
      return base.mkdir(path, options);
    },
  };
}

test("coordination: required fails where no lock can be had; auto opens without one and says so", async () => {
  const dir = tempDir();
  const refusing = refusingLocks(platform, "ENOTSUP");
  const error = await rejects(() => openDatabase(refusing, dir, { coordination: "required" }), LockUnavailableError);
  assert.is(error.code, "SHARDLINE_LOCK_UNAVAILABLE");
  const db = await openDatabase(refusing, dir, { coordination: "auto" });
  const info = db.stats().coordination!;
  assert.is(info.mode, "auto");
  assert.is(info.locked, false);
  assert.match(info.reason ?? "", /refused/);
  await db.put("k", "v");
  await db.close();
  // Any other error is not "no lock available": it fails the open under auto too.
  await rejects(() => openDatabase(refusingLocks(platform, "EIO"), tempDir(), { coordination: "auto" }), (e) => e instanceof FileSystemError && e.osCode === "EIO");
});

test("single-process-unsafe takes no lock", async () => {
  const dir = tempDir();
  const db = await open(dir, { coordination: "single-process-unsafe" });
  assert.equal(db.stats().coordination, { mode: "single-process-unsafe", locked: false, readers: [] });
  assert.is(platform.stat(`${dir}/LOCK.d`), undefined, "no lock directory was made");
  await db.close();
  const locked = await open(dir);
  assert.ok(platform.stat(`${dir}/LOCK.d`));
  await locked.close();
});

test("a transient error on the first /proc read is cached for ever: a reused pid is no longer told from the holder", async () => {
  const self = platform.processIdentity();
  if (self.startTime === 0) return; // no /proc here: nothing to show
  // A fresh instance of the module, its cache not yet set: a copy of its source (it imports
  // nothing) under a new path, since a query string gives no new instance in every runtime.
  const copy = `${tempDir("shardline-proc-")}/process-identity.ts`;
  const out = platform.open(copy, "createExclusive");
  out.write(platform.readFile(new URL("../../src/process-identity.ts", import.meta.url).pathname), 0);
  out.close();
  const fresh = (await import(new URL(`file://${copy}`).href)) as typeof import("../../src/process-identity.ts");
  let calls = 0;
  const flakyReadFile = (path: string): Uint8Array => {
    if (calls++ === 0) throw new PlatformError(`readFile ${path}: EMFILE: too many open files (injected)`, "EMFILE");
    return platform.readFile(path);
  };
  // This process, with another start time: what a reused pid looks like to a holder's record.
  fresh.procIsAlive(flakyReadFile, self.pid, self.startTime + 1); // the first probe meets the transient error
  const later = fresh.procIsAlive(platform.readFile, self.pid, self.startTime + 1);
  assert.is(later, false, `once /proc reads again, a pid with another start time is dead (got ${later}: the caller falls back to kill(pid, 0), i.e. alive)`);
});

// The kernel lock is documented as only "a better liveness oracle" (src/lock.ts header), yet
// src/lock.ts:129 calls `platform.kernelLock?.tryLockExclusive(handle)` unguarded, and Bun's
// flock (runtimes/bun/flock.ts, ERRNO.fatal) throws on ENOLCK ("No locks available": NFS
// without lockd, or the kernel out of lock records), as Deno's tryLockSync does. open.ts
// `coordinate` treats only ENOTSUP/EOPNOTSUPP/ENOSYS/EPERM/EACCES as "no lock here" (L2/L3),
// so the ENOLCK goes out raw (L4): under "auto" Bun and Deno cannot open a directory that
// Node opens with the plain-file protocol, and under "required" the error is not the typed
// LockUnavailableError. Expected: ENOLCK from the oracle degrades to `kernelLock: false`
// (pid protocol), or at least counts as L2/L3.
test("a kernel lock that fails with ENOLCK: auto still opens, required is LockUnavailableError or a pid-protocol lock", async () => {
  const noLocks: Platform = {
    ...platform,
    kernelLock: {
      tryLockExclusive(file) {
        throw new PlatformError(`flock ${file.path}: ENOLCK: no locks available (injected)`, "ENOLCK");
      },
      unlock() {},
    },
  };
  const dir = tempDir();
  let db;
  try {
    db = await openDatabase(noLocks, dir, { coordination: "auto" });
  } catch (error) {
    assert.unreachable(`coordination "auto" failed because the kernel-lock oracle said ENOLCK: ${(error as Error).name}: ${(error as Error).message}`);
  }
  await db!.put("k", "v");
  await db!.close();
  let outcome: string;
  try {
    const again = await openDatabase(noLocks, dir, { coordination: "required" });
    outcome = again.stats().coordination?.locked ? "locked" : "opened unlocked";
    await again.close();
  } catch (error) {
    outcome = error instanceof LockUnavailableError ? "LockUnavailableError" : `${(error as Error).name}: ${(error as Error).message}`;
  }
  assert.ok(outcome === "locked" || outcome === "LockUnavailableError", `"required": ${outcome}`);
});

test("a lock record with this process's pid and start time, written before the machine restarted (another boot id), is taken over", async () => {
  // A container's pid 1 can come back after a power loss with the pid and the start time
  // (clock ticks since boot) of the process that wrote the record: judged by them alone, the
  // record named a live holder for ever (lock review, 2026-12-05).
  const { pid, startTime } = platform.processIdentity();
  if (startTime === 0) return; // no /proc: no boot id either
  const dir = tempDir();
  const first = await open(dir);
  await first.put("k", "v");
  await first.close();
  const lockDir = `${dir}/LOCK.d`;
  const file = platform.open(`${lockDir}/${pid}-${startTime}-00000000deadbeef`, "createExclusive");
  const record = { pid, startTime, runtime: platform.runtime, kernelLock: false, acquiredAt: new Date().toISOString(), bootId: "00000000-0000-0000-0000-000000000000" };
  file.write(new TextEncoder().encode(JSON.stringify(record)), 0);
  file.close();
  const again = await open(dir, { coordinationTimeoutMs: 0 });
  assert.is(text(again.get("k")), "v");
  assert.ok(!platform.readdir(lockDir).includes(`${pid}-${startTime}-00000000deadbeef`), "the stale record was removed");
  await again.close();
});

test.after(cleanup);
test.run();
