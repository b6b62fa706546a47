// The bloom filter: no false negatives, and the false-positive rate over 10,000 absent keys
// within a bound derived from bits per key.
//
// Derivation. A filter of m bits over n keys with k probes has false-positive rate
//   p = (1 - (1 - 1/m)^(k n))^k ≈ (1 - e^(-k n / m))^k.
// At 10 bits per key (m/n = 10) the writer uses k = round(10 ln 2) = 7, so
//   p ≈ (1 - e^(-0.7))^7 = 0.5034^7 ≈ 0.0082 (0.82%).
// Double hashing (g_i = h1 + i h2) costs a little on top of that in theory, nothing
// measurable at this size. Over 10,000 absent keys the count of false positives is
// Binomial(10000, 0.0082): mean 82, standard deviation ≈ 9. The test accepts 20..200
// (0.2%..2%): the upper bound is mean + 13σ, so only a broken filter fails it; the lower
// bound (mean - 6.8σ) catches a filter larger or different than the sizing says. The keys
// are fixed, so the count is the same number on every run and runtime; it is printed.
// At 5 bits per key: k = round(3.47) = 3 and p ≈ (1 - e^(-0.6))^3 ≈ 0.092.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bloomBitBytes, bloomProbes } from "../../src/table/bloom-filter.ts";
import { cleanup, enc, entry, writeAndOpen } from "./helpers.ts";

const test = suite("table bloom filter");

const KEYS = 10_000;
const present = Array.from({ length: KEYS }, (_, i) => enc.encode(`user:${String(i).padStart(8, "0")}`));
const absent = Array.from({ length: KEYS }, (_, i) => enc.encode(`user:${String(i).padStart(8, "0")}:x`));

function measure(bitsPerKey: number) {
  const entries = present.map((key, i) => entry(key, 1, i, "v"));
  const { reader } = writeAndOpen(entries, { bloomBitsPerKey: bitsPerKey });
  for (const key of present) assert.ok(reader.mayContain(key), "no false negatives");
  let falsePositives = 0;
  for (const key of absent) if (reader.mayContain(key)) falsePositives++;
  for (const key of absent.slice(0, 500)) assert.is(reader.get(key, 2n ** 64n - 1n), undefined);
  const probes = reader.filter.probes;
  const bits = reader.filter.bits.length * 8;
  reader.close();
  const theory = (1 - Math.exp((-probes * KEYS) / bits)) ** probes;
  return { rate: falsePositives / KEYS, falsePositives, probes, bits, theory };
}

test("sizing: bitBytes = max(8, ceil(n × bitsPerKey / 8)) and k = round(bitsPerKey × ln 2)", () => {
  assert.is(bloomProbes(10), 7);
  assert.is(bloomProbes(5), 3);
  assert.is(bloomProbes(1), 1);
  assert.is(bloomProbes(30), 21);
  assert.is(bloomBitBytes(1, 10), 8);
  assert.is(bloomBitBytes(10_000, 10), 12_500);
  assert.is(bloomBitBytes(3, 10), 8);
  assert.is(bloomBitBytes(7, 10), 9);
});

test("10 bits per key: 10,000 absent keys give 0.2%..2% false positives (theory 0.82%)", () => {
  const m = measure(10);
  assert.is(m.probes, 7);
  assert.is(m.bits, 100_000);
  console.log(`    bloom 10 bits/key: ${m.falsePositives} false positives in ${KEYS} absent keys = ${(m.rate * 100).toFixed(2)}% (theory ${(m.theory * 100).toFixed(2)}%)`);
  assert.ok(m.falsePositives >= 20 && m.falsePositives <= 200, `${m.falsePositives} false positives`);
});

test("5 bits per key: within half to twice the theoretical 9.2%", () => {
  const m = measure(5);
  assert.is(m.probes, 3);
  console.log(`    bloom 5 bits/key: ${(m.rate * 100).toFixed(2)}% (theory ${(m.theory * 100).toFixed(2)}%)`);
  assert.ok(m.rate > m.theory / 2 && m.rate < m.theory * 2, `${m.rate} vs ${m.theory}`);
});

test("the filter is over keys, not versions: many versions of few keys make a small filter", () => {
  const entries = [];
  for (let k = 0; k < 10; k++) for (let v = 100; v > 0; v--) entries.push(entry(`k${k}`, v, v));
  const { reader } = writeAndOpen(entries);
  assert.is(reader.filter.keys, 10);
  assert.is(reader.filter.bits.length, 13); // ceil(10 × 10 / 8)
  reader.close();
});

test.after(cleanup);
test.run();
