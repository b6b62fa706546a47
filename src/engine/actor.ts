/**
 * The actor: the single writer behind every shard (worker role "actor"). One thread
 * hosts the actors of all shards.
 *
 * Channel path (requests arrive in the request ring, src/engine/channel.ts):
 *   take every published request; give each operation its shard's next commit timestamp;
 *   reserve one record in the group WAL ring for the group (more when it exceeds the
 *   ring's record limit), write the operations into it, insert every operation into its
 *   shard's active memtable with seq = the record's LSN, publish the record; reply.
 *   (Change feeds read these records from the log, like everyone else's: change-feed.ts.)
 * The group WAL is the only log written: a channel group is a record like a fast-path
 * batch, so its writes become visible together once the record is durable ("full") or
 * published ("async"), and the durability worker syncs it with everyone else's records;
 * the requester waits for durability as a fast-path writer does (database.ts #durable).
 * Partition logs (shard-NNN/) of databases written before are replayed at open and
 * trimmed as their operations reach tables; nothing appends to them any more.
 *
 * Large batches (#commitLarge): logged as fragments, committed under one held commit
 * record, inserted meanwhile into private memtables. Nothing under the held record may fail
 * for room (it would fail the database for a batch that could have been refused): step 1
 * takes, before anything is logged, each shard's private memtable sized by ArenaNeed
 * (src/core/memtable.ts: the core allocator's worst case for those versions, on condition
 * that this thread keeps the memtable's splice slot from its first insert to its last,
 * which inserting in passes of at most SPLICE_SLOTS shards ensures) and the fresh memtable
 * that follows it, or refuses the batch.
 * Arena sizes: private memtables are memtableBytes x 4^k (k >= 0, at most 1 GiB: ArenaNeed
 * never exceeds 1 GiB within the batch limits), so an arena is at most 4 times its need
 * and few sizes come and go. (They were 4 MiB x 4^k: with 64 KiB memtables a need just
 * over one took 4 MiB, and a batch within the limits over 256 shards asked for 1 GiB of
 * arenas, more than the memory, and was refused with MemoryFullError for good: review of
 * the limits, 2026-12-06.) A freed arena goes to the core's free list,
 * merged with the free blocks it touches, and serves any later size (assembly/heap.ts:
 * memtables freed after a held scan make room for a batch's arena,
 * tests/engine/large-batch-after-held-scan.test.ts).
 *
 * Background (between groups, when idle): freeze a shard's memtable once it is 3/4 full,
 * or the one holding the oldest logged record once the log kept for memtables passes
 * LOG_HELD_MEMTABLES_MAX x their total size (#freezeLogHolder: a quiet shard otherwise kept
 * the whole log); merge tables first when a tier holds 2 x fan-in runs; flush frozen
 * memtables to tables, the one holding the oldest record first, whatever its shard (each
 * flush then trims the log segments below the new checkpoints, flush.ts); merge tables
 * (compaction.ts); reuse arenas no reader can be in. The freeze for the log takes a
 * memtable that holds a durable record (held > 0), never the large batch's private one
 * under its held record (those are frozen from the start), and the fresh memtable that
 * replaces it holds nothing logged, so it cannot be chosen again before it takes writes.
 *
 * Failure: any failed write or sync (partition, table, manifest) fails the database: the
 * shared state and the group ring go FAILED, every waiting and later request gets
 * FAILED, and nothing is retried. A shared memory full of arenas that open scans still
 * hold is not a failure: a commit reserves the memtables its freezes may need before it
 * logs anything (#roomFor, from an upper bound on its nodes' arena bytes), flushing frozen
 * memtables while the memory is full (#withMemory), and is refused with MEMORY_FULL only
 * when none is left to flush and reads still hold the arenas; while it commits, fast-path
 * writers are kept out of its shards (SHARD_OWNER_COMMITTING), so that nobody else fills
 * the room it counted; the background's freeze waits for room (#freezeIfRoom).
 *
 * Threads: a pooled worker thread, which may run other databases' actors too
 * (src/worker-pool.ts): it waits for requests through jobIdle (Atomics.wait alone on its
 * thread, Atomics.waitAsync when shared) and hands the thread over between steps through
 * jobTurn. Its other waits (ring room, a flush's durability) are synchronous: they wait for
 * a durability worker, which never runs on an actor's thread.
 */
import { Core, CoreError } from "../core/core.ts";
import { MemoryFullError, ShardlineError } from "../errors.ts";
import { ArenaNeed, Memtable, SPLICE_SLOTS } from "../core/memtable.ts";
import type { ParentPort, Platform, WorkerInit } from "../platform.ts";
import { type FaultPlan, withFaults } from "../platform-faults.ts";
import { BlockCache } from "../table/block-cache.ts";
import { FailCode, RECORD_HEADER_BYTES, recordBytes, Ring, RingState, WalStatus } from "../wal/format.ts";
import { RingView } from "../wal/ring.ts";
import { registerWorkerRole } from "../worker-main.ts";
import { jobIdle, jobTurn } from "../worker-pool.ts";
import { askLetGo, NO_REPLY_SLOT, PART_HEADER_BYTES, PART_LAST, ReplyStatus, REQUEST_KIND_BATCH_PART, REQUEST_PREFIX_BYTES, writeReply } from "./channel.ts";
import { COMPACTION_FAN_IN, mergeTables, pickCompaction, pickDeletesMerge } from "./compaction.ts";
import { ReaderRetention } from "./reader-slots.ts";
import { awaitDurableBeyond, flushShard, type FlushEnv, publishManifest } from "./flush.ts";
import type { ManifestData, TableRecord } from "./manifest.ts";
import { FROZEN_MAX, MemtableManager, waitUntil } from "./memtables.ts";
import { LINK_POLL_MS, LinkPacer } from "./link-pacer.ts";
import { PagesAhead } from "./pages-ahead.ts";
import { MEMTABLE_BYTES_MAX as MEMTABLE_ARENA_BYTES_MAX } from "./options.ts";
import { BATCH_LOG_BYTES_MAX, BATCH_OPS_MAX } from "./options.ts";
import { type BatchCommit, decodeOwnedRecord, encodeCommit, encodeOperations, forEachOperation, isOperationsRecord, KIND_FRAGMENT, KIND_OPERATIONS, type Operation, OP_PUT, operationBytes, RECORD_PREFIX_BYTES } from "./records.ts";
import { DbState, EngineShared } from "./shared-state.ts";

export interface ActorArgs {
  dir: string;
  shared: number;
  memtableBytes: number;
  /** Each legacy partition log's end (next LSN), as recovery found it: nothing appends to them. */
  partitionEnds: number[];
  /** The opener's blockCacheBytesMax; the actor's own cache is at most ACTOR_CACHE_BYTES_MAX of it. */
  cacheBytesMax: number;
  /** Memtables handed over by the opener: their shard and partition LSN minimums. */
  memtables: Array<{ address: number; shard: number; partitionMins: Array<[number, number]> }>;
  manifest: ManifestData;
  /** How much one live reader in another process may keep from deletion (reader-slots.ts). */
  readerRetainBytesMax: number;
  /**
   * At close, flush every memtable into tables first (a follower's checkpoint,
   * src/replicate/follower.ts: its log then needs no replay below the new checkpoint).
   */
  flushOnClose?: boolean;
  /** For tests: fail the actor's n-th write or sync (src/platform-faults.ts). */
  faults?: FaultPlan;
}

export type ActorMessage =
  | { type: "ready" }
  | { type: "failed"; message: string; code: string }
  | { type: "closed" };

/** Freeze a memtable once this much of it is used, before writers find it full. */
const FREEZE_FRACTION = 0.75;
/**
 * The group WAL is kept from the oldest record an unflushed memtable holds. Past this many
 * times the memtables' total size of log kept, the memtable holding that record is frozen
 * and flushed even if nearly empty: a shard written once and then left quiet kept every
 * segment written since, and each open replayed all of it (review, 2026-12-06; RocksDB's
 * max_total_wal_size does the same). Uniform load keeps about 1x behind the checkpoint.
 */
const LOG_HELD_MEMTABLES_MAX = 2;
const IDLE_WAIT_MS = 20;
/** How long a write that found the memory full of held arenas waits for its thread to answer a let-go request (#withMemory). */
const LET_GO_WAIT_MS = 100;
/** The actor's block cache at most: it reads tables only for compaction, each block once. */
const ACTOR_CACHE_BYTES_MAX = 8 * 1024 * 1024;
const U64_MAX = 0xffff_ffff_ffff_ffffn;

interface Request {
  slot: number;
  threadBlock: number;
  ops: Operation[];
  /** A large batch's part (request kind 2): its index, whether it is the last, its operations record. */
  part?: { index: number; last: boolean; record: Uint8Array };
  /** Set by #reply: a request is answered once (its thread may reuse the slot right after). */
  replied?: boolean;
}

/** A large batch whose parts are arriving (one per requesting thread). */
interface LargeBatch {
  next: number;
  /** Its parts' operations records (own copies, timestamps 0): the fragments to log. */
  records: Uint8Array[];
  ops: number;
  bytes: number;
  /** ReplyStatus.OK, or why the batch is refused once its last part arrives. */
  status: number;
}

/** What #commitLarge keeps per shard of a large batch. */
interface LargeBatchShard {
  ops: number;
  /** Memtable room its versions need at most (src/core/memtable.ts ArenaNeed). */
  need: ArenaNeed;
  /** The private memtable its versions go into, and the empty one that follows it. */
  mt: number;
  fresh: number;
  /** The next timestamp to give (from the shard's take). */
  ts: bigint;
}


class Actor implements FlushEnv {
  readonly dir: string;
  readonly shared: EngineShared;
  readonly group: RingView;
  readonly requests: RingView;
  readonly memtables: MemtableManager;
  readonly cache: BlockCache;
  readonly retention: ReaderRetention;
  manifest: ManifestData;
  #failed = false;
  /** Maps the writers' next pages (pages-ahead.ts); none under durability "full" (see #background). */
  readonly #pagesAhead: PagesAhead | undefined;
  /** When the nodes fast-path writers handed in are linked (link-pacer.ts). */
  readonly #linker: LinkPacer;
  /** The LSN of the group-WAL record this thread reserved and has not yet published, or -1. */
  #heldRecord = -1;

  constructor(
    readonly platform: Platform,
    readonly core: Core,
    readonly args: ActorArgs,
    readonly port: ParentPort,
  ) {
    this.shared = new EngineShared(core, args.shared);
    this.group = new RingView(core, this.shared.groupRing);
    this.requests = new RingView(core, this.shared.requestRing);
    this.memtables = new MemtableManager(core, platform, args.dir, this.shared, args.memtableBytes);
    for (const m of args.memtables) this.memtables.info.set(m.address, { shard: m.shard, partitionMins: new Map(m.partitionMins) });
    // The actor reads tables only to merge them, each block once in order: the cache serves
    // as the inputs' current blocks and a pool of buffers, which 8 MiB holds many times over.
    // Readers' caches are larger (32 MiB by default) because their hits repeat.
    this.cache = new BlockCache({ cacheBytesMax: Math.min(args.cacheBytesMax, ACTOR_CACHE_BYTES_MAX) });
    this.manifest = args.manifest;
    this.dir = args.dir;
    this.retention = new ReaderRetention(platform, args.dir, args.readerRetainBytesMax, args.manifest, (bytes) => core.crc32c(bytes));
    this.#pagesAhead = this.shared.durabilityFull ? undefined : new PagesAhead(core, this.shared.shards, this.group);
    this.#linker = new LinkPacer(core.exports, this.shared.shards);
  }

  groupDurable(): number {
    return this.group.durableLsn;
  }

  /**
   * A flush's wait for durability. Under a held record the log cannot become durable past
   * it, so waiting for a version at or beyond it would never end: #ensureRoom makes that
   * unreachable, and should it happen anyway (fast-path writers filling several memtables
   * during one commit), the database fails with an error instead of hanging.
   */
  awaitGroupDurable(seq: number): void {
    if (this.#heldRecord >= 0 && seq >= this.#heldRecord) {
      throw new ShardlineError(`a flush during a channel commit needs versions past the commit's own record (LSN ${this.#heldRecord}) to be durable; too many memtables filled during one commit`, "SHARDLINE_INTERNAL");
    }
    awaitDurableBeyond(this.group, seq);
  }

  /** Each legacy partition log's end, for its checkpoint (nothing appends to them). */
  partitionEnds(): number[] {
    return this.args.partitionEnds;
  }

  async run(): Promise<void> {
    const i32 = this.requests.i32;
    const wakeIndex = this.requests.index(Ring.WAKE_SEQ);
    const sleepingIndex = this.requests.index(Ring.WORKER_SLEEPING);
    for (;;) {
      const turn = jobTurn();
      if (turn) await turn;
      const from = this.requests.drainTail;
      const to = Number(this.core.exports.walScan(this.requests.ring, BigInt(from), BigInt(from + this.requests.capacity)));
      if (to > from) {
        this.#handleRequests(from, to);
        continue;
      }
      const state = this.shared.state;
      // Closed only if no sender reserved past `from` meanwhile (walCloseDrained: its
      // compare-exchange refuses every later request, which gets ClosedError).
      if (state !== DbState.OPEN && this.requests.reserveHead === from && this.core.exports.walCloseDrained(this.requests.ring, BigInt(from)) === 1) return this.#close();
      // A failed actor stays: it answers what is still in its ring with FAILED until close.
      if (!this.#failed && this.#background()) continue;
      const seq = Atomics.load(i32, wakeIndex);
      Atomics.store(i32, sleepingIndex, 1);
      if (Number(this.core.exports.walScan(this.requests.ring, BigInt(from), BigInt(from + this.requests.capacity))) === from) {
        const wait = jobIdle(i32, wakeIndex, seq, this.#idleMs());
        if (wait) await wait;
      }
      Atomics.store(i32, sleepingIndex, 0);
    }
  }

  /** How long to sleep when there is no request: shorter while pages are mapped ahead or deferred nodes wait to be linked. */
  #idleMs(): number {
    if (this.#failed) return IDLE_WAIT_MS;
    const ms = this.#pagesAhead?.pollMs(IDLE_WAIT_MS) ?? IDLE_WAIT_MS;
    return this.#linker.pending() > 0 ? Math.min(ms, LINK_POLL_MS) : ms;
  }

  #close(): void {
    if (this.args.flushOnClose && !this.#failed) this.#flushAll();
    this.requests.setState(RingState.CLOSED);
    if (this.shared.state === DbState.CLOSING) this.shared.state = DbState.CLOSED;
    this.shared.markActorStopped();
    this.port.postMessage({ type: "closed" } satisfies ActorMessage);
  }

  // ---- the channel path ------------------------------------------------------------

  #decode(payload: Uint8Array): Request | undefined {
    if (payload.length < REQUEST_PREFIX_BYTES || payload[0] !== 1) return undefined;
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const slot = view.getUint16(2, true);
    const threadBlock = view.getUint32(4, true);
    if (payload[1] === REQUEST_KIND_BATCH_PART) return this.#decodePart(payload, view, slot, threadBlock);
    try {
      // Views: `payload` is this request's own copy out of the ring (RingView.payloads).
      const record = decodeOwnedRecord(payload.subarray(REQUEST_PREFIX_BYTES));
      if (record.kind !== KIND_OPERATIONS) return undefined;
      for (const op of record.ops) if (op.shard >= this.shared.shards) return undefined;
      return { slot, threadBlock, ops: record.ops };
    } catch {
      return { slot, threadBlock, ops: [] };
    }
  }

  /** A batch part: its operations record is checked and copied (the ring's space is released next). */
  #decodePart(payload: Uint8Array, view: DataView, slot: number, threadBlock: number): Request {
    const bad: Request = { slot, threadBlock, ops: [] };
    if (payload.length < REQUEST_PREFIX_BYTES + PART_HEADER_BYTES) return bad;
    const record = payload.slice(REQUEST_PREFIX_BYTES + PART_HEADER_BYTES);
    if (!isOperationsRecord(record, this.shared.shards) || record.length === RECORD_PREFIX_BYTES) return bad;
    const index = view.getUint32(REQUEST_PREFIX_BYTES, true);
    const last = (view.getUint32(REQUEST_PREFIX_BYTES + 4, true) & PART_LAST) !== 0;
    return { slot, threadBlock, ops: [], part: { index, last, record } };
  }

  /**
   * Takes the published requests in ring order: writes are committed in groups, and a
   * large batch when its last part arrives, after the writes before it (so each thread's
   * writes apply in the order it sent them).
   */
  #handleRequests(from: number, to: number): void {
    const items = this.requests.payloads(from, to);
    if (this.core.exports.walRelease(this.requests.ring, BigInt(to)) !== WalStatus.OK) throw new Error(`releasing the request ring up to ${to} refused (drain tail ${this.requests.drainTail})`);
    let requests: Request[] = [];
    for (const { payload } of items) {
      const request = this.#decode(payload);
      if (!request) continue; // not even a reply address: nothing to answer
      if (payload[1] === REQUEST_KIND_BATCH_PART) {
        const batch = this.#addPart(request);
        if (batch) {
          this.#commitGroup(requests);
          requests = [];
          this.#commitLarge(request, batch);
        }
        continue;
      }
      if (request.ops.length === 0 || this.#failed) {
        this.#reply(request, this.#failed ? ReplyStatus.FAILED : ReplyStatus.BAD_REQUEST, 0n, 0);
        continue;
      }
      requests.push(request);
    }
    this.#commitGroup(requests);
  }

  #commitGroup(requests: Request[]): void {
    if (requests.length === 0) return;
    try {
      for (const chunk of this.#chunks(requests)) this.#commit(chunk);
    } catch (error) {
      this.#fail(error);
      // Only the requests not answered yet: those of chunks committed before the failure
      // were answered, and their threads may already wait on those slots for later requests.
      for (const r of requests) if (!r.replied) this.#reply(r, ReplyStatus.FAILED, 0n, 0);
    }
  }

  // ---- large batches (docs/ENGINE.md, "Large atomic batches") -------------------------

  /** Large batches whose parts are arriving, by requesting thread (its ThreadBlock). */
  readonly #largeBatches = new Map<number, LargeBatch>();

  /**
   * Adds a part to its thread's batch; returns the batch when this was the last part. A
   * part out of order, malformed or over the limits spoils the batch (refused at its last
   * part); a part 0 starts a new one (a thread that died between parts left an old one).
   */
  #addPart(r: Request): LargeBatch | undefined {
    const part = r.part;
    let batch = this.#largeBatches.get(r.threadBlock);
    if (part?.index === 0 || !batch) {
      batch = { next: 0, records: [], ops: 0, bytes: 0, status: ReplyStatus.OK };
      this.#largeBatches.set(r.threadBlock, batch);
    }
    if (!part || part.index !== batch.next) batch.status = ReplyStatus.BAD_REQUEST;
    if (batch.status === ReplyStatus.OK && part) {
      batch.next++;
      batch.records.push(part.record);
      batch.ops += new DataView(part.record.buffer, part.record.byteOffset).getUint32(4, true);
      batch.bytes += part.record.length;
      if (batch.ops > BATCH_OPS_MAX || batch.bytes > BATCH_LOG_BYTES_MAX) batch.status = ReplyStatus.TOO_LARGE;
    }
    if (batch.status !== ReplyStatus.OK) batch.records = [];
    if (r.slot === NO_REPLY_SLOT) return undefined;
    this.#largeBatches.delete(r.threadBlock);
    return batch;
  }

  /**
   * Commits a large batch atomically (the last part's request `r` gets the reply):
   * 1. per shard, a private memtable big enough for all the batch's versions there (no
   *    thread can see it), and two free places in the shard's frozen list, flushing first
   *    if needed (nothing is held yet, so a flush can wait for durability);
   * 2. the parts as fragment records in the group WAL, published one by one (the log's
   *    durability worker drains them like any record: a batch may exceed the ring);
   * 3. each shard's timestamps in one take (all shards' takes in one takeSeq section,
   *    shared-state.ts, so a change feed starts before all of them or after all of them),
   *    then the commit record reserved at LSN C and written, not published;
   * 4. every version inserted into its private memtable with seq = C, which is noted as
   *    holding the first fragment's LSN (so checkpoints stay at or below it until flushed);
   * 5. each private memtable installed as its shard's newest frozen one;
   * 6. the commit record published.
   * Readers see none of it before 6 (seq C is not below the visible point until the commit
   * record is published, "async", or durable, "full"), and all of it after; a crash before
   * the commit record is durable loses all of it (replay applies fragments only with their
   * commit: batch-assembler.ts). Nothing here flushes while C is held (step 1 made room).
   */
  #commitLarge(r: Request, batch: LargeBatch): void {
    if (this.#failed || batch.status !== ReplyStatus.OK) return this.#reply(r, this.#failed ? ReplyStatus.FAILED : batch.status, 0n, 0);
    const shards = new Map<number, LargeBatchShard>();
    for (const record of batch.records) {
      forEachOperation(record, (_type, shard, key, value) => {
        const s = shards.get(shard) ?? { ops: 0, need: new ArenaNeed(), mt: 0, fresh: 0, ts: 0n };
        s.ops++;
        s.need.add(key.length, value?.length);
        shards.set(shard, s);
      });
    }
    try {
      const refusal = this.#largeBatchArenas(shards, r);
      if (refusal !== ReplyStatus.OK) return this.#reply(r, refusal, 0n, 0);
      const firstLsn = this.#logFragments(batch.records);
      const commit: BatchCommit = { firstFragmentLsn: firstLsn, fragments: batch.records.length, count: batch.ops, shards: [] };
      // One section for all shards' takes: a change feed starting meanwhile reads its
      // counters before all of them or after all of them, never between (all or none).
      this.shared.takingTimestamps(() => {
        for (const [shard, s] of shards) s.ts = this.core.exports.shardTakeTimestamps(shard, s.ops);
      });
      for (const [shard, s] of shards) {
        this.memtables.holdTs(shard, s.ts);
        commit.shards.push({ shard, operations: s.ops, firstTs: s.ts });
      }
      const record = encodeCommit(commit);
      const commitLsn = this.#reserveGroup(record.length);
      this.group.write(commitLsn, record);
      this.#heldRecord = commitLsn;
      let maxTs = 0n;
      // At most SPLICE_SLOTS shards' memtables per pass over the batch, so that this thread
      // keeps each one's splice slot (and allocation chunk) from its first insert to its
      // last, as the arena's size assumes (ArenaNeed). Each shard's operations still go in
      // in the batch's order, taking its timestamps in that order (as replay gives them).
      const order = [...shards.keys()];
      for (let at = 0; at < order.length; at += SPLICE_SLOTS) {
        const group = order.length <= SPLICE_SLOTS ? undefined : new Set(order.slice(at, at + SPLICE_SLOTS));
        for (const fragment of batch.records) {
          forEachOperation(fragment, (type, shard, key, value) => {
            const s = shards.get(shard)!;
            const node = new Memtable(this.core, s.mt).insert(key, type === OP_PUT ? value : undefined, s.ts, BigInt(commitLsn));
            if (node < 64) throw new ShardlineError(`a large batch's memtable for shard ${shard} is full (${node})`, "SHARDLINE_INTERNAL");
            if (s.ts > maxTs) maxTs = s.ts;
            s.ts++;
          }, group && ((shard) => group.has(shard)));
        }
      }
      for (const [shard, s] of shards) {
        this.core.exports.memtableNoteGroupLsn(s.mt, firstLsn);
        this.memtables.installFrozen(shard, s.mt, s.fresh);
      }
      this.#heldRecord = -1;
      this.group.publishReserved(record.length);
      this.shared.largeBatchLsn = 0;
      for (const shard of shards.keys()) this.memtables.holdTs(shard, undefined);
      this.shared.addStat("channelWrites", batch.ops);
      this.#reply(r, ReplyStatus.OK, maxTs, commitLsn + recordBytes(record.length));
    } catch (error) {
      this.#fail(error);
      if (!r.replied) this.#reply(r, ReplyStatus.FAILED, 0n, 0);
    }
  }

  /**
   * Step 1 of #commitLarge: per shard, a private memtable (an arena of memtableBytes times a
   * power of 4, see the header: arena sizes; at least the bound of
   * ArenaNeed: step 4 inserts under the held commit record, where a full arena fails the
   * database), the fresh memtable that will follow it, and room in the frozen list. OK, or
   * with nothing kept: TOO_LARGE when a shard needs more than the largest arena, MEMORY_FULL
   * when the shared memory has no room for them now.
   */
  #largeBatchArenas(shards: Map<number, LargeBatchShard>, r: Request): number {
    for (const shard of shards.keys()) {
      while (this.memtables.frozenCount(shard) + 2 > FROZEN_MAX) this.#flushOldest(shard);
    }
    const discardAll = () => {
      for (const s of shards.values()) {
        for (const mt of [s.mt, s.fresh]) if (mt !== 0) this.memtables.discard(mt);
        s.mt = s.fresh = 0;
      }
    };
    try {
      const made = this.#withMemory(() => {
        try {
          for (const [shard, s] of shards) {
            let bytes = this.memtables.memtableBytes;
            while (bytes < s.need.bytesFor(bytes) && bytes < MEMTABLE_ARENA_BYTES_MAX) bytes = Math.min(bytes * 4, MEMTABLE_ARENA_BYTES_MAX);
            if (bytes < s.need.bytesFor(bytes)) throw new CoreError(`a large batch needs more than a ${bytes}-byte memtable in shard ${shard}`, 0);
            s.mt = this.memtables.create(shard, bytes);
            s.fresh = this.memtables.create(shard);
          }
        } catch (error) {
          discardAll(); // nothing kept when it throws (#withMemory)
          throw error;
        }
      }, [r]);
      return made ? ReplyStatus.OK : ReplyStatus.MEMORY_FULL;
    } catch (error) {
      if (error instanceof CoreError) return ReplyStatus.TOO_LARGE;
      throw error;
    }
  }

  /** Step 2 of #commitLarge: the parts as fragment records; returns the first one's LSN. */
  #logFragments(records: Uint8Array[]): number {
    let first = -1;
    for (const record of records) {
      record[1] = KIND_FRAGMENT;
      const lsn = this.#reserveGroup(record.length);
      this.group.write(lsn, record);
      if (first < 0) {
        first = lsn;
        this.shared.largeBatchLsn = lsn; // before it is published: a feed starting now reads it
      }
      this.group.publishReserved(record.length);
    }
    return first;
  }

  /** Reserves `bytes` in the group WAL ring, waiting for the durability worker to drain it when full. */
  #reserveGroup(bytes: number): number {
    let lsn = this.group.reserve(bytes);
    while (lsn < 0) {
      Atomics.wait(this.group.i32, this.group.index(Ring.DRAIN_SEQ), Atomics.load(this.group.i32, this.group.index(Ring.DRAIN_SEQ)), 1);
      lsn = this.group.reserve(bytes);
    }
    return lsn;
  }

  /**
   * Splits a group so that no shard's nodes need more than one memtable's worth of arena for
   * one commit (#nodeBytes; a single request may need more: the batch limit keeps it to a
   * few memtables).
   */
  *#chunks(requests: Request[]): Generator<Request[]> {
    if (requests.length === 1) return yield requests;
    let chunk: Request[] = [];
    let need = new Map<number, ArenaNeed>();
    for (const r of requests) {
      const own = arenaNeeds([r]);
      const over = [...own].some(([shard, n]) => this.#nodeBytes(shard, need.get(shard)?.plus(n) ?? n) > this.#usableBytes(shard));
      if (over && chunk.length > 0) {
        yield chunk;
        chunk = [];
        need = new Map();
      }
      chunk.push(r);
      for (const [shard, n] of own) need.set(shard, need.get(shard)?.plus(n) ?? n);
    }
    if (chunk.length > 0) yield chunk;
  }

  #commit(all: Request[]): void {
    const e = this.core.exports;
    // A request is logged inside one group-WAL record: one larger than a record can be is
    // refused (the client's batch limits keep requests well below it).
    const requests = all.filter((r) => {
      const fits = RECORD_PREFIX_BYTES + r.ops.reduce((n, op) => n + operationBytes(op.key, op.value), 0) <= this.group.recordBytesMax;
      if (!fits) this.#reply(r, ReplyStatus.TOO_LARGE, 0n, 0);
      return fits;
    });
    if (requests.length === 0) return;
    // The shards' memtables are this commit's until it is done: fast-path writers take the
    // channel path meanwhile (they queue behind it), so that nothing fills the room ensured
    // below between its count and the inserts under the held record (found 2026-12-06: one
    // fill during #ensureRoom's flush, on a full memory, failed the database).
    const needs = arenaNeeds(requests);
    for (const shard of needs.keys()) e.shardSetOwnerCommitting(shard, 1);
    try {
      // Writers admitted before the flag finish their one write (never waiting on a record
      // of this thread: it holds none yet).
      for (const shard of needs.keys()) waitUntil(() => e.memtableWriters(this.memtables.active(shard)) === 0);
      this.#commitHeld(requests, needs);
    } finally {
      for (const shard of needs.keys()) e.shardSetOwnerCommitting(shard, 0);
    }
  }

  /** #commit with the requests' shards held (SHARD_OWNER_COMMITTING); `needs`: arenaNeeds(requests). */
  #commitHeld(requests: Request[], needs: Map<number, ArenaNeed>): void {
    const e = this.core.exports;
    // Room first, per shard for the whole chunk, while no record is held: a flush waits for
    // the group WAL to be durable beyond the versions it writes, which cannot happen past
    // a record this thread reserved and has not published (see awaitGroupDurable).
    // A full shared memory refuses the chunk here, before anything is logged or a timestamp
    // taken: the freezes ahead come from spares reserved now (#roomFor).
    if (!this.#roomFor(needs, requests)) {
      for (const r of requests) this.#reply(r, ReplyStatus.MEMORY_FULL, 0n, 0);
      return;
    }
    // The first timestamp taken per shard holds its replay floor until every operation is
    // in a memtable (memtables.ts: holdTs), since a freeze while inserting may flush.
    const heldTs = new Map<number, bigint>();
    for (const r of requests) {
      for (const op of r.ops) {
        op.ts = e.shardNextTimestamp(op.shard);
        if (!heldTs.has(op.shard)) heldTs.set(op.shard, op.ts);
      }
    }
    for (const [shard, ts] of heldTs) this.memtables.holdTs(shard, ts);
    const visibleAfter = new Map<Request, number>();
    for (const records of this.#records(requests)) {
      const end = this.#logAndInsert(records);
      for (const r of records) visibleAfter.set(r, end);
    }
    for (const shard of heldTs.keys()) this.memtables.holdTs(shard, undefined);
    this.shared.addStat("channelWrites", requests.reduce((n, r) => n + r.ops.length, 0));
    for (const r of requests) {
      const ts = r.ops.reduce((m, op) => (op.ts > m ? op.ts : m), 0n);
      this.#reply(r, ReplyStatus.OK, ts, visibleAfter.get(r)!);
    }
  }

  /** Splits a group's requests into runs that each fit one group-WAL record (a request is never split). */
  *#records(requests: Request[]): Generator<Request[]> {
    let run: Request[] = [];
    let bytes = RECORD_PREFIX_BYTES;
    for (const r of requests) {
      const own = r.ops.reduce((n, op) => n + operationBytes(op.key, op.value), 0);
      if (run.length > 0 && bytes + own > this.group.recordBytesMax) {
        yield run;
        run = [];
        bytes = RECORD_PREFIX_BYTES;
      }
      run.push(r);
      bytes += own;
    }
    if (run.length > 0) yield run;
  }

  /**
   * Writes the requests' operations as one group-WAL record and inserts them with seq =
   * its LSN, then publishes it (after the inserts: published, and so durable, implies
   * applied, as on the fast path). Returns the LSN after the record: the requests are
   * visible, and durable, once the log's visible point passes it.
   */
  #logAndInsert(requests: Request[]): number {
    const ops = requests.flatMap((r) => r.ops);
    const record = encodeOperations(ops);
    if (record.length > this.group.recordBytesMax) {
      throw new RangeError(`a channel request of ${record.length} bytes exceeds the group WAL's record limit (${this.group.recordBytesMax} bytes)`);
    }
    const lsn = this.#reserveGroup(record.length);
    this.group.write(lsn, record);
    this.#heldRecord = lsn;
    // Shard by shard (each shard's in request order), so that each memtable is written from
    // its first insert to its last without another in between: #nodeBytes' bound needs it.
    for (const op of byShard(ops)) this.#insert(op, lsn);
    this.#heldRecord = -1;
    this.group.publishReserved(record.length);
    return lsn + ((RECORD_HEADER_BYTES + record.length + 7) & ~7);
  }

  #insert(op: Operation, lsn: number): void {
    for (;;) {
      const mt = this.memtables.active(op.shard);
      const node = new Memtable(this.core, mt).insert(op.key, op.type === OP_PUT ? op.value : undefined, op.ts, BigInt(lsn));
      if (node >= 64) {
        this.memtables.noteTs(mt, op.ts);
        this.core.exports.memtableNoteGroupLsn(mt, lsn);
        return;
      }
      // Full: a fresh memtable always has room for one entry. A spare (#roomFor): the
      // commit reserved one for each freeze its inserts may make (#insertFreezes), and
      // nobody else writes the shard's memtables meanwhile (SHARD_OWNER_COMMITTING).
      this.memtables.freeze(op.shard, (s) => this.#flushOldest(s), true);
    }
  }

  /**
   * Room in every shard the requests write (#ensureRoom), and a spare memtable for each
   * freeze their inserts may need (#insertFreezes, from an upper bound on their nodes'
   * arena bytes), so that inserting under the held record never needs memory the shared
   * memory may not have. The shards are held (#commit), so only this commit fills their
   * memtables from here on. False, with nothing held, when the memory is full of arenas
   * that reads still hold (MemoryFullError from the manager).
   */
  #roomFor(needs: Map<number, ArenaNeed>, requests: readonly Request[]): boolean {
    const need = new Map<number, number>();
    for (const [shard, n] of needs) need.set(shard, this.#nodeBytes(shard, n));
    const spares = () => {
      let count = 0;
      for (const [shard, bytes] of need) count += (this.#lacksRoom(shard, bytes) ? 1 : 0) + this.#insertFreezes(shard, bytes);
      return count;
    };
    if (!this.#withMemory(() => this.memtables.reserveSpares(spares()), requests)) return false;
    for (const [shard, bytes] of need) this.#ensureRoom(shard, bytes);
    return true;
  }

  /**
   * Runs `allocate` (memtable arenas from the shared memory) and, while it finds the memory
   * full, flushes the oldest frozen memtable of the shard with the most and tries again: a
   * flushed arena is retired and reused as soon as no read is in it (memtables.ts: reclaim,
   * which every allocation runs first). So a memory full of frozen memtables waiting for a
   * slow flush makes a write wait for flushes; only a memory still full with nothing left to
   * flush, its arenas held by reads, refuses it (false: MemoryFullError's meaning). Such
   * writes were refused while four memtables waited for their flush (found 2026-12-05;
   * tests/engine/memory-full-frozen.test.ts). What `allocate` made before it threw is given
   * back or kept for the next try (spares). Call with no group-WAL record held: a flush
   * waits for the log to be durable past it.
   * Before it refuses, it asks the threads of `requests` to let go of what their held scans
   * keep (channel.ts askLetGo: a scan re-pins, scan.ts), waits for their answers (at most
   * LET_GO_WAIT_MS) and tries once more: the arenas those scans held since their last
   * re-pin, the ones this very call retired among them, are reclaimed by that allocation.
   * Without it a write was refused whenever the thread writing it held a scan: every arena
   * the flushes above retired was one the scan had entered before.
   */
  #withMemory(allocate: () => void, requests: readonly Request[]): boolean {
    let asked = false;
    for (;;) {
      if (this.#allocated(allocate)) return true;
      let shard = -1;
      for (let s = 0; s < this.shared.shards; s++) {
        if (this.memtables.frozenCount(s) > (shard < 0 ? 0 : this.memtables.frozenCount(shard))) shard = s;
      }
      if (shard >= 0) {
        this.#flushOldest(shard);
        continue;
      }
      if (asked) return false;
      asked = true;
      const answers = [...new Set(requests.map((r) => r.threadBlock))].map((threadBlock) => askLetGo(this.core, threadBlock));
      const deadline = performance.now() + LET_GO_WAIT_MS;
      waitUntil(() => answers.every((answered) => answered()) || performance.now() >= deadline);
      // Once more with what the answers freed (an allocation reclaims first), then refused.
    }
  }

  /** Runs `allocate`; false if the memory was full (MemoryFullError), anything else thrown. */
  #allocated(allocate: () => void): boolean {
    try {
      allocate();
      return true;
    } catch (error) {
      if (!(error instanceof MemoryFullError)) throw error;
      return false;
    }
  }

  /**
   * Freezes inserting nodes of `bytes` (#nodeBytes) into the shard may need after
   * #ensureRoom: a memtable is frozen only once a node no longer fits, by then holding at
   * least #usableBytes of them, and the active one may have had less; plus one for the
   * active memtable #ensureRoom left with the room it judged enough.
   */
  #insertFreezes(shard: number, bytes: number): number {
    return Math.ceil(bytes / this.#usableBytes(shard)) + 1;
  }

  /**
   * The arena bytes nodes for the versions of `need` may take in the shard's memtables, the
   * allocator's chunk waste included (ArenaNeed: inserted shard by shard, so that the actor
   * keeps each memtable's splice slot from its first insert to its last), without the
   * arena's fixed part.
   */
  #nodeBytes(shard: number, need: ArenaNeed): number {
    const capacity = this.#capacity(shard);
    return need.bytesFor(capacity) - NO_NODES.bytesFor(capacity);
  }

  /** Arena bytes of nodes a memtable of the shard holds at the least before it refuses one: all but its fixed part and a chunk. */
  #usableBytes(shard: number): number {
    const capacity = this.#capacity(shard);
    return capacity - NO_NODES.bytesFor(capacity);
  }

  #capacity(shard: number): number {
    return this.core.exports.shardMemtableCapacity(shard) >>> 0;
  }

  /** True if the shard's active memtable lacks room for a commit of `bytes` there (#ensureRoom freezes it first). */
  #lacksRoom(shard: number, bytes: number): boolean {
    const capacity = this.#capacity(shard);
    return capacity - (this.core.exports.shardMemtableBytesUsed(shard) >>> 0) < Math.min(bytes, capacity * 0.9);
  }

  /**
   * Makes room for nodes of `bytes` in the shard before a commit: a fresh memtable if the
   * active one lacks it, and enough free places in the frozen list for every further
   * memtable the commit may fill (#insertFreezes, and one more), so that inserting under
   * the held record never has to flush.
   */
  #ensureRoom(shard: number, bytes: number): void {
    if (this.#lacksRoom(shard, bytes)) this.memtables.freeze(shard, (s) => this.#flushOldest(s), true);
    const freezesAhead = this.#insertFreezes(shard, bytes) + 1;
    while (this.memtables.frozenCount(shard) > 0 && this.memtables.frozenCount(shard) + freezesAhead > FROZEN_MAX) this.#flushOldest(shard);
  }

  #reply(r: Request, status: number, ts: bigint, visibleAfter: number): void {
    if (r.replied) throw new ShardlineError(`a channel request (slot ${r.slot}) answered twice`, "SHARDLINE_INTERNAL");
    r.replied = true;
    writeReply(this.core, r.threadBlock, r.slot, { status, ts, visibleAfter });
  }

  // ---- background work -------------------------------------------------------------

  /** One unit of background work; true if it did any. */
  #background(): boolean {
    if (this.#failed) return false;
    let touched = false;
    try {
      this.memtables.reclaim();
      for (let shard = 0; shard < this.shared.shards; shard++) {
        if (this.memtables.usedFraction(shard) >= FREEZE_FRACTION && this.#freezeIfRoom(shard)) return true;
      }
      if (this.#freezeLogHolder()) return true;
      // Nodes the writers handed in, linked on this core rather than theirs, in batches
      // (link-pacer.ts; bounded too).
      touched = this.#linker.step() > 0;
      // Pages the writers are about to fill, before any long work (pages-ahead.ts): one
      // bounded step a call, and the call goes on, so that merges and flushes still run
      // under writers that keep the window moving. Not under durability "full": there a
      // write waits ~150 µs for its fdatasync and its faults are ~2% of that, while the
      // touching competes for the cores with the threads on that path (durable puts with
      // 16 in flight lost 25-40% in Node).
      touched = (this.#pagesAhead?.step() ?? false) || touched;
      // Compaction debt first once a tier holds twice the fan-in: under a sustained load
      // flushes alone would pile tables up faster than merges remove them.
      for (let shard = 0; shard < this.shared.shards; shard++) {
        if (pickCompaction(this.manifest, shard, 2 * COMPACTION_FAN_IN) && this.#compact(shard)) return true;
      }
      // The frozen memtable holding the oldest record first, whichever shard: by shard
      // number, a busy shard 0 kept a quiet shard's frozen memtable (and the log) waiting.
      const flushShard = this.memtables.shardToFlush();
      if (flushShard !== undefined) {
        this.#flushOldest(flushShard);
        return true;
      }
      for (let shard = 0; shard < this.shared.shards; shard++) {
        if (this.#compact(shard)) return true;
      }
      for (let shard = 0; shard < this.shared.shards; shard++) {
        if (this.#noDeletesMerge[shard] === this.manifest.version) continue;
        const inputs = pickDeletesMerge(this.manifest, shard, () => this.shared.gcHorizon().boundaries[0]);
        if (inputs && this.#compact(shard, inputs)) return true;
        this.#noDeletesMerge[shard] = this.manifest.version;
      }
    } catch (error) {
      this.#fail(error);
    }
    return touched;
  }

  /**
   * The background's freeze; false when the shared memory has no room for the fresh
   * memtable now (writers fill the active one and then take the channel, which refuses
   * them with MemoryFullError until reads end and free arenas).
   */
  #freezeIfRoom(shard: number): boolean {
    try {
      this.memtables.freeze(shard, (s) => this.#flushOldest(s));
      return true;
    } catch (error) {
      if (error instanceof MemoryFullError) return false;
      throw error;
    }
  }

  /** Freezes the active memtable the log is kept for, once it keeps too much (LOG_HELD_MEMTABLES_MAX); true if it did. */
  #freezeLogHolder(): boolean {
    const heldMax = LOG_HELD_MEMTABLES_MAX * this.shared.shards * this.memtables.memtableBytes;
    // Every unflushed record is at or above the MANIFEST's checkpoint (the log below it is
    // trimmed): the log from there bounds what memtables hold, without walking them each step.
    if (this.groupDurable() - this.manifest.groupCheckpoint <= heldMax) return false;
    const holder = this.memtables.oldestHolder();
    if (!holder?.active) return false; // a frozen one: the flush below takes it first
    if (this.groupDurable() - holder.lsn <= heldMax) return false;
    return this.#freezeIfRoom(holder.shard);
  }

  #flushOldest(shard: number): void {
    flushShard(this, shard);
    this.#collectIfAsked();
  }

  /** After a flush or a compaction: where the platform's collector needs asking (Platform.collectSoon: Bun). */
  #collectIfAsked(): void {
    this.platform.collectSoon?.();
  }

  /** Freezes every shard's non-empty active memtable and flushes all frozen ones (no writer is left: the database is closing). */
  #flushAll(): void {
    try {
      for (let shard = 0; shard < this.shared.shards; shard++) {
        // The frozen ones first: their arenas make room for the fresh memtable the freeze
        // takes. No room even then (reads still hold arenas): the active one stays
        // unflushed, in the log, which the next open replays as after a crash.
        while (this.memtables.frozenCount(shard) > 0) this.#flushOldest(shard);
        if (this.memtables.usedFraction(shard) > 0) this.#freezeIfRoom(shard);
        while (this.memtables.frozenCount(shard) > 0) this.#flushOldest(shard);
      }
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * By shard, the MANIFEST version at which pickDeletesMerge found nothing: not asked again
   * until it changes (a snapshot released meanwhile waits for the next flush or merge).
   */
  readonly #noDeletesMerge: number[] = [];

  /** Merges `inputs` (by default the tier merge pickCompaction picks) of `shard`; false if there are none. */
  #compact(shard: number, inputs = pickCompaction(this.manifest, shard, COMPACTION_FAN_IN)): boolean {
    if (!inputs) return false;
    const number = this.manifest.nextTableNumber;
    const memtables = this.memtables.list(shard).map((mt) => new Memtable(this.core, mt));
    const memtablesHold = (key: Uint8Array) => memtables.some((mt) => mt.get(key, U64_MAX) !== undefined);
    const outputs = mergeTables(this.core, this.platform, this.args.dir, this.shared, this.cache, this.manifest, inputs, number, memtablesHold);
    const next: ManifestData = structuredClone(this.manifest);
    const gone = new Set(inputs.map((t) => t.number));
    next.tables = next.tables.filter((t) => !gone.has(t.number));
    next.tables.push(...outputs);
    next.nextTableNumber = number + Math.max(1, outputs.length);
    publishManifest(this, next);
    // The inputs go now unless a live reader in another process is at an older MANIFEST;
    // then a later flush or compaction deletes them (reader-slots.ts).
    this.retention.noteDropped(inputs.map((t) => t.number), this.manifest.version);
    this.retention.removeDroppedTables(this.manifest);
    this.shared.addStat("compactions", 1);
    this.shared.addStat("compactedBytes", outputs.reduce((bytes, t) => bytes + t.bytes, 0));
    this.#collectIfAsked();
    return true;
  }

  /** Fails the database for an error nothing else caught, then stops answering. */
  crash(error: unknown): void {
    this.#fail(error);
    this.shared.markActorStopped();
  }

  #fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    const code = typeof (error as { code?: unknown })?.code === "string" ? (error as { code: string }).code : "EUNKNOWN";
    // The rings first: whoever sees the shared state FAILED must find the failure's details.
    this.group.setState(RingState.FAILED, FailCode.OTHER, code);
    this.requests.setState(RingState.FAILED, FailCode.OTHER, code);
    this.shared.state = DbState.FAILED;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    this.port.postMessage({ type: "failed", message, code } satisfies ActorMessage);
  }
}

/** Per shard, the arena need of the requests' versions (ArenaNeed). */
function arenaNeeds(requests: readonly Request[]): Map<number, ArenaNeed> {
  const needs = new Map<number, ArenaNeed>();
  for (const r of requests) {
    for (const op of r.ops) {
      let need = needs.get(op.shard);
      if (!need) needs.set(op.shard, (need = new ArenaNeed()));
      need.add(op.key.length, op.value?.length);
    }
  }
  return needs;
}

/** The operations shard by shard, each shard's in their order. */
function byShard(ops: readonly Operation[]): readonly Operation[] {
  for (let i = 1; i < ops.length; i++) if (ops[i].shard !== ops[0].shard) return [...ops].sort((a, b) => a.shard - b.shard);
  return ops;
}

/** An arena's fixed part and last chunk: ArenaNeed's bound with no node. */
const NO_NODES = new ArenaNeed();

/** The tables of a shard, for tests and statistics. */
export function shardTables(manifest: ManifestData, shard: number): TableRecord[] {
  return manifest.tables.filter((t) => t.shard === shard);
}

registerWorkerRole("actor", async (base: Platform, init: WorkerInit, port: ParentPort) => {
  const core = await Core.attach(init.module, init.memory);
  const args = init.args as ActorArgs;
  const platform = args.faults ? withFaults(base, args.faults) : base;
  const actor = new Actor(platform, core, args, port);
  port.postMessage({ type: "ready" } satisfies ActorMessage);
  try {
    await actor.run();
  } catch (error) {
    actor.crash(error);
  }
  core.detach();
});
