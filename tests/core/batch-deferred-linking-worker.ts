/**
 * Worker of batch-deferred-linking.test.ts: fast-path batches (engineBatch) and single writes
 * (engineWrite) into a 2-shard core whose memtables the main thread rotates (it is the
 * shards' owner) and whose log ring it drains (it is the durability worker).
 *
 *   control: i32 words in shared memory (CONTROL_* below)
 *
 * Every operation is identified by (worker, iteration, position): a put's value starts with
 * "w.i.j." and a delete's key is "x<w>-<i>-<j>", so the main thread can tell each version
 * in the memtables apart and check it is there exactly once. `opsFor` is shared with the
 * main thread, which rebuilds every committed iteration's operations from it.
 */
import { Core } from "../../src/core/core.ts";
import { type StagedOp, stageBatch } from "./staged-batch.ts";
import { waitForStart } from "./start-together.ts";
import { seededRandom } from "../harness/seeded-random.ts";

export const CONTROL_DONE = 0;
export const CONTROL_ROTATE_GEN = 1;
export const CONTROL_RELEASE_GEN = 2;
export const CONTROL_STOP = 3;
/** + shard: the memtable a writer found full (the owner rotates it if still active). */
export const CONTROL_FULL = 4;
export const CONTROL_RING_FULL = 6;
export const CONTROL_FAILED = 7;
export const CONTROL_COMMITTED = 8;
export const CONTROL_WORDS = 16;

export const OP_PUT = 1;
export const OP_DELETE = 2;
const E_OK = 0, E_CHANNEL = 1, E_RING_FULL = 2;
const REASON_MEMTABLE_FULL = 3;
const R_LSN = 0, R_TS = 16, R_SHARD = 24, R_REASON = 28;
const VALUE_TOMBSTONE = 0xffffffff;

export interface BatchDeferJob {
  worker: number;
  ring: number;
  barrier: number;
  control: number;
  /** Runs until this many ms after the start (or `iterationsMax`). */
  runMs: number;
  /** Fails (throws) if one operation cannot be applied for this long. */
  stuckMs: number;
  iterationsMax: number;
  /** This worker's own keys, written by every one of its batches (both shards). */
  batchKeys: string[];
  /** Written twice by every batch of this worker (the later one is the newer version). */
  dupKey: string;
  /** One per shard, written by every batch of every worker and some single writes. */
  hotKeys: string[];
  fillerMax: number;
}


/** Deterministic unsigned 32-bit integers (per worker and iteration). */
function rng(seed: number): () => number {
  const next = seededRandom(seed);
  return () => Math.floor(next() * 4294967296);
}

/** Whether iteration `i` of worker `w` is a batch (else a single write). */
export function isBatch(w: number, i: number): boolean {
  return rng(0x51ed27 ^ (w * 7919 + i * 104729))() % 4 !== 0;
}

function valueFor(w: number, i: number, j: number, pad: number): string {
  return `${w}.${i}.${j}.` + "v".repeat(pad);
}

/** The operations of iteration `i` of worker `w` (a batch, or one operation). */
export function opsFor(job: Pick<BatchDeferJob, "worker" | "batchKeys" | "dupKey" | "hotKeys" | "fillerMax">, i: number): StagedOp[] {
  const w = job.worker;
  const next = rng(0x9e3779b9 ^ (w * 31337 + i * 7919 + 1));
  if (!isBatch(w, i)) {
    const pick = next() % 6;
    if (pick === 0) return [{ type: OP_PUT, key: job.hotKeys[next() % job.hotKeys.length], value: valueFor(w, i, 0, next() % 24) }];
    if (pick === 1) return [{ type: OP_DELETE, key: `x${w}-${i}-0` }];
    return [{ type: OP_PUT, key: `s${w}-${i}`, value: valueFor(w, i, 0, next() % 24) }];
  }
  const ops: Array<{ type: number; key: string; pad: number; dup?: boolean }> = [];
  for (const key of job.batchKeys) ops.push({ type: OP_PUT, key, pad: next() % 24 });
  for (const key of job.hotKeys) ops.push({ type: OP_PUT, key, pad: next() % 8 });
  const fillers = next() % (job.fillerMax + 1);
  for (let f = 0; f < fillers; f++) ops.push({ type: next() % 5 === 0 ? OP_DELETE : OP_PUT, key: "", pad: next() % 24 });
  // Shuffle, then put the same key at two places (the later one the newer version).
  for (let k = ops.length - 1; k > 0; k--) {
    const r = next() % (k + 1);
    [ops[k], ops[r]] = [ops[r], ops[k]];
  }
  const firstDup = next() % (ops.length + 1);
  ops.splice(firstDup, 0, { type: OP_PUT, key: job.dupKey, pad: next() % 24, dup: true });
  const secondDup = firstDup + 1 + (next() % (ops.length - firstDup));
  ops.splice(secondDup, 0, { type: OP_PUT, key: job.dupKey, pad: next() % 24, dup: true });
  return ops.map((op, j) => {
    if (op.key === "") return op.type === OP_DELETE ? { type: OP_DELETE, key: `x${w}-${i}-${j}` } : { type: OP_PUT, key: `f${w}-${i}-${j}`, value: valueFor(w, i, j, op.pad) };
    return { type: OP_PUT, key: op.key, value: valueFor(w, i, j, op.pad) };
  });
}

export interface BatchDeferReport {
  iterations: number;
  /** Per committed iteration: its record's LSN and the ts the call reported (the largest, for a batch). */
  lsn: Float64Array;
  ts: Float64Array;
  channelRetries: number;
  ringRetries: number;
}

export async function writeBatches(ctx: { module: WebAssembly.Module; memory: WebAssembly.Memory; data: BatchDeferJob }): Promise<BatchDeferReport> {
  const job = ctx.data;
  const core = await Core.attach(ctx.module, ctx.memory);
  const e = core.exports;
  const i32 = core.i32;
  const ctl = job.control >>> 2;
  const enc = new TextEncoder();
  const lsns: number[] = [];
  const tss: number[] = [];
  let channelRetries = 0;
  let ringRetries = 0;
  try {
    waitForStart(ctx.memory, job.barrier);
    const end = Date.now() + job.runMs;
    for (let i = 0; i < job.iterationsMax && Date.now() < end; i++) {
      const ops = opsFor(job, i);
      const encoded = ops.map((op) => ({ type: op.type, key: enc.encode(op.key), value: op.value === undefined ? undefined : enc.encode(op.value) }));
      const [opsBytes, scratch] = encoded.length > 1 ? stageBatch(core, ops) : [0, 0];
      const stuckAt = Date.now() + job.stuckMs;
      for (;;) {
        if (Atomics.load(i32, ctl + CONTROL_STOP) !== 0) throw new Error(`worker ${job.worker}: stopped by the main thread at iteration ${i}`);
        if (Date.now() > stuckAt) throw new Error(`worker ${job.worker}: iteration ${i} not applied within ${job.stuckMs} ms`);
        const rotateGen = Atomics.load(i32, ctl + CONTROL_ROTATE_GEN);
        const releaseGen = Atomics.load(i32, ctl + CONTROL_RELEASE_GEN);
        let status: number;
        if (encoded.length > 1) {
          status = e.engineBatch(job.ring, core.staging, opsBytes, encoded.length, scratch);
        } else {
          const op = encoded[0];
          const keyAt = core.stage(op.key);
          const valueAt = op.value ? core.stage(op.value, op.key.length) : keyAt + op.key.length;
          status = e.engineWrite(job.ring, keyAt, op.key.length, valueAt, op.value ? op.value.length : VALUE_TOMBSTONE);
        }
        if (status === E_OK) {
          lsns.push(core.u64Number(core.result + R_LSN));
          tss.push(core.u64Number(core.result + R_TS));
          Atomics.add(i32, ctl + CONTROL_COMMITTED, 1);
          break;
        }
        if (status === E_CHANNEL) {
          channelRetries++;
          if (core.u32[(core.result + R_REASON) >>> 2] === REASON_MEMTABLE_FULL) {
            // Tell the owner which memtables (the shards' active ones) to rotate.
            if (encoded.length === 1) {
              const shard = core.u32[(core.result + R_SHARD) >>> 2];
              Atomics.store(i32, ctl + CONTROL_FULL + shard, e.shardActiveMemtable(shard) | 0);
            } else {
              for (let s = 0; s < 2; s++) Atomics.store(i32, ctl + CONTROL_FULL + s, e.shardActiveMemtable(s) | 0);
            }
          }
          Atomics.wait(i32, ctl + CONTROL_ROTATE_GEN, rotateGen, 2);
          continue;
        }
        if (status === E_RING_FULL) {
          ringRetries++;
          Atomics.store(i32, ctl + CONTROL_RING_FULL, 1);
          Atomics.wait(i32, ctl + CONTROL_RELEASE_GEN, releaseGen, 2);
          continue;
        }
        throw new Error(`worker ${job.worker}: iteration ${i} failed with status ${status}`);
      }
    }
  } catch (error) {
    Atomics.store(i32, ctl + CONTROL_FAILED, 1);
    throw error;
  } finally {
    Atomics.add(i32, ctl + CONTROL_DONE, 1);
    Atomics.notify(i32, ctl + CONTROL_DONE);
  }
  core.detach();
  return { iterations: lsns.length, lsn: Float64Array.from(lsns), ts: Float64Array.from(tss), channelRetries, ringRetries };
}
