// `shardline scan` prints its rows as the scan goes (src/cli/data-commands.ts): before, it
// collected every row first, so a scan of a database larger than memory could not be
// printed at all (an open item of the 2026-12-06 review of the CLI). The JSON output is
// still one array, the same text as before; tables hold at most SCAN_TABLE_ROWS rows each.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { SCAN_TABLE_ROWS } from "../../src/cli/data-commands.ts";
import { toJson } from "../../src/cli/io.ts";
import { cleanup, open, tempDir } from "../engine/helpers.ts";
import { cli } from "./helpers.ts";

const test = suite("cli scan output");
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

test.run();
