// The data commands (get, put, delete, scan) take and print exactly the bytes meant, and
// refuse what they cannot do before touching the database. Each test is a defect an
// adversarial review found on 2026-12-06, seen failing before its fix:
// - a key or value starting with a UTF-8 byte-order mark was printed without it;
// - an argument that was not UTF-8 (the runtime gives U+FFFD for such bytes) was stored as
//   EF BF BD with exit 0;
// - a put refused for its size had already created a database where none was;
// - a database written with larger memtables than the default could not be read by get,
//   scan or stats (the read-only open's replay did not fit), and doctor had no remedy;
// - a scan bound given without its value took the next flag as its value.
// And one found by reading (2026-12-06): keys and values were printed raw in tables, so a
// stored escape sequence drove the user's terminal and a newline broke the table's rows.
import { spawnSync } from "node:child_process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
// @ts-ignore: plain .mjs without types
import { runtimeCommand } from "../../scripts/runtimes.mjs";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, enc, open, platform, tempDir } from "../engine/helpers.ts";
import { cli, json } from "./helpers.ts";

const test = suite("cli data bytes");

const BOM = Uint8Array.from([0xef, 0xbb, 0xbf]);
const concat = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

// format.ts: `new TextDecoder("utf-8", { fatal: true })` strips a leading byte-order mark
// (ignoreBOM defaults to false), so a key or value starting with EF BB BF is printed as
// valid UTF-8 text without those 3 bytes and without "valueEncoding": "hex".
test("get --json and scan --json: a value or key starting with a UTF-8 BOM is printed with it (U+FEFF)", async () => {
  const dir = tempDir("shardline-review-");
  const db = await open(dir);
  await db.put("bom-value", concat(BOM, enc.encode("hi")));
  await db.put(concat(BOM, enc.encode("a")), "with BOM");
  await db.put("a", "without BOM");
  await db.close();

  const got = json(await cli(["get", dir, "bom-value", "--json"]));
  assert.equal(got, { key: "bom-value", found: true, value: "\uFEFFhi" }, "the value's 5 bytes, not the 2 after the BOM");

  const rows = json<Array<{ key: string; value: string }>>(await cli(["scan", dir, "--json"]));
  const keys = rows.map((r) => r.key);
  assert.is(new Set(keys).size, keys.length, `two different keys print as the same text: ${JSON.stringify(keys)}`);
  // What scan printed must name the key: feeding it back to get finds the same row.
  const bomRow = rows.find((r) => r.value === "with BOM")!;
  const back = json(await cli(["get", dir, bomRow.key, "--json"]));
  assert.is(back.value, "with BOM", "the key scan printed reads back the row it came from");
});

// format.ts argBytes: the runtime decodes argv as UTF-8, replacing bytes that are not
// UTF-8 with U+FFFD; argBytes re-encodes that (EF BF BD), so `put` stores other bytes than
// the ones given and reports success ("bytes 6" for a 4-byte value).
test("put with a value argument that is not valid UTF-8 (U+FFFD from the runtime): refused, never stored as EF BF BD", async () => {
  const dir = `${tempDir("shardline-review-")}/db`;
  const entry = new URL(`../../runtimes/${runtimeName()}/cli.ts`, import.meta.url).pathname;
  const [cmd, argv] = runtimeCommand(runtimeName(), entry, ["put", dir, "k"]) as [string, string[]];
  // The shell appends the raw bytes 61 62 63 ff as the last argument.
  const r = spawnSync("/bin/sh", ["-c", 'exec "$@" "$(printf "abc\\377")"', "sh", cmd, ...argv], { encoding: "utf8" });
  const db = await open(dir);
  const stored = db.get("k");
  await db.close();
  const exact = stored !== undefined && stored.length === 4 && stored[0] === 0x61 && stored[1] === 0x62 && stored[2] === 0x63 && stored[3] === 0xff;
  assert.ok(
    r.status !== 0 || exact,
    `put exited ${r.status} (${r.stdout.replace(/\s+/g, " ")}) but stored ${stored ? Array.from(stored, (b) => b.toString(16)).join(" ") : "nothing"} instead of 61 62 63 ff`,
  );
});

// data-commands.ts putCommand: keys and values are checked against KEY_BYTES_MAX /
// VALUE_BYTES_MAX by db.put, after openForCli(..., { create: true }) has made the database.
test("put refused for its key's size (over KEY_BYTES_MAX) creates no database where none was", async () => {
  const dir = `${tempDir("shardline-review-")}/never-made`;
  const r = await cli(["put", dir, "k".repeat(2049), "v"]);
  assert.is(r.code, 2, r.err); // a usage error, found before the open
  assert.match(r.err, /KEY_BYTES_MAX/);
  assert.is(platform.stat(dir), undefined, "a put that wrote nothing creates no database");
});

// database.ts openForCli: get, scan and stats open read-only with the default
// memtableBytesMax (4 MiB); a healthy, normally closed database whose writer used a larger
// (documented) memtableBytesMax has more unflushed log per shard than 9 default memtables,
// so every read command fails with exit 1, and `doctor --repair`, the remedy docs/CLI.md
// gives, finds nothing to do and leaves it unreadable.
test("get and stats read a cleanly closed database written with memtableBytesMax 64 MiB (more log than the default memtables hold)", async () => {
  const dir = tempDir("shardline-review-");
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 * 1024 });
  const value = new Uint8Array(1 << 20).fill(7);
  for (let i = 0; i < 40; i++) await db.put(`key-${i}`, value);
  await db.close();

  const first = await cli(["get", dir, "key-1", "--json"]);
  if (first.code !== 0) {
    const repair = await cli(["doctor", dir, "--repair"]);
    const again = await cli(["get", dir, "key-1", "--json"]);
    assert.is(again.code, 0, `get exits ${first.code}: ${first.err}\nafter doctor --repair (exit ${repair.code}) still ${again.code}: ${again.err}`);
  }
  const stats = await cli(["stats", dir, "--json"]);
  assert.is(stats.code, 0, stats.err);
});

// main.ts: the bound options are `<p>` options taking the next argument whatever it is,
// so a missing bound swallows the next flag: `--prefix --json` scans for keys starting
// with "--json" and prints a table, exit 0.
test("scan --prefix without its value (--json next) is a usage error, not a scan for keys starting with --json", async () => {
  const dir = tempDir("shardline-review-");
  const db = await open(dir);
  await db.put("apple", "1");
  await db.close();
  const r = await cli(["scan", dir, "--prefix", "--json"]);
  assert.is(r.code, 2, `exit ${r.code}, stdout: ${r.out}`);
});

// format.ts cellBytes: table cells showed the text as stored. A key or value holding ESC
// sequences recoloured or cleared the reader's terminal, a carriage return overwrote what
// was printed before it, a right-to-left override reordered what the reader saw, and a
// newline split one row over two lines.
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;
test("get, scan and wal dump tables: a key or value with control characters (ESC, CR, newline, RTL override) prints them escaped, never raw", async () => {
  const dir = tempDir("shardline-review-");
  const db = await open(dir);
  await db.put("red\x1b[31mkey", "clear\x1b[2J\rover");
  await db.put("two\nlines", "tab\there\u202eevil");
  await db.close();
  for (const argv of [["scan", dir], ["get", dir, "red\x1b[31mkey"], ["get", dir, "two\nlines"], ["wal", "dump", dir]]) {
    const r = await cli(argv);
    assert.is(r.code, 0, r.err);
    const bad = UNSAFE.exec(r.out);
    assert.is(bad, null, `${argv[0]} printed U+${bad?.[0].codePointAt(0)!.toString(16).padStart(4, "0")} raw: ${JSON.stringify(r.out)}`);
  }
  const scan = (await cli(["scan", dir])).out;
  assert.ok(scan.includes("red\\x1b[31mkey"), scan);
  assert.ok(scan.includes("clear\\x1b[2J\\rover"), scan);
  assert.ok(scan.includes("two\\nlines"), scan);
  assert.ok(scan.includes("tab\\there\\u{202e}evil"), scan);
  // JSON output stays exact: the bytes stored, escaped by JSON only.
  const rows = json<Array<{ key: string; value: string }>>(await cli(["scan", dir, "--json"]));
  assert.equal(rows.map((r) => r.key).sort(), ["red\x1b[31mkey", "two\nlines"]);
});

test.after(cleanup);
test.run();
