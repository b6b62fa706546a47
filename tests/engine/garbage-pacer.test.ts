// The garbage pacer (src/engine/garbage-pacer.ts): where the platform's collector needs
// asking (Platform.collectYoung: Bun), a handle's gets, scans, fast-path puts and change-feed events ask for a
// young collection after every PACE_BYTES of garbage they made for their callers, so
// JavaScriptCore, which counts the database's shared memory as heap, does not let ~1 GiB of
// garbage pile up on freshly mapped pages (0.48 page faults per get of a 1 KiB value before).
import { readFileSync } from "node:fs";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { CALL_BYTES, GarbagePacer, PACE_BYTES } from "../../src/engine/garbage-pacer.ts";
import { cleanup, enc, open, platform, tempDir } from "./helpers.ts";

const test = suite("engine garbage pacer");
test.after.each(cleanup);

const keyOf = (i: number) => enc.encode(`key-${String(i).padStart(6, "0")}`);

test("GarbagePacer: one young collection per PACE_BYTES noted; none without a collector", () => {
  let calls = 0;
  const pacer = new GarbagePacer(() => calls++, 1000);
  for (let i = 0; i < 99; i++) pacer.note(100);
  assert.is(calls, 9, "9,900 bytes: 9 collections");
  pacer.note(100);
  assert.is(calls, 10);
  const none = new GarbagePacer(undefined);
  for (let i = 0; i < 1000; i++) none.note(PACE_BYTES);
  assert.ok(PACE_BYTES > 0 && CALL_BYTES > 0);
});

test("a handle's gets, getStrings, scans and puts ask the platform for a young collection every PACE_BYTES of what they hand out", async () => {
  let calls = 0;
  const counting = { ...platform, collectYoung: () => void calls++ };
  const db = await bindDatabaseApi(counting).open(tempDir(), { shards: 2, durability: "async" });
  try {
    const value = new Uint8Array(1000).fill(7);
    for (let i = 0; i < 200; i++) await db.put(keyOf(i), value);
    const perGet = 1000 + CALL_BYTES;
    const gets = Math.ceil((2 * PACE_BYTES) / perGet) + 10;
    for (let i = 0; i < gets; i++) db.get(keyOf(i % 200));
    assert.is(calls, 2, `${gets} gets of 1,000 bytes: 2 collections`);
    for (let i = 0; i < gets; i++) db.getString(keyOf(i % 200));
    assert.ok(calls >= 3, `getString counted (${calls})`);
    const before = calls;
    let rows = 0;
    while (calls === before && rows < 100_000) for (const _ of db.scan()) rows++;
    assert.ok(calls > before, "scan rows counted");
    assert.ok(rows <= PACE_BYTES / 1016 + 200, `a collection within ~8 MiB of rows (${rows})`);
    const beforePuts = calls;
    for (let i = 0; i < Math.ceil(PACE_BYTES / CALL_BYTES) + 1 && calls === beforePuts; i++) await db.put(keyOf(i % 200), value.subarray(0, 10));
    assert.ok(calls > beforePuts, "fast-path puts counted");
  } finally {
    await db.close();
  }
});

test("a handle's change feed asks for a young collection every PACE_BYTES of events it hands out", async () => {
  let calls = 0;
  const counting = { ...platform, collectYoung: () => void calls++ };
  const db = await bindDatabaseApi(counting).open(tempDir(), { shards: 2, durability: "async" });
  try {
    const feed = db.subscribe();
    const value = new Uint8Array(1000).fill(5);
    const perEvent = keyOf(0).length + value.length + CALL_BYTES;
    const events = Math.ceil((2 * PACE_BYTES) / perEvent) + 10;
    for (let i = 0; i < events; i++) await db.put(keyOf(i), value);
    const before = calls;
    let read = 0;
    for await (const event of feed) {
      assert.is(event.value?.length, 1000);
      if (++read === events) break;
    }
    assert.is(calls - before, 2, `${events} events of ${perEvent} bytes read: 2 collections`);
  } finally {
    await db.close();
  }
});

// The defect the pacer fixes, seen in Bun: with a database open, each 1,000-byte copy a get
// handed out landed on a page the process had not mapped (JavaScriptCore collected only
// after ~1 GiB of garbage). Counted in page faults, not timed, and only the faults of the
// thread doing the gets: a process-wide count (process.resourceUsage) also holds the actor
// mapping pages ahead of writers and the runtime's compiler and collector threads, which
// under CI load reached 0.168 a get in Deno, where its calling thread takes about 0.017.
const threadMinorFaults = (): number | undefined => {
  try {
    const stat = readFileSync("/proc/thread-self/stat", "utf8"); // Linux: proc(5), field 10 minflt
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[7]);
  } catch {
    return undefined; // not Linux: the runtime cannot count them per thread
  }
};

const PACER_WINDOWS = 3;

test("100,000 gets of 1 KiB values with the database open fault the calling thread under 0.1 pages per get, in the best of three windows (Bun before the pacer: 0.32)", async () => {
  if (threadMinorFaults() === undefined) return;
  const db = await open(tempDir(), { shards: 2, durability: "async" });
  try {
    const value = new Uint8Array(1000).fill(9);
    for (let i = 0; i < 200; i++) await db.put(keyOf(i), value);
    const gets = 100_000;
    // Warm-up, not counted: the runtime's young generation grows to its working size over
    // the first gets (fresh pages once). In CI, after the whole engine suite in one Deno
    // process, that growth alone took the measured gets to 0.117 faults a get (11,689), where
    // the file alone measures 0.002-0.018 with or without two busy cores beside it. The defect
    // this guards against faults on fresh pages all the time, so it shows after a warm-up too.
    // Three measured windows, and the best of them must pass: the defect faults on fresh
    // pages in every window, while the collector resizing its young generation once (CI,
    // Deno, 2026-12-05: 10,006 faults in one window of 100,000 gets after the whole suite;
    // 47-73 when the same files ran again) shows in one.
    for (let i = 0; i < gets; i++) db.get(keyOf(i % 200));
    const windows: number[] = [];
    for (let w = 0; w < PACER_WINDOWS; w++) {
      const before = threadMinorFaults()!;
      let bytes = 0;
      for (let i = 0; i < gets; i++) bytes += db.get(keyOf(i % 200))!.length;
      windows.push(threadMinorFaults()! - before);
      assert.is(bytes, gets * 1000);
    }
    const faults = Math.min(...windows);
    console.log(`  [pacer] page faults of the calling thread per window of ${gets} gets: ${windows.join(", ")} (best ${(faults / gets).toFixed(3)} a get)`);
    assert.ok(faults / gets < 0.1, `${faults} page faults in ${gets} gets (${(faults / gets).toFixed(3)} a get) in the best of ${PACER_WINDOWS} windows: ${windows.join(", ")}`);
  } finally {
    await db.close();
  }
});

test.run();
