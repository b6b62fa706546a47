/**
 * Memtable insert loops shared by the core benchmark's main thread and its workers.
 * A start barrier in shared memory makes workers begin together.
 */
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { randomKeys, value } from "../lib/data.ts";

export interface InsertJob {
  memtable: number;
  shards: number;
  count: number;
  keyBytes: number;
  valueBytes: number;
  seed: number;
  /** Address of two i32 words: [ready count, go flag]. */
  barrier: number;
  workers: number;
}

/** Inserts `count` random keys; returns the elapsed milliseconds of the insert loop alone. */
export function insertLoop(core: Core, job: InsertJob, keys: Uint8Array[]): number {
  const mt = new Memtable(core, job.memtable);
  const v = value(job.valueBytes);
  const shards = job.shards;
  const start = performance.now();
  for (let i = 0; i < keys.length; i++) {
    const r = mt.put(i % shards, keys[i], v);
    if (r < 64) throw new Error(`insert failed with status ${r}`);
  }
  return performance.now() - start;
}

/** Worker entry (role "module"): attach, wait at the barrier, insert, report time. */
export async function insertInWorker(ctx: { module: WebAssembly.Module; memory: WebAssembly.Memory; data: InsertJob }): Promise<number> {
  const core = await Core.attach(ctx.module, ctx.memory);
  const job = ctx.data;
  const keys = randomKeys(job.count, job.keyBytes, job.seed);
  const words = new Int32Array(ctx.memory.buffer, job.barrier, 2);
  Atomics.add(words, 0, 1);
  Atomics.notify(words, 0);
  while (Atomics.load(words, 1) === 0) Atomics.wait(words, 1, 0, 1000);
  const ms = insertLoop(core, job, keys);
  core.detach();
  return ms;
}
