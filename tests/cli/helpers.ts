/** Shared helpers of the command-line tests: the CLI run in this process with captured output, or as a child, and its JSON. */
import { type CliHost, type CliIo, runCli } from "../../src/cli/main.ts";
import { spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import type { Platform } from "../../src/platform.ts";
import { platform } from "../engine/helpers.ts";

export interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs the command line in this process with captured output. */
export async function cli(argv: string[], io: Partial<CliIo> = {}, host: CliHost = {}): Promise<Ran> {
  return cliOn(platform, argv, io, host);
}

/** The same through another Platform (a wrapper: a power loss, a race staged in one of its calls). */
export async function cliOn(on: Platform, argv: string[], io: Partial<CliIo> = {}, host: CliHost = {}): Promise<Ran> {
  let out = "";
  let err = "";
  const code = await runCli(on, argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), isTTY: false, ...io }, host);
  return { code, out, err };
}

/** Parses JSON output, failing with the output in the message. */
// deno-lint-ignore no-explicit-any
export function json<T = any>(ran: Ran): T {
  try {
    return JSON.parse(ran.out) as T;
  } catch {
    throw new Error(`not JSON (exit ${ran.code}): ${ran.out}\nstderr: ${ran.err}`);
  }
}

/** Runs runtimes/<runtime under test>/cli.ts as a child; its whole stdout and exit code. */
export async function cliChild(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const runtime = runtimeName();
  const entry = new URL(`../../runtimes/${runtime}/cli.ts`, import.meta.url).pathname;
  const child = spawnChild(runtime, entry, args);
  const { code } = await child.waitExit();
  const lines: string[] = [];
  for (;;) {
    try {
      lines.push(await child.nextLine());
    } catch {
      break;
    }
  }
  return { code, out: lines.join("\n"), err: child.stderr() };
}
