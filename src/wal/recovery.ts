/**
 * Log recovery: reads every segment in order, checks every record, and applies the
 * decision table of docs/wal-format.md (rows R1-R8) before anything is appended. A caller
 * that reads and checks every record from some LSN on right afterwards (the engine's
 * replay: `readerChecksFromLsn`) gets those segments, but the last, left to its reader,
 * which applies R5 itself: the log is then read once, not twice.
 *
 * Invariants: when this returns, the last segment's valid prefix ends at `last.dataEnd`,
 * everything after it on disk is zero or has been truncated away (and fsynced), so the
 * writer may append at `last.dataEnd`; nothing is ever cut from a segment that is not
 * the last unless `salvage` is set, and then what was cut is reported and kept aside.
 * Threads: the opening thread, before the durability worker starts.
 */
import type { Core } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { newSalt, SEGMENT_HEADER_BYTES, type SegmentHeader } from "./format.ts";
import { countSegmentRecords } from "./record-runs.ts";
import { creatingSegmentNames, listSegmentFiles, onlyZerosAfterHeader, readSegmentHeader, type SegmentFile } from "./segment-files.ts";
import { SegmentScanner } from "./segment-scanner.ts";
import { makeDirDurable } from "../durable-dirs.ts";

export interface SegmentInfo {
  number: number;
  firstLsn: number;
  path: string;
}

export interface LastSegment extends SegmentInfo {
  /** File offset where the next record goes (end of the valid prefix). */
  dataEnd: number;
  /** Bytes from dataEnd up to this file offset are known to be zero (preallocated). */
  zeroedEnd: number;
  /** Its header's sync window (SegmentHeader.syncBytesMax). */
  syncBytesMax: number;
}

export type RecoveryRow = "R0" | "R1" | "R2" | "R3" | "R4" | "R5" | "R6" | "R7" | "R8" | "R9" | "R10";

export interface RecoveryReport {
  /** Segment files read. */
  segmentsRead: number;
  /** Valid records found in the segments read. */
  records: number;
  /** Segments whose records were left to the caller's reader (RecoveryOptions.readerChecksFromLsn): not read here. */
  segmentsLeftToReader: number;
  /** Bytes removed from the end of the log (torn tail, or salvage). */
  bytesCut: number;
  /** Rows of the decision table that applied, in order. */
  decisions: RecoveryRow[];
  /** Files set aside in `corrupt/` (salvage only): segments moved there, and `<segment>.cut-<offset>.<ms>`, the bytes a cut gave up. */
  corruptSegments: string[];
}

export interface RecoveredLog {
  isNew: boolean;
  salt: number;
  /** Segments that are part of the log, oldest first (the last one included). */
  segments: SegmentInfo[];
  last: LastSegment | undefined;
  /** LSN the next record will get. */
  nextLsn: number;
  report: RecoveryReport;
}

export interface RecoveryOptions {
  /** Open a log with corruption in the middle by cutting it at the first invalid record. */
  salvage?: boolean;
  /**
   * The caller reads every record from the segment holding this LSN to the log's end next
   * (the engine's replay, src/wal/record-runs.ts through walkSegments), checking each and
   * throwing CorruptionError where a segment followed by another does not end cleanly
   * exactly where the next begins: the R5 check. Those segments, except the last, are
   * then not scanned here (their headers and the chain of numbers still are), so that a
   * long log is read and checksummed once, not twice. Ignored with `salvage`, which must
   * find an R5 cut before anything is read.
   */
  readerChecksFromLsn?: number;
  /**
   * A reader's recovery (a read-only handle): it leaves `<segment>.creating` files alone
   * (R0), since a live writer may be making one, and a file not yet renamed is not part of
   * the log either way.
   */
  readOnly?: boolean;
  /**
   * An LSN below which every record was durable (fdatasynced): the engine's durable mark
   * (src/wal/durable-mark.ts). No crash tears a synced record, so a log whose valid records
   * end below it is corrupt (R8), not torn (R7) and not cleanly ended (R6).
   */
  durableAtLeast?: number;
  /**
   * Salvage only: called once, before the first change that gives up records (R4, R5, R8),
   * so that the caller can first make durable what must hold before the log's history
   * changes (the engine gives the database a new id: docs/RECOVERY.md, "Salvage forks the
   * history"). What it throws ends the recovery with nothing given up.
   */
  beforeSalvageLoss?: (decision: "R4" | "R5" | "R8") => void;
}

/**
 * Why a segment does not continue the chain of segments before it (decision row R4), or
 * undefined: an invalid header, another log's salt (`salt` is the first segment's, undefined
 * for the first), a header that disagrees with the file name, a missing segment number, or a
 * gap in LSNs after `previous`.
 */
export function segmentChainProblem(
  header: SegmentHeader | { invalid: string },
  seg: { number: number; firstLsn: number },
  salt: number | undefined,
  previous: { number: number; endLsn: number | undefined } | undefined,
): string | undefined {
  if ("invalid" in header) return header.invalid;
  if (salt !== undefined && header.salt !== salt) return "its salt differs from the first segment's: it belongs to another log";
  if (header.segmentNumber !== seg.number || header.firstLsn !== seg.firstLsn) return `its header says segment ${header.segmentNumber} at LSN ${header.firstLsn}`;
  // Records start on 8-byte LSNs, so does every segment: one off the grid failed later as
  // the ring's internal "cannot format" (review of the WAL, 2026-12-06).
  if (header.firstLsn % 8 !== 0) return `its first LSN ${header.firstLsn} is not a multiple of 8`;
  if (previous && header.segmentNumber !== previous.number + 1) return `segment ${previous.number + 1} is missing`;
  if (previous?.endLsn !== undefined && header.firstLsn !== previous.endLsn) return `it starts at LSN ${header.firstLsn} but the previous segment ends at ${previous.endLsn}`;
  return undefined;
}

/**
 * An LSN at or past the end of every record `files` may hold, on the 8-byte grid: each one's
 * first LSN (from its name, which a damaged header does not change) plus its size.
 */
function lsnBoundOf(platform: Platform, files: SegmentFile[]): number {
  let end = 0;
  for (const f of files) end = Math.max(end, f.firstLsn + Math.max(0, (platform.stat(f.path)?.size ?? 0) - SEGMENT_HEADER_BYTES));
  return Math.ceil(end / 8) * 8;
}

/** Moves `files` into `<dir>/corrupt/` (kept for inspection, out of the log). */
function moveAside(platform: Platform, dir: string, files: SegmentFile[]): string[] {
  if (files.length === 0) return [];
  makeDirDurable(platform, `${dir}/corrupt`);
  const stamp = Date.now();
  for (const f of files) platform.rename(f.path, `${dir}/corrupt/${f.name}.${stamp}`);
  // The new entries first, then the removals: a power loss between the two syncs leaves a
  // segment in both directories, never in neither.
  platform.fsyncDir(`${dir}/corrupt`);
  platform.fsyncDir(dir);
  return files.map((f) => f.name);
}

/** Bytes copied at a time by keepCutAside. */
const CUT_COPY_CHUNK_BYTES = 1 << 20;

/**
 * Salvage cutting a segment at `end` (R5, R8): its bytes from `end` on are copied, durably,
 * to `<dir>/corrupt/<segment>.cut-<end>.<stamp>` before the cut, so that the records a
 * salvage gives up are set aside like the later segments it moves, not destroyed (valid
 * records may follow the damage: review of doctor --repair --salvage, 2026-12-08).
 * A crash before the truncation's sync leaves the copy and the segment whole: the next
 * salvage cuts again and keeps another copy.
 */
function keepCutAside(platform: Platform, dir: string, seg: SegmentFile, end: number): string {
  makeDirDurable(platform, `${dir}/corrupt`);
  const name = `${seg.name}.cut-${end}.${Date.now()}`;
  const from = platform.open(seg.path, "read");
  try {
    const to = platform.open(`${dir}/corrupt/${name}`, "truncate");
    try {
      const chunk = new Uint8Array(CUT_COPY_CHUNK_BYTES);
      for (let at = end; ; ) {
        const n = from.read(chunk, at);
        if (n === 0) break;
        to.write(chunk.subarray(0, n), at - end);
        at += n;
      }
      to.datasync();
    } finally {
      to.close();
    }
  } finally {
    from.close();
  }
  platform.fsyncDir(`${dir}/corrupt`);
  return name;
}

/** R0: segments whose creation stopped before the rename that makes them part of the log. */
function removeCreatingSegments(platform: Platform, dir: string, report: RecoveryReport): void {
  const leftovers = creatingSegmentNames(platform, dir);
  if (leftovers.length === 0) return;
  for (const name of leftovers) platform.unlink(`${dir}/${name}`);
  platform.fsyncDir(dir);
  report.decisions.push("R0");
}

/**
 * A log that ends below `floorLsn`, the LSN its owner's next record must have (the engine:
 * above every seq in a table, at or past its checkpoint), cannot go on where it ends. Only a
 * salvage cut leaves one (a healthy log ends past every seq its owner wrote out, and past
 * its checkpoint), or an open that crashed between such a cut and what follows here; both
 * cases are handled alike (docs/RECOVERY.md G4a). (A replication follower's log also ends
 * below its snapshot's maxSeq until it catches up: the engine opens it without a floor.)
 * - every record left lies below `heldBelow` (held in tables): the log is moved to
 *   corrupt/ and a new one begins (R9; the caller starts it at `floorLsn`);
 * - records at or past `heldBelow` are left: the log goes on at its end for now (R10); the
 *   owner must put those records where it holds the rest (the engine replays them and
 *   flushes them to tables, moving its checkpoint to the log's end) and open again, which
 *   then takes the first case. Setting the log aside now would lose them.
 */
export function setAsideBelowFloor(platform: Platform, dir: string, recovered: RecoveredLog, floorLsn: number, heldBelow: number): RecoveredLog {
  if (recovered.isNew || recovered.nextLsn >= floorLsn) return recovered;
  const report = recovered.report;
  if (recovered.nextLsn > heldBelow) {
    report.decisions.push("R10");
    return recovered;
  }
  report.corruptSegments.push(...moveAside(platform, dir, listSegmentFiles(platform, dir)));
  report.decisions.push("R9");
  return { isNew: true, salt: newSalt(), segments: [], last: undefined, nextLsn: 0, report };
}

export function recoverLog(core: Core, platform: Platform, dir: string, options: RecoveryOptions = {}): RecoveredLog {
  const report: RecoveryReport = { segmentsRead: 0, records: 0, segmentsLeftToReader: 0, bytesCut: 0, decisions: [], corruptSegments: [] };
  if (!options.readOnly) removeCreatingSegments(platform, dir, report);
  const listed = listSegmentFiles(platform, dir);

  // R2 / R3: a last segment whose header never made it to disk (and that holds nothing
  // but the zeros it is created with) was being created when the process died. Only a log
  // written before segments were created under a temporary name (R0) can hold one.
  while (listed.length > 0) {
    const last = listed[listed.length - 1];
    const header = readSegmentHeader(core, platform, last.path);
    if (!("invalid" in header) || !onlyZerosAfterHeader(platform, last.path)) break;
    platform.unlink(last.path);
    platform.fsyncDir(dir);
    report.decisions.push(listed.length === 1 ? "R3" : "R2");
    listed.pop();
  }
  if (listed.length === 0) {
    if (!report.decisions.includes("R3")) report.decisions.push("R1");
    return { isNew: true, salt: newSalt(), segments: [], last: undefined, nextLsn: 0, report };
  }

  const kept: SegmentInfo[] = [];
  let salt = 0;
  // The segment before the current one (endLsn undefined: left to the reader, which checks
  // where it ends), and the last one scanned and found to end cleanly (salvage's R4 end).
  let previous: { number: number; endLsn: number | undefined } | undefined;
  let lastClean: { seg: SegmentInfo; header: SegmentHeader; dataEnd: number; fileSize: number } | undefined;
  /** Past every LSN the segments salvage moved aside may hold (a log begun anew starts there). */
  let movedEnd = 0;
  const readerFrom = options.salvage ? undefined : options.readerChecksFromLsn;
  for (let i = 0; i < listed.length; i++) {
    const seg = listed[i];
    const isLast = i === listed.length - 1;
    const header = readSegmentHeader(core, platform, seg.path);
    const problem = segmentChainProblem(header, seg, i === 0 ? undefined : salt, previous);
    if (problem !== undefined || "invalid" in header) {
      // R4: a broken link in the chain of segments.
      if (!options.salvage) throw new CorruptionError(`log segment ${seg.path} is corrupt: ${problem}`, seg.path);
      options.beforeSalvageLoss?.("R4");
      report.decisions.push("R4");
      movedEnd = lsnBoundOf(platform, listed.slice(i));
      report.corruptSegments.push(...moveAside(platform, dir, listed.slice(i)));
      break;
    }
    if (i === 0) salt = header.salt;
    if (!isLast && readerFrom !== undefined && listed[i + 1].firstLsn > readerFrom) {
      kept.push(seg);
      report.segmentsLeftToReader++;
      previous = { number: header.segmentNumber, endLsn: undefined };
      continue;
    }

    const scanner = SegmentScanner.open(core, platform, seg.path, header);
    try {
      // Runs of records are validated in the core and counted, never handed out one by one.
      const { records, stopped, offset: end } = countSegmentRecords(core, scanner);
      report.segmentsRead++;
      report.records += records;
      const cleanEnd = stopped === "end-of-file" || (stopped === "zero" && scanner.zeroFrom(end));
      if (!isLast) {
        if (!cleanEnd) {
          // R5: a segment that was synced before its successor existed cannot have a torn tail.
          if (!options.salvage) {
            throw new CorruptionError(`log segment ${seg.path} is corrupt at offset ${end} (${stopped}), before later segments`, seg.path, end);
          }
          options.beforeSalvageLoss?.("R5");
          report.decisions.push("R5");
          report.bytesCut += scanner.fileSize - end;
          report.corruptSegments.push(keepCutAside(platform, dir, seg, end));
          platform.truncate(seg.path, end);
          report.corruptSegments.push(...moveAside(platform, dir, listed.slice(i + 1)));
          kept.push(seg);
          return finish(seg, header, end, end);
        }
        kept.push(seg);
        previous = { number: header.segmentNumber, endLsn: scanner.lsnAt(end) };
        lastClean = { seg, header, dataEnd: end, fileSize: scanner.fileSize };
        continue;
      }
      kept.push(seg);
      const endLsn = scanner.lsnAt(end);
      const belowDurable = options.durableAtLeast !== undefined && endLsn < options.durableAtLeast;
      if (belowDurable && !options.salvage) {
        throw new CorruptionError(
          `log segment ${seg.path} is corrupt at offset ${end} (${stopped}): its valid records end at LSN ${endLsn}, but every record below LSN ${options.durableAtLeast} ` +
            `was durable (the writer's durable mark), so this is not a torn tail; open with salvage to cut the log there, losing the records after it`,
          seg.path,
          end,
        );
      }
      if (cleanEnd) {
        // Under salvage, a clean end below the durable mark: the records past it are gone.
        if (belowDurable) options.beforeSalvageLoss?.("R8");
        report.decisions.push(belowDurable ? "R8" : "R6");
        return finish(seg, header, end, scanner.fileSize);
      }
      // Something other than zeros follows the valid prefix of the last segment.
      // A record there whose header checksum holds but whose type is not FULL was written
      // so (a newer format): no crash tears a header into that. R8, not a torn tail (it was
      // cut as one, with any valid record after it: review of the WAL, 2026-12-06).
      const newerType = stopped === "bad-type";
      if (newerType && !options.salvage) {
        throw new CorruptionError(
          `log segment ${seg.path} is corrupt at offset ${end}: a record with a valid header and a type this version does not know (a newer format?) starts there; open the log with the version that wrote it, or with salvage to cut the log there`,
          seg.path,
          end,
        );
      }
      const windowEnd = end + header.syncBytesMax;
      const beyond = newerType ? end : scanner.findValidRecord(windowEnd);
      if (beyond >= 0 && !options.salvage) {
        throw new CorruptionError(
          `log segment ${seg.path} is corrupt at offset ${end} (${stopped}): a valid record follows at offset ${beyond}, ` +
            `beyond what one crash can leave unsynced (${header.syncBytesMax} bytes); open with salvage to cut the log there`,
          seg.path,
          end,
        );
      }
      const salvageLoss = beyond >= 0 || belowDurable;
      if (salvageLoss) options.beforeSalvageLoss?.("R8");
      report.decisions.push(salvageLoss ? "R8" : "R7");
      report.bytesCut += scanner.fileSize - end;
      // A torn tail (R7) was never acknowledged: it goes. What salvage gives up is kept.
      if (salvageLoss) report.corruptSegments.push(keepCutAside(platform, dir, seg, end));
      const file = platform.open(seg.path, "readwrite");
      try {
        file.truncate(end);
        file.datasync();
      } finally {
        file.close();
      }
      return finish(seg, header, end, end);
    } finally {
      scanner.close();
    }
  }
  // Salvage (R4) moved the rest of the chain aside: the last kept segment, whose tail
  // was checked to be clean, is now the end of the log.
  // (Only salvage gets here, and it scans every segment, so lastClean is the one before.)
  // Every segment was moved aside: the log begins again, past every LSN they may hold, so
  // that LSNs only grow (README): it began again at 0, and gave out LSNs it had handed out
  // before (review of the WAL, second pass, 2026-12-06).
  if (!lastClean) return { isNew: true, salt: newSalt(), segments: [], last: undefined, nextLsn: movedEnd, report };
  return finish(lastClean.seg, lastClean.header, lastClean.dataEnd, lastClean.fileSize);

  function finish(seg: SegmentInfo, header: SegmentHeader, dataEnd: number, zeroedEnd: number): RecoveredLog {
    const last: LastSegment = { ...seg, dataEnd, zeroedEnd, syncBytesMax: header.syncBytesMax };
    return {
      isNew: false,
      salt,
      segments: kept.map(({ number, firstLsn, path }) => ({ number, firstLsn, path })),
      last: { number: last.number, firstLsn: last.firstLsn, path: last.path, dataEnd, zeroedEnd, syncBytesMax: header.syncBytesMax },
      nextLsn: header.firstLsn + (dataEnd - SEGMENT_HEADER_BYTES),
      report,
    };
  }
}
