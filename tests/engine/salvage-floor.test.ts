// Salvage and the floor of a group WAL (docs/RECOVERY.md G1, G4a): the log's next record
// must be above every seq in a table (reads see a table version only below the snapshot)
// and at or past the MANIFEST's checkpoint (replay starts there). Defects an adversarial
// review found on 2026-12-06, each seen failing before its fix: a salvage cut below those
// went on at the cut (keys held by tables read as missing; a write acknowledged after the
// salvage was skipped by the next replay), and a log begun anew after R4 started below the
// checkpoint. Now the log is set aside (R9) and a new one starts at the floor.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { durableMarkPath } from "../../src/engine/reader-slots.ts";
import { manifestCore, readManifest } from "../../src/engine/manifest.ts";
import { readDurableMark } from "../../src/wal/durable-mark.ts";
import { SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { cleanup, eventually, open, platform, rewriteFile, tempDir, text } from "./helpers.ts";

const test = suite("engine salvage floor");
test.after.each(cleanup);

const pad = (i: number) => String(i).padStart(5, "0");
const OPTIONS = { shards: 1, durability: "full" } as const;
const BATCHES = 200;
const PER_BATCH = 20;
const KEYS = BATCHES * PER_BATCH;

/**
 * A closed database (one shard, one group-WAL segment) whose 64 KiB memtables were flushed
 * several times: most keys are in tables, the group checkpoint is far into the log.
 */
async function flushedDatabase() {
  const dir = tempDir();
  const core = await manifestCore();
  const db = await open(dir, { ...OPTIONS, memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < BATCHES; i++) {
    await db.batch(Array.from({ length: PER_BATCH }, (_, j) => ({ type: "put" as const, key: `k${pad(i * PER_BATCH + j)}`, value: `v${i * PER_BATCH + j}`.padEnd(100, "x") })));
  }
  await eventually(() => readManifest(core, platform, dir)!.groupCheckpoint > 300_000, "flushes move the checkpoint");
  await db.close();
  const manifest = readManifest(core, platform, dir)!;
  const segments = listSegmentFiles(platform, `${dir}/wal`);
  assert.is(segments.length, 1);
  const mark = readDurableMark(platform, durableMarkPath(dir))!;
  assert.ok(mark >= manifest.groupCheckpoint);
  return { dir, core, manifest, segment: segments[0], mark };
}

/** Flips a byte of a record well below the checkpoint (a record the tables already hold). */
function flipBelowCheckpoint(segment: { path: string; firstLsn: number }, checkpoint: number): number {
  const lsn = segment.firstLsn + Math.floor((checkpoint - segment.firstLsn) / 2);
  rewriteFile(segment.path, (bytes) => void (bytes[SEGMENT_HEADER_BYTES + (lsn - segment.firstLsn)] ^= 0x10));
  return lsn;
}

test("salvage cuts the group WAL below the tables' maxSeq: every key the tables hold still reads (the log is set aside, R9)", async () => {
  const { dir, manifest, segment, mark } = await flushedDatabase();
  const cutNear = flipBelowCheckpoint(segment, manifest.groupCheckpoint);
  assert.ok(cutNear < Number(manifest.maxSeq));
  // Keys in tables: those of the batches wholly below the checkpoint (each batch is one
  // record of the same size, and the mark is the log's end after a close).
  const recordBytes = (mark - segment.firstLsn) / BATCHES;
  const inTables = Math.floor((manifest.groupCheckpoint - segment.firstLsn) / recordBytes) * PER_BATCH;
  assert.ok(inTables > KEYS / 2 && inTables < KEYS, `${inTables} keys in tables`);
  const db = await open(dir, { ...OPTIONS, salvage: true });
  try {
    assert.ok(db.stats().recovery!.groupLog!.bytesCut > 0);
    assert.ok(db.stats().recovery!.groupLog!.decisions.includes("R9"), JSON.stringify(db.stats().recovery!.groupLog!.decisions));
    const missing: string[] = [];
    for (let i = 0; i < inTables; i++) if (db.get(`k${pad(i)}`) === undefined) missing.push(`k${pad(i)}`);
    assert.is(missing.length, 0, `${missing.length} of ${inTables} keys held by tables read as missing after the salvage, from ${missing[0]}`);
  } finally {
    await db.close();
  }
});

test("salvage cuts the group WAL below the checkpoint: a write and a delete acknowledged after the salvage survive the next open", async () => {
  const { dir, manifest, segment } = await flushedDatabase();
  flipBelowCheckpoint(segment, manifest.groupCheckpoint);
  const salvaged = await open(dir, { ...OPTIONS, salvage: true });
  await salvaged.put("after-salvage", "acknowledged");
  await salvaged.delete(`k${pad(0)}`);
  assert.is(text(salvaged.get("after-salvage")), "acknowledged");
  await salvaged.close();
  const db = await open(dir, OPTIONS);
  try {
    assert.is(text(db.get("after-salvage")), "acknowledged", "an acknowledged put is lost");
    assert.is(db.get(`k${pad(0)}`), undefined, "a deleted key comes back");
  } finally {
    await db.close();
  }
});

test("salvage moves the only group-WAL segment aside (bad header, G1 after R4): the new log starts at the checkpoint, and a write acknowledged after it survives the next open", async () => {
  const { dir, manifest, segment } = await flushedDatabase();
  const startLsn = Math.ceil((Number(manifest.maxSeq) + 1) / 8) * 8;
  assert.ok(manifest.groupCheckpoint - startLsn > 200, `checkpoint ${manifest.groupCheckpoint}, a new log would start at ${startLsn}`);
  rewriteFile(segment.path, (bytes) => void (bytes[20] ^= 0x10)); // inside the segment header
  const salvaged = await open(dir, { ...OPTIONS, salvage: true });
  assert.ok(salvaged.stats().recovery!.groupLog!.decisions.includes("R4"), JSON.stringify(salvaged.stats().recovery!.groupLog));
  await salvaged.put("after-salvage", "acknowledged");
  await salvaged.close();
  const db = await open(dir, OPTIONS);
  try {
    assert.is(text(db.get("after-salvage")), "acknowledged", "an acknowledged put is lost");
  } finally {
    await db.close();
  }
});

test.run();
