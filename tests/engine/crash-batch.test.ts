// A batch is all or nothing after a crash, even when one of its shards was flushed to a
// table before the group WAL record holding the batch was durable (durability "async",
// a long WAL batch interval): a flush must only write versions whose log record is
// durable, or the crash leaves half of the batch in a table and the other half nowhere.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { spawnChild } from "../harness/child.ts";
import { runtimeName } from "../harness/platform.ts";
import { CRASH_BATCH_OPTIONS } from "./fixtures/crash-batch-shape.ts";
import { cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine crash: batch across shards");
const fixture = new URL("./fixtures/flush-before-durable.ts", import.meta.url).pathname;

test("SIGKILL right after a flush of one shard: the batch is all or nothing", async () => {
  for (let round = 0; round < 3; round++) {
    const dir = tempDir();
    const child = spawnChild(runtimeName(), fixture, [dir]);
    let keys: string[];
    try {
      keys = (await child.nextLine()).split(" ").slice(1);
      await child.waitFor("flushed");
    } finally {
      child.kill("SIGKILL"); // it waits for this with its database open, also when the wait failed
      await child.waitExit();
    }
    const db = await open(dir, CRASH_BATCH_OPTIONS);
    try {
      const allOrNothing = (when: string) => {
        const seen = keys.map((k) => text(db.get(k)));
        assert.ok(seen.every((v) => v === "batch") || seen.every((v) => v === undefined), `round ${round}, ${when}: half of the batch: ${JSON.stringify(seen)}`);
      };
      allOrNothing("on reopen");
      // New writes move the log on; a version the crash left in a table must not surface then.
      for (let i = 0; i < 50; i++) await db.put(`later${i}`, "x".repeat(100));
      await db.flush();
      allOrNothing("after later writes");
      // Tables never hold a version newer than what the log kept: later writes land above them.
      await db.put(keys[0], "after");
      assert.is(text(db.get(keys[0])), "after");
    } finally {
      await db.close();
    }
    const again = await open(dir, CRASH_BATCH_OPTIONS);
    assert.is(text(again.get(keys[0])), "after", `round ${round}: a write after recovery survives a reopen`);
    await again.close();
  }
});

test.after(cleanup);
test.run();
