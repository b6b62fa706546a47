// abstract-level's iterator seek(): a target outside the iterator's range options reaches the
// natural end (abstract-level README, iterator.seek). The adapter passed it to shardline's
// scan, which starts at the bound instead, and yielded the range's first entry (review of
// shardline/level, 2026-12-06, seen failing). abstract-level's own test of this ("seek()
// respects range") never runs its expectations: it pushes async functions, not promises,
// into the array it awaits; this file runs them.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runtimeName } from "../../runtimes/current.ts";
import { cleanup, tempDir } from "../engine/helpers.ts";

const { ShardlineLevel } = await import(`../../runtimes/${runtimeName()}/level.ts`) as typeof import("../../runtimes/node/level.ts");
const test = suite("level seek outside the range");
const FAST = { shards: 2, durability: "async" as const };

type Range = { gt?: string; gte?: string; lt?: string; lte?: string; reverse?: boolean };

/** What each kind of iterator yields first after seek(target), on a database of the keys "0".."9". */
async function firstAfterSeek(db: InstanceType<typeof ShardlineLevel>, range: Range, target: string): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const it = db.iterator(range);
  it.seek(target);
  out.iterator = (await it.next())?.[0];
  await it.close();
  const keys = db.keys(range);
  keys.seek(target);
  out.keys = await keys.next();
  await keys.close();
  const values = db.values(range);
  values.seek(target);
  out.values = await values.next();
  await values.close();
  return out;
}

test("iterator/keys/values seek() to a target outside the range options reaches the natural end (abstract-level README, iterator.seek)", async () => {
  const db = new ShardlineLevel(tempDir("shardline-review-level-"), { shardline: FAST });
  await db.open();
  await db.batch(Array.from({ length: 10 }, (_, i) => ({ type: "put" as const, key: String(i), value: String(i) })));
  // The cases of abstract-level's "seek() respects range" whose expectations never run.
  const cases: Array<[Range, string]> = [
    [{ gt: "5" }, "4"],
    [{ gt: "5" }, "5"],
    [{ gte: "5" }, "4"],
    [{ gte: "5", gt: "3" }, "4"],
    [{ lt: "5", reverse: true }, "6"],
    [{ lt: "5", reverse: true }, "5"],
    [{ lte: "5", reverse: true }, "6"],
  ];
  const wrong: string[] = [];
  for (const [range, target] of cases) {
    const got = await firstAfterSeek(db, range, target);
    for (const [kind, first] of Object.entries(got)) {
      if (first !== undefined) wrong.push(`${kind}(${JSON.stringify(range)}).seek(${JSON.stringify(target)}) yielded ${JSON.stringify(first)}`);
    }
  }
  await db.close();
  assert.equal(wrong, [], `a seek outside the range yielded an entry:\n${wrong.join("\n")}`);
});

test("a sublevel iterator's seek() below its gte option reaches the natural end", async () => {
  const db = new ShardlineLevel(tempDir("shardline-review-level-"), { shardline: FAST });
  await db.open();
  const sub = db.sublevel("s");
  await sub.batch(["a", "b", "c"].map((k) => ({ type: "put" as const, key: k, value: k })));
  const it = sub.keys({ gte: "b" });
  it.seek("a");
  const first = await it.next();
  await it.close();
  await db.close();
  assert.is(first, undefined, `seek("a") on keys({ gte: "b" }) yielded ${JSON.stringify(first)}`);
});

test.run();
