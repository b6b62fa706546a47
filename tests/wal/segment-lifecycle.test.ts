// A segment's life seen from the others who list the log directory: a new segment is made
// as <name>.creating and renamed once its header is synced (src/wal/segment-writer.ts;
// recovery's row R0 deletes a leftover), and a trim on another thread may unlink a segment
// at any time. Each test is a defect an adversarial review found on 2026-12-06, seen failing
// before its fix:
// - a static read-only open (no reader slot) while the writer made its next segment ran
//   R0 and failed with ReadOnlyError (it must leave the file alone);
// - a LogTail whose segment was trimmed between its listing and its open threw ENOENT, not
//   LogTrimmedError (which a change feed turns into FeedOverflowError);
// - doctor did not report a leftover .creating file, and --repair left it;
// - (review of power loss, the same day) a trim of several segments unlinked them all, then
//   fsynced once: a crash could keep a later unlink and not an earlier one, a gap recovery
//   refuses (R4). Each deletion is now durable before the next.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { ReadOnlyError } from "../../src/errors.ts";
import { type FileHandle, type OpenMode, type Platform, PlatformError } from "../../src/platform.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { runCli } from "../../src/cli/main.ts";
import { encodeSegmentHeader, SEGMENT_CREATING_SUFFIX, SEGMENT_HEADER_BYTES, segmentFileName } from "../../src/wal/format.ts";
import { LogTail, LogTrimmedError } from "../../src/wal/log-tail.ts";
import { listSegmentFiles, readSegmentHeader, trimSegments } from "../../src/wal/segment-files.ts";
import { recordedDeletions } from "../harness/recorded-deletions.ts";
import { cleanup, openLog, platform, tempDir } from "./helpers.ts";

const test = suite("wal segment lifecycle");
test.after.each(cleanup);
const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });

/** Writes `<dir>/<next segment name>.creating` as the writer leaves it just before its rename: header + zeros, synced. */
function creatingNextSegment(dir: string): string {
  const segments = listSegmentFiles(platform, dir);
  const last = segments[segments.length - 1];
  const header = readSegmentHeader(core, platform, last.path);
  if ("invalid" in header) throw new Error(header.invalid);
  const number = last.number + 1;
  const firstLsn = last.firstLsn + 4096; // only the name's shape matters to R0
  const path = `${dir}/${segmentFileName(number, firstLsn)}${SEGMENT_CREATING_SUFFIX}`;
  const file = platform.open(path, "truncate");
  try {
    file.write(encodeSegmentHeader(core, { segmentNumber: number, firstLsn, salt: header.salt, syncBytesMax: header.syncBytesMax, createdUnixMs: Date.now() }), 0);
    file.write(new Uint8Array(64 * 1024), SEGMENT_HEADER_BYTES);
    file.datasync();
  } finally {
    file.close();
  }
  return path;
}

test("a static read-only open (no slot) while the live writer creates its next group-WAL segment opens, not ReadOnlyError from R0", async () => {
  // The durability worker runs in a thread the test cannot pause between its datasync and its
  // rename; the .creating file below is exactly what it has on disk at that moment (header and
  // zeros synced, not yet renamed). Every rotation has this window (1 MiB of zeros + fdatasync).
  // A reader that cannot write readers/ (docs/RECOVERY.md: a read-only file system, no
  // permission) is static: no durable mark is read, so the group WAL goes through recoverLog,
  // whose R0 (recovery.ts removeCreatingSegments, called first in recoverLog) unlinks the
  // writer's in-progress file on a platform that refuses it: the open fails with ReadOnlyError
  // "unlink". A .creating file is never part of the log (the rename is what adds it), so a
  // reader has nothing to repair and should skip R0 (and certainly must not delete it).
  const dir = tempDir();
  const { open } = bindDatabaseApi(platform);
  const writer = await open(dir, { shards: 1 });
  try {
    for (let i = 0; i < 50; i++) await writer.put(`k${i}`, `v${i}`);
    const creating = creatingNextSegment(`${dir}/wal`);
    const erofs: Platform = {
      ...platform,
      open(path: string, mode: OpenMode): FileHandle {
        if (path.includes("/readers/") && mode !== "read") throw new PlatformError(`EROFS: read-only file system, open '${path}'`, "EROFS");
        return platform.open(path, mode);
      },
    };
    let reader;
    try {
      reader = await bindDatabaseApi(erofs).open(dir, { readOnly: true });
    } catch (error) {
      assert.ok(!(error instanceof ReadOnlyError), `the read-only open failed while the writer rotated: ${(error as Error).message}`);
      throw error;
    }
    try {
      assert.is(new TextDecoder().decode(reader.get("k49")), "v49");
      assert.ok(platform.stat(creating) !== undefined, "the writer's in-progress segment is still there");
    } finally {
      await reader.close();
    }
    platform.unlink(creating);
  } finally {
    await writer.close();
  }
});

test("a trim between a log tail's listing and its open of the segment is LogTrimmedError (a feed overflows), not ENOENT", async () => {
  // LogTail.#open (log-tail.ts) lists the segments, then opens the one holding `next`
  // (readSegmentHeader, then SegmentScanner.open). A trim on another thread (the engine's
  // actor after a flush, flush.ts / reader-slots.ts afterFlush) may unlink that segment in
  // between. The header says such a segment "may be gone: read then throws LogTrimmedError";
  // instead the raw PlatformError ENOENT escapes, which change-feed.ts does not turn into
  // FeedOverflowError: the subscriber sees a file-system failure, not "resubscribe".
  const dir = tempDir();
  const log = await openLog(dir, { segmentBytesMax: 4096, bufferBytes: 64 * 1024 });
  await log.append(Array.from({ length: 300 }, (_, i) => `rec-${i}-${"x".repeat(i % 17)}`)); // several segments
  const end = Number(log.currentLsn);
  await log.close();
  const segments = listSegmentFiles(platform, dir);
  assert.ok(segments.length >= 3, `${segments.length} segments`);
  let trimmedBetween = false;
  const racing: Platform = {
    ...platform,
    open(path: string, mode: OpenMode): FileHandle {
      if (!trimmedBetween && mode === "read" && path === segments[0].path) {
        trimmedBetween = true;
        trimSegments(platform, dir, segments[2].firstLsn); // the trim that ran right after the tail listed
      }
      return platform.open(path, mode);
    },
  };
  const tail = new LogTail(core, racing, dir, segments[0].firstLsn);
  try {
    for (const _ of tail.read(end)) { /* drain */ }
    assert.unreachable("the segment holding the tail's LSN was trimmed");
  } catch (error) {
    assert.ok(trimmedBetween, "the trim ran between the listing and the open");
    assert.ok(error instanceof LogTrimmedError, `LogTrimmedError expected, got ${(error as Error).name}: ${(error as Error).message}`);
  } finally {
    tail.close();
  }
});

test("doctor: a segment creation a crash stopped before its rename (wal/<name>.creating) is reported, and --repair removes it", async () => {
  // The commit says "doctor reports it as a segment torn at creation"; but doctor's checkLog
  // lists only `.wal` names (listSegmentFiles), so it finds nothing, and --repair, which opens
  // the database only when a finding asks for it, says "nothing --repair can fix" and leaves
  // the file (the R0 action text in repair() is never reached for it alone).
  const dir = tempDir();
  const { open } = bindDatabaseApi(platform);
  const db = await open(dir, { shards: 1 });
  await db.put("a", "1");
  await db.close();
  const creating = creatingNextSegment(`${dir}/wal`);
  let out = "";
  const io = { stdout: (t: string) => void (out += t), stderr: (t: string) => void (out += t), isTTY: false };
  await runCli(platform, ["doctor", dir, "--json"], io);
  const report = JSON.parse(out);
  const name = creating.split("/").pop()!;
  const found = (report.findings as Array<{ severity: string; file: string; message: string }>).filter((f) => f.file.includes(name));
  out = "";
  await runCli(platform, ["doctor", dir, "--repair"], io);
  assert.ok(found.length > 0, `doctor reports the leftover ${name} (findings: ${report.findings.map((f: { file: string; message: string }) => `${f.file}: ${f.message}`).join(" | ")})`);
  assert.is(platform.stat(creating), undefined, `--repair removes it (it said: ${out.trim()})`);
});

test("a trim of several segments deletes them oldest first, each deletion durable before the next (what a crash keeps of it leaves a chain)", async () => {
  const dir = tempDir();
  const log = await openLog(dir, { segmentBytesMax: 4096, bufferBytes: 64 * 1024 });
  for (let i = 0; i < 40; i++) await log.append(`record ${i} ${"x".repeat(300)}`);
  await log.close();
  const segments = listSegmentFiles(platform, dir);
  assert.ok(segments.length >= 4, `several segments (${segments.length})`);
  const recording = recordedDeletions(platform, dir);
  const { removed } = trimSegments(recording.platform, dir, segments[3].firstLsn);
  assert.is(removed, 3);
  const name = (s: { path: string }) => s.path.slice(s.path.lastIndexOf("/") + 1);
  assert.equal(recording.calls, segments.slice(0, 3).flatMap((s) => [`unlink ${name(s)}`, "fsync"]));
});

test.run();
