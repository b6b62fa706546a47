// What open checks in a MANIFEST before it deletes anything (src/engine/manifest.ts
// decodeManifest, open.ts removeOrphans): every table it names is numbered below its
// nextTableNumber, since open deletes unnamed tables at or past that number (a killed
// writer's unpublished flush) and the next flush takes it. A MANIFEST that breaks this is
// refused with CorruptionError, and no file is deleted.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toolCore } from "../../src/cli/database.ts";
import { readManifest, writeManifest } from "../../src/engine/manifest.ts";
import { CorruptionError } from "../../src/engine/public.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, open, platform, tempDir } from "./helpers.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { core, enc, writeAll } from "../table/helpers.ts";

const test = suite("engine manifest check");

/** Of MANIFESTs holding `cases` (JSON, with a right checksum), those open does not refuse with CorruptionError naming the MANIFEST. */
async function notRefused(cases: string[]): Promise<string[]> {
  const { open } = bindDatabaseApi(platform);
  const wrong: string[] = [];
  for (const json of cases) {
    const dir = tempDir();
    writeAll(`${dir}/MANIFEST`, enc.encode(`SLMF 1\n${json}\n${core.crc32c(enc.encode(json)).toString(16).padStart(8, "0")}\n`));
    try {
      const db = await open(dir, { coordination: "single-process-unsafe" });
      await db.close();
      wrong.push(`${json}: opened`);
    } catch (error) {
      const e = error as { code?: string; file?: string; name?: string; message?: string };
      if (e.code !== "SHARDLINE_CORRUPTION" || e.file !== `${dir}/MANIFEST`) wrong.push(`${json}: ${e.name}: ${e.message?.slice(0, 100)}`);
    }
  }
  return wrong;
}
test("a MANIFEST whose checksum matches but whose JSON lacks fields or is null: open refuses with CorruptionError (M2), not a TypeError or RangeError", async () => {
  // decodeManifest (manifest.ts) checked the CRC, formatVersion, shards and nextTableNumber,
  // then read fields it never checked existed (review, 2026-12-05): `partitionCheckpoints.length`, `tables.find`,
  // `maxSeq` (NaN startLsn in open.ts). A MANIFEST written by a buggy tool or an older
  // writer was then a TypeError/RangeError, not the typed CorruptionError RECOVERY.md M2 promises.
  const cases = [
    "null",
    '{"formatVersion":1,"shards":1}',
    '{"formatVersion":1,"shards":1,"partitionCheckpoints":[0],"maxTs":["0"],"nextTableNumber":1}',
    '{"formatVersion":1,"shards":1,"partitionCheckpoints":[0],"maxTs":["0"],"nextTableNumber":1,"tables":[],"groupCheckpoint":0,"maxSeq":"x"}',
  ];
  assert.equal(await notRefused(cases), [], "not refused as a corrupt MANIFEST");
});

test.after.each(cleanup);

test("a checksum-right MANIFEST naming a table twice, or with a table's count or key of the wrong type: open refuses with CorruptionError (M2), not a DOMException", async () => {
  // Fields reads use that decodeManifest did not check (review, 2026-12-06): a key that is
  // not base64 reached atob, and a table named twice was opened twice.
  const record = (number: number, change: Record<string, unknown> = {}) => ({ shard: 0, number, tier: 0, bytes: 100, entries: 1, tombstones: 0, smallestKey: "YQ==", largestKey: "YQ==", minTs: "1", maxTs: "1", maxSeq: "8", ...change });
  const manifestWith = (tables: unknown[]) => JSON.stringify({ formatVersion: 1, shards: 1, version: 1, nextTableNumber: 9, tables, groupCheckpoint: 8, partitionCheckpoints: [0], maxTs: ["1"], maxSeq: "8" });
  const cases = [
    manifestWith([record(1), record(1)]),
    manifestWith([record(1, { bytes: "100" })]),
    manifestWith([record(1, { entries: -1 })]),
    manifestWith([record(1, { smallestKey: "not base64!" })]),
  ];
  assert.equal(await notRefused(cases), [], "not refused as a corrupt MANIFEST");
});

test("a checksum-right MANIFEST with more shards than SHARDS_MAX, or a timestamp past 64 bits: open refuses with CorruptionError (M2)", async () => {
  // decodeManifest checked shards >= 1 only, and timestamps as decimal strings of any
  // length (review, 2026-12-06): a wasm call then wrapped the timestamp to 64 bits, and
  // 300 shards reached Core.create.
  const manifest = (change: Record<string, unknown>) => JSON.stringify({ formatVersion: 1, shards: 1, version: 1, nextTableNumber: 1, tables: [], groupCheckpoint: 0, partitionCheckpoints: [0], maxTs: ["0"], maxSeq: "0", ...change });
  const cases = [
    manifest({ shards: 300, partitionCheckpoints: new Array(300).fill(0), maxTs: new Array(300).fill("0") }),
    manifest({ maxTs: ["18446744073709551616"] }),
    manifest({ maxSeq: "99999999999999999999999" }),
  ];
  assert.equal(await notRefused(cases), [], "not refused as a corrupt MANIFEST");
});

test("a MANIFEST over MANIFEST_BYTES_MAX (a sparse file of 300 MB): open refuses it with CorruptionError before reading it", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1 });
  await db.put("k", "v");
  await db.close();
  const file = platform.open(`${dir}/MANIFEST`, "readwrite");
  file.truncate(300 * 1024 * 1024); // its first bytes stay, the rest reads as zeros
  file.close();
  // Writable and read-only opens alike, without reading the file (a read-only open read it
  // whole first, and so did a live reader at each refresh and a snapshot upload: review 2026-12-06).
  const reads: string[] = [];
  const { open: openWatched } = bindDatabaseApi({ ...platform, readFile: (path: string) => (reads.push(path), platform.readFile(path)) });
  for (const readOnly of [false, true]) {
    const error = await openWatched(dir, { readOnly }).then((opened) => opened.close().then(() => undefined), (e: unknown) => e);
    const e = error as { code?: string; message?: string; name?: string };
    assert.is(e?.code, "SHARDLINE_CORRUPTION", `readOnly ${readOnly}: ${e?.name}: ${e?.message?.slice(0, 200)}`);
    assert.match(e.message!, /MANIFEST_BYTES_MAX/);
  }
  assert.equal(reads.filter((path) => path.endsWith("/MANIFEST")), [], "the MANIFEST was read");
});

test("a MANIFEST naming a table at or past its nextTableNumber: open refuses with CorruptionError and deletes no table", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 1, memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < 800; i++) await db.put(`k${String(i).padStart(4, "0")}`, "v".repeat(200));
  await db.close();
  const core = await toolCore();
  try {
    const manifest = readManifest(core, platform, dir)!;
    assert.ok(manifest.tables.length > 0, "the writes made tables");
    const last = Math.max(...manifest.tables.map((t) => t.number));
    writeManifest(core, platform, dir, { ...manifest, nextTableNumber: last });
  } finally {
    core.detach();
  }
  const before = platform.readdir(`${dir}/tables`).sort();
  await rejects(() => open(dir), (e) => e instanceof CorruptionError && /names table \d+, at or past its nextTableNumber/.test(e.message));
  assert.equal(platform.readdir(`${dir}/tables`).sort(), before, "no table deleted");
});

test.run();
