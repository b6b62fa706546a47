// The multi-threaded model test's own checks (tests/engine/fixtures/model-thread.ts), run
// against a deliberately wrong engine: a wrapper around a real Database that misbehaves in
// one way. Each must be caught. A review of the model and crash tests (2026-12-07) found
// three that passed every check: change feeds that delivered nothing, feeds that lost their
// newest events (only order and contents were checked, not completeness), and snapshots
// that showed other threads' keys older than this thread had already seen (checked against
// any prefix of their program, not from what it had seen when it took the snapshot). Plain
// foreign scans were already checked that way (the last test).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import type { Database, Snapshot } from "../../src/engine/public.ts";
import type { ChangeEvent } from "../../src/engine/change-feed.ts";
import { valueBytesMaxFor } from "../../src/engine/options.ts";
import { chooseKeys, type ModelConfig, runThread } from "./fixtures/model-thread.ts";
import { cleanup, enc, open, tempDir } from "./helpers.ts";

const test = suite("engine model: its checks catch a wrong engine");
test.after.each(cleanup);

const MEMTABLE = 64 * 1024;
/** A Database whose methods are the real ones, except those in `over`. */
function wrap(db: Database, over: Partial<Record<keyof Database, unknown>>): Database {
  return new Proxy(db, {
    get(target, name) {
      if (name in over) return (over as Record<string | symbol, unknown>)[name];
      const v = Reflect.get(target, name, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

/**
 * Two threads of tests/engine/fixtures/model-thread.ts on one handle (both on this thread:
 * runThread only needs a Database), thread 0 seeing `db0`: the checks of the multi-threaded
 * model, unchanged.
 */
async function twoThreads(dir: string, make0: (db: Database) => Database, seed = 1010): Promise<void> {
  const db = await open(dir, { shards: 4, memtableBytesMax: MEMTABLE, durability: "async" });
  try {
    const shared = db.share();
    const core = await Core.attach(shared.module, shared.memory);
    const keys = chooseKeys(2, (key) => core.shardOf(enc.encode(key)));
    core.detach();
    const cfg: ModelConfig = { seed, threads: 2, opsPerPhase: 320, valueBytesMax: valueBytesMaxFor(MEMTABLE), keys, feeds: true, feedCatchUpMs: 500 };
    const barrier = new SharedArrayBuffer(4);
    await Promise.all([
      runThread(make0(db), { cfg, thread: 0, phase: 0, model: [], barrier }),
      runThread(db, { cfg, thread: 1, phase: 0, model: [], barrier }),
    ]);
  } finally {
    await db.close();
  }
}

/** Runs the two threads with thread 0's database made by `make0`, and asserts that a check failed with a message matching `caught`. */
async function caughtBy(make0: (db: Database) => Database, caught: RegExp, what: string): Promise<void> {
  let error: unknown;
  try {
    await twoThreads(tempDir(), make0);
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof Error && caught.test(error.message), `${what}: ${error instanceof Error ? error.message.slice(0, 400) : "passed every check"}`);
}

/** A feed that delivers what `real` delivers, less the newest `tail` events (held back, then dropped at the end). */
function withoutTail(real: AsyncIterableIterator<ChangeEvent>, tail: number): AsyncIterableIterator<ChangeEvent> {
  const held: ChangeEvent[] = [];
  let ended = false;
  return {
    async next() {
      while (!ended && held.length <= tail) {
        const r = await real.next();
        if (r.done) {
          ended = true;
          break;
        }
        held.push(r.value);
      }
      if (held.length > tail) return { done: false, value: held.shift()! };
      return { done: true, value: undefined };
    },
    async return() {
      ended = true;
      await real.return?.();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

test("change feeds that deliver no event at all are caught (the writes acknowledged while a feed was open never came)", async () => {
  const empty = (): AsyncIterableIterator<ChangeEvent> => ({
    next: async () => ({ done: true, value: undefined }),
    return: async () => ({ done: true, value: undefined }),
    [Symbol.asyncIterator]() {
      return this;
    },
  });
  await caughtBy((db) => wrap(db, { subscribe: empty }), /acknowledged while it was open never came/, "feeds that deliver nothing");
});

test("change feeds that lose their newest 3 events are caught", async () => {
  await caughtBy((db) => wrap(db, { subscribe: (options: object) => withoutTail(db.subscribe(options as never), 3) }), /acknowledged while it was open never came/, "feeds without their tail");
});

test("a snapshot that shows another thread's keys as they were at the start of the phase (older than this thread had seen) is caught", async () => {
  let stale: Snapshot | undefined;
  try {
    await caughtBy((db) => {
      stale = db.snapshot();
      return wrap(db, {
        scan: (options: { prefix?: string; snapshot?: Snapshot } = {}) => (options.snapshot && options.prefix === "t1/" ? db.scan({ ...options, snapshot: stale }) : db.scan(options as never)),
      });
    }, /older than a value this thread saw before it took the snapshot|no prefix of its program from step/, "stale snapshot scans");
  } finally {
    stale?.release();
  }
});

test("a plain scan of another thread's keys answered as of the phase's start is caught", async () => {
  let stale: Snapshot | undefined;
  try {
    await caughtBy((db) => {
      stale = db.snapshot();
      return wrap(db, {
        scan: (options: { prefix?: string; snapshot?: Snapshot } = {}) => (!options.snapshot && options.prefix === "t1/" ? db.scan({ ...options, snapshot: stale }) : db.scan(options as never)),
      });
    }, /older than|no prefix of its program/, "stale foreign scans");
  } finally {
    stale?.release();
  }
});

// `has` with string keys was in no model test until 2026-12-07: one that says an absent key
// (deleted or never written) is there, as a has that found a tombstone's key and not its
// kind would, is caught.
test("a has that answers true for absent keys is caught", async () => {
  await caughtBy((db) => wrap(db, { has: (key: string, options?: { snapshot?: Snapshot }) => db.has(key, options) || db.get(key, options) === undefined }), /has .*: true, the model says false/, "has true for absent keys");
});

test.run();
