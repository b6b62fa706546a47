// open(dir, { readOnly: true }) (src/engine/open-read-only.ts, docs/RECOVERY.md "Read-only
// open"): reads, scans and snapshots work, including what is only in the log; writes reject
// with ReadOnlyError; no lock, so it opens beside a writer and follows it on refresh (the
// live part is tests/engine/live-readers.test.ts); nothing in the directory changes but the
// handle's own slot file, gone again at close; a log the memtables cannot hold without a
// flush is refused rather than flushed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bindDatabaseApi, DatabaseNotFoundError, ReadOnlyError } from "../../src/engine/public.ts";
import type { Platform } from "../../src/platform.ts";
import { workerPool } from "../../src/worker-pool.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, open, platform, rows, tempDir, text } from "./helpers.ts";

const test = suite("engine read-only open");
test.after.each(cleanup);

/** Every file under `dir` with its size and mtime: equal listings mean nothing changed. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const name of platform.readdir(at).sort()) {
      const path = `${at}/${name}`;
      const s = platform.stat(path)!;
      if (s.isDirectory) walk(path);
      else out.push(`${path.slice(dir.length)} ${s.size} ${s.mtimeMs}`);
    }
  };
  walk(dir);
  return out;
}

test("reads, scans and snapshots see tables and the unflushed log; writes reject; nothing changes", async () => {
  const dir = tempDir();
  const writer = await open(dir, { memtableBytesMax: 64 * 1024 });
  for (let i = 0; i < 2000; i++) await writer.put(`k${String(i).padStart(4, "0")}`, `v${i}`);
  await writer.delete("k0001");
  await writer.close();
  const before = listing(dir);
  // Opened on a platform (so a pool) of its own: the process's pool's idle count moves on
  // its own (an earlier file's idle thread retiring during the open, a lease ending late).
  const own: Platform = { ...platform };

  const db = await bindDatabaseApi(own).open(dir, { readOnly: true, memtableBytesMax: 64 * 1024 });
  assert.is(workerPool(own).idleThreads + workerPool(own).busyThreads, 0, "no pooled thread was taken (none started)");
  assert.is(text(db.get("k0000")), "v0");
  assert.is(db.get("k0001"), undefined);
  assert.is(text(db.get("k1999")), "v1999");
  const snapshot = db.snapshot();
  assert.equal(rows(db.scan({ gte: "k0998", lt: "k1001", snapshot })), ["k0998=v998", "k0999=v999", "k1000=v1000"]);
  snapshot.release();
  assert.is(db.stats().coordination?.locked, false);
  assert.ok(db.stats().recovery!.replayedRecords > 0 || db.stats().shards.some((s) => s.tables > 0));

  for (const write of [() => db.put("x", "y"), () => db.delete("k0000"), () => db.batch([{ type: "put", key: "x", value: "y" }]), () => db.enqueue([{ type: "put", key: "x", value: "y" }]), () => db.flush()]) {
    const error = await rejects(write, ReadOnlyError);
    assert.is((error as ReadOnlyError).code, "SHARDLINE_READ_ONLY");
  }
  await db.close();
  assert.equal(listing(dir), before, "the read-only open changed nothing in the directory");

  const again = await open(dir);
  await again.put("after", "yes");
  assert.is(text(again.get("k1999")), "v1999");
  await again.close();
});

test("a read-only open beside a writer that holds the lock follows it on refresh", async () => {
  const dir = tempDir();
  const writer = await open(dir);
  await writer.put("a", "1");
  const reader = await open(dir, { readOnly: true, coordinationTimeoutMs: 0, refreshIntervalMs: 3_600_000 });
  assert.is(text(reader.get("a")), "1");
  await writer.put("b", "2");
  assert.is(reader.get("b"), undefined, "no refresh yet: the reader shows the durable state at its open");
  await reader.refresh();
  assert.is(text(reader.get("b")), "2", "after refresh() it shows what the writer made durable since");
  const slots = writer.stats().coordination?.readers ?? [];
  assert.is(slots.length, 1, "the writer sees the reader's slot");
  assert.ok(slots[0].alive);
  await reader.close();
  assert.equal(writer.stats().coordination?.readers, [], "close gave the slot back");
  await writer.put("c", "3");
  await writer.close();
});

test("read-only open of a missing or empty directory creates nothing", async () => {
  const parent = tempDir();
  await rejects(() => open(`${parent}/none`, { readOnly: true }), DatabaseNotFoundError);
  assert.is(platform.stat(`${parent}/none`), undefined);
  await rejects(() => open(parent, { readOnly: true }), DatabaseNotFoundError);
  assert.equal(platform.readdir(parent), []);
});

test("a log the memtables cannot hold without a flush: ReadOnlyError, nothing flushed", async () => {
  const dir = tempDir();
  const writer = await open(dir, { shards: 1, memtableBytesMax: 16 * 1024 * 1024 });
  const value = "x".repeat(1000);
  for (let i = 0; i < 3000; i++) await writer.put(`k${i}`, value);
  await writer.close();
  const before = listing(dir);
  const error = await rejects(() => open(dir, { readOnly: true, memtableBytesMax: 64 * 1024 }), ReadOnlyError);
  assert.match(error.message, /larger memtableBytesMax/);
  assert.equal(listing(dir), before);
  const fits = await open(dir, { readOnly: true, memtableBytesMax: 16 * 1024 * 1024 });
  assert.is(fits.get("k2999")?.length, 1000);
  assert.is(fits.stats().recovery!.replayedRecords, 3000, "all of it was only in the log");
  await fits.close();
});

test("a torn tail past the durable mark is not read (no repair needed); without a mark it needs the repair: ReadOnlyError, the log untouched", async () => {
  const dir = tempDir();
  const writer = await open(dir);
  await writer.put("a", "1");
  await writer.close();
  const segments = platform.readdir(`${dir}/wal`).filter((name) => name.endsWith(".wal")).sort();
  const last = `${dir}/wal/${segments[segments.length - 1]}`;
  const file = platform.open(last, "readwrite");
  file.write(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), file.size() - 8); // garbage after the zeros: a torn tail
  file.close();
  const before = listing(dir);
  const marked = await open(dir, { readOnly: true });
  assert.is(text(marked.get("a")), "1", "the log below the writer's durable mark is read; what follows is not judged");
  await marked.close();
  assert.equal(listing(dir), before, "nothing changed");

  platform.unlink(`${dir}/readers/DURABLE`); // a directory last written before durable marks existed
  const withoutMark = listing(dir);
  const error = await rejects(() => open(dir, { readOnly: true }), ReadOnlyError);
  assert.match(error.message, /truncate|open\(readwrite\)/);
  assert.equal(listing(dir), withoutMark, "the torn tail is still there");
  const repaired = await open(dir);
  assert.is(text(repaired.get("a")), "1");
  await repaired.close();
  const reader = await open(dir, { readOnly: true });
  assert.is(text(reader.get("a")), "1");
  await reader.close();
});

test.run();
