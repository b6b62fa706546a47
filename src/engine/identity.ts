/**
 * IDENTITY: the database's id (the MANIFEST's `databaseId`, 128 random bits) in a file of
 * its own, so that a MANIFEST rebuilt by `shardline doctor --repair` names the same
 * database. Every replication message carries the id, and a follower stops at a message of
 * another database (docs/REPLICATION.md): a rebuilt MANIFEST with a new id stopped every
 * follower although the data was the same database's.
 *
 * Format: 32 lowercase hex digits and a newline. The MANIFEST is the truth: a writer's open
 * writes IDENTITY when it is missing or says something else; doctor reads it only when the
 * MANIFEST is gone, and ignores one it cannot read (the rebuilt MANIFEST then gets a new id).
 * Written whole or not at all (manifest.ts replaceFileDurably).
 * Threads: the opening thread, or the CLI's.
 */
import type { Platform } from "../platform.ts";
import { replaceFileDurably } from "./manifest.ts";

export const IDENTITY_NAME = "IDENTITY";
const ID = /^[0-9a-f]{32}$/;

/** The id IDENTITY holds, or undefined when it is missing or not an id. */
export function readIdentity(platform: Platform, dir: string): string | undefined {
  const path = `${dir}/${IDENTITY_NAME}`;
  const stat = platform.stat(path);
  if (!stat?.isFile || stat.size > 64) return undefined; // an id and a newline: 33 bytes
  const text = new TextDecoder().decode(platform.readFile(path));
  const id = text.endsWith("\n") ? text.slice(0, -1) : undefined;
  return id !== undefined && ID.test(id) ? id : undefined;
}

/** Makes IDENTITY hold `id`, durably, unless it already does. */
export function keepIdentity(platform: Platform, dir: string, id: string): void {
  if (!ID.test(id)) throw new RangeError(`not a database id: ${JSON.stringify(id)}`);
  if (readIdentity(platform, dir) === id) return;
  replaceFileDurably(platform, dir, IDENTITY_NAME, new TextEncoder().encode(`${id}\n`));
}
