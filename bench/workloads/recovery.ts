/**
 * Recovery time for a log of recoveryLogBytes (256 MiB in a full run): a child process of
 * this runtime (bench/harness/recovery-writer.ts) writes it, makes it durable and is
 * killed with SIGKILL; then each round copies that directory and times reopening it in a
 * fresh child process (bench/harness/recovery-reader.ts: a process restarting after a crash
 * is a fresh one; modules are loaded before its clock starts):
 * - with the engine: `open(dir)` (replays the log into memtables) and a get of the first
 *   key written;
 * - until the engine's open() exists: the write-ahead log on its own, `openLog(dir)`
 *   (finds the valid end) plus reading every record back (what replay will read), and
 *   the open alone in `extra.openMs`. The result's `variant` says which was measured;
 * - a peer with a log (System.crashRecovery: SQLite's WAL with automatic checkpoints off,
 *   LevelDB's log with its largest write buffer): the same keys and values written by the
 *   child in the peer's transactions until its log holds as many bytes, then its reopen
 *   and a read of the first key written. Each log holds a different number of puts for
 *   the same bytes (SQLite logs whole pages), so the row gives both; the rate, and so
 *   the ratio, is records recovered per second.
 * The copy sits in the page cache (it was just written), so this is recovery with a warm
 * cache. A recovery whose warm-up round took over SLOW_RECOVERY_MS is measured once more,
 * not `rounds` times. The peers without a log are listed with the reason.
 * Threads: the harness's main thread, plus the writer process it starts and kills and a
 * reader process a round.
 */
import { spawn } from "node:child_process";
import { cpSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
// @ts-ignore: plain .mjs without types
import { runtimeCommand } from "../../scripts/runtimes.mjs";
import { runtimeName } from "../../runtimes/current.ts";
import { type Figures, type Round, summarize } from "../harness/measure.ts";
import type { Sizes } from "../harness/sizes.ts";
import { median } from "../lib/timing.ts";
import { loadEngine, loadWal } from "../systems/shardline.ts";
import { type System, Unsupported } from "../systems/system.ts";
import { isRepresentative, type Job, type JobContext, type Participation } from "./workload.ts";

const WRITER = fileURLToPath(new URL("../harness/recovery-writer.ts", import.meta.url));
const READER = fileURLToPath(new URL("../harness/recovery-reader.ts", import.meta.url));
/** How long the writer, or a reader, may take before it is killed. */
const CHILD_LIMIT_MS = 300_000;
/** A recovery slower than this (its warm-up round) is measured in one round, not `rounds`. */
const SLOW_RECOVERY_MS = 10_000;

const PEER_REASONS: Record<string, string> = {
  lmdb: "no log to replay: LMDB's copy-on-write B+tree is consistent at every commit, so opening takes the same time however much was written",
  "deno-kv": "not measured: Deno KV keeps its data in SQLite (see the SQLite row), and its API has no setting that lets the WAL grow to this size",
};

function participation(system: System): Participation {
  if (system.id === "shardline-async") return { run: true, comparable: true, evenIfUnavailable: true };
  if (system.family !== "shardline" && system.crashRecovery !== undefined) return { run: true, comparable: true };
  if (system.family !== "shardline" && isRepresentative(system)) {
    return { run: false, reason: PEER_REASONS[system.family] ?? "no comparable recovery" };
  }
  return undefined;
}

interface Written {
  kind: "engine" | "wal" | "peer";
  records: number;
  logBytes: number;
  dirBytes: number;
  note?: string;
}

interface ChildEnd {
  out: string;
  /** The last 4,000 characters of its stderr. */
  err: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs `script` in a child process of this runtime until it ends, collecting its output;
 * kills it with SIGKILL once `killWhen(stdout so far)` is true, or after CHILD_LIMIT_MS.
 */
function runChild(script: string, args: string[], killWhen: (out: string) => boolean = () => false): Promise<ChildEnd> {
  const [cmd, argv] = runtimeCommand(runtimeName(), script, args) as [string, string[]];
  const child = spawn(cmd, argv, { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise<ChildEnd>((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), CHILD_LIMIT_MS);
    child.stdout!.setEncoding("utf8");
    child.stderr!.setEncoding("utf8");
    child.stderr!.on("data", (chunk: string) => void (err = (err + chunk).slice(-4000)));
    child.stdout!.on("data", (chunk: string) => {
      out += chunk;
      if (killWhen(out)) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ out, err, code, signal });
    });
  });
}

const lastLines = (end: ChildEnd) => end.err.trim().split("\n").slice(-3).join(" | ");
const READY = /SHARDLINE-RECOVERY-READY (\{.*\})\n/;
const OPENED = /SHARDLINE-RECOVERY-OPENED (\{.*\})\n/;

/** Runs the writer until it reports READY, then kills it with SIGKILL. */
async function writeAndKill(kind: Written["kind"], dir: string, bytes: number, systemId?: string): Promise<Written> {
  const end = await runChild(WRITER, [kind, dir, String(bytes), ...(systemId ? [systemId] : [])], (out) => READY.test(out));
  const m = READY.exec(end.out);
  if (m && end.signal === "SIGKILL") return JSON.parse(m[1]);
  throw new Error(`the recovery writer ended (code ${end.code}, signal ${end.signal}) before it was ready: ${lastLines(end)}`);
}

/**
 * Reopens the copy `dir` in a fresh child process (bench/harness/recovery-reader.ts), as a
 * process restarting after the crash would, and returns what it timed there.
 */
async function reopenInChild(kind: Written["kind"], dir: string, valueBytes: number, records: number, systemId: string): Promise<{ ms: number; openMs?: number }> {
  const end = await runChild(READER, [kind, dir, String(valueBytes), String(records), systemId]);
  const m = OPENED.exec(end.out);
  if (m && end.code === 0) return JSON.parse(m[1]);
  throw new Error(`the recovery reader ended (code ${end.code}, signal ${end.signal}) without a result: ${lastLines(end)}`);
}

async function recover(ctx: JobContext, sizes: Sizes, system: System): Promise<Figures> {
  let kind: Written["kind"] = "peer";
  if (system.family === "shardline") {
    const engine = await loadEngine();
    const wal = await loadWal();
    if (typeof engine === "string" && typeof wal === "string") throw new Unsupported(`${engine}; ${wal}`);
    kind = typeof engine === "string" ? "wal" : "engine";
  }
  const pristine = ctx.freshDir();
  try {
    const written = await writeAndKill(kind, join(pristine, "db"), sizes.recoveryLogBytes, kind === "peer" ? system.id : undefined);
    const rounds: Round[] = [];
    const opens: number[] = [];
    let last = sizes.rounds;
    for (let r = sizes.warmup ? -1 : 0; r < last; r++) {
      const dir = ctx.freshDir();
      try {
        cpSync(join(pristine, "db"), join(dir, "db"), { recursive: true });
        const timed = await reopenInChild(kind, join(dir, "db"), sizes.valueBytes, written.records, system.id);
        if (r < 0) {
          if (timed.ms > SLOW_RECOVERY_MS) last = 1;
          continue; // warm-up
        }
        rounds.push({ ms: timed.ms, ops: written.records, capped: false });
        if (timed.openMs !== undefined) opens.push(timed.openMs);
      } finally {
        ctx.removeDir(dir);
      }
    }
    const figures = summarize(rounds, written.records);
    const recoveryMs = (figures.nsPerOp * written.records) / 1e6;
    figures.extra = {
      recoveryMs,
      logBytes: written.logBytes,
      dirBytes: written.dirBytes,
      records: written.records,
      mbPerSecond: written.logBytes / (1 << 20) / (recoveryMs / 1000),
    };
    if (opens.length > 0) figures.extra.openMs = median(opens);
    figures.variant = kind === "engine"
      ? `engine: open() after kill -9${written.note ? ` (${written.note})` : ""}`
      : kind === "wal"
      ? "WAL only: openLog() and reading every record, after kill -9 (the engine's open() is not available yet)"
      : system.crashRecovery!.mode;
    return figures;
  } finally {
    ctx.removeDir(pristine);
  }
}

export function recoveryJob(sizes: Sizes): Job {
  const mib = sizes.recoveryLogBytes / (1 << 20);
  return {
    id: "recovery",
    workloads: [{
      id: "recovery",
      group: "recovery",
      title: `recovery of a ${mib} MiB log after kill -9`,
      short: `recover ${mib} MiB`,
      unit: "record",
      latency: "none",
      durability: "n/a",
      count: 0,
      valueBytes: sizes.valueBytes,
      description: `a ${mib} MiB log of 16-byte keys with 100-byte values, written by a process killed with SIGKILL once it was durable, reopened from a warm page cache`,
    }],
    participation,
    run: async (ctx, system) => ({ recovery: await recover(ctx, sizes, system) }),
  };
}
