// `shardline scan` and `shardline wal dump` print what they read as they read it
// (src/cli/data-commands.ts, src/cli/wal-dump.ts, JsonArrayWriter in src/cli/io.ts):
// before, each collected everything first, so a database or log larger than memory could
// not be printed at all (open items of the 2026-12-06 review of the CLI). The JSON output
// is the same text as before (toJson of the whole); tables hold at most 1,000 rows each.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SCAN_TABLE_ROWS } from "../../src/cli/data-commands.ts";
import { WAL_TABLE_ROWS } from "../../src/cli/wal-dump.ts";
import { toJson } from "../../src/cli/io.ts";
import { cleanup, open, tempDir } from "../engine/helpers.ts";
import { cli } from "./helpers.ts";

const test = suite("cli streamed output");
test.after.each(cleanup);

const ROWS = 2 * SCAN_TABLE_ROWS + 500;
const keyOf = (i: number) => `k${String(i).padStart(5, "0")}`;

async function database(): Promise<string> {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir);
  for (let i = 0; i < ROWS; i += 500) {
    await db.batch(Array.from({ length: 500 }, (_, j) => ({ type: "put" as const, key: keyOf(i + j), value: `v${i + j}\n"quoted"` })));
  }
  await db.close();
  return dir;
}

test(`scan --json of ${ROWS} rows: written row by row, the same text as one JSON array of them`, async () => {
  const dir = await database();
  const writes: string[] = [];
  const r = await cli(["scan", dir, "--json"], { stdout: (t) => void writes.push(t) });
  assert.is(r.code, 0, r.err);
  const expected = toJson(Array.from({ length: ROWS }, (_, i) => ({ key: keyOf(i), value: `v${i}\n"quoted"` })));
  assert.ok(expected.includes('\\n\\"quoted\\"'), "values with a newline and quotes, escaped");
  assert.is(writes.join(""), expected);
  assert.ok(writes.length > ROWS, `written as it went (${writes.length} writes)`);
  const empty: string[] = [];
  assert.is((await cli(["scan", dir, "--json", "--prefix", "none"], { stdout: (t) => void empty.push(t) })).code, 0);
  assert.is(empty.join(""), toJson([]), "no rows: []");
});

test(`scan as tables of ${ROWS} rows: ${Math.ceil(ROWS / SCAN_TABLE_ROWS)} tables of at most ${SCAN_TABLE_ROWS} rows, every row once, in order, then the count`, async () => {
  const dir = await database();
  const writes: string[] = [];
  const r = await cli(["scan", dir, "--limit", String(ROWS)], { stdout: (t) => void writes.push(t) });
  assert.is(r.code, 0, r.err);
  assert.is(writes.length, Math.ceil(ROWS / SCAN_TABLE_ROWS) + 1, "one write per table, one for the count");
  const keys = writes.join("").match(/k\d{5}/g) ?? [];
  assert.equal(keys, Array.from({ length: ROWS }, (_, i) => keyOf(i)));
  assert.is(writes.at(-1), `${ROWS} rows\n`);
});

test(`wal dump --json of ${ROWS} records: written record by record, the same text as toJson of the whole object`, async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards: 2 });
  for (let i = 0; i < ROWS; i++) await db.put(keyOf(i), `v${i}`);
  await db.close();
  const writes: string[] = [];
  const r = await cli(["wal", "dump", dir, "--json"], { stdout: (t) => void writes.push(t) });
  assert.is(r.code, 0, r.err);
  const out = writes.join("");
  const parsed = JSON.parse(out);
  assert.is(out, toJson(parsed), "the text toJson makes of it");
  assert.is(parsed.records.length, ROWS);
  assert.equal(parsed.records.map((record: { ops: Array<{ key: string }> }) => record.ops[0].key), Array.from({ length: ROWS }, (_, i) => keyOf(i)));
  assert.ok(writes.length > ROWS, `written as it went (${writes.length} writes)`);

  const tables: string[] = [];
  assert.is((await cli(["wal", "dump", dir], { stdout: (t) => void tables.push(t) })).code, 0);
  assert.is(tables.length, Math.ceil(ROWS / WAL_TABLE_ROWS) + 1, "one write per table of WAL_TABLE_ROWS operations, one for the count");
  assert.equal(tables.join("").match(/k\d{5}/g), Array.from({ length: ROWS }, (_, i) => keyOf(i)));
  assert.match(tables.at(-1)!, new RegExp(`^${ROWS} records from `));
});

test("wal dump --json of an empty log and with --limit 0: the same text as toJson", async () => {
  const dir = tempDir("shardline-cli-");
  await (await open(dir)).close();
  for (const argv of [["wal", "dump", dir, "--json"], ["wal", "dump", dir, "--json", "--limit", "0"]]) {
    const r = await cli(argv);
    assert.is(r.code, 0, r.err);
    assert.is(r.out, toJson(JSON.parse(r.out)), argv.join(" "));
    assert.equal(JSON.parse(r.out).records, []);
  }
});

test.run();
