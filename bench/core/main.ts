/**
 * bench/core: the WebAssembly core's raw speed in the runtime running this file.
 *
 * - memtable insert ns/op from JavaScript, 16-byte random keys, 100-byte values, one
 *   thread, filling memtables of 4, 16 and 64 MiB from empty (an insert's cost grows with
 *   the list, since each level of the search is a dependent memory access: the figure
 *   depends on the size, so every size is reported); sequential keys; and two workers
 *   inserting into one 64 MiB memtable at once;
 * - xxh32 and CRC-32C throughput in GB/s (64 KiB buffers) and xxh32 on 16-byte keys.
 *
 * Prints a readable table and one line `SHARDLINE-BENCH {json}` for scripts/bench.mjs.
 * Target (issue 2): insert from one thread at or under 300 ns/op in every runtime.
 * usage: <runtime> bench/core/main.ts [--quick]
 */
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { randomKeys, sequentialKeys, value } from "../lib/data.ts";
import { currentPlatform } from "../lib/platform.ts";
import { median } from "../lib/timing.ts";
import { type InsertJob } from "./insert.ts";

const quick = (globalThis as { Deno?: { args: string[] } }).Deno?.args.includes("--quick") ??
  (await import("node:process")).argv.includes("--quick");
const platform = await currentPlatform();
const ROUNDS = quick ? 1 : 5;
const COUNT = quick ? 20_000 : 200_000;
/** Memtable sizes filled from empty by the one-thread measurement. */
const FILL_SIZES_MIB = quick ? [4] : [4, 16, 64];
const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const SHARDS = 4;
const ARENA_BYTES = 64 << 20;

const core = await Core.create({ shards: SHARDS, memoryBytesMax: 1 << 30 });

function arena(): Memtable {
  return Memtable.create(core, ARENA_BYTES);
}

function job(mt: Memtable, count: number, seed: number, barrier = 0, workers = 1): InsertJob {
  return { memtable: mt.address, shards: SHARDS, count, keyBytes: KEY_BYTES, valueBytes: VALUE_BYTES, seed, barrier, workers };
}

/** Median over rounds of one-thread inserts filling a `bytes` memtable from empty. */
function oneThreadFill(bytes: number, keysFor: (round: number, count: number) => Uint8Array[]): { nsPerOp: number; entries: number } {
  const samples: number[] = [];
  let entries = 0;
  const v = value(VALUE_BYTES);
  for (let round = 0; round < ROUNDS + 1; round++) {
    const keys = keysFor(round, Math.ceil(bytes / 100));
    const mt = Memtable.create(core, bytes);
    const start = performance.now();
    let i = 0;
    while (i < keys.length && mt.put(i % SHARDS, keys[i], v) >= 64) i++;
    const ms = performance.now() - start;
    entries = i;
    mt.release();
    if (round > 0) samples.push((ms * 1e6) / i); // round 0 warms up (and faults the arena in)
  }
  return { nsPerOp: median(samples), entries };
}

async function twoWorkers(): Promise<{ nsPerOpTotal: number; speedup: number }> {
  const samples: number[] = [];
  const oneWorker: number[] = [];
  for (let round = 0; round < ROUNDS + 1; round++) {
    for (const workers of [1, 2]) {
      const mt = arena();
      const barrier = core.exports.coreAlloc(64) >>> 0;
      const words = new Int32Array(core.memory.buffer, barrier, 2);
      Atomics.store(words, 0, 0);
      Atomics.store(words, 1, 0);
      const runs = Array.from({ length: workers }, (_, w) =>
        runModuleInWorker(platform, {
          module: core.module,
          memory: core.memory,
          url: new URL("./insert.ts", import.meta.url).href,
          exportName: "insertInWorker",
          data: job(mt, COUNT, 1000 + round * 10 + w, barrier, workers),
        })
      );
      while (Atomics.load(words, 0) < workers) await new Promise((r) => setTimeout(r, 1));
      const started = performance.now();
      Atomics.store(words, 1, 1);
      Atomics.notify(words, 1);
      await Promise.all(runs);
      const ms = performance.now() - started;
      core.exports.coreFree(barrier, 64);
      mt.release();
      if (round === 0) continue;
      const ns = (ms * 1e6) / (COUNT * workers);
      (workers === 1 ? oneWorker : samples).push(ns);
    }
  }
  const two = median(samples);
  return { nsPerOpTotal: two, speedup: median(oneWorker) / two };
}

function throughput(fn: (ptr: number, length: number) => number, bytes: number): number {
  const buf = value(bytes, 9);
  const at = core.stage(buf);
  const reps = quick ? 200 : 4000;
  fn(at, bytes);
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    let sink = 0;
    for (let i = 0; i < reps; i++) sink ^= fn(at, bytes);
    const ms = performance.now() - start;
    if (sink === 0.5) console.log(sink);
    samples.push((bytes * reps) / (ms * 1e6));
  }
  return median(samples);
}

function hashKeysNs(): number {
  const keys = randomKeys(quick ? 10_000 : 100_000, KEY_BYTES, 5);
  const samples: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    let sink = 0;
    for (const key of keys) sink ^= core.shardOf(key);
    const ms = performance.now() - start;
    if (sink === -1) console.log(sink);
    samples.push((ms * 1e6) / keys.length);
  }
  return median(samples);
}

const fills = FILL_SIZES_MIB.map((mib) => ({ mib, ...oneThreadFill(mib << 20, (round, n) => randomKeys(n, KEY_BYTES, round + 1)) }));
/** The sequential fill's memtable: 64 MiB, 4 MiB in --quick (which only proves the path runs). */
const SEQUENTIAL_FILL_MIB = quick ? 4 : ARENA_BYTES >> 20;
const sequential = oneThreadFill(SEQUENTIAL_FILL_MIB << 20, (_, n) => sequentialKeys(n, KEY_BYTES));
const two = await twoWorkers();
const results = {
  runtime: platform.runtime,
  runtimeVersion: platform.runtimeVersion,
  fills,
  insertSequentialNsPerOp: sequential.nsPerOp,
  insertTwoWorkersNsPerOp: two.nsPerOpTotal,
  twoWorkerSpeedup: two.speedup,
  twoWorkerInsertsEach: COUNT,
  xxh32GBps: throughput((p, n) => core.exports.hash32(p, n, 0), 64 * 1024),
  crc32cGBps: throughput((p, n) => core.exports.crc32c(0, p, n), 64 * 1024),
  shardOfKeyNs: hashKeysNs(),
};

const rows: Array<[string, string]> = [
  ...fills.map((f): [string, string] => [`memtable insert, 1 thread, random keys, filling ${f.mib} MiB (${f.entries} entries)`, `${f.nsPerOp.toFixed(0)} ns/op`]),
  [`memtable insert, 1 thread, sequential keys, filling ${SEQUENTIAL_FILL_MIB} MiB`, `${results.insertSequentialNsPerOp.toFixed(0)} ns/op`],
  [`memtable insert, 2 workers x ${COUNT} into one memtable`, `${results.insertTwoWorkersNsPerOp.toFixed(0)} ns/op aggregate (${results.twoWorkerSpeedup.toFixed(2)}x one worker)`],
  ["xxh32, 64 KiB buffer", `${results.xxh32GBps.toFixed(2)} GB/s`],
  ["CRC-32C, 64 KiB buffer", `${results.crc32cGBps.toFixed(2)} GB/s`],
  ["shardOf(16 B key) from JS", `${results.shardOfKeyNs.toFixed(0)} ns/op`],
];
console.log(`\nbench/core on ${results.runtime} ${results.runtimeVersion} (16 B keys, 100 B values, median of ${ROUNDS} rounds)`);
for (const [name, figure] of rows) console.log(`  ${name.padEnd(72)} ${figure}`);
for (const f of fills) console.log(`  target 1-thread insert <= 300 ns/op, ${f.mib} MiB memtable: ${f.nsPerOp <= 300 ? "met" : "MISSED"}`);
console.log(`SHARDLINE-BENCH ${JSON.stringify({ bench: "core", ...results })}`);
(await import("node:process")).default.exit(0);
