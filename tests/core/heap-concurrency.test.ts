// The heap's free list under threads: four workers allocate and free blocks of random sizes
// in one small shared memory (so the memory runs full and freed blocks are split and merged
// all the time), each block filled with its own byte and checked whole before it is freed
// (tests/core/concurrency-worker.ts heapChurn). No block is ever handed to two holders or
// written by the list, and once every block is back the free list holds all of it as one run.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import type { HeapChurnJob } from "./concurrency-worker.ts";
import { startTogether } from "./start-together.ts";

const test = suite("heap concurrency");
const WORKERS = 4;
const ROUNDS = 6_000;

test(`${WORKERS} workers allocate and free random sizes in a 10 MiB memory: no block shared, no byte of a held block changed, all of it free at the end`, async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 10 << 20 });
  const freeBefore = core.exports.coreHeapFreeBytes();
  const { runs, barrier } = await startTogether<[number, number, number]>(core, WORKERS, new URL("./concurrency-worker.ts", import.meta.url).href, "heapChurn",
    (worker, barrier) => ({ worker, rounds: ROUNDS, barrier }) satisfies HeapChurnJob);
  const reports = await Promise.all(runs);
  const allocations = reports.reduce((n, [a]) => n + a, 0);
  const refusals = reports.reduce((n, [, r]) => n + r, 0);
  console.log(`  [heap] ${allocations} allocations, ${refusals} refused (memory full), free list ${core.exports.coreHeapFreeBytes()} bytes`);
  for (const [worker, [, , bad]] of reports.entries()) assert.is(bad, 0, `worker ${worker}: bytes of its held blocks changed, or a free refused`);
  assert.ok(allocations > WORKERS * 1000, `${allocations} allocations`);
  // Every block came back: the free list holds everything carved since, in one run (the
  // four thread blocks, freed at detach, are in it too).
  const top = core.exports.coreHeapTop() >>> 0;
  const free = core.exports.coreHeapFreeBytes() - freeBefore;
  assert.is(free, BigInt(top - (barrier + 64)) - BigInt((top - (barrier + 64)) % 64), "every byte above the barrier is free again");
  const whole = core.exports.coreAlloc(Number(free)) >>> 0;
  assert.is(whole, barrier + 64, "as one run, right above the barrier");
});

test.run();
