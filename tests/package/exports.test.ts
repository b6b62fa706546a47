// The package's `exports` conditions: `import("shardline")` from a consumer resolves to the
// esbuild bundle in Node, to runtimes/bun/mod.ts in Bun and to runtimes/deno/mod.ts in
// Deno. Each runtime is checked from every runtime the suite runs in, by a real child
// process in a consumer directory whose node_modules/shardline links to this repository.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnChild } from "../harness/child.ts";
// @ts-ignore: plain .mjs without types
import { repoDir } from "../../scripts/runtimes.mjs";

const test = suite("package exports");

const consumer = mkdtempSync(join(tmpdir(), "shardline-consumer-"));
mkdirSync(join(consumer, "node_modules"));
symlinkSync(repoDir, join(consumer, "node_modules", "shardline"), "dir");
writeFileSync(join(consumer, "package.json"), JSON.stringify({ type: "module", dependencies: { shardline: "*" } }));
writeFileSync(
  join(consumer, "probe.ts"),
  `const m = await import("shardline");
console.log(JSON.stringify({ runtime: m.runtime, url: import.meta.resolve("shardline") }));
`,
);

const EXPECTED = {
  node: "/dist/node/mod.js",
  bun: "/runtimes/bun/mod.ts",
  deno: "/runtimes/deno/mod.ts",
} as const;

for (const runtime of ["node", "bun", "deno"] as const) {
  test(`${runtime} resolves shardline to ${EXPECTED[runtime]}`, async () => {
    // Node runs the probe through the TS loader, which does not change how bare
    // specifiers resolve; the bundle it loads is plain JavaScript.
    const child = spawnChild(runtime, join(consumer, "probe.ts"), [], { cwd: consumer });
    const line = await child.nextLine();
    const { code } = await child.waitExit();
    assert.is(code, 0, child.stderr());
    const got = JSON.parse(line) as { runtime: string; url: string };
    assert.is(got.runtime, runtime);
    assert.ok(got.url.startsWith("file://"), got.url);
    assert.ok(got.url.endsWith(EXPECTED[runtime]), got.url);
  });
}

test.after(() => rmSync(consumer, { recursive: true, force: true }));
test.run();
