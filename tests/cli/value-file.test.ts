// `shardline put --value-file <path>` (and `-` for standard input): a value from a file's
// bytes, as they are. A value given as an argument is bounded by the system's argument
// size (~128 KiB for one argument on Linux) and must be text (or hex), so values near
// VALUE_BYTES_MAX (1 MiB) or binary ones could not be written from the command line at
// all (an open item of the 2026-12-06 review of the CLI). Limits and bad combinations are
// usage errors found before anything is opened.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
// @ts-ignore: plain .mjs without types
import { runtimeCommand } from "../../scripts/runtimes.mjs";
import { VALUE_BYTES_MAX } from "../../src/core/core.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, open, platform, tempDir } from "../engine/helpers.ts";
import { cli, json } from "./helpers.ts";

const test = suite("cli put --value-file");
test.after.each(cleanup);

/** Bytes 0..255 over and over: binary, not UTF-8. */
const binary = (length: number) => Uint8Array.from({ length }, (_, i) => (i * 7 + (i >> 8)) & 0xff);

async function stored(dir: string, key: string): Promise<Uint8Array | undefined> {
  const db = await open(dir);
  try {
    return db.get(key);
  } finally {
    await db.close();
  }
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array) => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

/** The command line in a child process of this runtime (what a user runs), with `input` on its stdin. */
function cliProcess(args: string[], input?: Uint8Array) {
  const entry = new URL(`../../runtimes/${runtimeName()}/cli.ts`, import.meta.url).pathname;
  const [cmd, argv] = runtimeCommand(runtimeName(), entry, args) as [string, string[]];
  return spawnSync(cmd, argv, { input, encoding: "utf8", timeout: 60_000 });
}

test("a binary value of VALUE_BYTES_MAX bytes from a file is stored exactly (a child process of this runtime)", async () => {
  const dir = `${tempDir("shardline-cli-")}/db`;
  const value = binary(VALUE_BYTES_MAX);
  const file = `${tempDir("shardline-cli-")}/value.bin`;
  writeFileSync(file, value);
  const r = cliProcess(["put", dir, "big", "--value-file", file, "--json"]);
  assert.is(r.status, 0, r.stderr);
  assert.is(JSON.parse(r.stdout).key, "big");
  assert.ok(sameBytes(await stored(dir, "big"), value), "the file's bytes, as they are");
});

test("--value-file - reads the value from standard input (a child process of this runtime, 300 KiB piped in)", async () => {
  const dir = `${tempDir("shardline-cli-")}/db`;
  const value = binary(300 * 1024);
  const r = cliProcess(["put", dir, "piped", "--value-file", "-"], value);
  assert.is(r.status, 0, r.stderr);
  assert.ok(sameBytes(await stored(dir, "piped"), value), "standard input's bytes, as they are");
});

test("an empty file is an empty value; --hex applies to the key only", async () => {
  const dir = `${tempDir("shardline-cli-")}/db`;
  const file = `${tempDir("shardline-cli-")}/empty`;
  writeFileSync(file, new Uint8Array(0));
  const r = await cli(["put", dir, "6b", "--hex", "--value-file", file, "--json"]);
  assert.is(r.code, 0, r.err);
  assert.equal(json(r), { key: "6b", ts: json(r).ts });
  const got = await stored(dir, "k");
  assert.ok(got !== undefined && got.length === 0, "key 6b (\"k\") holds the empty value");
});

test("usage errors before any open: a file over VALUE_BYTES_MAX, standard input over it, a value and --value-file both, neither, a missing file", async () => {
  const dir = `${tempDir("shardline-cli-")}/never-made`;
  const big = `${tempDir("shardline-cli-")}/big`;
  writeFileSync(big, new Uint8Array(VALUE_BYTES_MAX + 1));
  const cases: Array<[string[], RegExp, Partial<Parameters<typeof cli>[1]>?]> = [
    [["put", dir, "k", "--value-file", big], /VALUE_BYTES_MAX/],
    [["put", dir, "k", "--value-file", "-"], /VALUE_BYTES_MAX/, { readStdin: () => Promise.resolve(new Uint8Array(VALUE_BYTES_MAX + 1)) }],
    [["put", dir, "k", "v", "--value-file", big], /either a value argument or --value-file/],
    [["put", dir, "k"], /a value argument or --value-file/],
    [["put", dir, "k", "--value-file", `${big}-missing`], /cannot read --value-file/],
  ];
  for (const [argv, message, io] of cases) {
    const r = await cli(argv, io);
    assert.is(r.code, 2, `${argv.join(" ")}: exit ${r.code}: ${r.err}`);
    assert.match(r.err, message, argv.join(" "));
  }
  assert.is(platform.stat(dir), undefined, "no refused put created a database");
});

test("--value-file - where the command line has no standard input to read is a usage error", async () => {
  const r = await cli(["put", `${tempDir("shardline-cli-")}/db`, "k", "--value-file", "-"]);
  assert.is(r.code, 2, r.err);
  assert.match(r.err, /standard input/);
});

test.run();
