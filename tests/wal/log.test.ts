// The Log API: append / appendNow / flushUntil / LSNs, limits and bad input, durability
// modes, group commit, rotation and streams across segments, follow / abort / close /
// break, trimBefore, and calls after close. Options are read once (review of the WAL,
// second pass, 2026-12-06, seen failing before the fix): a getter that answered the checks
// and then something else started a stream at NaN (spinning) or turned salvage on.
import { Buffer } from "node:buffer";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ClosedError, CorruptionError } from "../../src/errors.ts";
import { recordBytes, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import type { Log } from "../../src/wal/log.ts";
import { LogTrimmedError } from "../../src/wal/public.ts";
import { rejects, throwsA } from "../harness/assert.ts";
import { cleanup, collect, dec, enc, openLog, openLogRefusal, platform, readAll, segmentPaths, tempDir, writeAll } from "./helpers.ts";

const test = suite("wal log");
const SMALL = { segmentBytesMax: 4096, bufferBytes: 64 * 1024 };

function openFds(): number {
  try {
    return platform.readdir("/proc/self/fd").length;
  } catch {
    return -1;
  }
}

test("append resolves with the record's LSN only once it is durable; LSNs are byte positions", async () => {
  const log = await openLog(tempDir(), SMALL);
  let expected = 0n;
  for (const text of ["a", "bb", "", "a longer record of several bytes"]) {
    const lsn = await log.append(text);
    assert.is(lsn, expected);
    assert.ok(log.durableLsn > lsn, "durable when append resolves");
    expected += BigInt(recordBytes(enc.encode(text).length));
    assert.is(log.currentLsn, expected);
  }
  assert.equal((await collect(log)).map((r) => r.text), ["a", "bb", "", "a longer record of several bytes"]);
  await log.close();
});

test("arrays append several records and resolve with one LSN each", async () => {
  const log = await openLog(tempDir(), SMALL);
  const lsns = await log.append(["one", enc.encode("two"), "three"]);
  assert.is(lsns.length, 3);
  assert.ok(lsns[0] < lsns[1] && lsns[1] < lsns[2]);
  assert.ok(log.durableLsn > lsns[2]);
  const now = log.appendNow(["four", "five"]);
  assert.is(now.length, 2);
  await log.flushUntil(now[1]);
  assert.ok(log.durableLsn > now[1]);
  assert.equal((await collect(log)).map((r) => r.text), ["one", "two", "three", "four", "five"]);
  await log.close();
});

test("appendNow returns at once; flushUntil makes everything up to the LSN durable", async () => {
  const log = await openLog(tempDir(), SMALL);
  const lsns = Array.from({ length: 100 }, (_, i) => log.appendNow(`now ${i}`));
  for (let i = 1; i < lsns.length; i++) assert.ok(lsns[i] > lsns[i - 1]);
  await log.flushUntil(lsns[99]);
  assert.ok(log.durableLsn >= log.currentLsn);
  await log.flushUntil(); // everything appended so far
  await log.close();
});

test("durableLsn and currentLsn are bigints that never go backwards", async () => {
  const log = await openLog(tempDir(), SMALL);
  let lastDurable = log.durableLsn;
  let lastCurrent = log.currentLsn;
  const pending: Promise<bigint>[] = [];
  for (let i = 0; i < 300; i++) {
    pending.push(log.append(`m${i}`));
    if (i % 20 === 0) await Promise.resolve();
    const d = log.durableLsn;
    const c = log.currentLsn;
    assert.is(typeof d, "bigint");
    assert.ok(d >= lastDurable && c >= lastCurrent && d <= c);
    lastDurable = d;
    lastCurrent = c;
  }
  await Promise.all(pending);
  await log.close();
});

test("a record over the limit is refused with a RangeError naming it; the limit itself is accepted", async () => {
  const log = await openLog(tempDir(), { segmentBytesMax: 64 * 1024, bufferBytes: 64 * 1024 });
  const max = log.limits.recordBytesMax;
  assert.ok(max > 60_000 && max < 64 * 1024);
  const error = await rejects(() => log.append(new Uint8Array(max + 1)), RangeError);
  assert.ok(error.message.includes(String(max)) && error.message.includes("recordBytesMax"), error.message);
  throwsA(() => log.appendNow(new Uint8Array(max + 1)), RangeError);
  const lsn = await log.append(new Uint8Array(max).fill(7));
  const [record] = await collect(log, lsn);
  assert.is(record.data.length, max);
  assert.ok(record.data.every((b) => b === 7));
  await log.close();
});

test("bad input and bad options are TypeErrors and RangeErrors", async () => {
  const log = await openLog(tempDir(), SMALL);
  await rejects(() => log.append(42 as unknown as string), TypeError);
  await rejects(() => log.append([enc.encode("ok"), null as unknown as string]), TypeError);
  await rejects(() => log.flushUntil(3 as unknown as bigint), TypeError);
  await log.close();
  await rejects(() => openLog(tempDir(), { segmentBytesMax: 100 }), (e) => e instanceof RangeError && /segmentBytesMax/.test(e.message));
  await rejects(() => openLog(tempDir(), { bufferBytes: 100_000 }), (e) => e instanceof RangeError && /power of two/.test(e.message));
  await rejects(() => openLog(tempDir(), { batchIntervalUs: -1 }), RangeError);
  await rejects(() => openLog(tempDir(), { durability: "eventual" as "full" }), RangeError);
  await rejects(() => openLog("", SMALL), TypeError);
});

test("async durability: append resolves at once and the record becomes durable without a flush", async () => {
  const log = await openLog(tempDir(), { ...SMALL, durability: "async", batchIntervalUs: 500 });
  const lsn = await log.append("async");
  assert.is(log.stats().waiting, 0);
  await log.flushUntil(lsn);
  assert.ok(log.durableLsn > lsn);
  const before = log.stats().syncs;
  const last = await log.append(Array.from({ length: 50 }, (_, i) => `a${i}`));
  // Nobody waits or flushes: the worker makes it durable within its batch interval anyway.
  while (log.durableLsn <= last[49]) await new Promise((r) => setTimeout(r, 1));
  assert.ok(log.stats().syncs > before);
  await log.close();
});

test("group commit: appends made during one sync share the next (counted in stats)", async () => {
  const log = await openLog(tempDir(), { ...SMALL, faults: { syncDelayMs: 50 } });
  await log.append("warm up");
  const before = log.stats();
  const lsns = await Promise.all(Array.from({ length: 256 }, (_, i) => log.append(`g${i}`)));
  const after = log.stats();
  assert.is(lsns.length, 256);
  assert.is(after.syncedRecords - before.syncedRecords, 256);
  const syncs = after.syncs - before.syncs;
  assert.ok(syncs >= 1 && syncs <= 3, `256 appends issued during a 50 ms sync took ${syncs} syncs`);
  assert.ok(after.recordsPerSync > 1);
  assert.is(after.appends, 257);
  await log.close();
});

test("an append of a Node Buffer that waits for room in the ring logs the bytes it was given, though the caller refills the Buffer at once", async () => {
  // 40 records of 3,000 bytes into a 64 KiB ring with slow syncs: those past ~21 wait their
  // turn (AppendQueue), keeping a copy. slice() of a Buffer is a view, so they logged the
  // caller's later bytes (review, 2026-12-06).
  const log = await openLog(tempDir(), { ...SMALL, faults: { syncDelayMs: 20 } });
  const buffer = Buffer.alloc(3000);
  const appends: Array<Promise<bigint>> = [];
  for (let i = 1; i <= 40; i++) {
    buffer.fill(i);
    appends.push(log.append(buffer));
  }
  buffer.fill(0xee);
  const lsns = await Promise.all(appends);
  const got = await collect(log, lsns[0]);
  assert.equal(got.map((r) => r.data[0]), Array.from({ length: 40 }, (_, i) => i + 1));
  await log.close();
});

test("segments rotate at segmentBytesMax; a stream from any LSN yields exactly the records from there, across segments", async () => {
  const log = await openLog(tempDir(), SMALL);
  const texts = Array.from({ length: 400 }, (_, i) => `rot-${i}-${"r".repeat(i % 40)}`);
  const lsns = await log.append(texts);
  assert.ok(segmentPaths(log.dir).length >= 5, `${segmentPaths(log.dir).length} segments`);
  for (const i of [0, 1, 57, 133, 200, 399]) {
    const got = await collect(log, lsns[i]);
    assert.equal(got.map((r) => r.text), texts.slice(i), `from record ${i}`);
    assert.equal(got.map((r) => r.lsn), lsns.slice(i));
  }
  // From an LSN inside a record: records starting at or after it.
  assert.is((await collect(log, lsns[10] + 1n))[0].text, texts[11]);
  assert.equal(await collect(log, log.currentLsn), []);
  await log.close();
});

test("follow yields new records as they become durable, while appends continue", async () => {
  const log = await openLog(tempDir(), SMALL);
  await log.append(["before-0", "before-1"]);
  const seen: string[] = [];
  const reader = (async () => {
    for await (const r of log.stream({ follow: true })) {
      seen.push(dec.decode(r.data));
      if (seen.length === 302) break;
    }
  })();
  for (let batch = 0; batch < 30; batch++) {
    await log.append(Array.from({ length: 10 }, (_, i) => `after-${batch * 10 + i}`));
    await new Promise((r) => setTimeout(r, 0));
  }
  await reader;
  assert.equal(seen, ["before-0", "before-1", ...Array.from({ length: 300 }, (_, i) => `after-${i}`)]);
  await log.close();
});

test("a follower waiting in next() ends cleanly when the log closes (no hang)", async () => {
  const log = await openLog(tempDir(), SMALL);
  await log.append("only");
  const it = log.stream({ follow: true })[Symbol.asyncIterator]();
  assert.is(dec.decode((await it.next()).value!.data), "only");
  const pending = it.next();
  await new Promise((r) => setTimeout(r, 20));
  await log.close();
  assert.equal(await pending, { done: true, value: undefined });
});

test("aborting the signal ends a follower cleanly; break closes its files", async () => {
  const log = await openLog(tempDir(), SMALL);
  await log.append(["x", "y"]);
  const controller = new AbortController();
  const got: string[] = [];
  const done = (async () => {
    for await (const r of log.stream({ follow: true, signal: controller.signal })) got.push(dec.decode(r.data));
  })();
  await new Promise((r) => setTimeout(r, 20));
  controller.abort();
  await done;
  assert.equal(got, ["x", "y"]);

  const fdsBefore = openFds();
  for await (const r of log.stream({ follow: true })) {
    assert.is(dec.decode(r.data), "x");
    break;
  }
  if (fdsBefore >= 0) assert.is(openFds(), fdsBefore, "the stream's file handle is closed after break");
  await log.close();
});

test("trimBefore drops whole segments below the LSN, never the one being written", async () => {
  const log = await openLog(tempDir(), SMALL);
  const lsns = await log.append(Array.from({ length: 400 }, (_, i) => `t${i}-${"q".repeat(30)}`));
  const before = segmentPaths(log.dir).length;
  const { segmentsRemoved, firstLsn } = await log.trimBefore(lsns[250]);
  assert.ok(segmentsRemoved > 0 && segmentsRemoved < before);
  assert.ok(firstLsn <= lsns[250] && firstLsn > 0n);
  const rest = await collect(log);
  assert.is(rest[0].lsn, firstLsn);
  assert.equal(rest[rest.length - 1].text, `t399-${"q".repeat(30)}`);
  await rejects(async () => {
    for await (const _ of log.stream({ from: 0n })) break;
  }, (e) => e instanceof LogTrimmedError && e instanceof RangeError && e.code === "SHARDLINE_LOG_TRIMMED" && e.oldestLsn === Number(firstLsn));
  const segmentsBefore = segmentPaths(log.dir).length;
  const all = await log.trimBefore(log.currentLsn + 1000n);
  assert.is(segmentPaths(log.dir).length, 1, "the current segment stays");
  assert.is(all.segmentsRemoved, segmentsBefore - 1, "every other segment went");
  assert.is(await log.append("after trim"), log.currentLsn - BigInt(recordBytes(10)));
  await log.close();
});

test("after close: append rejects and appendNow, stream and share throw ClosedError; close is idempotent", async () => {
  const log = await openLog(tempDir(), SMALL);
  await log.append("last");
  await log.close();
  await log.close();
  await rejects(() => log.append("late"), (e) => e instanceof ClosedError && (e as ClosedError).code === "SHARDLINE_CLOSED");
  throwsA(() => log.appendNow("late"), ClosedError);
  throwsA(() => log.stream(), ClosedError);
  throwsA(() => log.share(), ClosedError);
  assert.is(log.stats().state, "closed");
  // And the directory is free for the next opener.
  const again = await openLog(log.dir, SMALL);
  assert.equal((await collect(again)).map((r) => r.text), ["last"]);
  await again[Symbol.asyncDispose]();
});

const texts = (n: number, prefix = "rec") => Array.from({ length: n }, (_, i) => `${prefix}-${i}-${"x".repeat(i % 17)}`);

test("stream options whose from getter changes after validation: the stream uses what was validated (it spun without yielding)", async () => {
  // stream() reads options.from three times to check it and streamRecords twice more to use
  // it: a getter answering 0n to the checks and "x" afterwards makes the tail start at NaN,
  // and the loop spins synchronously for ever. (A change feed had the same bug: fixed by
  // reading each option once, tests/engine/feeds.test.ts.) The fake signal below bounds the
  // spin: after 20,000 looks at `aborted` it ends the stream.
  const log = await openLog(tempDir(), SMALL);
  try {
    await log.append(texts(5));
    let reads = 0;
    let looks = 0;
    const signal = {
      get aborted() {
        return ++looks > 20_000;
      },
      addEventListener() {},
      removeEventListener() {},
    };
    const options = {
      get from(): bigint {
        return (++reads <= 3 ? 0n : "x") as bigint;
      },
      signal: signal as unknown as AbortSignal,
    };
    let records: string[] = [];
    try {
      for await (const r of log.stream(options)) records.push(new TextDecoder().decode(r.data));
    } catch (error) {
      assert.ok(error instanceof TypeError, `a typed error, not ${error}`);
      return;
    }
    assert.equal(records, texts(5), `from was read ${reads} times; the stream looked at its signal ${looks} times`);
  } finally {
    await log.close();
  }
});

test("openLog options whose salvage getter says false to the checks: a log corrupt in the middle is refused, not salvaged (acknowledged records cut)", async () => {
  // Log.open reads options.salvage twice to check it and a third time to hand it to
  // recovery: a getter answering false to the checks and "yes" afterwards turns salvage on,
  // and recovery cuts every record after the corruption (R5) where the caller asked for a
  // CorruptionError.
  const dir = tempDir();
  const first = await openLog(dir, SMALL);
  const all = texts(300);
  await first.append(all);
  await first.close();
  const paths = segmentPaths(dir);
  assert.ok(paths.length >= 3, "several segments");
  const bytes = readAll(paths[0]);
  bytes[SEGMENT_HEADER_BYTES + recordBytes(enc.encode(all[0]).length) + 14] ^= 1; // record 2's payload
  writeAll(paths[0], bytes);

  let reads = 0;
  const options = {
    ...SMALL,
    get salvage(): boolean {
      return (++reads <= 2 ? false : "yes") as boolean;
    },
  };
  const error = await openLogRefusal(dir, options, async (log) => `salvage read ${reads} times: the log opened salvaged (${log.recovery?.decisions}), keeping ${(await collect(log)).length} of ${all.length} records`);
  assert.ok(error instanceof CorruptionError || error instanceof TypeError, `refused with ${error}`);
});

test.after(cleanup);
test.run();
