/**
 * Log streams: async iteration over durable records from an LSN onward, optionally
 * following the log as new records become durable.
 *
 * A stream reads the segment files with its own file handles and buffer (a
 * SegmentScanner), never anything the writer holds, so readers never block the writer.
 * It yields only records below the durable LSN it last read, so everything it hands out
 * has been synced. With `follow`, it waits on the ring's durableSeq (Atomics.waitAsync)
 * for more, and ends cleanly when the log closes or its signal aborts; `break` or
 * `return` in a `for await` closes its files (the generator's `finally`).
 *
 * Threads: the thread that iterates it.
 */
import type { Core } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { Ring, RingState } from "./format.ts";
import type { RingView } from "./ring.ts";
import { waitForChange } from "./ring.ts";
import { listSegmentFiles, readSegmentHeader } from "./segment-files.ts";
import { SegmentScanner } from "./segment-scanner.ts";

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
}

function openScanner(source: StreamSource, lsn: number): SegmentScanner {
  const segments = listSegmentFiles(source.platform, source.dir);
  if (segments.length === 0 || lsn < segments[0].firstLsn) {
    throw new RangeError(`LSN ${lsn} is no longer in the log (trimmed); the oldest record kept is at ${segments[0]?.firstLsn ?? "none"}`);
  }
  let segment = segments[0];
  for (const s of segments) if (s.firstLsn <= lsn) segment = s;
  const header = readSegmentHeader(source.core, source.platform, segment.path);
  if ("invalid" in header) throw new CorruptionError(`log segment ${segment.path}: ${header.invalid}`, segment.path, 0);
  return SegmentScanner.open(source.core, source.platform, segment.path, header);
}

/** The oldest LSN still in the log. */
export function firstLsnOf(source: StreamSource): number {
  return listSegmentFiles(source.platform, source.dir)[0]?.firstLsn ?? source.ring.durableLsn;
}

export async function* streamRecords(source: StreamSource, options: StreamOptions = {}): AsyncGenerator<LogRecord, void, undefined> {
  const { follow = false, signal } = options;
  const ring = source.ring;
  const seqIndex = ring.index(Ring.DURABLE_SEQ);
  let next = options.from !== undefined ? Number(options.from) : firstLsnOf(source);
  let scanner: SegmentScanner | undefined;
  let abortWake: (() => void) | undefined;
  const onAbort = () => abortWake?.();
  signal?.addEventListener("abort", onAbort);
  try {
    for (;;) {
      if (signal?.aborted) return;
      const seq = Atomics.load(ring.i32, seqIndex);
      const durable = ring.durableLsn;
      if (next >= durable) {
        const state = ring.state;
        if (state === RingState.FAILED) throw ring.stateError();
        if (!follow || state === RingState.CLOSED || source.closed()) return;
        await new Promise<void>((resolve) => {
          abortWake = resolve;
          waitForChange(ring.i32, seqIndex, seq, 1000).then(resolve);
        });
        abortWake = undefined;
        continue;
      }
      if (!scanner) scanner = openScanner(source, next);
      scanner.refreshSize();
      for (const record of scanner.read(durable, true)) {
        if (record.lsn < next) continue;
        next = record.lsn + record.bytes;
        yield { lsn: BigInt(record.lsn), data: record.payload! };
        if (signal?.aborted) return;
      }
      const stopped = scanner.stopped;
      if (stopped === "limit") continue;
      if (stopped === "zero" || stopped === "end-of-file") {
        // This segment's data ends here; anything durable beyond it is in the next segment,
        // which must start exactly at this LSN.
        const segmentEnd = scanner.lsnAt(scanner.offset);
        if (segmentEnd > next) next = segmentEnd;
        if (next < durable) {
          scanner.close();
          scanner = undefined;
          if (!listSegmentFiles(source.platform, source.dir).some((s) => s.firstLsn === next)) {
            throw new CorruptionError(`log ${source.dir}: records end at LSN ${next} but the log is durable to ${durable}`, source.dir);
          }
        }
        continue;
      }
      throw new CorruptionError(`log segment ${scanner.file.path}: ${stopped} at offset ${scanner.offset}, below the durable LSN`, scanner.file.path, scanner.offset);
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
    scanner?.close();
  }
}
