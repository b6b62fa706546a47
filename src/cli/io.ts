/**
 * The command line's connection to the outside world, so that every command runs the same
 * in memory (tests capture the output) and from a runtime's entry point (runtimes/<rt>/cli.ts).
 *
 * Exit statuses: 0 success (for `doctor`: no errors found), 1 failure (for `doctor`: errors
 * found; for `get`: no such key), 2 usage error (unknown command or flag, bad argument).
 * Threads: the main thread of the command line.
 */
import type { Platform } from "../platform.ts";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Default for `--wait`: how long a command waits for the directory lock, ms (the engine's default). */
export const LOCK_WAIT_MS_DEFAULT = 1000;

/** Where a command writes, and what it knows about the terminal. */
export interface CliIo {
  /** Writes to standard output (text as given; commands end their lines with "\n"). */
  stdout(text: string): void;
  /** Writes to standard error. */
  stderr(text: string): void;
  /**
   * A promise while standard output holds more than it wants buffered (a slow reader):
   * commands that print as they read await it between rows, so output streams in bounded
   * memory. Undefined when it can take more now, or where there is no stream (tests).
   * Rejects with OutputClosedError once the reader of standard output went away, so that
   * a listing stops there (`shardline scan db | head`): a success.
   */
  drained?(): Promise<void> | undefined;
  /** Standard error is a terminal: progress bars may be drawn there. */
  isTTY: boolean;
  /** Terminal width, for help text; 80 when unknown. */
  columns?: number;
  /**
   * Work that takes longer than this shows a progress bar (when `isTTY`); default 250 ms.
   * Tests pass 0 to see the bar drawn at once.
   */
  progressAfterMs?: number;
  /**
   * Reads standard input to its end, or until more than `bytesMax` bytes came (it then
   * returns what it read, longer than `bytesMax`, so the caller can refuse it). Absent
   * where the command line has no standard input (tests running it in memory).
   */
  readStdin?(bytesMax: number): Promise<Uint8Array>;
  /** The same for a pipe or device named by `path` (a FIFO, `<(producer)`, /dev/stdin). */
  readStream?(path: string, bytesMax: number): Promise<Uint8Array>;
}

/**
 * Standard output's reader went away (EPIPE): a command that prints as it reads stops, with
 * exit status 0 (runCli). A command that does not (doctor, get) runs to its end, its output
 * dropped, and exits with its own status: a closed pipe never hides a failure.
 */
export class OutputClosedError extends Error {
  constructor() {
    super("standard output was closed by its reader");
    this.name = "OutputClosedError";
  }
}

/** What only the runtime's entry point can do for the command line. */
export interface CliHost {
  /** The package's version, for `--version`. */
  version?: string;
  /**
   * Runs the benchmark harness (`node scripts/bench.mjs <args>`, output straight to the
   * terminal) and resolves with its exit status. Absent where there is none to run.
   */
  runBench?(args: string[]): Promise<number>;
}

/** Everything a command needs. */
export interface CliContext {
  platform: Platform;
  io: CliIo;
  host: CliHost;
}

/** An error the command line reports as it is (message, then a hint), with an exit status. */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
    /** What to do about it, printed on its own line. */
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** A bad argument or flag value: exit status 2. */
export class UsageError extends CliError {
  override name = "UsageError";
  constructor(message: string, hint?: string) {
    super(message, EXIT_USAGE, hint);
  }
}

/** JSON text with bigints as decimal strings, two-space indented, and a final newline. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`;
}

/**
 * A JSON array written item by item, as the same text toJson gives the whole array when it
 * stands `indent` spaces deep (0: the document; 2: a field of the top object): a command
 * prints what it reads as it reads it instead of holding all of it (scan, wal dump).
 *
 *   const out = new JsonArrayWriter(write, 2); write(`{\n  "records": `); out.item(r); ...; out.end();
 */
export class JsonArrayWriter {
  count = 0;
  readonly #pad: string;

  constructor(private readonly write: (text: string) => void, indent = 0) {
    this.#pad = " ".repeat(indent + 2);
    write("[");
  }

  item(value: unknown): void {
    this.write(`${this.count === 0 ? "\n" : ",\n"}${toJson(value).trimEnd().replace(/^/gm, this.#pad)}`);
    this.count++;
  }

  /** Closes the array (no newline after it). */
  end(): void {
    this.write(this.count === 0 ? "]" : `\n${this.#pad.slice(2)}]`);
  }
}
