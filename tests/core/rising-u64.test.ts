// loadRisingU64 (src/core/rising-u64.ts): a rising 64-bit word of the shared memory read as
// a number from its 32-bit halves, high, low, high again, with no BigInt. A worker raises a
// word through many multiples of 2^32 with 64-bit atomic stores while this thread reads it:
// every value read must be one the writer stored (k * 2^32 + d, |d| <= 3) and no smaller
// than the one before. A read of the halves from either side of a crossing would give
// (k - 1) * 2^32 + d or k * 2^32 + 2^32 - 3 + ...: values never written.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { loadRisingU64 } from "../../src/core/rising-u64.ts";
import type { RisingWriterJob } from "./concurrency-worker.ts";
import { startTogether } from "./start-together.ts";

const test = suite("rising u64");
const TWO_32 = 2 ** 32;

test("reads values across 2^32 and up to 2^53 exactly", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 8 << 20 });
  const word = core.exports.coreAlloc(64) >>> 0;
  const u64 = new BigUint64Array(core.memory.buffer, word, 1);
  for (const value of [0, 1, TWO_32 - 1, TWO_32, TWO_32 + 1, 3 * TWO_32 + 12345, 2 ** 53 - 1]) {
    Atomics.store(u64, 0, BigInt(value));
    assert.is(loadRisingU64(core.i32, word), value);
  }
});

test("a worker raising the word through 200,000 multiples of 2^32: every read is a value written, never lower than the last", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 8 << 20 });
  const word = core.exports.coreAlloc(64) >>> 0;
  const done = word + 8;
  new BigUint64Array(core.memory.buffer, word, 1)[0] = 0n;
  Atomics.store(core.i32, done >>> 2, 0);
  const crossings = 200_000;
  const { runs } = await startTogether<number>(core, 1, new URL("./concurrency-worker.ts", import.meta.url).href, "risingWriter",
    (_worker, barrier) => ({ word, done, crossings, barrier }) satisfies RisingWriterJob);
  let reads = 0;
  let last = 0;
  let crossingsSeen = 0;
  while (Atomics.load(core.i32, done >>> 2) === 0 || reads === 0) {
    const value = loadRisingU64(core.i32, word);
    reads++;
    if (value === 0) continue;
    const k = Math.round(value / TWO_32);
    const d = value - k * TWO_32;
    if (Math.abs(d) > 3 || k < 1 || k > crossings) assert.unreachable(`read ${value} (${k} x 2^32 ${d >= 0 ? "+" : "-"} ${Math.abs(d)}): never written`);
    if (value < last) assert.unreachable(`read ${value} after ${last}: the word only rises`);
    if (Math.floor(value / TWO_32) !== Math.floor(last / TWO_32)) crossingsSeen++;
    last = value;
  }
  const stores = (await Promise.all(runs))[0];
  console.log(`  [rising u64] ${reads} reads during ${stores} stores, ${crossingsSeen} crossings of a multiple of 2^32 seen`);
  assert.is(stores, 7 * crossings);
  assert.is(loadRisingU64(core.i32, word), crossings * TWO_32 + 3);
});

test.run();
