/**
 * The check of the kill tests (tests/engine/kill.test.ts, tests/engine/shared-threads.test.ts)
 * after a SIGKILL of a child writing killValue(round, i) to key k<i % KILL_KEYS>.
 */
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/database.ts";
import { KILL_KEYS, killValue, parseKillValue } from "./fixtures/kill-shape.ts";
import { text } from "./helpers.ts";

/** [round, i] ordering: later rounds, then later puts within a round. */
export const after = (a: [number, number], b: [number, number]) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);

/** Every acknowledged key holds its last acknowledged value or a later one; that becomes the new baseline. */
export function checkAcknowledged(db: Database, what: string, lastAcked: Map<number, [number, number]>): void {
  for (const [key, acked] of lastAcked) {
    const value = text(db.get(`k${key}`));
    assert.ok(value !== undefined, `${what}: acknowledged key k${key} (put ${acked.join("/")}) is missing`);
    const found = parseKillValue(value!);
    assert.ok(found, `${what}: k${key} holds a value nobody wrote`);
    assert.is(found![1] % KILL_KEYS, key, `${what}: k${key} holds put ${found!.join("/")}, made for another key`);
    assert.ok(!after(acked, found!), `${what}: k${key} holds put ${found!.join("/")}, older than acknowledged put ${acked.join("/")}`);
    assert.is(value, killValue(found![0], found![1]));
    // What is there now is the baseline: a later round must not go back before it.
    lastAcked.set(key, found!);
  }
}
