// Power loss (tests/harness/power-loss-platform.ts: the disk keeps only what was
// fdatasynced) while the actor's flushes are slow (its fdatasyncs sleep 30 ms): writers
// fill the active memtable within a flush and wait for the actor on the channel, which
// freezes, flushes, trims the log below the new checkpoint and rewrites the MANIFEST
// while the power goes at a chosen flush count (p.crash() from the writing thread, with
// writes and a durability barrier in flight). Both paths: the fast path, and the channel
// path (fastWrite: false), where every write waits behind the flush.
//
// Writes are acknowledged under durability "async", and every FLUSH_EVERY puts a
// `db.flush()` (not awaited by the loop) makes what was acknowledged before it durable.
// Each key is written once (a put of a 1 KB value), and every DELETE_EVERY-th key is
// deleted once its put was acknowledged; nothing else touches a key. After the crash,
// through the real platform: a put made durable whose key was never deleted holds its
// value, a delete made durable keeps its key absent, any other operation may or may not
// be there, and no key that was never written appears. No write may be refused before
// the crash.
//
// (The shared memory does not fill here: the actor's flush holds the channel, so at most
// one memtable waits for it. A memory full of frozen memtables is memory-full-frozen's.)
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/database.ts";
import type { DatabaseOptions } from "../../src/engine/options.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { bounded, type PowerLossPlatform, withPowerLoss } from "../harness/power-loss-platform.ts";
import { cleanup, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine power loss during slow flushes");
test.after.each(cleanup);

const PUTS = 1_200; // 1.2 MB of values: ~25 memtables of 64 KiB
const IN_FLIGHT = 16;
/** Puts between two `db.flush()` calls. */
const FLUSH_EVERY = 50;
/** Every DELETE_EVERY-th put is followed, once acknowledged, by a delete of its key. */
const DELETE_EVERY = 7;
const key = (i: number) => `k${String(i).padStart(6, "0")}`;
const value = (i: number) => `${i}:`.padEnd(1000, "v");

/** What was issued per key: its put, and a delete of it if one was issued. */
interface KeyState {
  putAcked: boolean;
  deleteIssued: boolean;
  deleteAcked: boolean;
  /** Acknowledged before a `db.flush()` that resolved: durable. */
  putDurable: boolean;
  deleteDurable: boolean;
}

function optionsFor(fastWrite: boolean): DatabaseOptions {
  return {
    shards: 1,
    durability: "async",
    // The log is synced every 100 ms or so (a flush() resolves after the next sync): many
    // writes are acknowledged and not yet durable at any time, so a barrier that resolved
    // before its sync would be caught.
    walBatchIntervalUs: 100_000,
    fastWrite,
    memtableBytesMax: 64 * 1024,
    coordination: "single-process-unsafe",
    faults: { actor: { syncDelayMs: 30 } },
  };
}

/**
 * Puts PUTS keys with IN_FLIGHT in flight, deleting some once their put is acknowledged,
 * and cuts the power (p.crash(), from this thread, with writes in flight) as soon as the
 * first `db.flush()` barrier issued after the actor made `crashAfterFlushes` memtable
 * flushes resolves: at the edge of what the barrier made durable (a barrier that resolved
 * before its sync would lose puts it called durable). Returns the writes still in flight,
 * the first refusal seen, if any, and the most frozen memtables seen waiting for their flush.
 */
async function writeUntilCrash(db: Database, p: PowerLossPlatform, keys: KeyState[], crashAfterFlushes: number): Promise<{ inFlight: Set<Promise<void>>; refused: unknown; frozenMax: number }> {
  const inFlight = new Set<Promise<void>>();
  let refused: unknown;
  let frozenMax = 0;
  let armed = false;
  const track = (write: Promise<unknown>, acked: () => void) => {
    const done: Promise<void> = write
      .then(acked, (error: unknown) => {
        if (!p.crashed && refused === undefined) refused = error;
      })
      .finally(() => inFlight.delete(done));
    inFlight.add(done);
  };
  for (let i = 0; i < PUTS && refused === undefined && !p.crashed; i++) {
    const stats = db.stats();
    frozenMax = Math.max(frozenMax, stats.shards[0].frozenMemtables);
    armed ||= stats.flushes >= crashAfterFlushes;
    if (i > 0 && i % FLUSH_EVERY === 0) {
      const crashAfter = armed;
      const flushing: Promise<void> = flushAcknowledged(db, p, keys)
        .then(() => void (crashAfter && !p.crashed && p.crash()))
        .finally(() => inFlight.delete(flushing));
      inFlight.add(flushing); // not awaited: the puts go on meanwhile
    }
    const state: KeyState = { putAcked: false, deleteIssued: false, deleteAcked: false, putDurable: false, deleteDurable: false };
    keys.push(state);
    track(db.put(key(i), value(i)), () => {
      state.putAcked = true;
      if (i % DELETE_EVERY !== 0 || p.crashed) return;
      state.deleteIssued = true;
      track(db.delete(key(i)), () => void (state.deleteAcked = true));
    });
    while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
  return { inFlight, refused, frozenMax };
}

/** `db.flush()`; once it resolves, what was acknowledged before it is durable. */
async function flushAcknowledged(db: Database, p: PowerLossPlatform, keys: KeyState[]): Promise<void> {
  const putsAcked = keys.filter((k) => k.putAcked);
  const deletesAcked = keys.filter((k) => k.deleteAcked);
  const flushed = await db.flush().then(() => true, () => false);
  if (!flushed || p.crashed) return;
  for (const k of putsAcked) k.putDurable = true;
  for (const k of deletesAcked) k.deleteDurable = true;
}

function checkKeys(db: Database, keys: KeyState[], when: string): { present: number; deleted: number } {
  let present = 0;
  let deleted = 0;
  for (let i = 0; i < keys.length; i++) {
    const got = text(db.get(key(i)));
    const state = keys[i];
    if (got !== undefined) present++;
    if (got !== undefined && got !== value(i)) assert.unreachable(`${when}: ${key(i)} holds a value never written to it`);
    if (got === undefined && state.deleteAcked) deleted++;
    if (state.deleteDurable && got !== undefined) assert.unreachable(`${when}: ${key(i)}'s durable delete was lost (the key came back)`);
    if (state.putDurable && !state.deleteIssued && got === undefined) assert.unreachable(`${when}: ${key(i)}'s durable put was lost`);
  }
  for (let i = keys.length; i < keys.length + 50; i++) assert.is(db.get(key(i)), undefined, `${when}: ${key(i)} was never written`);
  return { present, deleted };
}

for (const fastWrite of [true, false]) {
  test(`power loss while writes wait for slow flushes: durable puts and deletes survive, nothing else appears, nothing refused (fastWrite ${fastWrite})`, async () => {
    const options = optionsFor(fastWrite);
    for (const [n, crashAfterFlushes] of [3, 10].entries()) {
      const root = tempDir();
      const p = withPowerLoss(platform, root, { seed: 20261205 + n, unsynced: (["drop", "prefix", "pages"] as const)[(n + (fastWrite ? 0 : 1)) % 3] });
      const keys: KeyState[] = [];
      const db = await bindDatabaseApi(p).open(`${root}/db`, options);
      const { inFlight, refused, frozenMax } = await writeUntilCrash(db, p, keys, crashAfterFlushes);
      if (!p.crashed) p.crash();
      await bounded(db.close());
      await bounded(Promise.allSettled(inFlight));
      if (refused !== undefined) assert.unreachable(`a write was refused before the crash: ${refused}`);
      const reopened = await open(`${root}/db`, options);
      try {
        const when = `crash after ${crashAfterFlushes} flushes (fastWrite ${fastWrite})`;
        const { present, deleted } = checkKeys(reopened, keys, when);
        const durable = keys.filter((k) => k.putDurable).length;
        console.log(`  [power loss, slow flushes] ${when}: ${keys.length} puts issued, ${durable} durable, up to ${frozenMax} frozen memtables waiting; after: ${present} present, ${deleted} deletes kept`);
        assert.ok(durable > 50, `${durable} puts made durable before the crash`);
      } finally {
        await reopened.close();
      }
    }
  });
}

test.run();
