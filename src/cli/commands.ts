/**
 * Every command of the command line, for src/cli/main.ts to import when a command runs
 * (`await import("./commands.ts")`), so that parsing the arguments, `--help` and usage
 * errors load none of them, nor the engine, nor cli-table3. One module rather than one per
 * command: the Node bundle gets one chunk for them all (scripts/build.mjs), and a command
 * then waits for one more file instead of a chain of shared chunks (measured: `get` was
 * about 10 ms slower with a chunk per command).
 * Threads: the main thread of the command line.
 */
export { deleteCommand, getCommand, putCommand, scanCommand } from "./data-commands.ts";
export { doctorCommand } from "./doctor.ts";
export { loadProgressBar } from "./format.ts";
export { statsCommand } from "./stats.ts";
export { walDumpCommand } from "./wal-dump.ts";
