// The actor maps the pages writers are about to fill (src/engine/pages-ahead.ts): the active
// memtables' arenas ahead of their cursors and the group WAL ring ahead of its head, only once
// a cursor moved, a bounded number a step, never outside an arena or the ring, changing no
// byte. (Its effect, page faults moved from the writer to the actor, is measured, not
// tested: the writer's own heap faults as often, run to run; docs/PERFORMANCE.md.)
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Core } from "../../src/core/core.ts";
import type { RingView } from "../../src/wal/ring.ts";
import { ACTIVE_POLL_MS, MEMTABLE_WINDOW_BYTES, PAGE_BYTES, PagesAhead, QUIET_STEPS_MAX, RING_WINDOW_BYTES, STEP_PAGES_MAX } from "../../src/engine/pages-ahead.ts";

const test = suite("engine pages ahead");

const CAPACITY = 4 << 20;
function fakes(shards: number) {
  const active = Array.from({ length: shards }, (_, i) => (i + 1) * 64 * 1024 * 1024);
  const used = new Array(shards).fill(4096 + 64);
  const ring = { reserveHead: 0, capacity: 1 << 23, data: 1024 * 1024 * 1024 + 256 };
  const core = { exports: { shardActiveMemtable: (s: number) => active[s], shardMemtableBytesUsed: (s: number) => used[s], shardMemtableCapacity: () => CAPACITY } };
  const touched: number[] = [];
  const pages = new PagesAhead(core as unknown as Core, shards, ring as unknown as RingView, undefined, (a) => void touched.push(a));
  return { active, used, ring, touched, pages };
}
const stepAll = (pages: PagesAhead, max = 10_000) => {
  let n = 0;
  while (pages.step() && n < max) n++;
  return n;
};

test("nothing is touched while nobody writes; the actor polls often after open, then sleeps its idle time", () => {
  const { touched, pages } = fakes(4);
  assert.is(pages.pollMs(20), ACTIVE_POLL_MS);
  for (let i = 0; i < QUIET_STEPS_MAX + 10; i++) assert.is(pages.step(), false);
  assert.equal(touched, []);
  assert.is(pages.pollMs(20), 20);
});

test("a memtable cursor that moved: its arena up to the window is touched, a page at a time, at most STEP_PAGES_MAX a step, never past the arena", () => {
  const { active, used, touched, pages } = fakes(2);
  pages.step();
  used[1] += 100_000;
  assert.is(pages.step(), true);
  assert.is(touched.length, STEP_PAGES_MAX);
  assert.is(pages.pollMs(20), ACTIVE_POLL_MS, "writers at work: short polls");
  stepAll(pages);
  // From the arena's start (its key index is mapped as it is reached, not at its format) to the window's end.
  const expected = Math.ceil((used[1] + MEMTABLE_WINDOW_BYTES) / PAGE_BYTES);
  assert.is(touched.length, expected);
  for (const a of touched) {
    assert.is(a % PAGE_BYTES, 0);
    assert.ok(a >= active[1] && a < active[1] + used[1] + MEMTABLE_WINDOW_BYTES, "within shard 1's arena, up to the window's end");
  }
  assert.is(new Set(touched).size, touched.length, "each page once");
  // Near the end of the arena: not past its capacity.
  touched.length = 0;
  used[1] = CAPACITY - 3 * PAGE_BYTES - 10;
  stepAll(pages);
  assert.ok(touched.length > 0 && touched.every((a) => a < active[1] + CAPACITY), "within the arena");
});

test("a memtable installed by a freeze is touched from its cursor at once; the ring from its head, until one lap is mapped", () => {
  const { active, used, ring, touched, pages } = fakes(1);
  pages.step();
  active[0] += 8 * 1024 * 1024;
  used[0] = 4096 + 64;
  assert.is(pages.step(), true);
  assert.ok(touched.every((a) => a >= active[0] && a < active[0] + MEMTABLE_WINDOW_BYTES + PAGE_BYTES));
  stepAll(pages);
  touched.length = 0;
  // The ring: touched ahead of the head, wrapping inside the ring's data, at most one lap in all.
  let lapPages = 0;
  for (let round = 0; round < 10; round++) {
    ring.reserveHead += 3 << 20;
    stepAll(pages);
    for (const a of touched) assert.ok(a >= ring.data - 256 && a < ring.data + ring.capacity, "inside the ring");
    lapPages += touched.length;
    touched.length = 0;
  }
  // Head at 3, 6, 9, ... MiB: [3, 7) MiB, then [7, 8) MiB, the end of the first lap (the pages
  // the writers passed before a step were theirs to map); nothing after.
  assert.ok(lapPages >= (5 << 20) / PAGE_BYTES && lapPages <= (5 << 20) / PAGE_BYTES + 2, `up to the end of one lap, no further (${lapPages} pages)`);
  assert.ok(lapPages <= ring.capacity / PAGE_BYTES);
  assert.ok(RING_WINDOW_BYTES > 0);
});

test("a touch changes no byte: the default touch (an atomic add of 0) over memory full of data leaves it as it was", () => {
  const memory = new SharedArrayBuffer(64 * PAGE_BYTES);
  const bytes = new Uint8Array(memory);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
  const copy = bytes.slice();
  const active = [8 * PAGE_BYTES];
  const used = [8 * PAGE_BYTES + 100];
  const core = { i32: new Int32Array(memory), exports: { shardActiveMemtable: () => active[0], shardMemtableBytesUsed: () => used[0], shardMemtableCapacity: () => 40 * PAGE_BYTES } };
  const ring = { reserveHead: 0, capacity: 8 * PAGE_BYTES, data: 52 * PAGE_BYTES + 256 };
  const pages = new PagesAhead(core as unknown as Core, 1, ring as unknown as RingView);
  pages.step();
  used[0] += 1000;
  ring.reserveHead += 1000;
  stepAll(pages);
  assert.equal(bytes, copy);
});

test.run();
