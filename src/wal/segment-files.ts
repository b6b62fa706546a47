/**
 * The segment files of a log directory: listing them in order and reading their headers.
 * Shared by recovery, streams and tools. Threads: any; plain file reads.
 */
import type { Core } from "../core/core.ts";
import { CorruptionError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { decodeSegmentHeader, isCreatingSegmentName, parseSegmentFileName, SEGMENT_HEADER_BYTES, type SegmentHeader } from "./format.ts";

export interface SegmentFile {
  name: string;
  number: number;
  firstLsn: number;
  path: string;
}

/** Segment files in `dir`, by segment number; other files are ignored. */
export function listSegmentFiles(platform: Platform, dir: string): SegmentFile[] {
  const out: SegmentFile[] = [];
  for (const name of platform.readdir(dir)) {
    const parsed = parseSegmentFileName(name);
    if (!parsed) continue;
    // Named like a segment but no regular file (a FIFO's open for reading blocked for ever,
    // review of the CLI, 2026-12-08): nothing a log wrote, and nothing to guess around.
    const stat = platform.stat(`${dir}/${name}`);
    if (stat && !stat.isFile) throw new CorruptionError(`${dir}/${name} is named like a log segment but is not a regular file; move it away`, `${dir}/${name}`);
    out.push({ name, number: parsed.segmentNumber, firstLsn: parsed.firstLsn, path: `${dir}/${name}` });
  }
  return out.sort((a, b) => a.number - b.number);
}

/**
 * listSegmentFiles, and none when `dir` is not there: a database's wal/ before its first
 * writer made it (a writer killed right after its first MANIFEST, or still opening), or
 * after it was deleted. For readers of a log they do not open; a log's own open makes it.
 */
export function listSegmentFilesIfAny(platform: Platform, dir: string): SegmentFile[] {
  return platform.stat(dir)?.isDirectory ? listSegmentFiles(platform, dir) : [];
}

/** Names of segment files in `dir` whose creation stopped before their rename (`<name>.creating`, recovery's R0). */
export function creatingSegmentNames(platform: Platform, dir: string): string[] {
  return platform.readdir(dir).filter(isCreatingSegmentName);
}

/** The segment's header, or why it is not a valid one. */
export function readSegmentHeader(core: Core, platform: Platform, path: string): SegmentHeader | { invalid: string } {
  const file = platform.open(path, "read");
  try {
    const bytes = new Uint8Array(SEGMENT_HEADER_BYTES);
    return decodeSegmentHeader(core, bytes.subarray(0, file.read(bytes, 0)));
  } finally {
    file.close();
  }
}

/**
 * Deletes every segment whose records all lie below `lsn`: those followed by a segment
 * that starts at or below it. Never the last segment (the one being written). Returns
 * the segments left, oldest first.
 * Oldest first, each deletion made durable (fsync of `dir`) before the next: whatever a
 * crash keeps of a trim is then its first deletions, and the segments left still chain
 * (recovery's R4 refuses a log with a gap in its segment numbers). With one fsync at the
 * end, a file system that makes the unlinks durable in any order could keep a later one
 * and not an earlier one (review of power loss, 2026-12-06). A trim usually removes one
 * segment, so this costs nothing more.
 */
export function trimSegments(platform: Platform, dir: string, lsn: number): { removed: number; kept: SegmentFile[] } {
  const segments = listSegmentFiles(platform, dir);
  let removed = 0;
  while (removed + 1 < segments.length && segments[removed + 1].firstLsn <= lsn) {
    platform.unlink(segments[removed].path);
    platform.fsyncDir(dir);
    removed++;
  }
  return { removed, kept: segments.slice(removed) };
}

/** True when the file has nothing but zeros after where its header would end (a torn creation). */
export function onlyZerosAfterHeader(platform: Platform, path: string): boolean {
  const file = platform.open(path, "read");
  try {
    const size = file.size();
    const chunk = new Uint8Array(Math.min(1 << 20, Math.max(0, size - SEGMENT_HEADER_BYTES)));
    for (let at = SEGMENT_HEADER_BYTES; at < size; ) {
      const n = file.read(chunk, at);
      if (n === 0) break;
      for (let i = 0; i < n; i++) if (chunk[i] !== 0) return false;
      at += n;
    }
    return true;
  } finally {
    file.close();
  }
}
