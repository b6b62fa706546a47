// Records larger than a segment scanner's read buffer (1 MiB) that are not the first record
// of their segment. The scanner checks such a record in pieces; it used to read the large
// record's header from the start of its buffer (the first record of the run it had just
// read) instead of from where the large record starts, so recovery cut an acknowledged
// record and everything after it as a "torn tail", streams threw "below the durable LSN",
// and readRecords (wal dump, replay) stopped early. Each reader of segments is checked.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { readRecords } from "../../src/wal/read-records.ts";
import { BUFFER_BYTES } from "../../src/wal/segment-scanner.ts";
import { cleanup, collect, dec, enc, openLog, platform, segmentPaths, tempDir } from "./helpers.ts";

const test = suite("wal large records");
const core = await Core.create({ shards: 1, memoryBytesMax: 256 << 20 });

/** A payload of `bytes` bytes, each the low byte of its index plus `seed`. */
function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i + seed) & 0xff;
  return out;
}

/** small, large (just over the scanner's buffer), small, large again, small: one segment. */
const LARGE_BYTES = BUFFER_BYTES + 4096;
const payloads = () => [enc.encode("small-before"), pattern(LARGE_BYTES, 1), enc.encode("small-between"), pattern(LARGE_BYTES + 8, 2), enc.encode("small-after")];

/** Writes `payloads()` one append (durable) at a time to a new log and closes it. */
async function writeLog(): Promise<string> {
  const dir = tempDir();
  const log = await openLog(dir);
  for (const payload of payloads()) await log.append(payload);
  await log.close();
  assert.is(segmentPaths(dir).length, 1, "every record in one segment");
  return dir;
}

function assertSame(got: Uint8Array[], what: string): void {
  const want = payloads();
  assert.is(got.length, want.length, `${what}: record count`);
  for (let i = 0; i < want.length; i++) assert.ok(got[i].length === want[i].length && got[i].every((b, j) => b === want[i][j]), `${what}: record ${i} intact`);
}

test("a ~1 MiB record after a small one survives reopen, with every record after it", async () => {
  const dir = await writeLog();
  const log = await openLog(dir);
  assert.equal(log.recovery!.decisions, ["R6"], "a clean end, nothing cut");
  assert.is(log.recovery!.bytesCut, 0);
  assert.is(log.recovery!.records, payloads().length);
  assertSame((await collect(log)).map((r) => r.data), "stream after reopen");
  assert.is(dec.decode((await collect(log)).at(-1)!.data), "small-after");
  await log.close();
});

test("a stream over a live log reads a ~1 MiB record that follows a small one (no 'below the durable LSN')", async () => {
  const log = await openLog(tempDir());
  for (const payload of payloads()) await log.append(payload);
  assertSame((await collect(log)).map((r) => r.data), "stream of the live log");
  await log.close();
});

test("readRecords (wal dump, replay) reads a ~1 MiB record that follows a small one", async () => {
  const dir = await writeLog();
  assertSame([...readRecords(core, platform, dir, 0)].map((r) => r.payload), "readRecords");
});

test.after.each(cleanup);
test.run();
