// Streams of shardline/wal and how long they live (src/wal/stream.ts). From a review
// (2026-12-06), each seen failing before its fix:
// - a stream of an attached handle, read on after that handle's close, read through the
//   core the close had detached (its thread block given to the next attach) and spun for
//   ever at a segment's zero tail: it now ends at its handle's close;
// - a stream without follow never ended while its own loop appended (it re-read the
//   durable end at every step): it ends at the durable end it found when it began;
// - past ~180 open streams a log ran out of read buffers with a RangeError nobody
//   documented: the limit is in the README, and the error says what holds the buffers.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { readlinkSync } from "node:fs";
import type { Platform } from "../../src/platform.ts";
import { observedReads } from "../harness/observed-reads.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import { attachLog, cleanup, dec, openLog, platform, tempDir } from "./helpers.ts";

const test = suite("wal stream lifetime");
const SMALL = { segmentBytesMax: 4096, bufferBytes: 64 * 1024 };

/**
 * A Platform whose segment file reads throw once `limit` were made (observedReads): a
 * scanner that re-reads the same bytes without end (synchronously, never awaiting) then
 * fails the test instead of hanging the test process at 100% CPU.
 */
function readGuard(base: Platform, limit: number): Platform {
  let reads = 0;
  return observedReads(base, () => {}, () => {
    if (++reads > limit) throw new Error(`spin: ${limit} reads of segment files without the stream moving on`);
  });
}

test("a stream of an attached handle, read on after that handle's close, ends there (it spun for ever on a detached core)", async () => {
  const log = await openLog(tempDir(), SMALL);
  const guarded = bindLogApi(readGuard(platform, 20_000));
  try {
    const texts = Array.from({ length: 1000 }, (_, i) => `r${i}-${"p".repeat(i % 37)}`);
    await log.append(texts);
    const a = await guarded.attachLog(log.share());
    const it = a.stream({ follow: true })[Symbol.asyncIterator]();
    const got = [dec.decode((await it.next()).value!.data)];
    await a.close();
    const b = await attachLog(log.share()); // takes the thread block a's close gave back
    try {
      for (let i = 0; i < texts.length; i++) {
        const r = await it.next();
        if (r.done) break;
        got.push(dec.decode(r.value.data));
      }
    } finally {
      await it.return?.();
      await b.close();
    }
    assert.equal(got, texts.slice(0, got.length), "whatever it yields after the close is the log's records, in order");
  } finally {
    await log.close();
  }
});

test("a stream without follow whose loop appends ends at the durable end it found when it began", async () => {
  const log = await openLog(tempDir(), SMALL);
  try {
    await log.append(["a", "b", "c"]);
    const seen: string[] = [];
    for await (const { data } of log.stream()) {
      seen.push(dec.decode(data));
      if (seen.length > 50) break;
      await log.append(`after-${seen.length}`); // durable before the next step
    }
    assert.equal(seen, ["a", "b", "c"]);
  } finally {
    await log.close();
  }
});

test("open streams past the log's read buffers: a RangeError that says what holds them; ending streams frees them", async () => {
  const log = await openLog(tempDir(), SMALL);
  const its: AsyncIterator<unknown>[] = [];
  try {
    await log.append(["a", "b", "c"]);
    let error: Error | undefined;
    for (let i = 0; i < 400 && !error; i++) {
      const it = log.stream({ follow: true })[Symbol.asyncIterator]();
      its.push(it);
      await it.next().catch((e: Error) => void (error = e));
    }
    assert.ok(error instanceof RangeError, `400 streams, no RangeError (${error})`);
    assert.ok(its.length > 150, `only ${its.length} streams`);
    assert.match(error!.message, /every open stream, change feed or follower of this log holds one/);
    for (const it of its.splice(0)) await it.return?.();
    const again = log.stream()[Symbol.asyncIterator]();
    assert.is(dec.decode(((await again.next()).value as { data: Uint8Array }).data), "a");
    await again.return?.();
  } finally {
    for (const it of its) await it.return?.();
    await log.close();
  }
});

test.after.each(cleanup);
/** Open descriptors of this process on files in `dir` (-1 where /proc is not there). */
function fdsInto(dir: string): number {
  let names: string[];
  try {
    names = platform.readdir("/proc/self/fd");
  } catch {
    return -1;
  }
  let n = 0;
  for (const name of names) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith(`${dir}/`)) n++;
    } catch {
      // closed since the listing
    }
  }
  return n;
}

test("a stream refused a read buffer (RangeError) leaves no segment file open", async () => {
  const log = await openLog(tempDir(), SMALL);
  const its: AsyncIterator<unknown>[] = [];
  try {
    await log.append(["a", "b", "c"]);
    const before = fdsInto(log.dir);
    if (before < 0) return; // no /proc: nothing to count
    let error: Error | undefined;
    for (let i = 0; i < 400 && !error; i++) {
      const it = log.stream({ follow: true })[Symbol.asyncIterator]();
      its.push(it);
      await it.next().catch((e: Error) => void (error = e));
    }
    assert.ok(error instanceof RangeError, `no RangeError (${error})`);
    for (const it of its.splice(0)) await it.return?.();
    assert.is(fdsInto(log.dir), before, "descriptors on the log's files after every stream ended (the refused stream's segment file stays open)");
  } finally {
    for (const it of its) await it.return?.();
    await log.close();
  }
});

test.run();
