// The compiled core is committed (src/core/wasm-binary.ts) so that a Deno module URL loads
// it with no build step. This rebuilds assembly/ from scratch and fails if the committed
// bytes differ, so the committed core can never drift from its source.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { coreBytes } from "../../src/core/core.ts";
import { CORE_WASM_SHA256 } from "../../src/core/wasm-binary.ts";

const test = suite("core build");
const repo = fileURLToPath(new URL("../..", import.meta.url));

test("the committed core equals a fresh build of assembly/", async () => {
  const dir = mkdtempSync(join(tmpdir(), "shardline-core-"));
  try {
    const out = join(dir, "core.wasm");
    // asc is a Node program; every runtime builds with the same node that runs npm.
    const r = spawnSync("node", [join(repo, "scripts/build-core.mjs"), "--out", out], { cwd: repo, encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    const fresh = new Uint8Array(readFileSync(out));
    const committed = coreBytes();
    assert.is(committed.length, fresh.length, "size differs: run `npm run build:core`");
    assert.ok(committed.every((b, i) => b === fresh[i]), "bytes differ: run `npm run build:core`");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", committed));
    assert.is([...digest].map((b) => b.toString(16).padStart(2, "0")).join(""), CORE_WASM_SHA256);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the core imports only the shared memory, and has no data segments", async () => {
  const module = await WebAssembly.compile(coreBytes());
  const imports = WebAssembly.Module.imports(module);
  assert.equal(imports, [{ module: "env", name: "memory", kind: "memory" }]);
  // Section id 11 is the data section: it must be absent (no static data to re-copy per thread).
  const bytes = coreBytes();
  let at = 8;
  const sections: number[] = [];
  while (at < bytes.length) {
    const id = bytes[at++];
    let size = 0;
    let shift = 0;
    let b: number;
    do {
      b = bytes[at++];
      size |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    sections.push(id);
    at += size;
  }
  assert.not.ok(sections.includes(11), `sections: ${sections}`);
});

test.run();
