// Directory lock (src/lock.ts): one writer per database directory, across threads of
// work in one process and across processes of all three runtimes. Each run includes
// children of every runtime, so at least two of them differ from the current one.
// Timeouts on acquire are short on purpose (the holder is known to hold the lock while
// we try, so the outcome does not depend on them); waits for children are only guards.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { LockedError, ShardlineError } from "../../src/errors.ts";
import { acquireDirLock, readLockHolders } from "../../src/lock.ts";
import type { Platform, RuntimeName } from "../../src/platform.ts";
import { rejects } from "../harness/assert.ts";
import { spawnChild } from "../harness/child.ts";
import { currentPlatform, runtimeName } from "../harness/platform.ts";

const test = suite("directory lock");
const RUNTIMES: RuntimeName[] = ["node", "bun", "deno"];
const HOLDER = new URL("./fixtures/lock-holder.ts", import.meta.url).pathname;
const SHORT = { timeoutMs: 300 };

let p: Platform;
let root: string;
let n = 0;
const freshDir = () => `${root}/db-${n++}`;

test.before(async () => {
  p = await currentPlatform();
  root = p.makeTempDir("shardline-lock-");
});
test.after(() => p.removeAll(root));

function isLocked(error: Error): boolean {
  return error instanceof LockedError && error instanceof ShardlineError && (error as LockedError).code === "SHARDLINE_LOCKED";
}

test("in-process: a second acquire times out with LockedError naming dir and holder", async () => {
  const dir = freshDir();
  const first = await acquireDirLock(p, dir, SHORT);
  assert.is(first.holder.pid, p.processIdentity().pid);
  assert.is(first.holder.runtime, p.runtime);
  assert.is(first.holder.kernelLock, p.kernelLock !== undefined);
  const error = (await rejects(() => acquireDirLock(p, dir, SHORT), isLocked)) as LockedError;
  assert.is(error.name, "LockedError");
  assert.is(error.code, "SHARDLINE_LOCKED");
  assert.is(error.dir, dir);
  assert.equal(error.holder, { pid: first.holder.pid, runtime: p.runtime, thisProcess: true });
  assert.ok(error.message.includes(dir) && error.message.includes(String(first.holder.pid)), error.message);
  // First-contact review (2026-12-06), seen failing before: the message named this
  // process's own pid as "the holder" and nothing said it was this process.
  assert.match(error.message, /already open in this process/);
  await rejects(() => acquireDirLock(p, dir, { mode: "try" }), isLocked);
  assert.equal(p.readdir(`${dir}/LOCK.d`), [first.file.split("/").pop()], "losers leave no files behind");

  first.release();
  assert.is(first.released, true);
  first.release(); // twice is harmless
  const second = await acquireDirLock(p, dir, SHORT);
  assert.not.equal(second.file, first.file);
  second.release();
  assert.equal(p.readdir(`${dir}/LOCK.d`), []);
});

test("in-process: concurrent acquirers never hold at once, and all get their turn", async () => {
  const dir = freshDir();
  let holding = 0;
  let maxHolding = 0;
  let turns = 0;
  const contender = async () => {
    for (let i = 0; i < 5; i++) {
      const lock = await acquireDirLock(p, dir, { timeoutMs: 20_000 });
      holding++;
      maxHolding = Math.max(maxHolding, holding);
      await new Promise((r) => setTimeout(r, 1));
      holding--;
      turns++;
      lock.release();
    }
  };
  await Promise.all([contender(), contender(), contender()]);
  assert.is(maxHolding, 1);
  assert.is(turns, 15);
});

test("stale lock files: dead pid, reused pid, an incomplete record of a dead process and an old empty file are taken over and removed", async () => {
  const dir = freshDir();
  const lockDir = `${dir}/LOCK.d`;
  p.mkdir(lockDir, { recursive: true });
  const self = p.processIdentity();
  const write = (name: string, text: string) => {
    const f = p.open(`${lockDir}/${name}`, "createExclusive");
    f.write(new TextEncoder().encode(text), 0);
    f.close();
  };
  const record = (pid: number, startTime: number) =>
    JSON.stringify({ pid, startTime, runtime: "node", kernelLock: false, acquiredAt: new Date().toISOString() });
  write("4194305-1-aa", record(4_194_305, 1)); // above pid_max: certainly dead
  if (self.startTime > 0) write(`${self.pid}-${self.startTime + 1}-bb`, record(self.pid, self.startTime + 1));
  const writing = `${self.pid}-${self.startTime}-cc`; // a live process still writing its record...
  write(writing, "");
  p.truncate(`${lockDir}/${writing}`, 0);
  const old = p.stat(`${lockDir}/${writing}`)!;
  assert.is(old.size, 0);
  write("4194306-5-dd", '{"pid": 4194'); // a contender killed before its record was whole

  // A young empty file of a live process still counts as being written: the lock is not free yet.
  await rejects(() => acquireDirLock(p, dir, { mode: "try" }), isLocked);
  const holders = readLockHolders(p, dir);
  assert.ok(holders.some((h) => h.file === writing && h.alive && h.record === undefined), JSON.stringify(holders));
  assert.ok(holders.some((h) => h.file === "4194305-1-aa" && !h.alive), JSON.stringify(holders));
  assert.ok(holders.some((h) => h.file === "4194306-5-dd" && !h.alive && h.record === undefined), `an incomplete record of a process that is gone is dead at once: ${JSON.stringify(holders)}`);

  // ...and once it is older than 10 s it is stale. Age it by rewriting its mtime.
  const { utimesSync } = await import("node:fs");
  const past = new Date(Date.now() - 60_000);
  utimesSync(`${lockDir}/${writing}`, past, past);
  const lock = await acquireDirLock(p, dir, { mode: "try" });
  assert.equal(p.readdir(lockDir), [lock.file.split("/").pop()], "stale files were deleted");
  const seen = readLockHolders(p, dir);
  assert.is(seen.length, 1);
  assert.is(seen[0].alive, true);
  assert.equal(seen[0].record, lock.holder);
  lock.release();
});

for (const runtime of RUNTIMES) {
  const note = runtime === runtimeName() ? "same runtime" : "other runtime";
  test(`${runtime} child (${note}) holds the lock: we time out; after it releases, we get it`, async () => {
    const dir = freshDir();
    const child = spawnChild(runtime, HOLDER, ["hold", dir]);
    try {
      await child.waitFor("locked");
      const error = (await rejects(() => acquireDirLock(p, dir, SHORT), isLocked)) as LockedError;
      assert.equal(error.holder, { pid: child.pid, runtime });
      const holders = readLockHolders(p, dir);
      assert.is(holders.length, 1);
      assert.is(holders[0].alive, true);
      assert.is(holders[0].record?.pid, child.pid);
      child.send("release");
      await child.waitFor("released");
      assert.equal(await child.waitExit(), { code: 0, signal: null });
      const lock = await acquireDirLock(p, dir, SHORT);
      lock.release();
    } finally {
      child.kill();
    }
  });

  test(`${runtime} child (${note}) killed with SIGKILL while holding: we take over`, async () => {
    const dir = freshDir();
    const child = spawnChild(runtime, HOLDER, ["hold", dir]);
    try {
      await child.waitFor("locked");
      await rejects(() => acquireDirLock(p, dir, SHORT), isLocked);
      child.kill("SIGKILL");
      assert.equal(await child.waitExit(), { code: null, signal: "SIGKILL" });
      const before = readLockHolders(p, dir);
      assert.is(before.length, 1, "the dead child's file is still there");
      assert.is(before[0].alive, false, `judged dead: ${before[0].reason}`);
      const lock = await acquireDirLock(p, dir, SHORT);
      assert.equal(p.readdir(`${dir}/LOCK.d`), [lock.file.split("/").pop()], "the stale file was removed");
      lock.release();
    } finally {
      child.kill();
    }
  });
}

test("node, bun and deno children contending for one directory never hold it at once", async () => {
  const dir = freshDir();
  p.mkdir(dir, { recursive: true });
  const rounds = 8;
  const children = RUNTIMES.map((runtime) => spawnChild(runtime, HOLDER, ["cycle", dir, String(rounds), runtime]));
  try {
    for (const child of children) {
      const lines: string[] = [];
      for (;;) {
        const line = await child.nextLine();
        lines.push(line);
        if (line.startsWith("done")) break;
      }
      assert.equal(lines, [`done ${rounds}`], `${child.runtime}: ${lines.join(", ")}`);
      assert.equal(await child.waitExit(), { code: 0, signal: null });
    }
  } finally {
    for (const child of children) child.kill();
  }
  assert.equal(p.readdir(`${dir}/LOCK.d`), []);
  assert.is(p.stat(`${dir}/owner`), undefined);
});

test.run();
