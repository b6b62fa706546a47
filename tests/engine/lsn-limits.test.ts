// LSNs past the limit in the files open trusts (docs/RECOVERY.md, steps 3 and 5). LSNs are
// multiples of 8 below 2^53 (the core's ring refuses a start at or past it,
// assembly/walring.ts LSN_LIMIT), but two files could name larger ones. Seen failing before
// the fix (adversarial review of open, recovery and the lock, 2026-12-07; Node, Bun and
// Deno, 3 runs of 3):
// - a MANIFEST whose checksum holds and whose maxSeq (accepted up to 2^64-1) or
//   groupCheckpoint (accepted up to 2^53-1) puts the log's floor at or past 2^53: open
//   failed with RangeError "cannot format the log buffer (status 5)" (src/wal/log.ts), a
//   read-only open with RangeError "cannot format a ring" (src/engine/open-read-only.ts),
//   after the writer's open had already flushed the log (R10) and set it aside (R9); with
//   maxSeq 2^64-1 the floor rounded to 2^64, which the ring took as LSN 0 (a u64 wraps):
//   both opens succeeded and showed no row at all (every version's seq was above the
//   snapshot), the writer acknowledged a write into a segment named
//   "...-10000000000000000.wal" (17 hex digits: no segment name), and the next open failed;
// - a well-formed durable mark (readers/DURABLE) at or past 2^53: a read-only open, and a
//   salvage open of a database whose wal/ is empty (G1b), failed with the same RangeErrors.
// Now decodeManifest refuses such a MANIFEST (CorruptionError, before recovery touches
// anything), and readDurableMark such a mark.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CorruptionError, ShardlineError } from "../../src/errors.ts";
import { encodeDurableMark } from "../../src/wal/durable-mark.ts";
import { manifestCore, readManifest, writeManifest } from "../../src/engine/manifest.ts";
import { writeAll } from "../wal/helpers.ts";
import { cleanup, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine LSN limits in the files open trusts");
test.after.each(cleanup);

const ROWS = 20;

/** A closed database: ROWS rows, some in tables (flushed by a small memtable), the rest only in the group WAL. */
async function database(): Promise<string> {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  const big = "x".repeat(1000);
  for (let i = 0; i < 200; i++) await db.put(`fill${i}`, big); // fills memtables: tables are written
  for (let i = 0; i < ROWS; i++) await db.put(`k${i}`, `v${i}`); // in the log
  await db.close();
  return dir;
}

/** What an open (and a read) gave: "ok", or the error's class, code and message. */
async function outcome(dir: string, options: object): Promise<{ error?: unknown; what: string }> {
  try {
    const db = await open(dir, options);
    try {
      return { what: `ok k1=${text(db.get("k1"))}` };
    } finally {
      await db.close();
    }
  } catch (error) {
    const e = error as Error & { code?: string };
    return { error, what: `${e?.constructor?.name} ${e?.code ?? ""}: ${e?.message}` };
  }
}

/** Which rows `db` does not show ("" when it shows every one, and each key of `more`). */
function missingIn(db: { get(key: string): Uint8Array | undefined }, more: string[] = []): string {
  const missing: string[] = [];
  for (let i = 0; i < ROWS; i++) if (text(db.get(`k${i}`)) !== `v${i}`) missing.push(`k${i}`);
  if (text(db.get("fill199"))?.length !== 1000) missing.push("fill199");
  for (const key of more) if (text(db.get(key)) === undefined) missing.push(key);
  return missing.length === 0 ? "" : `${missing.length} rows missing (${missing.slice(0, 2).join(", ")} ... ${missing[missing.length - 1]})`;
}

/** missingIn for a writer's open of `dir` (its error, when it fails). */
async function missingRows(dir: string, more: string[] = []): Promise<string> {
  let db;
  try {
    db = await open(dir);
  } catch (error) {
    return `a writer's open fails: ${(error as Error).constructor.name}: ${(error as Error).message.slice(0, 160)}`;
  }
  try {
    const lost = missingIn(db, more);
    return lost && `a writer's open finds ${lost}`;
  } finally {
    await db.close();
  }
}

test("a MANIFEST (checksum right) whose maxSeq or groupCheckpoint puts the log at or past 2^53: CorruptionError, or an open that loses nothing", async () => {
  // [name, change, read-only too] (a read-only open trusts the checkpoint: which rows it then
  // shows depends on what the writer had flushed, so only the writer is judged there).
  const cases: Array<[string, (m: { maxSeq: string; groupCheckpoint: number }) => void, boolean]> = [
    ["maxSeq 2^60", (m) => (m.maxSeq = String(2n ** 60n)), true],
    ["maxSeq 2^64-1", (m) => (m.maxSeq = String(2n ** 64n - 1n)), true],
    ["groupCheckpoint 2^53-1", (m) => (m.groupCheckpoint = 2 ** 53 - 1), false],
  ];
  const core = await manifestCore();
  const wrong: string[] = [];
  for (const [name, change, alsoReadOnly] of cases) {
    for (const readOnly of alsoReadOnly ? [true, false] : [false]) {
      const dir = await database();
      const m = readManifest(core, platform, dir)!;
      change(m);
      writeManifest(core, platform, dir, m);
      let db;
      try {
        db = await open(dir, { readOnly });
      } catch (error) {
        if (!(error instanceof CorruptionError)) wrong.push(`${name}, readOnly ${readOnly}: ${(error as Error).constructor.name}: ${(error as Error).message}`);
        continue;
      }
      // It opened: then it must show every row, and keep what it acknowledges.
      let lost: string;
      try {
        if (readOnly) lost = missingIn(db);
        else await db.put("after", "a");
      } finally {
        await db.close();
      }
      if (!readOnly) lost = await missingRows(dir, ["after"]);
      if (lost!) wrong.push(`${name}, readOnly ${readOnly}: opened; then ${lost!}; wal/: ${platform.readdir(`${dir}/wal`).join(" ")}`);
    }
  }
  assert.equal(wrong, []);
});

test("a well-formed durable mark at or past 2^53 (readers/DURABLE): a typed error or an open, never a RangeError", async () => {
  const wrong: string[] = [];
  const check = (ok: boolean, what: string) => void (ok || wrong.push(what));
  for (const mark of [2 ** 53, 2 ** 62]) {
    // A read-only open reads up to the mark.
    let dir = await database();
    writeAll(`${dir}/readers/DURABLE`, encodeDurableMark(mark));
    let got = await outcome(dir, { readOnly: true });
    check(got.error === undefined || got.error instanceof ShardlineError, `mark ${mark}, readOnly: ${got.what}`);
    // A writer refuses it (R8: the log ends below it).
    got = await outcome(dir, {});
    check(got.error instanceof CorruptionError, `mark ${mark}, writer: ${got.what}`);

    // wal/ emptied: G1b refuses; salvage begins a new log past the mark (which it cannot).
    dir = await database();
    writeAll(`${dir}/readers/DURABLE`, encodeDurableMark(mark));
    platform.removeAll(`${dir}/wal`);
    got = await outcome(dir, {});
    check(got.error instanceof CorruptionError, `mark ${mark}, no wal, writer: ${got.what}`);
    got = await outcome(dir, { salvage: true });
    check(got.error === undefined || got.error instanceof ShardlineError, `mark ${mark}, no wal, salvage: ${got.what}`);
  }
  assert.equal(wrong, []);
});

test.run();
