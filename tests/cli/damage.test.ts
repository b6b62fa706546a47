// What the command line says of damage that every checksum passes, and of read commands on
// a damaged log (review of 2026-12-06, each seen failing before its fix):
//   - doctor now checks a table's entries are in key order, from the meta block's smallest
//     key to its largest, each routed to the shard the MANIFEST lists it for, and the
//     MANIFEST's timestamp counters against the table's (a new write below them reads back
//     as an older version);
//   - scan and get of a log whose records end below the durable mark fail (read-records.ts),
//     as the writer's open does (R8), instead of printing fewer rows;
//   - an open deletes the slots of dead read-only handles (doctor counted them among what
//     --repair fixes), and leaves a .sst file not named as the engine names tables (F5);
//   - --repair of a directory with no wal/ no longer throws ENOENT, and its refusal line is
//     escaped.
import { Buffer } from "node:buffer";
import { mkdirSync, writeFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toolCore } from "../../src/cli/database.ts";
import { Core } from "../../src/core/core.ts";
import { readManifest, tableFileName, tableRecord, writeManifest } from "../../src/engine/manifest.ts";
import { blockChecksum, BlockKind } from "../../src/table/format.ts";
import { BlockCache } from "../../src/table/block-cache.ts";
import { TableReader } from "../../src/table/table-reader.ts";
import { writeTable } from "../../src/table/table-writer.ts";
import { cleanup, enc, open, platform, rewriteFile, tempDir, text } from "../engine/helpers.ts";
import { cli, json } from "./helpers.ts";

const test = suite("cli damage");
test.after.each(cleanup);
test.after(cleanup);


// ---- doctor: damage with every checksum right -------------------------------------------

/**
 * A closed database of `shards` shards (made by the engine, no table yet) to which a table
 * of `entries` is added, written by the table writer and listed in the MANIFEST for
 * `shard` (`edit` may change its manifest record, or the table's bytes before it is listed).
 */
async function dbWithTable(
  shards: number,
  shard: number,
  entries: Array<{ key: string; ts: bigint; value: string }>,
  edit: { bytes?: (bytes: Uint8Array, core: Core) => void; manifest?: (m: ReturnType<typeof readManifest> & object) => void } = {},
): Promise<string> {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { shards });
  await db.close();
  const core = await toolCore();
  try {
    const manifest = readManifest(core, platform, dir)!;
    const number = manifest.nextTableNumber;
    const path = `${dir}/tables/${tableFileName(number)}`;
    let seq = 0n;
    let meta = writeTable(platform, core, path, entries.map((e) => ({ key: enc.encode(e.key), ts: e.ts, seq: ++seq, value: enc.encode(e.value) })), { restartIntervalEntries: 1 });
    if (edit.bytes) {
      rewriteFile(path, (b) => edit.bytes!(b, core));
      const reader = TableReader.open(platform, core, path, new BlockCache({ cacheBytesMax: 0 }));
      meta = reader.meta;
      reader.close();
    }
    manifest.tables.push(tableRecord(shard, number, 0, meta));
    manifest.nextTableNumber = number + 1;
    manifest.maxTs[shard] = String(meta.maxTs);
    manifest.maxSeq = String(meta.maxSeq);
    edit.manifest?.(manifest);
    writeManifest(core, platform, dir, manifest);
  } finally {
    core.detach();
  }
  return dir;
}

/** Swaps data block 0's first two entries (each `entryBytes` long) in a one-block table and recomputes the block's checksum. */
function swapFirstEntries(bytes: Uint8Array, core: Core, entryBytes: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const blockBytes = Number(view.getBigUint64(bytes.length - 96 + 8, true)); // the footer's indexOffset: where the only data block ends
  const first = bytes.slice(0, entryBytes);
  bytes.copyWithin(0, entryBytes, 2 * entryBytes);
  bytes.set(first, entryBytes);
  view.setUint32(blockBytes - 4, blockChecksum(core, BlockKind.DATA, 0, bytes.subarray(0, blockBytes - 4)), true);
}

test("doctor reports an error for a table whose entries are out of key order although every checksum is right (get then misses a key scan shows)", async () => {
  // Three entries of 23 bytes each (restart interval 1: every key whole; values of 2 bytes):
  // the first two are swapped in place and the block's checksum recomputed, as a writer bug would leave them.
  const entries = [{ key: "ka", ts: 1n, value: "va" }, { key: "kb", ts: 2n, value: "vb" }, { key: "kc", ts: 3n, value: "vc" }];
  const dir = await dbWithTable(1, 0, entries, { bytes: (b, core) => swapFirstEntries(b, core, 3 + 16 + 2 + 2) });

  // The damage is real: the engine's own reads disagree with each other.
  const scan = await cli(["scan", dir, "--json"]);
  assert.equal(json(scan).map((r: { key: string }) => r.key), ["kb", "ka", "kc"], "scan returns the keys in the order stored");
  const get = await cli(["get", dir, "ka"]);
  assert.is(get.code, 1, "get misses a key the scan shows");

  const r = await cli(["doctor", dir, "--json"]);
  const report = json(r);
  const errors = report.findings.filter((f: { severity: string }) => f.severity === "error");
  assert.ok(errors.some((f: { file: string }) => f.file === "tables/000001.sst"), `doctor reports no error for the out-of-order table: ${JSON.stringify(report.findings.map((f: { severity: string; file: string; message: string }) => `${f.severity} ${f.file}: ${f.message}`))}`);
  assert.is(r.code, 1);
});

test("doctor reports an error for a table the MANIFEST lists for a shard its keys do not route to (every get of them misses)", async () => {
  const router = await Core.create({ shards: 2, memoryBytesMax: 16 * 1024 * 1024 });
  let keys: string[];
  try {
    keys = Array.from({ length: 64 }, (_, i) => `key-${String(i).padStart(2, "0")}`).filter((k) => router.shardOf(enc.encode(k)) === 0).slice(0, 3);
  } finally {
    router.detach();
  }
  assert.is(keys.length, 3);
  // Keys of shard 0, listed for shard 1: a MANIFEST with a right checksum and a wrong record.
  const dir = await dbWithTable(2, 1, keys.map((key, i) => ({ key, ts: BigInt(i + 1), value: `v${i}` })));
  const scan = json(await cli(["scan", dir, "--json"]));
  assert.is(scan.length, 3, "scan reads every table");
  const get = await cli(["get", dir, keys[0]]);
  assert.is(get.code, 1, "get looks in shard 0's tables only, and misses the key");

  const r = await cli(["doctor", dir, "--json"]);
  const report = json(r);
  const errors = report.findings.filter((f: { severity: string }) => f.severity === "error");
  assert.ok(errors.some((f: { file: string }) => f.file === "tables/000001.sst"), `no error for a table of shard 0's keys listed for shard 1: ${JSON.stringify(report.findings.map((f: { severity: string; file: string; message: string }) => `${f.severity} ${f.file}: ${f.message}`))}`);
  assert.is(r.code, 1);
});

test("doctor reports an error for a MANIFEST whose per-shard maxTs is below the timestamps its tables hold (a new put is then shadowed by an older version)", async () => {
  const dir = await dbWithTable(1, 0, [{ key: "k", ts: 5n, value: "old" }], { manifest: (m) => void (m.maxTs[0] = "0") });

  const r = await cli(["doctor", dir, "--json"]);
  const report = json(r);
  const findings = JSON.stringify(report.findings.map((f: { severity: string; file: string; message: string }) => `${f.severity} ${f.file}: ${f.message}`));

  // The damage is real: a put acknowledged after it reads back as the older value.
  const put = await cli(["put", dir, "k", "new"]);
  assert.is(put.code, 0, put.err);
  const got = json(await cli(["get", dir, "k", "--json"]));
  assert.is(got.value, "old", "the table's version (ts 5) shadows the put (ts 1)");

  assert.ok(report.summary.errors > 0, `doctor finds nothing wrong: ${findings}`);
  assert.is(r.code, 1);
});

// ---- read commands on a damaged log -----------------------------------------------------

test("scan and get of a database whose group WAL has a corrupt record below the durable mark fail with exit 1 (as doctor and a writer's open refuse it), not print fewer rows with exit 0", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { durability: "full" });
  for (const k of ["a", "b", "c", "d", "e"]) await db.put(k, `val-${k}`);
  await db.close();
  // One flipped bit in the payload of the second record (every record acknowledged, synced, below the mark).
  const segments = platform.readdir(`${dir}/wal`).filter((n) => n.endsWith(".wal")).sort();
  assert.is(segments.length, 1);
  rewriteFile(`${dir}/wal/${segments[0]}`, (b) => {
    const at = Buffer.from(b.buffer, b.byteOffset, b.length).indexOf("val-b");
    assert.ok(at > 0, "the record is in the segment");
    b[at] ^= 0x01;
  });

  const doctor = await cli(["doctor", dir, "--json"]);
  assert.is(doctor.code, 1, "doctor reports the damage as an error (open refuses this log)");

  const scan = await cli(["scan", dir, "--json"]);
  const get = await cli(["get", dir, "e"]);
  assert.equal(
    { scan: scan.code, get: get.code, getSaysNotFound: /not found/.test(get.err) },
    { scan: 1, get: 1, getSaysNotFound: false },
    `scan printed ${scan.out.replace(/\s+/g, " ")}; get: ${get.err.trim()}`,
  );
  assert.match(scan.err, /doctor/, "the failure points to shardline doctor");
});

// ---- doctor --repair: does it fix what it says it fixes ----------------------------------

test("doctor --repair removes a gone read-only handle's slot, which doctor counts among what a normal open (--repair) fixes", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir);
  await db.put("k", "v");
  await db.close();
  // The slot of a read-only handle whose process is gone (pid beyond any the kernel hands out).
  const slot = `${dir}/readers/4194305-1-00ff.reader`;
  writeFileSync(slot, JSON.stringify({ pid: 4194305, startTime: 1, runtime: "node", openedAt: "2020-01-01T00:00:00.000Z", updatedAt: "2020-01-01T00:00:00.000Z", manifestVersion: 1, lsn: 8 }));

  const before = await cli(["doctor", dir]);
  assert.match(before.out, /1 of these a normal open fixes: run `shardline doctor --repair/, "doctor offers --repair for the slot");

  const r = await cli(["doctor", dir, "--repair", "--json"]);
  const report = json(r);
  assert.is(report.repair.performed, true, JSON.stringify(report.repair));
  const left = report.repair.after.findings.filter((f: { repair?: string }) => f.repair === "open").map((f: { file: string; message: string }) => `${f.file}: ${f.message}`);
  assert.equal(left, [], "findings --repair was to fix that are still there after it");
  assert.is(platform.stat(slot), undefined, "the dead slot is gone");
});

// ---- doctor: what reaches the terminal ------------------------------------------------

test("doctor --repair leaves a .sst file not named as the engine names tables, and never passes the control characters of its name to the terminal", async () => {
  // A directory that lost its MANIFEST and whose wal/ is missing, holding a file whose name
  // has an ESC sequence (clear the screen) in it: --repair rebuilds an empty MANIFEST.
  const dir = tempDir("shardline-cli-");
  mkdirSync(`${dir}/tables`);
  mkdirSync(`${dir}/shard-000`);
  const odd = `${dir}/tables/evil\x1b[2J\x1b]0;owned\x07.sst`;
  writeFileSync(odd, "x");
  const r = await cli(["doctor", dir, "--repair"]);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /not a name the engine gives its tables/);
  const raw = (r.out + r.err).split("\n").filter((l) => /[\x00-\x09\x0b-\x1f\x7f]/.test(l));
  assert.equal(raw, [], "lines of doctor's output with raw control characters");
  assert.ok(platform.stat(odd), "the file is left (RECOVERY.md F5)");
});

// A file under a second name for one table number is not the engine's (tableNumberOf): the
// rebuild leaves it (F5) instead of listing table 1 twice in a MANIFEST the engine refuses
// (review, 2026-12-06).

test("doctor --repair with a table file under a second name for one number (0000001.sst beside 000001.sst) writes a MANIFEST the engine opens", async () => {
  const dir = tempDir();
  const db = await open(dir, { shards: 2, memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < 1000; i++) await db.put(`k${i}`, `v${i}${"-".repeat(200)}`);
  await db.close();
  const tables = platform.readdir(`${dir}/tables`).filter((n) => /^\d+\.sst$/.test(n)).sort();
  assert.ok(tables.length >= 1, `${tables.length} tables`);
  platform.unlink(`${dir}/MANIFEST`);
  const copy = platform.open(`${dir}/tables/0${tables[0]}`, "truncate");
  copy.write(platform.readFile(`${dir}/tables/${tables[0]}`), 0);
  copy.close();
  const repaired = await cli(["doctor", dir, "--repair"]);
  let opened: string | undefined;
  try {
    const again = await open(dir);
    opened = text(again.get("k7"))?.slice(0, 2);
    await again.close();
  } catch (error) {
    opened = `open failed: ${(error as Error).message}`;
  }
  assert.is(repaired.code, 0, `doctor --repair: ${repaired.err.trim()}`);
  assert.is(opened, "v7");
});

test.run();
