// Reads of one thread that overlap without end: two scans open in turn, each ended after a
// few writes, so that the thread is never without an open read. The thread's reclamation
// word (assembly/epoch.ts) used to keep the epoch of the first read until no read was open,
// which never came: no memtable arena retired after it was ever reused, and the database
// failed once the shared memory was used up (2,075 puts of 200 KB into 1 MiB memtables;
// found by review, 2026-12-04). Now the word holds the oldest entry epoch of the reads
// still open (src/engine/read-context.ts enter/exit).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { cleanup, open, tempDir } from "./helpers.ts";

const test = suite("engine overlapping reads");
test.after.each(cleanup);

test("when the oldest of a thread's open scans ends, what was retired before the next one began is free to reuse", async () => {
  const db = await open(tempDir(), { shards: 1 });
  await db.put("a", "1");
  await db.put("b", "2");
  const handle = db.share();
  const core = await Core.attach(handle.module, handle.memory); // a second view of the core, to retire and ask as the actor does
  try {
    const first = db.scan();
    first.next();
    const retired = core.exports.epochAdvance() >>> 0; // an arena retired while the first scan is open
    assert.is(core.exports.epochQuiet(retired), 0, "the first scan may still hold it");
    const second = db.scan();
    second.next(); // began after the retirement: cannot hold that arena
    first.return!();
    assert.is(core.exports.epochQuiet(retired), 1, "with only the second scan open, the arena is free");
    const third = db.scan();
    third.next();
    second.return!();
    assert.is(core.exports.epochQuiet(retired), 1);
    const later = core.exports.epochAdvance() >>> 0;
    assert.is(core.exports.epochQuiet(later), 0, "the third scan, still open, holds what was retired after it began");
    third.return!();
    assert.is(core.exports.epochQuiet(later), 1, "no read open: everything is free");
    // A get inside a scan's loop is a read that begins and ends inside another one.
    const outer = db.scan();
    outer.next();
    const during = core.exports.epochAdvance() >>> 0;
    assert.ok(db.get("b"));
    assert.is(core.exports.epochQuiet(during), 0, "the outer scan still holds it after the inner get ended");
    outer.return!();
    assert.is(core.exports.epochQuiet(during), 1);
  } finally {
    core.detach();
  }
  await db.close();
});

test.run();
