// Read-your-writes under durability "async" while another thread writes: a put this thread
// awaited must be visible to its next get and to a snapshot taken right after. The visible
// point is the group WAL ring's published end, which cannot pass another thread's earlier
// reservation that is not published yet; the put used to resolve as soon as its own record
// was published, and ~1% of them were then invisible for up to 26 ms (found by review,
// 2026-12-04). Now an "async" write resolves once the published end has passed its record
// (src/engine/database.ts #visible).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { cleanup, eventually, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine async read-your-writes");
test.after.each(cleanup);

const RUN_MS = 1500;

test("an awaited async put is visible to the same thread's next get and snapshot while a worker writes bursts of large puts", async () => {
  const db = await open(tempDir(), { shards: 2, memtableBytesMax: 1 << 20, durability: "async" });
  const handle = db.share();
  const flags = new SharedArrayBuffer(8);
  const i32 = new Int32Array(flags);
  const worker = runModuleInWorker(platform, {
    module: handle.module,
    memory: handle.memory,
    url: new URL("./fixtures/put-bursts.ts", import.meta.url).href,
    exportName: "putBursts",
    data: { handle, flags },
  }) as Promise<number>;
  let puts = 0;
  const misses: string[] = [];
  try {
    await eventually(() => Atomics.load(i32, 0) === 1, "the worker attached");
    for (const until = Date.now() + RUN_MS; Date.now() < until; puts++) {
      const key = `m/${puts % 50}`;
      const value = `x${puts}`;
      await db.put(key, value);
      const got = db.getString(key);
      const snapshot = db.snapshot();
      const seen = db.getString(key, { snapshot });
      snapshot.release();
      if ((got !== value || seen !== value) && misses.length < 5) misses.push(`put ${puts}: get ${JSON.stringify(got)}, snapshot ${JSON.stringify(seen)}`);
    }
  } finally {
    Atomics.store(i32, 1, 1);
  }
  const bursts = await worker;
  assert.ok(bursts > 0 && puts > 0, `the worker wrote ${bursts} bursts while this thread put ${puts} times`);
  assert.equal(misses, [], `${puts} awaited puts, the first not read back`);
  await db.close();
});

test.run();
