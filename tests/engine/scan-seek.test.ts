// seek(target) on a scan iterator: repositions at the first key >= target (reverse: <=),
// within the scan's bounds, at the scan's own snapshot; limit counts over seeks.
import { suite } from "uvu";
import * as assert from "uvu/assert";
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

test.after(cleanup);
test.run();
