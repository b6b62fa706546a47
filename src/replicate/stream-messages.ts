/**
 * Stream messages: how group-WAL records travel through a JetStream stream
 * (docs/REPLICATION.md, "Stream format").
 *
 *   message  := subject "<subject>"  data payload-piece  header Nats-Msg-Id = id
 *   id       := lsn                           a whole record (payload <= pieceBytes)
 *             | lsn "/" part "/" parts        piece `part` (0-based) of a record cut in `parts`
 *   lsn      := decimal LSN of the record in the writer's group WAL
 *
 * Messages come in LSN order and, within a record, in part order; the stream sequence of
 * a message is one more than its predecessor's (the publisher sends every message with
 * `expect.lastSequence`). The id doubles as JetStream's deduplication key, so a record
 * published twice within the duplicate window is stored once.
 *
 * A piece is at most the server's max_payload less room for headers; the default server
 * limit is 1 MiB and records reach 4 MiB (docs/wal-format.md), so large records are cut.
 *
 * Threads: pure functions and one-connection helpers; any thread.
 */
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream";
import { ShardlineError } from "../errors.ts";
import { recordBytes } from "../wal/format.ts";

/** Header room kept under the server's max_payload for each piece. */
export const PIECE_HEADER_ROOM_BYTES = 4096;
const ID = /^(\d+)(?:\/(\d+)\/(\d+))?$/;

export interface MessageId {
  lsn: number;
  part: number;
  parts: number;
}

export function encodeMessageId(lsn: number, part: number, parts: number): string {
  return parts === 1 ? String(lsn) : `${lsn}/${part}/${parts}`;
}

export function decodeMessageId(id: string | undefined, where: string): MessageId {
  const m = id === undefined ? null : ID.exec(id);
  const parsed = m ? { lsn: Number(m[1]), part: m[2] === undefined ? 0 : Number(m[2]), parts: m[3] === undefined ? 1 : Number(m[3]) } : undefined;
  if (!parsed || !Number.isSafeInteger(parsed.lsn) || parsed.parts < 1 || parsed.part >= parsed.parts) {
    throw new ReplicationError(`${where}: message id ${JSON.stringify(id)} is not a shardline record id (lsn or lsn/part/parts)`);
  }
  return parsed;
}

/** How many pieces a payload of `length` bytes is cut into. */
export function piecesOf(length: number, pieceBytes: number): number {
  return Math.max(1, Math.ceil(length / pieceBytes));
}

/** The LSN after a record whose payload has `length` bytes. */
export function lsnAfter(lsn: number, length: number): number {
  return lsn + recordBytes(length);
}

/** The replication stream broke a rule a follower or publisher relies on. */
export class ReplicationError extends ShardlineError {
  override name = "ReplicationError";
  override readonly code: string = "SHARDLINE_REPLICATION";
  constructor(message: string, code = "SHARDLINE_REPLICATION") {
    super(message, code);
    this.code = code;
  }
}

/**
 * The stream no longer holds the records a follower needs next (they were purged after a
 * newer snapshot, or the publisher lost its place): the follower must start again from a
 * snapshot (a new, empty directory).
 */
export class ReplicationGapError extends ReplicationError {
  override name = "ReplicationGapError";
  constructor(readonly neededLsn: number, readonly foundLsn: number | undefined, why: string) {
    super(`the stream cannot continue from LSN ${neededLsn} (${why}${foundLsn === undefined ? "" : `; it holds LSN ${foundLsn} there`}): open a new follower in an empty directory to bootstrap from the latest snapshot`, "SHARDLINE_REPLICATION_GAP");
  }
}

function idOf(message: StoredMsg): string | undefined {
  return message.header?.get("Nats-Msg-Id") || undefined;
}

export interface StreamEnd {
  /** Stream sequence of the last message (0: empty). */
  seq: number;
  /** The first LSN not in the stream (where the next record goes), when it is known. */
  nextLsn: number | undefined;
  /** The last message's id, when the stream is not empty. */
  last: MessageId | undefined;
}

/** Where the stream ends: its last message, decoded. */
export async function streamEnd(jsm: JetStreamManager, stream: string): Promise<StreamEnd> {
  const info = await jsm.streams.info(stream);
  const seq = info.state.last_seq;
  if (info.state.messages === 0 || seq === 0) return { seq, nextLsn: undefined, last: undefined };
  const message = await jsm.streams.getMessage(stream, { seq });
  if (!message) throw new ReplicationError(`stream ${stream}: its last message (${seq}) cannot be read`);
  const last = decodeMessageId(idOf(message), `stream ${stream} message ${seq}`);
  // A record's last piece ends it; a record cut short (its publisher stopped between pieces)
  // is resumed by the next publisher from the following piece.
  const nextLsn = last.part + 1 === last.parts ? lsnAfter(last.lsn, last.parts === 1 ? message.data.length : await recordLength(jsm, stream, seq, last)) : undefined;
  return { seq, nextLsn, last };
}

/** A cut record's payload length: the sum of its pieces (the message at `seq` is its last). */
async function recordLength(jsm: JetStreamManager, stream: string, seq: number, last: MessageId): Promise<number> {
  let length = 0;
  for (let s = seq - last.part; s <= seq; s++) {
    const piece = await jsm.streams.getMessage(stream, { seq: s });
    if (!piece) throw new ReplicationError(`stream ${stream}: piece ${s} of the record at LSN ${last.lsn} cannot be read`);
    length += piece.data.length;
  }
  return length;
}

/**
 * The sequence of the first message of the record at `lsn` or later (part 0), by binary
 * search over the stream's sequences (LSNs grow with them); undefined when every record in
 * the stream is below `lsn`. Throws ReplicationGapError when the stream's first record is
 * past `lsn` (what lies between is gone).
 */
export async function seqOfLsn(jsm: JetStreamManager, stream: string, lsn: number): Promise<number | undefined> {
  const info = await jsm.streams.info(stream);
  let lo = info.state.first_seq;
  let hi = info.state.last_seq;
  if (info.state.messages === 0 || hi < lo) return undefined;
  const at = async (seq: number): Promise<MessageId> => {
    const message = await jsm.streams.getMessage(stream, { seq });
    if (!message) throw new ReplicationError(`stream ${stream}: message ${seq} cannot be read`);
    return decodeMessageId(idOf(message), `stream ${stream} message ${seq}`);
  };
  const first = await at(lo);
  if (first.lsn > lsn) throw new ReplicationGapError(lsn, first.lsn, "the stream's oldest record is newer");
  // The first message with (lsn, part) >= (lsn, 0).
  let found: number | undefined;
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const id = await at(mid);
    if (id.lsn >= lsn) {
      found = mid;
      hi = mid - 1;
    } else lo = mid + 1;
  }
  if (found === undefined) return undefined;
  const id = await at(found);
  if (id.part !== 0) throw new ReplicationError(`stream ${stream}: the record at LSN ${id.lsn} starts with piece ${id.part}`);
  if (id.lsn !== lsn) throw new ReplicationGapError(lsn, id.lsn, "no record starts there");
  return found;
}
