// Model-based test: random tables (keys with shared prefixes and the empty key, several
// versions per key with random ts and seq, tombstones, values from empty to large),
// written with random block sizes and restart intervals, then compared with a model
// computed from the sorted array: get at random snapshots, full forward and reverse
// iteration, seeks and seekBefores (with and without ts), and random walks mixing
// next and prev, all through a small block cache that must evict.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { BlockCache } from "../../src/table/block-cache.ts";
import type { TableEntry } from "../../src/table/format.ts";
import { compareEntries, compareKeys } from "../../src/table/key-order.ts";
import { cleanup, modelGet, plain, platform, tableOrder, writeAndOpen } from "./helpers.ts";

const test = suite("table model");

const U64_MAX = 2n ** 64n - 1n;
const u64Arb = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt({ min: 0n, max: 40n }) },
  { weight: 1, arbitrary: fc.constantFrom(0n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n + 1n, U64_MAX - 1n, U64_MAX) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: U64_MAX }) },
);
/** Short keys over a 3-letter alphabet (many shared prefixes, the empty key), and some longer ones sharing a long prefix. */
const keyArb = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 5 }).map((a) => a.map((x) => 97 + (x % 3))) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 40 }).map((a) => Uint8Array.from([...new Array(20).fill(120), ...a.map((x) => x % 4)])) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 3 }) },
);
const valueArb = fc.oneof(
  { weight: 20, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.integer({ min: 3000, max: 40000 }).map((n) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + n) & 0xff)) },
);
const versionArb = fc.record({ ts: u64Arb, seq: u64Arb, tomb: fc.integer({ min: 0, max: 3 }), value: valueArb });
const groupArb = fc.record({ key: keyArb, versions: fc.array(versionArb, { minLength: 1, maxLength: 5 }) });
const optionsArb = fc.record({
  blockBytesTarget: fc.integer({ min: 64, max: 2048 }),
  restartIntervalEntries: fc.integer({ min: 1, max: 20 }),
  cacheBytesMax: fc.integer({ min: 0, max: 16384 }),
});

function toEntries(groups: Array<{ key: Uint8Array; versions: Array<{ ts: bigint; seq: bigint; tomb: number; value: Uint8Array }> }>): TableEntry[] {
  const all: TableEntry[] = [];
  for (const g of groups) for (const v of g.versions) all.push({ key: g.key, ts: v.ts, seq: v.seq, value: v.tomb === 0 ? undefined : v.value });
  return tableOrder(all);
}

/** First index with entry >= (key, ts), model side. */
function lowerBound(sorted: TableEntry[], key: Uint8Array, ts: bigint): number {
  let i = 0;
  while (i < sorted.length && compareEntries(sorted[i].key, sorted[i].ts, key, ts) < 0) i++;
  return i;
}

type Cursor = ReturnType<ReturnType<typeof writeAndOpen>["reader"]["cursor"]>;

function expectAt(c: Cursor, sorted: TableEntry[], i: number, what: string): void {
  if (i < 0 || i >= sorted.length) {
    assert.is(c.valid, false, `${what}: expected the cursor past the end (model index ${i})`);
    return;
  }
  assert.ok(c.valid, `${what}: expected entry ${i}, cursor not valid`);
  assert.equal(plain(c.entry()), plain(sorted[i]), `${what}: entry ${i}`);
  assert.is(c.compareKey(sorted[i].key), 0);
  assert.equal([...c.key], [...sorted[i].key]);
}

test("random tables behave like the sorted array", () => {
  let runs = 0;
  let multiBlock = 0;
  fc.assert(
    fc.property(
      fc.array(groupArb, { minLength: 1, maxLength: 60 }),
      fc.array(fc.tuple(keyArb, u64Arb, u64Arb), { maxLength: 25 }),
      fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 60 }),
      optionsArb,
      (groups, probes, walk, options) => {
        runs++;
        const sorted = toEntries(groups);
        const cache = new BlockCache({ cacheBytesMax: options.cacheBytesMax });
        const { reader, dir, meta } = writeAndOpen(sorted, options, cache);
        if (reader.dataBlocks > 2) multiBlock++;
        try {
          assert.is(meta.entries, sorted.length);
          assert.is(meta.tombstones, sorted.filter((e) => e.value === undefined).length);
          assert.equal([...meta.smallestKey], [...sorted[0].key]);
          assert.equal([...meta.largestKey], [...sorted[sorted.length - 1].key]);
          assert.is(meta.maxSeq, sorted.reduce((m, e) => (e.seq > m ? e.seq : m), 0n));
          assert.is(meta.minTs, sorted.reduce((m, e) => (e.ts < m ? e.ts : m), U64_MAX));
          assert.is(meta.maxTs, sorted.reduce((m, e) => (e.ts > m ? e.ts : m), 0n));

          // Full iteration, both ways.
          assert.equal([...reader.entries()].map(plain), sorted.map(plain), "forward");
          assert.equal([...reader.entries({ reverse: true })].map(plain), sorted.map(plain).reverse(), "reverse");

          // get at snapshots, for present and absent keys; every present key may be contained.
          for (const e of sorted) assert.ok(reader.mayContain(e.key), "no false negatives");
          const snapshots = (s: bigint) => [s, 0n, U64_MAX, ...sorted.slice(0, 3).map((e) => e.seq)];
          for (const [key, s] of [...probes.map(([k, s]) => [k, s] as const), ...sorted.slice(0, 10).map((e) => [e.key, e.seq] as const)]) {
            for (const snapshot of snapshots(s)) {
              const got = reader.get(key, snapshot);
              const want = modelGet(sorted, key, snapshot);
              assert.equal(got === undefined ? undefined : plain({ key, ...got }), plain(want), `get at ${snapshot}`);
            }
          }

          // Seeks with and without ts, and seekBefore.
          const c = reader.cursor();
          for (const [key, ts] of probes) {
            const ge = lowerBound(sorted, key, U64_MAX);
            c.seek(key);
            expectAt(c, sorted, ge, "seek(key)");
            if (c.valid) (c.next(), expectAt(c, sorted, ge + 1, "seek(key) + next"));
            c.seekBefore(key);
            expectAt(c, sorted, ge - 1, "seekBefore(key)");
            if (c.valid) (c.prev(), expectAt(c, sorted, ge - 2, "seekBefore(key) + prev"));
            const geTs = lowerBound(sorted, key, ts);
            c.seek(key, ts);
            expectAt(c, sorted, geTs, "seek(key, ts)");
            c.seekBefore(key, ts);
            expectAt(c, sorted, geTs - 1, "seekBefore(key, ts)");
          }
          // Every entry found exactly by (key, ts), and from it one step each way.
          for (let i = 0; i < sorted.length; i += Math.max(1, sorted.length >> 3)) {
            c.seek(sorted[i].key, sorted[i].ts);
            expectAt(c, sorted, i, "seek exact");
            c.prev();
            expectAt(c, sorted, i - 1, "exact + prev");
            c.seekBefore(sorted[i].key, sorted[i].ts);
            expectAt(c, sorted, i - 1, "seekBefore exact");
            if (i > 0) {
              c.next();
              expectAt(c, sorted, i, "seekBefore exact + next");
            }
          }

          // A random walk: 0 next, 1 prev, 2 seekFirst, 3 seekLast.
          let at = 0;
          c.seekFirst();
          for (const step of walk) {
            if (step === 0) {
              if (at < sorted.length) (c.next(), at++);
            } else if (step === 1) {
              if (at >= 0 && at < sorted.length) (c.prev(), at--);
              else if (at < 0) continue;
            } else if (step === 2) (c.seekFirst(), (at = 0));
            else (c.seekLast(), (at = sorted.length - 1));
            if (at < 0 || at >= sorted.length) {
              expectAt(c, sorted, at, `walk step ${step}`);
              // Past an end the cursor stays put until re-positioned.
              assert.is(c.next(), false);
              assert.is(c.prev(), false);
              c.seekFirst();
              at = 0;
            }
            expectAt(c, sorted, at, `walk step ${step}`);
          }
          assert.ok(cache.bytes <= cache.cacheBytesMax, "cache bound");
        } finally {
          reader.close();
          platform.removeAll(dir);
        }
      },
    ),
    { numRuns: 150 },
  );
  assert.ok(runs >= 150);
  assert.ok(multiBlock > runs / 4, `only ${multiBlock} of ${runs} tables had more than two data blocks`);
});

test("keys compare as unsigned bytes, a key before its extensions", () => {
  const keys = [[], [0], [0, 0], [0, 1], [1], [127], [128], [128, 0], [255], [255, 255]].map((k) => Uint8Array.from(k));
  for (let i = 0; i < keys.length; i++) {
    for (let j = 0; j < keys.length; j++) assert.is(Math.sign(compareKeys(keys[i], keys[j])), Math.sign(i - j), `${keys[i]} vs ${keys[j]}`);
  }
  const sorted = keys.map((key, i) => ({ key, ts: 1n, seq: BigInt(i), value: key }));
  const { reader } = writeAndOpen(sorted, { blockBytesTarget: 64, restartIntervalEntries: 2 });
  assert.equal([...reader.entries()].map(plain), sorted.map(plain));
  reader.close();
});

test.after(cleanup);
test.run();
