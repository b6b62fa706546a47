/**
 * Table deletions: table files a durable MANIFEST no longer names (a merge's inputs, what a
 * crash left) are deleted only after a note naming them is durable, `tables/DELETING`:
 *
 *   DELETING := json "\n" crc "\n"      (checksummed-json.ts)
 *   json     := a JSON array of table file names ("000070.sst", ...), the ones being deleted
 *   crc      := CRC-32C of json's UTF-8 bytes, 8 lower-case hex digits
 *
 *   example: ["000070.sst","000071.sst","000081.sst"]\n22f6b0ff\n
 *
 * Why: with the MANIFEST lost, `doctor --repair` rebuilds it from the table files it finds
 * (docs/RECOVERY.md M1a). A crash in the middle of a merge's deletions left some of its
 * inputs, and no order of deletion makes every remainder harmless: one input may hold a
 * put whose tombstone the merge dropped from another, and the other the reverse, and table
 * numbers are not data age (a merge's output is numbered above tier-0 tables flushed
 * before it, which a later merge takes with it). With the remainder listed, the deleted
 * keys read again (review of doctor --repair, 2026-12-07). The rebuild leaves out every
 * table the note names.
 *
 * Order: note written to DELETING.tmp, fdatasynced, renamed over DELETING, tables/ fsynced
 * (manifest.ts replaceFileDurably, as for the MANIFEST);
 * then the unlinks; then tables/ fsynced again, before the call returns, so that a later
 * note (which names only the files on disk then) never replaces this one while its
 * deletions could still be undone by a power loss. A note left behind names files that no MANIFEST from then
 * on names: a number a MANIFEST once named is never given again (nextTableNumber only
 * rises, and a rebuild sets it above every number the note names; only an orphan's number,
 * which no MANIFEST named, is given again: RECOVERY.md F1b), so the note is never wrong,
 * only stale; it is replaced by the next deletion's.
 *
 * Kept: the note names, besides what it deletes, every other table file on disk that the
 * durable MANIFEST no longer names (those kept for live readers in other processes,
 * reader-slots.ts). A note that named only its own deletions replaced one whose files were
 * not all gone: after a power loss that brought back an older readers/DROPPED or reader
 * slot (neither is synced), an open deleted part of an interrupted deletion's leftovers
 * behind a note naming that part alone, and the rest, unnamed by any note, would have been
 * listed by a rebuild (review of table deletions, 2026-12-07). Those files were all named
 * by some MANIFEST once (below its nextTableNumber: a file at or past it is an orphan that
 * open deletes without a note, RECOVERY.md F1b), so their numbers never come back.
 *
 * Invariants: a table file that a MANIFEST dropped is unlinked only while a durable note
 * names it, and while such a file is on disk, the last note written names it. If the note
 * cannot be written, nothing is deleted (the files stay unnamed, and the next flush, merge
 * or open deletes them).
 * Threads: the database's owner (the actor, or the opener), and doctor, which only reads.
 */
import type { Platform } from "../platform.ts";
import { unlinkIfPresent } from "../platform.ts";
import { checksummedJsonText, parseChecksummedJson } from "./checksummed-json.ts";
import { replaceFileDurably, tableNumberOf } from "./manifest.ts";

export const DELETING_NAME = "DELETING";
/** The largest note read (~14 bytes a name: some 70,000 tables deleted at once). */
const DELETING_BYTES_MAX = 1024 * 1024;

/**
 * Deletes `names` (files in `<dir>/tables`) behind a durable note naming them and `kept`
 * (every other dropped table still on disk: see "Kept" in the header); false, deleting
 * nothing, if the note could not be written.
 */
export function deleteTablesNoted(platform: Platform, dir: string, names: readonly string[], crc32c: (bytes: Uint8Array) => number, kept: readonly string[] = []): boolean {
  if (names.length === 0) return true;
  const tables = `${dir}/tables`;
  try {
    replaceFileDurably(platform, tables, DELETING_NAME, deletingNoteBytes([...new Set([...names, ...kept])].sort(), crc32c));
  } catch {
    return false;
  }
  for (const name of names) unlinkIfPresent(platform, `${tables}/${name}`);
  platform.fsyncDir(tables);
  return true;
}

/** The note's bytes for `names` (the grammar above). */
export function deletingNoteBytes(names: readonly string[], crc32c: (bytes: Uint8Array) => number): Uint8Array {
  return new TextEncoder().encode(checksummedJsonText(names, crc32c));
}

/**
 * The table files the note names: none when there is no note; "damaged" when one is there
 * but is not what a writer writes (its checksum, its form), so that the rebuild cannot tell
 * which tables a crash left half-deleted.
 */
export function readDeletingNote(platform: Platform, dir: string, crc32c: (bytes: Uint8Array) => number): string[] | "damaged" {
  const path = `${dir}/tables/${DELETING_NAME}`;
  const stat = platform.stat(path);
  if (!stat) return [];
  if (!stat.isFile || stat.size > DELETING_BYTES_MAX) return "damaged";
  try {
    const parsed = parseChecksummedJson(new TextDecoder("utf-8", { fatal: true }).decode(platform.readFile(path)), crc32c);
    if (!Array.isArray(parsed) || !parsed.every((name) => typeof name === "string" && tableNumberOf(name) !== undefined)) return "damaged";
    return parsed as string[];
  } catch {
    return "damaged";
  }
}
