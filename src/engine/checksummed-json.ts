/**
 * Checksummed JSON: the framing of the engine's small metadata files (the MANIFEST after
 * its magic line, readers/DROPPED, tables/DELETING):
 *
 *   text := json "\n" crc "\n"
 *   crc  := CRC-32C of json's UTF-8 bytes, 8 lower-case hex digits
 *
 * The MANIFEST's reader checks the same framing step by step, for the reasons its decision
 * table names (RECOVERY.md M2); the notes need only "valid or not".
 * Threads: any (pure functions; the CRC-32C is the caller's, from its core).
 */
const enc = new TextEncoder();

export function checksummedJsonText(value: unknown, crc32c: (bytes: Uint8Array) => number): string {
  const json = JSON.stringify(value);
  return `${json}\n${crc32c(enc.encode(json)).toString(16).padStart(8, "0")}\n`;
}

/** The value a checksummed JSON text holds; undefined when it is not in that form, its checksum differs, or its JSON does not parse. */
export function parseChecksummedJson(text: string, crc32c: (bytes: Uint8Array) => number): unknown {
  const match = /^(.*)\n([0-9a-f]{8})\n$/s.exec(text);
  if (!match || parseInt(match[2], 16) !== crc32c(enc.encode(match[1]))) return undefined;
  try {
    return JSON.parse(match[1]);
  } catch {
    return undefined;
  }
}
