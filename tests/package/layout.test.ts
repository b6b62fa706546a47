// The layout rules that keep shardline runtime-agnostic: src/ and assembly/ never touch
// Deno, Bun or process (runtime differences live in runtimes/ only), and every relative
// import carries its .ts extension so Bun and Deno run the sources directly.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
// @ts-ignore: plain .mjs without types
import { repoDir } from "../../scripts/runtimes.mjs";

const test = suite("layout");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** Source text with comments removed (string literals kept). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/**
 * Code with the contents of string literals blanked, except a literal that is exactly one
 * of the runtime names (`"Deno" in globalThis` must still be caught); prose in messages is fine.
 */
function identifiers(line: string): string {
  return line.replace(/(["'`])((?:\\.|(?!\1).)*)\1/g, (_, q: string, body: string) => (/^(Deno|Bun|process)$/.test(body) ? body : q + q));
}

test("src/ and assembly/ never mention Deno, Bun or process in code", () => {
  const offenders: string[] = [];
  for (const file of [...sources(join(repoDir, "src")), ...sources(join(repoDir, "assembly"))]) {
    code(readFileSync(file, "utf8")).split("\n").forEach((line, i) => {
      if (/\b(Deno|Bun|process)\b/.test(identifiers(line))) offenders.push(`${relative(repoDir, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.equal(offenders, []);
});

test("every relative import in src/, runtimes/, tests/ and bench/ names a .ts file that exists", () => {
  const bad: string[] = [];
  for (const dir of ["src", "runtimes", "tests", "bench"]) {
    for (const file of sources(join(repoDir, dir))) {
      for (const m of code(readFileSync(file, "utf8")).matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
        const target = m[1];
        if (target.endsWith(".mjs")) continue; // scripts/*.mjs helpers are JavaScript
        const resolved = join(file, "..", target);
        let exists = false;
        try {
          exists = statSync(resolved).isFile();
        } catch {
          exists = false;
        }
        if (!target.endsWith(".ts") || !exists) bad.push(`${relative(repoDir, file)}: ${target}`);
      }
    }
  }
  assert.equal(bad, []);
});

test("no test passes a class to uvu's assert.throws (it is called as a predicate, so it cannot check the type)", () => {
  const bad: string[] = [];
  for (const file of sources(join(repoDir, "tests"))) {
    const lines = code(readFileSync(file, "utf8")).split("\n");
    let inThrows = false; // inside a multi-line assert.throws(() => { ... }, X) call
    lines.forEach((line, i) => {
      if (/assert\.throws\(.*,\s*[A-Z]\w*\s*\)\s*;/.test(line) || (inThrows && /^\s*\}\s*,\s*[A-Z]\w*\s*\)\s*;/.test(line))) bad.push(`${relative(repoDir, file)}:${i + 1}: ${line.trim()}`);
      if (/assert\.throws\(.*\{\s*$/.test(line)) inThrows = true;
      else if (/^\s*\}/.test(line) && /\)\s*;\s*$/.test(line)) inThrows = false;
    });
  }
  assert.equal(bad, []);
});

test.run();
