// The package's `exports` conditions: `import("shardline")` from a consumer resolves to the
// esbuild bundle dist/node/mod.js in Node, to the sources runtimes/bun/mod.ts in Bun and to
// the esbuild bundle dist/deno/mod.js in Deno (Deno strips no types under node_modules).
// Each runtime is checked from every runtime the suite runs in, by a real child process in
// a consumer directory whose node_modules/shardline links to this repository; and every
// entry of `exports` (".", "./wal", ...) is checked to follow the same layout, which
// scripts/build.mjs builds from. The values the entries share (runtimes/common/*-exports.ts)
// are checked to be every value of src/engine/public.ts and src/wal/public.ts but their
// Platform binders, so a value added there is not silently missing from the package.
// The installed tarball itself: tests/package/install.test.ts.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
  deno: "/dist/deno/mod.js",
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

test("every export maps bun to runtimes/bun, deno and node to their bundles, before types", () => {
  const pkg = JSON.parse(readFileSync(join(repoDir, "package.json"), "utf8")) as { exports: Record<string, Record<string, string> | string> };
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (subpath === "./package.json") continue;
    const name = subpath === "." ? "mod" : subpath.slice(2);
    assert.type(target, "object", subpath);
    const conditions = target as Record<string, string>;
    assert.equal(conditions, {
      bun: `./runtimes/bun/${name}.ts`,
      deno: `./dist/deno/${name}.js`,
      types: `./dist/types/runtimes/node/${name}.d.ts`,
      node: `./dist/node/${name}.js`,
      default: `./dist/node/${name}.js`,
    }, subpath);
    // Conditions match in order: Deno takes "types" too, so it must meet "deno" first
    // (dist/deno/<name>.d.ts, beside the bundle); tsc knows neither bun nor deno.
    assert.equal(Object.keys(conditions), ["bun", "deno", "types", "node", "default"], subpath);
    for (const file of Object.values(conditions)) assert.ok(existsSync(join(repoDir, file)), `${subpath}: ${file} is missing (npm run build)`);
    assert.ok(existsSync(join(repoDir, `dist/deno/${name}.d.ts`)), `${subpath}: dist/deno/${name}.d.ts is missing`);
  }
});

// The Platform binders: exported by public.ts for the runtime entries and the tests only.
const BINDERS = { engine: "bindDatabaseApi", wal: "bindLogApi", replicate: "bindReplicateApi" } as const;

for (const [from, shared] of [["engine", "mod"], ["wal", "wal"], ["replicate", "replicate"]] as const) {
  test(`runtimes/common/${shared}-exports.ts exports every value of src/${from}/public.ts but ${BINDERS[from]}`, async () => {
    const publicValues = Object.keys(await import(`../../src/${from}/public.ts`)).sort();
    assert.ok(publicValues.includes(BINDERS[from]), `src/${from}/public.ts exports ${BINDERS[from]}`);
    const sharedValues = Object.keys(await import(`../../runtimes/common/${shared}-exports.ts`)).sort();
    assert.equal(sharedValues, publicValues.filter((name) => name !== BINDERS[from]));
  });
}

test.after(() => rmSync(consumer, { recursive: true, force: true }));
test.run();
