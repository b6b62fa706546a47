// Payloads handed out as views of the scanner's own buffer ("view" mode of
// SegmentScanner.read, what change feeds read the log with): no copy, and each view holds
// its record when it is handed out, across buffer refills (the same buffer offsets then
// hold other records) and for records larger than the buffer (a copy of their own). A view
// is valid only until the generator resumes, so each is checked as it comes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { recordBytes } from "../../src/wal/format.ts";
import { LogTail } from "../../src/wal/log-tail.ts";
import { BUFFER_BYTES } from "../../src/wal/segment-scanner.ts";
import { cleanup, openLog, platform, tempDir } from "./helpers.ts";

const test = suite("wal scanner views");
const core = await Core.create({ shards: 1, memoryBytesMax: 256 << 20 });

/** `bytes` bytes, each derived from its record's number and its index (no two records alike). */
function pattern(bytes: number, record: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 7 + record * 13 + (i >> 8)) & 0xff;
  return out;
}

/** Record sizes: many small ones (several buffer fills' worth), some large, one over the scanner's buffer, and empty ones. */
function sizes(): number[] {
  const out: number[] = [];
  let seed = 12345;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8);
  for (let i = 0; i < 12_000; i++) out.push(next() % 400);
  out.splice(3000, 0, 300_000, 0, 70_000);
  out.splice(6000, 0, BUFFER_BYTES + 4096, 0);
  out.splice(9000, 0, BUFFER_BYTES - 64, BUFFER_BYTES - 64);
  return out;
}

test("view payloads hold their records when handed out, after buffer refills and for records larger than the buffer", async () => {
  const dir = tempDir();
  const log = await openLog(dir);
  const want = sizes().map((bytes, i) => pattern(bytes, i));
  for (let i = 0; i < want.length; i += 500) await log.append(want.slice(i, i + 500));
  const durable = Number(log.durableLsn);
  await log.close();
  const total = want.reduce((sum, p) => sum + recordBytes(p.length), 0);
  assert.ok(total > 3 * BUFFER_BYTES, `the log spans several buffer fills (${total} bytes)`);

  const tail = new LogTail(core, platform, dir, 0);
  let records = 0;
  let views = 0;
  try {
    for (const record of tail.read(durable, "view")) {
      const a = record.payload!;
      const b = want[records];
      assert.ok(a.length === b.length && a.every((x, j) => x === b[j]), `record ${records} (${b.length} bytes) intact when handed out`);
      if (a.buffer === core.u8.buffer) views++;
      else assert.ok(b.length > BUFFER_BYTES, `record ${records} (${b.length} bytes) is a view, not a copy`);
      records++;
    }
  } finally {
    tail.close();
  }
  assert.is(records, want.length, "record count");
  assert.is(views, want.length - 1, "every record but the one larger than the buffer is a view of it");
});

test.after(cleanup);
test.run();
