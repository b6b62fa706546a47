// The YCSB key choosers and operation sequences of the benchmark (bench/lib/zipfian.ts,
// bench/workloads/ycsb-data.ts): that they are YCSB's (FNV-1a-64 as YCSB computes it, the
// zipfian head where Gray et al. put it, "latest" favouring the newest items), that they
// are deterministic, and that each sequence's own bookkeeping (inserts, scan bounds) is
// right. No timing is involved.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { FULL, QUICK } from "../../bench/harness/sizes.ts";
import { compareBytes } from "../../bench/lib/data.ts";
import { fnv64, fnv64Mod, ScrambledZipfian, SkewedLatest, uniform, Zipfian, zeta } from "../../bench/lib/zipfian.ts";
import { INSERT, makeYcsbData, READ, SCAN, UPDATE } from "../../bench/workloads/ycsb-data.ts";

const test = suite("bench ycsb");

/** YCSB's Utils.fnvhash64 with BigInt (before its Math.abs). */
function fnvReference(value: bigint): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < 8; i++) {
    h ^= value & 0xffn;
    value >>= 8n;
    h = (h * 1099511628211n) & 0xffffffffffffffffn;
  }
  return h;
}

test("fnv64 and fnv64Mod agree with 64-bit arithmetic", () => {
  const random = uniform(9);
  for (let i = 0; i < 2000; i++) {
    const v = i < 500 ? i : Math.floor(random() * 2 ** 53);
    const [hi, lo] = fnv64(v);
    const h = fnvReference(BigInt(v));
    assert.is((BigInt(hi) << 32n) | BigInt(lo), h, `fnv64(${v})`);
    const signed = BigInt.asIntN(64, h);
    const n = 1 + ((i * 7919) % 100_000);
    assert.is(fnv64Mod(v, n), Number((signed < 0n ? -signed : signed) % BigInt(n)), `fnv64Mod(${v}, ${n})`);
  }
});

test("uniform doubles are in [0, 1) and deterministic", () => {
  const a = uniform(5);
  const b = uniform(5);
  for (let i = 0; i < 10_000; i++) {
    const x = a();
    assert.ok(x >= 0 && x < 1);
    assert.is(b(), x);
  }
});

test("Zipfian: item 0 takes 1/zeta(n) of the draws, ranks stay in range, the count may grow", () => {
  const z = new Zipfian(1000, uniform(1));
  const draws = 200_000;
  let zeros = 0;
  for (let i = 0; i < draws; i++) {
    const k = z.next();
    assert.ok(k >= 0 && k < 1000);
    if (k === 0) zeros++;
  }
  const expected = 1 / zeta(0, 1000, 0.99);
  assert.ok(Math.abs(zeros / draws - expected) < 0.01, `item 0: ${zeros / draws} vs ${expected}`);
  for (let n = 1001; n < 1100; n++) assert.ok(z.next(n) < n);
  assert.throws(() => z.next(10), /only grow/);
});

test("ScrambledZipfian: scattered, with a head of about 1/26.47 (YCSB's zeta over 10^10 items)", () => {
  const s = new ScrambledZipfian(50_000, uniform(2));
  const counts = new Map<number, number>();
  const draws = 200_000;
  for (let i = 0; i < draws; i++) {
    const k = s.next();
    assert.ok(k >= 0 && k < 50_000);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  assert.ok(Math.abs(top[0][1] / draws - 1 / 26.469) < 0.005, `head share ${top[0][1] / draws}`);
  assert.ok(top[0][0] !== 0 && top[1][0] !== 1, "the popular items are not the first keynums");
});

test("SkewedLatest: items in [1, latest], the newest the most popular", () => {
  const l = new SkewedLatest(9_999, uniform(3));
  let newest = 0;
  for (let i = 0; i < 50_000; i++) {
    const k = l.next(9_999);
    assert.ok(k >= 1 && k <= 9_999);
    if (k === 9_999) newest++;
  }
  assert.ok(newest / 50_000 > 0.08, `the newest item drew ${newest / 50_000}`);
});

test("sequences: deterministic, in the proportions asked, inserts new, reads present, scan bounds exact", () => {
  for (const sizes of [QUICK, { ...FULL, ycsb: { ...FULL.ycsb, records: 3_000, operations: 3_000, scanOperations: 1_500 } }]) {
    const a = makeYcsbData(sizes, 20);
    const b = makeYcsbData(sizes, 20);
    for (const [s, seq] of a.sequences.entries()) {
      const other = b.sequences[s];
      assert.equal(seq.type, other.type);
      for (let i = 0; i < seq.length; i++) assert.equal(seq.key[i], other.key[i]);
      assert.is(seq.length, seq.warm + seq.measured);

      // Proportions within a few points of the mix.
      const counts = [0, 0, 0, 0];
      for (const t of seq.type) counts[t]++;
      seq.spec.mix.forEach((p, t) => assert.ok(Math.abs(counts[t] / seq.length - p) < 0.05, `${seq.spec.id} type ${t}: ${counts[t] / seq.length} vs ${p}`));

      // Replay on a model: inserts are new keys, reads and updates hit present keys, and
      // each scan's minimum is the count of present keys at or after its start (capped).
      const present = a.records.map((k) => k);
      const has = new Set(present.map((k) => k.join(",")));
      for (let i = 0; i < seq.length; i++) {
        const key = seq.key[i];
        const id = key.join(",");
        if (seq.type[i] === INSERT) {
          assert.not.ok(has.has(id), `${seq.spec.id} ${i}: an insert of a present key`);
          has.add(id);
          present.push(key);
        } else {
          assert.ok(has.has(id), `${seq.spec.id} ${i}: ${seq.type[i] === READ ? "read" : seq.type[i] === UPDATE ? "update" : "scan"} of an absent key`);
        }
        if (seq.type[i] === SCAN && i % 50 === 0) {
          const after = present.filter((k) => compareBytes(k, key) >= 0).length;
          assert.is(seq.scanMin[i], Math.min(seq.scanLength[i], after));
          assert.ok(seq.scanLength[i] >= 1 && seq.scanLength[i] <= sizes.ycsb.maxScanLength);
        }
      }
    }
  }
});

test.run();
