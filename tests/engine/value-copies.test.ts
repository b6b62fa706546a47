// The copies reads hand out (src/engine/value-copies.ts): where the platform pools them
// (Node, Deno: Platform.markUntransferable), values and keys of 65 (Deno: 1) to 1,024 bytes
// from get and scan share chunks (2 KiB below 65 bytes, 8 KiB up to 256 bytes, 32 KiB
// above), yet each is the caller's own: writing into one changes no other and not the
// database, and a transfer of its buffer detaches nothing (Node copies, Deno and Bun refuse).
// Shorter and longer ones, and every copy in Bun, stand alone.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { CHUNK_BYTES, LARGE_CHUNK_BYTES, ON_HEAP_BYTES_MAX, POOLED_BYTES_MAX, SMALL_COPY_BYTES_MAX, TINY_CHUNK_BYTES, ValueCopies } from "../../src/engine/value-copies.ts";
import { cleanup, enc, eventually, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine value copies");
test.after.each(cleanup);

const pooled = platform.markUntransferable !== undefined;
const valueOf = (i: number, length: number) => enc.encode(`v${i}-`.padEnd(length, String.fromCharCode(97 + (i % 26))));

test("ValueCopies: disjoint 8-aligned copies in chunks, a new chunk when one is full, each chunk marked once; other lengths sliced", () => {
  const marked: ArrayBuffer[] = [];
  const copies = new ValueCopies((buffer) => void marked.push(buffer));
  const source = new Uint8Array(4096).map((_, i) => i & 0xff);
  const out: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) out.push(copies.copy(source, i, i + 100));
  assert.ok(marked.length > 1, "several chunks");
  assert.ok(marked.every((b) => b.byteLength === CHUNK_BYTES));
  for (let i = 0; i < out.length; i++) {
    assert.is(out[i].byteOffset % 8, 0);
    assert.ok(marked.includes(out[i].buffer as ArrayBuffer), "cut from a marked chunk");
    assert.equal([...out[i]], [...source.subarray(i, i + 100)]);
    const next = out[i + 1];
    if (next && next.buffer === out[i].buffer) assert.ok(next.byteOffset >= out[i].byteOffset + 100, "disjoint");
  }
  for (const length of [0, 64, POOLED_BYTES_MAX + 1]) {
    const alone = copies.copy(source, 0, length);
    assert.is(alone.byteOffset, 0);
    assert.is(alone.buffer.byteLength, length, `${length} bytes: an array of its own`);
  }
  assert.is(new ValueCopies(undefined).copy(source, 10, 110).buffer.byteLength, 100, "no platform hook: slices");
});

test("ValueCopies: copies over SMALL_COPY_BYTES_MAX come from LARGE_CHUNK_BYTES chunks, never from a small copy's chunk", () => {
  const marked: ArrayBuffer[] = [];
  const copies = new ValueCopies((buffer) => void marked.push(buffer));
  const source = new Uint8Array(4096).map((_, i) => (i * 7) & 0xff);
  const small: Uint8Array[] = [];
  const large: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    small.push(copies.copy(source, i, i + SMALL_COPY_BYTES_MAX));
    large.push(copies.copy(source, i, i + SMALL_COPY_BYTES_MAX + 1 + (i % 700)));
  }
  assert.ok(small.every((c) => c.buffer.byteLength === CHUNK_BYTES), "small copies: 8 KiB chunks");
  assert.ok(large.every((c) => c.buffer.byteLength === LARGE_CHUNK_BYTES), "longer copies: 32 KiB chunks");
  const smallChunks = new Set(small.map((c) => c.buffer));
  assert.ok(large.every((c) => !smallChunks.has(c.buffer)), "the classes share no chunk");
  assert.is(marked.length, smallChunks.size + new Set(large.map((c) => c.buffer)).size, "each chunk marked once");
  large.forEach((c, i) => assert.equal([...c], [...source.subarray(i, i + SMALL_COPY_BYTES_MAX + 1 + (i % 700))]));
  for (const c of [...small, ...large]) c.fill(0xee);
  small.forEach((c) => assert.ok(c.every((b) => b === 0xee)));
  assert.ok(LARGE_CHUNK_BYTES / (SMALL_COPY_BYTES_MAX + 1) <= CHUNK_BYTES / 64, "no copy pins more, relative to its size, than a 65-byte one in an 8 KiB chunk");
});

test("ValueCopies pooling from 1 byte (Deno): copies of 1 to 64 bytes come from TINY_CHUNK_BYTES chunks of their own class; empty ones stand alone", () => {
  const marked: ArrayBuffer[] = [];
  const copies = new ValueCopies((buffer) => void marked.push(buffer), 1);
  const source = new Uint8Array(4096).map((_, i) => (i * 13) & 0xff);
  const tiny: Uint8Array[] = [];
  const small: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) {
    tiny.push(copies.copy(source, i, i + 1 + (i % ON_HEAP_BYTES_MAX)));
    small.push(copies.copy(source, i, i + ON_HEAP_BYTES_MAX + 1));
  }
  assert.ok(tiny.every((c) => c.buffer.byteLength === TINY_CHUNK_BYTES), "copies of 1 to 64 bytes: tiny chunks");
  assert.ok(small.every((c) => c.buffer.byteLength === CHUNK_BYTES), "65 bytes: the small class, as before");
  const tinyChunks = new Set(tiny.map((c) => c.buffer));
  assert.ok(tinyChunks.size > 1 && small.every((c) => !tinyChunks.has(c.buffer)), "the classes share no chunk");
  tiny.forEach((c, i) => assert.equal([...c], [...source.subarray(i, i + 1 + (i % ON_HEAP_BYTES_MAX))]));
  for (const c of tiny) c.fill(0xab);
  small.forEach((c, i) => assert.equal([...c], [...source.subarray(i, i + ON_HEAP_BYTES_MAX + 1)], "writing the tiny copies changed no other"));
  assert.is(copies.copy(source, 5, 5).buffer.byteLength, 0, "an empty copy stands alone");
  assert.ok(TINY_CHUNK_BYTES / 16 <= 128, "a 16-byte key pins at most 128 times its size (a 257-byte copy in a 32 KiB chunk: 127.5)");
});

test("get and scan: values and long keys are the caller's own (pooled where the platform pools); writing one changes nothing else", async () => {
  const db = await open(tempDir(), { shards: 2, memtableBytesMax: 256 * 1024 });
  try {
    const keyOf = (i: number) => enc.encode(`key-${String(i).padStart(4, "0")}-`.padEnd(80, "k"));
    for (let i = 0; i < 40; i++) await db.put(keyOf(i), valueOf(i, 100 + i));
    const check = (stage: string) => {
      const got = Array.from({ length: 40 }, (_, i) => db.get(keyOf(i))!);
      if (pooled) assert.ok(got.some((v, i) => i > 0 && v.buffer === got[i - 1].buffer), `${stage}: gets share chunks`);
      for (const v of got) v.fill(0); // the caller's bytes: no other copy, and not the database, changes
      const rows = [...db.scan()];
      assert.is(rows.length, 40);
      if (pooled) assert.ok(rows.some(([k, v]) => k.buffer === v.buffer), `${stage}: a scan's keys and values share chunks`);
      rows.forEach(([k, v], i) => {
        assert.equal(k, keyOf(i));
        assert.equal(v, valueOf(i, 100 + i), `${stage}: row ${i}`);
      });
      for (const [k, v] of rows) {
        k.fill(1);
        v.fill(1);
      }
      for (let i = 0; i < 40; i++) assert.equal(db.get(keyOf(i)), valueOf(i, 100 + i), `${stage}: get ${i} after writing into the copies`);
    };
    check("memtables");
    for (let i = 40; i < 3000; i++) await db.put(keyOf(i % 40 === 0 ? 40 : i), valueOf(i, 200)); // flushes: the rows come from tables
    await db.delete(keyOf(40));
    await eventually(() => db.stats().flushes > 0, "a flush (the actor's, after the puts resolved)");
    for (let i = 40; i < 3000; i++) if (i % 40 !== 0) await db.delete(keyOf(i));
    check("tables");
  } finally {
    await db.close();
  }
});

test("a transfer of a value's buffer detaches no other value (copied or refused)", async () => {
  const db = await open(tempDir());
  try {
    for (let i = 0; i < 20; i++) await db.put(`k${i}`, valueOf(i, 100));
    const values = Array.from({ length: 20 }, (_, i) => db.get(`k${i}`)!);
    const first = values[0];
    try {
      structuredClone(first, { transfer: [first.buffer as ArrayBuffer] });
      if (pooled && first.byteLength === 0) assert.unreachable("a pooled chunk was detached");
    } catch (error) {
      assert.is((error as Error).name === "DataCloneError" || error instanceof TypeError, true, `refused: ${(error as Error).name}`);
    }
    values.slice(1).forEach((v, j) => assert.equal(v, valueOf(j + 1, 100), `value ${j + 1} intact`));
  } finally {
    await db.close();
  }
});

test.run();
