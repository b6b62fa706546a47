// String keys and values: getString (UTF-8 decoded in place, from memtables and tables, at
// a snapshot), string keys of point reads encoded into the handle's reused read-key buffer,
// and puts of a string key and value staged straight into shared memory (falling back to
// the general path for the channel, in-flight channel writes and over-limit strings).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from "../../src/core/core.ts";
import { cleanup, enc, eventually, open, tempDir } from "./helpers.ts";

const test = suite("engine strings");

test("getString decodes values from the memtable, at a snapshot, and is undefined for missing and deleted keys", async () => {
  const db = await open(tempDir(), { shards: 2, durability: "async" });
  await db.put("ascii", "Ada");
  await db.put("ключ", "значение – ✓ 🙂");
  await db.put(enc.encode("bytes"), enc.encode("from bytes"));
  await db.put("empty", "");
  assert.is(db.getString("ascii"), "Ada");
  assert.is(db.getString("ключ"), "значение – ✓ 🙂", "multi-byte key and value");
  assert.is(db.getString(enc.encode("ключ")), "значение – ✓ 🙂", "the same key as bytes");
  assert.is(db.getString("bytes"), "from bytes");
  assert.is(db.getString("empty"), "");
  assert.is(db.getString("missing"), undefined);
  const snapshot = db.snapshot();
  await db.delete("ascii");
  await db.put("ключ", "new");
  assert.is(db.getString("ascii"), undefined, "a tombstone");
  assert.is(db.getString("ascii", { snapshot }), "Ada");
  assert.is(db.getString("ключ", { snapshot }), "значение – ✓ 🙂");
  assert.is(db.getString("ключ"), "new");
  snapshot.release();
  assert.throws(() => db.getString("ascii", { snapshot }), /released/);
  await db.close();
  assert.throws(() => db.getString("ascii"), /closed/);
});

test("getString replaces invalid UTF-8 with U+FFFD, as TextDecoder does", async () => {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  const bad = new Uint8Array([0x61, 0xff, 0x62, 0xe2, 0x82]);
  await db.put("bad", bad);
  assert.is(db.getString("bad"), new TextDecoder().decode(bad));
  assert.is(db.getString("bad"), "a\ufffdb\ufffd");
  await db.close();
});

test("getString reads tables: values flushed, a tombstone flushed over a value", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  const value = (i: number) => `värde-${i}-${"v".repeat(150)}`;
  for (let i = 0; i < 600; i++) await db.put(`k${i}`, value(i));
  await db.delete("k5");
  for (let i = 600; i < 1200; i++) await db.put(`k${i}`, value(i));
  await eventually(() => db.stats().shards[0].tables > 0 && db.stats().shards[0].frozenMemtables === 0, "flushes done");
  assert.is(db.getString("k0"), value(0), "a key in a table");
  assert.is(db.getString("k5"), undefined, "a tombstone in a table");
  assert.is(db.getString("k1199"), value(1199));
  assert.is(db.getString("nope"), undefined);
  for (let i = 0; i < 1200; i += 37) if (i !== 5) assert.is(db.getString(`k${i}`), value(i), `k${i}`);
  await db.close();
});

// Level review 2026-12-06, seen failing before the fix: TextDecoder's default drops a
// leading U+FEFF (a byte-order mark), so a value put as "\uFEFFv" read back as "v", from a
// memtable (core.ts) and from a table (table-reader.ts); a string is text, not a file.
test("getString keeps a leading U+FEFF, from the memtable, a long value's copy, and a table", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 512 * 1024, durability: "async" });
  const long = `\uFEFF${"l".repeat(70 * 1024)}`; // past Core's 64 KiB scratch: decoded in place
  await db.put("bom", "\uFEFFvalue");
  await db.put("long", long);
  assert.is(db.getString("bom"), "\uFEFFvalue", "from the memtable");
  assert.is(db.getString("long"), long, "a long value, from the memtable");
  for (let i = 0; i < 4000; i++) await db.put(`k${i}`, "x".repeat(150));
  await eventually(() => db.stats().shards[0].tables > 0 && db.stats().shards[0].frozenMemtables === 0, "flushes done");
  assert.is(db.getString("bom"), "\uFEFFvalue", "from a table");
  assert.is(db.getString("long"), long, "a long value, from a table");
  await db.close();
});

test("point reads reuse one key buffer: a long key, then a shorter one, then bytes, each find their own value", async () => {
  const db = await open(tempDir(), { shards: 4, durability: "async" });
  const long = "L".repeat(KEY_BYTES_MAX);
  await db.put(long, "long");
  await db.put("L", "short");
  await db.put("LL", "two");
  assert.is(db.getString(long), "long");
  assert.is(db.getString("L"), "short", "not a prefix of the previous key's bytes");
  assert.is(db.getString("LL"), "two");
  assert.ok(db.has("L") && db.has(long) && !db.has("LLL"));
  assert.is(new TextDecoder().decode(db.get("LL")), "two");
  const value = db.get("L")!;
  assert.is(db.getString(long), "long");
  assert.is(new TextDecoder().decode(value), "short", "a value got earlier is not overwritten by later reads");
  await db.close();
});

test("guard: point reads of keys and values of one length after another (views kept per length): each finds its own key and decodes its own value", async () => {
  const db = await open(tempDir(), { shards: 2, durability: "async" });
  // Keys: ASCII of one length; "é" (2 bytes) beside ASCII keys of 2; 256 and 300 characters
  // (the longest kept view and beyond); 255 ASCII characters and "é" (257 bytes, found to
  // be not ASCII at the last character).
  const keys = ["ab", "cd", "é", "ef", "x".repeat(256), "y".repeat(256), "z".repeat(300), "w".repeat(300), `${"v".repeat(255)}é`, `${"u".repeat(255)}é`];
  // Values: one length for many keys, 1,024 and 1,025 bytes (the longest kept view and
  // beyond), and past the 64 KiB scratch.
  const valueOf = (i: number) => `${i}:`.padEnd([100, 100, 100, 1024, 1025, 1024, 70_000, 100, 100, 1025][i], String.fromCharCode(65 + i));
  for (let i = 0; i < keys.length; i++) await db.put(keys[i], valueOf(i));
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < keys.length; i++) {
      assert.is(db.getString(keys[i]), valueOf(i), `getString of key ${i}, round ${round}`);
      assert.is(new TextDecoder().decode(db.get(keys[i])), valueOf(i), `get of key ${i}`);
      assert.ok(db.has(keys[i]), `has key ${i}`);
    }
    assert.not.ok(db.has("gh") || db.has("é!") || db.has("x".repeat(255)) || db.has("z".repeat(299)), "keys of the same lengths that were never written");
  }
  await db.close();
});

test("string keys over KEY_BYTES_MAX in UTF-8 bytes (not characters) are refused by every read and by put", async () => {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  const euros = "€".repeat(Math.floor(KEY_BYTES_MAX / 3) + 1); // fewer characters than the limit, more bytes
  assert.ok(euros.length < KEY_BYTES_MAX);
  for (const read of [() => db.get(euros), () => db.getString(euros), () => db.has(euros)]) {
    assert.throws(
      read,
      (e: unknown) => e instanceof RangeError && /KEY_BYTES_MAX/.test((e as Error).message) && (e as Error).message.includes(`${enc.encode(euros).length} bytes`),
    );
  }
  let error: unknown;
  await db.put(euros, "x").catch((e) => (error = e));
  assert.ok(error instanceof RangeError && /KEY_BYTES_MAX/.test((error as Error).message), String(error));
  const fits = "€".repeat(Math.floor(KEY_BYTES_MAX / 3));
  await db.put(fits, "fits");
  assert.is(db.getString(fits), "fits");
  await db.close();
});

test("a string value over the value limit is refused with the limit's error, and nothing is written", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, durability: "async" });
  let error: unknown;
  await db.put("big", "x".repeat(64 * 1024)).catch((e) => (error = e));
  assert.ok(error instanceof RangeError && /quarter of memtableBytesMax/.test((error as Error).message), String(error));
  assert.is(db.has("big"), false);
  await db.close();
});

test("string puts on the channel path (fastWrite: false) and behind an in-flight channel write keep their order", async () => {
  const channel = await open(tempDir(), { shards: 2, durability: "async", fastWrite: false });
  const puts = [];
  for (let i = 0; i < 50; i++) puts.push(channel.put("same", `v${i}`));
  await Promise.all(puts);
  assert.is(channel.getString("same"), "v49");
  assert.is(channel.stats().paths.fast, 0, "every put took the channel");
  await channel.close();

  // A channel write in flight (here a large batch, which the actor commits) sends this
  // handle's later writes to its shards through the channel too: a string put issued
  // meanwhile must land after it, not on the fast path ahead of it.
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  const large = Array.from({ length: 5000 }, (_, i) => ({ type: "put" as const, key: `b${i}`, value: "batch" }));
  large.push({ type: "put", key: "order", value: "from the batch" });
  const batch = db.batch(large);
  const after = db.put("order", "after the batch");
  await Promise.all([batch, after]);
  assert.is(db.getString("order"), "after the batch");
  await db.close();
});

test("string puts survive close and reopen, read back with get and getString", async () => {
  const dir = tempDir();
  let db = await open(dir, { shards: 2, durability: "full" });
  for (let i = 0; i < 200; i++) await db.put(`ключ-${i}`, `значение-${i}`);
  await db.close();
  db = await open(dir, { shards: 2 });
  for (let i = 0; i < 200; i += 13) {
    assert.is(db.getString(`ключ-${i}`), `значение-${i}`);
    assert.is(new TextDecoder().decode(db.get(`ключ-${i}`)), `значение-${i}`);
  }
  await db.close();
});

test.after(cleanup);
// Guards from the review of JS strings (2026-12-07), which found no defect in any runtime:
// where encodeInto stops at a limit, and a string key being exactly its TextEncoder bytes.
/** What TextEncoder then a BOM-keeping TextDecoder make of `s`: what shardline must store and read back. */
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
const roundTrip = (s: string) => utf8.decode(enc.encode(s));

async function errorOf(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  return undefined;
}

// Guard: the fast path stages with encodeInto into a region exactly as long as the limit; a
// string whose UTF-8 ends exactly at it (with a 2-, 3- or 4-byte character, or a lone
// surrogate's 3-byte U+FFFD last) must be written, and one byte more must be the general
// path's RangeError naming the limit and the UTF-8 length, on every write and read API.
test("guard: string keys and values of exactly the limit in multi-byte UTF-8 are accepted everywhere; one byte more is the limit's RangeError", async () => {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  const problems: string[] = [];
  const keys = ["😀".repeat(KEY_BYTES_MAX / 4), "é".repeat(KEY_BYTES_MAX / 2), "€".repeat(682) + "ab", "ab" + "\uD800".repeat(682), "a".repeat(KEY_BYTES_MAX - 4) + "😀", "\uFEFF" + "a".repeat(KEY_BYTES_MAX - 3)];
  for (const [i, key] of keys.entries()) {
    assert.is(enc.encode(key).length, KEY_BYTES_MAX, `key ${i} is exactly KEY_BYTES_MAX bytes`);
    const writes = { put: () => db.put(key, "v"), putBytesValue: () => db.put(key, enc.encode("v")), batch: () => db.batch([{ type: "put", key, value: "v" }]), enqueue: () => db.enqueue([{ type: "put", key, value: "v" }]) };
    for (const [name, write] of Object.entries(writes)) {
      const error = await errorOf(write);
      if (error) problems.push(`exact key ${i} ${name}: ${error}`);
      else if (db.getString(key) !== "v" || db.getString(enc.encode(key)) !== "v" || !db.has(key)) problems.push(`exact key ${i} ${name}: not read back`);
    }
    await db.delete(enc.encode(key));
    if (db.has(key)) problems.push(`exact key ${i}: delete(bytes) left it`);
    const over = `${key}a`;
    const refusals = { put: () => db.put(over, "v"), batch: () => db.batch([{ type: "put", key: over, value: "v" }]), enqueue: () => db.enqueue([{ type: "put", key: over, value: "v" }]), delete: () => db.delete(over), get: () => db.get(over), getString: () => db.getString(over), has: () => db.has(over) };
    for (const [name, refused] of Object.entries(refusals)) {
      const error = await errorOf(refused);
      if (!(error instanceof RangeError) || !/KEY_BYTES_MAX/.test(error.message) || !error.message.includes(`${KEY_BYTES_MAX + 1} bytes`)) problems.push(`over key ${i} ${name}: ${error}`);
    }
  }
  const values = ["😀".repeat(VALUE_BYTES_MAX / 4), "€".repeat((VALUE_BYTES_MAX - 1) / 3) + "a", "a".repeat(VALUE_BYTES_MAX - 4) + "😀"];
  for (const [i, value] of values.entries()) {
    assert.is(enc.encode(value).length, VALUE_BYTES_MAX, `value ${i} is exactly VALUE_BYTES_MAX bytes`);
    const error = await errorOf(() => db.put(`v${i}`, value));
    if (error) problems.push(`exact value ${i}: ${error}`);
    else if (db.getString(`v${i}`) !== value) problems.push(`exact value ${i}: not read back`);
    const over = await errorOf(() => db.put(`o${i}`, `${value}a`));
    if (!(over instanceof RangeError) || !/VALUE_BYTES_MAX/.test(over.message) || db.has(`o${i}`)) problems.push(`over value ${i}: ${over}`);
  }
  assert.equal(problems, []);
  await db.close();
});

// Guard: a key written as a string is its TextEncoder bytes for every API (point reads,
// delete, scan bounds and prefixes, batch, enqueue), and values read back as TextEncoder
// then a BOM-keeping TextDecoder would make them, from memtables, tables, a snapshot and
// after a reopen.
test("guard: edge strings (lone surrogates, U+FEFF, U+0000, U+FFFD, non-BMP) as keys and values match their TextEncoder bytes through every API, tables and reopen", async () => {
  const edge = ["\uD800", "a\uDC00b", "\uDBFF", "\uFEFF", "\uFEFFbom", "\u0000", "a\u0000b", "\uFFFD", "😀", "\u{10FFFF}", "x\uD83D", "\uDE00y", "", "é"];
  const dir = tempDir();
  let db = await open(dir, { shards: 3, memtableBytesMax: 512 * 1024, durability: "async" });
  const problems: string[] = [];
  const key = (p: string, i: number, s: string) => `${p}${i}:${s}`;
  for (const [i, s] of edge.entries()) {
    await db.put(key("p", i, s), `\uFEFF${s}`);
    await db.batch([{ type: "put", key: key("b", i, s), value: `\uFEFF${s}` }]);
    await db.enqueue([{ type: "put", key: key("q", i, s), value: `\uFEFF${s}` }]);
    await db.put(enc.encode(key("y", i, s)), enc.encode(`\uFEFF${s}`));
    await db.put(key("d", i, s), "gone");
    await db.delete(enc.encode(key("d", i, s)));
  }
  const check = (where: string, at?: { snapshot: ReturnType<typeof db.snapshot> }) => {
    for (const [i, s] of edge.entries()) {
      const value = roundTrip(`\uFEFF${s}`);
      for (const p of ["p", "b", "q", "y"]) {
        const k = key(p, i, s);
        const bytes = enc.encode(k);
        if (db.getString(k, at) !== value || db.getString(bytes, at) !== value) problems.push(`${where} getString ${p}${i}`);
        const got = db.get(bytes, at);
        if (!got || utf8.decode(got) !== value || !db.has(k, at)) problems.push(`${where} get/has ${p}${i}`);
        const rows = [...db.scan({ gte: k, lte: bytes, snapshot: at?.snapshot })];
        if (rows.length !== 1 || utf8.decode(rows[0][0]) !== roundTrip(k)) problems.push(`${where} scan ${p}${i}`);
        if (![...db.scan({ prefix: k, snapshot: at?.snapshot })].some(([rk]) => utf8.decode(rk) === roundTrip(k))) problems.push(`${where} prefix ${p}${i}`);
      }
      if (db.has(key("d", i, s), at) || db.getString(key("d", i, s), at) !== undefined) problems.push(`${where} tombstone ${i}`);
    }
  };
  check("memtable");
  const snapshot = db.snapshot();
  for (let i = 0; i < 6000; i++) await db.put(`filler${i}`, "x".repeat(200));
  await eventually(() => db.stats().shards.every((s) => s.tables > 0 && s.frozenMemtables === 0), "flushes done");
  check("tables");
  check("snapshot", { snapshot });
  snapshot.release();
  await db.close();
  db = await open(dir);
  check("reopen");
  await db.close();
  assert.equal(problems, []);
});

test.run();
