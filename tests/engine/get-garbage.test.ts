// A get of an absent key makes no garbage (src/engine/read-context.ts lookup: the pin is
// reused, the visible point is read without a BigInt, the result is kept in fields; and
// Database.get makes no default options object). It made ~790 bytes a get (Node: arrays of
// memtable lists, a closure, a result object, the options object), and in Deno, whose young
// generation kept growing onto fresh pages, the first 50,000 gets of the benchmark's "get
// miss" faulted 0.2-0.3 pages a get, at ~12 µs a fault on this VM (3.2-4.9 µs a get, against
// 0.4-0.6 µs once no page faulted).
// Counted in page faults of the calling thread (Linux), not timed: this test measured 2 to
// 12 faults in 100,000 gets after the change in Node, Bun and Deno, and before it 141-147
// (Node), 1,663-2,457 (Bun) and 6,177-6,209 (Deno).
import { readFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, open, tempDir } from "./helpers.ts";

const test = suite("engine get garbage");
test.after.each(cleanup);

const threadMinorFaults = (): number | undefined => {
  try {
    const stat = readFileSync("/proc/thread-self/stat", "utf8"); // proc(5), field 10 minflt
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
  } catch {
    return undefined;
  }
};

/** `count` distinct 16-byte keys from a seeded generator (xorshift32). */
function keys(count: number, seed: number): Uint8Array[] {
  let x = seed;
  return Array.from({ length: count }, () => {
    const key = new Uint8Array(16);
    for (let i = 0; i < 16; i += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      key[i] = x;
      key[i + 1] = x >>> 8;
      key[i + 2] = x >>> 16;
      key[i + 3] = x >>> 24;
    }
    return key;
  });
}

test("100,000 gets of absent keys fault the calling thread under 0.01 pages a get (before: Bun 0.02, Deno 0.06)", async () => {
  if (threadMinorFaults() === undefined) return;
  const db = await open(tempDir(), { durability: "async" });
  try {
    const present = keys(20_000, 0x9e3779b9);
    const absent = keys(100_000, 0x85ebca6b);
    const value = new Uint8Array(100).fill(1);
    for (let i = 0; i < present.length; i += 1000) await db.batch(present.slice(i, i + 1000).map((key) => ({ type: "put" as const, key, value })));
    // Warm-up, not counted: the first gets compile the read path, in tiers (Deno's first
    // 20,000 or so still faulted ~200 pages per 10,000 while they did).
    for (let i = 0; i < 30_000; i++) db.get(absent[i]);
    const before = threadMinorFaults()!;
    let found = 0;
    for (let i = 0; i < absent.length; i++) if (db.get(absent[i]) !== undefined) found++;
    const faults = threadMinorFaults()! - before;
    assert.is(found, 0);
    console.log(`  [get garbage] ${faults} page faults of the calling thread in ${absent.length} gets of absent keys`);
    assert.ok(faults / absent.length < 0.01, `${faults} page faults in ${absent.length} gets (${(faults / absent.length).toFixed(3)} a get)`);
  } finally {
    await db.close();
  }
});

test.run();
