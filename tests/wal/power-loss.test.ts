// Power loss under the WAL (tests/harness/power-loss-platform.ts): what the disk keeps is
// only what was fdatasynced, and only the directory entries whose directory was fsynced.
//
// First the wrapper itself, so the WAL tests below can fail: it drops unsynced data, a
// file or directory whose entry was never fsynced into its parent vanishes, renames and
// unlinks not made durable are undone, torn pages follow the seed, an ordered prefix of
// directory operations can survive, and a worker
// thread's I/O is journaled too.
// Then the log: rounds on one log directory, each opened through a fresh wrapper (so
// recovery itself runs under power loss), checking that every record acknowledged in
// earlier rounds is there and nothing that was never appended is, then appending with
// durability "full" until a seeded operation count cuts the power. Unsynced data is
// dropped, kept in a prefix with a torn page, or kept page by page at random, by round;
// every other round, a seeded prefix of the unfsynced directory operations survives too.
// A final open through the real platform checks again, appends, and reopens.
//
// SHARDLINE_POWER_LOSS_ROUNDS sets the rounds (default 5; each costs about a second, mostly opening the log); SHARDLINE_POWER_LOSS_SEED the seed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import { Core } from "../../src/core/core.ts";
import type { Log } from "../../src/wal/log.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { workerPool } from "../../src/worker-pool.ts";
import { hasErrorCode, type OpenMode, type Platform } from "../../src/platform.ts";
import { bounded, type PowerLossPlatform, type UnsyncedFate, withPowerLoss } from "../harness/power-loss-platform.ts";
import { recoverLog } from "../../src/wal/recovery.ts";
import { SegmentWriter } from "../../src/wal/segment-writer.ts";
import { trimSegments } from "../../src/wal/segment-files.ts";
import { cleanup, collect, dec, enc, openLog, platform, readAll, segmentPaths, tempDir, writeAll } from "./helpers.ts";
import { seededRandom } from "../harness/seeded-random.ts";

const test = suite("wal power loss");
const ROUNDS = Number(process.env.SHARDLINE_POWER_LOSS_ROUNDS ?? 5);
const SEED = Number(process.env.SHARDLINE_POWER_LOSS_SEED ?? 20261202);
const FATES: UnsyncedFate[] = ["drop", "prefix", "pages"];

const read = (path: string) => dec.decode(platform.readFile(path));

function writeFile(p: PowerLossPlatform, path: string, text: string, sync: boolean): void {
  const file = p.open(path, "truncate");
  try {
    file.write(enc.encode(text), 0);
    if (sync) file.datasync();
  } finally {
    file.close();
  }
}

test.after.each(cleanup);

// ---- the wrapper ------------------------------------------------------------------------

test("wrapper: unsynced data is dropped, synced data is kept, and the crashed platform refuses I/O", () => {
  const root = tempDir();
  const p = withPowerLoss(platform, root);
  const file = p.open(`${root}/a`, "createExclusive");
  file.write(enc.encode("hello"), 0);
  file.datasync();
  p.fsyncDir(root);
  file.write(enc.encode(" world"), 5);
  file.close();
  assert.is(read(`${root}/a`), "hello world", "before the crash, reads see everything written");
  const report = p.crash();
  assert.is(read(`${root}/a`), "hello");
  assert.is(report.files, 1);
  assert.ok(p.crashed);
  try {
    p.open(`${root}/a`, "read");
    assert.unreachable("I/O after the crash must throw");
  } catch (error) {
    assert.ok(hasErrorCode(error, "EIO"), String(error));
  }
});

test("wrapper: an unsynced overwrite of synced bytes and an unsynced truncate are undone; a sync keeps only its own file", () => {
  // The wrapper's own tests only appended after a file's synced end: dropping the
  // pre-images (or letting one file's sync make another durable) went unnoticed by every
  // test that uses the wrapper (review of the tests, 2026-12-06).
  const root = tempDir();
  const p = withPowerLoss(platform, root);
  const a = p.open(`${root}/a`, "createExclusive");
  const b = p.open(`${root}/b`, "createExclusive");
  const z = p.open(`${root}/z`, "createExclusive");
  a.write(enc.encode("hello world"), 0);
  a.datasync();
  z.write(new Uint8Array(16), 0); // zeros, synced
  z.datasync();
  p.fsyncDir(root);
  a.write(enc.encode("HELLO"), 0); // over synced bytes, never synced
  a.truncate(8); // never synced
  z.write(new Uint8Array(8), 4); // zeros over zeros, never synced
  z.truncate(4); // never synced
  b.write(enc.encode("only b"), 0);
  a.close();
  z.close();
  b.datasync(); // b's sync: nothing of a's or z's
  b.close();
  assert.is(read(`${root}/a`), "HELLO wo", "before the crash, reads see everything written");
  p.crash();
  assert.is(read(`${root}/a`), "hello world", "the overwrite and the truncate are undone from pre-images");
  assert.is(platform.readFile(`${root}/z`).length, 16, "z's truncate is undone");
  assert.is(read(`${root}/b`), "only b", "b's own sync kept b");
});

test("wrapper: a file whose directory was not fsynced after its creation vanishes, synced data or not", () => {
  const root = tempDir();
  const p = withPowerLoss(platform, root);
  writeFile(p, `${root}/unsynced-entry`, "data synced, entry not", true);
  writeFile(p, `${root}/durable`, "both", true);
  p.fsyncDir(root);
  writeFile(p, `${root}/late`, "created after the fsync", true);
  p.crash();
  assert.equal(platform.readdir(root).sort(), ["durable", "unsynced-entry"]);
  assert.is(read(`${root}/durable`), "both");
});

test("wrapper: a directory not fsynced into its parent after mkdir is lost with its files", () => {
  const root = tempDir();
  const p = withPowerLoss(platform, root);
  p.mkdir(`${root}/kept`);
  p.fsyncDir(root);
  writeFile(p, `${root}/kept/f`, "synced", true);
  p.fsyncDir(`${root}/kept`);
  p.mkdir(`${root}/lost/deeper`, { recursive: true });
  writeFile(p, `${root}/lost/deeper/f`, "synced", true);
  p.fsyncDir(`${root}/lost/deeper`);
  p.fsyncDir(`${root}/lost`);
  p.crash();
  assert.equal(platform.readdir(root).sort(), ["kept"]);
  assert.is(read(`${root}/kept/f`), "synced");
});

test("wrapper: renames and unlinks not made durable are undone; made durable, they stay", () => {
  const root = tempDir();
  writeFileDirect(`${root}/MANIFEST`, "v1");
  writeFileDirect(`${root}/old`, "old data");
  writeFileDirect(`${root}/gone`, "to be deleted");
  const p = withPowerLoss(platform, root);
  writeFile(p, `${root}/MANIFEST.tmp`, "v2", true);
  p.rename(`${root}/MANIFEST.tmp`, `${root}/MANIFEST`);
  p.unlink(`${root}/old`);
  p.unlink(`${root}/gone`);
  p.fsyncDir(root);
  writeFile(p, `${root}/MANIFEST.tmp`, "v3", true);
  p.rename(`${root}/MANIFEST.tmp`, `${root}/MANIFEST`);
  p.rename(`${root}/MANIFEST`, `${root}/renamed`);
  p.crash();
  assert.equal(platform.readdir(root).sort(), ["MANIFEST"]);
  assert.is(read(`${root}/MANIFEST`), "v2", "the durable rename stays, the later ones are undone");

  const again = tempDir();
  writeFileDirect(`${again}/keep-me`, "here");
  const q = withPowerLoss(platform, again);
  q.unlink(`${again}/keep-me`);
  q.crash();
  assert.is(read(`${again}/keep-me`), "here", "an unlink without a directory fsync is undone");
});

test("wrapper: unsynced pages survive as a seeded prefix with one torn page, or page by page", () => {
  const PAGES = 10;
  const pattern = new Uint8Array(PAGES * 4096).map((_, i) => 1 + (i % 251));
  const outcome = (seed: number, fate: UnsyncedFate) => {
    const root = tempDir();
    const p = withPowerLoss(platform, root, { seed, unsynced: fate });
    const file = p.open(`${root}/f`, "createExclusive");
    file.write(pattern.subarray(0, 4096), 0);
    file.datasync();
    p.fsyncDir(root);
    file.write(pattern.subarray(4096), 4096);
    file.close();
    p.crash();
    return platform.readFile(`${root}/f`);
  };
  let torn = 0;
  const lengths = new Set<number>();
  for (let seed = 1; seed <= 12; seed++) {
    const bytes = outcome(seed, "prefix");
    assert.equal(outcome(seed, "prefix"), bytes, `seed ${seed}: the same seed gives the same disk`);
    lengths.add(bytes.length);
    // A prefix of the pattern, then zeros to the end of the torn page, if any.
    let same = 0;
    while (same < bytes.length && bytes[same] === pattern[same]) same++;
    assert.ok(same >= 4096, `seed ${seed}: the synced page is kept`);
    assert.ok(bytes.subarray(same).every((b) => b === 0), `seed ${seed}: after the kept prefix only zeros`);
    assert.ok(same % 512 === 0 && bytes.length - same < 4096, `seed ${seed}: tears at a sector, within one page`);
    if (same % 4096 !== 0) torn++;
  }
  assert.ok(torn > 0, "some seed tears a page");
  assert.ok(lengths.size > 2, "seeds keep different amounts");
  assert.equal(outcome(3, "drop"), pattern.subarray(0, 4096), "drop keeps the synced page only");
  const pages = outcome(5, "pages");
  assert.ok(pages.length >= 4096 && pages.length <= pattern.length);
});

test("wrapper: with entries \"ordered\", a seeded prefix of the unsynced directory operations survives, in order", () => {
  const kept = new Set<string>();
  for (let seed = 1; seed <= 12; seed++) {
    const root = tempDir();
    const p = withPowerLoss(platform, root, { seed, entries: "ordered" });
    for (const name of ["a", "b", "c"]) writeFile(p, `${root}/${name}`, name, true);
    p.rename(`${root}/a`, `${root}/d`);
    p.crash();
    const names = platform.readdir(root).sort().join("");
    assert.ok(["", "a", "ab", "abc", "bcd"].includes(names), `seed ${seed}: ${names} is not a prefix of the operations`);
    for (const name of platform.readdir(root)) assert.is(read(`${root}/${name}`), name === "d" ? "a" : name);
    kept.add(names);
  }
  assert.ok(kept.size >= 3, `seeds cut at different places (${[...kept].join(" ")})`);
});

test("wrapper: with entries \"ordered\", a rename over an existing file is atomic: the old name's content or the new one's, never neither", () => {
  // The wrapper journals it as two events (the old file into the graveyard, the new one
  // in); a cut between them left no file of that name, which no rename(2) does.
  const seen = new Set<string>();
  for (let seed = 1; seed <= 40; seed++) {
    const root = tempDir();
    const p = withPowerLoss(platform, root, { seed, entries: "ordered" });
    writeFile(p, `${root}/m`, "old", true);
    p.fsyncDir(root);
    writeFile(p, `${root}/m.tmp`, "new", true);
    p.rename(`${root}/m.tmp`, `${root}/m`);
    writeFile(p, `${root}/after`, "x", true);
    p.crash();
    const m = platform.readdir(root).includes("m") ? read(`${root}/m`) : "missing";
    assert.ok(m === "old" || m === "new", `seed ${seed}: m is ${m}`);
    seen.add(m);
  }
  assert.equal([...seen].sort(), ["new", "old"], "cuts fell before and after the rename");
});

test("wrapper: I/O in a worker thread spawned through it is journaled and crashes with the rest", async () => {
  const root = tempDir();
  const p = withPowerLoss(platform, root);
  const core = await Core.create({ shards: 1, memoryBytesMax: 8 * 1024 * 1024 });
  try {
    const size = await runModuleInWorker(p, {
      module: core.module,
      memory: core.memory,
      url: new URL("../harness/fixtures/power-loss-worker-io.ts", import.meta.url).href,
      exportName: "writeInWorker",
      data: { path: `${root}/w`, dir: root },
    });
    assert.is(size, 15, "the worker wrote through to the real file");
  } finally {
    core.detach();
  }
  assert.ok(p.operations >= 5, `the worker's operations were counted (${p.operations})`);
  p.crash();
  assert.is(read(`${root}/w`), "synced");
});

// The engine's pooled jobs (here a log's durability worker) run on the base platform's
// worker pool, each wrapped in its thread on the wrapper's journal (Platform.pooledOn): a
// wrapper no longer starts threads of its own, which the next wrapper could not use.
test("wrapper: a log's durability worker runs wrapped on the journal, on a thread of the wrappers' pool that the next wrapper's log takes again", async () => {
  // Wrappers of a base of this test's own: the wrappers' pool of `platform` is shared with
  // every power-loss test file that ran before in this process (idle threads that retire
  // during openOne() below, abandoned jobs), and the idle count below would move with it.
  const base: Platform = { ...platform };
  const pool = workerPool(withPowerLoss(base, tempDir()));
  assert.is.not(pool, workerPool(base), "not the base platform's own pool (an abandoned database's jobs stay apart)");
  const openOne = async () => {
    const root = tempDir();
    const p = withPowerLoss(base, root);
    assert.is(workerPool(p), pool, "one pool for every wrapper of the base platform");
    const log = await bindLogApi(p).openLog(`${root}/wal`, LOG_OPTIONS);
    return { p, log };
  };
  const first = await openOne();
  const before = first.p.operations;
  await first.log.append("written and synced by the durability worker");
  assert.ok(first.p.operations >= before + 2, `the worker's write and sync were journaled (${first.p.operations - before} operations)`);
  await first.log.close();
  const idle = pool.idleThreads;
  assert.ok(idle >= 1, "the closed log's thread went back to the pool");
  const second = await openOne();
  try {
    assert.is(pool.idleThreads, idle - 1, "the second wrapper's log took a pooled thread");
    await second.log.append("again");
    second.p.crash();
  } finally {
    await bounded(second.log.close());
  }
});

function writeFileDirect(path: string, text: string): void {
  const file = platform.open(path, "truncate");
  try {
    file.write(enc.encode(text), 0);
    file.datasync();
  } finally {
    file.close();
  }
}

// ---- the log ------------------------------------------------------------------------------

const LOG_OPTIONS = { segmentBytesMax: 16 * 1024, bufferBytes: 64 * 1024, durability: "full", coordination: "single-process-unsafe" } as const;
const APPENDS_PER_ROUND = 300;
const IN_FLIGHT = 8;

const payload = (id: number) => `r${id}:${"x".repeat((id * 37) % 700)}`;
const idOf = (text: string) => {
  const m = /^r(\d+):(x*)$/.exec(text);
  return m && m[2].length === (Number(m[1]) * 37) % 700 ? Number(m[1]) : undefined;
};

interface Ledger {
  issued: Set<number>;
  acked: Set<number>;
  next: number;
}

/** Every acknowledged record is there, once; every record there was appended, whole. */
function checkRecords(records: Array<{ lsn: bigint; text: string }>, ledger: Ledger, when: string): void {
  const seen = new Set<number>();
  for (const { lsn, text } of records) {
    const id = idOf(text);
    assert.ok(id !== undefined && ledger.issued.has(id), `${when}: record at LSN ${lsn} was never appended: ${text.slice(0, 40)}`);
    assert.ok(!seen.has(id!), `${when}: record r${id} appears twice`);
    seen.add(id!);
  }
  for (const id of ledger.acked) assert.ok(seen.has(id), `${when}: acknowledged record r${id} is missing (${seen.size} records found)`);
}

/** Appends with IN_FLIGHT in flight until the platform crashes or the round's appends are issued. */
async function appendUntilCrash(log: Log, p: PowerLossPlatform, ledger: Ledger): Promise<Set<Promise<void>>> {
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < APPENDS_PER_ROUND && !p.crashed; i++) {
    const id = ledger.next++;
    ledger.issued.add(id);
    const done: Promise<void> = log.append(payload(id)).then(
      () => void ledger.acked.add(id),
      () => {},
    ).finally(() => inFlight.delete(done));
    inFlight.add(done);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
  return inFlight;
}

test("log: a new log's first acknowledged record survives a power loss right after it (its directory was fsynced into its parent)", async () => {
  const root = tempDir();
  const p = withPowerLoss(platform, root);
  const log = await bindLogApi(p).openLog(`${root}/wal`, LOG_OPTIONS);
  await log.append("first");
  const report = p.crash();
  await bounded(log.close());
  const reopened = await bindLogApi(platform).openLog(`${root}/wal`, LOG_OPTIONS);
  try {
    assert.equal((await collect(reopened)).map((r) => r.text), ["first"], `lost with ${report.filesLost} files`);
  } finally {
    await reopened.close();
  }
});

test("log: a log directory whose mkdir a killed process never fsynced keeps the restart's acknowledged record through a power loss (open fsyncs the directory's entry)", async () => {
  const root = tempDir();
  const p = withPowerLoss(platform, root);
  p.mkdir(`${root}/wal`); // the dead process's mkdir: in the page cache only
  const log = await bindLogApi(p).openLog(`${root}/wal`, LOG_OPTIONS);
  await log.append("after the restart");
  const report = p.crash();
  await bounded(log.close());
  const reopened = await bindLogApi(platform).openLog(`${root}/wal`, LOG_OPTIONS);
  try {
    assert.equal((await collect(reopened)).map((r) => r.text), ["after the restart"], `lost with ${report.filesLost} files`);
  } finally {
    await reopened.close();
  }
});

test(`log: ${ROUNDS} power losses at seeded points, recovery under power loss too: acknowledged records survive, nothing else appears`, async () => {
  const root = tempDir();
  const dir = `${root}/wal`; // created by the log: its entry in root must be made durable too
  const random = seededRandom(SEED);
  const ledger: Ledger = { issued: new Set(), acked: new Set(), next: 0 };
  let checkedRounds = 0;
  let crashesWithUnsynced = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const fate = FATES[round % FATES.length];
    const entries = round % 2 === 1 ? "ordered" : "fsynced";
    const p = withPowerLoss(platform, root, { seed: SEED + round, unsynced: fate, entries, crashAtOperation: 1 + Math.floor(random() * 160) });
    let log: Log | undefined;
    let inFlight = new Set<Promise<void>>();
    try {
      log = await bindLogApi(p).openLog(dir, LOG_OPTIONS);
      checkRecords(await collect(log), ledger, `round ${round} (${fate}), after recovery`);
      checkedRounds++;
      inFlight = await appendUntilCrash(log, p, ledger);
    } catch (error) {
      if (!p.crashed) throw error;
    }
    const report = p.crash();
    if (report.bytesChanged > 0 || report.filesLost > 0) crashesWithUnsynced++;
    if (log) await bounded(log.close());
    await bounded(Promise.allSettled(inFlight));
  }
  console.log(`  [power loss] wal: ${ROUNDS} rounds, ${checkedRounds} recovered under the wrapper, ${crashesWithUnsynced} lost unsynced state, ${ledger.acked.size}/${ledger.issued.size} appends acknowledged`);
  assert.ok(ledger.acked.size > 0, "some appends were acknowledged");

  const { openLog } = bindLogApi(platform);
  const log = await openLog(dir, LOG_OPTIONS);
  checkRecords(await collect(log), ledger, "final recovery");
  const id = ledger.next++;
  ledger.issued.add(id);
  await log.append(payload(id));
  ledger.acked.add(id);
  await log.close();
  const again = await openLog(dir, LOG_OPTIONS);
  checkRecords(await collect(again), ledger, "after appending past every recovery");
  await again.close();
});

test("salvage: the segments recovery sets aside in corrupt/ survive a power loss right after it", async () => {
  const dir = tempDir();
  const log = await openLog(dir, { segmentBytesMax: 4096, bufferBytes: 64 * 1024 });
  await log.append(Array.from({ length: 300 }, (_, i) => `rec-${i}-${"x".repeat(i % 17)}`));
  await log.close();
  const paths = segmentPaths(dir);
  const middle = readAll(paths[1]);
  middle[10] ^= 0x40; // a corrupt header with data after it: R4, salvage moves it and the rest aside
  writeAll(paths[1], middle);
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const p = withPowerLoss(platform, dir, { seed: SEED });
  const recovered = recoverLog(core, p, dir, { salvage: true });
  assert.is(recovered.report.corruptSegments.length, paths.length - 1);
  p.crash();
  core.detach();
  const asideNames = platform.stat(`${dir}/corrupt`) ? platform.readdir(`${dir}/corrupt`) : [];
  assert.is(asideNames.length, paths.length - 1, `set aside and durable: ${asideNames.join(", ")}`);
});

test("trim racing the creation of the next segment: after a power loss the log goes on at its end, not at LSN 0", async () => {
  // trimBefore runs on the caller's thread while the durability worker rotates. The worker
  // holds here, between the new segment's creation and the sync of its header, while a trim
  // of everything below the log's end runs and the power fails.
  const dir = tempDir();
  const log = await openLog(dir, { segmentBytesMax: 4096, bufferBytes: 64 * 1024 });
  await log.append(Array.from({ length: 300 }, (_, i) => `rec-${i}-${"x".repeat(i % 17)}`)); // 3 segments
  const end = Number(log.currentLsn);
  await log.close();
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const p = withPowerLoss(platform, dir, { seed: SEED });
  const recovered = recoverLog(core, p, dir);
  assert.is(recovered.nextLsn, end);
  let trimmed = -1;
  const hooked: Platform = {
    ...p,
    open(path: string, mode: OpenMode) {
      const file = p.open(path, mode);
      if (mode !== "createExclusive" && mode !== "truncate") return file; // the new segment
      return {
        path: file.path,
        read: (buf, at) => file.read(buf, at),
        write: (buf, at) => file.write(buf, at),
        writev: (bufs, at) => file.writev(bufs, at),
        sync: () => file.sync(),
        truncate: (length) => file.truncate(length),
        size: () => file.size(),
        close: () => file.close(),
        datasync() {
          trimmed = trimSegments(p, dir, end).removed; // the caller's trimBefore(end)
          p.crash();
          file.datasync();
        },
      };
    },
  };
  const options = { dir, salt: recovered.salt, segmentBytesMax: 4096, syncBytesMax: 64 * 1024 };
  const writer = SegmentWriter.open(hooked, core, options, recovered.last, { number: 1, firstLsn: 0 });
  try {
    writer.rotate();
    assert.unreachable("the power failed during the rotation");
  } catch (error) {
    assert.ok(hasErrorCode(error, "EIO"), String(error));
  }
  core.detach();
  assert.ok(trimmed > 0, `the trim removed ${trimmed} segments`);
  const reopened = await openLog(dir, { segmentBytesMax: 4096, bufferBytes: 64 * 1024 });
  try {
    assert.is(Number(reopened.currentLsn), end, `the log goes on at ${end} (decisions ${reopened.recovery?.decisions.join(",")})`);
  } finally {
    await reopened.close();
  }
});

test.run();
