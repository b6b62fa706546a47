/**
 * Worker tasks of the core tests. concurrency.test.ts: attach to the shared core, wait at a barrier so all
 * workers start together, then insert `count` keys into one shared memtable, taking each
 * timestamp from the key's shard counter. Every `sharedEvery`-th key is the same in every
 * worker, so those keys get one version per worker, each with its own timestamp.
 * `deferred`: the fast path's insert (indexed, handed to the pending ring, linked later by
 * whichever thread links: assembly/skiplist.ts, "Deferred linking").
 */
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { waitForStart } from "./start-together.ts";

export interface ConcurrencyJob {
  worker: number;
  count: number;
  sharedEvery: number;
  memtable: number;
  barrier: number;
  deferred: boolean;
}

export function keyFor(worker: number, i: number, sharedEvery: number): string {
  return i % sharedEvery === 0 ? `shared-${i.toString().padStart(7, "0")}` : `w${worker}-${i.toString().padStart(7, "0")}`;
}

export function valueFor(worker: number, i: number): string {
  return `${worker}:${i}`;
}

/** Returns, per insert, the shard and timestamp it got (two parallel arrays). */
export async function insertShared(ctx: { module: WebAssembly.Module; memory: WebAssembly.Memory; data: ConcurrencyJob }) {
  const { worker, count, sharedEvery, memtable, barrier, deferred } = ctx.data;
  const core = await Core.attach(ctx.module, ctx.memory);
  const mt = new Memtable(core, memtable);
  const enc = new TextEncoder();
  const keys = Array.from({ length: count }, (_, i) => enc.encode(keyFor(worker, i, sharedEvery)));
  const values = Array.from({ length: count }, (_, i) => enc.encode(valueFor(worker, i)));
  const shards = new Uint8Array(count);
  const timestamps = new Float64Array(count);
  waitForStart(ctx.memory, barrier);
  for (let i = 0; i < count; i++) {
    const shard = core.shardOf(keys[i]);
    const node = deferred ? mt.insertDeferred(keys[i], values[i], core.exports.shardNextTimestamp(shard)) : mt.put(shard, keys[i], values[i]);
    if (node < 64) throw new Error(`worker ${worker}: insert ${i} failed with status ${node}`);
    shards[i] = shard;
    timestamps[i] = Number(mt.nodeTs(node));
  }
  core.detach();
  return { shards, timestamps };
}

export interface HeapChurnJob {
  worker: number;
  rounds: number;
  barrier: number;
}

/**
 * heap-concurrency.test.ts: allocates and frees blocks of random sizes (64 B to 256 KiB),
 * up to 16 held at once, each filled with a byte of its own and checked whole before it is
 * freed: a block handed to two holders at once, or free-list words written inside a held
 * block, shows as a wrong byte. Returns [allocations, refusals (memory full), bad bytes].
 */
export async function heapChurn(ctx: { module: WebAssembly.Module; memory: WebAssembly.Memory; data: HeapChurnJob }) {
  const { worker, rounds, barrier } = ctx.data;
  const core = await Core.attach(ctx.module, ctx.memory);
  waitForStart(ctx.memory, barrier);
  let seed = 0x9e3779b9 ^ (worker * 7919);
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 4);
  const held: Array<{ at: number; bytes: number; tag: number }> = [];
  let allocations = 0;
  let refusals = 0;
  let bad = 0;
  const release = (block: { at: number; bytes: number; tag: number }) => {
    const u8 = core.u8;
    for (let i = block.at; i < block.at + block.bytes; i++) if (u8[i] !== block.tag) bad++;
    if (core.exports.coreFree(block.at, block.bytes) !== 1) bad++;
  };
  for (let r = 0; r < rounds; r++) {
    if (held.length >= 16 || (held.length > 0 && next() % 3 === 0)) {
      release(held.splice(next() % held.length, 1)[0]);
      continue;
    }
    const bytes = 64 + (next() % (256 << 10));
    const at = core.exports.coreAlloc(bytes) >>> 0;
    if (at === 0) {
      refusals++;
      continue;
    }
    allocations++;
    const tag = 1 + ((worker * 31 + r) % 255);
    core.u8.fill(tag, at, at + bytes);
    held.push({ at, bytes, tag });
  }
  for (const block of held.splice(0)) release(block);
  core.detach();
  return [allocations, refusals, bad];
}

export interface RisingWriterJob {
  /** Byte address of the 64-bit word to raise (8-aligned), and of an i32 set to 1 when done. */
  word: number;
  done: number;
  /** Multiples of 2^32 to cross. */
  crossings: number;
  barrier: number;
}

/**
 * rising-u64.test.ts: raises the word through k * 2^32 + d for d = -3..3, k = 1..crossings,
 * with 64-bit atomic stores (as the core stores its LSNs), so that a reader that took the
 * halves from either side of a crossing would see a value never written.
 */
export async function risingWriter(ctx: { module: WebAssembly.Module; memory: WebAssembly.Memory; data: RisingWriterJob }): Promise<number> {
  const { word, done, crossings, barrier } = ctx.data;
  const u64 = new BigUint64Array(ctx.memory.buffer, word, 1);
  const flag = new Int32Array(ctx.memory.buffer, done, 1);
  waitForStart(ctx.memory, barrier);
  let stores = 0;
  for (let k = 1; k <= crossings; k++) {
    const base = BigInt(k) << 32n;
    for (let d = -3n; d <= 3n; d++, stores++) Atomics.store(u64, 0, base + d);
  }
  Atomics.store(flag, 0, 1);
  return stores;
}

/**
 * core-edges.test.ts: appends one record to a ring (reserve, copy, publish: walAppend) and
 * reports the status. Announces itself in `flag` (an i32 in shared memory) just before the
 * call, so the main thread knows the call has begun.
 */
export interface AppendJob {
  ring: number;
  length: number;
  flag: number;
}

export async function appendOne(ctx: { module: WebAssembly.Module; memory: WebAssembly.Memory; data: AppendJob }) {
  const { ring, length, flag } = ctx.data;
  const core = await Core.attach(ctx.module, ctx.memory);
  const at = core.stage(new Uint8Array(length).fill(0x5a));
  Atomics.store(core.i32, flag >>> 2, 1);
  const status = core.exports.walAppend(ring, at, length);
  const lsn = core.u64Number(core.result);
  core.detach();
  return { status, lsn };
}
