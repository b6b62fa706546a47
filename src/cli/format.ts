/**
 * Output helpers of the command line: keys and values as UTF-8 or hex, tables
 * (cli-table3, no colours so output is the same on a terminal and in a pipe), numbers,
 * and the progress bar (cli-progress, on a terminal only, for work that takes a while).
 * cli-progress is loaded by `loadProgressBar()`, which main.ts awaits only for the command
 * that draws a bar (doctor), so that the others do not load it.
 * Threads: the main thread of the command line.
 */
import type { SingleBar } from "cli-progress";
import { terminalSafe } from "./terminal-safe.ts";
import Table from "cli-table3";
import type { CliIo } from "./io.ts";
import { UsageError } from "./io.ts";

export type Encoding = "utf8" | "hex";

// ignoreBOM: a key or value that starts with EF BB BF keeps those bytes (U+FEFF) in its text.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/**
 * The bytes a command-line argument stands for: UTF-8 text, or hex digits with `--hex`.
 * The runtime decodes arguments as UTF-8 and turns bytes that are not into U+FFFD, so text
 * holding U+FFFD is refused: storing EF BF BD for the bytes given would alter them silently.
 * `bytesMax` (KEY_BYTES_MAX, VALUE_BYTES_MAX) is checked here, before the database is opened
 * (or, for put, created).
 */
export function argBytes(text: string, encoding: Encoding, what: string, bytesMax?: number): Uint8Array {
  const bytes = encoding === "utf8" ? utf8ArgBytes(text, what) : hexArgBytes(text, what);
  if (bytesMax !== undefined && bytes.length > bytesMax) {
    const limit = what === "value" ? "VALUE_BYTES_MAX" : "KEY_BYTES_MAX";
    throw new UsageError(`${what} of ${bytes.length} bytes is over ${limit} (${bytesMax} bytes)`);
  }
  return bytes;
}

function utf8ArgBytes(text: string, what: string): Uint8Array {
  if (text.includes("\uFFFD")) {
    throw new UsageError(
      `${what} ${JSON.stringify(text)} holds U+FFFD, the replacement character: the bytes given were not UTF-8 (or it was typed), and it would be stored as EF BF BD`,
      "give keys and values that are not UTF-8 text as hex digits with --hex",
    );
  }
  return encoder.encode(text);
}

function hexArgBytes(text: string, what: string): Uint8Array {
  const digits = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) {
    throw new UsageError(`${what} ${JSON.stringify(text)} is not hex`, "with --hex, keys and values are written as pairs of hex digits, e.g. 6b6579 for \"key\"");
  }
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Bytes as text: hex with `--hex`; otherwise UTF-8, or undefined when they are not valid UTF-8. */
function asText(bytes: Uint8Array, encoding: Encoding): string | undefined {
  if (encoding === "hex") return toHex(bytes);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Bytes for JSON output: `{ text, hex }` where `hex` is true when `text` is hex digits
 * (`--hex`, or bytes that are not valid UTF-8).
 */
export function jsonBytes(bytes: Uint8Array, encoding: Encoding): { text: string; hex: boolean } {
  const text = asText(bytes, encoding);
  return text === undefined ? { text: toHex(bytes), hex: true } : { text, hex: encoding === "hex" };
}

/**
 * Sets `obj[field]` to the bytes as text, and `obj[field + "Encoding"] = "hex"` when the
 * text is hex although UTF-8 was asked for (the bytes are not valid UTF-8).
 */
export function putBytes(obj: Record<string, unknown>, field: string, bytes: Uint8Array, encoding: Encoding): void {
  const { text, hex } = jsonBytes(bytes, encoding);
  obj[field] = text;
  if (hex && encoding === "utf8") obj[`${field}Encoding`] = "hex";
}

/** Longest key or value shown in a table cell, in characters; JSON output is never cut. */
export const CELL_CHARS_MAX = 120;

/**
 * Bytes for a table cell: text with its control characters escaped (terminalSafe), or
 * `hex:...` when not UTF-8, cut at CELL_CHARS_MAX.
 */
export function cellBytes(bytes: Uint8Array, encoding: Encoding): string {
  const text = asText(bytes, encoding);
  const shown = text === undefined ? `hex:${toHex(bytes)}` : terminalSafe(text);
  const chars = Array.from(shown);
  if (chars.length <= CELL_CHARS_MAX) return shown;
  return `${chars.slice(0, CELL_CHARS_MAX).join("")}… (${bytes.length} bytes)`;
}

type Cell = string | number | bigint | boolean | null | undefined;

/** A table with a header row, as text ending in a newline. */
export function table(head: string[], rows: Cell[][]): string {
  const t = new Table({ head, style: { head: [], border: [], compact: true } });
  for (const row of rows) t.push(row.map((c) => (c === undefined || c === null ? "" : String(c))));
  return `${t.toString()}\n`;
}

/**
 * Rows written as tables of about `rowsMax` rows each, as they come: a command prints what
 * it reads without holding all of it (scan, wal dump). `add` takes the rows of one item
 * (a record's operations stay in one table); `end` writes what is left.
 */
export class TablePager {
  #rows: Cell[][] = [];

  constructor(private readonly write: (text: string) => void, private readonly head: string[], private readonly rowsMax: number) {}

  add(rows: Cell[][]): void {
    for (const row of rows) this.#rows.push(row);
    if (this.#rows.length >= this.rowsMax) this.end();
  }

  end(): void {
    if (this.#rows.length > 0) this.write(table(this.head, this.#rows));
    this.#rows = [];
  }
}

/** A two-column name/value table, as text ending in a newline. */
export function fields(pairs: Array<[string, Cell]>): string {
  const t = new Table({ style: { head: [], border: [], compact: true } });
  // Each value is one line: its control characters escaped (terminalSafe leaves text it
  // already escaped as it is), whatever it holds (a directory's name, an error's message).
  for (const [name, value] of pairs) t.push({ [name]: value === undefined || value === null ? "" : terminalSafe(String(value)) });
  return `${t.toString()}\n`;
}

/** A byte count as "12.3 MiB" (exact below 1 KiB). */
export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let unit = "B";
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  return `${v.toFixed(1)} ${unit}`;
}

/** Progress of work measured in bytes; draws on a terminal only, and only once the work has taken a while. */
export interface Progress {
  /** Adds `bytes` to the work done; `step` names what is being done now. */
  advance(bytes: number, step: string): void;
  /** Removes the bar (if one was drawn). */
  stop(): void;
}

const NO_PROGRESS: Progress = { advance() {}, stop() {} };

let cliProgress: typeof import("cli-progress") | undefined;

/** Loads cli-progress, which `progress()` draws with: await it before running a command that shows progress. */
export async function loadProgressBar(): Promise<void> {
  cliProgress ??= (await import("cli-progress")).default;
}

export function progress(io: CliIo, totalBytes: number, enabled: boolean): Progress {
  if (!enabled || !io.isTTY || totalBytes <= 0) return NO_PROGRESS;
  const bars = cliProgress;
  if (!bars) throw new Error("progress(): cli-progress is not loaded (await loadProgressBar() before the command runs)");
  const started = Date.now();
  const after = io.progressAfterMs ?? 250;
  let done = 0;
  let bar: SingleBar | undefined;
  // cli-progress writes escape sequences to a stream; ours goes to io.stderr.
  const stream = {
    isTTY: true,
    columns: io.columns ?? 80,
    write(text: string, callback?: () => void): boolean {
      io.stderr(text);
      callback?.();
      return true;
    },
  };
  return {
    advance(bytes, step) {
      done += bytes;
      if (!bar && Date.now() - started >= after) {
        bar = new bars.SingleBar({
          stream: stream as unknown as NodeJS.WritableStream,
          format: "{bar} {percentage}% | {doneText} of {totalText} | {step}",
          clearOnComplete: true,
          hideCursor: false,
          etaBuffer: 50,
        }, bars.Presets.shades_classic);
        bar.start(totalBytes, 0, { step: terminalSafe(step), doneText: bytesText(0), totalText: bytesText(totalBytes) });
      }
      bar?.update(Math.min(done, totalBytes), { step: terminalSafe(step), doneText: bytesText(done), totalText: bytesText(totalBytes) });
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
