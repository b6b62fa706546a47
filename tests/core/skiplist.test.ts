// The memtable skip list: order, versions, tombstones, seeks, iteration both ways, the
// full-arena answer, bad input, and a model-based property test against a sorted array.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import { Core, KEY_BYTES_MAX, Status, VALUE_BYTES_MAX } from "../../src/core/core.ts";
import { HEIGHT_MAX, keyIndexBytes, MEMTABLE_HEADER_BYTES, Memtable, type MemtableEntry, nodeBytes, pendingRingBytes } from "../../src/core/memtable.ts";
import { throwsA } from "../harness/assert.ts";

const test = suite("skiplist");
const enc = new TextEncoder();
const dec = new TextDecoder();
const core = await Core.create({ shards: 4, memoryBytesMax: 512 << 20 });
const k = (s: string) => enc.encode(s);
const show = (e: MemtableEntry) => `${dec.decode(e.key)}@${e.ts}=${e.value === undefined ? "⊥" : dec.decode(e.value)}`;

function compareKeys(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

test("entries come out in key order, newest version first", () => {
  const mt = Memtable.create(core, 1 << 20);
  mt.insert(k("b"), k("b1"), 1n);
  mt.insert(k("a"), k("a5"), 5n);
  mt.insert(k("ab"), k("ab2"), 2n);
  mt.insert(k("a"), k("a9"), 9n);
  mt.insert(k(""), k("empty"), 3n);
  mt.insert(k("b"), undefined, 7n);
  assert.equal([...mt.entries()].map(show), ["@3=empty", "a@9=a9", "a@5=a5", "ab@2=ab2", "b@7=⊥", "b@1=b1"]);
  assert.equal([...mt.entriesReverse()].map(show), ["b@1=b1", "b@7=⊥", "ab@2=ab2", "a@5=a5", "a@9=a9", "@3=empty"]);
  assert.is(mt.count, 6);
});

test("keys compare as unsigned bytes, a prefix before its extensions", () => {
  const mt = Memtable.create(core, 1 << 20);
  const keys = [[0xff], [0x00], [0x7f], [0x80], [0x00, 0x00], [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09], [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08], [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xff]];
  keys.forEach((key, i) => mt.insert(Uint8Array.from(key), k("v"), BigInt(i + 1)));
  const got = [...mt.entries()].map((e) => [...e.key]);
  const want = keys.map((x) => Uint8Array.from(x)).sort(compareKeys).map((x) => [...x]);
  assert.equal(got, want);
});

test("get returns the newest version at or below ts, tombstones included", () => {
  const mt = Memtable.create(core, 1 << 20);
  mt.insert(k("x"), k("v10"), 10n);
  mt.insert(k("x"), k("v20"), 20n);
  mt.insert(k("x"), undefined, 30n);
  mt.insert(k("x"), k("v40"), 40n);
  assert.is(mt.get(k("x"), 9n), undefined);
  assert.is(dec.decode(mt.get(k("x"), 10n)!.value!), "v10");
  assert.is(dec.decode(mt.get(k("x"), 25n)!.value!), "v20");
  const tomb = mt.get(k("x"), 35n)!;
  assert.is(tomb.ts, 30n);
  assert.is(tomb.value, undefined);
  assert.is(dec.decode(mt.get(k("x"), 1000n)!.value!), "v40");
  assert.is(mt.get(k("y"), 1000n), undefined);
  assert.is(mt.get(k("w"), 1000n), undefined);
});

test("getVisible: the newest version (by ts) whose seq is below the snapshot", () => {
  const mt = Memtable.create(core, 1 << 20);
  // Versions of "k" by ts; their seqs are not in ts order (concurrent writers).
  mt.insert(k("k"), k("ts1"), 1n, 100n);
  mt.insert(k("k"), k("ts2"), 2n, 300n);
  mt.insert(k("k"), k("ts3"), 3n, 200n);
  mt.insert(k("k"), undefined, 4n, 500n);
  mt.insert(k("j"), k("other"), 9n, 1n);
  const at = (snapshot: number) => {
    const e = mt.getVisible(k("k"), snapshot);
    return e === undefined ? "none" : e.value === undefined ? "tombstone" : dec.decode(e.value);
  };
  assert.is(at(100), "none");
  assert.is(at(101), "ts1");
  assert.is(at(201), "ts3", "seq 200 visible, ts 3 is the newest visible");
  assert.is(at(301), "ts3", "ts 3 outranks ts 2 once both are visible");
  assert.is(at(501), "tombstone");
  assert.is(mt.getVisible(k("l"), 1e9), undefined);
  assert.is(mt.getVisible(k("k"), 201)!.seq, 200n);
});

test("model: point lookups (the key index) agree with the list: versions inserted out of ts order, seqs out of ts order, keys sharing their first 8 bytes", () => {
  const keys = ["", "a", "ab", "abcdefgh", "abcdefghi", "abcdefghij", "abcdefgh-long-key-1", "abcdefgh-long-key-2", "z"].map(k);
  const absent = ["abcdefg", "abcdefgh-long-key-3", "b", "abcdefghk"].map(k);
  fc.assert(
    fc.property(
      fc.array(fc.record({ key: fc.nat(keys.length - 1), seq: fc.nat(1000), tombstone: fc.boolean() }), { minLength: 1, maxLength: 120 }),
      fc.array(fc.nat(1100), { minLength: 1, maxLength: 20 }),
      (ops, snapshots) => {
        const mt = Memtable.create(core, 1 << 20);
        try {
          // Timestamps unique per key but inserted in a shuffled order.
          const tss = ops.map((_, i) => BigInt(((i * 7919) % 1009) + 1));
          ops.forEach((op, i) => mt.insert(keys[op.key], op.tombstone ? undefined : k(`v${i}`), tss[i], BigInt(op.seq)));
          const list = [...mt.entries()];
          for (const snapshot of snapshots) {
            for (const key of keys) {
              // The list's answer: the first (newest) version of the key with seq below the snapshot.
              const want = list.find((e) => compareKeys(e.key, key) === 0 && e.seq! < BigInt(snapshot));
              const got = mt.getVisible(key, snapshot);
              assert.is(got && `${got.ts}/${got.seq}`, want && `${want.ts}/${want.seq}`, `"${dec.decode(key)}" at ${snapshot}`);
            }
            for (const key of absent) assert.is(mt.getVisible(key, snapshot), undefined, `"${dec.decode(key)}" was never written`);
          }
        } finally {
          mt.release();
        }
      },
    ),
    { numRuns: 200, seed: 20261203 },
  );
});

test("deferred nodes: found by point lookups at once, and linked before any walk of the list (entries, seeks, count)", () => {
  const mt = Memtable.create(core, 1 << 20);
  mt.insert(k("m"), k("m1"), 1n); // linked at once
  for (const [key, ts] of [["c", 2n], ["x", 3n], ["a", 4n], ["m", 5n]] as const) mt.insertDeferred(k(key), k(`${key}${ts}`), ts);
  assert.is(mt.pending, 4, "handed in, not linked");
  assert.is(mt.getVisible(k("x"), 1 << 30)?.ts, 3n, "the key index finds a deferred node");
  assert.is(mt.getVisible(k("m"), 1 << 30)?.ts, 5n, "the newest version, deferred, over a linked one");
  assert.is(mt.pending, 4, "a lookup whose version is visible links nothing");
  assert.equal([...mt.entries()].map(show), ["a@4=a4", "c@2=c2", "m@5=m5", "m@1=m1", "x@3=x3"]);
  assert.is(mt.pending, 0, "the walk linked every deferred node first");
  mt.insertDeferred(k("b"), k("b6"), 6n);
  assert.is(dec.decode(mt.entry(mt.seekGE(k("b"), 1n << 62n)).key), "b", "seekGE links first");
  mt.insertDeferred(k("z"), undefined, 7n);
  assert.is(mt.count, 7, "count links first");
  mt.release();
});

test("deferred nodes: a snapshot read steps past a newer version still pending to the one it can see", () => {
  const mt = Memtable.create(core, 1 << 20);
  mt.insertDeferred(k("key"), k("old"), 1n, 10n);
  mt.insertDeferred(k("key"), k("new"), 2n, 20n);
  mt.insertDeferred(k("other"), k("o"), 3n, 5n);
  assert.is(mt.pending, 3);
  const got = mt.getVisible(k("key"), 15);
  assert.is(got && dec.decode(got.value!), "old", "the snapshot at 15 sees seq 10, not seq 20");
  assert.is(mt.getVisible(k("key"), 10), undefined, "nothing of the key below seq 10");
  assert.is(dec.decode(mt.getVisible(k("key"), 21)!.value!), "new");
  mt.release();
});

test("deferred nodes: a full pending ring makes the writer link the oldest entries itself; background linking links in order", () => {
  const mt = Memtable.create(core, 4096); // the smallest arena: a pending ring of 16 entries
  const n = 12;
  for (let i = 0; i < n; i++) assert.ok(mt.insertDeferred(k(`k${String(i).padStart(2, "0")}`), k(`${i}`), BigInt(i + 1)) > 64);
  assert.is(mt.pending, n);
  assert.is(mt.linkPending(5), 5, "background linking takes up to its maximum");
  assert.is(mt.pending, n - 5);
  const big = Memtable.create(core, 64 * 1024); // 256 entries
  for (let i = 0; i < 300; i++) {
    assert.ok(big.insertDeferred(k(`key-${String(i).padStart(4, "0")}`), k("v"), BigInt(i + 1)) > 64, `insert ${i}`);
    assert.ok(big.pending <= 256, `at most the ring's 256 entries pending (${big.pending} after insert ${i})`);
  }
  assert.is([...big.entries()].length, 300, "every node linked once");
  assert.equal([...mt.entries()].map((e) => dec.decode(e.key)), Array.from({ length: n }, (_, i) => `k${String(i).padStart(2, "0")}`));
  mt.release();
  big.release();
});

test("an empty memtable's arena holds its header, head node, key index and pending ring, as keyIndexBytes and pendingRingBytes say (ArenaNeed relies on it); memtablePendingCapacity counts the ring's entries", async () => {
  const own = await Core.create({ shards: 1, memoryBytesMax: 256 << 20 }); // odd sizes: not this file's heap
  for (const capacity of [4096, 8192, 64 * 1024, 64 * 1024 + 192, 1 << 20, 4 << 20, 3 * (1 << 20), 64 << 20]) {
    const mt = Memtable.create(own, capacity);
    assert.is(mt.bytesUsed, MEMTABLE_HEADER_BYTES + nodeBytes(HEIGHT_MAX, 0, 0) + keyIndexBytes(capacity) + pendingRingBytes(capacity), `capacity ${capacity}`);
    assert.is(own.exports.memtablePendingCapacity(mt.address) >>> 0, pendingRingBytes(capacity) / 4, `pending entries at capacity ${capacity}`);
    mt.release();
  }
});

test("a 4 MiB memtable of 96-byte nodes keeps its key index until the memtable is full (over half its slots taken)", () => {
  const mt = Memtable.create(core, 4 << 20); // 65,536 slots
  const value = new Uint8Array(40).fill(9);
  const key = (i: number) => {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setUint32(0, Math.imul(i, 0x9e3779b1) >>> 0);
    new DataView(bytes.buffer).setUint32(12, i);
    return bytes;
  };
  let inserted = 0;
  while (mt.insert(key(inserted), value, 1n) !== Status.FULL) inserted++;
  assert.ok(inserted > 0.55 * 65_536, `${inserted} keys`);
  assert.is(mt.keyIndexFull, false, `the index kept room for ${inserted} keys in 65,536 slots`);
  for (let i = 0; i < inserted; i += 97) assert.is(mt.getVisible(key(i), 1)?.ts, 1n, `key ${i}`);
  mt.release();
});

test("a memtable whose key index is full finds every key by searching the list", () => {
  const mt = Memtable.create(core, 64 * 1024); // 1,024 index slots
  const key = (i: number) => new Uint8Array([i >> 8, i & 255]);
  let inserted = 0;
  while (mt.insert(key(inserted), undefined, 1n) !== Status.FULL) inserted++;
  assert.ok(inserted > 1024, `more keys than slots (${inserted})`);
  assert.is(mt.keyIndexFull, true, "the index gave up");
  for (let i = 0; i < inserted; i++) assert.is(mt.getVisible(key(i), 1)?.ts, 1n, `key ${i}`);
  for (let i = inserted; i < inserted + 100; i++) assert.is(mt.getVisible(key(i), 1), undefined, `absent key ${i}`);
  mt.release();
});

test("seekGE and seekLT land on the right neighbours", () => {
  const mt = Memtable.create(core, 1 << 20);
  for (const [key, ts] of [["b", 2n], ["d", 4n], ["d", 1n], ["f", 6n]] as const) mt.insert(k(key), k(key), ts);
  const at = (node: number) => (node === 0 ? "none" : show(mt.entry(node)).split("=")[0]);
  assert.is(at(mt.seekGE(k("a"), 0n)), "b@2");
  assert.is(at(mt.seekGE(k("d"), 10n)), "d@4");
  assert.is(at(mt.seekGE(k("d"), 3n)), "d@1");
  assert.is(at(mt.seekGE(k("d"), 0n)), "f@6");
  assert.is(at(mt.seekGE(k("g"), 0n)), "none");
  assert.is(at(mt.seekLT(k("a"), 0n)), "none");
  assert.is(at(mt.seekLT(k("d"), 3n)), "d@4");
  assert.is(at(mt.seekLT(k("e"), 0n)), "d@1");
  assert.is(at(mt.seekLT(k("z"), 0n)), "f@6");
  assert.is(at(mt.prev(mt.seekGE(k("f"), 100n))), "d@1");
});

test("an empty memtable has no first, last or versions", () => {
  const mt = Memtable.create(core, 4096);
  assert.is(mt.first(), 0);
  assert.is(mt.last(), 0);
  assert.is(mt.get(k("a"), 100n), undefined);
  assert.equal([...mt.entries()], []);
});

test("inserting the same (key, ts) twice answers DUPLICATE and keeps the first value", () => {
  const mt = Memtable.create(core, 1 << 20);
  assert.ok(mt.insert(k("a"), k("first"), 5n) >= 64);
  assert.is(mt.insert(k("a"), k("second"), 5n), Status.DUPLICATE);
  assert.is(dec.decode(mt.get(k("a"), 5n)!.value!), "first");
  assert.is(mt.count, 1);
});

test("put takes timestamps from the shard's commit counter", () => {
  const c = core;
  const shard = 2;
  const before = c.exports.shardCommitCounter(shard);
  const mt = Memtable.create(c, 1 << 20);
  const node1 = mt.put(shard, k("a"), k("1"));
  const node2 = mt.put(shard, k("a"), k("2"));
  assert.is(mt.nodeTs(node1), before + 1n);
  assert.is(mt.nodeTs(node2), before + 2n);
  assert.is(c.exports.shardCommitCounter(shard), before + 2n);
});

test("a full arena answers FULL, takes no timestamp, and keeps every earlier entry intact", () => {
  const mt = Memtable.create(core, 8192);
  const shard = 1;
  const value = new Uint8Array(100).fill(7);
  let inserted = 0;
  let result = 0;
  while ((result = mt.put(shard, k(`key-${inserted.toString().padStart(4, "0")}`), value)) !== Status.FULL) {
    assert.ok(result >= 64, `status ${result}`);
    inserted++;
    assert.ok(inserted < 1000, "an 8 KiB memtable cannot take 1000 entries");
  }
  const counter = core.exports.shardCommitCounter(shard);
  assert.is(mt.put(shard, k("more"), value), Status.FULL);
  assert.is(mt.put(shard, k("more"), value), Status.FULL);
  assert.is(core.exports.shardCommitCounter(shard), counter, "no timestamp burnt by FULL");
  assert.ok(inserted > 20);
  assert.is(mt.count, inserted);
  assert.ok(mt.bytesUsed <= mt.capacity);
  const entries = [...mt.entries()];
  assert.is(entries.length, inserted);
  entries.forEach((e, i) => {
    assert.is(dec.decode(e.key), `key-${i.toString().padStart(4, "0")}`);
    assert.equal(e.value, value);
  });
  // A small tombstone may still fit where a 100-byte value did not, but never overwrites.
  const r = mt.put(shard, k("t"), undefined);
  assert.ok(r === Status.FULL || r >= 64);
  assert.is([...mt.entries()].filter((e) => e.value !== undefined).length, inserted);
});

test("oversized keys and values are refused with a RangeError naming the limit", () => {
  const mt = Memtable.create(core, 1 << 20);
  assert.throws(() => mt.put(0, new Uint8Array(KEY_BYTES_MAX + 1), k("v")), (e: Error) => e instanceof RangeError && /2048/.test(e.message) && /KEY_BYTES_MAX/.test(e.message));
  assert.throws(() => mt.put(0, k("k"), new Uint8Array(VALUE_BYTES_MAX + 1)), (e: Error) => e instanceof RangeError && /1048576/.test(e.message) && /VALUE_BYTES_MAX/.test(e.message));
  throwsA(() => mt.insert(new Uint8Array(KEY_BYTES_MAX + 1), undefined, 1n), RangeError);
  assert.is(mt.count, 0);
  // The limits themselves are accepted.
  assert.ok(mt.put(0, new Uint8Array(KEY_BYTES_MAX).fill(1), new Uint8Array(1000)) >= 64);
  const big = Memtable.create(core, 2 << 20);
  assert.ok(big.put(0, k("big"), new Uint8Array(VALUE_BYTES_MAX).fill(9)) >= 64);
  assert.is(big.get(k("big"), 1n << 62n)!.value!.length, VALUE_BYTES_MAX);
});

test("the core itself refuses oversized lengths and bad shards (no JS check in between)", () => {
  const mt = Memtable.create(core, 1 << 20);
  const e = core.exports;
  assert.is(e.memtablePut(mt.address, 0, core.staging, KEY_BYTES_MAX + 1, core.staging, 1) >>> 0, Status.KEY_TOO_LARGE);
  assert.is(e.memtablePut(mt.address, 0, core.staging, 1, core.staging, VALUE_BYTES_MAX + 1) >>> 0, Status.VALUE_TOO_LARGE);
  assert.is(e.memtablePut(mt.address, 4, core.staging, 1, core.staging, 1) >>> 0, Status.BAD_SHARD);
  assert.is(e.memtablePut(mt.address + 8, 0, core.staging, 1, core.staging, 1) >>> 0, Status.BAD_ARGUMENT);
  assert.is(e.memtablePut(123, 0, core.staging, 1, core.staging, 1) >>> 0, Status.BAD_ARGUMENT);
  assert.is(mt.count, 0);
});

test("model: random inserts agree with a sorted-array model (order, get, seeks)", () => {
  const keyArb = fc.uint8Array({ minLength: 0, maxLength: 12 }).map((a) => a.map((x) => x % 6));
  const opArb = fc.record({ key: keyArb, ts: fc.bigInt({ min: 1n, max: 40n }), tomb: fc.boolean(), value: fc.uint8Array({ maxLength: 20 }) });
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 120 }), fc.array(fc.tuple(keyArb, fc.bigInt({ min: 0n, max: 45n })), { maxLength: 30 }), (ops, probes) => {
      const mt = Memtable.create(core, 64 * 1024);
      const model: MemtableEntry[] = [];
      for (const op of ops) {
        const value = op.tomb ? undefined : op.value;
        const r = mt.insert(op.key, value, op.ts);
        const exists = model.some((m) => compareKeys(m.key, op.key) === 0 && m.ts === op.ts);
        if (exists) {
          assert.is(r, Status.DUPLICATE);
        } else {
          assert.ok(r >= 64, `status ${r}`);
          model.push({ key: op.key, ts: op.ts, seq: 0n, value });
        }
      }
      const order = (a: MemtableEntry, b: MemtableEntry) => compareKeys(a.key, b.key) || (a.ts > b.ts ? -1 : a.ts < b.ts ? 1 : 0);
      model.sort(order);
      assert.equal([...mt.entries()], model);
      assert.equal([...mt.entriesReverse()], [...model].reverse());
      for (const [key, ts] of probes) {
        const want = model.find((m) => compareKeys(m.key, key) === 0 && m.ts <= ts);
        assert.equal(mt.get(key, ts), want);
        const ge = model.find((m) => order(m, { key, ts, seq: 0n, value: undefined }) >= 0);
        const geNode = mt.seekGE(key, ts);
        assert.equal(geNode === 0 ? undefined : mt.entry(geNode), ge);
        const lt = [...model].reverse().find((m) => order(m, { key, ts, seq: 0n, value: undefined }) < 0);
        const ltNode = mt.seekLT(key, ts);
        assert.equal(ltNode === 0 ? undefined : mt.entry(ltNode), lt);
      }
      mt.release();
    }),
    { numRuns: 150, seed: 20261120 },
  );
});

test("a released arena is reused for the next memtable of the same size", () => {
  const a = Memtable.create(core, 256 * 1024);
  a.insert(k("old"), k("data"), 1n);
  const address = a.address;
  a.release();
  const b = Memtable.create(core, 256 * 1024);
  assert.is(b.address, address);
  assert.is(b.count, 0);
  assert.is(b.get(k("old"), 10n), undefined);
  assert.equal([...b.entries()], []);
});

test("a splice cached for a released memtable is not used for a new one in the same arena", () => {
  const a = Memtable.create(core, 64 * 1024);
  for (let i = 0; i < 50; i++) a.insert(k(`m${String(i).padStart(3, "0")}`), k("old"), 1n);
  const address = a.address;
  a.release();
  const b = Memtable.create(core, 64 * 1024);
  assert.is(b.address, address);
  // Ordered inserts right after the old ones would reuse the cached splice if it were trusted.
  for (let i = 50; i < 60; i++) assert.ok(b.insert(k(`m${String(i).padStart(3, "0")}`), k("new"), 1n) >= 64);
  assert.equal([...b.entries()].map((e) => dec.decode(e.key)), Array.from({ length: 10 }, (_, i) => `m${String(50 + i).padStart(3, "0")}`));
});

test("model: two threads' splice caches interleaving ordered and random inserts agree with the model", async () => {
  const other = await Core.attach(core.module, core.memory);
  const runs = fc.array(
    fc.record({
      thread: fc.integer({ min: 0, max: 1 }),
      start: fc.integer({ min: 0, max: 200 }),
      length: fc.integer({ min: 1, max: 12 }),
      step: fc.integer({ min: -3, max: 3 }),
      ts: fc.bigInt({ min: 1n, max: 3n }),
    }),
    { maxLength: 40 },
  );
  fc.assert(
    fc.property(runs, (plan) => {
      const mts = [Memtable.create(core, 256 * 1024)];
      mts.push(new Memtable(other, mts[0].address));
      const model = new Map<string, MemtableEntry>();
      for (const run of plan) {
        for (let j = 0; j < run.length; j++) {
          const n = run.start + j * run.step;
          const key = k(`k${String(n).padStart(4, "0")}`);
          const id = `${dec.decode(key)}@${run.ts}`;
          const r = mts[run.thread].insert(key, k(id), run.ts);
          if (model.has(id)) assert.is(r, Status.DUPLICATE, id);
          else {
            assert.ok(r >= 64, `${id}: status ${r}`);
            model.set(id, { key, ts: run.ts, seq: 0n, value: k(id) });
          }
        }
      }
      const want = [...model.values()].sort((a, b) => compareKeys(a.key, b.key) || (a.ts > b.ts ? -1 : 1));
      assert.equal([...mts[0].entries()], want);
      assert.equal([...mts[1].entriesReverse()], [...want].reverse());
      mts[0].release();
    }),
    { numRuns: 200, seed: 424242 },
  );
});

test("a fresh arena's key index is left unwritten (all zeros already); a reused arena's is cleared: no key of the last memtable is found", () => {
  const bytes = 4 << 20; // a size no other test uses, so the first arena comes from the untouched heap
  const first = Memtable.create(core, bytes);
  const index = first.address + MEMTABLE_HEADER_BYTES + nodeBytes(HEIGHT_MAX, 0, 0);
  const indexBytes = keyIndexBytes(bytes);
  assert.ok(core.u8.subarray(index, index + indexBytes).every((b) => b === 0), "fresh: zeros without a write");
  for (let i = 0; i < 2000; i++) first.insert(k(`key-${i}`), k(`v${i}`), BigInt(i + 1));
  assert.is(first.getVisible(k("key-7"), 1 << 30)?.ts, 8n);
  const address = first.address;
  first.release();
  const second = Memtable.create(core, bytes);
  assert.is(second.address, address, "the arena came back from the free list");
  assert.ok(core.u8.subarray(index, index + indexBytes).every((b) => b === 0), "reused: its index cleared at format");
  for (let i = 0; i < 2000; i += 97) assert.is(second.getVisible(k(`key-${i}`), 1 << 30), undefined, `key-${i} is not in the new memtable`);
  second.insert(k("key-7"), k("new"), 1n);
  assert.equal(second.getVisible(k("key-7"), 1 << 30)?.value, k("new"));
  second.release();
});

test.run();
