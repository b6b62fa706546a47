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
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type CliHost, type CliIo, runCli } from "../../src/cli/main.ts";
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
async function readStdin(bytesMax: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of process.stdin as AsyncIterable<Uint8Array>) {
    chunks.push(chunk);
    length += chunk.length;
    if (length > bytesMax) break;
  }
  return Buffer.concat(chunks, length);
}

/**
 * Runs the command line with `argv` (the arguments after the program name) and exits with
 * its status. `nodeExecutable` runs the benchmark harness: the running node under Node,
 * else the node npm runs, or node on PATH.
 */
export async function cliMain(platform: Platform, argv: string[], nodeExecutable?: string): Promise<never> {
  // A reader that goes away (`shardline scan db | head`) is not an error.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
  const io: CliIo = {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    isTTY: process.stderr.isTTY === true,
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
    readStdin,
  };
  const node = nodeExecutable ?? (process.env.npm_node_execpath || "node");
  const host: CliHost = { version: packageVersion(), runBench: (args) => runBench(node, args) };
  let code: number;
  try {
    code = await runCli(platform, argv, io, host);
  } catch (error) {
    process.stderr.write(`shardline: ${(error as Error)?.stack ?? error}\n`);
    code = 1;
  }
  // Let buffered output reach its reader before leaving (workers may still be winding down).
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
  process.exit(code);
}
