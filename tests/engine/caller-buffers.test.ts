// A write reads the caller's key and value arrays during the call, never later: the caller
// may reuse them for its next write at once, awaited or not, on every path. Before the fix
// (review, 2026-12-05), a write routed to the channel (fastWrite: false, a full memtable,
// another write of the shard in flight) was encoded a microtask or a reply slot later, so a
// caller reusing one buffer had its acknowledged writes land under the last key written;
// a write waiting behind the ring gate read them when the gate opened.
// A scan likewise reads its bounds' arrays in scan(): a scan kept comparing its rows with the
// caller's arrays until it ended (review, 2026-12-06), so reusing one changed its range.
import { Buffer } from "node:buffer";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/public.ts";
import { cleanup, dec, enc, open, rows, SLOW_SMALL_RING, tempDir } from "./helpers.ts";

const test = suite("engine caller buffers");
const MIB = 1024 * 1024;

const keyOf = (i: number) => `k${String(i).padStart(5, "0")}`;
const valueOf = (i: number) => `v${String(i).padStart(5, "0")}`;

/** The keys (of `count`) whose value is not the one put: "k00003=<missing>" or "k00003=v00199". */
function wrongRows(db: Database, count: number): string[] {
  const wrong: string[] = [];
  for (let i = 0; i < count; i++) {
    const value = db.get(keyOf(i));
    const got = value === undefined ? "<missing>" : dec.decode(value);
    if (got !== valueOf(i)) wrong.push(`${keyOf(i)}=${got}`);
  }
  return wrong;
}

/**
 * 40 writes with `fastWrite: false` (every one takes the channel), each made by `write`
 * with one key array and one value array reused for all: the keys not readable as written.
 */
async function reusingOneBuffer(write: (db: Database, key: Uint8Array, value: Uint8Array) => Promise<bigint>): Promise<string[]> {
  const db = await open(tempDir(), { shards: 2, fastWrite: false });
  const key = new Uint8Array(6);
  const value = new Uint8Array(6);
  const writes: Promise<bigint>[] = [];
  for (let i = 0; i < 40; i++) {
    enc.encodeInto(keyOf(i), key);
    enc.encodeInto(valueOf(i), value);
    writes.push(write(db, key, value)); // a write's contract: the bytes as they are now
  }
  await Promise.all(writes);
  const wrong = wrongRows(db, 40);
  await db.close();
  return wrong;
}

test("fastWrite false: puts that reuse one key and value buffer each land under their own key", async () => {
  const wrong = await reusingOneBuffer((db, key, value) => db.put(key, value));
  assert.equal(wrong, [], `acknowledged puts not readable as written: ${wrong.length} of 40, e.g. ${wrong.slice(0, 3).join(", ")}`);
});

test("fastWrite false: batches that reuse one key and value buffer each land under their own key", async () => {
  const wrong = await reusingOneBuffer((db, key, value) => db.batch([{ type: "put", key, value }]));
  assert.equal(wrong, [], `acknowledged batches not readable as written: ${wrong.length} of 40, e.g. ${wrong.slice(0, 3).join(", ")}`);
});

test("enqueue: requests that reuse one key and value buffer each land under their own key", async () => {
  // enqueue read its operations when the request started (README said so): requests queued
  // behind a running group, made with one reused buffer, all landed under the last key.
  const wrong = await reusingOneBuffer((db, key, value) => db.enqueue([{ type: "put", key, value }]));
  assert.equal(wrong, [], `acknowledged queued writes not readable as written: ${wrong.length} of 40, e.g. ${wrong.slice(0, 3).join(", ")}`);
});

test("default options: puts reusing a buffer while a full memtable diverts them to the channel are not lost", async () => {
  // One 64 KiB memtable per shard: ~40 puts of 1,000 bytes fill it; the rest take the
  // channel (memtable full, then "in flight on this shard") with the default fastWrite.
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024 });
  const key = new Uint8Array(6);
  const value = new Uint8Array(1000);
  const writes: Promise<bigint>[] = [];
  for (let i = 0; i < 150; i++) {
    enc.encodeInto(keyOf(i), key);
    value.fill(0x20);
    enc.encodeInto(valueOf(i), value);
    writes.push(db.put(key, value));
  }
  await Promise.all(writes);
  const lost: string[] = [];
  for (let i = 0; i < 150; i++) {
    const v = db.get(keyOf(i));
    if (v === undefined || dec.decode(v.subarray(0, 6)) !== valueOf(i)) lost.push(keyOf(i));
  }
  const channel = db.stats().paths.thisHandle.channel;
  await db.close();
  assert.ok(channel > 0, "some puts took the channel path (the scenario)");
  assert.equal(lost, [], `${lost.length} of 150 acknowledged puts are not readable under their key (${channel} took the channel)`);
});

test("puts and batches reusing one buffer while the group WAL ring is full (behind the ring gate) land under their own keys", async () => {
  // A 4 MiB ring, a durability worker whose every sync takes 20 ms, and 600 unawaited puts
  // of 16 KiB: the ring fills, and later writes wait behind the gate (they are written when
  // the worker has drained some).
  const db = await open(tempDir(), { shards: 1, durability: "async", memtableBytesMax: 64 * 1024 * 1024, walBufferBytes: 4 * 1024 * 1024, faults: { groupLog: { syncDelayMs: 20 } } });
  const key = new Uint8Array(6);
  const value = new Uint8Array(16 * 1024);
  const writes: Promise<bigint>[] = [];
  for (let i = 0; i < 600; i++) {
    enc.encodeInto(keyOf(i), key);
    enc.encodeInto(valueOf(i), value);
    writes.push(i % 2 === 0 ? db.put(key, value) : db.batch([{ type: "put", key, value }]));
  }
  await Promise.all(writes);
  const lost: string[] = [];
  for (let i = 0; i < 600; i++) {
    const v = db.get(keyOf(i));
    if (v === undefined || dec.decode(v.subarray(0, 6)) !== valueOf(i)) lost.push(keyOf(i));
  }
  await db.close();
  assert.equal(lost, [], `${lost.length} of 600 acknowledged writes are not readable under their key`);
});

test.after(cleanup);
const keysOf = (rows: Iterable<[Uint8Array, Uint8Array]>) => [...rows].map(([k]) => dec.decode(k));

test("a scan's bounds are those given to scan(): reusing the bound arrays afterwards changes no row it yields", async () => {
  const db = await open(tempDir(), { shards: 2 });
  try {
    for (const k of ["a", "b", "c", "d", "e", "f"]) await db.put(k, k);
    const upper = enc.encode("c");
    const lower = enc.encode("b");
    const forward = db.scan({ gte: lower, lt: upper });
    assert.is(dec.decode(forward.next().value![0]), "b");
    upper.set(enc.encode("f")); // the caller reuses its arrays for other keys
    lower.set(enc.encode("a"));
    assert.equal(keysOf(forward), [], "forward: nothing after b below c");

    const gt = enc.encode("a");
    const reverse = db.scan({ lte: "d", gt, reverse: true });
    gt.set(enc.encode("c"));
    assert.equal(keysOf(reverse), ["d", "c", "b"], "reverse: down to the lower bound given");

    const prefix = enc.encode("b");
    const byPrefix = db.scan({ prefix, holdAtEnd: true });
    assert.equal(keysOf(byPrefix), ["b"], "prefix b"); // holdAtEnd: still open, seekable
    prefix.set(enc.encode("a"));
    byPrefix.seek("a"); // a target below the bound starts at the bound given: prefix "b"
    assert.equal(keysOf(byPrefix), ["b"], "seek after the prefix array was reused");
    byPrefix.return();
  } finally {
    await db.close();
  }
});

test("a subscription's prefix given as a Node Buffer is its own: refilling the Buffer after subscribe() changes nothing", async () => {
  // slice() of a Buffer is a view: the "copy" of the prefix followed the caller's bytes (review, 2026-12-06).
  const db = await open(tempDir(), { shards: 2 });
  try {
    const prefix = Buffer.from("b");
    const feed = db.subscribe({ prefix });
    prefix.set(enc.encode("c"));
    await db.put("c1", "other prefix");
    await db.put("b1", "this prefix");
    const first = await feed.next();
    await feed.return?.();
    assert.is(dec.decode(first.value!.key), "b1");
  } finally {
    await db.close();
  }
});

// Node Buffers (review of the session's changes, 2026-12-06, each seen failing): the copies
// of a scan's bounds, of a prefix's end and of a write deferred behind the ring gate were
// made with slice(), which a Buffer (a Uint8Array, what abstract-level and most Node code
// pass) overrides to return a view of the caller's memory, not a copy.
test("a scan's lt bound given as a Buffer is the scan's own: reusing the Buffer after scan() returned changes nothing", async () => {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  try {
    for (const k of ["a", "b", "c", "d"]) await db.put(k, "1");
    const bound = Buffer.from("c");
    const scan = db.scan({ lt: bound });
    bound[0] = "z".charCodeAt(0); // the caller reuses its buffer
    assert.equal(rows(scan), ["a=1", "b=1"]);
  } finally {
    await db.close();
  }
});

// prefixEnd (src/engine/scan.ts) increments `prefix.slice()` in place: for a Buffer prefix
// that view is the caller's (and the scan's lower bound's) memory.
test("a scan with a Buffer prefix returns the keys under that prefix and leaves the caller's Buffer unchanged", async () => {
  const db = await open(tempDir(), { shards: 1, durability: "async" });
  try {
    for (const k of ["a1", "b1", "b2", "c1"]) await db.put(k, "1");
    const prefix = Buffer.from("b");
    const got = rows(db.scan({ prefix }));
    assert.is(prefix.toString(), "b", "the caller's prefix Buffer was changed by scan()");
    assert.equal(got, ["b1=1", "b2=1"]);
  } finally {
    await db.close();
  }
});

// #behindGate / ownedOps (src/engine/database.ts) keep "copies" made with `.slice()`: for a
// Buffer these are views, so a write waiting behind the ring gate writes whatever the caller
// put in its buffer after put() returned (README: "the arrays may be reused for the next
// write at once, awaited or not").
test("a put of a Buffer value that waits behind the ring gate writes the value it was given, though the caller reuses the Buffer at once", async () => {
  const dir = tempDir();
  // A slow disk (every fdatasync takes 300 ms) and the smallest ring: 1 MiB puts fill it.
  const db = await open(dir, SLOW_SMALL_RING);
  try {
    const writes: Promise<unknown>[] = [];
    let gated = -1;
    for (let i = 1; i < 64 && gated < 0; i++) {
      const value = Buffer.alloc(MIB - 64, i);
      writes.push(db.put("k", value));
      // Under "async" a put the fast path took is visible at once; this one waits for room.
      if (db.get("k")?.[0] !== i) {
        gated = i;
        value.fill(0xee); // the caller reuses its buffer once put() returned
      }
    }
    assert.ok(gated > 0, "the group WAL ring never filled");
    await Promise.all(writes);
    const got = db.get("k");
    assert.is(got?.[0], gated, `the gated put wrote ${got?.[0] === 0xee ? "the caller's later bytes (0xee)" : `byte ${got?.[0]}`}`);
  } finally {
    await db.close();
  }
});

test("a detached key or value (its buffer transferred) is a TypeError on both paths, the write refused whole, and the database goes on", async () => {
  const detached = () => {
    const bytes = new Uint8Array(new ArrayBuffer(8));
    structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
    return bytes;
  };
  for (const fastWrite of [true, false]) {
    const db = await open(tempDir(), { durability: "full", fastWrite });
    try {
      const writes: Array<[string, () => Promise<unknown>]> = [
        ["put key", () => db.put(detached(), "v")],
        ["put value", () => db.put("k", detached())],
        ["delete", () => db.delete(detached())],
        ["batch", () => db.batch([{ type: "put", key: "a", value: "1" }, { type: "put", key: "b", value: detached() }])],
      ];
      for (const [what, write] of writes) {
        const outcome = await Promise.resolve().then(write).then(() => "written", (e: Error) => e.name);
        assert.is(outcome, "TypeError", `fastWrite ${fastWrite}, ${what}`);
      }
      assert.throws(() => db.get(detached()), (e: unknown) => e instanceof TypeError);
      assert.is(db.get("a"), undefined, "the batch was refused whole");
      await db.put("after", "x");
      assert.is(dec.decode(db.get("after")!), "x", `fastWrite ${fastWrite}: a write after them`);
    } finally {
      await db.close();
    }
  }
});

test.run();
