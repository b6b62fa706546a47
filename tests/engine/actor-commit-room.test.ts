// A channel-path commit on a full shared memory, with a fast-path writer on the same shard
// (src/engine/actor.ts #commit; review 2026-12-06, seen failing before the fix in all three
// runtimes: "WalFailedError ... a writer thread failed (SHARDLINE_MEMORY_FULL)").
//
// The actor reserves, before it logs anything, a spare memtable for each freeze the
// commit's inserts may make (#roomFor), makes room (#ensureRoom: a freeze, and flushes of
// the oldest frozen memtables), then logs the record and inserts under it. Before the fix:
// - a fast-path writer that filled the active memtable after the spares were counted (in
//   #ensureRoom's flush, milliseconds) cost one freeze nobody had reserved a spare for, and
//   on a full memory that freeze threw MemoryFullError under the held record, which fails
//   the database (the write could no longer be refused: its record was logged);
// - the count itself was short: one freeze per half memtable of key + value + 128 bytes,
//   where nodes just over half an allocation chunk (a 2,000-byte value in a 64 KiB
//   memtable: one node per 4 KiB chunk) fill a memtable with less than that.
// Now the shards a commit writes are held (SHARD_OWNER_COMMITTING: fast-path writers take
// the channel path until it is done), and the count is an upper bound (ArenaNeed).
//
// Forced interleaving: the actor's fsyncs sleep 400 ms (faults.actor.syncDelayMs), so each
// flush inside the commit is a window; the test writes on the fast path inside one.
// 1. A scan is held (flushed arenas stay retired), and the shared memory is made full but
//    for 8 memtables (every free heap byte taken, as arenas that held scans keep would be,
//    then 8 blocks of a memtable given back).
// 2. The active memtable is filled to 3/4 on the fast path: the background freezes and
//    flushes it; while it is in that flush, R1 (45 operations of 2,000-byte values) and R2
//    (61) are sent on the channel, so that the actor takes them as one group (two chunks).
// 3. Once a flush inside the group's commit has begun (a second table file), the test puts
//    on the fast path at least 100 times and until the active memtable has no room for R2's
//    nodes (at most 400); none of them may enter the memtable while the commit holds it.
// 4. R1 and R2 are written or refused with MemoryFullError, the database stays open, and
//    after the scan ends and the memory is given back, writes go on. The control run does
//    everything but step 3.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core, STATUS_LIMIT } from "../../src/core/core.ts";
import { keyIndexBytes, MEMTABLE_HEADER_BYTES, HEIGHT_MAX, nodeBytes, pendingRingBytes } from "../../src/core/memtable.ts";
import { MemoryFullError } from "../../src/errors.ts";
import { attach, cleanup, eventually, open, platform, tempDir, text } from "./helpers.ts";

const test = suite("engine actor commit room");
test.after.each(cleanup);

const MEMTABLE = 64 * 1024;
/** Bytes reserved in a fresh arena before its first node (header, head node, key index, pending ring). */
const FRESH_USED = MEMTABLE_HEADER_BYTES + nodeBytes(HEIGHT_MAX, 0, 0) + keyIndexBytes(MEMTABLE) + pendingRingBytes(MEMTABLE);
/** Key 20 + value 2000 bytes: nodes of 2056 to 2116 bytes, just over half a 4 KiB chunk (one node per chunk). */
const KEY_BYTES = 20;
const VALUE = "v".repeat(2000);
const SMALLEST_NODE = nodeBytes(1, KEY_BYTES, VALUE.length);
const key = (prefix: string, i: number) => `${prefix}${String(i).padStart(KEY_BYTES - prefix.length, "0")}`;
const ops = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => ({ type: "put" as const, key: key(prefix, i), value: VALUE }));
const SYNC_DELAY_MS = 400;

type Outcome = { ok: true; ts: bigint } | { ok: false; error: unknown };
const settle = (p: Promise<bigint>): Promise<Outcome> => p.then((ts) => ({ ok: true as const, ts }), (error: unknown) => ({ ok: false as const, error }));
const describe = (o: Outcome | undefined) => (o === undefined ? "pending" : o.ok ? `ok (ts ${o.ts})` : `rejected: ${(o.error as Error)?.name}: ${(o.error as Error)?.message}`);

for (const fill of [false, true]) {
  test(`a channel commit on a full memory ${fill ? "whose active memtable a fast-path writer fills during its #ensureRoom flush" : "(control: no writer during the commit)"}: ${fill ? "refused or written, " : ""}the database stays open`, async () => {
    const dir = tempDir();
    const db = await open(dir, {
      shards: 1,
      durability: "async",
      memtableBytesMax: MEMTABLE,
      faults: { memorySlackBytes: 8 * 1024 * 1024, actor: { syncDelayMs: SYNC_DELAY_MS } },
    });
    const handle = db.share();
    const core = await Core.attach(handle.module, handle.memory);
    const sender = await attach(db.share());
    const e = core.exports;
    const taken: number[] = [];
    const events: string[] = [];
    const frozen = () => e.shardMemtableList(0) - 1;
    const used = () => e.shardMemtableBytesUsed(0) >>> 0;
    const capacity = () => e.shardMemtableCapacity(0) >>> 0;
    const tables = () => platform.readdir(`${dir}/tables`).length;
    const note = (what: string) => events.push(`${what} [frozen ${frozen()}, active used ${used()}/${capacity()}, table files ${tables()}, state ${db.stats().state}]`);
    let scan: Iterator<[Uint8Array, Uint8Array]> | undefined;
    try {
      await db.put("a", "before");
      // A read held across everything below: arenas flushed meanwhile stay retired (epochs).
      scan = db.scan()[Symbol.iterator]();
      assert.is(text(scan.next().value?.[0]), "a");
      assert.is(frozen(), 0, "no frozen memtable yet");
      const tablesBefore = tables();
      // The shared memory full but for the 8 memtables that the background's freeze and the
      // two commits below take (1, then R1's 3 spares, then R2's 5 minus R1's one left over):
      // every free byte of the heap taken, as arenas that held scans keep would be (no flush
      // frees them), then 8 blocks of one memtable given back. Nothing touches the heap after.
      for (const bytes of [MEMTABLE, 64]) {
        for (;;) {
          const at = e.coreAlloc(bytes) >>> 0;
          if (at < STATUS_LIMIT) break;
          taken.push(at, bytes);
        }
      }
      const bigBlocks = taken.filter((_, i) => i % 2 === 0 && taken[i + 1] === MEMTABLE).slice(-8);
      for (const at of bigBlocks) {
        assert.is(e.coreFree(at, MEMTABLE), 1);
        taken.splice(taken.indexOf(at), 2);
      }
      assert.is(e.coreHeapFreeBytes(), BigInt(8 * MEMTABLE), "room for 8 memtables exactly");
      note("before the group");

      // The actor held in a background flush while R1 and R2 are sent, so that it takes both
      // in one group: the active memtable filled to 3/4 on the fast path, the background
      // freezes it (a memtable from the heap: 7 blocks left) and flushes it (fsyncs of 400 ms).
      const writes: Array<Promise<Outcome>> = [];
      // (Stops at the write that crosses 3/4: the background cannot freeze before it.)
      for (let i = 0; i < 2000 && used() < 0.75 * capacity(); i++) writes.push(settle(db.put(key("b-", i), "x".repeat(100))));
      await eventually(() => tables() > tablesBefore && frozen() === 1 && used() === FRESH_USED, "the background's freeze and flush", 10_000);
      note("background flush started");

      // R1 and R2 on the channel, one group in the actor, two chunks (each needs more than a
      // memtable: #chunks). The shard's fast path is closed while they are sent (the flag
      // `fastWrite: false` sets): a fast-path attempt would waste their nodes in the active
      // memtable.
      e.shardSetFastWrite(0, 0);
      const r1 = settle(sender.batch(ops("r1-", 45)));
      const r2 = settle(sender.batch(ops("r2-", 61)));
      await new Promise((resolve) => setTimeout(resolve, 1)); // both appended to the request ring
      e.shardSetFastWrite(0, 1);
      assert.is(frozen(), 1, "sent while the background flush still runs");

      // A flush inside the group's commit has begun (a second table file; its fsyncs sleep
      // 400 ms): before the fix, R2's #ensureRoom flush, with a fresh active memtable.
      await eventually(() => tables() > tablesBefore + 1, "a flush inside the group's commit", 10_000).catch((error) => {
        note("no window seen");
        throw error;
      });
      note("a flush inside the commit started");
      const pathsBefore = db.stats().paths.thisHandle;
      let filled = 0;
      if (fill) {
        // Write at least 100 times, and on until no node of R2 fits the active memtable (each
        // write is ~150 bytes), at most 400: held out of the shard, they all queue on the
        // channel. (A fast-path write is made, or refused, within the call.)
        for (; filled < 400 && (filled < 100 || capacity() - used() >= SMALLEST_NODE); filled++) writes.push(settle(db.put(key("w-", filled), "x".repeat(100))));
        note(`writer: ${filled} puts during the flush`);
      }
      const pathsAfterFill = db.stats().paths.thisHandle;
      const [o1, o2] = await Promise.all([r1, r2]);
      note(`R1 ${describe(o1)}; R2 ${describe(o2)}; heap ${e.coreHeapFreeBytes()} bytes free`);
      const later = await settle(db.put("later", "x"));
      note(`a later put on the opener: ${describe(later)}`);
      const written = await Promise.all(writes);
      const writerFailed = written.filter((o) => !o.ok);
      note(`writer: ${written.length - writerFailed.length} acknowledged, ${writerFailed.length} failed${writerFailed.length ? ` (${describe(writerFailed[0])})` : ""}`);

      const refused = (o: Outcome) => o.ok || o.error instanceof MemoryFullError;
      assert.ok(refused(o1), `R1 must be written or refused with MemoryFullError; it was ${describe(o1)}`);
      assert.ok(refused(o2), `R2 must be written or refused with MemoryFullError; it was ${describe(o2)} (database state ${db.stats().state})`);
      assert.is(db.stats().state, "open", "the database did not fail");
      assert.ok(refused(later), `a later put: ${describe(later)}`);
      assert.ok(written.every(refused), `every other put written or refused with MemoryFullError: ${describe(writerFailed.find((o) => !refused(o)))}`);
      if (fill) {
        // The puts made during the commit's flush did not enter the shard's memtable.
        assert.is(pathsAfterFill.fast, pathsBefore.fast, `${pathsAfterFill.fast - pathsBefore.fast} of ${filled} puts took the fast path during the commit`);
      }
      // The memory back (the heap blocks given back, the scan ended): writes go on.
      for (let i = 0; i < taken.length; i += 2) e.coreFree(taken[i], taken[i + 1]);
      taken.length = 0;
      scan.return?.();
      scan = undefined;
      await db.put("after", "still writable"); // after the scan ended: room again
      assert.is(text(db.get("after")), "still writable");
      if (o2.ok) assert.is(text(db.get(key("r2-", 60))), VALUE);
    } finally {
      note("end");
      console.log(`  [actor-commit-room fill=${fill}]\n    ` + events.join("\n    "));
      for (let i = 0; i < taken.length; i += 2) e.coreFree(taken[i], taken[i + 1]);
      scan?.return?.();
      core.detach();
      await sender.close().catch(() => undefined);
      await db.close().catch(() => undefined);
    }
  });
}

test.run();
