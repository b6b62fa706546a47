/**
 * The durability worker: the one thread that writes a WalRing's records to the log's
 * segment files (worker role "durability").
 *
 * Loop: take every contiguous published record (walScan), write them with one
 * write/writev per segment piece, free the ring space, fdatasync once, publish the new
 * durable LSN (to the durable mark file for other processes when the owner asked for one,
 * then an atomic store and a notify that wakes every waiting writer), repeat.
 * - full durability: when records arrive while the worker is idle it syncs at once (a
 *   lone writer never waits out an interval); records that arrive during a sync form the
 *   next group.
 * - async durability: after the first record of a batch arrives, the worker waits up to
 *   batchIntervalUs to gather more, so a record is durable within one batch interval
 *   plus one sync; unless a flush asked for a sync (RingView.requestSync: the ring's
 *   flushRequests moved), which it then makes at once, and again without gathering until
 *   a sync reaches the reserveHead seen after the request.
 * - a failed write, sync or rotation is final: the ring goes FAILED (every pending and
 *   later append rejects), the error is posted to the opener, the loop ends. It never
 *   retries a sync (fsyncgate).
 * - closing: the ring's CLOSING state makes it drain everything reserved, sync, store
 *   CLOSED and exit; a reservation still unpublished after ABANDONED_RESERVATION_MS (its
 *   writer's thread was terminated) fails the ring instead of waiting for ever.
 *
 * Invariants: bytes are written in LSN order without gaps; durableLsn is published only
 * after the fdatasync that covers it returned; at most `capacity` bytes (syncBytesMax) are
 * written between two syncs. Threads: this worker only; it waits for records through
 * jobIdle (src/worker-pool.ts: Atomics.wait alone on its thread, Atomics.waitAsync when the
 * thread runs other databases' durability workers too) and hands the thread over between
 * syncs through jobTurn; nothing it keeps is seen by another job of its thread.
 */
import { Core } from "../core/core.ts";
import type { FaultPlan } from "../platform-faults.ts";
import { withFaults } from "../platform-faults.ts";
import type { ParentPort, Platform, WorkerInit } from "../platform.ts";
import { registerWorkerRole } from "../worker-main.ts";
import { jobIdle, jobTurn } from "../worker-pool.ts";
import { DurableMarkWriter } from "./durable-mark.ts";
import { FailCode, Ring, RingState, WalStatus } from "./format.ts";
import { RingView } from "./ring.ts";
import { SegmentWriter, type WriterSegment } from "./segment-writer.ts";

export interface DurabilityArgs {
  ring: number;
  dir: string;
  salt: number;
  segmentBytesMax: number;
  durability: "full" | "async";
  batchIntervalUs: number;
  /** The recovered last segment to continue, or undefined to create `fresh`. */
  last: WriterSegment | undefined;
  fresh: { number: number; firstLsn: number };
  faults?: FaultPlan;
  /**
   * Where to publish the durable LSN for other processes (src/wal/durable-mark.ts), or
   * undefined for none. With it, the recovered last segment is synced before the first
   * mark: what a killed writer left in the page cache is durable before a reader may read it.
   */
  durableMarkPath?: string;
  /** The mark that file held when the log opened (Log.open read it for recovery), if any. */
  durableMarkFound?: number;
}

export type DurabilityMessage =
  | { type: "started" }
  | { type: "rotated"; number: number; firstLsn: number }
  | { type: "failed"; message: string; code: string }
  | { type: "closed" };

/** How long an idle worker sleeps before re-checking the ring state anyway (ms). */
const IDLE_CHECK_MS = 1000;
/**
 * How long a closing log waits for a record that was reserved and is still not published
 * before it fails, ms. A writer publishes within microseconds of its reservation (a 4 MiB
 * record: a copy and a checksum); one that does not was stopped in between (its worker
 * terminated), nobody will publish the record, and nothing after it can be written: close()
 * would never settle. The log fails instead (WalFailedError, code EABANDONED).
 */
const ABANDONED_RESERVATION_MS = 5_000;

async function runDurability(platform: Platform, core: Core, args: DurabilityArgs, port: ParentPort): Promise<void> {
  const ring = new RingView(core, args.ring);
  const exports = core.exports;
  let writer: SegmentWriter;
  let mark: DurableMarkWriter | undefined;
  try {
    const files = args.faults ? withFaults(platform, args.faults) : platform;
    if (args.durableMarkPath !== undefined) {
      const found = args.durableMarkFound;
      mark = new DurableMarkWriter(files, args.durableMarkPath);
      if (found !== undefined && found > ring.durableLsn) {
        // Lowered (a salvage cut or set the log aside): durably, and before a segment is
        // created or continued, so that no crash leaves the higher mark over a log that no
        // longer reaches it (durable-mark.ts). Records of the last segment may still be
        // only in the page cache (a killed writer's): below its start, all were synced.
        mark.publish(args.last ? Math.min(ring.durableLsn, args.last.firstLsn) : ring.durableLsn);
        mark.sync();
      }
    }
    writer = SegmentWriter.open(files, core, { dir: args.dir, salt: args.salt, segmentBytesMax: args.segmentBytesMax, syncBytesMax: ring.capacity }, args.last, args.fresh, args.durableMarkFound);
    try {
      mark?.publish(ring.durableLsn);
    } catch (error) {
      writer.close();
      throw error;
    }
  } catch (error) {
    fail(ring, port, FailCode.ROTATE, error);
    // The files this start opened: a pooled thread outlives this job (review, 2026-12-06:
    // the mark and the last segment stayed open for the life of the process).
    try {
      mark?.close();
    } catch {
      // already failing: the first error is the one reported
    }
    return;
  }
  port.postMessage({ type: "started" } satisfies DurabilityMessage);

  const i32 = ring.i32;
  const wakeIndex = ring.index(Ring.WAKE_SEQ);
  const sleepingIndex = ring.index(Ring.WORKER_SLEEPING);
  const flushIndex = ring.index(Ring.FLUSH_REQUESTS);
  /**
   * flushRequests up to which every flush is answered: a change is a flush waiting for a
   * sync. 0, as walRingFormat left the word, not what it holds now: "started" is posted
   * before this runs, and a flush made in between (seen: a flush right after open) would
   * otherwise count as answered and wait out a whole interval.
   */
  let flushesSeen = 0;
  /** flushRequests when last read, and reserveHead read after it: a sync reaching it answers them all. */
  let flushesAsked = flushesSeen;
  let flushTarget = 0;
  const intervalMs = args.batchIntervalUs / 1000;
  const mask = ring.capacity - 1;
  const u8 = core.u8;
  let from = ring.drainTail;
  /** While closing: the unpublished reservation the drain waits at, and since when. */
  let stuck: { from: number; sinceMs: number } | undefined;

  for (;;) {
    const turn = jobTurn();
    if (turn) await turn;
    let to = Number(exports.walScan(args.ring, BigInt(from), BigInt(from + ring.capacity)));
    if (to === from) {
      const state = ring.state;
      if (state === RingState.FAILED) break;
      // Closed only if no writer reserved past `from` meanwhile (walCloseDrained: its
      // compare-exchange refuses every later reservation).
      if (state !== RingState.OPEN && ring.reserveHead === from && exports.walCloseDrained(args.ring, BigInt(from)) === 1) {
        writer.close();
        mark?.close();
        ring.setState(RingState.CLOSED);
        port.postMessage({ type: "closed" } satisfies DurabilityMessage);
        return;
      }
      if (state !== RingState.OPEN) {
        if (stuck?.from !== from) stuck = { from, sinceMs: performance.now() };
        else if (performance.now() - stuck.sinceMs > (args.faults?.abandonedReservationMs ?? ABANDONED_RESERVATION_MS)) {
          const error = Object.assign(new Error(`the record reserved at LSN ${from} was never published (the thread writing it stopped or was terminated in between): nothing from there on can be written`), { code: "EABANDONED" });
          fail(ring, port, FailCode.OTHER, error);
          writer.close();
          mark?.close();
          return;
        }
      }
      // Sleep until a writer publishes (Dekker handshake with wakeWorker in the core).
      const seq = Atomics.load(i32, wakeIndex);
      Atomics.store(i32, sleepingIndex, 1);
      if (Number(exports.walScan(args.ring, BigInt(from), BigInt(from + ring.capacity))) === from) {
        const wait = jobIdle(i32, wakeIndex, seq, IDLE_CHECK_MS);
        if (wait) await wait;
      }
      Atomics.store(i32, sleepingIndex, 0);
      continue;
    }
    if (args.durability === "async" && ring.state === RingState.OPEN && intervalMs > 0) {
      // Gather: let more records join this batch for up to one interval. Writers do not
      // notify a worker that is not marked sleeping, so only a state change (close, fail)
      // or a flush's requestSync cuts this short. wakeSeq is read before flushRequests and
      // a flush adds to flushRequests before wakeSeq: a flush this read misses changes
      // wakeSeq after it, and the wait returns at once. The scan after reading
      // flushRequests takes every record published before the flush asked.
      // A flush is answered only by a sync that reaches its target, not by the first sync
      // after it: a record reserved before the flush may be published after this scan (a
      // large batch's commit record, held by the actor while it inserts). Every flush
      // counted so far asked for at most reserveHead as read after the count (flushTarget);
      // until a sync reaches it, no gather waits.
      const seq = Atomics.load(i32, wakeIndex);
      if (Atomics.load(i32, flushIndex) === flushesSeen) {
        const wait = jobIdle(i32, wakeIndex, seq, intervalMs);
        if (wait) await wait;
      }
      const asked = Atomics.load(i32, flushIndex);
      if (asked !== flushesAsked) {
        flushesAsked = asked;
        flushTarget = ring.reserveHead;
      }
      to = Number(exports.walScan(args.ring, BigInt(from), BigInt(from + ring.capacity)));
    }

    let records = 0;
    let step = "write";
    try {
      let at = from;
      while (at < to) {
        let end = Number(exports.walScan(args.ring, BigInt(at), BigInt(Math.min(to, at + writer.roomBytes))));
        records += Number(core.u64[(core.result + 16) >>> 3]);
        if (end === at) {
          step = "rotate";
          writer.rotate();
          port.postMessage({ type: "rotated", number: writer.segment.number, firstLsn: writer.segment.firstLsn } satisfies DurabilityMessage);
          step = "write";
          continue;
        }
        const a = at & mask;
        const b = ((end - 1) & mask) + 1;
        const bytes = end - at;
        if (a < b) writer.write([u8.subarray(ring.data + a, ring.data + b)], bytes);
        else writer.write([u8.subarray(ring.data + a, ring.data + ring.capacity), u8.subarray(ring.data, ring.data + b)], bytes);
        at = end;
      }
      step = "release";
      if (exports.walRelease(args.ring, BigInt(to)) !== WalStatus.OK) throw new Error(`releasing the ring up to ${to} refused (drain tail ${ring.drainTail}, reserve head ${ring.reserveHead})`);
      step = "sync";
      writer.sync();
      step = "mark";
      mark?.publish(to);
    } catch (error) {
      fail(ring, port, step === "sync" ? FailCode.SYNC : step === "rotate" ? FailCode.ROTATE : FailCode.WRITE, error);
      try {
        writer.close();
        mark?.close();
      } catch {
        // already failing; the first error is the one reported
      }
      return;
    }
    exports.walPublishDurable(args.ring, BigInt(to), BigInt(records));
    if (to >= flushTarget) flushesSeen = flushesAsked;
    from = to;
  }
  // The ring was failed by another thread (the engine's actor): nothing more will be
  // written; close the segment and tell the owner this worker is done.
  writer.close();
  mark?.close();
  port.postMessage({ type: "closed" } satisfies DurabilityMessage);
}

function fail(ring: RingView, port: ParentPort, failCode: number, error: unknown): void {
  const code = (error as { code?: unknown })?.code;
  const osCode = typeof code === "string" ? code : "EUNKNOWN";
  ring.setState(RingState.FAILED, failCode, osCode);
  port.postMessage({ type: "failed", message: (error as Error)?.message ?? String(error), code: osCode } satisfies DurabilityMessage);
}

registerWorkerRole("durability", async (platform: Platform, init: WorkerInit, port: ParentPort) => {
  const core = await Core.attach(init.module, init.memory);
  await runDurability(platform, core, init.args as DurabilityArgs, port);
  core.detach();
});
