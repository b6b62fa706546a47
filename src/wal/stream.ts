/**
 * Log streams: async iteration over durable records from an LSN onward, optionally
 * following the log as new records become durable.
 *
 * A stream reads the segment files with its own file handles and buffer (a LogTail),
 * never anything the writer holds, so readers never block the writer.
 * It yields only records below the durable LSN it last read, so everything it hands out
 * has been synced; without `follow`, only those below the durable LSN when it began. With `follow`, it waits on the ring's durableSeq (Atomics.waitAsync)
 * for more, and ends cleanly when the log closes (on the opening handle: once the ring is
 * CLOSED, after every record the close made durable; on an attached handle: at its own
 * close, which detaches the core its reads use, so it stops reading there, following or
 * not) or its signal aborts; `break` or `return` in a `for await` closes its files (the
 * generator's `finally`).
 *
 * Threads: the thread that iterates it.
 */
import type { Core } from "../core/core.ts";
import type { Platform } from "../platform.ts";
import { Ring, RingState } from "./format.ts";
import type { RingView } from "./ring.ts";
import { waitForChange } from "./ring.ts";
import { LogTail } from "./log-tail.ts";
import { listSegmentFiles } from "./segment-files.ts";

export interface LogRecord {
  /** The record's LSN: its byte position in the log. */
  lsn: bigint;
  /** A copy of the payload. */
  data: Uint8Array;
}

export interface StreamOptions {
  /** First LSN to yield (records starting at or after it); default: the oldest record kept. */
  from?: bigint;
  /** Keep waiting for new durable records instead of ending at the durable end. */
  follow?: boolean;
  /** Ends the stream (cleanly, without an error) when aborted. */
  signal?: AbortSignal;
}

export interface StreamSource {
  core: Core;
  platform: Platform;
  dir: string;
  ring: RingView;
  /** True once the log handle this stream came from is closed. */
  closed(): boolean;
  /**
   * The handle opened the log (its close closes the log): a following stream then ends
   * once the ring is CLOSED, after every record the close made durable. A stream of an
   * attached handle ends at its handle's close (the log goes on).
   */
  owner: boolean;
}

/** The oldest LSN still in the log. */
export function firstLsnOf(source: StreamSource): number {
  return listSegmentFiles(source.platform, source.dir)[0]?.firstLsn ?? source.ring.durableLsn;
}

export async function* streamRecords(source: StreamSource, options: StreamOptions = {}): AsyncGenerator<LogRecord, void, undefined> {
  const { follow = false, signal } = options;
  const ring = source.ring;
  const seqIndex = ring.index(Ring.DURABLE_SEQ);
  const tail = new LogTail(source.core, source.platform, source.dir, options.from !== undefined ? Number(options.from) : firstLsnOf(source));
  // A stream that does not follow ends at the durable end it found when it began, not at
  // one that records appended meanwhile (by its own loop, say) keep moving.
  const endLsn = follow ? Infinity : ring.durableLsn;
  // An attached handle's close detaches its core, which the reads use: its streams end there.
  const detached = () => source.closed() && !source.owner;
  let abortWake: (() => void) | undefined;
  const onAbort = () => abortWake?.();
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      if (signal?.aborted || detached()) return;
      const seq = Atomics.load(ring.i32, seqIndex);
      const durable = Math.min(ring.durableLsn, endLsn);
      if (tail.next >= durable) {
        const state = ring.state;
        if (state === RingState.FAILED) throw ring.stateError();
        if (!follow || state === RingState.CLOSED) return;
        await new Promise<void>((resolve) => {
          abortWake = resolve;
          waitForChange(ring.i32, seqIndex, seq, 1000).then(resolve);
        });
        abortWake = undefined;
        continue;
      }
      for (const record of tail.read(durable)) {
        yield { lsn: BigInt(record.lsn), data: record.payload! };
        if (signal?.aborted || detached()) return;
      }
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    tail.close();
  }
}
