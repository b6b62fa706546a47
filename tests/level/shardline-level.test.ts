// shardline/level on real directories (the abstract-level suite shares databases): the
// runtime entry (runtimes/<rt>/level.ts) loads, data survives a close and reopen,
// createIfMissing/errorIfExists, an iterator reads at its creation, a batch of 100,000
// operations is one atomic write, shardline's errors
// carry Level's codes, and the shardline Database underneath is reachable.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtimeName } from "../../runtimes/current.ts";
import { cleanup, tempDir } from "../engine/helpers.ts";

const { ShardlineLevel } = await import(`../../runtimes/${runtimeName()}/level.ts`) as typeof import("../../runtimes/node/level.ts");
const test = suite("shardline/level");
const FAST = { shards: 2, durability: "async" as const };

async function rejectsWith(fn: () => Promise<unknown>, code: string, message?: RegExp): Promise<Error & { code: string; cause?: Error }> {
  try {
    await fn();
  } catch (error) {
    const e = error as Error & { code: string; cause?: Error };
    assert.is(e.code, code, `${e.message} (cause: ${e.cause?.message})`);
    if (message) assert.match(e.cause?.message ?? e.message, message);
    return e;
  }
  throw new Error(`expected ${code}`);
}

test("put, get, reopen, json values, getSync and has", async () => {
  const dir = tempDir("shardline-level-");
  const db = new ShardlineLevel(dir, { valueEncoding: "json", shardline: FAST });
  await db.put("a", { n: 1 });
  await db.batch([{ type: "put", key: "b", value: [2] }, { type: "del", key: "a" }]);
  assert.equal(await db.get("b"), [2]);
  assert.is(await db.get("a"), undefined);
  await db.close();
  const again = new ShardlineLevel(dir, { valueEncoding: "json", shardline: FAST });
  await again.open({ createIfMissing: false });
  assert.equal(again.getSync("b"), [2], "survives close and reopen");
  assert.ok(await again.has("b"));
  assert.is(await again.has("a"), false);
  assert.is(typeof again.database.stats, "function", "the shardline Database underneath");
  await again.close();
});

test("createIfMissing: false and errorIfExists: true", async () => {
  const missing = new ShardlineLevel(tempDir("shardline-level-"), { createIfMissing: false, shardline: FAST });
  await rejectsWith(() => missing.open(), "LEVEL_DATABASE_NOT_OPEN", /does not exist/);
  const dir = tempDir("shardline-level-");
  const db = new ShardlineLevel(dir, { shardline: FAST });
  await db.open();
  await db.close();
  const exists = new ShardlineLevel(dir, { errorIfExists: true, shardline: FAST });
  await rejectsWith(() => exists.open(), "LEVEL_DATABASE_NOT_OPEN", /exists/);
});

test("an iterator reads at its creation; clear() of a range; seek", async () => {
  const db = new ShardlineLevel(tempDir("shardline-level-"), { shardline: FAST });
  await db.batch(["a", "b", "c", "d"].map((k) => ({ type: "put" as const, key: k, value: k })));
  const it = db.iterator();
  await db.put("e", "e");
  await db.del("a");
  assert.equal(await it.all(), [["a", "a"], ["b", "b"], ["c", "c"], ["d", "d"]]);
  await db.clear({ gt: "b", lte: "d" });
  assert.equal(await db.keys().all(), ["b", "e"]);
  const keys = db.keys();
  keys.seek("c");
  assert.is(await keys.next(), "e");
  await keys.close();
  await db.close();
});

test("a Level batch of 100,000 operations (chained and array forms) is one atomic write that survives reopen", async () => {
  const dir = tempDir("shardline-level-");
  const db = new ShardlineLevel(dir, { shardline: FAST });
  await db.open();
  const n = 100_000;
  await db.batch(Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: `a${String(i).padStart(6, "0")}`, value: `v${i}` })));
  const chained = db.batch();
  for (let i = 0; i < n; i += 2) chained.del(`a${String(i).padStart(6, "0")}`);
  chained.put("chained", "yes");
  await chained.write();
  assert.is(await db.get("a000001"), "v1");
  assert.is(await db.get("a000002"), undefined);
  await db.close();
  const again = new ShardlineLevel(dir, { shardline: FAST });
  await again.open({ createIfMissing: false });
  assert.is((await again.keys({ gte: "a", lt: "b" }).all()).length, n / 2, "half of the keys after reopen");
  assert.is(await again.get("chained"), "yes");
  await again.close();
});

test("shardline's limits and states as Level error codes", async () => {
  const db = new ShardlineLevel(tempDir("shardline-level-"), { shardline: FAST });
  await db.open();
  await rejectsWith(() => db.put("k".repeat(5000), "v"), "LEVEL_INVALID_KEY");
  const snapshot = db.snapshot();
  await snapshot.close();
  await rejectsWith(() => db.get("a", { snapshot }), "LEVEL_SNAPSHOT_NOT_OPEN");
  await db.close();
  await rejectsWith(() => db.get("a"), "LEVEL_DATABASE_NOT_OPEN");
});

test.after(cleanup);
test.run();
