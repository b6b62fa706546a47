/** Shared helpers for the log tests: the platform, the log API, temp dirs, encoding. */
import { currentPlatform } from "../harness/platform.ts";
import { bindLogApi } from "../../src/wal/public.ts";
import type { Log } from "../../src/wal/log.ts";
import * as assert from "uvu/assert";

export const platform = await currentPlatform();
export const { openLog, attachLog } = bindLogApi(platform);
export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** A fresh temp dir; remembered for `cleanup`. */
const made: string[] = [];
export function tempDir(prefix = "shardline-wal-"): string {
  const dir = platform.makeTempDir(prefix);
  made.push(dir);
  return dir;
}
export function cleanup(): void {
  for (const dir of made.splice(0)) platform.removeAll(dir);
}

/** Segment files of a log dir, oldest first. */
export function segmentPaths(dir: string): string[] {
  return platform.readdir(dir).filter((n) => n.endsWith(".wal")).sort().map((n) => `${dir}/${n}`);
}

export function readAll(path: string): Uint8Array {
  return platform.readFile(path);
}

export function writeAll(path: string, bytes: Uint8Array): void {
  const f = platform.open(path, "truncate");
  try {
    f.write(bytes, 0);
    f.datasync();
  } finally {
    f.close();
  }
}

/** Every record in the log, by reading it with `stream`. */
export async function collect(log: { stream(o?: object): AsyncIterable<{ lsn: bigint; data: Uint8Array }> }, from?: bigint) {
  const out: Array<{ lsn: bigint; text: string; data: Uint8Array }> = [];
  for await (const r of log.stream(from === undefined ? {} : { from })) out.push({ lsn: r.lsn, text: dec.decode(r.data), data: r.data });
  return out;
}

/**
 * What `openLog(dir, options)` rejects with. A log that opens instead is handed to `opened`
 * (which says what it found) and closed, and the test fails with that text.
 */
export async function openLogRefusal(dir: string, options: object, opened: (log: Log) => string | Promise<string>): Promise<unknown> {
  let log: Log;
  try {
    log = await openLog(dir, options);
  } catch (error) {
    return error;
  }
  let said: string;
  try {
    said = await opened(log);
  } finally {
    await log.close();
  }
  return assert.unreachable(said);
}
