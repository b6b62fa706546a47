// Where each runtime's executable is, and how to run a TypeScript entry in it.
// bun and deno come from the registry as dev dependencies; node is the one running npm.
import { fileURLToPath } from "node:url";
import { join } from "node:path";

export const repoDir = fileURLToPath(new URL("..", import.meta.url));

/**
 * The node executable. When this module runs under Bun or Deno (a test spawning a Node
 * child), process.execPath is bun or deno, so take the node npm runs, or node on PATH.
 */
function nodeExecutable() {
  const inNode = !("Bun" in globalThis) && !("Deno" in globalThis);
  return inNode ? process.execPath : process.env.npm_node_execpath || "node";
}
const bin = (name) => join(repoDir, "node_modules", ".bin", name);

/** Command line that runs `entry` (a .ts file) with `args` in `runtime`. */
export function runtimeCommand(runtime, entry, args = []) {
  switch (runtime) {
    case "node":
      return [nodeExecutable(), ["--import", join(repoDir, "scripts/ts-register.mjs"), entry, ...args]];
    case "bun":
      return [bin("bun"), [entry, ...args]];
    case "deno":
      return [bin("deno"), ["run", "-A", "--unstable-kv", "--quiet", entry, ...args]];
    default:
      throw new Error(`unknown runtime ${runtime}`);
  }
}

export const RUNTIMES = ["node", "bun", "deno"];
