/**
 * Publisher: ships every durable record of a writer's group WAL to a JetStream stream, in
 * LSN order, for followers on other machines (follower.ts; docs/REPLICATION.md).
 *
 * What it reads: the group WAL's segment files below the durable mark
 * (readers/DURABLE, src/wal/durable-mark.ts), through a LogTail, like a live reader of
 * another process: nothing undurable or torn is ever shipped, and the writer's hot path is
 * untouched (the publisher costs it page-cache reads and its thread's publishes). It holds
 * a retained reader slot `retain-publisher-<stream>.reader` (src/engine/reader-slots.ts)
 * whose LSN is the first record the stream has not acknowledged: the writer keeps every
 * segment from there, across restarts of the publisher and of the writer itself, until
 * the slot holds more than `readerRetainBytesMax`. Then the slot is evicted, and the
 * publisher uploads a snapshot and continues from the stream's end if the stream already
 * holds the snapshot's LSN (nothing is published twice), else from the snapshot (followers
 * behind it get a ReplicationGapError and bootstrap again). A new slot claims the log from
 * its oldest segment, never from LSN 0 (that would count the whole history as held).
 * The slot claims no table (READS_NO_TABLES), from `start` on, whatever a slot left by an
 * earlier publisher claimed: a snapshot upload claims its tables in a slot of its own
 * (snapshot.ts), since every publisher of the stream shares this one. Two publishers of one
 * stream at once each rewrite it with their own acknowledged LSN; the one whose position the
 * other's rewrite gave up finds the log trimmed (LogTrimmedError) and goes on from a
 * snapshot, as after an eviction.
 *
 * Exactly once, in order, never forked: every message is published with
 * `expect.lastSequence` and `expect.lastMsgID` (the sequence and id of the message before
 * it) and an id naming its whole extent (stream-messages.ts), which JetStream also uses to
 * drop a repeat. So a message lands only right after the one this publisher believes is
 * last, and a repeat of the very message the stream holds there is acknowledged as a
 * duplicate at that sequence; any other outcome (a rejected expectation, a duplicate at
 * another sequence, a timeout, a lost server) stops the pipeline. Once every publish in
 * flight has settled, the publisher asks the stream where it ends (its last message's end
 * LSN, or piece) and continues from there: a record the stream took although its
 * acknowledgement was lost is not sent again, one it did not take is, and a second
 * publisher cutting runs differently cannot make this one skip what lies between. And
 * it continues only a stream of its own database: the stream's snapshots (at start) and
 * its last message (each time it goes on from the stream's end) must name this database's
 * id, which a salvage that gives up records renews (docs/RECOVERY.md), so that a stream
 * of the history before the salvage is never spliced with the one after it.
 *
 * Snapshots (snapshot.ts) are uploaded one at a time (`#snapshotChain`); the slot goes
 * back to READS_NO_TABLES after each, failed or not.
 *
 * Threads: the thread that started it (its LogTail, Core and connection are its own).
 * Invariants: `#acked` only grows and is a record boundary; the slot's LSN is never above
 * the first record the stream has not acknowledged.
 */
import { type JetStreamClient, jetstream, type JetStreamManager, type PubAck, StorageType } from "@nats-io/jetstream";
import { type ObjectStore, Objm, StorageType as ObjStorageType } from "@nats-io/obj";
import { headers } from "@nats-io/transport-node";
import { toolCore } from "../cli/database.ts";
import type { Core } from "../core/core.ts";
import type { Database } from "../engine/database.ts";
import { durableMarkPath, ReaderSlot } from "../engine/reader-slots.ts";
import { readManifest } from "../engine/manifest.ts";
import { TIMEOUT_MS_MAX } from "../engine/options.ts";
import { ClosedError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { readDurableMark } from "../wal/durable-mark.ts";
import { LogTail, LogTrimmedError } from "../wal/log-tail.ts";
import { checkCaughtUpArguments, checkStreamName, checkSubject, type HeldConnection, holdConnection, JETSTREAM_SETUP_TIMEOUT_MS, type NatsTarget, readyJetStream, retryTransient } from "./nats-connection.ts";
import { latestSnapshot, refuseAnotherDatabase, type SnapshotInfo, snapshotBucket, uploadSnapshot } from "./snapshot.ts";
import { checkStreamShape, DATABASE_HEADER, FRAME_HEADER_BYTES, lsnAfter, MESSAGE_BYTES_MAX, PARTS_MAX, PIECE_BYTES_MIN, PIECE_HEADER_ROOM_BYTES, pieceId, ReplicationError, runId, seqOfLsn, type StreamEnd, streamEnd, writeFrame } from "./stream-messages.ts";
import { listSegmentFiles } from "../wal/segment-files.ts";
import { RECORD_BYTES_MAX } from "../wal/format.ts";

const MIB = 1024 * 1024;
/** Message bytes awaiting acknowledgement, at most (besides inFlightMax). */
const IN_FLIGHT_BYTES_MAX = 32 * MIB;
/**
 * The retained slot's MANIFEST version outside a snapshot upload: the publisher reads no
 * table then, so it must hold none back (a slot at an old version would keep every table
 * compaction dropped since, and be evicted for it).
 */
const READS_NO_TABLES = Number.MAX_SAFE_INTEGER;

export interface PublisherOptions extends NatsTarget {
  /** JetStream stream name; created when missing (with `replicas`). */
  stream: string;
  /** Subject the records are published on. Default `shardline.<stream>`. */
  subject?: string;
  /** Replicas of the stream and the snapshot bucket when the publisher creates them. Default 3 (what NATS recommends for data you cannot lose). */
  replicas?: number;
  /** Publishes awaiting their acknowledgement, at most. Default 256; 1 to 65,536. */
  inFlightMax?: number;
  /** How often the durable mark is read while nothing new is durable, in ms. Default 2; 1 to 1,000. */
  pollIntervalMs?: number;
  /** A new snapshot after this many bytes of log were published since the last. Default 256 MiB; at least 1 MiB. */
  snapshotEveryBytes?: number;
  /** Wait for each publish's acknowledgement at most this long, in ms (then the publisher asks the stream where it ends and goes on from there). Default 2,000. */
  publishTimeoutMs?: number;
}

export interface PublisherStats {
  stream: string;
  subject: string;
  /** First LSN the stream has not acknowledged. */
  ackedLsn: number;
  /** The writer's durable mark at the last read. */
  durableLsn: number;
  /** Records and bytes (payload) acknowledged by the stream through this publisher, and the messages that carried them. */
  records: number;
  messages: number;
  bytes: number;
  /** Publishes the stream reported as duplicates (taken before). */
  duplicates: number;
  /** Times the pipeline stopped and resumed from the stream's end. */
  resumes: number;
  snapshots: number;
  lastSnapshotLsn: number | undefined;
  lastError: string | undefined;
}

interface InFlight {
  ack: Promise<PubAck>;
  /** The stream sequence it must land at. */
  seq: number;
  /** The LSN after the message's last record, or undefined for a piece that does not end one. */
  end: number | undefined;
  /** Records it ends, and their payload bytes. */
  records: number;
  payloadBytes: number;
  /** The message's size. */
  bytes: number;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}

/** Creates the stream when it does not exist; checks that an existing one takes the subject and no other (stream-messages.ts). */
async function ensureStream(jsm: JetStreamManager, stream: string, subject: string, replicas: number): Promise<void> {
  try {
    checkStreamShape(await jsm.streams.info(stream), subject);
    return;
  } catch (error) {
    if (error instanceof ReplicationError) throw error;
    if (!/not found/i.test((error as Error).message)) throw error;
  }
  await jsm.streams.add({ name: stream, subjects: [subject], num_replicas: replicas, storage: StorageType.File });
}

/**
 * The bytes of one message: the server's max_payload less room for headers, at most
 * MESSAGE_BYTES_MAX (what a follower's pull can take). A server whose
 * max_payload cannot carry the largest record in PARTS_MAX pieces is refused at start, not
 * retried for ever (every publish of a larger message would be rejected).
 */
function piecesFitting(maxPayload: number): number {
  const pieceBytes = Math.min(maxPayload - PIECE_HEADER_ROOM_BYTES, MESSAGE_BYTES_MAX);
  if (pieceBytes < PIECE_BYTES_MIN) {
    throw new ReplicationError(
      `the NATS server's max_payload is ${maxPayload} bytes: a publisher needs at least ${PIECE_BYTES_MIN + PIECE_HEADER_ROOM_BYTES} ` +
        `(a record of up to ${RECORD_BYTES_MAX} bytes in at most ${PARTS_MAX} messages, each with ${PIECE_HEADER_ROOM_BYTES} bytes of headers); raise max_payload`,
    );
  }
  return pieceBytes;
}

export class Publisher {
  readonly #slot: ReaderSlot;
  #tail: LogTail;
  /** First LSN the stream has not acknowledged. */
  #acked: number;
  #durable = 0;
  /** Sequence and id of the last message sent (or found in the stream). */
  #lastSeq = 0;
  #lastId: string | undefined;
  /** Next piece of the record at #tail's position to send (a record cut short by an earlier publisher resumes here). */
  #resumePart = 0;
  readonly #inFlight: InFlight[] = [];
  #inFlightBytes = 0;
  #closing = false;
  #done: Promise<void> = Promise.resolve();
  #stats: Omit<PublisherStats, "ackedLsn" | "durableLsn" | "stream" | "subject">;
  /** Where the log published since the last snapshot starts. */
  #snapshotAt = 0;
  #snapshotChain: Promise<unknown> = Promise.resolve();
  /** Why the publisher stopped publishing on its own (the stream forked), if it did. */
  #failure: ReplicationError | undefined;
  #slotWrittenAt = 0;
  #wake: (() => void) | undefined;
  /** Where a message's frames are gathered (pieceBytes). */
  #runBuffer: Uint8Array | undefined;

  private constructor(
    private readonly core: Core,
    private readonly platform: Platform,
    private readonly dir: string,
    private readonly held: HeldConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly store: ObjectStore,
    readonly stream: string,
    readonly subject: string,
    private readonly options: Required<Pick<PublisherOptions, "inFlightMax" | "pollIntervalMs" | "snapshotEveryBytes" | "publishTimeoutMs">>,
    slot: ReaderSlot,
    private readonly pieceBytes: number,
    /** The MANIFEST's databaseId, sent with every message (DATABASE_HEADER); undefined only for a MANIFEST without one. */
    private readonly databaseId: string | undefined,
  ) {
    if (typeof (core as { u32?: unknown } | undefined)?.u32 !== "object") throw new TypeError("Publisher has no public constructor: startPublisher(dir, options) gives one");
    this.#slot = slot;
    this.#acked = slot.record.lsn;
    this.#tail = new LogTail(core, platform, `${dir}/wal`, this.#acked, true);
    this.#stats = { records: 0, messages: 0, bytes: 0, duplicates: 0, resumes: 0, snapshots: 0, lastSnapshotLsn: undefined, lastError: undefined };
  }

  /** Starts publishing `db`'s durable records (db is the writer, in this process). */
  static async start(platform: Platform, db: Database, options: PublisherOptions): Promise<Publisher> {
    if (db.isReadOnly) throw new TypeError("a publisher needs the writer's handle; this one is readOnly (a follower's stream comes from its writer)");
    const stream = checkStreamName(options?.stream);
    const subject = checkSubject(options.subject, stream);
    const replicas = checkInteger("replicas", options.replicas ?? 3, 1, 5);
    const resolved = {
      inFlightMax: checkInteger("inFlightMax", options.inFlightMax ?? 256, 1, 65_536),
      pollIntervalMs: checkInteger("pollIntervalMs", options.pollIntervalMs ?? 2, 1, 1000),
      snapshotEveryBytes: checkInteger("snapshotEveryBytes", options.snapshotEveryBytes ?? 256 * MIB, MIB, Number.MAX_SAFE_INTEGER),
      publishTimeoutMs: checkInteger("publishTimeoutMs", options.publishTimeoutMs ?? 2000, 100, 600_000),
    };
    const held = await holdConnection(options, `shardline publisher ${stream}`);
    let core: Core | undefined;
    let slot: ReaderSlot | undefined;
    try {
      // Each setup request is retried while the cluster cannot answer yet (a server rejoining).
      const deadline = Date.now() + JETSTREAM_SETUP_TIMEOUT_MS;
      const jsm = await readyJetStream(held.nc);
      await retryTransient(deadline, () => ensureStream(jsm, stream, subject, replicas));
      const store = await retryTransient(deadline, () => new Objm(held.nc).create(snapshotBucket(stream), { replicas, storage: ObjStorageType.File }));
      core = await toolCore();
      const oldest = listSegmentFiles(platform, `${db.dir}/wal`)[0]?.firstLsn ?? 0;
      slot = ReaderSlot.retained(platform, db.dir, `publisher-${stream}`, oldest);
      const pieceBytes = piecesFitting(held.nc.info?.max_payload ?? MIB);
      const databaseId = readManifest(core, platform, db.dir)?.databaseId;
      const publisher = new Publisher(core, platform, db.dir, held, jetstream(held.nc), jsm, store, stream, subject, resolved, slot, pieceBytes, databaseId);
      const found = await retryTransient(deadline, () => latestSnapshot(store));
      if (found) refuseAnotherDatabase(databaseId, db.dir, stream, found.databaseId, "its snapshots are");
      const snapshot = found ?? (await publisher.#uploadSnapshot());
      // A publisher reads tables only while it uploads. A slot made just now claims every
      // table (version 0), and one left by a publisher killed mid-upload the version it
      // copied; left so, it would keep every table the writer drops from then on (a slot
      // rewritten as the stream moves is never old enough to be judged a laggard).
      if (!slot.evicted) slot.update(READS_NO_TABLES, slot.record.lsn);
      publisher.#stats.lastSnapshotLsn = snapshot.lsn;
      await publisher.#continueFromStream(snapshot.lsn, deadline);
      publisher.#snapshotAt = publisher.#acked;
      // Whatever escapes the loop stops it as its failure (caughtUp and snapshot throw it), never as a rejection no one hears.
      publisher.#done = publisher.#run().catch((error) => {
        publisher.#failure ??= error instanceof ReplicationError ? error : new ReplicationError(`publisher ${stream}: stopped: ${(error as Error)?.message ?? error}`, "SHARDLINE_REPLICATION", { cause: error });
      });
      return publisher;
    } catch (error) {
      if (slot?.createdNow) slot.discard(); // keeps nothing for a publisher that never started
      core?.detach();
      await held.release();
      throw error;
    }
  }

  stats(): PublisherStats {
    return { stream: this.stream, subject: this.subject, ackedLsn: this.#acked, durableLsn: this.#durable, ...this.#stats };
  }

  /** Resolves once the stream acknowledged every record below `lsn` (default: the durable mark now). */
  async caughtUp(lsn: number | bigint = readDurableMark(this.platform, durableMarkPath(this.dir)) ?? 0, timeoutMs = 30_000): Promise<void> {
    lsn = checkCaughtUpArguments(lsn, timeoutMs, TIMEOUT_MS_MAX);
    const deadline = Date.now() + timeoutMs;
    while (this.#acked < lsn) {
      if (this.#failure) throw this.#failure;
      if (this.#closing) throw new ClosedError("publisher");
      if (Date.now() > deadline) throw new ReplicationError(`publisher ${this.stream}: the stream acknowledged up to LSN ${this.#acked}, not ${lsn}, within ${timeoutMs} ms (last error: ${this.#stats.lastError ?? "none"})`);
      await sleep(2);
    }
  }

  /** Uploads a snapshot now (the next follower starts from it; the stream is purged below the one before). */
  async snapshot(): Promise<SnapshotInfo> {
    if (this.#closing) throw new ClosedError("publisher");
    if (this.#failure) throw this.#failure;
    const snapshot = await this.#uploadSnapshot();
    this.#snapshotAt = Math.max(this.#acked, snapshot.lsn);
    if (snapshot.previousLsn !== undefined) await this.#purgeBelow(snapshot.previousLsn);
    return snapshot;
  }

  /**
   * Stops publishing (what is in flight settles first). The retained slot stays, so the
   * next publisher of this stream resumes where this one stopped; with `forget: true` it
   * is deleted and the writer keeps nothing more for this stream.
   */
  async close(options: { forget?: boolean } = {}): Promise<void> {
    if (!this.#closing) {
      this.#closing = true;
      this.#wake?.();
    }
    await this.#done;
    await this.#snapshotChain.catch(() => {});
    if (options.forget) this.#slot.discard();
    else this.#slot.release();
    this.#tail.close();
    this.core.detach();
    await this.held.release();
  }

  /** Uploads a snapshot, one at a time; the slot claims no table afterwards, whatever happened. */
  #uploadSnapshot(): Promise<SnapshotInfo> {
    const upload = this.#snapshotChain.catch(() => {}).then(async () => {
      try {
        const snapshot = await uploadSnapshot(this.core, this.platform, this.dir, this.store, this.stream);
        this.#stats.snapshots++;
        this.#stats.lastSnapshotLsn = snapshot.lsn;
        return snapshot;
      } finally {
        // Never below where the slot is: after an eviction it was reclaimed at the log's
        // oldest segment while #acked still names the trimmed records before it, and a slot
        // below the log's start counts the whole gap as held (evicted again at once).
        if (!this.#slot.evicted) this.#slot.update(READS_NO_TABLES, Math.max(this.#acked, this.#slot.record.lsn));
      }
    });
    this.#snapshotChain = upload;
    return upload;
  }

  /** Removes the stream's messages below `lsn` (no follower bootstraps from before it). */
  async #purgeBelow(lsn: number): Promise<void> {
    let seq: number | undefined;
    try {
      seq = await seqOfLsn(this.jsm, this.stream, this.subject, lsn);
    } catch {
      return; // already gone: nothing to purge
    }
    if (seq !== undefined && seq > 1) await this.jsm.streams.purge(this.stream, { seq });
  }

  /**
   * Pumps until closed. After a failed publish the tail has read past records the stream
   * may lack, so the next pump waits for a recovery (a resume from the stream's end, or a
   * snapshot) to succeed: one that failed (NATS down) is tried again, with the backoff,
   * before anything is pumped. It was tried once, and a failure left the tail past the
   * lost records: a quiet writer's last records never reached the stream (review, 2026-12-06).
   */
  async #run(): Promise<void> {
    let backoffMs = 50;
    let recovery: "resume" | "snapshot" | undefined;
    while (!this.#closing) {
      try {
        if (recovery === "snapshot") await this.#restartFromSnapshot();
        else if (recovery === "resume") await this.#resume();
        recovery = undefined;
        await this.#pump();
        backoffMs = 50;
      } catch (error) {
        if (error instanceof ClosedError) break;
        this.#stats.lastError = (error as Error).message;
        // A stream of another database (or of this one's history before a salvage) stays
        // so, as does a stream that takes other subjects: stop, and say why (caughtUp
        // rejects with it), instead of retrying for ever.
        if (error instanceof ReplicationError && (error.code === "SHARDLINE_REPLICATION_FORK" || error.code === "SHARDLINE_REPLICATION_STREAM")) {
          this.#failure = error;
          break;
        }
        await this.#settleInFlight();
        recovery = error instanceof LogTrimmedError || this.#slotEvicted() ? "snapshot" : (recovery ?? "resume");
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, 5000);
      }
    }
    await this.#settleInFlight();
  }

  /**
   * Whether the writer evicted the retained slot; false when that cannot be told (the stat
   * failed as the pump did: a dead disk): the retry finds out. Before, that stat's error
   * escaped #run's handler and the loop ended in an unhandled rejection (review, 2026-12-08).
   */
  #slotEvicted(): boolean {
    try {
      return this.#slot.evicted;
    } catch {
      return false;
    }
  }

  /** Reads what is durable and publishes it, until nothing is new; then waits a poll interval. */
  async #pump(): Promise<void> {
    const mark = readDurableMark(this.platform, durableMarkPath(this.dir)) ?? 0;
    if (mark > this.#durable) this.#durable = mark;
    if (this.#tail.next >= this.#durable) {
      await this.#drainAcks(0);
      this.#storeSlot(false);
      if (this.#acked - this.#snapshotAt >= this.options.snapshotEveryBytes) await this.snapshot();
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, this.options.pollIntervalMs);
      });
      return;
    }
    // Records gather into one message (a run of frames) up to pieceBytes; a record whose
    // frame alone is larger goes in pieces.
    const run = (this.#runBuffer ??= new Uint8Array(this.pieceBytes));
    let runBytes = 0;
    let runLsn = 0;
    let runRecords = 0;
    let runPayloadBytes = 0;
    let runEnd = 0;
    const sendRun = async () => {
      if (runRecords === 0) return;
      this.#send(run.slice(0, runBytes), runId(runLsn, runEnd), runEnd, runRecords, runPayloadBytes);
      runBytes = runRecords = runPayloadBytes = 0;
      if (this.#full) await this.#drainAcks(this.options.inFlightMax >> 1, IN_FLIGHT_BYTES_MAX / 2);
    };
    for (const record of this.#tail.read(this.#durable)) {
      if (this.#closing) throw new ClosedError("publisher");
      const payload = record.payload!;
      const crc = this.core.crc32c(payload);
      const frameBytes = FRAME_HEADER_BYTES + payload.length;
      const end = lsnAfter(record.lsn, payload.length);
      const resumePart = this.#resumePart;
      this.#resumePart = 0;
      if (frameBytes > this.pieceBytes) {
        await sendRun();
        const frame = new Uint8Array(frameBytes);
        writeFrame(frame, 0, payload, crc);
        const parts = Math.ceil(frameBytes / this.pieceBytes);
        if (parts > PARTS_MAX) throw new ReplicationError(`the record at LSN ${record.lsn} needs ${parts} pieces of ${this.pieceBytes} bytes (at most ${PARTS_MAX}): raise the server's max_payload`);
        for (let part = resumePart; part < parts; part++) {
          const piece = frame.subarray(part * this.pieceBytes, Math.min(frameBytes, (part + 1) * this.pieceBytes));
          const last = part + 1 === parts;
          this.#send(piece.slice(), pieceId(record.lsn, part, parts), last ? end : undefined, last ? 1 : 0, last ? payload.length : 0);
          if (this.#full) await this.#drainAcks(this.options.inFlightMax >> 1, IN_FLIGHT_BYTES_MAX / 2);
        }
      } else {
        if (resumePart !== 0) throw new ReplicationError(`the stream ends inside the record at LSN ${record.lsn} (piece ${resumePart}), but it fits one message of ${this.pieceBytes} bytes here: the servers' max_payload changed`);
        if (runBytes + frameBytes > this.pieceBytes) await sendRun();
        if (runRecords === 0) runLsn = record.lsn;
        runBytes = writeFrame(run, runBytes, payload, crc);
        runRecords++;
        runPayloadBytes += payload.length;
        runEnd = end;
      }
      this.#storeSlot(false);
    }
    await sendRun();
  }

  #send(data: Uint8Array, id: string, end: number | undefined, records: number, payloadBytes: number): void {
    const expect: { lastSequence: number; lastMsgID?: string } = { lastSequence: this.#lastSeq };
    if (this.#lastId !== undefined) expect.lastMsgID = this.#lastId;
    this.#lastSeq++;
    this.#lastId = id;
    // A fresh headers object per message: publish adds the id and expectations to it.
    const h = headers();
    if (this.databaseId !== undefined) h.set(DATABASE_HEADER, this.databaseId);
    const ack = this.js.publish(this.subject, data, { msgID: id, expect, headers: h, timeout: this.options.publishTimeoutMs });
    ack.catch(() => {}); // judged in order by #drainAcks
    this.#inFlight.push({ ack, seq: this.#lastSeq, end, records, payloadBytes, bytes: data.length });
    this.#inFlightBytes += data.length;
  }

  /** Too much awaits acknowledgement: by count (inFlightMax) or by bytes (IN_FLIGHT_BYTES_MAX). */
  get #full(): boolean {
    return this.#inFlight.length >= this.options.inFlightMax || this.#inFlightBytes >= IN_FLIGHT_BYTES_MAX;
  }

  /** Awaits acknowledgements, oldest first, until at most `left` messages and `leftBytes` bytes are in flight. */
  async #drainAcks(left: number, leftBytes = 0): Promise<void> {
    while (this.#inFlight.length > left || (this.#inFlight.length > 0 && this.#inFlightBytes > leftBytes)) {
      const first = this.#inFlight[0];
      const ack = await first.ack;
      // A duplicate is the very message the stream already holds where this one was to go
      // (an earlier attempt landed); one at another sequence means the stream moved on.
      if (ack.seq !== first.seq) throw new ReplicationError(`stream ${this.stream}: a message meant for sequence ${first.seq} was acknowledged at ${ack.seq}${ack.duplicate ? " as a duplicate" : ""}`);
      this.#inFlight.shift();
      this.#inFlightBytes -= first.bytes;
      if (ack.duplicate) this.#stats.duplicates++;
      this.#stats.messages++;
      if (first.end !== undefined) {
        this.#acked = first.end;
        this.#stats.records += first.records;
        this.#stats.bytes += first.payloadBytes;
      }
    }
  }

  async #settleInFlight(): Promise<void> {
    try {
      await this.#drainAcks(0);
    } catch {
      await Promise.allSettled(this.#inFlight.map((f) => f.ack));
      this.#inFlight.length = 0;
      this.#inFlightBytes = 0;
    }
  }

  /** Takes the stream's end as where to go on (an empty stream: from `emptyFrom`); transient failures are retried until `deadline` (0: not retried). */
  async #continueFromStream(emptyFrom: number, deadline = 0): Promise<void> {
    this.#continueFrom(await retryTransient(deadline, () => streamEnd(this.jsm, this.stream, this.subject)), emptyFrom);
  }

  /** Goes on from `end`, the stream's end as read: after its last whole record, or at the next piece of one cut short. */
  #continueFrom(end: StreamEnd, emptyFrom: number): void {
    // The stream's last message names its database: another's (a stream name reused with
    // its snapshot bucket gone, or this one's history before a salvage) is never continued.
    refuseAnotherDatabase(this.databaseId, this.dir, this.stream, end.databaseId, "its last message is");
    // The stream lost the first pieces of its last record (a purge by hand or a limit of
    // the stream): where that record ends is in this writer's log, not in the stream.
    if (end.startLost) {
      this.#goOn(end, this.#recordEnd(end.last!.lsn), 0);
      return;
    }
    const cutShort = end.last !== undefined && end.nextLsn === undefined;
    this.#goOn(end, end.nextLsn ?? end.last?.lsn ?? emptyFrom, cutShort ? end.last!.part + 1 : 0);
  }

  /** The LSN after the record at `lsn` in this writer's log (LogTrimmedError when the log no longer holds it: the publisher then starts from a snapshot). */
  #recordEnd(lsn: number): number {
    const durable = readDurableMark(this.platform, durableMarkPath(this.dir)) ?? 0;
    const tail = new LogTail(this.core, this.platform, `${this.dir}/wal`, lsn, true);
    try {
      for (const record of tail.read(durable, "view")) {
        if (record.lsn === lsn) return tail.next;
        break;
      }
    } finally {
      tail.close();
    }
    throw new ReplicationError(`stream ${this.stream}: its last record, at LSN ${lsn}, is not a durable record of the log in ${this.dir}/wal`, "SHARDLINE_REPLICATION_FORK");
  }

  /** Publishes next after `end` (the stream's last message as read): the log from LSN `from`, starting at piece `part` of the record there. */
  #goOn(end: StreamEnd, from: number, part: number): void {
    this.#lastSeq = end.seq;
    this.#lastId = end.lastId;
    this.#resumePart = part;
    this.#acked = from;
    this.#tail.close();
    this.#tail = new LogTail(this.core, this.platform, `${this.dir}/wal`, from, true);
    this.#storeSlot(true);
  }

  /** Continues from where the stream ends (after a failed publish). */
  async #resume(): Promise<void> {
    this.#stats.resumes++;
    await this.#continueFromStream(this.#acked);
  }

  /** The log no longer holds the next record: upload a snapshot and publish from its LSN. */
  async #restartFromSnapshot(): Promise<void> {
    const oldest = listSegmentFiles(this.platform, `${this.dir}/wal`)[0]?.firstLsn ?? 0;
    if (this.#slot.evicted) this.#slot.reclaim(oldest);
    const snapshot = await this.#uploadSnapshot();
    const end = await streamEnd(this.jsm, this.stream, this.subject);
    this.#snapshotAt = snapshot.lsn;
    const streamAt = end.nextLsn ?? end.last?.lsn;
    if (streamAt !== undefined && streamAt >= snapshot.lsn) {
      // The stream already holds the snapshot's LSN and more (an evicted slot does not mean
      // the stream is behind): go on from its end. Jumping back to the snapshot's LSN would
      // publish those records again. The log holds the stream's end: it holds everything
      // from the checkpoint on, and the snapshot's LSN is at least the checkpoint it read.
      this.#continueFrom(end, snapshot.lsn);
      return;
    }
    // The stream ends below the snapshot: the log no longer holds what lies between, so
    // it continues from the snapshot (followers behind it stop with ReplicationGapError;
    // new ones start from the snapshot).
    this.#goOn(end, snapshot.lsn, 0);
  }

  /** Moves the slot to the first unacknowledged LSN (at most every 100 ms unless `now`). */
  #storeSlot(now: boolean): void {
    const t = Date.now();
    if (!now && t - this.#slotWrittenAt < 100) return;
    this.#slotWrittenAt = t;
    if (this.#slot.evicted) throw new LogTrimmedError(this.#acked, undefined);
    this.#slot.update(this.#slot.record.manifestVersion, this.#acked);
  }

  /** Why the publisher stopped on its own, if it did: the stream became another database's (SHARDLINE_REPLICATION_FORK), or took other subjects (SHARDLINE_REPLICATION_STREAM). */
  get failure(): ReplicationError | undefined {
    return this.#failure;
  }

  /** Settles when the publisher stopped (after close, or on its own: `failure`). */
  get done(): Promise<void> {
    return this.#done;
  }
}
