// Model-based: random sequences of put / delete / batch / get / scan / snapshot reads /
// flush / reopen, checked against a Map after every read. Memtables are 64 KiB, so bulk
// writes force memtable freezes, flushes to tables and compactions while the model runs;
// a separate test waits until compactions have happened and checks everything again.
// A live read-only handle (docs/ENGINE.md "Live readers") runs beside the writer through
// all of it, the writer's reopens included: after its refresh it must equal the model (every
// write was awaited under durability "full", so all of it is durable), and its snapshots
// must keep the state they were taken at across later refreshes.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import fc from "fast-check";
import type { Database, Snapshot } from "../../src/engine/public.ts";
import { cleanup, dec, eventually, open, tempDir } from "./helpers.ts";

const test = suite("engine model");
const OPTIONS = { shards: 2, memtableBytesMax: 64 * 1024 };

type Model = Map<string, string>;

const keyArb = fc.stringMatching(/^k[a-d]{0,2}$/);
const valueArb = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ minLength: 200, maxLength: 900 }));
const opArb = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("put" as const), key: keyArb, value: valueArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("batch" as const), ops: fc.array(fc.record({ del: fc.boolean(), key: keyArb, value: valueArb }), { maxLength: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("get" as const), key: keyArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("scan" as const), gte: fc.option(keyArb, { nil: undefined }), lt: fc.option(keyArb, { nil: undefined }), reverse: fc.boolean(), limit: fc.option(fc.integer({ min: 0, max: 5 }), { nil: undefined }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("snapshot" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("snapshotRead" as const), which: fc.nat(), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("bulk" as const), n: fc.integer({ min: 50, max: 400 }), seed: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("flush" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reopen" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("readerRefresh" as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("readerGet" as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("readerScan" as const), gte: fc.option(keyArb, { nil: undefined }), reverse: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("readerSnapshot" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("readerSnapshotRead" as const), which: fc.nat() }) },
);

function modelScan(model: Model, gte?: string, lt?: string, reverse = false, limit = Infinity): string[] {
  const enc = new TextEncoder();
  const cmp = (a: string, b: string) => {
    const x = enc.encode(a);
    const y = enc.encode(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
    return x.length - y.length;
  };
  let keys = [...model.keys()].filter((k) => (gte === undefined || cmp(k, gte) >= 0) && (lt === undefined || cmp(k, lt) < 0)).sort(cmp);
  if (reverse) keys = keys.reverse();
  return keys.slice(0, limit).map((k) => `${k}=${model.get(k)}`);
}

function scanRows(db: Database, options: object): string[] {
  return [...db.scan(options)].map(([k, v]) => `${dec.decode(k)}=${dec.decode(v)}`);
}

/** What the runs reached, over all of them (a model test that never flushed or merged would say nothing of them). */
const reached = { flushes: 0, compactions: 0, reopens: 0 };

/**
 * Adds what `db` flushed and merged, once the memtables it froze are flushed and the merges
 * due are done. Read at once, the count missed the flushes still running in the actor: 21
 * to 27 over the same operations from run to run, under the threshold of the test below in
 * about half the runs on a quiet machine (2026-12-07); now 31 to 33.
 */
async function count(db: Database): Promise<void> {
  await eventually(() => db.stats().shards.every((s) => s.frozenMemtables === 0 && s.compactionDebt.merges === 0), "the frozen memtables flushed and the merges due done", 10_000);
  const stats = db.stats();
  reached.flushes += stats.flushes;
  reached.compactions += stats.compactions;
}

async function run(ops: Array<Record<string, unknown>>): Promise<void> {
  const dir = tempDir();
  let db = await open(dir, OPTIONS);
  const model: Model = new Map();
  const snapshots: Array<{ snap: Snapshot; model: Model }> = [];
  // The reader refreshes only when told, so its expected state is the model at its last refresh.
  const reader = await open(dir, { ...OPTIONS, readOnly: true, refreshIntervalMs: 2_000_000_000 });
  let readerModel: Model = new Map();
  const readerSnapshots: Array<{ snap: Snapshot; model: Model }> = [];
  try {
    for (const op of ops as Array<{ kind: string } & Record<string, never>>) {
      switch (op.kind) {
        case "put":
          await db.put(op.key, op.value);
          model.set(op.key, op.value);
          break;
        case "delete":
          await db.delete(op.key);
          model.delete(op.key);
          break;
        case "batch": {
          const batch = (op.ops as Array<{ del: boolean; key: string; value: string }>).map((o) =>
            o.del ? { type: "delete" as const, key: o.key } : { type: "put" as const, key: o.key, value: o.value }
          );
          await db.batch(batch);
          for (const o of batch) (o.type === "put" ? model.set(o.key, o.value) : model.delete(o.key));
          break;
        }
        case "get": {
          const got = db.get(op.key);
          assert.is(got === undefined ? undefined : dec.decode(got), model.get(op.key), `get ${op.key}`);
          assert.is(db.getString(op.key), model.get(op.key), `getString ${op.key}`);
          break;
        }
        case "scan": {
          const { gte, lt, reverse, limit } = op as unknown as { gte?: string; lt?: string; reverse: boolean; limit?: number };
          assert.equal(scanRows(db, { gte, lt, reverse, limit }), modelScan(model, gte, lt, reverse, limit), `scan ${JSON.stringify({ gte, lt, reverse, limit })}`);
          break;
        }
        case "snapshot":
          snapshots.push({ snap: db.snapshot(), model: new Map(model) });
          break;
        case "snapshotRead": {
          if (snapshots.length === 0) break;
          const { snap, model: then } = snapshots[(op.which as number) % snapshots.length];
          const got = db.get(op.key, { snapshot: snap });
          assert.is(got === undefined ? undefined : dec.decode(got), then.get(op.key), `snapshot get ${op.key}`);
          assert.is(db.getString(op.key, { snapshot: snap }), then.get(op.key), `snapshot getString ${op.key}`);
          assert.equal(scanRows(db, { snapshot: snap }), modelScan(then), "snapshot scan");
          break;
        }
        case "bulk": {
          let x = (op.seed as number) || 1;
          const writes: Promise<bigint>[] = [];
          for (let i = 0; i < (op.n as number); i++) {
            x = (x * 1103515245 + 12345) >>> 0;
            const key = `k${"abcd"[x % 4]}${"abcd"[(x >>> 3) % 4]}`;
            const value = `bulk-${op.seed}-${i}-${"z".repeat(x % 500)}`;
            model.set(key, value);
            writes.push(db.put(key, value));
          }
          await Promise.all(writes);
          break;
        }
        case "flush":
          await db.flush();
          break;
        case "reopen":
          for (const s of snapshots.splice(0)) s.snap.release();
          await count(db);
          reached.reopens++;
          await db.close();
          db = await open(dir, OPTIONS);
          break;
        case "readerRefresh":
          await reader.refresh();
          readerModel = new Map(model);
          assert.equal(scanRows(reader, {}), modelScan(readerModel), "reader after refresh");
          break;
        case "readerGet": {
          const got = reader.get(op.key);
          assert.is(got === undefined ? undefined : dec.decode(got), readerModel.get(op.key), `reader get ${op.key}`);
          assert.is(reader.getString(op.key), readerModel.get(op.key), `reader getString ${op.key}`);
          break;
        }
        case "readerScan": {
          const { gte, reverse } = op as unknown as { gte?: string; reverse: boolean };
          assert.equal(scanRows(reader, { gte, reverse }), modelScan(readerModel, gte, undefined, reverse), "reader scan");
          break;
        }
        case "readerSnapshot":
          readerSnapshots.push({ snap: reader.snapshot(), model: readerModel });
          break;
        case "readerSnapshotRead": {
          if (readerSnapshots.length === 0) break;
          const { snap, model: then } = readerSnapshots[(op.which as number) % readerSnapshots.length];
          assert.equal(scanRows(reader, { snapshot: snap }), modelScan(then), "reader snapshot scan");
          break;
        }
      }
    }
    assert.equal(scanRows(db, {}), modelScan(model), "final scan");
    await count(db);
    await reader.refresh();
    assert.equal(scanRows(reader, {}), modelScan(model), "final reader scan");
  } finally {
    for (const s of snapshots) s.snap.release();
    for (const s of readerSnapshots) s.snap.release();
    await reader.close();
    await db.close();
  }
}

test("random operations agree with a Map model (64 KiB memtables: flushes and compactions happen)", async () => {
  // size "max": fast-check's default size made the arrays short (~11 operations a run: 0
  // compactions and 7 flushes over all 25 runs, review of the tests, 2026-12-06).
  await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60, size: "max" }), (ops) => run(ops as never)), { numRuns: 25, seed: 4242 });
  assert.ok(reached.flushes >= 25 && reached.compactions > 0 && reached.reopens > 0, `the runs reached ${JSON.stringify(reached)}`);
});

test("after enough writes for 8 flushes and 2 compactions or more, reads still agree with the model", async () => {
  const dir = tempDir();
  const db = await open(dir, OPTIONS);
  const model: Model = new Map();
  const snap = db.snapshot();
  for (let round = 0; round < 12; round++) {
    const writes: Promise<bigint>[] = [];
    for (let i = 0; i < 300; i++) {
      const key = `key-${(i * 7 + round) % 200}`;
      if ((i + round) % 9 === 0) {
        model.delete(key);
        writes.push(db.delete(key));
      } else {
        const value = `r${round}-${i}-${"x".repeat((i * 13) % 400)}`;
        model.set(key, value);
        writes.push(db.put(key, value));
      }
    }
    await Promise.all(writes);
  }
  await eventually(() => db.stats().compactions >= 2, "two compactions");
  const stats = db.stats();
  assert.ok(stats.flushes >= 8, `${stats.flushes} flushes`);
  assert.equal(scanRows(db, {}), modelScan(model));
  for (let i = 0; i < 200; i++) {
    const got = db.get(`key-${i}`);
    assert.is(got === undefined ? undefined : dec.decode(got), model.get(`key-${i}`), `key-${i}`);
  }
  assert.equal(scanRows(db, { snapshot: snap }), [], "the snapshot taken at the start still sees an empty database");
  snap.release();
  await db.close();
  const again = await open(dir, OPTIONS);
  assert.equal(scanRows(again, {}), modelScan(model), "after reopening");
  await again.close();
});

test.after(cleanup);
test.run();
