// Edge keys and values against a model Map of acknowledged writes: get, has, scan (both
// directions, random gt/gte/lt/lte bounds including one longer than KEY_BYTES_MAX, limit,
// seek) and reads at held snapshots, through flushes, merges and reopens, with the empty
// key, keys of 0x00/0xff bytes, keys that are prefixes of each other and KEY_BYTES_MAX
// keys, values from empty to a quarter memtable, and block caches of 0 and 300 bytes (every
// miss reads into a recycled buffer). Deterministic from its seeds; SHARDLINE_EDGE_SEEDS=n
// runs seeds 100.. instead (a soak). (Adversarial review of tables, flush and compaction,
// 2026-12-07: no defect, 100 seeds soaked; kept as a guard.)
import process from "node:process";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KEY_BYTES_MAX } from "../../src/core/core.ts";
import { CorruptionError } from "../../src/engine/public.ts";
import { BlockCache } from "../../src/table/block-cache.ts";
import { TableReader } from "../../src/table/table-reader.ts";
import { core as tableCore } from "../table/helpers.ts";
import { seededRandom } from "../harness/seeded-random.ts";
import { cleanup, eventually, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine edge keys");
test.after.each(cleanup);

type Db = Awaited<ReturnType<typeof open>>;
const OPTIONS = { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" } as const;
const VALUE_MAX = OPTIONS.memtableBytesMax / 4;


const hex = (b: Uint8Array) => (b.length > 12 ? `${[...b.subarray(0, 6)].map((x) => x.toString(16).padStart(2, "0")).join("")}..(${b.length})` : [...b].map((x) => x.toString(16).padStart(2, "0")).join(""));
const cmp = (a: Uint8Array, b: Uint8Array) => {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
};
const bytes = (...parts: Array<number | number[]>) => new Uint8Array(parts.flat());
const fill = (n: number, b: number) => new Array<number>(n).fill(b);

/** Edge keys: prefixes of each other, 0x00 and 0xff bytes, KEY_BYTES_MAX long. */
const EDGE_KEYS: Uint8Array[] = [
  bytes(),
  bytes(0x00),
  bytes(0x00, 0x00),
  bytes(0x61),
  bytes(0x61, 0x00),
  bytes(0x61, 0x61),
  bytes(0x61, 0xff),
  bytes(0x61, 0xff, 0xff),
  bytes(fill(KEY_BYTES_MAX - 1, 0x61)),
  bytes(fill(KEY_BYTES_MAX, 0x61)),
  bytes(fill(KEY_BYTES_MAX - 1, 0x61), 0x00),
  bytes(fill(KEY_BYTES_MAX - 1, 0x61), 0xff),
  bytes(0xff),
  bytes(0xff, 0xff),
  bytes(fill(KEY_BYTES_MAX, 0xff)),
  bytes(fill(KEY_BYTES_MAX - 1, 0xff)),
];
const KEYS: Uint8Array[] = [...EDGE_KEYS, ...Array.from({ length: 25 }, (_, i) => new TextEncoder().encode(`k${String(i).padStart(3, "0")}`))];

function valueFor(random: () => number, step: number): Uint8Array {
  const r = random();
  const length = r < 0.15 ? 0 : r < 0.3 ? 1 : r < 0.55 ? 100 : r < 0.8 ? 3000 : VALUE_MAX;
  const v = new Uint8Array(length);
  for (let i = 0; i < length; i++) v[i] = (step * 31 + i * 7) & 0xff;
  return v;
}

type Model = Map<string, Uint8Array>; // hex(key) of the full key -> value
const id = (k: Uint8Array) => [...k].map((x) => x.toString(16).padStart(2, "0")).join("");

function expectedRows(model: Model, lower?: Uint8Array, lowerExclusive = false, upper?: Uint8Array, upperInclusive = false): Array<[Uint8Array, Uint8Array]> {
  const rows: Array<[Uint8Array, Uint8Array]> = [];
  for (const k of KEYS) {
    const v = model.get(id(k));
    if (v === undefined) continue;
    if (lower) {
      const c = cmp(k, lower);
      if (c < 0 || (c === 0 && lowerExclusive)) continue;
    }
    if (upper) {
      const c = cmp(k, upper);
      if (c > 0 || (c === 0 && !upperInclusive)) continue;
    }
    rows.push([k, v]);
  }
  return rows.sort((a, b) => cmp(a[0], b[0]));
}

function sameRows(got: Array<[Uint8Array, Uint8Array]>, want: Array<[Uint8Array, Uint8Array]>, what: string): void {
  const show = (rows: Array<[Uint8Array, Uint8Array]>) => rows.map(([k, v]) => `${hex(k)}=${v.length}:${v[0] ?? "-"}`).join(" ");
  const equal = got.length === want.length && got.every(([k, v], i) => cmp(k, want[i][0]) === 0 && cmp(v, want[i][1]) === 0);
  if (!equal) assert.unreachable(`${what}\n  got:  ${show(got)}\n  want: ${show(want)}`);
}

type Snap = ReturnType<Db["snapshot"]>;

function checkAll(db: Db, model: Model, random: () => number, what: string, snapshot?: Snap): void {
  const opts = snapshot ? { snapshot } : undefined;
  for (const k of KEYS) {
    const want = model.get(id(k));
    const got = db.get(k, opts);
    if (want === undefined) {
      if (got !== undefined) assert.unreachable(`${what}: get(${hex(k)}) = ${got.length} bytes, the key was deleted or never written`);
    } else if (got === undefined || cmp(got, want) !== 0) {
      assert.unreachable(`${what}: get(${hex(k)}) = ${got === undefined ? "undefined" : `${got.length} bytes`}, want ${want.length} bytes`);
    }
    assert.is(db.has(k, opts), want !== undefined, `${what}: has(${hex(k)})`);
  }
  const all = expectedRows(model);
  sameRows([...db.scan({ snapshot })], all, `${what}: full forward scan`);
  sameRows([...db.scan({ snapshot, reverse: true })], [...all].reverse(), `${what}: full reverse scan`);
  // Random bounds from the key set (and one longer than any key).
  for (let i = 0; i < 4; i++) {
    const pick = () => (random() < 0.1 ? bytes(fill(KEY_BYTES_MAX + 1, 0x61)) : KEYS[Math.floor(random() * KEYS.length)]);
    const a = pick();
    const b = pick();
    const [lo, hi] = cmp(a, b) <= 0 ? [a, b] : [b, a];
    const lowerExclusive = random() < 0.5;
    const upperInclusive = random() < 0.5;
    const options = { snapshot, [lowerExclusive ? "gt" : "gte"]: lo, [upperInclusive ? "lte" : "lt"]: hi };
    // A bound longer than KEY_BYTES_MAX: the keys >= it are those > its cut, <= it those <= its cut.
    const cut = (x: Uint8Array) => x.subarray(0, KEY_BYTES_MAX);
    const want = expectedRows(model, cut(lo), lo.length > KEY_BYTES_MAX ? true : lowerExclusive, cut(hi), hi.length > KEY_BYTES_MAX ? true : upperInclusive);
    const label = `${what}: scan ${lowerExclusive ? "gt" : "gte"} ${hex(lo)} ${upperInclusive ? "lte" : "lt"} ${hex(hi)}`;
    sameRows([...db.scan(options)], want, label);
    sameRows([...db.scan({ ...options, reverse: true })], [...want].reverse(), `${label} reverse`);
    const limit = 1 + Math.floor(random() * 3);
    sameRows([...db.scan({ ...options, limit })], want.slice(0, limit), `${label} limit ${limit}`);
    // seek: from the start to a random key, forward and reverse.
    const target = KEYS[Math.floor(random() * KEYS.length)];
    const it = db.scan({ snapshot });
    it.seek(target);
    sameRows([...it], all.filter(([k]) => cmp(k, target) >= 0), `${what}: seek(${hex(target)})`);
    const rit = db.scan({ snapshot, reverse: true });
    rit.seek(target);
    sameRows([...rit], all.filter(([k]) => cmp(k, target) <= 0).reverse(), `${what}: reverse seek(${hex(target)})`);
  }
}

/** Random puts and deletes of the edge keys with snapshots, flushes and reopens, checked against the model. */
async function modelRun(seed: number, steps: number, durability: "async" | "full"): Promise<void> {
  const random = seededRandom(seed);
  const dir = tempDir();
  const options = { ...OPTIONS, durability, shards: 1 + (seed % 3), blockCacheBytesMax: [1 << 20, 0, 300, 5000][seed % 4] };
  let db = await open(dir, options);
  const model: Model = new Map();
  const snaps: Array<{ snap: Snap; model: Model; step: number }> = [];
  try {
    for (let step = 0; step < steps; step++) {
      const r = random();
      const k = KEYS[Math.floor(random() * KEYS.length)];
      if (r < 0.62) {
        const v = valueFor(random, step);
        await db.put(k, v);
        model.set(id(k), v);
      } else if (r < 0.88) {
        await db.delete(k);
        model.delete(id(k));
      } else if (r < 0.92) {
        if (snaps.length < 6) snaps.push({ snap: db.snapshot(), model: new Map(model), step });
      } else if (r < 0.95) {
        const i = Math.floor(random() * snaps.length);
        if (snaps.length > 0) snaps.splice(i, 1)[0].snap.release();
      } else if (r < 0.98) {
        await db.flush();
      } else if (r < 0.99) {
        // A reopen releases every snapshot.
        snaps.length = 0;
        await db.close();
        db = await open(dir, options);
        checkAll(db, model, random, `seed ${seed} step ${step} after reopen`);
      }
      if (step % 40 === 39) {
        checkAll(db, model, random, `seed ${seed} step ${step}`);
        for (const s of snaps) checkAll(db, s.model, random, `seed ${seed} step ${step} at the snapshot of step ${s.step}`, s.snap);
      }
    }
    for (const s of snaps) checkAll(db, s.model, random, `seed ${seed} end, snapshot of step ${s.step}`, s.snap);
    for (const s of snaps.splice(0)) s.snap.release();
    await db.flush();
    checkAll(db, model, random, `seed ${seed} end (compactions: ${db.stats().compactions})`);
    await db.close();
    db = await open(dir, options);
    checkAll(db, model, random, `seed ${seed} end after reopen`);
  } finally {
    await db.close();
  }
}

// Seeds 1 and 2: 2 shards with no block cache under "async", 3 shards with a 300-byte cache
// under "full" (soak: SHARDLINE_EDGE_SEEDS=n runs seeds 100.. instead).
const SEEDS = process.env.SHARDLINE_EDGE_SEEDS ? Array.from({ length: Number(process.env.SHARDLINE_EDGE_SEEDS) }, (_, i) => 100 + i) : [1, 2];
test("model: edge keys (empty, 0x00/0xff, prefixes of each other, KEY_BYTES_MAX) and values (empty to a quarter memtable) through flushes, merges, snapshots and reopens", async () => {
  for (const seed of SEEDS) await modelRun(seed, 400, seed % 2 === 0 ? "full" : "async");
});

test.run();
