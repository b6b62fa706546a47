// shardline/wal's contract where an adversarial review (2026-12-05) found it broken, each
// test seen failing before its fix, in Node, Bun and Deno: a stream starting inside the
// last durable record (or from a string) spun for ever; append(array) was neither
// contiguous nor whole (an appendNow after it came between its records; racing close, or
// with one record over the limit, part of it was logged); coordinationTimeoutMs and
// trimBefore's LSN were not checked (NaN waited for ever); stats said "closed" while close()
// drained; a reopened log called a killed writer's unsynced records durable; and a segment
// continued with a larger ring than its header's sync window turned a crash's torn batch
// into "corruption" (R8).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { ClosedError, CorruptionError, FileSystemError } from "../../src/errors.ts";
import { type FileHandle, type Platform, PlatformError } from "../../src/platform.ts";
import { recordBytes, SEGMENT_HEADER_BYTES } from "../../src/wal/format.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import { listSegmentFiles } from "../../src/wal/segment-files.ts";
import { bounded, withPowerLoss } from "../harness/power-loss-platform.ts";
import { rejects, throwsA } from "../harness/assert.ts";
import { cleanup, collect, dec, openLog, platform, readAll, segmentPaths, tempDir } from "./helpers.ts";

const test = suite("wal log contract");

const thrower = (message: string, code: string): never => {
  throw new PlatformError(message, code);
};
const SMALL = { segmentBytesMax: 4096, bufferBytes: 64 * 1024 };

/**
 * A Platform whose segment file handles count `size()` calls and throw once `limit` is passed: a
 * stream re-reads its segment's size on every pass of its loop, so a stream that loops
 * without making progress (and without awaiting) ends with this error instead of hanging
 * the test process.
 */
function spinGuard(base: Platform, limit: number): Platform {
  let sizes = 0;
  const wrap = (file: FileHandle): FileHandle => ({
    path: file.path,
    read: (buf, position) => file.read(buf, position),
    write: (buf, position) => file.write(buf, position),
    writev: (bufs, position) => file.writev(bufs, position),
    datasync: () => file.datasync(),
    sync: () => file.sync(),
    truncate: (length) => file.truncate(length),
    size() {
      if (++sizes > limit) throw new Error(`spin: ${limit} size() calls without the stream ending`);
      return file.size();
    },
    close: () => file.close(),
  });
  return { ...base, open: (path, mode) => (path.endsWith(".wal") ? wrap(base.open(path, mode)) : base.open(path, mode)) };
}

// ---- streams ------------------------------------------------------------------------------

test("a stream from an LSN inside the last durable record ends with no records (it spun for ever)", async () => {
  // LogTail.read skips the record holding `from` without moving `next` past it; the
  // scanner then stops with "limit" at the durable LSN, `next` stays below it, and
  // streamRecords loops (no await) for ever: the process hangs at 100% CPU.
  const { openLog: openGuarded } = bindLogApi(spinGuard(platform, 10_000));
  const log = await openGuarded(tempDir(), { ...SMALL, coordination: "single-process-unsafe" });
  try {
    const first = await log.append("first");
    const last = await log.append("last");
    assert.ok(log.durableLsn === last + BigInt(recordBytes(4)));
    const got: string[] = [];
    for await (const r of log.stream({ from: last + 1n })) got.push(dec.decode(r.data));
    assert.equal(got, [], "no record starts at or after the LSN below the durable end");
    const fromMiddle: string[] = [];
    for await (const r of log.stream({ from: first + 3n })) fromMiddle.push(dec.decode(r.data));
    assert.equal(fromMiddle, ["last"]);
  } finally {
    await log.close();
  }
});

// stream.ts ended a following stream as soon as its handle's close() began, before the
// close made the last records durable: a record appended just before close() was in the
// log but never yielded (found by the liveness review of 2026-12-06; seen failing: the
// stream gave "a" without "c"). The owner's stream now ends once the log is CLOSED, after
// every record the close made durable.
test("a following stream on the opening handle yields every record appended before close(), then ends", async () => {
  const log = await openLog(tempDir(), { durability: "full", faults: { syncDelayMs: 50 } });
  const seen: string[] = [];
  const reading = (async () => {
    for await (const record of log.stream({ follow: true })) seen.push(dec.decode(record.data));
  })();
  await log.append("a");
  log.appendNow("c"); // durable only once close() synced it (50 ms later)
  await log.close();
  await reading;
  assert.equal(seen, ["a", "c"]);
});

test("stream() refuses a `from` that is not a bigint with a TypeError at the call (a string spins for ever)", async () => {
  // stream.ts converts with Number(): "abc" becomes NaN, `tail.next >= durable` and
  // `next < untilLsn` are both false, and the generator loops without awaiting. It is
  // checked at the call here because iterating it before the fix hung the test process.
  const log = await openLog(tempDir(), SMALL);
  try {
    await log.append("x");
    throwsA(() => log.stream({ from: "abc" as unknown as bigint }), TypeError);
  } finally {
    await log.close();
  }
});

// ---- appends ------------------------------------------------------------------------------

test("append(array) puts its records in the log in call order: an appendNow or append made right after it comes after all of them", async () => {
  // #appendMany awaits ring.append() per item, so only the first item is reserved in the
  // call; a later synchronous append or appendNow takes the next LSN, ahead of the rest.
  const log = await openLog(tempDir(), SMALL);
  try {
    const many = log.append(["a1", "a2", "a3"]);
    const now = log.appendNow("after-now");
    const single = log.append("after-append");
    const lsns = await many;
    await single;
    await log.flushUntil();
    assert.ok(lsns[2] < now, `array LSNs ${lsns.join(",")} must all precede the later appendNow at ${now}`);
    assert.equal((await collect(log)).map((r) => r.text), ["a1", "a2", "a3", "after-now", "after-append"]);
  } finally {
    await log.close();
  }
});

test("append(array) racing close is all or nothing: it may not reject with ClosedError after part of it was logged", async () => {
  // Same cause: the first item is reserved (and later made durable by close's drain),
  // the next ones meet the CLOSING ring, and the whole call rejects with ClosedError.
  const dir = tempDir();
  const log = await openLog(dir, SMALL);
  const many = log.append(["p1", "p2", "p3"]);
  const closing = log.close();
  const outcome = await many.then((lsns) => ({ lsns }), (error: Error) => ({ error }));
  await closing;
  const again = await openLog(dir, SMALL);
  try {
    const texts = (await collect(again)).map((r) => r.text);
    if ("error" in outcome) {
      assert.ok(outcome.error instanceof ClosedError, String(outcome.error));
      assert.equal(texts, [], `the append rejected with ClosedError, yet the log holds ${JSON.stringify(texts)}`);
    } else {
      assert.equal(texts, ["p1", "p2", "p3"]);
    }
  } finally {
    await again.close();
  }
});

test("an array with a record over recordBytesMax is refused whole: append and appendNow log none of it", async () => {
  // #appendMany and appendNow(array) check sizes record by record while appending, so the
  // records before the oversized one are logged although the call failed with RangeError.
  const log = await openLog(tempDir(), SMALL);
  try {
    const tooLarge = new Uint8Array(log.limits.recordBytesMax + 1);
    await rejects(() => log.append(["logged-by-append", tooLarge]), RangeError);
    throwsA(() => log.appendNow(["logged-by-appendNow", tooLarge]), RangeError);
    await log.flushUntil();
    assert.equal((await collect(log)).map((r) => r.text), [], "a refused call leaves nothing in the log");
    assert.is(log.currentLsn, 0n);
  } finally {
    await log.close();
  }
});

// ---- options and arguments --------------------------------------------------------------

test("coordinationTimeoutMs is validated: NaN, negative and non-numbers are refused before anything is opened", async () => {
  // log.ts never checks it; acquireDirLock computes `left = timeout - elapsed`: NaN makes
  // `left <= 0` false for ever, so with another holder openLog retries without end.
  for (const bad of [Number.NaN, -1]) {
    await rejects(() => openLog(tempDir(), { ...SMALL, coordinationTimeoutMs: bad }).then((log) => log.close()), (e) => e instanceof RangeError && /coordinationTimeoutMs/.test(e.message), `coordinationTimeoutMs ${bad}`);
  }
  await rejects(() => openLog(tempDir(), { ...SMALL, coordinationTimeoutMs: "100" as unknown as number }).then((log) => log.close()), (e) => (e instanceof TypeError || e instanceof RangeError) && /coordinationTimeoutMs/.test(e.message), "a string");
});

test("trimBefore takes only a bigint LSN: a numeric string is a TypeError, not a trim", async () => {
  // trimBefore passes Number(lsn) on unchecked (flushUntil checks for a bigint): a string
  // deletes segments (and undefined silently trims nothing).
  const log = await openLog(tempDir(), SMALL);
  try {
    await log.append(Array.from({ length: 200 }, (_, i) => `t${i}-${"q".repeat(40)}`));
    const before = segmentPaths(log.dir).length;
    assert.ok(before >= 3);
    await rejects(() => log.trimBefore(String(log.currentLsn) as unknown as bigint), TypeError);
    assert.is(segmentPaths(log.dir).length, before, "nothing was trimmed");
  } finally {
    await log.close();
  }
});

// ---- stats --------------------------------------------------------------------------------

test("stats().state is \"closing\" while close() drains, not \"closed\" before the log has closed", async () => {
  // log.ts stats(): `this.#closed || state === CLOSED ? "closed"`, and #close sets #closed
  // first thing, so the opener never reports "closing".
  const log = await openLog(tempDir(), SMALL);
  await log.append("x");
  const closing = log.close();
  const during = log.stats().state;
  await closing;
  assert.is(during, "closing");
  assert.is(log.stats().state, "closed");
});

// ---- recovery and power loss --------------------------------------------------------------

test("after a kill -9, a reopened log reports as durable only what is synced: records recovery kept (R6) survive a power loss before any append", async () => {
  // Recovery's R6 keeps the valid prefix it reads, which may be a killed writer's writes
  // still in the page cache, and the ring starts with durableLsn at its end. Nothing syncs
  // them (the durable mark path does, log.ts without one does not), so durableLsn and
  // stream() hand out records a power loss then takes back, and the next append reuses
  // their LSNs.
  const root = tempDir();
  const dir = `${root}/wal`;
  const options = { ...SMALL, coordination: "single-process-unsafe" } as const;
  const first = await openLog(dir, options);
  await first.append(["synced", "unsynced"]);
  await first.close();
  // The disk before the kill: only "synced"; "unsynced" reached the page cache only.
  const [segment] = segmentPaths(dir);
  const at = SEGMENT_HEADER_BYTES + recordBytes(6);
  const record = readAll(segment).slice(at, at + recordBytes(8));
  const direct = platform.open(segment, "readwrite");
  direct.write(new Uint8Array(record.length), at);
  direct.datasync();
  direct.close();
  const p = withPowerLoss(platform, root);
  const killed = p.open(segment, "readwrite"); // the killed writer's write, never synced
  killed.write(record, at);
  killed.close();

  const reopened = await bindLogApi(p).openLog(dir, options);
  const seen = await collect(reopened);
  const durable = reopened.durableLsn;
  assert.equal(seen.map((r) => r.text), ["synced", "unsynced"], "the stream hands out both as durable");
  p.crash();
  await bounded(reopened.close());

  const after = await openLog(dir, options);
  try {
    const kept = await collect(after);
    assert.equal(kept.map((r) => r.text), seen.map((r) => r.text), `the log said it was durable to ${durable}; after a power loss it holds ${JSON.stringify(kept.map((r) => r.text))}`);
  } finally {
    await after.close();
  }
});

test("a log reopened with a larger bufferBytes: a power loss tearing its first batch is a torn tail (R7), not corruption (R8)", async () => {
  // The segment header's syncBytesMax is the ring capacity of the writer that created it
  // (64 KiB here); a writer reopened with a 256 KiB ring continues that segment and writes
  // batches of up to 256 KiB between syncs. When a page early in such a batch is lost and a
  // later one reaches the disk, recovery finds a valid record beyond X + syncBytesMax and
  // refuses to open (R8) what one crash explains.
  const dir = tempDir();
  const base = { segmentBytesMax: 1024 * 1024, coordination: "single-process-unsafe" } as const;
  const small = await openLog(dir, { ...base, bufferBytes: 64 * 1024 });
  await small.append("before");
  await small.close();

  // One batch of two records, the first 100,000 bytes: under "async" the worker gathers
  // for batchIntervalUs after the first record, and close() cuts that short only after
  // both were published.
  const big = await openLog(dir, { ...base, bufferBytes: 256 * 1024, durability: "async", batchIntervalUs: 1_000_000 });
  const syncsBefore = big.stats().syncs;
  const r = big.appendNow(new Uint8Array(100_000).fill(0x5a));
  const s = big.appendNow("after the big one");
  await big.close();
  assert.is(big.stats().syncs - syncsBefore, 1, "both records were written in one batch, then synced once");
  assert.ok(s - r > 64n * 1024n);

  // What a power loss in that batch's fdatasync can leave: the page holding R's header
  // never reached the disk (it keeps its synced content: zeros after "before"), later
  // pages, S's among them, did.
  const holding = listSegmentFiles(platform, dir).filter((x) => x.firstLsn <= Number(r)).pop()!;
  const segment = holding.path;
  const bytes = readAll(segment);
  const rAt = SEGMENT_HEADER_BYTES + Number(r) - holding.firstLsn;
  const pageEnd = (Math.floor(rAt / 4096) + 1) * 4096;
  bytes.fill(0, rAt, pageEnd);
  const f = platform.open(segment, "readwrite");
  f.write(bytes, 0);
  f.datasync();
  f.close();

  let reopened;
  try {
    reopened = await openLog(dir, { ...base, bufferBytes: 256 * 1024 });
  } catch (error) {
    assert.ok(!(error instanceof CorruptionError), `a crash-torn last batch refused as corruption: ${(error as Error).message}`);
    throw error;
  }
  try {
    assert.ok(reopened.recovery!.decisions.includes("R7"), JSON.stringify(reopened.recovery));
    assert.equal((await collect(reopened)).map((x) => x.text), ["before"]);
  } finally {
    await reopened.close();
  }
});

test("file-system failures after open (stats, stream reads, trimBefore) are FileSystemError, as openLog's; stream options of the wrong type are a TypeError at once", async () => {
  // Only openLog translated the platform's errors (review, 2026-12-06): a failed readdir in
  // stats(), a segment that could not be opened by a stream, an unlink refused by trimBefore
  // reached the caller as the internal PlatformError.
  let failing = false;
  const failsLater: Platform = {
    ...platform,
    readdir: (path) => (failing ? thrower(`readdir ${path}`, "EIO") : platform.readdir(path)),
    open: (path, mode) => (failing && mode === "read" ? thrower(`open ${path}`, "EIO") : platform.open(path, mode)),
    unlink: (path) => (failing ? thrower(`unlink ${path}`, "EACCES") : platform.unlink(path)),
  };
  const log = await bindLogApi(failsLater).openLog(tempDir(), { ...SMALL, coordination: "single-process-unsafe" });
  try {
    for (let i = 0; i < 40; i++) await log.append(`record ${i} ${"x".repeat(200)}`);
    assert.throws(() => log.stream({ signal: {} as AbortSignal }), (e: unknown) => e instanceof TypeError, "a signal that is no AbortSignal");
    assert.throws(() => log.stream({ follow: "yes" as unknown as boolean }), (e: unknown) => e instanceof TypeError, "follow of the wrong type");
    failing = true;
    throwsA(() => log.stats(), FileSystemError);
    await rejects(() => collect(log), FileSystemError, "a stream's read");
    await rejects(() => log.trimBefore(log.durableLsn), FileSystemError, "trimBefore");
  } finally {
    failing = false;
    await log.close();
  }
});

test.after.each(cleanup);
// First-contact review (2026-12-06), seen failing before: openLog took { segmentByteMax: 1 }
// silently (the default in its place), where open() refuses an unknown option.
test("openLog refuses an unknown option with a TypeError naming the nearest one, and creates nothing", async () => {
  const dir = `${tempDir()}/log`;
  const { openLog: open } = bindLogApi(platform);
  await rejects(() => open(dir, { segmentByteMax: 1 } as never), (e) => e instanceof TypeError && /unknown option segmentByteMax; did you mean segmentBytesMax\?/.test(e.message));
  await rejects(() => open(dir, null as never), (e) => e instanceof TypeError);
  assert.is(platform.stat(dir), undefined, "nothing made on disk");
});

test("flushUntil(-1n) is refused with a TypeError, as trimBefore and stream refuse a negative LSN", async () => {
  const log = await openLog(tempDir(), SMALL);
  try {
    await log.append("x");
    await rejects(() => log.trimBefore(-1n), TypeError, "trimBefore(-1n)");
    assert.throws(() => log.stream({ from: -1n }), (e: unknown) => e instanceof TypeError, "stream({ from: -1n })");
    await rejects(() => log.flushUntil(-1n), (e) => e instanceof TypeError || e instanceof RangeError, "flushUntil(-1n) resolved");
  } finally {
    await log.close();
  }
});

test.run();
