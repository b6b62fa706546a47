// Module customization hooks that let Node 20 run shardline's TypeScript sources directly,
// as Bun and Deno do: `.ts` files are transformed with esbuild (types stripped, nothing else).
// Registered by scripts/ts-register.mjs through `node --import`.
import { readFile } from "node:fs/promises";
import { transform } from "esbuild";

export async function load(url, context, nextLoad) {
  if (!url.startsWith("file:") || !url.endsWith(".ts")) return nextLoad(url, context);
  const source = await readFile(new URL(url), "utf8");
  const { code } = await transform(source, {
    loader: "ts",
    format: "esm",
    target: "es2022",
    sourcemap: "inline",
    sourcefile: new URL(url).pathname,
  });
  return { format: "module", source: code, shortCircuit: true };
}
