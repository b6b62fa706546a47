// Salvage forks the history (docs/RECOVERY.md): an open with `salvage` that gives up records
// (R4, R5, R8, or missing segments) gives the database a new id, in the MANIFEST and
// IDENTITY, durably before it gives anything up; replication then refuses to splice the old
// history's stream with the new one (tests/replicate/stream-identity.test.ts). An open that
// gives up nothing keeps the id: a torn tail cut (R7), a salvage open of a healthy log.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { appendFileSync } from "node:fs";
import { readIdentity } from "../../src/engine/identity.ts";
import { manifestCore, readManifest } from "../../src/engine/manifest.ts";
import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { cleanup, open, platform, rewriteFile, tempDir, text } from "./helpers.ts";

const test = suite("engine salvage identity");
test.after.each(cleanup);

const OPTIONS = { shards: 1, memtableBytesMax: 8 * 1024 * 1024 } as const;

async function written(): Promise<{ dir: string; id: string; middle: number }> {
  const dir = tempDir();
  const db = await open(dir, OPTIONS);
  for (let i = 0; i < 10; i++) await db.put(`k${i}`, `v${i}`);
  const middle = Number(db.stats().wal.durableLsn);
  for (let i = 10; i < 20; i++) await db.put(`k${i}`, `v${i}`);
  await db.close();
  const id = readManifest(await manifestCore(), platform, dir)!.databaseId!;
  assert.is(readIdentity(platform, dir), id);
  return { dir, id, middle };
}

const idsOf = async (dir: string) => ({ manifest: readManifest(await manifestCore(), platform, dir)!.databaseId, identity: readIdentity(platform, dir) });

test("a salvage that cuts acknowledged records (R8) gives the database a new id, in the MANIFEST and IDENTITY", async () => {
  const { dir, id, middle } = await written();
  const [segment] = listSegmentFiles(platform, `${dir}/wal`);
  rewriteFile(segment.path, (bytes) => void (bytes[SEGMENT_HEADER_BYTES + (middle - segment.firstLsn) + RECORD_HEADER_BYTES + 2] ^= 0xff));
  const db = await open(dir, { ...OPTIONS, salvage: true });
  try {
    assert.ok(db.stats().recovery!.groupLog!.decisions.includes("R8"), JSON.stringify(db.stats().recovery!.groupLog));
    assert.is(text(db.get("k9")), "v9");
    assert.is(db.get("k10"), undefined, "the records after the cut are gone");
  } finally {
    await db.close();
  }
  const ids = await idsOf(dir);
  assert.ok(ids.manifest !== id, `the MANIFEST kept the id ${id}`);
  assert.is(ids.identity, ids.manifest, "IDENTITY names the new id");
  const again = await open(dir, OPTIONS);
  await again.close();
  assert.equal(await idsOf(dir), ids, "a plain open afterwards keeps the new id");
});

test("an open that gives up nothing keeps the id: a torn tail past the durable mark (R7), and a salvage open of a healthy log", async () => {
  const { dir, id } = await written();
  const [segment] = listSegmentFiles(platform, `${dir}/wal`);
  // What a crash mid-write leaves past the last synced record: bytes that are no record.
  appendFileSync(segment.path, new Uint8Array(64).fill(0x5a));
  const db = await open(dir, OPTIONS);
  try {
    assert.ok(db.stats().recovery!.groupLog!.decisions.includes("R7"), JSON.stringify(db.stats().recovery!.groupLog));
    assert.is(text(db.get("k19")), "v19");
  } finally {
    await db.close();
  }
  assert.equal(await idsOf(dir), { manifest: id, identity: id }, "after a torn tail");
  const salvaged = await open(dir, { ...OPTIONS, salvage: true });
  await salvaged.close();
  assert.equal(await idsOf(dir), { manifest: id, identity: id }, "after a salvage open of a healthy log");
});

test.run();
