/**
 * The `shardline` command line: parses the arguments (commander) and runs one command.
 *
 *   runCli(platform, argv, io, host) -> exit status
 *
 * `argv` is the arguments after the program name. Nothing here touches the runtime: output
 * goes through `io`, the file system through `platform`, and what only a runtime's entry
 * point can do (running the benchmark harness) through `host`. The entry points are
 * runtimes/<rt>/cli.ts; bin/shardline.mjs runs the Node bundle of one (dist/node/cli.js).
 *
 * Commands: doctor, stats, get, put, delete, scan, wal dump, bench (docs/CLI.md).
 * Start-up: this module loads commander and nothing else. The commands (./commands.ts, and
 * with them the engine and cli-table3) are imported when a command runs, and cli-progress
 * only for doctor, so `shardline --help` and usage errors load none of them.
 * Exit statuses: 0 success, 1 failure (doctor: errors found; get: no such key), 2 usage.
 * Threads: the main thread; one call at a time per `io`.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { Platform } from "../platform.ts";
import type { CliContext, CliHost, CliIo } from "./io.ts";
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, LOCK_WAIT_MS_DEFAULT, OutputClosedError, UsageError } from "./io.ts";
import { terminalSafe } from "./terminal-safe.ts";

export type { CliHost, CliIo } from "./io.ts";
export { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, OutputClosedError } from "./io.ts";

function integerOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (text: string): number => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer from ${min}${max === Number.MAX_SAFE_INTEGER ? " up" : ` to ${max}`}.`);
    }
    return n;
  };
}

const waitOption = () =>
  new Option("--wait <ms>", "how long to wait for the directory lock if another program has the database open")
    .argParser(integerOption("--wait", 0, 3_600_000))
    .default(LOCK_WAIT_MS_DEFAULT);
const jsonOption = () => new Option("--json", "print JSON (for scripts) instead of tables; 64-bit numbers as strings");
const hexOption = () => new Option("--hex", "keys and values are hex digits (in arguments and in output) instead of UTF-8 text");

const EXIT_TEXT = `
Exit status: 0 success, 1 failure, 2 usage error.`;

function buildProgram(ctx: CliContext, done: (command: string, code: number) => void): Command {
  const { io, host } = ctx;
  const program = new Command("shardline");
  program
    .description("Inspect, check, repair and query a shardline database directory.")
    .configureOutput({
      writeOut: (text) => io.stdout(text),
      writeErr: (text) => io.stderr(text),
      outputError: (text, write) => write(`shardline: ${text.replace(/^error: /, "")}`),
      getOutHelpWidth: () => io.columns ?? 80,
      getErrHelpWidth: () => io.columns ?? 80,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
    })
    .exitOverride()
    .showHelpAfterError("(add --help for usage)")
    .enablePositionalOptions()
    .addHelpText("after", `
Examples:
  shardline doctor ./data              check every checksum, the manifest and the lock
  shardline doctor --repair ./data     fix what a normal open fixes (torn log tails, orphans)
  shardline stats ./data --json        the database's statistics as JSON
  shardline put ./data user:1 alice    write a key (creates the database if there is none)
  shardline put ./data img:1 --value-file photo.jpg   a value from a file's bytes (- for stdin)
  shardline scan ./data --prefix user: --limit 10
  shardline wal dump ./data --limit 20
${EXIT_TEXT} See docs/CLI.md.`);
  if (host.version) program.version(host.version, "-V, --version", "print the version");

  program
    .command("doctor")
    .description("Check a database without opening it: every log record, every table block checksum, the manifest and the lock. Changes nothing unless --repair.")
    .argument("<dir>", "database directory")
    .addOption(jsonOption())
    .option("--repair", "fix what a normal open fixes (cut torn log tails, delete orphan table files and stale lock files), then check again; refused while another program has the database open")
    .option("--salvage", "with --repair: also cut a log at corruption in its middle, as open({ salvage: true }) does (the records after the cut are lost to the database; the cut bytes and later segments are kept in <log>/corrupt/)")
    .addHelpText("after", `
Findings have a severity: ok, warning (what a normal open tidies up, or worth knowing), error (damage).
Exit status: 0 no errors found (warnings allowed), 1 errors found (or the repair was refused or failed), 2 usage error.`)
    .action(async (dir: string, o: { json?: boolean; repair?: boolean; salvage?: boolean }) => {
      if (o.salvage && !o.repair) throw new UsageError("--salvage only goes with --repair");
      const { doctorCommand, loadProgressBar } = await import("./commands.ts");
      await loadProgressBar(); // the only command that draws a progress bar
      done("doctor", await doctorCommand(ctx, dir, o));
    });

  program
    .command("stats")
    .description("Open the database (recovering it, as every open does) and print its statistics.")
    .argument("<dir>", "database directory")
    .addOption(jsonOption())
    .addOption(waitOption())
    .addHelpText("after", EXIT_TEXT)
    .action(async (dir: string, o: { json?: boolean; wait: number }) => {
      const { statsCommand } = await import("./commands.ts");
      done("stats", await statsCommand(ctx, dir, o));
    });

  program
    .command("get")
    .description("Print the value of a key.")
    .argument("<dir>", "database directory")
    .argument("<key>", "the key (UTF-8 text, or hex digits with --hex)")
    .addOption(hexOption())
    .addOption(jsonOption())
    .addOption(waitOption())
    .addHelpText("after", `
Exit status: 0 found, 1 not found (or failure), 2 usage error.`)
    .action(async (dir: string, key: string, o: { json?: boolean; hex?: boolean; wait: number }) => {
      const { getCommand } = await import("./commands.ts");
      done("get", await getCommand(ctx, dir, key, o));
    });

  program
    .command("put")
    .description("Write a key and its value, durably. Creates the database if the directory holds none.")
    .argument("<dir>", "database directory")
    .argument("<key>", "the key (UTF-8 text, or hex digits with --hex)")
    .argument("[value]", "the value (UTF-8 text, or hex digits with --hex); or give --value-file")
    .option("--value-file <path>", "the value is this file's bytes, as they are (- reads standard input); for values too large for an argument, or binary")
    .addOption(hexOption())
    .addOption(jsonOption())
    .addOption(waitOption())
    .addHelpText("after", EXIT_TEXT)
    .action(async (dir: string, key: string, value: string | undefined, o: { json?: boolean; hex?: boolean; wait: number; valueFile?: string }) => {
      const { putCommand } = await import("./commands.ts");
      done("put", await putCommand(ctx, dir, key, value, o));
    });

  program
    .command("delete")
    .description("Delete a key, durably (deleting a key that is not there is not an error).")
    .argument("<dir>", "database directory")
    .argument("<key>", "the key (UTF-8 text, or hex digits with --hex)")
    .addOption(hexOption())
    .addOption(jsonOption())
    .addOption(waitOption())
    .addHelpText("after", EXIT_TEXT)
    .action(async (dir: string, key: string, o: { json?: boolean; hex?: boolean; wait: number }) => {
      const { deleteCommand } = await import("./commands.ts");
      done("delete", await deleteCommand(ctx, dir, key, o));
    });

  program
    .command("scan")
    .description("Print keys and values in key order (all of them, or a range).")
    .argument("<dir>", "database directory")
    .option("--prefix <p>", "only keys starting with p")
    .option("--gte <k>", "only keys >= k")
    .option("--gt <k>", "only keys > k")
    .option("--lte <k>", "only keys <= k")
    .option("--lt <k>", "only keys < k")
    .addOption(new Option("--limit <n>", "at most n rows").argParser(integerOption("--limit", 0)))
    .option("--reverse", "in descending key order")
    .addOption(hexOption())
    .addOption(jsonOption())
    .addOption(waitOption())
    .addHelpText("after", `
Bounds combine (a prefix and a range give their intersection). Table cells longer than 120
characters are cut; --json output never is.${EXIT_TEXT}`)
    .action(async (dir: string, o: Record<string, unknown>, command: Command) => {
      const { scanCommand } = await import("./commands.ts");
      // scan's own flags, which a bound's value cannot be (`--prefix --json`: the value is missing)
      const flags = [...command.options.flatMap((option) => [option.long, option.short]), "--help", "-h"].filter((f): f is string => f !== undefined);
      done("scan", await scanCommand(ctx, dir, o as never, flags));
    });

  const wal = program
    .command("wal")
    .description("Read the write-ahead logs.")
    .addHelpText("after", EXIT_TEXT);
  wal
    .command("dump")
    .description("Print the records of the group WAL (or of a shard's partition log): LSN, length and the engine operations each holds. Read-only, takes no lock.")
    .argument("<dir>", "database directory")
    .addOption(new Option("--from <lsn>", "start at the first record at or after this LSN").argParser(integerOption("--from", 0)))
    .addOption(new Option("--limit <n>", "at most n records").argParser(integerOption("--limit", 0)))
    .addOption(new Option("--shard <n>", "the partition log of shard n instead of the group WAL").argParser(integerOption("--shard", 0, 255)))
    .addOption(hexOption())
    .addOption(jsonOption())
    .addHelpText("after", `
A torn tail at the end of the log (what a crash leaves) ends the dump quietly; \`shardline doctor\` reports it.
Exit status: 0 success, 1 failure (including damage before the end of the log: the dump stops there), 2 usage error.`)
    .action(async (dir: string, o: { from?: number; limit?: number; shard?: number; json?: boolean; hex?: boolean }) => {
      const { walDumpCommand } = await import("./commands.ts");
      done("wal dump", await walDumpCommand(ctx, dir, o));
    });

  program
    .command("bench")
    .description("Run the benchmark harness (node scripts/bench.mjs, as `npm run bench` does) with these arguments. Needs a source checkout of shardline.")
    .argument("[args...]", "arguments for scripts/bench.mjs, e.g. --quick, --runtime node,bun, --workload put, --system shardline")
    .allowUnknownOption()
    .passThroughOptions()
    .addHelpText("after", `
Common arguments: --runtime node,bun,deno  --quick  --workload <ids>  --system <ids>  --out <dir>  --no-build
(see the header of scripts/bench.mjs). Exit status: the harness's.`)
    .action(async (args: string[]) => {
      if (!host.runBench) throw new CliError("the benchmark harness cannot be run from here", EXIT_FAILURE, "run `npm run bench` in a source checkout of shardline");
      done("bench", await host.runBench(args));
    });

  return program;
}

/** Runs the command line on `argv` (the arguments after the program name); resolves with the exit status. */
export async function runCli(platform: Platform, argv: readonly string[], io: CliIo, host: CliHost = {}): Promise<number> {
  const ctx: CliContext = { platform, io, host };
  let command = "";
  let status: number | undefined;
  const program = buildProgram(ctx, (name, code) => {
    command = name;
    status = code;
  });
  program.hook("preAction", (_root, action) => {
    command = action.parent && action.parent !== program ? `${action.parent.name()} ${action.name()}` : action.name();
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return status ?? EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version were asked for; anything else commander reports is a usage error
      // (it has printed the message already). Help shown because no command was given is one too.
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return EXIT_OK;
      if (error.code === "commander.help") return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      return EXIT_USAGE;
    }
    if (error instanceof OutputClosedError) return EXIT_OK; // the reader of a listing has what it wanted
    const prefix = command ? `shardline ${command}` : "shardline";
    // Messages may quote what is on disk (file names, a lock file's fields): escaped, as
    // tables are, so that they never act on the terminal (review, 2026-12-06).
    if (error instanceof CliError) {
      io.stderr(`${prefix}: ${terminalSafe(error.message)}\n${error.hint ? `${terminalSafe(error.hint)}\n` : ""}`);
      if (error.exitCode === EXIT_USAGE) io.stderr(`(add --help for usage)\n`);
      return error.exitCode;
    }
    if (error instanceof RangeError || error instanceof TypeError) {
      // The engine's checks of keys, values and options (sizes, limits) name what is wrong.
      io.stderr(`${prefix}: ${terminalSafe(error.message)}\n`);
      return EXIT_FAILURE;
    }
    const e = error as Error;
    io.stderr(`${prefix}: ${e?.name ?? "Error"}: ${terminalSafe(e?.message ?? String(error))}\n`);
    return EXIT_FAILURE;
  }
}
