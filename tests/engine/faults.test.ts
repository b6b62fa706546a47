// Fail-stop in the engine: a failed fdatasync of the group WAL (whichever path wrote the
// record: the channel path logs there too), or a failed table write during a flush puts the database in a failed
// state; the write it hit and every later write reject with WalFailedError carrying the
// OS error; nothing is retried; close still works; reopening recovers every write that
// was acknowledged. Faults are injected through the platform adapter of the thread doing
// the I/O (src/platform-faults.ts).
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { Database } from "../../src/engine/database.ts";
import type { DatabaseOptions } from "../../src/engine/options.ts";
import { WalFailedError } from "../../src/engine/public.ts";
import { rejects } from "../harness/assert.ts";
import { cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine faults");

/** Puts key i = value i with up to 16 in flight until `count`; returns what was acknowledged and the errors. */
async function putUntilFailure(db: Database, count: number, valueBytes = 50) {
  const acked = new Set<number>();
  const errors: unknown[] = [];
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    // The first few one at a time, so that some are acknowledged before the fault strikes.
    if (i < 8) {
      await db.put(`k${i}`, valueOf(i, valueBytes)).then(() => void acked.add(i), (e) => void errors.push(e));
      continue;
    }
    const p: Promise<void> = db.put(`k${i}`, valueOf(i, valueBytes)).then(() => void acked.add(i), (e) => void errors.push(e)).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 16) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  assert.is(acked.size + errors.length, count, "every put settled");
  return { acked, errors };
}

const valueOf = (i: number, bytes: number) => `v${i}-`.padEnd(bytes, "x");

async function checkFailStop(options: DatabaseOptions, count: number, valueBytes = 50) {
  const dir = tempDir();
  const db = await open(dir, options);
  const { acked, errors } = await putUntilFailure(db, count, valueBytes);
  assert.ok(errors.length > 0, "the fault made writes fail");
  for (const error of errors) {
    assert.ok(error instanceof WalFailedError, String(error));
    assert.is((error as WalFailedError).code, "SHARDLINE_WAL_FAILED");
    assert.is(((error as Error).cause as { code?: string } | undefined)?.code ?? "EIO", "EIO");
  }
  // Every later write is refused, on every path; nothing is retried.
  await rejects(() => db.put("later", "x"), WalFailedError);
  await rejects(() => db.delete("k0"), WalFailedError);
  await rejects(() => db.batch([{ type: "put", key: "later", value: "x" }]), WalFailedError);
  assert.is(db.stats().state, "failed");
  await db.close();
  // Reopened without faults, every acknowledged write is there.
  const again = await open(dir, { ...options, faults: undefined });
  for (const i of acked) assert.is(text(again.get(`k${i}`)), valueOf(i, valueBytes), `acknowledged k${i}`);
  await again.put("after", "reopen");
  assert.is(text(again.get("after")), "reopen");
  await again.close();
  return { acked: acked.size, failed: errors.length };
}

test("a failed fdatasync of the group WAL fails the database; acknowledged writes survive", async () => {
  const r = await checkFailStop({ shards: 2, faults: { groupLog: { failSyncAt: 6 } } }, 300);
  assert.ok(r.acked > 0, "some writes were acknowledged before the fault");
});

test("a failed write of the group WAL fails the database", async () => {
  await checkFailStop({ shards: 2, faults: { groupLog: { failWriteAt: 4 } } }, 300);
});

test("a failed fdatasync of the group WAL under channel-path writes (fastWrite: false) fails the database", async () => {
  const r = await checkFailStop({ shards: 2, fastWrite: false, faults: { groupLog: { failSyncAt: 8 } } }, 300);
  assert.ok(r.acked > 0);
});

test("a failed table write during a flush fails the database; the logs still hold every acknowledged write", async () => {
  // Fast path only: the actor's first writes are the flush's table writes.
  await checkFailStop({ shards: 1, memtableBytesMax: 64 * 1024, faults: { actor: { failWriteAt: 3 } } }, 3000, 200);
});

test("a flush that fails in the actor: later writes on the opener's handle say what failed there, not only its code", async () => {
  const db = await open(tempDir(), { shards: 1, memtableBytesMax: 64 * 1024, faults: { actor: { failWriteAt: 3, code: "EDIAG" } } });
  const failure = async (): Promise<Error | undefined> => {
    try {
      await db.put("probe", "v");
      return undefined;
    } catch (error) {
      return error as Error;
    }
  };
  try {
    await putUntilFailure(db, 3000, 200);
    let error = await failure();
    // The actor posts its message after it set the shared state FAILED: the opener hears it a turn later.
    for (let tries = 0; tries < 200 && !error?.message.includes("injected fault"); tries++) {
      await new Promise((r) => setTimeout(r, 5));
      error = await failure();
    }
    assert.instance(error, WalFailedError);
    assert.match(error!.message, /a writer thread failed \(EDIAG: \w*Error: writev? \S*tables\S*: injected fault\)/);
    assert.is((error!.cause as { code?: string }).code, "EDIAG");
  } finally {
    await db.close();
  }
});

test.after(cleanup);
test.run();
