// The group WAL's durable mark (readers/DURABLE, src/wal/durable-mark.ts) in recovery: every
// record below it was fdatasynced, so no crash can tear it. A last segment that ends its
// valid records below the mark (a flipped byte, zeros where records were) is corruption,
// not a torn tail: open refuses with CorruptionError instead of cutting the log there and
// losing acknowledged writes without a word (an adversarial review of the CLI found it on
// 2026-12-06: `get` then said "not found" for writes acknowledged as durable). `salvage`
// cuts as before.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CorruptionError } from "../../src/errors.ts";
import { durableMarkPath } from "../../src/engine/reader-slots.ts";
import { readDurableMark } from "../../src/wal/durable-mark.ts";
import { SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { rejects } from "../harness/assert.ts";
import { cli, json } from "../cli/helpers.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { bounded, withPowerLoss } from "../harness/power-loss-platform.ts";
import { cleanup, open, platform, rewriteFile, tempDir, text } from "./helpers.ts";

const test = suite("engine durable mark in recovery");
test.after.each(cleanup);

const pad = (i: number) => String(i).padStart(5, "0");
const PUTS = 200;
/** Close does not flush: the puts stay in the log only (memtables are rebuilt by replay). */
const OPTIONS = { shards: 1, durability: "full" } as const;

/** A database whose puts are all acknowledged durable and only in the group WAL; its last segment and the mark. */
async function loggedPuts() {
  const dir = tempDir();
  const db = await open(dir, OPTIONS);
  for (let i = 0; i < PUTS; i++) await db.put(`k${pad(i)}`, `v${i}`.padEnd(100, "x"));
  await db.close();
  const segments = listSegmentFiles(platform, `${dir}/wal`);
  const last = segments[segments.length - 1];
  const mark = readDurableMark(platform, durableMarkPath(dir));
  assert.ok(mark !== undefined && mark > last.firstLsn + 8192, `the mark (${mark}) is well inside the last segment (from ${last.firstLsn})`);
  return { dir, last, mark: mark! };
}

test("a byte flipped in the last segment below the durable mark: open refuses (CorruptionError), salvage cuts there", async () => {
  const { dir, last, mark } = await loggedPuts();
  const at = SEGMENT_HEADER_BYTES + Math.floor((mark - last.firstLsn) / 2);
  rewriteFile(last.path, (bytes) => void (bytes[at] ^= 0x10));
  const error = await rejects(() => open(dir, OPTIONS), CorruptionError);
  assert.match(error.message, /durable/);
  // doctor reports what open refuses: an error on the group WAL, repaired only by salvage.
  const doctor = await cli(["doctor", dir, "--json"]);
  const errors = (json(doctor).findings as Array<{ severity: string; check: string; repair?: string; message: string }>).filter((f) => f.severity === "error");
  assert.is(doctor.code, 1, doctor.out);
  assert.ok(errors.some((f) => f.check === "wal" && f.repair === "salvage" && /durable mark/.test(f.message)), JSON.stringify(errors));
  const salvaged = await open(dir, { ...OPTIONS, salvage: true });
  try {
    assert.is(text(salvaged.get(`k${pad(0)}`))?.slice(0, 2), "v0", "the records before the cut are kept");
    assert.ok(salvaged.stats().recovery!.groupLog!.bytesCut > 0, "salvage reports what it cut");
  } finally {
    await salvaged.close();
  }
});

test("zeros where records below the durable mark were (the last segment ends cleanly too early): open refuses", async () => {
  const { dir, last, mark } = await loggedPuts();
  const from = SEGMENT_HEADER_BYTES + Math.floor((mark - last.firstLsn) / 2);
  rewriteFile(last.path, (bytes) => bytes.fill(0, from));
  await rejects(() => open(dir, OPTIONS), CorruptionError);
});

test("a torn tail above the durable mark is still cut (R7): open goes on with every acknowledged write", async () => {
  const { dir, last } = await loggedPuts();
  // What a crash leaves: garbage after the last record, past what was ever synced.
  const size = platform.stat(last.path)!.size;
  rewriteFile(last.path, (bytes) => {
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    let end = SEGMENT_HEADER_BYTES;
    while (end + 12 <= size && view.getUint32(end + 4, true) !== 0) end += (12 + (view.getUint32(end + 4, true) & 0xffffff) + 7) & ~7;
    bytes.fill(0xab, end, Math.min(size, end + 100));
  });
  const db = await open(dir, OPTIONS);
  try {
    for (let i = 0; i < PUTS; i += 37) assert.is(text(db.get(`k${pad(i)}`))?.slice(0, `v${i}`.length), `v${i}`);
    assert.ok(db.stats().recovery!.groupLog!.decisions.includes("R7"), JSON.stringify(db.stats().recovery!.groupLog!.decisions));
  } finally {
    await db.close();
  }
});

test("a salvage that cut the log below the mark, then a power loss: the lowered mark was made durable, so the next open does not refuse", async () => {
  const { dir, last, mark } = await loggedPuts();
  rewriteFile(last.path, (bytes) => void (bytes[SEGMENT_HEADER_BYTES + Math.floor((mark - last.firstLsn) / 2)] ^= 0x10));
  // The salvaging writer runs under power loss: only what it synced survives.
  const p = withPowerLoss(platform, dir);
  // (No lock: the crashed handle's lock file names this live process.)
  const unlocked = { ...OPTIONS, coordination: "single-process-unsafe" } as const;
  const salvaged = await bindDatabaseApi(p).open(dir, { ...unlocked, salvage: true });
  await salvaged.put("after-salvage", "acknowledged");
  p.crash();
  await bounded(salvaged.close());
  const db = await open(dir, unlocked);
  try {
    assert.is(text(db.get("after-salvage")), "acknowledged");
  } finally {
    await db.close();
  }
});

test.run();
