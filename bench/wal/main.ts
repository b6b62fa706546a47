/**
 * bench/wal: the durable log in the runtime running this file, against the disk's floor.
 *
 * - the floor: fdatasync p50/p99 after a 4 KiB write, measured twice in the same run: as
 *   an append that grows the file (the usual figure), and as an overwrite of space the
 *   file already has (what the log's preallocation makes its syncs);
 * - a lone writer's durable append (100-byte records, one at a time) p50/p99, and its p50
 *   as a multiple of each floor (target: at most 1.5x the fdatasync p50);
 * - durable appends per second with 1, 16 and 256 in flight, with records per sync;
 * - appendNow (buffered, not waited for) ns/op, and `await append` with durability "async".
 *
 * Prints a readable table and `SHARDLINE-BENCH {json}`. usage: <runtime> bench/wal/main.ts [--quick]
 */
import process from "node:process";
import { bindLogApi } from "../../src/wal/public.ts";
import { value } from "../lib/data.ts";
import { currentPlatform } from "../lib/platform.ts";
import { median, percentile } from "../lib/timing.ts";

const args = "Deno" in globalThis ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args : process.argv.slice(2);
const quick = args.includes("--quick");
const platform = await currentPlatform();
const { openLog } = bindLogApi(platform);
const RECORD = value(100, 3);
const SYNC_SAMPLES = quick ? 50 : 500;
const LONE_SAMPLES = quick ? 50 : 1000;
const THROUGHPUT_MS = quick ? 200 : 2000;

const root = platform.makeTempDir("shardline-bench-wal-");

function fdatasyncFloor(preallocated: boolean): { p50: number; p99: number } {
  const path = `${root}/floor-${preallocated ? "overwrite" : "append"}`;
  const file = platform.open(path, "truncate");
  const block = new Uint8Array(4096).fill(7);
  if (preallocated) {
    const zeros = new Uint8Array(SYNC_SAMPLES * 4096);
    file.write(zeros, 0);
    file.sync();
  }
  const samples: number[] = [];
  for (let i = 0; i < SYNC_SAMPLES; i++) {
    const t = performance.now();
    file.write(block, i * 4096);
    file.datasync();
    samples.push((performance.now() - t) * 1000);
  }
  file.close();
  platform.unlink(path);
  return { p50: median(samples), p99: percentile(samples, 99) };
}

async function loneWriter(): Promise<{ p50: number; p99: number }> {
  const log = await openLog(`${root}/lone`, { segmentBytesMax: 64 << 20 });
  for (let i = 0; i < 50; i++) await log.append(RECORD); // warm up
  const samples: number[] = [];
  for (let i = 0; i < LONE_SAMPLES; i++) {
    const t = performance.now();
    await log.append(RECORD);
    samples.push((performance.now() - t) * 1000);
  }
  await log.close();
  return { p50: median(samples), p99: percentile(samples, 99) };
}

async function inFlight(depth: number): Promise<{ perSecond: number; recordsPerSync: number; p50: number; p99: number }> {
  const log = await openLog(`${root}/depth-${depth}`, { segmentBytesMax: 64 << 20 });
  for (let i = 0; i < 50; i++) await log.append(RECORD);
  const before = log.stats();
  const latencies: number[] = [];
  let done = 0;
  const deadline = performance.now() + THROUGHPUT_MS;
  const started = performance.now();
  async function lane(): Promise<void> {
    while (performance.now() < deadline) {
      const t = performance.now();
      await log.append(RECORD);
      latencies.push((performance.now() - t) * 1000);
      done++;
    }
  }
  await Promise.all(Array.from({ length: depth }, lane));
  const seconds = (performance.now() - started) / 1000;
  const after = log.stats();
  await log.close();
  const syncs = after.syncs - before.syncs;
  return { perSecond: done / seconds, recordsPerSync: (after.syncedRecords - before.syncedRecords) / Math.max(1, syncs), p50: median(latencies), p99: percentile(latencies, 99) };
}

async function appendNowNs(): Promise<number> {
  const log = await openLog(`${root}/now`, { segmentBytesMax: 64 << 20, bufferBytes: 64 << 20 });
  const n = quick ? 20_000 : 200_000;
  const rounds: number[] = [];
  for (let r = 0; r < 4; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) log.appendNow(RECORD);
    rounds.push(((performance.now() - t) * 1e6) / n);
    await log.flushUntil();
  }
  await log.close();
  return median(rounds.slice(1));
}

async function asyncAppendNs(): Promise<number> {
  const log = await openLog(`${root}/async`, { segmentBytesMax: 64 << 20, bufferBytes: 64 << 20, durability: "async" });
  const n = quick ? 20_000 : 200_000;
  const rounds: number[] = [];
  for (let r = 0; r < 4; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) await log.append(RECORD);
    rounds.push(((performance.now() - t) * 1e6) / n);
  }
  await log.close();
  return median(rounds.slice(1));
}

const floorAppend = fdatasyncFloor(false);
const floorOverwrite = fdatasyncFloor(true);
const lone = await loneWriter();
const depths: Record<string, Awaited<ReturnType<typeof inFlight>>> = {};
for (const depth of [1, 16, 256]) depths[depth] = await inFlight(depth);
const results = {
  runtime: platform.runtime,
  runtimeVersion: platform.runtimeVersion,
  fdatasyncAppendUs: floorAppend,
  fdatasyncOverwriteUs: floorOverwrite,
  loneDurableAppendUs: lone,
  loneVsFdatasyncAppend: lone.p50 / floorAppend.p50,
  loneVsFdatasyncOverwrite: lone.p50 / floorOverwrite.p50,
  inFlight: depths,
  appendNowNsPerOp: await appendNowNs(),
  asyncAppendNsPerOp: await asyncAppendNs(),
};
platform.removeAll(root);

const us = (x: number) => `${x.toFixed(0)} us`;
const rows: Array<[string, string]> = [
  ["fdatasync after a 4 KiB append (file grows), p50 / p99", `${us(floorAppend.p50)} / ${us(floorAppend.p99)}`],
  ["fdatasync after a 4 KiB overwrite (preallocated), p50 / p99", `${us(floorOverwrite.p50)} / ${us(floorOverwrite.p99)}`],
  ["lone writer, durable append of 100 B, p50 / p99", `${us(lone.p50)} / ${us(lone.p99)}`],
  ["  as a multiple of fdatasync p50 (append / overwrite)", `${results.loneVsFdatasyncAppend.toFixed(2)}x / ${results.loneVsFdatasyncOverwrite.toFixed(2)}x`],
  ...[1, 16, 256].map((d): [string, string] => [
    `durable appends, ${d} in flight`,
    `${Math.round(depths[d].perSecond).toLocaleString("en-US")}/s, ${depths[d].recordsPerSync.toFixed(1)} records/sync, p50 ${us(depths[d].p50)}, p99 ${us(depths[d].p99)}`,
  ]),
  ["appendNow (buffered), 100 B", `${results.appendNowNsPerOp.toFixed(0)} ns/op`],
  ["await append, durability \"async\", 100 B", `${results.asyncAppendNsPerOp.toFixed(0)} ns/op`],
];
console.log(`\nbench/wal on ${results.runtime} ${results.runtimeVersion}`);
for (const [name, figure] of rows) console.log(`  ${name.padEnd(64)} ${figure}`);
console.log(`  target lone durable append p50 <= 1.5x fdatasync p50 (4 KiB append): ${results.loneVsFdatasyncAppend <= 1.5 ? "met" : "MISSED"}`);
console.log(`SHARDLINE-BENCH ${JSON.stringify({ bench: "wal", ...results })}`);
process.exit(0);
