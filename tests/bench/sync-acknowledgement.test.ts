// Which modes acknowledge a put only after an fdatasync, checked by behaviour (review of the
// benchmarks, 2026-12-06): a child process of this runtime opens one system's store through
// its adapter (bench/systems/*.ts), then strace attaches to it and makes every fsync,
// fdatasync, msync and sync_file_range fail with EIO, and the child does one put. A
// non-durable mode must still acknowledge it, unless its adapter says `ackAfterSync`: then
// its put waits for the sync, and fails or never resolves. Seen failing before the fix:
// lmdb-put was described as resolving while its sync ran, but each resolve waits for the
// fdatasync of its transaction's data (the meta page that makes it durable is synced by the
// next one); it is now `ackAfterSync`, and bench/README.md says what that costs it.
// (Controls, run by hand: every durable mode's put is rejected or never resolves.)
// The child is this file itself, run as an entry with CHILD_FLAG (so it resolves packages
// from the repository in every runtime). Needs strace and ptrace; skipped without them.
// No timing or ranking is asserted.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";

const CHILD_FLAG = "--review-bench-child";
const D = (globalThis as unknown as { Deno?: { args: string[]; exit(code: number): never } }).Deno;
const argv = D ? D.args : process.argv.slice(2);
const THIS_FILE = fileURLToPath(import.meta.url);
const REPO = join(THIS_FILE, "..", "..", "..");

/**
 * Child mode: open `systemId`'s store (bench/systems), print OPENED, wait for the `go` file
 * (created once strace is attached), put one key, and print RESOLVED, REJECTED <why>, or
 * PENDING if the put neither resolved nor failed within PENDING_MS.
 */
async function childMain(systemId: string, go: string): Promise<void> {
  const say = (s: string) => void writeSync(1, `${s}\n`);
  const exit = (code: number) => (D ? D.exit(code) : process.exit(code));
  const { systemById } = await import(pathToFileURL(join(REPO, "bench/systems/all.ts")).href);
  const system = systemById(systemId);
  const available = await system.available();
  if (available !== true) {
    say(`UNAVAILABLE ${available}`);
    exit(0);
  }
  const dir = mkdtempSync(join(tmpdir(), "review-bench-eio-"));
  const store = await system.open(dir, { valueBytes: 100 });
  say("OPENED");
  while (!existsSync(go)) await new Promise((r) => setTimeout(r, 5));
  const PENDING_MS = 3000;
  const timer = setTimeout(() => {
    say("PENDING");
    exit(0);
  }, PENDING_MS);
  // A put that fails in the library's own callback may also surface as an unhandled error.
  process.on?.("uncaughtException", (e: unknown) => {
    say(`REJECTED (uncaught) ${String(e).split("\n")[0]}`);
    exit(0);
  });
  process.on?.("unhandledRejection", (e: unknown) => {
    say(`REJECTED (unhandled) ${String(e).split("\n")[0]}`);
    exit(0);
  });
  try {
    const pending = store.put(new Uint8Array(16).fill(3), new Uint8Array(100).fill(7));
    if (pending !== undefined) await pending;
    say("RESOLVED");
  } catch (e) {
    say(`REJECTED ${String(e).split("\n")[0]}`);
  }
  clearTimeout(timer);
  exit(0);
}

if (argv[0] === CHILD_FLAG) {
  await childMain(argv[1], argv[2]);
} else {
  const { runtimeCommand } = await import(pathToFileURL(join(REPO, "scripts/runtimes.mjs")).href);
  const { runtimeName } = await import(pathToFileURL(join(REPO, "runtimes/current.ts")).href);
  const { ALL_SYSTEMS } = await import(pathToFileURL(join(REPO, "bench/systems/all.ts")).href);

  const test = suite("bench: which modes acknowledge after a sync");
  const SYNCS = "fsync,fdatasync,msync,sync_file_range";

  /** Whether strace can attach here (it is on PATH and ptrace is allowed). */
  function straceUsable(): boolean {
    const r = spawnSync("strace", ["-f", "-o", "/dev/null", "true"], { stdio: "ignore" });
    return r.status === 0;
  }

  /** One put by `systemId` in a child of this runtime while every sync of the child fails with EIO. */
  function putWithFailingSyncs(systemId: string): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), "review-bench-go-"));
    const go = join(dir, "go");
    const [cmd, args] = runtimeCommand(runtimeName(), THIS_FILE, [CHILD_FLAG, systemId, go]) as [string, string[]];
    return new Promise((resolve) => {
      const child = spawn(cmd, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      let tracer: ReturnType<typeof spawn> | undefined;
      let closed = false;
      const limit = setTimeout(() => child.kill("SIGKILL"), 60_000);
      child.stderr!.on("data", (c: Buffer) => void (err = (err + c.toString()).slice(-2000)));
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (tracer || !out.includes("OPENED")) return;
        // Attach to every thread of the child (-f with -p), failing its syncs from here on.
        tracer = spawn("strace", ["-f", "-o", "/dev/null", "-e", `trace=${SYNCS}`, "-e", `inject=${SYNCS}:error=EIO`, "-p", String(child.pid)], { stdio: ["ignore", "ignore", "pipe"] });
        tracer.on("error", (e: Error) => void (err += `\nstrace: ${e.message}`));
        let said = "";
        let told = false;
        // Tell the child once. strace still speaks after the child is gone ("Process N
        // detached" when it is killed below, 5 times in 40 here): by then `dir` is removed,
        // and a write of `go` there threw ENOENT out of this handler, which ended the whole
        // test process (CI of stop 39: Node's part "exited 1 without a result").
        tracer.stderr!.on("data", (c: Buffer) => {
          said += c.toString();
          if (closed || told || !said.includes("attached")) return;
          told = true;
          writeFileSync(go, "");
        });
      });
      child.on("close", () => {
        closed = true;
        clearTimeout(limit);
        tracer?.kill();
        rmSync(dir, { recursive: true, force: true });
        const line = out.split("\n").find((l) => /^(RESOLVED|REJECTED|PENDING|UNAVAILABLE)/.test(l));
        resolve(line ?? `NO RESULT (${err.trim().split("\n").slice(-2).join(" | ")})`);
      });
    });
  }

  test("durability: a non-durable mode acknowledges a put while every sync fails, unless its adapter says it waits for one (ackAfterSync: lmdb-put)", async () => {
    if (!straceUsable()) {
      console.log("  (skipped: strace cannot attach here)");
      return;
    }
    const nonDurable = (ALL_SYSTEMS as Array<{ id: string; durability: string; ackAfterSync?: boolean }>).filter((s) => s.durability === "non-durable");
    const outcomes: string[] = [];
    const wrong: string[] = [];
    for (const s of nonDurable) {
      const outcome = await putWithFailingSyncs(s.id);
      outcomes.push(`${s.id}: ${outcome}`);
      if (/^UNAVAILABLE/.test(outcome)) continue;
      const resolved = outcome === "RESOLVED";
      if (resolved === (s.ackAfterSync === true) || /^NO RESULT/.test(outcome)) wrong.push(`${s.id} (ackAfterSync ${s.ackAfterSync === true}): ${outcome}`);
    }
    assert.equal(wrong, [], `non-durable modes whose put under failing syncs disagrees with their adapter (${runtimeName()}):\n  ${outcomes.join("\n  ")}`);
  });




  test.run();
}
