/** Shared helpers of the command-line tests: the CLI run in this process with captured output, and its JSON. */
import { type CliHost, type CliIo, runCli } from "../../src/cli/main.ts";
import { platform } from "../engine/helpers.ts";

export interface Ran {
  code: number;
  out: string;
  err: string;
}

/** Runs the command line in this process with captured output. */
export async function cli(argv: string[], io: Partial<CliIo> = {}, host: CliHost = {}): Promise<Ran> {
  let out = "";
  let err = "";
  const code = await runCli(platform, argv, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), isTTY: false, ...io }, host);
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
