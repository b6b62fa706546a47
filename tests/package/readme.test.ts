// README.md as a tested program: every example marked runnable is run, in each runtime it
// names, against the package installed from its tarball (tests/package/installed.ts), so
// the README shows nothing a user cannot paste and run. Each example must end by itself
// (a program that waits for a write it never makes, or a worker that keeps the process
// alive, is killed at the timeout and fails) and print what its output block says.
//
// Markers, in the fence's info string (GitHub still highlights by the first word):
//   ```js run=node,bun,deno            an example's entry file, run in those runtimes
//   ```js run=node file=main.mjs       the same, written as main.mjs (default example.mjs)
//   ```js run=node nats                the same, with a JetStream server of its own on
//                                      127.0.0.1 (tests/harness/nats-cluster.ts, one node)
//                                      whose URL is in the NATS_URL environment variable
//   ```js file=writer.mjs              another file of the example above it (e.g. a worker)
//   ```text output                     the entry's exact standard output (trailing
//                                      whitespace aside); without one, only the exit
//                                      status and the timeout are checked
// The files and output blocks after a `run=` block, up to the next `run=` block, belong
// to it. Each example runs in its own directory inside the installed project, so
// `import { open } from "shardline"` resolves through node_modules as for a user.
// The suite runs this file in Node, Bun and Deno; each runs the examples marked for it.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RuntimeName } from "../../src/platform.ts";
import { runtimeName } from "../harness/platform.ts";
import { installedPackage, runProgram } from "./installed.ts";
import { startNatsCluster } from "../harness/nats-cluster.ts";
// @ts-ignore: plain .mjs without types
import { repoDir } from "../../scripts/runtimes.mjs";

const test = suite("README examples");
const runtime = runtimeName();

interface Example {
  /** 1-based line of the entry block's fence in README.md, for messages. */
  line: number;
  runtimes: RuntimeName[];
  entry: string;
  files: Map<string, string>;
  output?: string;
  /** Runs beside a JetStream server of its own (NATS_URL). */
  nats: boolean;
}

/** The runnable examples of a Markdown text, in order (see the markers above). */
function readmeExamples(markdown: string): Example[] {
  const examples: Example[] = [];
  const fence = /^```([^\n]*)\n([\s\S]*?)^```[ \t]*$/gm;
  for (const m of markdown.matchAll(fence)) {
    const [lang, ...words] = m[1].trim().split(/\s+/);
    const attrs = new Map(words.map((w) => [w.split("=")[0], w.includes("=") ? w.slice(w.indexOf("=") + 1) : ""]));
    const body = m[2];
    const line = markdown.slice(0, m.index).split("\n").length;
    if (attrs.has("run")) {
      const runtimes = attrs.get("run")!.split(",") as RuntimeName[];
      for (const r of runtimes) if (!["node", "bun", "deno"].includes(r)) throw new Error(`README.md:${line}: unknown runtime ${r}`);
      const entry = attrs.get("file") || (lang === "js" ? "example.mjs" : `example.${lang}`);
      examples.push({ line, runtimes, entry, files: new Map([[entry, body]]), nats: attrs.has("nats") });
      continue;
    }
    const current = examples.at(-1);
    if (attrs.has("file")) {
      if (!current) throw new Error(`README.md:${line}: a file= block before any run= block`);
      current.files.set(attrs.get("file")!, body);
    } else if (attrs.has("output")) {
      if (!current) throw new Error(`README.md:${line}: an output block before any run= block`);
      current.output = body;
    }
  }
  return examples;
}

const examples = readmeExamples(readFileSync(join(repoDir, "README.md"), "utf8"));
const trimLines = (text: string) => text.split("\n").map((l) => l.trimEnd()).join("\n").trim();

test("README.md has runnable examples for node, bun and deno", () => {
  for (const r of ["node", "bun", "deno"] as const) {
    assert.ok(examples.some((e) => e.runtimes.includes(r)), `no README example marked run=...${r}`);
  }
});

for (const example of examples.filter((e) => e.runtimes.includes(runtime))) {
  test(`README.md:${example.line} (${example.entry}) runs in ${runtime} and ends by itself`, async () => {
    const pkg = await installedPackage();
    const dir = join(pkg.project, `readme-${runtime}-${example.line}`);
    mkdirSync(dir, { recursive: true });
    for (const [name, body] of example.files) writeFileSync(join(dir, name), body);
    // Each example takes a second or two; the bound only tells a hang from a slow machine.
    const nats = example.nats ? await startNatsCluster({ nodes: 1 }) : undefined;
    let r;
    try {
      await nats?.ready();
      r = await runProgram(runtime, join(dir, example.entry), dir, 60_000, nats ? { env: { NATS_URL: nats.servers[0] } } : {});
    } finally {
      await nats?.stop();
    }
    assert.not.ok(r.timedOut, `did not end by itself within the timeout; output so far:\n${r.stdout}\n${r.stderr}`);
    assert.is(r.code, 0, r.stderr);
    if (example.output !== undefined) assert.fixture(trimLines(r.stdout), trimLines(example.output));
  });
}

test.run();
