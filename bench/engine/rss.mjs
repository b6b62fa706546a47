// bench/engine/rss.mjs: the resident memory of databases opened and closed in one process,
// run by bench/engine/main.ts in a process of its own (nothing else allocated in it), with
// the runtime's package entry (what `import "shardline"` loads: dist/node/mod.js in Node,
// runtimes/bun/mod.ts in Bun, dist/deno/mod.js in Deno) and a forced full garbage
// collection of the main thread before every reading (node --expose-gc,
// deno --v8-flags=--expose-gc, Bun.gc(true)); RSS is process.memoryUsage().rss.
//
// Plain JavaScript, not TypeScript: Node runs it without the TypeScript loader, which its
// worker threads would inherit (each would start the loader, and weigh more than a user's).
//
// Readings, in this order (each after a pause, 1.5 s after closes, past the pool's 1 s
// COLLECT_IDLE_MS, else 250 ms, and two collections of the main thread; `unforced` has the
// RSS at the same moments before those collections: what a process that never forces one
// sees, the opener's collector left to itself):
//   start     the entry imported, nothing opened;
//   first     one database opened and closed (its two threads stay idle in the pool);
//   firstRetired  after `retireWaitMs` idle, past the pool's idleWorkerMsMax (5 s): the
//             two threads have retired; what is left over start is the first open's
//             one-time cost (code loaded and compiled, the core's module) and what the
//             runtime keeps of two ended threads;
//   cycles    after `cycles` open/close cycles of one directory (default 100), on two
//             threads started by the first of them and reused by the others;
//   cyclesRetired  after `retireWaitMs` idle again: those two threads have retired; what is
//             left over firstRetired is what the cycles themselves left;
//   open1     one database open (it took those two threads);
//   open10    ten databases open at once, each in its own directory;
//   closed10  the ten closed and dropped (their twenty threads idle in the pool);
//   retired   after `retireWaitMs` idle again: every pooled thread has retired.
// Per database held open: (open10 - open1) / 9; per cycle: (cycles - first) / cycles.
// Reported, never asserted.
//
// usage: <runtime> bench/engine/rss.mjs <entry module> <scratch dir> [cycles] [retireWaitMs]
// (retireWaitMs 0: no firstRetired, cyclesRetired and retired readings, and no pauses
// before the readings either, for --quick, whose figures only show that the run works)
// Prints `SHARDLINE-RSS {json}`: { gc, readings: { start: bytes, ... }, unforced: { ... },
// threads: { start: the process's thread count (Linux), ... }, cycles, cycleMs,
// retireWaitMs, seconds }, cycleMs being the mean time of one open+close.
import { readFileSync } from "node:fs";
import process from "node:process";

const argv = "Deno" in globalThis ? globalThis.Deno.args : process.argv.slice(2);
const [entry, root, cyclesArg, retireArg] = argv;
if (!entry || !root) {
  console.error("usage: <runtime> bench/engine/rss.mjs <entry module> <scratch dir> [cycles] [retireWaitMs]");
  process.exit(2);
}
const cycles = Number(cyclesArg ?? 100);
const retireWaitMs = Number(retireArg ?? 7_000);

/** A full collection of this thread's heap, where the flags allow one. */
const gc = typeof globalThis.gc === "function" ? () => globalThis.gc() : globalThis.Bun ? () => globalThis.Bun.gc(true) : undefined;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** The pause before a reading that follows closes: past the pool's COLLECT_IDLE_MS (1 s). */
const AFTER_CLOSE_MS = retireWaitMs > 0 ? 1_500 : 0;

/** Threads of this process (Linux), or undefined. */
function threadCount() {
  try {
    return Number(/^Threads:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
  } catch {
    return undefined;
  }
}

const readings = {};
const unforced = {};
const threads = {};
async function reading(name, pauseMs = retireWaitMs > 0 ? 250 : 0) {
  await sleep(pauseMs);
  unforced[name] = process.memoryUsage().rss;
  gc?.();
  await sleep(0); // a second collection, in a later task, finishes what the first left to sweep
  gc?.();
  readings[name] = process.memoryUsage().rss;
  threads[name] = threadCount();
}

const started = performance.now();
const { open } = await import(entry);
await reading("start");

await (await open(`${root}/first`)).close();
await reading("first", AFTER_CLOSE_MS);
if (retireWaitMs > 0) {
  await sleep(retireWaitMs);
  await reading("firstRetired");
}

const t = performance.now();
for (let i = 0; i < cycles; i++) await (await open(`${root}/cycles`)).close();
const cycleMs = (performance.now() - t) / cycles;
await reading("cycles", AFTER_CLOSE_MS);
if (retireWaitMs > 0) {
  await sleep(retireWaitMs);
  await reading("cyclesRetired");
}

const dbs = [await open(`${root}/db-0`)];
await reading("open1");
for (let i = 1; i < 10; i++) dbs.push(await open(`${root}/db-${i}`));
await reading("open10");
for (const db of dbs.splice(0)) await db.close();
await reading("closed10", AFTER_CLOSE_MS);

if (retireWaitMs > 0) {
  await sleep(retireWaitMs);
  await reading("retired");
}

console.log(`SHARDLINE-RSS ${JSON.stringify({ gc: gc !== undefined, readings, unforced, threads, cycles, cycleMs, retireWaitMs, seconds: (performance.now() - started) / 1000 })}`);
process.exit(0);
