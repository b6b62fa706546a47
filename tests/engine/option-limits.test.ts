// Options and limits at their edges (README.md "Limits", "Errors", "Options"), on every path
// that reaches them. From the review of the limits (2026-12-06), each seen failing before
// its fix: shardline/wal took salvage: "false" for true (and cut a log a corrupt record
// should have refused) and gave RangeError for options of the wrong type, where open gives
// TypeError; a large batch within the batch limits over 256 shards of 64 KiB memtables
// asked for 4 MiB arenas a shard (1 GiB) and was refused with MemoryFullError for good
// (arenas are now memtableBytesMax x 4^k, at most 4 times a shard's need); a read-only open
// whose shards x memtableBytesMax cannot fit the shared memory gave MemoryFullError, not
// the writer's RangeError naming the option.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { MemoryFullError } from "../../src/errors.ts";
import { recordBytes, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, enc, open, tempDir } from "./helpers.ts";
import { collect, openLog, readAll, segmentPaths, writeAll } from "../wal/helpers.ts";

const test = suite("engine: options and limits at their edges");
test.after.each(cleanup);

/** Small segments and buffer, as tests/wal/recovery.test.ts uses them. */
const SMALL = { segmentBytesMax: 4096, bufferBytes: 64 * 1024 };
const texts = (n: number) => Array.from({ length: n }, (_, i) => `rec-${i}-${"x".repeat(i % 17)}`);

test("shardline/wal: salvage given as the string \"false\" is a TypeError, not a salvage that cuts a corrupt log", async () => {
  const dir = tempDir();
  const log = await openLog(dir, SMALL);
  await log.append(texts(300));
  await log.close();
  // Corruption in the middle: a bad byte in record 2's payload, valid records after it.
  const [first] = segmentPaths(dir);
  const bytes = readAll(first);
  bytes[SEGMENT_HEADER_BYTES + recordBytes(enc.encode(texts(1)[0]).length) + 14] ^= 1;
  writeAll(first, bytes);
  // open's own salvage option is checked (TypeError "salvage must be a boolean"); the log's
  // is taken by truthiness, so "false" salvages: it cuts the log at the bad record.
  let opened: Awaited<ReturnType<typeof openLog>> | undefined;
  let error: unknown;
  try {
    opened = await openLog(dir, { ...SMALL, salvage: "false" as never });
  } catch (e) {
    error = e;
  }
  if (opened) {
    const left = (await collect(opened)).length;
    const decisions = opened.recovery?.decisions.join(",");
    await opened.close();
    assert.unreachable(`salvage: "false" was taken as true: recovery ${decisions} cut the log to ${left} of 300 records`);
  }
  assert.ok(error instanceof TypeError, `expected a TypeError for salvage: "false", got ${error}`);
});

test("shardline/wal: an option of the wrong type is a TypeError, as open's are (segmentBytesMax \"4096\", bufferBytes 65536n, batchIntervalUs \"0\")", async () => {
  // open() says TypeError for the same mistake on its own options.
  await rejects(() => open(tempDir(), { walSegmentBytesMax: "4194304" as never }), TypeError);
  const wrong: Array<[string, unknown]> = [["segmentBytesMax", "4096"], ["bufferBytes", 65536n], ["batchIntervalUs", "0"], ["coordinationTimeoutMs", "5"]];
  const got: string[] = [];
  for (const [name, value] of wrong) {
    try {
      const log = await openLog(tempDir(), { [name]: value } as never);
      await log.close();
      got.push(`${name}: ${typeof value} accepted`);
    } catch (error) {
      if (!(error instanceof TypeError)) got.push(`${name}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
  assert.equal(got, [], got.join("; "));
});

test("a batch within BATCH_OPS_MAX and BATCH_BYTES_MAX over 256 shards of 64 KiB memtables, no scan or snapshot held: written, not refused with MemoryFullError for good", async () => {
  const db = await open(tempDir(), { shards: 256, memtableBytesMax: 64 * 1024, durability: "async" });
  try {
    // 4,096 puts of 8,000 bytes (33 MB): ~128 KiB a shard, more than one memtable. Each
    // shard's private memtable was a 4 MiB arena (256 x 4 MiB = 1 GiB, more than the ~700 MiB
    // shared memory open sized for these options); it is now 256 KiB (64 KiB x 4: at most
    // 4 times the need, src/engine/actor.ts, arena sizes).
    const ops = Array.from({ length: 4096 }, (_, i) => ({ type: "put" as const, key: `k${i}`, value: new Uint8Array(8000) }));
    const outcomes: unknown[] = [];
    for (let attempt = 0; attempt < 2; attempt++) outcomes.push(await db.batch(ops).then(() => undefined, (e: unknown) => e));
    const said = outcomes.map((e, i) => `attempt ${i + 1}: ${e === undefined ? "written" : `${(e as Error).name}: ${(e as Error).message}`}`).join("; ");
    assert.ok(outcomes.every((e) => e === undefined), `with no scan or snapshot held: ${said}`);
    assert.is(db.get("k4095")?.length, 8000);
    assert.is(db.stats().liveSnapshots, 0);
  } finally {
    await db.close();
  }
});

test("open readOnly with shards x memtableBytesMax over the shared memory: a RangeError as for the writer, not MemoryFullError", async () => {
  const dir = tempDir();
  const writer = await open(dir, { shards: 4 });
  await writer.put("a", "b");
  await writer.close();
  // README "Options", memtableBytesMax: shards x memtableBytesMax x 3 + walBufferBytes + 4 MiB
  // must fit the 4 GiB a wasm32 memory has, else open is a RangeError. The writer's open says so:
  const refused = await rejects(() => open(dir, { memtableBytesMax: 1 << 30 }), RangeError);
  assert.match(refused.message, /memtableBytesMax/);
  // The read-only open of the same directory with the same option gets a write's
  // MemoryFullError ("end long-held scans, then retry the write"): it skips the check.
  const error = await open(dir, { readOnly: true, memtableBytesMax: 1 << 30 }).then(async (db) => {
    await db.close();
    return undefined;
  }, (e: unknown) => e);
  if (error === undefined) return; // opening would be fine too
  assert.ok(error instanceof RangeError, `readOnly open: ${(error as Error).name}: ${(error as Error).message}`);
  assert.match((error as Error).message, /memtableBytesMax/);
});

// Found in the same reviews (first contact; limits), seen failing before their fixes.
test("shardline/wal: stream given a misspelt option ({ form }) is a TypeError naming the nearest, as openLog's options are", async () => {
  const log = await openLog(tempDir(), SMALL);
  try {
    await log.append(texts(3));
    let error: unknown;
    try {
      log.stream({ form: 1n } as never);
    } catch (e) {
      error = e;
    }
    assert.ok(error instanceof TypeError && /did you mean from/.test(error.message), `stream({ form }): ${error}`);
  } finally {
    await log.close();
  }
});

test("open's writeQueue given an array is a TypeError, as any other non-object", async () => {
  await rejects(() => open(tempDir(), { writeQueue: [] as never }), TypeError);
});

test.run();
