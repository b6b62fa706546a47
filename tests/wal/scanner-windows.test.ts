// Payloads handed out as views of shared copies ("window" mode of SegmentScanner.read, what
// change feeds read the log with): one copy of up to WINDOW_BYTES of the scanner's buffer
// serves many records. The copies must stay right when the scanner refills its buffer (the
// same buffer offsets then hold other records), when a record straddles a window's end, and
// for records larger than a window or than the buffer; and what one payload keeps alive is
// bounded by a window (or its own record).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { recordBytes } from "../../src/wal/format.ts";
import { LogTail } from "../../src/wal/log-tail.ts";
import { BUFFER_BYTES, WINDOW_BYTES } from "../../src/wal/segment-scanner.ts";
import { cleanup, openLog, platform, tempDir } from "./helpers.ts";

const test = suite("wal scanner windows");
const core = await Core.create({ shards: 1, memoryBytesMax: 256 << 20 });

/** `bytes` bytes, each derived from its record's number and its index (no two records alike). */
function pattern(bytes: number, record: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 7 + record * 13 + (i >> 8)) & 0xff;
  return out;
}

/**
 * Record sizes: many small ones (several buffer fills' worth), some that straddle windows,
 * one just over a window, one over the scanner's buffer, and empty ones.
 */
function sizes(): number[] {
  const out: number[] = [];
  let seed = 12345;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8);
  for (let i = 0; i < 12_000; i++) out.push(next() % 400);
  out.splice(3000, 0, WINDOW_BYTES + 100, 0, 70_000);
  out.splice(6000, 0, BUFFER_BYTES + 4096, 0);
  out.splice(9000, 0, WINDOW_BYTES - 8, WINDOW_BYTES - 8);
  return out;
}

test("window payloads equal the records after buffer refills, across window ends, and for records larger than a window or the buffer", async () => {
  const dir = tempDir();
  const log = await openLog(dir);
  const want = sizes().map((bytes, i) => pattern(bytes, i));
  for (let i = 0; i < want.length; i += 500) await log.append(want.slice(i, i + 500));
  const durable = Number(log.durableLsn);
  await log.close();
  const total = want.reduce((sum, p) => sum + recordBytes(p.length), 0);
  assert.ok(total > 3 * BUFFER_BYTES, `the log spans several buffer fills (${total} bytes)`);

  const tail = new LogTail(core, platform, dir, 0);
  const got: Uint8Array[] = [];
  try {
    for (const record of tail.read(durable, "window")) got.push(record.payload!);
  } finally {
    tail.close();
  }
  // Compared only once every record was read: a payload served from a window of an earlier
  // buffer fill would show here as other records' bytes.
  assert.is(got.length, want.length, "record count");
  for (let i = 0; i < want.length; i++) {
    const a = got[i];
    const b = want[i];
    assert.ok(a.length === b.length && a.every((x, j) => x === b[j]), `record ${i} (${b.length} bytes) intact`);
    assert.ok(a.buffer.byteLength <= Math.max(WINDOW_BYTES, recordBytes(b.length)), `record ${i} keeps at most a window alive (${a.buffer.byteLength} bytes)`);
  }
  const shared = new Set(got.map((p) => p.buffer)).size;
  assert.ok(shared < want.length / 100, `small records share copies (${shared} copies for ${want.length} records)`);
});

test.after(cleanup);
test.run();
