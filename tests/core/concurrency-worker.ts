/**
 * Worker side of concurrency.test.ts: attach to the shared core, wait at a barrier so all
 * workers start together, then insert `count` keys into one shared memtable, taking each
 * timestamp from the key's shard counter. Every `sharedEvery`-th key is the same in every
 * worker, so those keys get one version per worker, each with its own timestamp.
 * `deferred`: the fast path's insert (indexed, handed to the pending ring, linked later by
 * whichever thread links: assembly/skiplist.ts, "Deferred linking").
 */
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";

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
  const words = new Int32Array(ctx.memory.buffer, barrier, 2);
  Atomics.add(words, 0, 1);
  while (Atomics.load(words, 1) === 0) Atomics.wait(words, 1, 0, 100);
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
