// Shard routing hash. XXH32 decides on which shard, and so in which files, a key lives:
// these vectors pin it forever. Vectors from the xxHash specification's known values,
// cross-checked with an independent implementation (xxhashjs 0.2.2), plus shardline's own
// routing vectors. If one of these fails, existing databases would be misread: do not
// "fix" the expectation, fix the hash.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";

const test = suite("hash");
const enc = new TextEncoder();
const core = await Core.create({ shards: 4, memoryBytesMax: 64 << 20 });
const core16 = await Core.create({ shards: 16, memoryBytesMax: 64 << 20 });

const VECTORS: Array<[string, number, number]> = [
  // input, xxh32(seed 0), xxh32(seed 0x9E3779B1)
  ["", 0x02cc5d05, 0x36b78ae7],
  ["a", 0x550d7456, 0x9e1633e4],
  ["abc", 0x32d153ff, 0xa1ae7709],
  ["message digest", 0x7c948494, 0x325ff26d],
  ["abcdefghijklmnopqrstuvwxyz", 0x63a14d5f, 0x235204a9],
  ["Nobody inspects the spammish repetition", 0xe2293b2f, 0xc9e89e68],
  ["0123456789abcdef", 0xc2c45b69, 0x72e8faf9],
  ["0123456789abcdefg", 0xcc79b217, 0x498c0efa],
];

test("xxh32 matches the reference vectors, seeds 0 and 0x9E3779B1", () => {
  for (const [input, seed0, seedPrime] of VECTORS) {
    assert.is(core.hash32(enc.encode(input), 0), seed0, `seed 0: ${JSON.stringify(input)}`);
    assert.is(core.hash32(enc.encode(input), 0x9e3779b1), seedPrime, `seed prime: ${JSON.stringify(input)}`);
  }
  const bytes = Uint8Array.from({ length: 101 }, (_, i) => i);
  assert.is(core.hash32(bytes), 0x1a20e95b, "bytes 0..100");
});

test("shard routing vectors (16 shards) never change", () => {
  const routes: Array<[string, number]> = [["user:1", 1], ["user:2", 10], ["order:42", 4], ["", 5], ["shardline", 8]];
  for (const [key, shard] of routes) assert.is(core16.shardOf(enc.encode(key)), shard, key);
});

test("shardOf is xxh32(key, 0) % shards", () => {
  for (let i = 0; i < 1000; i++) {
    const key = enc.encode(`key-${i}`);
    assert.is(core.shardOf(key), core.hash32(key) % 4);
    assert.is(core16.shardOf(key), core.hash32(key) % 16);
  }
});

// Chi-square goodness of fit against the uniform distribution; critical values at
// alpha = 0.001 (df = shards - 1). The keys are fixed, so the outcome is deterministic.
const CHI2_CRITICAL_0_001: Record<number, number> = { 3: 16.266, 15: 37.697 };
function chiSquare(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}

test("100,000 sequential keys are uniform over 4 and 16 shards (chi-square, alpha 0.001)", () => {
  for (const [c, shards] of [[core, 4], [core16, 16]] as const) {
    const counts = new Array(shards).fill(0);
    for (let i = 0; i < 100_000; i++) counts[c.shardOf(enc.encode(`user:${i.toString().padStart(8, "0")}`))]++;
    const chi2 = chiSquare(counts);
    assert.ok(chi2 < CHI2_CRITICAL_0_001[shards - 1], `chi-square ${chi2.toFixed(2)} over ${shards} shards: ${counts}`);
  }
});

test("16-byte binary keys with one varying byte are uniform over 16 shards (avalanche)", () => {
  const counts = new Array(16).fill(0);
  const key = new Uint8Array(16);
  for (let position = 0; position < 16; position++) {
    for (let v = 0; v < 256; v++) {
      key.fill(0x5a);
      key[position] = v;
      counts[core16.shardOf(key)]++;
    }
  }
  const chi2 = chiSquare(counts);
  assert.ok(chi2 < CHI2_CRITICAL_0_001[15], `chi-square ${chi2.toFixed(2)}: ${counts}`);
});

test.run();
