/**
 * Stream messages: how group-WAL records travel through a JetStream stream
 * (docs/REPLICATION.md, "Stream format").
 *
 *   message  := subject "<subject>"  header Nats-Msg-Id = id  [header Shardline-Database = dbid]  data
 *   id       := lsn "-" end                 data = frame+: whole records, the first at `lsn`,
 *                                          each next one at the LSN after its predecessor,
 *                                          the last ending at `end`
 *             | lsn "/" part "/" parts     data = piece `part` (0-based) of the one frame of
 *                                          the record at `lsn`, cut in `parts` pieces
 *   frame    := length:u32le  crc:u32le  payload:byte[length]
 *                                          crc = CRC-32C of the payload (checked by the follower)
 *   lsn      := decimal LSN in the writer's group WAL
 *   dbid     := the writer's MANIFEST databaseId (32 hex digits): whose log the message holds.
 *               A follower refuses a message of another database than its own (a stream and
 *               bucket deleted and made again under the same name by another database's
 *               publisher); a message without it (publishers before it was named) is trusted.
 *
 * The stream takes exactly one subject, the publisher's, and holds nothing else: a stream
 * that takes others (or holds a message on another subject) is refused with
 * SHARDLINE_REPLICATION_STREAM by the publisher and the follower (checkStreamShape, and
 * every message read here), since its sequences and its last message would no longer be
 * shardline's. Messages come in LSN order (a record's pieces in part order); the stream
 * sequence of a message is one more than its predecessor's. The publisher sends every message with
 * `expect.lastSequence` and `expect.lastMsgID` (its predecessor's sequence and id), and the
 * id doubles as JetStream's deduplication key, which the stream checks first: so the id
 * names the message's whole extent (a run's first and end LSN), never only where it
 * starts. Two publishers that cut runs differently (each reads the durable mark at its
 * own moment) thus send different ids for different contents, and neither can take the
 * other's message for its own and go on after it (a gap). A message holds
 * at most `pieceBytes` (the server's max_payload less room for headers): many small records
 * share one message (a message per record would cost the writer's thread one publish per
 * put), and a record whose frame is larger is cut in pieces (records reach 4 MiB,
 * docs/wal-format.md; the default max_payload is 1 MiB).
 *
 * Threads: pure functions and one-connection helpers; any thread.
 */
import type { JetStreamManager, MsgRequest, StoredMsg, StreamInfo } from "@nats-io/jetstream";
import { ShardlineError } from "../errors.ts";
import { RECORD_BYTES_MAX, recordBytes } from "../wal/format.ts";

/** The header naming the database whose log a message holds (dbid above). */
export const DATABASE_HEADER = "Shardline-Database";
/** Header room kept under the server's max_payload for each message. */
export const PIECE_HEADER_ROOM_BYTES = 4096;
/**
 * The most payload bytes a publisher puts in one message, whatever the server's max_payload
 * allows (up to 64 MiB): a follower pulls at most FOLLOWER_PULL_BYTES at a time and could
 * never take a larger message (review, 2026-12-06: a 21 MB catch-up message under a 32 MiB
 * max_payload stalled its follower for ever).
 */
export const MESSAGE_BYTES_MAX = 4 * 1024 * 1024;
/** What a follower's pull buffers ahead: room for several of the largest messages. */
export const FOLLOWER_PULL_BYTES = 4 * (MESSAGE_BYTES_MAX + PIECE_HEADER_ROOM_BYTES);
export const FRAME_HEADER_BYTES = 8;
const ID = /^(\d+)(?:-(\d+)|\/(\d+)\/(\d+))$/;
/**
 * Pieces of one record, at most: a broken stream has more. A record reaches RECORD_BYTES_MAX
 * (4 MiB), so a publisher needs pieces of at least PIECE_BYTES_MIN (a server's max_payload
 * of at least PIECE_BYTES_MIN + PIECE_HEADER_ROOM_BYTES, ~20 KiB; NATS's default is 1 MiB).
 */
export const PARTS_MAX = 256;
export const PIECE_BYTES_MIN = Math.ceil((FRAME_HEADER_BYTES + RECORD_BYTES_MAX) / PARTS_MAX);

export interface MessageId {
  lsn: number;
  /** A run's end LSN; undefined for a piece. */
  end: number | undefined;
  part: number;
  parts: number;
}

export interface Frame {
  lsn: number;
  payload: Uint8Array;
  crc: number;
}

export function runId(lsn: number, end: number): string {
  return `${lsn}-${end}`;
}

export function pieceId(lsn: number, part: number, parts: number): string {
  return `${lsn}/${part}/${parts}`;
}

export function decodeMessageId(id: string | undefined, where: string): MessageId {
  const m = id === undefined ? null : ID.exec(id);
  const parsed = !m ? undefined : m[2] !== undefined
    ? { lsn: Number(m[1]), end: Number(m[2]), part: 0, parts: 1 }
    : { lsn: Number(m[1]), end: undefined, part: Number(m[3]), parts: Number(m[4]) };
  const bad = !parsed || !Number.isSafeInteger(parsed.lsn) || (parsed.end !== undefined && !(Number.isSafeInteger(parsed.end) && parsed.end > parsed.lsn)) ||
    (parsed.end === undefined && !(parsed.parts >= 2 && parsed.parts <= PARTS_MAX && parsed.part < parsed.parts));
  if (bad) throw new ReplicationError(`${where}: message id ${JSON.stringify(id)} is not a shardline id (lsn-end, or lsn/part/parts with 2 to ${PARTS_MAX} parts)`);
  return parsed!;
}

/** Writes the frame of `payload` at `at` in `out`; returns the offset after it. */
export function writeFrame(out: Uint8Array, at: number, payload: Uint8Array, crc: number): number {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(at, payload.length, true);
  view.setUint32(at + 4, crc, true);
  out.set(payload, at + FRAME_HEADER_BYTES);
  return at + FRAME_HEADER_BYTES + payload.length;
}

/** The frames of a whole-records message whose first record is at `lsn`, with their LSNs; with `end`, they must end there. */
export function decodeFrames(data: Uint8Array, lsn: number, where: string, end?: number): Frame[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const frames: Frame[] = [];
  let at = 0;
  let next = lsn;
  while (at < data.length) {
    if (at + FRAME_HEADER_BYTES > data.length) throw new ReplicationError(`${where}: a frame header is cut at byte ${at} of ${data.length}`);
    const length = view.getUint32(at, true);
    const crc = view.getUint32(at + 4, true);
    if (at + FRAME_HEADER_BYTES + length > data.length) throw new ReplicationError(`${where}: a ${length}-byte frame at byte ${at} runs past the message's ${data.length} bytes`);
    frames.push({ lsn: next, payload: data.subarray(at + FRAME_HEADER_BYTES, at + FRAME_HEADER_BYTES + length), crc });
    at += FRAME_HEADER_BYTES + length;
    next = lsnAfter(next, length);
  }
  if (frames.length === 0) throw new ReplicationError(`${where}: an empty message`);
  if (end !== undefined && next !== end) throw new ReplicationError(`${where}: its records end at LSN ${next}, its id says ${end}`);
  return frames;
}

/** The LSN after a record whose payload has `length` bytes. */
export function lsnAfter(lsn: number, length: number): number {
  return lsn + recordBytes(length);
}

/** The replication stream broke a rule a follower or publisher relies on. */
export class ReplicationError extends ShardlineError {
  override name = "ReplicationError";
  override readonly code: string = "SHARDLINE_REPLICATION";
  constructor(message: string, code = "SHARDLINE_REPLICATION", options?: { cause?: unknown }) {
    super(message, code, options);
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
  /** The first LSN not in the stream (where the next record goes), when the last message ends a record. */
  nextLsn: number | undefined;
  /** The last message's id, decoded and as it is, when the stream is not empty. */
  last: MessageId | undefined;
  lastId: string | undefined;
  /** The database the last message names (DATABASE_HEADER), if it names one. */
  databaseId?: string;
  /**
   * The last message is the last piece of a record whose first piece the stream no longer
   * holds (purged by hand or by a limit of the stream: the publisher's own purges keep
   * records whole), so where the record ends is not known from the stream (nextLsn undefined).
   */
  startLost?: boolean;
}

/** The stream's subjects must be exactly `[subject]` (see the header): else SHARDLINE_REPLICATION_STREAM, naming the others. */
export function checkStreamShape(info: StreamInfo, subject: string): void {
  const subjects = info.config.subjects ?? [];
  if (subjects.length === 1 && subjects[0] === subject) return;
  const others = subjects.filter((s) => s !== subject);
  const why = subjects.includes(subject) ? `it also takes ${JSON.stringify(others)}` : `it does not take ${subject} (it takes ${JSON.stringify(subjects)})`;
  throw new ReplicationError(`stream ${info.config.name}: ${why}; shardline needs a stream of its own with the one subject ${subject}`, "SHARDLINE_REPLICATION_STREAM");
}

interface ReadMessage {
  id: MessageId;
  raw: string;
  data: Uint8Array;
  databaseId: string | undefined;
  takenMs: number;
}

async function messageAt(jsm: JetStreamManager, stream: string, subject: string, seq: number): Promise<ReadMessage> {
  const message = await jsm.streams.getMessage(stream, { seq });
  if (!message) throw new ReplicationError(`stream ${stream}: message ${seq} cannot be read`);
  return decoded(message, stream, subject, seq);
}

/**
 * The first message at or after `seq` (on `subject`, the stream's only one) and its
 * sequence, in one request: the server's next-by-subject get (nats-server 2.9 and later;
 * the client's MsgRequest type does not list the field). Undefined when there is none.
 */
async function messageAtOrAfter(jsm: JetStreamManager, stream: string, subject: string, seq: number): Promise<{ seq: number; message: ReadMessage } | undefined> {
  const message = await jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as MsgRequest);
  if (!message) return undefined;
  // A server that ignored the field answers `seq` itself or nothing; never a lower one.
  if (!(message.seq >= seq)) throw new ReplicationError(`stream ${stream}: asked for the first message at or after ${seq}, got ${message.seq}`);
  return { seq: message.seq, message: decoded(message, stream, subject, message.seq) };
}

function decoded(message: StoredMsg, stream: string, subject: string, seq: number): ReadMessage {
  if (message.subject !== subject) {
    throw new ReplicationError(`stream ${stream}: message ${seq} is on subject ${message.subject}, not ${subject}; shardline needs a stream of its own`, "SHARDLINE_REPLICATION_STREAM");
  }
  const raw = idOf(message);
  const databaseId = message.header?.get(DATABASE_HEADER) || undefined;
  return { id: decodeMessageId(raw, `stream ${stream} message ${seq}`), raw: raw!, data: message.data, databaseId, takenMs: message.time.getTime() };
}

/**
 * When the stream took the message holding the record at `lsn` (its first piece, or the
 * run it is in): for a follower's lag() when it holds no message past its log (stopped, or
 * between pulls). Undefined when the stream cannot say (nothing there, or purged past it).
 */
export async function takenMsOfLsn(jsm: JetStreamManager, stream: string, subject: string, lsn: number): Promise<number | undefined> {
  try {
    const seq = await seqOfLsn(jsm, stream, subject, lsn);
    if (seq === undefined) return undefined;
    const message = await messageAt(jsm, stream, subject, seq);
    // A message wholly below `lsn` (one a stream that breaks the pieces' order put before
    // it): the record is in the next one.
    if (message.id.end !== undefined && message.id.end <= lsn) return (await messageAt(jsm, stream, subject, seq + 1)).takenMs;
    return message.takenMs;
  } catch {
    return undefined;
  }
}

/** Where the stream ends: its last message, decoded. */
export async function streamEnd(jsm: JetStreamManager, stream: string, subject: string): Promise<StreamEnd> {
  const info = await jsm.streams.info(stream);
  checkStreamShape(info, subject);
  const seq = info.state.last_seq;
  if (info.state.messages === 0 || seq === 0) return { seq, nextLsn: undefined, last: undefined, lastId: undefined };
  const { id: last, raw: lastId, data, databaseId } = await messageAt(jsm, stream, subject, seq);
  if (last.end !== undefined) return { seq, nextLsn: last.end, last, lastId, databaseId };
  // A record's last piece ends it (its length is in the frame header, in the first piece);
  // a record cut short (its publisher stopped between pieces) is resumed from the next piece.
  if (last.part + 1 < last.parts) return { seq, nextLsn: undefined, last, lastId, databaseId };
  if (seq - last.part < info.state.first_seq) return { seq, nextLsn: undefined, last, lastId, databaseId, startLost: true };
  const first = last.part === 0 ? data : (await messageAt(jsm, stream, subject, seq - last.part)).data;
  const length = new DataView(first.buffer, first.byteOffset, first.byteLength).getUint32(0, true);
  return { seq, nextLsn: lsnAfter(last.lsn, length), last, lastId, databaseId };
}

/**
 * The sequence of the message holding the record at `lsn` (the last message whose first
 * record is at or below it, at its first piece), by binary search over the stream's
 * sequences (LSNs grow with them); undefined for an empty stream. A follower starting there
 * skips the records below `lsn`. Throws ReplicationGapError when the stream's oldest record
 * is past `lsn` (what lies between is gone), or when the record at `lsn` lost its first
 * pieces (a purge by hand or by a stream limit cut it). A record below `lsn` that lost
 * its first pieces is skipped: the search answers the message after its last piece.
 */
export async function seqOfLsn(jsm: JetStreamManager, stream: string, subject: string, lsn: number): Promise<number | undefined> {
  const info = await jsm.streams.info(stream);
  checkStreamShape(info, subject);
  let lo = info.state.first_seq;
  let hi = info.state.last_seq;
  if (info.state.messages === 0 || hi < lo) return undefined;
  const firstSeq = lo;
  const lastSeq = hi;
  // A message deleted from the middle of the stream (by hand, or a hole a stream limit
  // left) is no message: each probe looks at the first message at or after it, one request
  // whatever the hole's size. A probe that read the message at its sequence landed on the
  // hole now and then and failed the follower's start with "message N cannot be read",
  // where reading on from the LSN it needs reports the hole as the gap it is
  // (ReplicationGapError: tests/replicate/snapshot-tables-ahead.test.ts, CI 2026-12-07);
  // reading on one sequence at a time made a hole of 10,000 cost 5,000 requests a lookup
  // (review, 2026-12-07: tests/replicate/stream-search.test.ts).
  const atOrAfter = async (seq: number): Promise<{ seq: number; id: MessageId } | undefined> => {
    const found = await messageAtOrAfter(jsm, stream, subject, seq);
    return found && found.seq <= lastSeq ? { seq: found.seq, id: found.message.id } : undefined;
  };
  const first = await atOrAfter(lo);
  if (first === undefined) return undefined;
  if (first.id.lsn > lsn) throw new ReplicationGapError(lsn, first.id.lsn, "the stream's oldest record is newer");
  // The last message with first LSN <= lsn (LSNs grow with sequences, holes aside).
  let found = first.seq;
  let id = first.id;
  while (lo <= hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const at = await atOrAfter(mid);
    if (at !== undefined && at.seq <= hi && at.id.lsn <= lsn) {
      found = at.seq;
      id = at.id;
      lo = at.seq + 1;
    } else hi = mid - 1;
  }
  if (found - id.part >= firstSeq) return found - id.part;
  if (id.lsn === lsn) throw new ReplicationGapError(lsn, lsn, `the stream holds the record only from its piece ${id.part - (found - firstSeq)} of ${id.parts}: its first pieces were purged`);
  return found - id.part + id.parts;
}
