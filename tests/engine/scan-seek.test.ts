// seek(target) on a scan iterator: repositions at the first key >= target (reverse: <=),
// within the scan's bounds, at the scan's own snapshot; limit counts over seeks. Bounds
// and targets longer than any key (KEY_BYTES_MAX) bound the same keys as their first
// KEY_BYTES_MAX bytes, one way or the other; a reverse scan "<=" a key of KEY_BYTES_MAX
// bytes reads the memtables too (their seek took at most KEY_BYTES_MAX bytes, review
// 2026-12-05).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KEY_BYTES_MAX } from "../../src/core/core.ts";
import { cleanup, dec, eventually, open, tempDir } from "./helpers.ts";

const test = suite("engine scan seek");
const keysOf = (it: Iterable<[Uint8Array, Uint8Array]>, n = Infinity) => {
  const out: string[] = [];
  for (const [k] of it) {
    out.push(dec.decode(k));
    if (out.length >= n) break;
  }
  return out;
};
const take = (it: Iterator<[Uint8Array, Uint8Array]>, n: number) => {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = it.next();
    if (r.done) break;
    out.push(dec.decode(r.value[0]));
  }
  return out;
};

async function filled() {
  const db = await open(tempDir(), { shards: 3, durability: "async" });
  await db.batch(["a", "b", "c", "d", "e", "f"].map((k) => ({ type: "put" as const, key: k, value: k })));
  return db;
}

test("forward seek moves ahead and back, between keys and past the end", async () => {
  const db = await filled();
  const it = db.scan();
  assert.equal(take(it, 2), ["a", "b"]);
  it.seek("d");
  assert.equal(take(it, 1), ["d"]);
  it.seek("b");
  assert.equal(take(it, 2), ["b", "c"], "back to an earlier key");
  it.seek("cc");
  assert.equal(take(it, 1), ["d"], "between keys: the next one");
  it.seek("z");
  assert.equal(take(it, 1), [], "past the end");
  it.return();
  await db.close();
});

test("reverse seek goes to the last key <= target", async () => {
  const db = await filled();
  const it = db.scan({ reverse: true });
  assert.equal(take(it, 1), ["f"]);
  it.seek("cc");
  assert.equal(take(it, 2), ["c", "b"]);
  it.seek("e");
  assert.equal(take(it, 1), ["e"]);
  it.seek("0");
  assert.equal(take(it, 1), [], "before the first key");
  it.return();
  await db.close();
});

test("seek stays within the bounds, exclusive ones included", async () => {
  const db = await filled();
  const it = db.scan({ gt: "b", lt: "e" });
  it.seek("a");
  assert.equal(keysOf(it), ["c", "d"], "a target below gt starts after gt");
  const it2 = db.scan({ gte: "b", lte: "d", reverse: true });
  it2.seek("z");
  assert.equal(take(it2, 1), ["d"], "a target above lte starts at lte");
  it2.seek("b");
  assert.equal(keysOf(it2), ["b"]);
  const it3 = db.scan({ gt: "b", lt: "e", reverse: true });
  it3.seek("e");
  assert.equal(keysOf(it3), ["d", "c"], "exclusive upper bound");
  await db.close();
});

test("a seek reads at the scan's snapshot, and limit counts rows across seeks", async () => {
  const db = await filled();
  const it = db.scan({ limit: 3 });
  await db.put("c", "new");
  await db.delete("d");
  await db.put("cc", "new");
  assert.equal(take(it, 1), ["a"]);
  it.seek("c");
  const r = it.next();
  assert.is(dec.decode(r.value![1]), "c", "the old value of c");
  assert.equal(take(it, 5), ["d"], "d still there, cc not yet; the limit of 3 ends it");
  assert.equal(take(it, 1), []);
  it.seek("a");
  assert.equal(take(it, 1), [], "seek on an ended scan does nothing");
  await db.close();
});

test("seek across memtables and tables", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  const key = (i: number) => `k${String(i).padStart(4, "0")}`;
  for (let i = 0; i < 800; i += 2) await db.put(key(i), "x".repeat(150));
  await eventually(() => db.stats().shards[0].tables > 0 && db.stats().shards[0].frozenMemtables === 0, "a table");
  for (let i = 1; i < 800; i += 2) await db.put(key(i), "y");
  const it = db.scan();
  it.seek(key(401));
  assert.equal(take(it, 3), [key(401), key(402), key(403)]);
  it.seek(key(10));
  assert.equal(take(it, 2), [key(10), key(11)]);
  it.return();
  assert.throws(() => it.seek(42 as unknown as string), (e: unknown) => e instanceof TypeError);
  await db.close();
});

test("holdAtEnd: a scan that reached its end stays seekable until return()", async () => {
  const db = await filled();
  const it = db.scan({ gte: "c", holdAtEnd: true });
  assert.equal(keysOf(it), ["c", "d", "e", "f"]);
  assert.ok(it.open, "still open at its end");
  it.seek("a");
  assert.equal(take(it, 2), ["c", "d"], "back to the lower bound");
  it.return();
  assert.is(it.open, false);
  const plain = db.scan();
  assert.equal(keysOf(plain).length, 6);
  assert.is(plain.open, false, "without holdAtEnd the end releases the scan");
  assert.throws(() => db.scan({ holdAtEnd: "yes" as unknown as boolean }), (e: unknown) => e instanceof TypeError);
  await db.close();
});

test("bounds and seek targets longer than KEY_BYTES_MAX, and a reverse scan at a key of KEY_BYTES_MAX bytes, in memtables and in tables", async () => {
  const db = await open(tempDir(), { shards: 2, durability: "async", memtableBytesMax: 64 * 1024 });
  const m = (c: string) => c.repeat(KEY_BYTES_MAX); // the longest key
  const long = (c: string) => c.repeat(KEY_BYTES_MAX + 5); // longer than any key; m(c) is its cut
  const name = (k: string) => `${k[0]}${k.length}`;
  const names = (it: Iterable<[Uint8Array, Uint8Array]>) => keysOf(it).filter((k) => k[0] !== "0").map(name); // "0…": filler
  await db.batch(["a", m("a"), "b", m("b"), "c"].map((k) => ({ type: "put" as const, key: k, value: "v" })));
  for (const where of ["memtables", "tables"]) {
    assert.equal(names(db.scan({ lt: long("b") })), ["a1", "a2048", "b1", "b2048"], `${where}: below a long upper bound, its cut included`);
    assert.equal(names(db.scan({ lte: long("b"), reverse: true })), ["b2048", "b1", "a2048", "a1"], `${where}: reverse`);
    assert.equal(names(db.scan({ gt: long("a") })), ["b1", "b2048", "c1"], `${where}: above a long lower bound, its cut excluded`);
    assert.equal(names(db.scan({ gte: long("a"), reverse: true })), ["c1", "b2048", "b1"], `${where}: reverse`);
    assert.equal(names(db.scan({ lte: m("b"), reverse: true })), ["b2048", "b1", "a2048", "a1"], `${where}: reverse from a key of KEY_BYTES_MAX bytes`);
    assert.equal(names(db.scan({ prefix: long("b") })), [], `${where}: no key has a prefix longer than itself`);
    const forward = db.scan();
    forward.seek(long("a"));
    assert.equal(take(forward, 1).map(name), ["b1"], `${where}: forward seek to a long target: the first key above its cut`);
    forward.return();
    const reverse = db.scan({ reverse: true });
    reverse.seek(long("b"));
    assert.equal(take(reverse, 1).map(name), ["b2048"], `${where}: reverse seek to a long target: its cut`);
    reverse.return();
    // ~400 KiB of filler below every key above: both shards' 64 KiB memtables, with the keys above, flush.
    for (let i = 0; i < 400 && where === "memtables"; i++) await db.put(`0${String(i).padStart(4, "0")}`, "f".repeat(1024));
    await eventually(() => db.stats().flushes >= 4, "flushes");
  }
  await db.close();
});

test("scan options: an array is a TypeError naming the options (it said \"reverse must be a boolean\"), and each option is read once", async () => {
  const db = await open(tempDir());
  try {
    for (const key of ["a", "b", "c"]) await db.put(key, key);
    assert.throws(() => db.scan([] as unknown as object), (e: unknown) => e instanceof TypeError && /scan options must be an object/.test((e as Error).message));
    // A getter answering the checks one thing and the scan another: the scan uses what was checked.
    let reads = 0;
    const limit = {
      get limit(): number {
        return (++reads === 1 ? 2 : -1) as number;
      },
    };
    const keys = [...db.scan(limit)].map(([k]) => dec.decode(k));
    assert.equal(keys, ["a", "b"], `limit was read ${reads} times`);
  } finally {
    await db.close();
  }
});

test.after(cleanup);
test.run();
