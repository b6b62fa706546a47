/**
 * The part of the `shardline` command line only a runtime's entry point can do, shared by
 * runtimes/{node,bun,deno}/cli.ts (all three have node:process and node:child_process):
 * standard output, error and input, the terminal, the package version, running the benchmark
 * harness as a child (`node scripts/bench.mjs ...`, stdio inherited), and the exit status.
 *
 * Paths: this file sits two levels below the package root both as a source
 * (runtimes/common/cli-host.ts) and bundled (dist/node/cli.js), so the root is "../../".
 * Threads: the main thread.
 */
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createReadStream, existsSync, fstatSync, openSync, readFileSync } from "node:fs";
import { Socket } from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type CliHost, type CliIo, OutputClosedError, runCli } from "../../src/cli/main.ts";
import type { Platform } from "../../src/platform.ts";

const packageRoot = new URL("../../", import.meta.url);

function packageVersion(): string | undefined {
  try {
    return JSON.parse(readFileSync(new URL("package.json", packageRoot), "utf8")).version;
  } catch {
    return undefined;
  }
}

/** `node scripts/bench.mjs <args>` with the terminal handed over; resolves with its exit status. */
function runBench(nodeExecutable: string, args: string[]): Promise<number> {
  const script = fileURLToPath(new URL("scripts/bench.mjs", packageRoot));
  if (!existsSync(script)) {
    process.stderr.write(`shardline bench: ${script} is missing: the benchmark harness ships with a source checkout of shardline, not with the package\n`);
    return Promise.resolve(1);
  }
  return new Promise((resolve) => {
    const child = spawn(nodeExecutable, [script, ...args], { stdio: "inherit" });
    child.on("error", (error) => {
      process.stderr.write(`shardline bench: could not start ${nodeExecutable}: ${error.message}\n`);
      resolve(1);
    });
    child.on("close", (code, signal) => resolve(code ?? (signal ? 128 + 2 : 1)));
  });
}

/** Standard input to its end, or its first chunks once they hold more than `bytesMax` bytes. */
function readStdin(bytesMax: number): Promise<Uint8Array> {
  return readBounded(process.stdin as AsyncIterable<Uint8Array>, bytesMax);
}

/**
 * A pipe or device named by a path (`<(producer)`, a FIFO, /dev/stdin), read as readStdin
 * reads. Under Node a pipe goes through a socket handle (reads that wait in the event
 * loop): a file stream's read waits in a thread of the pool, and the exit then waited for
 * it until the pipe's writer closed it (review, 2026-12-06). A device never makes a read
 * wait so.
 */
async function readStream(path: string, bytesMax: number): Promise<Uint8Array> {
  const fd = openSync(path, "r");
  const kind = fstatSync(fd);
  // Node only: Bun's Socket reads nothing from such a descriptor and Deno's refuses it
  // (EEXIST), and the exit of neither waits for their file stream's pending read. Asked of
  // the runtime itself, not the Platform: bin/shardline.mjs runs the Node bundle in any.
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  const pipe = g.Bun === undefined && g.Deno === undefined && (kind.isFIFO() || kind.isSocket());
  const stream = pipe ? new Socket({ fd, readable: true, writable: false }) : createReadStream(path, { fd, highWaterMark: 64 * 1024 });
  try {
    return await readBounded(stream as AsyncIterable<Uint8Array>, bytesMax);
  } finally {
    stream.destroy(); // not awaited (readBounded)
  }
}

/**
 * Chunks until the end or past `bytesMax`. Not `for await ... break`: its return() waits for
 * the stream's close, which waits for a read still pending on a pipe whose writer neither
 * writes nor closes, so the command hung past the limit (review, 2026-12-06). The caller
 * destroys the stream and the process exits without waiting for that read.
 */
async function readBounded(source: AsyncIterable<Uint8Array>, bytesMax: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const it = source[Symbol.asyncIterator]();
  while (length <= bytesMax) {
    const next = await it.next();
    if (next.done) break;
    chunks.push(next.value);
    length += next.value.length;
  }
  return Buffer.concat(chunks, length);
}

/**
 * Runs the command line with `argv` (the arguments after the program name) and exits with
 * its status. `nodeExecutable` runs the benchmark harness: the running node under Node,
 * else the node npm runs, or node on PATH.
 */
export async function cliMain(platform: Platform, argv: string[], nodeExecutable?: string): Promise<never> {
  // A reader that goes away (`shardline scan db | head`): later output is dropped, a
  // listing stops (drained rejects with OutputClosedError: exit 0), and any other command
  // runs to its end and exits with its own status. Exiting 0 at once hid a failure, such as
  // doctor's errors found (review, 2026-12-06).
  let readerGone = false;
  const onReaderGone: Array<() => void> = [];
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    readerGone = true;
    for (const wake of onReaderGone.splice(0)) wake();
  });
  // Diagnostics nobody reads are lost; the exit status is not (an unhandled EPIPE on
  // standard error exited 1 in place of the command's status).
  process.stderr.on("error", () => {});
  // Each stream's last write, settled once written out. Waiting for an empty write instead
  // did not: Bun calls its callback at once, with earlier chunks still queued, and the exit
  // below cut output to a slow reader at 64 KiB (review, 2026-12-06).
  let stdoutWritten: Promise<void> = Promise.resolve();
  let stderrWritten: Promise<void> = Promise.resolve();
  const io: CliIo = {
    stdout: (text) => {
      if (text.length > 0 && !readerGone) stdoutWritten = new Promise<void>((resolve) => void process.stdout.write(text, () => resolve()));
    },
    stderr: (text) => {
      if (text.length > 0) stderrWritten = new Promise<void>((resolve) => void process.stderr.write(text, () => resolve()));
    },
    drained: () => {
      if (readerGone) return Promise.reject(new OutputClosedError());
      if (!process.stdout.writableNeedDrain) return undefined;
      return new Promise<void>((resolve, reject) => {
        process.stdout.once("drain", () => resolve());
        onReaderGone.push(() => reject(new OutputClosedError()));
      });
    },
    isTTY: process.stderr.isTTY === true,
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
    readStdin,
    readStream,
  };
  const node = nodeExecutable ?? (process.env.npm_node_execpath || "node");
  const host: CliHost = { version: packageVersion(), runBench: (args) => runBench(node, args) };
  let code: number;
  try {
    code = await runCli(platform, argv, io, host);
  } catch (error) {
    io.stderr(`shardline: ${(error as Error)?.stack ?? error}\n`);
    code = 1;
  }
  // Let buffered output reach its reader before leaving (workers may still be winding down).
  await stdoutWritten;
  await stderrWritten;
  process.exit(code);
}
