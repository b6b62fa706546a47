/**
 * Test harness: a child process of any of the three runtimes running a .ts file, with its
 * stdout read line by line, input written to its stdin, and SIGKILL on demand. The
 * command line comes from scripts/runtimes.mjs, the same one `npm test` uses.
 *
 * Invariants: `nextLine` rejects (never hangs) when the child exits first or when its
 * generous safety timeout passes; `exited` settles once with the exit code or signal.
 * Threads: main test thread.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import process from "node:process";
import type { RuntimeName } from "../../src/platform.ts";
// @ts-ignore: plain .mjs without types
import { repoDir, runtimeCommand } from "../../scripts/runtimes.mjs";

/** Only to avoid hanging forever when a child misbehaves; no test depends on it. */
const SAFETY_TIMEOUT_MS = 30_000;

export interface Child {
  readonly runtime: RuntimeName;
  readonly pid: number;
  /** Resolves with the next stdout line (without the newline). */
  nextLine(): Promise<string>;
  /** Reads lines until one equals `line`; rejects if the child ends first. */
  waitFor(line: string): Promise<void>;
  /** Writes one line to the child's stdin. */
  send(line: string): void;
  kill(signal?: "SIGKILL" | "SIGTERM"): void;
  /** Settles when the child is gone: its exit code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Like `exited`, but rejects if the child is still running after the safety timeout. */
  waitExit(): Promise<{ code: number | null; signal: string | null }>;
  /** Everything the child wrote to stderr so far, for failure messages. */
  stderr(): string;
}

export interface SpawnOptions {
  /** Working directory; the repository by default. */
  cwd?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

export function spawnChild(runtime: RuntimeName, entry: string, args: string[] = [], options: SpawnOptions = {}): Child {
  const [cmd, argv] = runtimeCommand(runtime, entry, args) as [string, string[]];
  const proc: ChildProcess = spawn(cmd, argv, {
    cwd: options.cwd ?? repoDir,
    env: options.env ? { ...process.env, ...options.env } : process.env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: Array<{ resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  let partial = "";
  let errText = "";
  let ended: Error | undefined;

  proc.stdout!.setEncoding("utf8");
  proc.stdout!.on("data", (chunk: string) => {
    partial += chunk;
    let i: number;
    while ((i = partial.indexOf("\n")) >= 0) {
      const line = partial.slice(0, i);
      partial = partial.slice(i + 1);
      const waiter = waiters.shift();
      if (waiter) waiter.resolve(line);
      else lines.push(line);
    }
  });
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (chunk: string) => void (errText = (errText + chunk).slice(-8192)));
  proc.stdin!.on("error", () => {}); // a child that already exited may close its stdin first

  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    const finish = (code: number | null, signal: string | null) => {
      ended = new Error(`${runtime} child ${entry} ended (code ${code}, signal ${signal}) stderr: ${errText}`);
      for (const w of waiters.splice(0)) w.reject(ended);
      resolve({ code, signal });
    };
    proc.on("close", finish);
    proc.on("error", (error) => {
      ended = error;
      for (const w of waiters.splice(0)) w.reject(error);
      resolve({ code: null, signal: null });
    });
  });

  const nextLine = () => {
    const line = lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (ended) return Promise.reject(ended);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = waiters.findIndex((w) => w.resolve === done);
        if (i >= 0) waiters.splice(i, 1);
        reject(new Error(`${runtime} child ${entry}: no output line within ${SAFETY_TIMEOUT_MS} ms; stderr: ${errText}`));
      }, SAFETY_TIMEOUT_MS);
      const done = (l: string) => {
        clearTimeout(timer);
        resolve(l);
      };
      waiters.push({ resolve: done, reject: (e) => (clearTimeout(timer), reject(e)) });
    });
  };

  return {
    runtime,
    pid: proc.pid ?? -1,
    nextLine,
    async waitFor(expected) {
      for (;;) if ((await nextLine()) === expected) return;
    },
    send: (line) => void proc.stdin!.write(`${line}\n`),
    kill: (signal = "SIGKILL") => void proc.kill(signal),
    exited,
    waitExit() {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const guard = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${runtime} child ${entry} still running after ${SAFETY_TIMEOUT_MS} ms; stderr: ${errText}`)),
          SAFETY_TIMEOUT_MS,
        );
      });
      return Promise.race([exited, guard]).finally(() => clearTimeout(timer));
    },
    stderr: () => errText,
  };
}

/** The child's remaining stdout lines, until it is gone (every line it printed before is delivered first). */
export async function* linesUntilExit(child: Child): AsyncGenerator<string> {
  for (;;) {
    let line: string;
    try {
      line = await child.nextLine();
    } catch {
      return;
    }
    yield line;
  }
}
