// Fast-path batches hand their versions in (deferred linking, since 0f3fa3f) instead
// of linking them: engineBatch's pass 3 calls nodeDefer, so a batch admitted into several
// memtables may wait for pending-ring room, and link other writers' entries, while it holds
// its unpublished record (assembly/skiplist.ts header, "Deferred linking"; engine.ts).
//
// Written by an adversarial review of that change (2026-12-07), which found no defect; the
// stress test was seen failing when its snapshot was taken at the reserve head (records
// not yet published), as a reader that sees part of a batch would.
//
// - Deterministic, one thread: a batch with more operations for one memtable than its
//   pending ring has entries (16, in a 4 KiB memtable), the same key more times than that,
//   into a ring already full of single writes' entries.
// - Stress (the guard): WORKERS workers run fast-path batches (both shards, the same key
//   twice, every worker's batches on two shared hot keys, fillers and deletes) and single
//   writes into 2 shards of 4-16 KiB memtables (pending rings of 16-64 entries). This
//   thread is the shards' owner (it freezes and rotates a memtable a writer found full,
//   then, once its writers left, walks it as a flush would and drops it from the frozen
//   list), the durability worker (it releases the log ring, the smallest
//   there is, only now and then, so that writers find it full) and the actor (background
//   linking), and reads meanwhile: point lookups at S = publishedEnd of each worker's
//   batch keys (all must show the same batch: all or none of a batch is visible), and
//   walks of the active memtables (each settles first). At the end: every version of
//   every committed operation present exactly once with its record's LSN as seq, none of
//   an attempt refused, every list in strict order with nothing pending, each shard's
//   timestamps exactly 1..counter, the two versions of a batch's repeated key in operation
//   order, and every lookup and every walk made during the run agrees with the final
//   contents (a lookup at S found the newest version with seq < S; a walk at S saw exactly
//   the versions with seq < S of that memtable).
//   Every wait is bounded: a worker gives up after STUCK_MS on one operation, this thread
//   after RUN_MS + STUCK_MS + slack, then terminates the workers.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { Memtable, type MemtableEntry } from "../../src/core/memtable.ts";
import { RING_HEADER_BYTES, WalStatus } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";
import { currentPlatform } from "../harness/platform.ts";
import {
  type BatchDeferJob,
  type BatchDeferReport,
  CONTROL_DONE,
  CONTROL_FAILED,
  CONTROL_FULL,
  CONTROL_RELEASE_GEN,
  CONTROL_RING_FULL,
  CONTROL_ROTATE_GEN,
  CONTROL_STOP,
  CONTROL_WORDS,
  isBatch,
  OP_DELETE,
  opsFor,
} from "./batch-deferred-linking-worker.ts";
import { type StagedOp, stageBatch } from "./staged-batch.ts";
import { compareKeys } from "../../src/table/key-order.ts";

const test = suite("core: fast-path batches handed in (deferred linking)");

const E_OK = 0;
const VALUE_TOMBSTONE = 0xffffffff;


function setup(core: Core, shards: number, memtableBytes: number, ringBytes: number) {
  const e = core.exports;
  const memtables: Memtable[] = [];
  for (let s = 0; s < shards; s++) {
    const mt = e.memtableCreate(memtableBytes) >>> 0;
    assert.ok(mt >= 64, `memtableCreate(${memtableBytes})`);
    e.shardInstallActive(s, mt);
    memtables.push(new Memtable(core, mt));
  }
  const ringAt = e.coreAlloc(RING_HEADER_BYTES + ringBytes) >>> 0;
  assert.is(e.walRingFormat(ringAt, ringBytes, 7, 8n, Math.min(16 * 1024, ringBytes / 4)), WalStatus.OK);
  return { memtables, ringAt, ring: new RingView(core, ringAt) };
}

test("one thread: a batch with more operations for one memtable than its pending ring has entries (16), one key 20 times, into a ring full of single writes' entries", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 16 << 20 });
  const e = core.exports;
  const { memtables: [mt], ringAt } = setup(core, 1, 4096, 64 * 1024);
  assert.is(e.memtablePendingCapacity(mt.address), 16);
  const enc = new TextEncoder();
  // 16 single writes: the ring is full.
  for (let i = 0; i < 16; i++) {
    const key = enc.encode(`s${String(i).padStart(2, "0")}`);
    const keyAt = core.stage(key);
    assert.is(e.engineWrite(ringAt, keyAt, key.length, core.stage(new Uint8Array([i]), key.length), 1), E_OK);
  }
  assert.is(mt.pending, 16, "precondition: the pending ring is full");
  const ops: StagedOp[] = [];
  for (let i = 0; i < 20; i++) {
    ops.push({ type: 1, key: "dup", value: `d${i}` });
    if (i % 4 === 0) ops.push({ type: 1, key: `b${String(i).padStart(2, "0")}`, value: `b${i}` });
    if (i % 7 === 0) ops.push({ type: OP_DELETE, key: `s${String(i).padStart(2, "0")}` });
  }
  const [opsBytes, scratch] = stageBatch(core, ops);
  assert.is(e.engineBatch(ringAt, core.staging, opsBytes, ops.length, scratch), E_OK);
  const lsn = core.u64Number(core.result);
  const maxTs = core.u64[(core.result + 16) >>> 3];
  assert.is(maxTs, BigInt(16 + ops.length), "the batch's largest ts");
  assert.ok(mt.pending <= 16, `pending ${mt.pending} within the ring`);
  const dec = new TextDecoder();
  // Lookups before any walk: the newest version of the repeated key is the last operation's.
  assert.is(dec.decode(mt.getVisible(enc.encode("dup"), lsn + 1)!.value!), "d19");
  assert.is(mt.getVisible(enc.encode("dup"), lsn), undefined, "invisible below the batch's LSN");
  assert.is(mt.getVisible(enc.encode("s07"), lsn + 1)!.value, undefined, "the batch's delete");
  assert.is(mt.getVisible(enc.encode("s07"), lsn)!.value![0], 7, "the single write below the batch's LSN");
  const entries = [...mt.entries()];
  assert.is(mt.pending, 0);
  assert.is(entries.length, 16 + ops.length, "every version once");
  for (let i = 1; i < entries.length; i++) {
    const c = compareKeys(entries[i - 1].key, entries[i].key);
    assert.ok(c < 0 || (c === 0 && entries[i - 1].ts > entries[i].ts), `order at ${i}`);
  }
  const dups = entries.filter((x) => dec.decode(x.key) === "dup").map((x) => dec.decode(x.value!));
  assert.equal(dups, Array.from({ length: 20 }, (_, i) => `d${19 - i}`), "the repeated key's versions, newest (last operation) first");
  for (const x of entries) if (dec.decode(x.key).startsWith("b") || dec.decode(x.key) === "dup") assert.is(x.seq, BigInt(lsn));
});

// ---- the stress test -------------------------------------------------------------------

const WORKERS = 3;
const SHARDS = 2;
const RUN_MS = 1500;
const STUCK_MS = 8000;
const RING_BYTES = 64 * 1024; // the smallest ring (RING_CAPACITY_MIN): writers find it full now and then
/** Memtable sizes in turn (pending rings of 16, 32, 16, 64 entries). */
const SIZES = [4096, 8192, 4096, 16384];

interface Lookup {
  key: string;
  snapshot: number;
  ts: number; // -1: none
}
interface Walk {
  mt: number;
  snapshot: number;
  visible: number[]; // node addresses with seq < snapshot, in list order
}

test(`stress: ${WORKERS} workers, batches and single writes into ${SHARDS} shards of 4-16 KiB memtables rotated under them, lookups and walks racing: every version once, all or none of a batch visible`, async () => {
  const core = await Core.create({ shards: SHARDS, memoryBytesMax: 512 << 20 });
  const e = core.exports;
  const { memtables: first, ringAt, ring } = setup(core, SHARDS, SIZES[0], RING_BYTES);
  // Every memtable of each shard, newest first (never released: this thread reads them all at the end).
  const lists: number[][] = first.map((m) => [m.address]);
  const frozen: number[][] = Array.from({ length: SHARDS }, () => []);
  const rotations = [0, 0];
  const control = e.coreAlloc(CONTROL_WORDS * 4) >>> 0;
  const ctl = control >>> 2;
  for (let i = 0; i < CONTROL_WORDS; i++) Atomics.store(core.i32, ctl + i, 0);
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  const keyInShard = (prefix: string, shard: number, taken: Set<string>): string => {
    for (let n = 0; ; n++) {
      const key = `${prefix}${n}`;
      if (!taken.has(key) && core.shardOf(enc.encode(key)) === shard) {
        taken.add(key);
        return key;
      }
    }
  };
  const taken = new Set<string>();
  const hotKeys = Array.from({ length: SHARDS }, (_, s) => keyInShard("hot-", s, taken));
  const jobs = Array.from({ length: WORKERS }, (_, w) => {
    const batchKeys: string[] = [];
    for (let s = 0; s < SHARDS; s++) for (let k = 0; k < 3; k++) batchKeys.push(keyInShard(`b${w}-`, s, taken));
    return { worker: w, batchKeys, dupKey: `d${w}`, hotKeys, fillerMax: 8 };
  });

  // Workers, started together; kept so they can be terminated if they hang.
  const platform = await currentPlatform();
  const barrier = e.coreAlloc(64) >>> 0;
  Atomics.store(core.i32, barrier >>> 2, 0);
  Atomics.store(core.i32, (barrier >>> 2) + 1, 0);
  const handles = jobs.map((job) => {
    const data: BatchDeferJob = { ...job, ring: ringAt, barrier, control, runMs: RUN_MS, stuckMs: STUCK_MS, iterationsMax: 1e9 };
    const worker = platform.spawnWorker({ role: "module", module: core.module, memory: core.memory, args: { url: new URL("./batch-deferred-linking-worker.ts", import.meta.url).href, export: "writeBatches", data } });
    const result = new Promise<BatchDeferReport>((resolve, reject) => {
      worker.onMessage((message) => {
        const m = message as { type?: string; value?: unknown; message?: string };
        if (m.type === "result") resolve(m.value as BatchDeferReport);
        else if (m.type === "error") reject(new Error(m.message));
      });
      worker.onError(reject);
    });
    result.catch(() => {});
    return { worker, result };
  });
  const arriveBy = Date.now() + 60_000;
  while (Atomics.load(core.i32, barrier >>> 2) < WORKERS && Date.now() < arriveBy) await new Promise((r) => setTimeout(r, 2));
  Atomics.store(core.i32, (barrier >>> 2) + 1, 1);
  Atomics.notify(core.i32, (barrier >>> 2) + 1);

  const lookups: Lookup[] = [];
  const walks: Walk[] = [];
  const problems: string[] = [];
  const lastSeen = new Array<number>(WORKERS).fill(-1);
  const parse = (entry: MemtableEntry | undefined): { w: number; i: number; j: number } | undefined => {
    if (!entry?.value) return undefined;
    const [w, i, j] = dec.decode(entry.value).split(".", 3).map(Number);
    return { w, i, j };
  };

  /** The newest version of `key` visible at S in the shard's memtables (first hit, newest memtable first: its writes are one worker's, in order). */
  const lookup = (key: string, snapshot: number): MemtableEntry | undefined => {
    const bytes = enc.encode(key);
    for (const mt of lists[core.shardOf(bytes)]) {
      const entry = new Memtable(core, mt).getVisible(bytes, snapshot);
      if (entry) return entry;
    }
    return undefined;
  };

  const lookupCheck = (w: number) => {
    const snapshot = ring.publishedEnd;
    const seen: string[] = [];
    let iteration: number | undefined;
    let partial = false;
    for (const key of [...jobs[w].batchKeys, jobs[w].dupKey]) {
      const entry = lookup(key, snapshot);
      lookups.push({ key, snapshot, ts: entry ? Number(entry.ts) : -1 });
      const id = parse(entry);
      const i = id ? id.i : -1;
      seen.push(`${key}:${i}${entry ? `@${entry.ts}/seq ${entry.seq}` : ""}`);
      if (iteration === undefined) iteration = i;
      else if (iteration !== i) partial = true;
    }
    if (partial) problems.push(`worker ${w}'s batch keys at S=${snapshot} show different batches (part of a batch visible): ${seen.join(", ")}`);
    else if (iteration! < lastSeen[w]) problems.push(`worker ${w}: a later lookup saw batch ${iteration}, an earlier one ${lastSeen[w]}`);
    else lastSeen[w] = iteration!;
  };

  const walkCheck = (mt: number) => {
    const snapshot = ring.publishedEnd;
    const m = new Memtable(core, mt);
    const visible: number[] = [];
    let prev: MemtableEntry | undefined;
    for (let node = m.first(); node !== 0; node = m.next(node)) {
      const entry = m.entry(node);
      if (prev) {
        const c = compareKeys(prev.key, entry.key);
        if (!(c < 0 || (c === 0 && prev.ts > entry.ts))) problems.push(`walk of ${mt}: ${dec.decode(entry.key)}@${entry.ts} after ${dec.decode(prev.key)}@${prev.ts}`);
      }
      prev = entry;
      if (Number(entry.seq) < snapshot) visible.push(node);
    }
    walks.push({ mt, snapshot, visible });
  };

  /** A frozen memtable whose writers left: walk it as a flush would (nothing pending after the settle). */
  const flushCheck = (mt: number) => {
    const m = new Memtable(core, mt);
    let n = 0;
    for (let node = m.first(); node !== 0; node = m.next(node)) n++;
    if (m.pending !== 0) problems.push(`frozen memtable ${mt}: ${m.pending} pending after its walk`);
    if (m.count !== n) problems.push(`frozen memtable ${mt}: count ${m.count}, walked ${n}`);
  };

  const rotate = (s: number) => {
    const old = lists[s][0];
    if (frozen[s].length >= 7) return false;
    const bytes = SIZES[++rotations[s] % SIZES.length];
    const next = e.memtableCreate(bytes) >>> 0;
    if (next < 64) throw new Error(`memtableCreate: ${next}`);
    e.memtableFreeze(old);
    assert.is(e.shardRotateActive(s, next), 0);
    lists[s].unshift(next);
    frozen[s].push(old);
    Atomics.add(core.i32, ctl + CONTROL_ROTATE_GEN, 1);
    Atomics.notify(core.i32, ctl + CONTROL_ROTATE_GEN);
    return true;
  };

  const deadline = Date.now() + RUN_MS + STUCK_MS + 4000;
  let step = 0;
  let linkedByActor = 0;
  while (Atomics.load(core.i32, ctl + CONTROL_DONE) < WORKERS && Date.now() < deadline) {
    step++;
    // Durability worker: release what is published (now and then, or when a writer found the ring full).
    const published = ring.publishedEnd;
    if (published > ring.drainTail && (step % 16 === 0 || Atomics.load(core.i32, ctl + CONTROL_RING_FULL) !== 0)) {
      e.walRelease(ringAt, BigInt(published));
      Atomics.store(core.i32, ctl + CONTROL_RING_FULL, 0);
      Atomics.add(core.i32, ctl + CONTROL_RELEASE_GEN, 1);
      Atomics.notify(core.i32, ctl + CONTROL_RELEASE_GEN);
    }
    for (let s = 0; s < SHARDS; s++) {
      // Owner: rotate a memtable found full; drop frozen ones whose writers left (after a walk).
      const full = Atomics.exchange(core.i32, ctl + CONTROL_FULL + s, 0) >>> 0;
      if (full !== 0 && full === lists[s][0] && !rotate(s)) Atomics.store(core.i32, ctl + CONTROL_FULL + s, full | 0);
      while (frozen[s].length > 0 && e.memtableWriters(frozen[s][0]) === 0) {
        const old = frozen[s].shift()!;
        flushCheck(old);
        const dropped = e.shardDropOldestFrozen(s) >>> 0;
        if (dropped !== old) problems.push(`shard ${s}: dropped ${dropped}, expected ${old}`);
      }
    }
    // Actor: background linking now and then.
    if (step % 3 === 0) linkedByActor += e.memtableLinkPending(lists[step % SHARDS][0], 8) >>> 0;
    // Reader.
    if (step % 2 === 0) lookupCheck(step % WORKERS);
    else walkCheck(lists[(step >> 1) % SHARDS][0]);
    if (problems.length > 20) break;
  }
  const finished = Atomics.load(core.i32, ctl + CONTROL_DONE) >= WORKERS;
  if (!finished || problems.length > 0) {
    Atomics.store(core.i32, ctl + CONTROL_STOP, 1);
    await new Promise((r) => setTimeout(r, 200));
  }
  const pendingNow = lists.map((l) => l.map((mt) => e.memtablePending(mt) >>> 0).filter((n) => n > 0));
  const writersNow = lists.map((l) => l.map((mt) => e.memtableWriters(mt) >>> 0).filter((n) => n > 0));
  const settled = await Promise.allSettled(handles.map((h) => Promise.race([h.result, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no result")), 2000))])));
  await Promise.all(handles.map((h) => h.worker.terminate()));
  assert.equal(problems, [], "problems seen during the run");
  assert.ok(finished, `workers did not finish within ${RUN_MS + STUCK_MS + 4000} ms (a wait that never ends?): pending ${JSON.stringify(pendingNow)}, writers ${JSON.stringify(writersNow)}, failed flag ${Atomics.load(core.i32, ctl + CONTROL_FAILED)}`);
  for (const s of settled) if (s.status === "rejected") assert.unreachable(`a worker failed: ${(s.reason as Error).message}`);
  const reports = settled.map((s) => (s as PromiseFulfilledResult<BatchDeferReport>).value);

  // ---- final contents -------------------------------------------------------------------
  interface Version { key: string; ts: number; seq: number; shard: number; mt: number; node: number; value?: string }
  const byId = new Map<string, Version>();
  const versionsOf = new Map<string, Array<{ ts: number; seq: number }>>();
  const visibleOf = new Map<number, Array<{ node: number; seq: number }>>();
  const tsPerShard = Array.from({ length: SHARDS }, () => new Set<number>());
  let total = 0;
  for (let s = 0; s < SHARDS; s++) {
    for (const mt of lists[s]) {
      const m = new Memtable(core, mt);
      assert.is(e.memtableWriters(mt) >>> 0, 0, `memtable ${mt}: writers left`);
      const nodes: Array<{ node: number; seq: number }> = [];
      let prev: MemtableEntry | undefined;
      for (let node = m.first(); node !== 0; node = m.next(node)) {
        const entry = m.entry(node);
        const key = dec.decode(entry.key);
        if (prev) {
          const c = compareKeys(prev.key, entry.key);
          assert.ok(c < 0 || (c === 0 && prev.ts > entry.ts), `memtable ${mt}: ${key}@${entry.ts} after ${dec.decode(prev.key)}@${prev.ts}`);
        }
        prev = entry;
        assert.is(core.shardOf(entry.key), s, `${key} in shard ${s}'s memtable`);
        const ts = Number(entry.ts);
        assert.not.ok(tsPerShard[s].has(ts), `shard ${s}: ts ${ts} twice (${key})`);
        tsPerShard[s].add(ts);
        const value = entry.value && dec.decode(entry.value);
        let id: string;
        if (value === undefined) {
          const [, w, i, j] = /^x(\d+)-(\d+)-(\d+)$/.exec(key)!;
          id = `${w}.${i}.${j}`;
        } else id = value.split(".", 3).join(".");
        assert.not.ok(byId.has(id), `operation ${id} (${key}) present twice`);
        byId.set(id, { key, ts, seq: Number(entry.seq), shard: s, mt, node, value });
        let vs = versionsOf.get(key);
        if (!vs) versionsOf.set(key, (vs = []));
        vs.push({ ts, seq: Number(entry.seq) });
        nodes.push({ node, seq: Number(entry.seq) });
        total++;
      }
      assert.is(m.pending, 0, `memtable ${mt}: pending after its walk`);
      assert.is(m.count, nodes.length, `memtable ${mt}: count`);
      visibleOf.set(mt, nodes);
    }
    const counter = Number(e.shardCommitCounter(s));
    assert.is(tsPerShard[s].size, counter, `shard ${s}: versions vs its counter`);
    for (let ts = 1; ts <= counter; ts++) assert.ok(tsPerShard[s].has(ts), `shard ${s}: ts ${ts} missing`);
  }

  // Every committed operation, exactly as written, with its record's LSN as seq.
  let expectedTotal = 0;
  let batches = 0;
  reports.forEach((report, w) => {
    for (let i = 0; i < report.iterations; i++) {
      const ops = opsFor(jobs[w], i);
      assert.is(ops.length > 1, isBatch(w, i));
      if (ops.length > 1) batches++;
      let maxTs = 0;
      const dupTs: number[] = [];
      ops.forEach((op, j) => {
        const id = `${w}.${i}.${j}`;
        const v = byId.get(id);
        assert.ok(v, `operation ${id} (${op.key}) of a committed ${ops.length > 1 ? "batch" : "write"} is missing`);
        assert.is(v!.key, op.key, `${id}: key`);
        assert.is(v!.value, op.value, `${id}: value`);
        assert.is(v!.seq, report.lsn[i], `${id}: seq is its record's LSN`);
        if (v!.ts > maxTs) maxTs = v!.ts;
        if (op.key === jobs[w].dupKey) dupTs.push(v!.ts);
        expectedTotal++;
      });
      assert.is(maxTs, report.ts[i], `${w}.${i}: the ts the call reported`);
      if (dupTs.length > 0) assert.ok(dupTs.length === 2 && dupTs[0] < dupTs[1], `${w}.${i}: the repeated key's versions in operation order (${dupTs})`);
    }
  });
  assert.is(total, expectedTotal, "no version of an attempt that was refused (or of anything else)");

  // Every lookup made during the run found the newest version with seq < S.
  // (Per key: versions by seq, with the largest ts up to each; a lookup at S binary-searches.)
  const oracle = new Map<string, { seqs: number[]; maxTs: number[] }>();
  for (const [key, vs] of versionsOf) {
    vs.sort((a, b) => a.seq - b.seq);
    const maxTs: number[] = [];
    let m = -1;
    for (const v of vs) maxTs.push((m = Math.max(m, v.ts)));
    oracle.set(key, { seqs: vs.map((v) => v.seq), maxTs });
  }
  for (const { key, snapshot, ts } of lookups) {
    const o = oracle.get(key);
    let lo = 0, hi = o ? o.seqs.length : 0; // first index with seq >= S
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (o!.seqs[mid] < snapshot) lo = mid + 1;
      else hi = mid;
    }
    const want = lo === 0 ? -1 : o!.maxTs[lo - 1];
    if (ts !== want) assert.is(ts, want, `lookup of ${key} at S=${snapshot}`);
  }
  // Every walk made during the run saw exactly the versions of its memtable with seq < S.
  for (const { mt, snapshot, visible } of walks) {
    const want = visibleOf.get(mt)!.filter((x) => x.seq < snapshot).map((x) => x.node);
    if (visible.length !== want.length || visible.some((node, k) => node !== want[k])) assert.equal(visible, want, `walk of memtable ${mt} at S=${snapshot}`);
  }
  const memtables = lists[0].length + lists[1].length;
  assert.ok(batches > 100 && memtables > 20 && lookups.length > 100 && walks.length > 100,
    `enough happened: ${batches} batches, ${expectedTotal} versions, ${memtables} memtables, ${lookups.length} lookups, ${walks.length} walks, linked by the actor ${linkedByActor}`);
  console.log(`  [stress] ${batches} batches, ${expectedTotal} versions, ${memtables} memtables, ${lookups.length} lookups, ${walks.length} walks, actor linked ${linkedByActor}, channel retries ${reports.map((r) => r.channelRetries)}, ring retries ${reports.map((r) => r.ringRetries)}`);
});

test.run();
