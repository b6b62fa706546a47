// Power loss (tests/harness/power-loss-platform.ts) while large atomic batches are written
// (docs/ENGINE.md: fragment records, then a commit record; replay applies a batch only with
// its commit). The wrapper is installed in every thread, so the fragments and commits the
// durability worker writes, the tables the actor flushes the batches' private memtables
// to, the MANIFEST and the directories are all subject to it, and each round's recovery
// (replay of the batches, with flushes: 1 MiB memtables) runs under it too.
//
// Rounds on one database. Batch b (durability "full", one at a time) puts every key L<j>
// (j < SHARED) to "b<b>:<j>:..." and every key n<b>-<j> (j < OWN), and deletes every key
// n<b-1>-<j>: 1,400 operations over both shards, about 2.6 MB, so more than one fragment
// record. So the database holds exactly one batch's state, B: every L<j> is B's, n<B>-*
// are all there, n<B-1>-* and n<B+1>-* none.
// A batch is all or nothing: B must be one batch (or none, before the first), at least
// the last acknowledged, at most the last issued (the one in flight at the crash, if it
// reached its commit's durability without its acknowledgement reaching us). Small puts
// made through a second handle while a batch is in flight (on the fast path: their records
// interleave with its fragments) survive once acknowledged. Unsynced data is dropped, kept as a prefix with a torn page, or kept
// page by page, by round; every other round a prefix of the unfsynced directory
// operations survives too. The power fails at a seeded mutating operation; a final open
// through the real platform checks again.
//
// SHARDLINE_POWER_LOSS_LARGE_BATCH_ROUNDS sets the rounds (default 3), SHARDLINE_POWER_LOSS_SEED the seed.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import process from "node:process";
import type { BatchOperation, Database } from "../../src/engine/database.ts";
import type { DatabaseOptions } from "../../src/engine/options.ts";
import { bindDatabaseApi } from "../../src/engine/public.ts";
import { bounded, type PowerLossPlatform, type UnsyncedFate, withPowerLoss } from "../harness/power-loss-platform.ts";
import { seededRandom } from "../harness/seeded-random.ts";
import { cleanup, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine power loss, large batches");
const ROUNDS = Number(process.env.SHARDLINE_POWER_LOSS_LARGE_BATCH_ROUNDS ?? 3);
const SEED = Number(process.env.SHARDLINE_POWER_LOSS_SEED ?? 20261203);
const FATES: UnsyncedFate[] = ["drop", "prefix", "pages"];

const OPTIONS: DatabaseOptions = {
  shards: 2,
  durability: "full",
  memtableBytesMax: 1024 * 1024,
  walSegmentBytesMax: 2 * 1024 * 1024,
  walBufferBytes: 4 * 1024 * 1024,
  coordination: "single-process-unsafe",
};
/** Keys every batch overwrites, and keys each batch adds (and the next deletes). */
const SHARED = 600;
const OWN = 400;
/** Batches per round at most (the power usually fails first). */
const BATCHES_PER_ROUND = 40;
/** Small puts made (one per turn of the event loop) while each batch is in flight, at most. */
const SMALL_PER_BATCH = 16;
/** The power fails at a seeded mutating operation up to this (a new database opens in about 20, a recovery in 6 to a few hundred, by what it replays; a batch takes about 40, with its flushes). */
const CRASH_AT_MAX = 200;

test.after.each(cleanup);

/** About 4 KB each: a batch is about 2.6 MB, more than one fragment record (about 2 MiB with 2 MiB segments). */
const sharedValue = (b: number, j: number) => `b${b}:${j}:${"s".repeat(3900 + ((j * 37) % 200))}`;
const ownKey = (b: number, j: number) => `n${b}-${j}`;
const ownValue = (b: number, j: number) => `b${b}:${j}`;

function batchOps(b: number): Parameters<Database["batch"]>[0] {
  const ops: BatchOperation[] = [];
  for (let j = 0; j < SHARED; j++) ops.push({ type: "put", key: `L${j}`, value: sharedValue(b, j) });
  for (let j = 0; j < OWN; j++) ops.push({ type: "put", key: ownKey(b, j), value: ownValue(b, j) });
  for (let j = 0; j < OWN; j++) ops.push({ type: "delete", key: ownKey(b - 1, j) });
  return ops;
}

function count(db: Database, prefix: string): number {
  let n = 0;
  for (const _ of db.scan({ prefix })) n++;
  return n;
}

interface History {
  /** Batches issued (0..issued-1) and the highest acknowledged (-1: none). */
  issued: number;
  acked: number;
  /** Small puts: key -> acknowledged. */
  small: Map<string, boolean>;
}

/** The batch the database holds (-1: none), after checking that it holds exactly that batch's state. */
function checkBatches(db: Database, history: History, when: string): number {
  const first = text(db.get("L0"));
  const held = first === undefined ? -1 : Number(/^b(\d+):/.exec(first)![1]);
  assert.ok(held >= history.acked, `${when}: batch ${held} is there, but ${history.acked} was acknowledged`);
  assert.ok(held < history.issued || held === -1, `${when}: batch ${held} is there, but only ${history.issued} were issued`);
  for (let j = 0; j < SHARED; j++) {
    const value = text(db.get(`L${j}`));
    assert.is(value, held < 0 ? undefined : sharedValue(held, j), `${when}: L${j} is not batch ${held}'s`);
  }
  assert.is(count(db, "L"), held < 0 ? 0 : SHARED, `${when}: the shared keys`);
  if (held >= 0) {
    assert.is(count(db, `n${held}-`), OWN, `${when}: batch ${held}'s own keys`);
    for (const j of [0, OWN - 1]) assert.is(text(db.get(ownKey(held, j))), ownValue(held, j), `${when}: ${ownKey(held, j)}`);
  }
  assert.is(count(db, `n${held - 1}-`), 0, `${when}: batch ${held - 1}'s keys, deleted by batch ${held}`);
  assert.is(count(db, `n${held + 1}-`), 0, `${when}: batch ${held + 1}'s keys`);
  return held;
}

function checkSmall(db: Database, history: History, when: string): void {
  for (const [key, acked] of history.small) {
    if (acked) assert.is(text(db.get(key)), key, `${when}: acknowledged small put ${key} lost`);
    else assert.ok([undefined, key].includes(text(db.get(key))), `${when}: ${key}`);
  }
}

/**
 * Writes batches one at a time through `db`, with small puts through `side` while each is
 * in flight, until the platform crashes; returns the batch in flight then, if any.
 */
async function writeUntilCrash(db: Database, side: Database, p: PowerLossPlatform, history: History, round: number): Promise<{ inFlight: number | undefined; pending: Promise<unknown>[] }> {
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < BATCHES_PER_ROUND && !p.crashed; i++) {
    const b = history.issued++;
    let settled = false;
    const batch = db.batch(batchOps(b)).then(
      () => {
        history.acked = Math.max(history.acked, b);
        return true;
      },
      () => false,
    ).finally(() => (settled = true));
    const smalls: Promise<unknown>[] = [];
    for (let s = 0; s < SMALL_PER_BATCH && !settled && !p.crashed; s++) {
      const key = `s${round}-${b}-${s}`;
      history.small.set(key, false);
      smalls.push(side.put(key, key).then(() => void history.small.set(key, true), () => {}));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    pending.push(...smalls);
    if (!(await batch)) return { inFlight: p.crashed ? b : undefined, pending };
  }
  return { inFlight: undefined, pending };
}

test(`${ROUNDS} power losses while large batches are written (durability "full"): acknowledged batches survive, the one in flight is all or nothing`, async () => {
  const root = tempDir();
  const dir = `${root}/db`; // created by the first open: its entry in root must be made durable too
  const random = seededRandom(SEED);
  const history: History = { issued: 0, acked: -1, small: new Map() };
  const outcomes: string[] = [];
  /** The batch in flight at the last crash, until a recovery says what became of it. */
  let inFlight: number | undefined;
  const settle = (held: number) => {
    if (inFlight !== undefined) outcomes.push(`batch ${inFlight} in flight: ${held === inFlight ? "all" : "none"}`);
    inFlight = undefined;
  };
  let recovered = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const fate = FATES[round % FATES.length];
    const crashAt = 1 + Math.floor(random() * CRASH_AT_MAX);
    const entries = round % 2 === 1 ? "ordered" : "fsynced";
    const when = `round ${round} (${fate}, ${entries}, crash at operation ${crashAt})`;
    const p = withPowerLoss(platform, root, { seed: SEED + round, unsynced: fate, entries, crashAtOperation: crashAt });
    let db: Database | undefined;
    let side: Database | undefined;
    let pending: Promise<unknown>[] = [];
    try {
      db = await bindDatabaseApi(p).open(dir, OPTIONS);
      settle(checkBatches(db, history, `${when}, after recovery`));
      checkSmall(db, history, `${when}, after recovery`);
      recovered++;
      side = await bindDatabaseApi(p).attach(db.share());
      const written = await writeUntilCrash(db, side, p, history, round);
      inFlight = written.inFlight;
      pending = written.pending;
    } catch (error) {
      if (!p.crashed) throw error;
    }
    p.crash();
    await bounded(Promise.allSettled(pending));
    if (side) await bounded(side.close());
    if (db) await bounded(db.close());
  }
  const db = await open(dir, OPTIONS);
  settle(checkBatches(db, history, "final recovery, through the real platform"));
  checkSmall(db, history, "final recovery, through the real platform");
  await db.close();
  console.log(
    `  [power loss, large batches] ${ROUNDS} rounds, ${recovered} recovered under the wrapper, ${history.issued} batches issued, ${history.acked + 1} acknowledged, ` +
      `${[...history.small.values()].filter(Boolean).length} small puts acknowledged; ${outcomes.join("; ") || "no batch in flight at a crash"}`,
  );
  assert.ok(history.acked >= 0, "some batch was acknowledged");
});

test.run();
