/**
 * The check of the kill tests (tests/engine/kill.test.ts, tests/engine/shared-threads.test.ts)
 * after a SIGKILL of a child whose i-th operation of `round` is what its KillSchedule says
 * (fixtures/kill-shape.ts): puts of killValue(round, i), deletes, batches of three puts.
 */
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/database.ts";
import { type KillSchedule, killValue, parseKillValue, PUTS } from "./fixtures/kill-shape.ts";
import { text } from "./helpers.ts";

/** [round, i] ordering: later rounds, then later operations within a round. */
export const after = (a: [number, number], b: [number, number]) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

/** Notes "ack <i>" of `round`: every key the operation writes has it as its baseline if it is newer. */
export function noteAck(lastAcked: Map<number, [number, number]>, schedule: KillSchedule, round: number, i: number): void {
  for (const key of schedule.keys(i)) {
    const seen = lastAcked.get(key);
    if (!seen || after([round, i], seen)) lastAcked.set(key, [round, i]);
  }
}

/**
 * The first delete of `key` after `from` that the child may have issued: in `from`'s round
 * and the rounds after it up to `lastRound`, up to `issuedMax(round)` (deletes carry no
 * value, so only the schedule can say which one a missing key shows). Undefined: none.
 */
function deleteAfter(schedule: KillSchedule, key: number, from: [number, number], lastRound: number, issuedMax: (round: number) => number): [number, number] | undefined {
  for (let round = from[0]; round <= lastRound; round++) {
    for (let i = round === from[0] ? from[1] + 1 : 0; i <= issuedMax(round); i++) {
      if (schedule.kind(i) === "delete" && schedule.keys(i)[0] === key) return [round, i];
    }
  }
  return undefined;
}

/**
 * Every acknowledged key holds the outcome of its last acknowledged operation or of a later
 * one the child issued (an operation may be durable before its acknowledgement reaches the
 * child); that outcome becomes the key's new baseline, so a later round may not go back
 * before it (a deleted key coming back with an older value fails here). A batch seen on one
 * key is on all of its keys, or they hold something newer. `issuedMax(round)`: the highest
 * operation index the child of `round` may have issued (needed only for deletes); `lastRound`
 * the round just killed.
 */
export function checkAcknowledged(
  db: Database,
  what: string,
  lastAcked: Map<number, [number, number]>,
  schedule: KillSchedule = PUTS,
  lastRound = 0,
  issuedMax: (round: number) => number = () => -1,
): void {
  const stateOf = (key: number) => {
    const value = text(db.get(`k${key}`));
    if (value === undefined) return undefined;
    const found = parseKillValue(value);
    assert.ok(found, `${what}: k${key} holds a value nobody wrote`);
    assert.ok(schedule.keys(found![1]).includes(key) && schedule.kind(found![1]) !== "delete", `${what}: k${key} holds operation ${found!.join("/")}'s value, made for other keys`);
    assert.is(value, killValue(found![0], found![1]));
    return found!;
  };
  for (const [key, acked] of lastAcked) {
    const found = stateOf(key);
    if (found === undefined) {
      if (schedule.kind(acked[1]) === "delete") continue; // the acknowledged delete
      const deleted = deleteAfter(schedule, key, acked, lastRound, issuedMax);
      assert.ok(deleted, `${what}: acknowledged key k${key} (${schedule.kind(acked[1])} ${acked.join("/")}) is missing, and no later delete of it was issued`);
      lastAcked.set(key, deleted!);
      continue;
    }
    assert.ok(!after(acked, found), `${what}: k${key} holds operation ${found.join("/")}, older than acknowledged ${schedule.kind(acked[1])} ${acked.join("/")}`);
    if (schedule.kind(found[1]) === "batch") {
      for (const other of schedule.keys(found[1])) {
        if (other === key) continue;
        const there = stateOf(other);
        const newer = there === undefined ? deleteAfter(schedule, other, found, lastRound, issuedMax) !== undefined : !after(found, there);
        assert.ok(newer, `${what}: batch ${found.join("/")} is on k${key} but k${other} holds ${there === undefined ? "nothing" : `older operation ${there.join("/")}`}`);
      }
    }
    // What is there now is the baseline: a later round must not go back before it.
    lastAcked.set(key, found);
  }
}
