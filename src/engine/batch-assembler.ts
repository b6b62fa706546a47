/**
 * BatchAssembler: what a reader of the group WAL applies, record by record. An operations
 * record is applied as it is; a large batch (docs/ENGINE.md, "Large atomic batches") is
 * logged as fragment records (kind 3, timestamps 0) followed by one commit record (kind 4),
 * and is applied only when its commit is read: then its fragments come out as operations
 * records with the commit's timestamps filled in. Fragments never followed by their commit
 * (the writer failed, or a crash cut the log before the commit was durable) come out never:
 * the batch was not acknowledged, and all of it is dropped.
 *
 * Used by recovery's replay (replay.ts), change feeds (change-feed.ts) and the readers of
 * the log's operations (logged-operations.ts), so all of them see the same operations.
 *
 * Invariants it relies on (the actor's #commitLarge): a batch's fragments are the only
 * kind-3 records between its firstFragmentLsn and its commit; the commit comes after them;
 * while any of them is in no table, the group WAL's checkpoint stays at or below the first
 * (so a reader starting at the checkpoint reads them all, and one starting after the first
 * fragment reads a commit whose batch is in tables already: `fromLsn`).
 *
 * Limits: it keeps at most BATCH_LOG_BYTES_MAX bytes of fragments (a real batch's are
 * fewer); beyond that the oldest kept ones belong to a batch that never committed, and
 * are dropped.
 * Threads: the thread that owns the reader.
 */
import { BATCH_LOG_BYTES_MAX } from "./options.ts";
import { type BatchCommit, decodeRecord, KIND_COMMIT, KIND_FRAGMENT, KIND_OPERATIONS, OP_HEADER_BYTES, OP_PUT, RECORD_PREFIX_BYTES } from "./records.ts";

export class BatchAssembler {
  #fragments: Array<{ lsn: number; payload: Uint8Array }> = [];
  #bytes = 0;

  /** @param fromLsn where the reader started: a batch whose first fragment is below it was applied before. */
  constructor(private readonly fromLsn: number) {}

  /** The first kept fragment's LSN (a batch whose commit was not read yet), or undefined. */
  get pendingFrom(): number | undefined {
    return this.#fragments[0]?.lsn;
  }

  /**
   * One record at `lsn` (its payload may be a passing view: what is kept is copied).
   * Returns the operations records it completes, in order: the record itself for kind 1,
   * nothing for a fragment (kept) or a legacy marker, the batch's fragments for a commit.
   * Throws an Error saying what is wrong (the caller reports corruption where it read).
   */
  add(lsn: number, payload: Uint8Array): Uint8Array[] {
    const kind = payload[1];
    if (kind === KIND_OPERATIONS) return [payload];
    if (kind === KIND_FRAGMENT) {
      decodeRecord(payload); // framing checked now, not when the commit comes
      this.#keep(lsn, payload.slice());
      return [];
    }
    if (kind === KIND_COMMIT) {
      const record = decodeRecord(payload);
      if (record.kind !== KIND_COMMIT) throw new Error("not a commit record");
      return this.#commit(lsn, record);
    }
    decodeRecord(payload); // a marker, or an error saying what this is
    return [];
  }

  #keep(lsn: number, payload: Uint8Array): void {
    this.#fragments.push({ lsn, payload });
    this.#bytes += payload.length;
    while (this.#bytes > BATCH_LOG_BYTES_MAX) this.#bytes -= this.#fragments.shift()!.payload.length;
  }

  #commit(lsn: number, commit: BatchCommit): Uint8Array[] {
    // Kept fragments below this batch's first belong to one that never committed.
    const mine = this.#fragments.filter((f) => f.lsn >= commit.firstFragmentLsn);
    this.#fragments = [];
    this.#bytes = 0;
    if (commit.firstFragmentLsn < this.fromLsn) return []; // in tables already
    if (commit.firstFragmentLsn >= lsn) throw new Error(`batch commit at LSN ${lsn} names its first fragment at ${commit.firstFragmentLsn}, not before it`);
    if (commit.fragments === 0) return []; // an abandonment (abandonmentOf): that batch never committed
    if (mine.length !== commit.fragments || mine[0]?.lsn !== commit.firstFragmentLsn) {
      throw new Error(`batch commit at LSN ${lsn} has ${commit.fragments} fragments from LSN ${commit.firstFragmentLsn}; the log holds ${mine.length} there`);
    }
    const next = new Map<number, { ts: bigint; left: number }>();
    for (const s of commit.shards) next.set(s.shard, { ts: s.firstTs, left: s.operations });
    for (const { payload } of mine) stampFragment(payload, next, lsn);
    for (const [shard, s] of next) if (s.left !== 0) throw new Error(`batch commit at LSN ${lsn} counts ${s.left} more operations of shard ${shard} than its fragments hold`);
    return mine.map((f) => f.payload);
  }
}

/**
 * The record a writer logs when its recovery found fragments of a large batch whose commit
 * never became durable (the writer that logged them died first): a commit record of no
 * fragments, no operations, naming the first of them. Every reader of the log (replay,
 * change feeds, followers, which all assemble batches here) then drops those fragments at
 * this record, as at any later commit, instead of keeping them as a batch still open: a
 * follower checkpoints only while no batch is open, so without it a follower that received
 * such fragments never checkpointed again (tests/replicate/follower-stream.test.ts).
 */
export function abandonmentOf(firstFragmentLsn: number): BatchCommit {
  return { firstFragmentLsn, fragments: 0, count: 0, shards: [] };
}

/** Makes a fragment an operations record in place: kind 1, each operation's timestamp from `next`. */
function stampFragment(payload: Uint8Array, next: Map<number, { ts: bigint; left: number }>, commitLsn: number): void {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(4, true);
  let at = RECORD_PREFIX_BYTES;
  for (let i = 0; i < count; i++) {
    const shard = view.getUint16(at + 2, true);
    const s = next.get(shard);
    if (!s || s.left === 0) throw new Error(`batch commit at LSN ${commitLsn} has no timestamp left for an operation of shard ${shard}`);
    view.setBigUint64(at + 12, s.ts, true);
    s.ts++;
    s.left--;
    const keyLength = view.getUint16(at + 4, true);
    const valueLength = payload[at] === OP_PUT ? view.getUint32(at + 8, true) : 0;
    at += OP_HEADER_BYTES + keyLength + valueLength;
  }
  payload[1] = KIND_OPERATIONS;
}
