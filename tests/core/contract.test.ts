// The core's contract (wit/core.wit) against the compiled core and against the TypeScript
// declarations generated from it (src/core/core-exports.generated.ts, by jco):
//  - every export of the module is a function that the WIT names, and every function the
//    WIT names is exported;
//  - each one's parameter and result types in the module's binary are those of the WIT's
//    types (u32, s32 -> i32; u64 -> i64; f64 -> f64), and the instance's function takes as
//    many arguments (`.length`);
//  - the committed declarations are jco's output for the WIT as it is now.
// A failure names every missing, extra and mismatched export.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { coreBytes } from "../../src/core/core.ts";

const test = suite("core contract");
const repo = fileURLToPath(new URL("../..", import.meta.url));

/** wasm value types of the WIT types a core module's export can use. */
const WIT_TO_WASM: Record<string, string> = { u32: "i32", s32: "i32", u64: "i64", s64: "i64", f32: "f32", f64: "f64" };

interface Signature {
  params: string[];
  results: string[];
}

/** The functions of the WIT's interfaces, by export name (jco's camelCase), read minimally. */
function witFunctions(source: string): Map<string, Signature> {
  const functions = new Map<string, Signature>();
  for (const line of source.split("\n")) {
    const text = line.replace(/\/\/.*$/, "").trim();
    if (!text.includes("func(")) continue;
    const m = /^%?([a-zA-Z][a-zA-Z0-9-]*)\s*:\s*func\(([^)]*)\)\s*(?:->\s*([a-z0-9]+))?\s*;$/.exec(text);
    if (!m) throw new Error(`wit/core.wit: cannot read this function (one per line, scalar types only): ${text}`);
    const [, name, params, result] = m;
    const wasmType = (wit: string) => {
      const type = WIT_TO_WASM[wit];
      if (!type) throw new Error(`wit/core.wit: ${name} uses ${wit}, which a core module cannot pass`);
      return type;
    };
    const paramTypes = params.trim() === "" ? [] : params.split(",").map((p) => wasmType(p.split(":")[1].trim()));
    functions.set(camelCase(name), { params: paramTypes, results: result ? [wasmType(result)] : [] });
  }
  return functions;
}

/** jco's name for a kebab-case WIT name: `memtable-seek-g-e` -> `memtableSeekGE`. */
function camelCase(name: string): string {
  const [first, ...rest] = name.split("-");
  return first.toLowerCase() + rest.map((w) => w[0].toUpperCase() + w.slice(1).toLowerCase()).join("");
}

/** Each exported function's signature, read from the binary's type, import, function and export sections. */
function moduleSignatures(bytes: Uint8Array): Map<string, Signature> {
  let at = 8;
  const byte = () => bytes[at++];
  const leb = () => {
    let value = 0;
    let shift = 0;
    let b: number;
    do {
      b = byte();
      value += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return value;
  };
  const name = () => {
    const length = leb();
    const text = new TextDecoder().decode(bytes.subarray(at, at + length));
    at += length;
    return text;
  };
  const VALTYPES: Record<number, string> = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };
  const valtype = () => VALTYPES[byte()] ?? "unknown";
  const limits = () => {
    const flags = byte();
    leb();
    if (flags & 1) leb();
  };
  const types: Signature[] = [];
  const functionTypes: number[] = [];
  const exported = new Map<string, Signature>();
  while (at < bytes.length) {
    const id = byte();
    const size = leb();
    const end = at + size;
    if (id === 1) {
      for (let n = leb(); n > 0; n--) {
        if (byte() !== 0x60) throw new Error("type section: not a function type");
        const params = Array.from({ length: leb() }, valtype);
        const results = Array.from({ length: leb() }, valtype);
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        name();
        name();
        const kind = byte();
        if (kind === 0) {
          functionTypes.push(leb());
        } else if (kind === 1) {
          byte(); // table: element type, limits
          limits();
        } else if (kind === 2) {
          limits(); // memory
        } else if (kind === 3) {
          byte(); // global: value type, mutability
          byte();
        } else {
          byte(); // tag: attribute, type
          leb();
        }
      }
    } else if (id === 3) {
      for (let n = leb(); n > 0; n--) functionTypes.push(leb());
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const exportName = name();
        const kind = byte();
        const index = leb();
        if (kind === 0) exported.set(exportName, types[functionTypes[index]]);
      }
    }
    at = end;
  }
  return exported;
}

const show = (s: Signature) => `(${s.params.join(", ")}) -> (${s.results.join(", ")})`;

test("the core module exports exactly the functions of wit/core.wit, with their types and arity", async () => {
  const wit = witFunctions(readFileSync(join(repo, "wit/core.wit"), "utf8"));
  const bytes = coreBytes();
  const module = await WebAssembly.compile(bytes);
  const signatures = moduleSignatures(bytes);
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  const problems: string[] = [];
  for (const { name, kind } of WebAssembly.Module.exports(module)) {
    if (kind !== "function") {
      problems.push(`${name}: exported ${kind}, but the contract has only functions (describe or remove it)`);
      continue;
    }
    const expected = wit.get(name);
    if (!expected) {
      problems.push(`${name}: exported by the module, missing from wit/core.wit`);
      continue;
    }
    const actual = signatures.get(name);
    if (!actual || show(actual) !== show(expected)) {
      problems.push(`${name}: the module has ${actual ? show(actual) : "no signature"}, wit/core.wit says ${show(expected)}`);
    }
    const arity = (instance.exports[name] as (...args: unknown[]) => unknown).length;
    if (arity !== expected.params.length) {
      problems.push(`${name}: the instance's function takes ${arity} arguments, wit/core.wit ${expected.params.length}`);
    }
  }
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  for (const name of wit.keys()) {
    if (!exported.has(name)) problems.push(`${name}: in wit/core.wit, not exported by the module`);
  }
  assert.ok(wit.size > 0, "wit/core.wit names no functions");
  assert.ok(problems.length === 0, `the core and wit/core.wit disagree:\n  ${problems.join("\n  ")}`);
});

test("src/core/core-exports.generated.ts is jco's output for wit/core.wit", () => {
  // jco is a Node program; every runtime generates with the same node that runs npm.
  const r = spawnSync("node", [join(repo, "scripts/core-contract.mjs"), "--stdout"], { cwd: repo, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const committed = readFileSync(join(repo, "src/core/core-exports.generated.ts"), "utf8");
  assert.ok(committed === r.stdout, "src/core/core-exports.generated.ts is stale: run `npm run build:core` and commit it");
});

test("the WIT reader and the binary reader see every export", () => {
  // Guards the two readers above against silently reading nothing.
  const wit = witFunctions("  memtable-seek-g-e: func(mt: u32, ts: u64) -> u32;\n  epoch-enter: func();\n  wal-scan: func(ring: u32, %from: u64, limit: u64) -> u64;");
  assert.equal([...wit.keys()], ["memtableSeekGE", "epochEnter", "walScan"]);
  assert.equal(wit.get("walScan"), { params: ["i32", "i64", "i64"], results: ["i64"] });
  assert.equal(wit.get("epochEnter"), { params: [], results: [] });
  assert.is(moduleSignatures(coreBytes()).size, WebAssembly.Module.exports(new WebAssembly.Module(coreBytes())).length);
});

test.run();
