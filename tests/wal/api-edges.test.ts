// shardline/wal's public API at its edges: the record size and the segment size, empty,
// shared and detached byte arrays (a detached one reserved a record it never published and
// wedged the log: found by an adversarial review, 2026-12-07), streams from LSNs inside a
// record, at a segment boundary, past the end (following across segment rolls) and
// before the first segment, a second open of the same directory in one process, and a log
// reopened with a segment size smaller than its last segment already is.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { LockedError } from "../../src/errors.ts";
import { recordBytes, RING_HEADER_BYTES, RingState, SEGMENT_HEADER_BYTES, WalStatus } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";
import { LogTrimmedError } from "../../src/wal/log-tail.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { rejects, within } from "../harness/assert.ts";
import { cleanup, collect, dec, openLog, platform, readAll, segmentPaths, tempDir } from "./helpers.ts";

const test = suite("wal api edges");
const SMALL = { segmentBytesMax: 4096, bufferBytes: 64 * 1024 };

test("a record of exactly recordBytesMax fills a segment to the byte; one byte more is a RangeError; all survive reopen", async () => {
  const dir = tempDir();
  const log = await openLog(dir, SMALL);
  const max = log.limits.recordBytesMax;
  assert.is(SEGMENT_HEADER_BYTES + recordBytes(max), SMALL.segmentBytesMax, "the largest record fills a segment exactly");
  await rejects(() => log.append(new Uint8Array(max + 1)), (e) => e instanceof RangeError && /recordBytesMax/.test(e.message));
  const big = (fill: number) => new Uint8Array(max).fill(fill);
  const lsns = await log.append([new Uint8Array([7]), big(1), big(2), new Uint8Array([9]), big(3)]);
  await log.close();
  const again = await openLog(dir, SMALL);
  const all = await collect(again);
  assert.equal(all.map((r) => r.lsn), lsns);
  assert.equal(all.map((r) => r.data.length), [1, max, max, 1, max]);
  assert.ok(all[1].data.every((b) => b === 1) && all[2].data.every((b) => b === 2) && all[4].data.every((b) => b === 3));
  // The full segments hold exactly one record each, ending at segmentBytesMax.
  const segs = listSegmentFiles(platform, dir);
  assert.ok(segs.some((s) => s.firstLsn === Number(lsns[2]) && readAll(s.path).length >= SMALL.segmentBytesMax));
  await again.close();
});

test("a record as large as the whole ring (bufferBytes 64 KiB), after small ones so it wraps, round-trips", async () => {
  const dir = tempDir();
  const options = { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 };
  const log = await openLog(dir, options);
  const max = log.limits.recordBytesMax;
  assert.is(recordBytes(max), options.bufferBytes);
  const expected: Uint8Array[] = [];
  const pending: Promise<bigint>[] = [];
  for (let i = 0; i < 6; i++) {
    const small = new Uint8Array(100 + i * 13).fill(200 + i);
    const large = new Uint8Array(max).map((_, j) => (j * 31 + i) & 0xff);
    expected.push(small, large);
    pending.push(log.append(small), log.append(large));
  }
  await within(Promise.all(pending), 15_000, "appends of ring-sized records");
  await log.close();
  const again = await openLog(dir, options);
  const all = await collect(again);
  assert.is(all.length, expected.length);
  for (let i = 0; i < expected.length; i++) assert.ok(platformEqual(all[i].data, expected[i]), `record ${i}`);
  await again.close();
});

function platformEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

test("empty records and SharedArrayBuffer-backed views: each comes back as the bytes it held when appended", async () => {
  const dir = tempDir();
  const log = await openLog(dir, SMALL);
  const shared = new Uint8Array(new SharedArrayBuffer(32), 8, 5);
  shared.set([1, 2, 3, 4, 5]);
  const lsns = await log.append([new Uint8Array(0), "", shared, "x"]);
  assert.equal(lsns.map((l, i) => (i === 0 ? 0n : l - lsns[i - 1])), [0n, 16n, 16n, 24n], "empty records take 16 bytes each");
  await log.close();
  const again = await openLog(dir, SMALL);
  const all = await collect(again);
  assert.equal(all.map((r) => Array.from(r.data)), [[], [], [1, 2, 3, 4, 5], [120]]);
  await again.close();
});

/** A Uint8Array whose ArrayBuffer was transferred away (postMessage to a worker, structuredClone with transfer). */
function detachedArray(): Uint8Array {
  const bytes = new Uint8Array(new ArrayBuffer(8));
  structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
  return bytes;
}

test("a detached Uint8Array is a TypeError before anything is reserved, and the log goes on (it reserved a record it never published, and the log wedged)", async () => {
  const dir = tempDir();
  const log = await openLog(dir, SMALL);
  await rejects(() => log.append(detachedArray()), (e) => e instanceof TypeError && /detached/.test(e.message));
  assert.throws(() => log.appendNow(detachedArray()), (e: unknown) => e instanceof TypeError);
  const after = await within(log.append("after"), 3000, "an append after the detached ones");
  assert.is(typeof after, "bigint");
  await log.close();
  const again = await openLog(dir, SMALL);
  assert.equal((await collect(again)).map((r) => r.text), ["after"]);
  await again.close();
});

test("an array holding a detached Uint8Array is refused whole: none of it is logged, and the log goes on", async () => {
  const dir = tempDir();
  const log = await openLog(dir, { ...SMALL, durability: "async" as const });
  await rejects(() => log.append(["first", detachedArray(), "third"]), (e) => e instanceof TypeError && /detached/.test(e.message));
  await within(log.close(), 10_000, "close");
  const again = await openLog(dir, SMALL);
  assert.equal((await collect(again)).map((r) => r.text), []);
  await again.close();
});

test("a throw between a ring's reservation and its publication fails the ring (fail-stop) instead of wedging it", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 16 * 1024 * 1024 });
  const capacity = 64 * 1024;
  const at = core.exports.coreAlloc(RING_HEADER_BYTES + capacity) >>> 0;
  assert.is(core.exports.walRingFormat(at, capacity, 7, 8n, 4096), WalStatus.OK);
  const ring = new RingView(core, at);
  assert.ok(ring.tryAppend(new TextEncoder().encode("before")) >= 0);
  assert.throws(() => ring.tryAppend(detachedArray()), (e: unknown) => e instanceof TypeError);
  assert.is(ring.state, RingState.FAILED, "the ring failed");
  assert.throws(() => ring.tryAppend(new TextEncoder().encode("later")), (e: unknown) => (e as Error).name === "WalFailedError");
});

test("thousands of tiny records across many segment rolls: a stream from every LSN (inside a record, at a boundary, at a segment's first LSN) yields exactly the records from there", async () => {
  const dir = tempDir();
  const log = await openLog(dir, SMALL);
  const texts = Array.from({ length: 1500 }, (_, i) => String(i % 10));
  const lsns = log.appendNow(texts);
  await log.flushUntil();
  const segs = listSegmentFiles(platform, dir);
  assert.ok(segs.length >= 5, `${segs.length} segments`);
  const end = log.durableLsn;
  const firstAtOrAfter = (from: bigint) => lsns.findIndex((l) => l >= from);
  const probes = new Set<bigint>([0n, 1n, 15n, 16n, 17n, end - 1n, end, end + 1n, end + 4096n]);
  for (const s of segs) for (const d of [-1, 0, 1, 8]) if (s.firstLsn + d >= 0) probes.add(BigInt(s.firstLsn + d));
  for (const from of probes) {
    const got = await collect(log, from);
    const i = firstAtOrAfter(from);
    const want = i < 0 ? [] : lsns.slice(i);
    assert.is(got.length, want.length, `from ${from}`);
    if (want.length > 0) {
      assert.is(got[0].lsn, want[0], `first record from ${from}`);
      assert.is(got[got.length - 1].lsn, want[want.length - 1]);
    }
    for (let k = 0; k < got.length; k++) assert.is(got[k].text, texts[i + k]);
  }
  await log.close();
});

test("a following stream from an LSN past the end, not on a record boundary, starts at the first record at or after it, across segment rolls", async () => {
  const log = await openLog(tempDir(), SMALL);
  await log.append("before");
  const from = log.currentLsn + 10_004n; // several segments ahead, inside some record
  const ac = new AbortController();
  const got: bigint[] = [];
  const reading = (async () => {
    for await (const r of log.stream({ from, follow: true, signal: ac.signal })) {
      got.push(r.lsn);
      if (got.length === 5) ac.abort();
    }
  })();
  const lsns: bigint[] = [];
  for (let i = 0; i < 80 && got.length < 5; i++) lsns.push(...(await log.append(Array.from({ length: 10 }, (_, j) => `r${i}-${j}-${"z".repeat(20)}`))));
  await within(reading, 10_000, "the following stream");
  const i = lsns.findIndex((l) => l >= from);
  assert.equal(got, lsns.slice(i, i + 5));
  await log.close();
});

test("after a trim, a stream from before the first segment is LogTrimmedError; past the end without follow it ends empty", async () => {
  const log = await openLog(tempDir(), SMALL);
  const lsns = await log.append(Array.from({ length: 300 }, (_, i) => `t${i}-${"q".repeat(30)}`));
  const { firstLsn } = await log.trimBefore(lsns[200]);
  assert.ok(firstLsn > 0n);
  await rejects(() => collect(log, firstLsn - 1n), (e) => e instanceof LogTrimmedError && e.oldestLsn === Number(firstLsn));
  assert.equal(await collect(log, log.currentLsn + 1n), []);
  const rest = await collect(log, firstLsn);
  assert.is(rest[0].lsn, firstLsn);
  assert.is(rest[rest.length - 1].text, `t299-${"q".repeat(30)}`);
  await log.close();
});

test("a second openLog of the same directory in the same process is LockedError while the first is open", async () => {
  const dir = tempDir();
  const log = await openLog(dir, SMALL);
  await rejects(() => openLog(dir, SMALL), LockedError);
  await log.append("still mine");
  await log.close();
  const again = await openLog(dir, SMALL);
  assert.equal((await collect(again)).map((r) => r.text), ["still mine"]);
  await again.close();
});

test("a log reopened with a segmentBytesMax smaller than its last segment already holds goes on in new segments, every record intact", async () => {
  const dir = tempDir();
  const log = await openLog(dir, { segmentBytesMax: 1 << 20, bufferBytes: 64 * 1024 });
  const first = await log.append(Array.from({ length: 400 }, (_, i) => `a${i}-${"w".repeat(40)}`));
  await log.close();
  const small = await openLog(dir, SMALL);
  const second = await small.append(Array.from({ length: 200 }, (_, i) => `b${i}-${"w".repeat(40)}`));
  await small.close();
  const again = await openLog(dir, SMALL);
  const all = await collect(again);
  assert.equal(all.map((r) => r.lsn), [...first, ...second]);
  assert.is(dec.decode(all[all.length - 1].data), `b199-${"w".repeat(40)}`);
  assert.ok(segmentPaths(dir).length > 2);
  await again.close();
});

test.after.each(cleanup);
test.run();
