// The `shardline` command line (src/cli/): every command against real database directories
// made with the engine, run in this process through runCli with captured output (the same
// in all three runtimes), plus the real entry point of the runtime under test as a child.
// doctor: a clean directory (exit 0), a flipped byte in a table's data block (exit 1, the
// finding names the file), a torn group-WAL tail (a warning; --repair cuts it, then clean),
// orphans and stale locks, and --repair refused while the database is open elsewhere.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { toolCore } from "../../src/cli/database.ts";
import { FOLLOWER_FILE_NAME, readManifest, tableFileName } from "../../src/engine/manifest.ts";
import { BlockCache } from "../../src/table/block-cache.ts";
import { TableReader } from "../../src/table/table-reader.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { encodeDurableMark } from "../../src/wal/durable-mark.ts";
import { durableMarkPath } from "../../src/engine/reader-slots.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, enc, eventually, open, platform, tempDir, text } from "../engine/helpers.ts";
import { cli, cliChild, json } from "./helpers.ts";

const test = suite("cli");

/** A database with a few keys, closed. */
async function smallDb(): Promise<string> {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir);
  for (const k of ["apple", "apricot", "banana", "cherry", "date"]) await db.put(k, `${k}-value`);
  await db.close();
  return dir;
}

/** A database with table files (small memtables, a few thousand keys), closed. */
async function dbWithTables(): Promise<string> {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { memtableBytesMax: 64 * 1024 });
  const value = "v".repeat(64);
  for (let i = 0; i < 4000; i += 200) {
    const ops = [];
    for (let j = i; j < i + 200; j++) ops.push({ type: "put" as const, key: `key-${String(j).padStart(5, "0")}`, value: `${value}${j}` });
    await db.batch(ops);
  }
  await eventually(() => db.stats().shards.reduce((n, s) => n + s.tables, 0) >= 2, "table files written");
  await db.close();
  return dir;
}

/** Table files the manifest lists, as paths. */
async function tablePaths(dir: string): Promise<string[]> {
  const core = await toolCore();
  try {
    return readManifest(core, platform, dir)!.tables.map((t) => `${dir}/tables/${tableFileName(t.number)}`);
  } finally {
    core.detach();
  }
}

function flipByte(path: string, at: number): void {
  const f = platform.open(path, "readwrite");
  try {
    const b = new Uint8Array(1);
    f.read(b, at);
    b[0] ^= 0x5a;
    f.write(b, at);
  } finally {
    f.close();
  }
}

/** The last segment file of the group WAL. */
function lastWalSegment(dir: string) {
  const segments = listSegmentFiles(platform, `${dir}/wal`);
  return segments[segments.length - 1];
}

// ---- usage and help -------------------------------------------------------------------

test("--help works for the program and every command; bad usage exits 2 with a message", async () => {
  const top = await cli(["--help"]);
  assert.is(top.code, 0);
  for (const command of ["doctor", "stats", "get", "put", "delete", "scan", "wal", "bench"]) assert.ok(top.out.includes(command), `help lists ${command}`);
  for (const argv of [["doctor", "--help"], ["stats", "--help"], ["get", "--help"], ["put", "--help"], ["delete", "--help"], ["scan", "--help"], ["wal", "--help"], ["wal", "dump", "--help"], ["bench", "--help"], ["help", "scan"]]) {
    const r = await cli(argv);
    assert.is(r.code, 0, `${argv.join(" ")}: ${r.err}`);
    assert.ok(r.out.includes("Usage: shardline"), `${argv.join(" ")} prints usage`);
  }

  const usage: Array<[string[], RegExp]> = [
    [[], /Usage: shardline/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["doctor"], /missing required argument 'dir'/],
    [["get", "/tmp/x"], /missing required argument 'key'/],
    [["scan", "/tmp/x", "--bogus"], /unknown option '--bogus'/],
    [["scan", "/tmp/x", "--limit", "many"], /--limit must be an integer/],
    [["wal", "dump", "/tmp/x", "--from", "-3"], /--from/],
    [["wal"], /Usage: shardline wal/],
    [["doctor", "/tmp/x", "--salvage"], /--salvage only goes with --repair/],
    [["get", "/tmp/x", "zz", "--hex"], /is not hex/],
    [["put", "/tmp/x", "a", "b", "c"], /too many arguments/],
  ];
  for (const [argv, message] of usage) {
    const r = await cli(argv);
    assert.is(r.code, 2, `${JSON.stringify(argv)} exits 2 (stderr: ${r.err})`);
    assert.match(r.err, message, `${JSON.stringify(argv)}: ${r.err}`);
  }
  const version = await cli(["--version"], {}, { version: "9.8.7" });
  assert.is(version.code, 0);
  assert.is(version.out.trim(), "9.8.7");
});

test("a path that is not a database: a clear message and exit 1, nothing created", async () => {
  const missing = `${tempDir("shardline-cli-")}/nothing-here`;
  for (const argv of [["get", missing, "k"], ["stats", missing], ["scan", missing], ["delete", missing, "k"], ["doctor", missing], ["wal", "dump", missing]]) {
    const r = await cli(argv);
    assert.is(r.code, 1, `${argv[0]}: ${r.err}`);
    assert.ok(r.err.includes(missing), `${argv[0]} names the path: ${r.err}`);
  }
  assert.is(platform.stat(missing), undefined, "no command but put creates a database");
  const empty = tempDir("shardline-cli-");
  const r = await cli(["doctor", empty]);
  assert.is(r.code, 1);
  assert.match(r.err, /not a shardline database/);
});

// ---- data commands --------------------------------------------------------------------

test("put, get, delete and scan: text tables, --json, --hex", async () => {
  const dir = `${tempDir("shardline-cli-")}/db`;
  const put = await cli(["put", dir, "greeting", "hello world"]);
  assert.is(put.code, 0, put.err);
  assert.ok(put.out.includes("greeting"));
  const putJson = json(await cli(["put", dir, "k2", "v2", "--json"]));
  assert.is(putJson.key, "k2");
  assert.is(typeof putJson.ts, "string", "timestamps are strings in JSON");
  assert.ok(BigInt(putJson.ts) > 0n);

  const get = await cli(["get", dir, "greeting"]);
  assert.is(get.code, 0, get.err);
  assert.ok(get.out.includes("hello world"), get.out);
  assert.equal(json(await cli(["get", dir, "greeting", "--json"])), { key: "greeting", found: true, value: "hello world" });
  const missing = await cli(["get", dir, "nope"]);
  assert.is(missing.code, 1);
  assert.match(missing.err, /not found/);
  const missingJson = await cli(["get", dir, "nope", "--json"]);
  assert.is(missingJson.code, 1);
  assert.equal(json(missingJson), { key: "nope", found: false });

  // --hex in and out; bytes that are not UTF-8 show as hex without --hex.
  const hexPut = await cli(["put", dir, "00ff10", "c3a9ff", "--hex"]);
  assert.is(hexPut.code, 0, hexPut.err);
  assert.equal(json(await cli(["get", dir, "00ff10", "--hex", "--json"])), { key: "00ff10", found: true, value: "c3a9ff" });
  const rows = json<Array<Record<string, string>>>(await cli(["scan", dir, "--json"]));
  assert.equal(rows[0], { key: "00ff10", keyEncoding: "hex", value: "c3a9ff", valueEncoding: "hex" });
  const table = await cli(["scan", dir]);
  assert.ok(table.out.includes("hex:00ff10"), table.out);
  assert.ok(table.out.includes("3 rows"), table.out);

  const del = json(await cli(["delete", dir, "greeting", "--json"]));
  assert.is(del.existed, true);
  assert.is(typeof del.ts, "string");
  assert.is((await cli(["get", dir, "greeting"])).code, 1);
  const again = json(await cli(["delete", dir, "greeting", "--json"]));
  assert.is(again.existed, false, "deleting a missing key is not an error");

  const db = await open(dir);
  assert.is(text(db.get("k2")), "v2", "what the command line wrote, the engine reads");
  assert.equal(db.get(Uint8Array.from([0x00, 0xff, 0x10])), Uint8Array.from([0xc3, 0xa9, 0xff]));
  await db.close();
});

test("scan: --prefix, --gte, --lt, --limit, --reverse", async () => {
  const dir = await smallDb();
  const keys = async (...args: string[]) => json<Array<{ key: string }>>(await cli(["scan", dir, "--json", ...args])).map((r) => r.key);
  assert.equal(await keys(), ["apple", "apricot", "banana", "cherry", "date"]);
  assert.equal(await keys("--prefix", "ap"), ["apple", "apricot"]);
  assert.equal(await keys("--gte", "b", "--lt", "d"), ["banana", "cherry"]);
  assert.equal(await keys("--gt", "banana", "--lte", "cherry"), ["cherry"]);
  assert.equal(await keys("--limit", "2"), ["apple", "apricot"]);
  assert.equal(await keys("--reverse", "--limit", "2"), ["date", "cherry"]);
  assert.equal(await keys("--prefix", "6170", "--hex"), ["6170706c65", "61707269636f74"], "apple and apricot, in hex");
  const r = await cli(["scan", dir, "--prefix", "zz"]);
  assert.is(r.code, 0);
  assert.ok(r.out.includes("0 rows"));
});

// ---- stats ----------------------------------------------------------------------------

test("stats: tables by default, --json parses (bigints as strings)", async () => {
  const dir = await dbWithTables();
  const r = await cli(["stats", dir]);
  assert.is(r.code, 0, r.err);
  for (const heading of ["Database", "Shards", "Group WAL", "Recovery"]) assert.ok(r.out.includes(heading), `stats shows ${heading}`);
  const s = json(await cli(["stats", dir, "--json"]));
  assert.is(s.dir, dir);
  assert.is(s.shards.length, 4);
  assert.is(typeof s.shards[0].commitTimestamp, "string");
  assert.is(typeof s.wal.durableLsn, "string");
  assert.ok(s.shards.reduce((n: number, x: { tables: number }) => n + x.tables, 0) >= 2);
  assert.is(s.recovery.replayedRecords >= 0, true);
});

test("a database open elsewhere: stats and get read it (read-only, no lock); delete names the holder and exits 1; doctor shows the lock and refuses --repair", async () => {
  const dir = await smallDb();
  const db = await open(dir);
  // An orphan table file (after the open, which would delete it): something --repair fixes.
  const orphan = `${dir}/tables/${tableFileName(999)}`;
  const f = platform.open(orphan, "create");
  f.write(enc.encode("not a table"), 0);
  f.close();
  const pid = platform.processIdentity().pid;
  try {
    const stats = await cli(["stats", dir, "--wait", "50"]);
    assert.is(stats.code, 0, stats.err);
    assert.match(stats.out, /not locked \(readOnly: no lock is taken\)/);
    const get = await cli(["get", dir, "apple", "--wait", "0"]);
    assert.is(get.code, 0, get.err);
    assert.match(get.out, /apple-value/);
    const del = await cli(["delete", dir, "apple", "--wait", "50"]);
    assert.is(del.code, 1);
    assert.ok(del.err.includes(`locked by pid ${pid} (${platform.runtime})`), del.err);
    assert.match(del.err, /--wait/);

    const report = json(await cli(["doctor", dir, "--json"]));
    const lock = report.findings.find((x: { check: string }) => x.check === "lock");
    assert.is(lock.severity, "warning");
    assert.ok(lock.message.includes(`pid ${pid}`), lock.message);
    assert.equal(report.lockedBy, { pid, runtime: platform.runtime });

    const refused = await cli(["doctor", dir, "--repair"]);
    assert.is(refused.code, 1, refused.out);
    assert.match(refused.err, /refusing to repair/);
    assert.ok(refused.err.includes(`pid ${pid}`), refused.err);
    assert.ok(platform.stat(orphan), "nothing was changed");
  } finally {
    await db.close();
  }
  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is(repaired.code, 0, repaired.out + repaired.err);
  assert.is(platform.stat(orphan), undefined, "the orphan was deleted");
  assert.ok(repaired.out.includes(`tables/${tableFileName(999)}`), repaired.out);
});

test("a live database being written: get, scan and stats read its durable state; doctor lists the durable mark and a live reader's slot", async () => {
  const dir = tempDir("shardline-cli-");
  const db = await open(dir, { memtableBytesMax: 64 * 1024 });
  const reader = await open(dir, { readOnly: true, refreshIntervalMs: 2_000_000_000, memtableBytesMax: 64 * 1024 });
  try {
    for (let i = 0; i < 1500; i++) await db.put(`k${String(i).padStart(4, "0")}`, "v".repeat(100));
    // The writer keeps going while the commands run: the end of its log is being written.
    const writing = (async () => {
      for (let i = 0; i < 300; i++) await db.put(`w${i}`, "x");
    })();
    const get = await cli(["get", dir, "k1499", "--wait", "0"]);
    assert.is(get.code, 0, get.err);
    assert.match(get.out, /v{100}/);
    const scan = await cli(["scan", dir, "--prefix", "k", "--json", "--wait", "0"]);
    assert.is(scan.code, 0, scan.err);
    assert.is(json(scan).length, 1500);
    const stats = await cli(["stats", dir, "--json", "--wait", "0"]);
    assert.is(stats.code, 0, stats.err);
    await writing;

    const report = json(await cli(["doctor", dir, "--json"]));
    const readers = report.findings.filter((x: { check: string }) => x.check === "readers");
    assert.ok(readers.some((f: { file: string; message: string }) => f.file === "readers/DURABLE" && /durable mark at LSN \d+/.test(f.message)), JSON.stringify(readers));
    const slot = readers.find((f: { file: string }) => f.file.endsWith(".reader"));
    assert.ok(slot, JSON.stringify(readers));
    assert.is(slot.severity, "ok");
    assert.ok(slot.message.includes(`pid ${platform.processIdentity().pid} (${platform.runtime})`), slot.message);
    assert.match(slot.message, /reads MANIFEST version \d+ of \d+/);
  } finally {
    await reader.close();
    await db.close();
  }
});

// ---- doctor ---------------------------------------------------------------------------

test("doctor on a clean database: exit 0, every check ok, nothing changed", async () => {
  const dir = await dbWithTables();
  const before = platform.readdir(`${dir}/tables`).sort();
  const r = await cli(["doctor", dir]);
  assert.is(r.code, 0, r.out + r.err);
  assert.match(r.out, /0 errors, 0 warnings/);
  const report = json(await cli(["doctor", dir, "--json"]));
  assert.is(report.summary.errors, 0);
  assert.is(report.summary.warnings, 0);
  assert.ok(report.checked.tables >= 2, "tables were checked");
  assert.ok(report.checked.dataBlocks >= report.checked.tables);
  assert.ok(report.checked.entries > 0);
  assert.ok(report.checked.records > 0, "log records were checked");
  assert.is(report.checked.logs, 5, "the group WAL and 4 partition logs");
  for (const check of ["lock", "manifest", "tables", "wal", "partition logs"]) {
    assert.ok(report.findings.some((x: { check: string; severity: string }) => x.check === check && x.severity === "ok"), `${check} ok`);
  }
  assert.equal(platform.readdir(`${dir}/tables`).sort(), before);
  assert.equal(platform.stat(`${dir}/LOCK.d`) ? platform.readdir(`${dir}/LOCK.d`) : [], [], "doctor takes no lock");
});

test("doctor: a flipped byte in a table's data block is an error naming the file; exit 1, --repair cannot fix it", async () => {
  const dir = await dbWithTables();
  const path = (await tablePaths(dir))[0];
  const core = await toolCore();
  let block: { offset: number; length: number };
  try {
    const reader = TableReader.open(platform, core, path, new BlockCache());
    block = reader.layout().dataBlocks[0];
    reader.close();
  } finally {
    core.detach();
  }
  flipByte(path, block.offset + Math.floor(block.length / 2));
  const name = path.slice(dir.length + 1);

  const r = await cli(["doctor", dir]);
  assert.is(r.code, 1, r.out);
  assert.ok(r.out.includes(name), r.out);
  assert.match(r.out, /checksum mismatch/);
  const report = json(await cli(["doctor", dir, "--json"]));
  const errors = report.findings.filter((x: { severity: string }) => x.severity === "error");
  assert.is(errors.length, 1, JSON.stringify(errors));
  assert.is(errors[0].file, name);
  assert.is(errors[0].check, "tables");
  assert.ok(errors[0].message.includes(`offset ${block.offset}`), errors[0].message);
  assert.is(report.summary.errors, 1);

  const repair = await cli(["doctor", dir, "--repair"]);
  assert.is(repair.code, 1, "still an error after --repair");
  assert.match(repair.out, /nothing --repair can fix/);
});

test("doctor: garbage after the group WAL's last record is a torn tail (warning); --repair cuts it, then clean", async () => {
  const dir = await smallDb();
  const seg = lastWalSegment(dir);
  const size = platform.stat(seg.path)!.size;
  const f = platform.open(seg.path, "readwrite");
  f.write(new Uint8Array(100).fill(0xab), size);
  f.close();

  const r = await cli(["doctor", dir]);
  assert.is(r.code, 0, `warnings only: ${r.out}`);
  assert.match(r.out, /torn tail/);
  assert.match(r.out, /doctor --repair/);
  const report = json(await cli(["doctor", dir, "--json"]));
  const torn = report.findings.filter((x: { severity: string }) => x.severity === "warning");
  assert.is(torn.length, 1, JSON.stringify(report.findings));
  assert.is(torn[0].file, `wal/${seg.name}`);
  assert.is(torn[0].repair, "open");
  assert.is(platform.stat(seg.path)!.size, size + 100, "doctor changed nothing");

  const repaired = json(await cli(["doctor", dir, "--repair", "--json"]));
  assert.is(repaired.repair.performed, true);
  assert.ok(repaired.repair.actions.some((a: string) => /wal: cut \d+ bytes/.test(a)), JSON.stringify(repaired.repair.actions));
  assert.is(repaired.repair.after.summary.warnings, 0);
  const clean = await cli(["doctor", dir]);
  assert.is(clean.code, 0);
  assert.match(clean.out, /0 errors, 0 warnings/);
  const db = await open(dir);
  assert.is(text(db.get("date")), "date-value", "every acknowledged write survived");
  await db.close();
});

test("doctor: the last WAL record cut short is a torn tail; --repair drops it", async () => {
  const dir = await smallDb();
  const dump = json(await cli(["wal", "dump", dir, "--json"]));
  const last = dump.records[dump.records.length - 1];
  const seg = lastWalSegment(dir);
  platform.truncate(seg.path, SEGMENT_HEADER_BYTES + (last.lsn - seg.firstLsn) + 10);
  // A crash tears only a record never synced: the durable mark is below it (a mark past it
  // would make the cut corruption: tests/engine/durable-mark-recovery.test.ts).
  const mark = platform.open(durableMarkPath(dir), "readwrite");
  try {
    mark.write(encodeDurableMark(Number(last.lsn)), 0);
  } finally {
    mark.close();
  }

  const report = json(await cli(["doctor", dir, "--json"]));
  assert.is(report.summary.errors, 0);
  const torn = report.findings.find((x: { severity: string }) => x.severity === "warning");
  assert.ok(torn && /torn tail/.test(torn.message), JSON.stringify(report.findings));
  const repair = await cli(["doctor", dir, "--repair"]);
  assert.is(repair.code, 0, repair.out + repair.err);
  assert.match(repair.out, /after repair:[\s\S]*0 errors, 0 warnings/);
  assert.is((await cli(["doctor", dir])).code, 0);
});

test("doctor: a corrupt segment header and a corrupt manifest are errors open refuses", async () => {
  const dir = await smallDb();
  // A byte of the segment header, with records after it: corruption, not a torn creation.
  const seg = lastWalSegment(dir);
  flipByte(seg.path, 12);
  const r = await cli(["doctor", dir, "--json"]);
  assert.is(r.code, 1);
  const wal = json(r).findings.find((x: { check: string; severity: string }) => x.check === "wal" && x.severity === "error");
  assert.ok(wal, JSON.stringify(json(r).findings));
  assert.is(wal.file, `wal/${seg.name}`);
  assert.match(wal.message, /header checksum mismatch/);
  assert.is(wal.repair, "salvage");
  const refused = await cli(["doctor", dir, "--repair"]);
  assert.is(refused.code, 1);
  assert.match(refused.out, /--repair --salvage/);
  assert.is(platform.stat(seg.path)!.size > 0, true, "nothing was changed");

  flipByte(`${dir}/MANIFEST`, 12);
  const m = await cli(["doctor", dir, "--json"]);
  assert.is(m.code, 1);
  const manifest = json(m).findings.find((x: { check: string }) => x.check === "manifest");
  assert.is(manifest.severity, "error");
  assert.match(manifest.message, /manifest .* is corrupt/);
  const stats = await cli(["stats", dir]);
  assert.is(stats.code, 1);
  assert.match(stats.err, /shardline doctor/, "open's corruption error points at doctor");
});

test("doctor: stale lock files and orphan table files are warnings a normal open fixes", async () => {
  const dir = await smallDb();
  // A lock file left by a holder that is gone (pid beyond any the kernel hands out).
  const stale = `${dir}/LOCK.d/4194305-1-00ff`;
  const f = platform.open(stale, "create");
  f.write(enc.encode(JSON.stringify({ pid: 4194305, startTime: 1, runtime: "node", kernelLock: false, acquiredAt: "2020-01-01T00:00:00.000Z" })), 0);
  f.close();
  const tmp = `${dir}/tables/${tableFileName(77)}.tmp`;
  platform.open(tmp, "create").close();
  const report = json(await cli(["doctor", dir, "--json"]));
  assert.is(report.summary.errors, 0);
  const warned = report.findings.filter((x: { severity: string }) => x.severity === "warning").map((x: { file: string }) => x.file).sort();
  assert.equal(warned, ["LOCK.d/4194305-1-00ff", `tables/${tableFileName(77)}.tmp`]);
  assert.is((await cli(["doctor", dir, "--repair"])).code, 0);
  assert.is(platform.stat(stale), undefined);
  assert.is(platform.stat(tmp), undefined);
  assert.match((await cli(["doctor", dir])).out, /0 errors, 0 warnings/);
});

test("doctor draws a progress bar on a terminal (stderr), never with --json", async () => {
  const dir = await dbWithTables();
  const tty = await cli(["doctor", dir], { isTTY: true, progressAfterMs: 0, columns: 100 });
  assert.is(tty.code, 0, tty.out + tty.err);
  assert.match(tty.err, /\d+% \|/, "a bar was drawn");
  assert.not.match(tty.out, /%/, "not on stdout");
  const quiet = await cli(["doctor", dir, "--json"], { isTTY: true, progressAfterMs: 0 });
  assert.is(quiet.err, "");
  assert.is(json(quiet).summary.errors, 0);
});

// ---- wal dump, bench ------------------------------------------------------------------

test("wal dump: records with their decoded operations; --from, --limit, --shard", async () => {
  const dir = await smallDb();
  const all = json(await cli(["wal", "dump", dir, "--json"]));
  assert.is(all.log, `${dir}/wal`);
  const puts = all.records.flatMap((r: { kind: string; ops?: Array<{ type: string; key: string; value: string; ts: string }> }) => (r.kind === "operations" ? r.ops! : []));
  assert.equal(puts.map((op: { key: string }) => op.key), ["apple", "apricot", "banana", "cherry", "date"]);
  assert.is(puts[0].type, "put");
  assert.is(puts[0].value, "apple-value");
  assert.is(typeof puts[0].ts, "string");
  assert.ok(all.records.every((r: { lsn: number; bytes: number }) => Number.isInteger(r.lsn) && r.bytes > 0));

  const text = await cli(["wal", "dump", dir]);
  assert.is(text.code, 0);
  assert.ok(text.out.includes("banana-value"), text.out);
  assert.match(text.out, /\d+ records from /);

  const second = all.records[1];
  const from = json(await cli(["wal", "dump", dir, "--from", String(second.lsn), "--limit", "2", "--json"]));
  assert.equal(from.records.map((r: { lsn: number }) => r.lsn), all.records.slice(1, 3).map((r: { lsn: number }) => r.lsn));
  const hex = json(await cli(["wal", "dump", dir, "--limit", "1", "--hex", "--json"]));
  assert.is(hex.records[0].ops[0].key, "6170706c65");

  const shard = await cli(["wal", "dump", dir, "--shard", "0", "--json"]);
  assert.is(shard.code, 0, shard.err);
  assert.ok(json(shard).log.endsWith("/shard-000"));
  const bad = await cli(["wal", "dump", dir, "--shard", "9"]);
  assert.is(bad.code, 2);
  assert.match(bad.err, /has 4 shards/);
});

test("bench hands its arguments to the host's harness runner and returns its status", async () => {
  let got: string[] | undefined;
  const r = await cli(["bench", "--quick", "--runtime", "node", "core"], {}, { runBench: async (args) => ((got = args), 3) });
  assert.is(r.code, 3);
  assert.equal(got, ["--quick", "--runtime", "node", "core"]);
  const none = await cli(["bench"]);
  assert.is(none.code, 1);
  assert.match(none.err, /npm run bench/);
});

// A follower's directory (src/replicate/follower.ts: it holds FOLLOWER, and only the follower
// opens it to write). Review of the CLI on live directories, 2026-12-07: put and delete there
// said "cannot read <dir> without changing it" and advised opening it "with a command that
// writes" (FollowerDirectoryError extends ReadOnlyError, whose explanation it got); doctor
// advised `doctor --repair` for an orphan table there, and --repair could only fail.
async function followerLikeDir(): Promise<string> {
  const dir = await smallDb();
  const file = platform.open(`${dir}/${FOLLOWER_FILE_NAME}`, "truncate");
  file.write(enc.encode(JSON.stringify({ format: 1, state: "following", stream: "s", subject: "x", snapshotLsn: 0 })), 0);
  file.close();
  return dir;
}

test("put and delete on a follower's directory: exit 1, saying only its follower writes there (not 'cannot read it without changing it', nor to open it with a command that writes)", async () => {
  const dir = await followerLikeDir();
  for (const ran of [await cli(["put", dir, "k", "v"]), await cli(["delete", dir, "apple"])]) {
    assert.is(ran.code, 1, ran.out + ran.err);
    assert.match(ran.err, /follower's directory .*only its follower writes to it/);
    assert.not.match(ran.err, /without changing it|a command that writes/);
  }
  const get = await cli(["get", dir, "apple"]);
  assert.is(get.code, 0, get.err);
  assert.match(get.out, /apple-value/);
});

test("doctor on a follower's directory with an orphan table: the fix is its follower's next start, not --repair, which refuses it up front", async () => {
  const dir = await followerLikeDir();
  const orphan = `${dir}/tables/${tableFileName(999)}`;
  const f = platform.open(orphan, "create");
  f.write(enc.encode("not a table"), 0);
  f.close();
  const report = await cli(["doctor", dir]);
  assert.is(report.code, 0, report.err);
  assert.match(report.out, /1 of these a normal open fixes: this is a follower's directory/);
  assert.not.match(report.out, /run `shardline doctor --repair/);
  const repaired = await cli(["doctor", dir, "--repair"]);
  assert.is(repaired.code, 1, repaired.out);
  assert.match(repaired.err, /refusing to repair: this is a follower's directory/);
  assert.ok(platform.stat(orphan), "the follower's directory was left as it was");
});

// ---- the real entry point -------------------------------------------------------------

test(`the ${runtimeName()} entry point: put, doctor --json and a usage error, as a child`, async () => {
  const dir = await smallDb();
  const put = await cliChild(["put", dir, "from-child", "yes", "--json"]);
  assert.is(put.code, 0, put.err);
  assert.is(JSON.parse(put.out).key, "from-child");
  const doctor = await cliChild(["doctor", dir, "--json"]);
  assert.is(doctor.code, 0, doctor.err);
  assert.is(JSON.parse(doctor.out).summary.errors, 0);
  const usage = await cliChild(["scan", dir, "--limit", "x"]);
  assert.is(usage.code, 2);
  assert.match(usage.err, /--limit must be an integer/);
  const db = await open(dir);
  assert.is(text(db.get("from-child")), "yes");
  await db.close();
});

test.after(cleanup);
test.run();
