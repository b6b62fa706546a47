// Recovery's replay streams the logs (src/engine/replay.ts): it reads them once, in LSN
// order, and puts each record's operations in memtables as it goes, instead of collecting
// every logged operation into JavaScript objects first and sorting them by timestamp.
//
// - Memory: a log of tens of MiB replays with the JavaScript heap flat (and, being over
//   16 MiB, with a thread mapping the memtables' pages ahead of replay: every row checked). The collecting
//   replay held a few hundred bytes of objects per operation until the last one was read
//   (+172 MiB for 42 MiB of log in Node and Deno). Not asserted in Bun: its heapUsed
//   moves only when its collector runs (+0.2 MiB on the collecting replay) and then counts
//   the database's shared WebAssembly memory in (gigabytes). The next test is the check
//   that fails on a collecting replay in every runtime.
// - Order: with small memtables, replay has flushed tables before it opens the log's last
//   segment. The collecting replay read every segment before it inserted anything.
// - LSN order is not timestamp order (two writers log in the opposite order of their
//   timestamps, and a delete can be logged before the older put it shadows): with memtables
//   small enough that replay freezes and flushes mid-way, every write is there and no
//   deleted key comes back, on this open and on the two after it.
// - Checkpoints: flushes during the group WAL's replay leave a legacy partition log's
//   checkpoint where it was, since none of its records is in a memtable yet.
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { CorruptionError } from "../../src/errors.ts";
import { partitionDir } from "../../src/engine/flush.ts";
import { newManifest, writeManifest } from "../../src/engine/manifest.ts";
import { PartitionLog } from "../../src/engine/partition-log.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { encodeOperations, OP_DELETE, OP_PUT, type Operation } from "../../src/engine/records.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import { observedReads } from "../harness/observed-reads.ts";
import { runtimeName } from "../harness/platform.ts";
import { cleanup, enc, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine replay streams");
const MIB = 1024 * 1024;

/** Writes `batches` batches of 500 puts (16-byte keys, 100-byte values) to a new database and closes it: all of it stays in the log. */
async function writeLog(dir: string, batches: number, walSegmentBytesMax: number): Promise<number> {
  const db = await open(dir, { shards: 2, durability: "async", memtableBytesMax: 64 * MIB, walSegmentBytesMax });
  const value = "v".repeat(100);
  for (let b = 0; b < batches; b++) {
    await db.batch(Array.from({ length: 500 }, (_, i) => ({ type: "put" as const, key: `key-${String(b * 500 + i).padStart(10, "0")}`, value })));
  }
  await db.flush();
  assert.is(db.stats().flushes, 0, "the writes are in the log only");
  await db.close();
  let bytes = 0;
  for (const name of platform.readdir(`${dir}/wal`)) if (name.endsWith(".wal")) bytes += platform.stat(`${dir}/wal/${name}`)!.size;
  return bytes;
}

test("replaying a 40 MiB log keeps the JavaScript heap flat", async () => {
  const dir = tempDir();
  const logBytes = await writeLog(dir, 640, 16 * MIB); // 320,000 puts
  // The heap, sampled at every read of a log segment during open: from the first one
  // (recovery, after the core's memory exists) to the last one (replay's).
  let first: number | undefined;
  let peak = 0;
  const sample = (path: string) => {
    if (!path.includes("/wal/")) return;
    const used = process.memoryUsage().heapUsed;
    first ??= used;
    peak = Math.max(peak, used);
  };
  const db = await bindDatabaseApi(observedReads(platform, () => {}, sample)).open(dir, { shards: 2, durability: "async", memtableBytesMax: 64 * MIB });
  try {
    assert.is(db.stats().recovery!.replayedOperations, 320_000);
    const growth = peak - first!;
    const asserted = runtimeName() !== "bun";
    console.log(`  [replay-stream] ${(logBytes / MIB).toFixed(0)} MiB of log: heap +${(growth / MIB).toFixed(1)} MiB during open${asserted ? "" : " (not asserted in bun)"}`);
    // The collecting replay grew it by well over the log's size (objects, keys and values
    // of every operation); a streaming one by what a garbage collection leaves.
    if (asserted) assert.ok(growth < logBytes / 4, `the heap grew by ${(growth / MIB).toFixed(1)} MiB while replaying ${(logBytes / MIB).toFixed(0)} MiB of log`);
    assert.is(text(db.get("key-0000000000")), "v".repeat(100));
    assert.is(text(db.get("key-0000319999")), "v".repeat(100));
    // 40 MiB of log is past REPLAY_PAGES_BYTES_MIN: a pooled thread mapped the memtables'
    // pages while replay wrote them (src/engine/replay-pages.ts). Every row, whole.
    let rows = 0;
    const expected = enc.encode("v".repeat(100));
    for (const [key, value] of db.scan()) {
      if (text(key) !== `key-${String(rows).padStart(10, "0")}` || value.length !== 100 || value.some((b, i) => b !== expected[i])) assert.unreachable(`row ${rows}: ${text(key)}`);
      rows++;
    }
    assert.is(rows, 320_000);
  } finally {
    await db.close();
  }
});

test("replay flushes tables before it has read the log to its end", async () => {
  const dir = tempDir();
  await writeLog(dir, 80, 2 * MIB); // 40,000 puts, ~6 MiB of log in 2 MiB segments
  const segments = platform.readdir(`${dir}/wal`).filter((name) => name.endsWith(".wal")).sort();
  assert.ok(segments.length >= 3, `${segments.length} segments`);
  const last = `${dir}/wal/${segments.at(-1)}`;
  // Tables in the directory each time the last segment is opened: by recovery (none yet),
  // then by replay (64 KiB memtables: by then replay has flushed many).
  const tablesAtOpen: number[] = [];
  const onOpen = (path: string) => {
    if (path === last) tablesAtOpen.push(platform.readdir(`${dir}/tables`).filter((name) => name.endsWith(".sst")).length);
  };
  const db = await bindDatabaseApi(observedReads(platform, onOpen, () => {})).open(dir, { shards: 2, durability: "async", memtableBytesMax: 64 * 1024 });
  try {
    assert.ok(tablesAtOpen.length >= 2, `the last segment was opened ${tablesAtOpen.length} times`);
    assert.ok(tablesAtOpen.at(-1)! > 0, `tables when replay reached the last segment: ${tablesAtOpen.join(", ")}`);
    for (const i of [0, 12_345, 39_999]) assert.is(text(db.get(`key-${String(i).padStart(10, "0")}`)), "v".repeat(100));
  } finally {
    await db.close();
  }
});

test("LSN order against timestamp order, with flushes mid-replay: every write kept, no deleted key back, over three opens", async () => {
  const dir = tempDir();
  const options = { shards: 2, durability: "async" as const, memtableBytesMax: 64 * 1024 };
  await (await open(dir, options)).close();

  // Two writers per shard, A and B, write rounds of 3 keys: A takes ts t and B ts t + 1,
  // but B's record reaches the log first. B's record deletes `gone-i` and puts `both-i`'s
  // newer value; A's record puts `gone-i` (older than its delete), `both-i`'s older value
  // and `only-i`. Every 7th round is one batch record for both shards. About 14 MiB of
  // memtable versions for 2 x 64 KiB memtables: replay freezes and flushes throughout.
  const core = await Core.create({ shards: 2, memoryBytesMax: 64 * MIB });
  const shardOf = (key: string) => core.shardOf(enc.encode(key));
  const ts = [0n, 0n];
  const ROUNDS = 12_000;
  const value = (what: string, i: number) => enc.encode(`${what}-${i}-`.padEnd(100, "x"));
  const records: Uint8Array[] = [];
  const expected: Array<{ gone: string; both: string; only: string }> = [];
  let pairOps: Operation[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const shard = i % 2;
    const key = (what: string) => {
      // A key of this round's shard: the round number and a suffix that lands there.
      for (let n = 0; ; n++) if (shardOf(`${what}-${i}-${n}`) === shard) return `${what}-${i}-${n}`;
    };
    const [gone, both, only] = [key("gone"), key("both"), key("only")];
    expected.push({ gone, both, only });
    const t = (ts[shard] += 2n) - 1n;
    const b: Operation[] = [
      { type: OP_DELETE, shard, key: enc.encode(gone), value: undefined, ts: t + 1n },
      { type: OP_PUT, shard, key: enc.encode(both), value: value("new", i), ts: t + 1n },
    ];
    const a: Operation[] = [
      { type: OP_PUT, shard, key: enc.encode(gone), value: value("old", i), ts: t },
      { type: OP_PUT, shard, key: enc.encode(both), value: value("old", i), ts: t },
      { type: OP_PUT, shard, key: enc.encode(only), value: value("only", i), ts: t },
    ];
    if (i % 7 === 6 || pairOps.length > 0) {
      // Batch records spanning both shards (rounds i and i + 1 together).
      pairOps.push(...b, ...a);
      if (pairOps.length === 10) {
        records.push(encodeOperations(pairOps));
        pairOps = [];
      }
    } else {
      records.push(encodeOperations(b), encodeOperations(a));
    }
  }
  if (pairOps.length > 0) records.push(encodeOperations(pairOps));
  core.detach();
  const log = await bindLogApi(platform).openLog(`${dir}/wal`, { durability: "full", coordination: "single-process-unsafe" });
  for (let i = 0; i < records.length; i += 256) await log.append(records.slice(i, i + 256));
  await log.close();

  for (let run = 1; run <= 3; run++) {
    const db = await open(dir, options);
    try {
      const replayed = db.stats().recovery!;
      if (run === 1) assert.ok(db.stats().flushes > 0, "replay flushed memtables mid-way");
      for (let i = 0; i < ROUNDS; i++) {
        const { gone, both, only } = expected[i];
        assert.is(db.get(gone), undefined, `run ${run}: ${gone} was deleted after its put (replayed ${replayed.replayedOperations} operations)`);
        assert.is(text(db.get(both)), text(value("new", i)), `run ${run}: ${both} has its newer value`);
        assert.is(text(db.get(only)), text(value("only", i)), `run ${run}: ${only}`);
      }
      // New writes get timestamps above every replayed one.
      await db.put(expected[0].gone, "written after recovery");
      assert.is(text(db.get(expected[0].gone)), "written after recovery");
      await db.delete(expected[0].gone);
    } finally {
      await db.close();
    }
  }
});

test("a legacy partition log replayed after a group WAL whose replay flushes keeps its operations over three opens", async () => {
  // The group WAL is replayed first; its flushes must not move the partition log's
  // checkpoint past records replay has not read yet (src/engine/replay.ts, the cap).
  const dir = tempDir();
  const options = { shards: 2, durability: "async" as const, memtableBytesMax: 64 * 1024 };
  await (await open(dir, options)).close();
  const core = await Core.create({ shards: 2, memoryBytesMax: 64 * MIB });
  const shardOf = (key: string) => core.shardOf(enc.encode(key));
  const filler = enc.encode("f".repeat(100));
  const group: Uint8Array[] = [];
  for (let i = 0; i < 20_000; i++) {
    const key = `group-${i}`;
    group.push(encodeOperations([{ type: OP_PUT, shard: shardOf(key), key: enc.encode(key), value: filler, ts: BigInt(i + 1) }]));
  }
  const log = await bindLogApi(platform).openLog(`${dir}/wal`, { durability: "full", coordination: "single-process-unsafe" });
  for (let i = 0; i < group.length; i += 256) await log.append(group.slice(i, i + 256));
  await log.close();
  const legacy = Array.from({ length: 50 }, (_, i) => `legacy-${i}`).filter((key) => shardOf(key) === 0);
  const partition = partitionDir(dir, 0);
  const written = PartitionLog.open(core, platform, partition, PartitionLog.recover(core, platform, partition, false), { segmentBytesMax: 1 << 20, syncBytesMax: 1 << 20 });
  written.append(legacy.map((key, i) => encodeOperations([{ type: OP_PUT, shard: 0, key: enc.encode(key), value: enc.encode(`from shard-000 ${i}`), ts: 100_000n + BigInt(i) }])));
  written.sync();
  written.close();
  core.detach();

  for (let run = 1; run <= 3; run++) {
    const db = await open(dir, options);
    try {
      if (run === 1) assert.ok(db.stats().flushes > 0, "the group WAL's replay flushed memtables");
      legacy.forEach((key, i) => assert.is(text(db.get(key)), `from shard-000 ${i}`, `run ${run}: ${key}`));
      for (const i of [0, 9_999, 19_999]) assert.is(text(db.get(`group-${i}`)), "f".repeat(100), `run ${run}: group-${i}`);
    } finally {
      await db.close();
    }
  }
});

test("records that are not engine records fail the open with CorruptionError naming the LSN; an operation no memtable holds, with RangeError", async () => {
  const put = (key: string, value: Uint8Array, shard = 0): Operation => ({ type: OP_PUT, shard, key: enc.encode(key), value, ts: 1n });
  const good = encodeOperations([put("fine", enc.encode("ok"))]);
  const cases: Array<{ payload: Uint8Array; error: typeof CorruptionError | typeof RangeError; message: RegExp }> = [
    { payload: enc.encode("hello"), error: CorruptionError, message: /is not an engine record: engine record of 5 bytes is shorter than its prefix/ },
    { payload: encodeOperations([put("k", enc.encode("value"))]).slice(0, -2), error: CorruptionError, message: /is not an engine record: operation 0 runs past the record/ },
    { payload: Uint8Array.of(...good, 0), error: CorruptionError, message: /is not an engine record: engine record has bytes after its last operation/ },
    { payload: Uint8Array.of(2, ...good.subarray(1)), error: CorruptionError, message: /is not an engine record: engine record version 2 is not 1/ },
    { payload: encodeOperations([put("k", enc.encode("v"), 7)]), error: CorruptionError, message: /names shard 7 of 2/ },
    { payload: encodeOperations([put("k".repeat(3000), enc.encode("v"))]), error: CorruptionError, message: /holds a key or value of 3000 bytes/ },
    { payload: encodeOperations([put("big", new Uint8Array(200 * 1024))]), error: RangeError, message: /larger than an empty memtable of 65536 bytes/ },
  ];
  const core = await Core.create({ shards: 2, memoryBytesMax: 64 * MIB });
  for (const { payload, error, message } of cases) {
    const dir = tempDir();
    writeManifest(core, platform, dir, newManifest(2)); // a new, empty database
    const log = await bindLogApi(platform).openLog(`${dir}/wal`, { coordination: "single-process-unsafe" });
    const [, badLsn] = await log.append([good, payload, good]);
    await log.close();
    let thrown: unknown;
    try {
      await (await open(dir, { shards: 2, memtableBytesMax: 64 * 1024 })).close();
    } catch (e) {
      thrown = e;
    }
    assert.instance(thrown, error, `${message}: ${thrown}`);
    assert.match((thrown as Error).message, message);
    assert.match((thrown as Error).message, new RegExp(`record at LSN ${badLsn}`));
    if (thrown instanceof CorruptionError) assert.is(thrown.file, `${dir}/wal`);
  }
  core.detach();
});

test("open reads each segment replay needs once: recovery leaves all but the last to replay's checks", async () => {
  const dir = tempDir();
  await writeLog(dir, 80, 2 * MIB); // 40,000 puts, ~6 MiB of log in 2 MiB segments
  const segments = platform.readdir(`${dir}/wal`).filter((name) => name.endsWith(".wal")).sort().map((name) => `${dir}/wal/${name}`);
  assert.ok(segments.length >= 3, `${segments.length} segments`);
  const bytesRead = new Map<string, number>();
  const db = await bindDatabaseApi(observedReads(platform, () => {}, (path, n) => bytesRead.set(path, (bytesRead.get(path) ?? 0) + n))).open(dir, { shards: 2, durability: "async", memtableBytesMax: 64 * MIB });
  try {
    const recovery = db.stats().recovery!;
    assert.is(recovery.groupLog!.segmentsLeftToReader, segments.length - 1);
    assert.is(recovery.groupLog!.segmentsRead, 1, "recovery scanned the last segment only");
    assert.is(recovery.replayedOperations, 40_000);
    // Before, recovery checksummed every segment and replay did it again: twice the log.
    // Now a segment before the last is read once, by replay (its header by both, and the
    // few bytes of a record cut by the end of a 1 MiB read again with that record).
    for (const path of segments.slice(0, -1)) {
      const size = platform.stat(path)!.size;
      const read = bytesRead.get(path) ?? 0;
      assert.ok(read >= size && read < size * 1.25, `${path}: ${read} bytes read of ${size}`);
    }
    for (const i of [0, 20_000, 39_999]) assert.is(text(db.get(`key-${String(i).padStart(10, "0")}`)), "v".repeat(100));
  } finally {
    await db.close();
  }
});

test("a corrupt record in a segment before the last: open refuses with CorruptionError naming it, changes no segment; salvage cuts the log there", async () => {
  const dir = tempDir();
  await writeLog(dir, 80, 2 * MIB);
  const segments = platform.readdir(`${dir}/wal`).filter((name) => name.endsWith(".wal")).sort().map((name) => `${dir}/wal/${name}`);
  assert.ok(segments.length >= 3, `${segments.length} segments`);
  const middle = segments[1];
  // One byte flipped in the middle of the segment: some record's payload or header.
  const file = platform.open(middle, "readwrite");
  const byte = new Uint8Array(1);
  const at = Math.floor(file.size() / 2);
  file.read(byte, at);
  byte[0] ^= 0x5a;
  file.write(byte, at);
  file.close();
  const before = segments.map((path) => platform.readFile(path));

  const options = { shards: 2, durability: "async" as const, memtableBytesMax: 64 * MIB };
  const error = await open(dir, options).then(() => undefined, (e) => e);
  assert.instance(error, CorruptionError);
  assert.is((error as CorruptionError).file, middle, (error as Error).message);
  const after = platform.readdir(`${dir}/wal`).filter((name) => name.endsWith(".wal")).sort().map((name) => `${dir}/wal/${name}`);
  assert.equal(after, segments, "the same segments");
  for (let i = 0; i < segments.length; i++) assert.ok(platform.readFile(segments[i]).every((b, j) => b === before[i][j]), `${segments[i]} unchanged`);

  // Salvage scans every segment before replay (R5): the log ends at the bad record.
  const db = await open(dir, { ...options, salvage: true });
  try {
    const report = db.stats().recovery!.groupLog!;
    assert.ok(report.decisions.includes("R5"), report.decisions.join(" "));
    assert.is(report.segmentsLeftToReader, 0);
    assert.is(text(db.get("key-0000000000")), "v".repeat(100));
    assert.is(db.get("key-0000039999"), undefined, "past the cut");
  } finally {
    await db.close();
  }
});

test.after(cleanup);
test.run();
