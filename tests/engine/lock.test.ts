// One writer process per directory, across runtimes: a second open waits
// coordinationTimeoutMs and rejects with LockedError; a lock left by a process killed with
// SIGKILL is taken over (and what it acknowledged is there); "required" fails where the
// file system refuses the lock, "auto" opens without it and says so; "single-process-unsafe"
// takes none.
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

test.after(cleanup);
test.run();
