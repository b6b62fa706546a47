// The core's part of recovery's replay (assembly/replay.ts), driven directly: records of
// operations in a run, versions created in each shard's active memtable, then linked in
// (key asc, ts desc) order. Keys of every shape (empty, shorter than the 8-byte prefix,
// sharing long prefixes, prefixes of each other), several timestamps per key and exact
// duplicates, in random order; linked in one pass into an empty memtable (buildList) or,
// with a pending index too small for a memtable, in batches through nodeLink; memtables
// that fill mid-record (REPLAY_FULL, then the same record again from the operation that
// did not fit); replay floors and a starting LSN.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { Memtable } from "../../src/core/memtable.ts";
import { encodeOperations, OP_DELETE, OP_PUT, type Operation } from "../../src/engine/records.ts";
import { ReplayState, ReplayStatus } from "../../src/engine/replay.ts";
import { RECORD_HEADER_BYTES, recordBytes } from "../../src/wal/format.ts";
import { seededRandom } from "../harness/seeded-random.ts";

const test = suite("core replay");
const core = await Core.create({ shards: 2, memoryBytesMax: 512 << 20 });
const MIB = 1024 * 1024;

/**
 * Records with 1 to 4 operations each, over 2 shards, keys from a 3-letter alphabet (long
 * shared prefixes), or from every byte value with `wide` (many keys, most prefixes distinct).
 */
function makeRecords(seed: number, count: number, wide = false): Operation[][] {
  const random = seededRandom(seed);
  const alphabet = wide ? Array.from({ length: 256 }, (_, b) => b) : [0x00, 0x61, 0xff];
  const keys: Uint8Array[] = [];
  for (let i = 0; i < (wide ? 20_000 : 400); i++) {
    const length = [0, 1, 7, 8, 9, 16, 24][Math.floor(random() * 7)];
    keys.push(Uint8Array.from({ length }, () => alphabet[Math.floor(random() * 3)]));
  }
  // Timestamps unique per operation, in random order (a log never holds one (key, ts) with two values).
  const stamps = Array.from({ length: count * 4 }, (_, i) => BigInt(i + 1));
  for (let i = stamps.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [stamps[i], stamps[j]] = [stamps[j], stamps[i]];
  }
  const records: Operation[][] = [];
  let previous: Operation | undefined;
  for (let r = 0; r < count; r++) {
    const ops: Operation[] = [];
    for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
      if (previous && random() < 0.05) {
        ops.push(previous); // the same (key, ts) again: linked once
        continue;
      }
      const key = keys[Math.floor(random() * keys.length)];
      const put = random() < 0.8;
      const op: Operation = {
        type: put ? OP_PUT : OP_DELETE,
        shard: Math.floor(random() * 2),
        key,
        value: put ? Uint8Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256)) : undefined,
        ts: stamps.pop()!,
      };
      ops.push(op);
      previous = op;
    }
    records.push(ops);
  }
  return records;
}

/** The records framed as a log's run (replayRun reads only each header's length word), in core memory. */
function frame(records: Operation[][]): { address: number; bytes: number; lsns: number[] } {
  const payloads = records.map(encodeOperations);
  const bytes = payloads.reduce((sum, p) => sum + recordBytes(p.length), 0);
  const address = core.exports.coreAllocPermanent(bytes, 64) >>> 0;
  assert.ok(address >= 64, "room for the run");
  const lsns: number[] = [];
  let at = 0;
  for (const payload of payloads) {
    lsns.push(at);
    core.u8.fill(0, address + at, address + at + recordBytes(payload.length));
    core.u32[(address + at + 4) >>> 2] = ((1 << 24) | payload.length) >>> 0;
    core.u8.set(payload, address + at + RECORD_HEADER_BYTES);
    at += recordBytes(payload.length);
  }
  return { address, bytes, lsns };
}

interface Replayed {
  state: ReplayState;
  /** Every memtable replay filled, per shard, oldest first. */
  memtables: number[][];
}

/** What noteAll tells the memtable manager, not needed here (the group LSN goes into the memtable itself). */
const notes = { noteTs: () => {}, notePartitionLsn: () => {} } as unknown as Parameters<ReplayState["noteAll"]>[1];

/** Replays the run as src/engine/replay.ts does: a full memtable is linked and replaced by a new one. */
function replayRun(run: { address: number; bytes: number }, options: { memtableBytes: number; indexBytes: number; floors?: bigint[]; fromLsn?: number }): Replayed {
  const state = new ReplayState(core, 2, options.floors ?? [0n, 0n], options.indexBytes);
  const memtables: number[][] = [[], []];
  const fresh = (shard: number) => {
    const mt = core.exports.memtableCreate(options.memtableBytes) >>> 0;
    assert.ok(mt >= 64, "a memtable");
    core.exports.shardInstallActive(shard, mt);
    memtables[shard].push(mt);
  };
  fresh(0);
  fresh(1);
  state.fromLsn = options.fromLsn ?? 0;
  for (let start = 0; ;) {
    const status = core.exports.replayRun(state.address, run.address, run.bytes, 0n, start);
    if (status === ReplayStatus.DONE) break;
    if (status === ReplayStatus.FULL) {
      core.exports.replayLink(state.address, state.stopShard);
      state.noteAll(-1, notes); // as replay does before it freezes
      fresh(state.stopShard);
    } else if (status === ReplayStatus.NO_INDEX) {
      state.allocateIndex(state.stopShard);
    } else {
      assert.unreachable(`status ${status} at LSN ${state.stopLsn}`);
    }
    start = state.stopOffset;
  }
  core.exports.replayLink(state.address, 0);
  core.exports.replayLink(state.address, 1);
  return { state, memtables };
}

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function compareVersions(a: { key: Uint8Array; ts: bigint }, b: { key: Uint8Array; ts: bigint }): number {
  const n = Math.min(a.key.length, b.key.length);
  for (let i = 0; i < n; i++) if (a.key[i] !== b.key[i]) return a.key[i] - b.key[i];
  if (a.key.length !== b.key.length) return a.key.length - b.key.length;
  return a.ts > b.ts ? -1 : a.ts < b.ts ? 1 : 0;
}

/** Checks each memtable is in (key asc, ts desc) order, and that together they hold exactly `expected` (as key/ts/value). */
function check(replayed: Replayed, expected: Operation[], what: string): void {
  const got = new Map<string, string>();
  let linked = 0;
  for (let shard = 0; shard < 2; shard++) {
    for (const mt of replayed.memtables[shard]) {
      const memtable = new Memtable(core, mt);
      let previous: { key: Uint8Array; ts: bigint } | undefined;
      for (let node = memtable.first(); node !== 0; node = memtable.next(node)) {
        const entry = memtable.entry(node);
        if (previous) assert.ok(compareVersions(previous, entry) < 0, `${what}: shard ${shard} in order at ${hex(entry.key)}@${entry.ts}`);
        if (!previous || hex(previous.key) !== hex(entry.key)) {
          // The key's newest version here: a point lookup finds it (a memtable built in one
          // pass has no key index, and its lookups search the list; one linked through
          // nodeLink has one).
          assert.is(memtable.getVisible(entry.key, Number.MAX_SAFE_INTEGER)?.ts, entry.ts, `${what}: point lookup of ${hex(entry.key)}`);
        }
        previous = entry;
        assert.is(entry.seq, 0n, `${what}: replayed versions have seq 0`);
        got.set(`${shard}/${hex(entry.key)}@${entry.ts}`, entry.value === undefined ? "tombstone" : hex(entry.value));
        linked++;
      }
    }
  }
  const want = new Map(expected.map((op) => [`${op.shard}/${hex(op.key)}@${op.ts}`, op.value === undefined ? "tombstone" : hex(op.value)]));
  assert.equal([...got.keys()].sort(), [...want.keys()].sort(), `${what}: the versions`);
  for (const [version, value] of want) assert.is(got.get(version), value, `${what}: ${version}`);
  assert.is(linked + replayed.state.duplicates, replayed.state.operations, `${what}: every version created was linked or a duplicate`);
  replayed.state.free();
  for (const mt of replayed.memtables.flat()) core.exports.memtableRelease(mt);
}

/** `records`' operations as the memtables should hold them (a repeated operation once). */
function versions(records: Operation[][]): Operation[] {
  return records.flat();
}

test("versions come out in (key, ts) order whatever the log order: one pass into an empty memtable, or batches through nodeLink", () => {
  for (const seed of [1, 2, 3]) {
    const records = makeRecords(seed, 3000);
    const run = frame(records);
    const big = replayRun(run, { memtableBytes: 8 * MIB, indexBytes: 8 * MIB });
    assert.is(big.state.records, records.length);
    assert.is(big.memtables[0].length + big.memtables[1].length, 2, "nothing filled a memtable");
    check(big, versions(records), `seed ${seed}, one pass`);
    // A pending index of 8 entries (128 bytes): batches of 8.
    check(replayRun(run, { memtableBytes: 8 * MIB, indexBytes: 128 }), versions(records), `seed ${seed}, batches of 8`);
  }
});

test("a large pending index sorts in place: many distinct prefixes, and keys shorter than a byte or two", () => {
  // ~50,000 entries a shard: a radix bucket per first byte, and buckets of the next bytes
  // below them; the empty key and one-byte keys (2 in 7 keys) make big buckets of equal
  // prefixes, which quicksort orders by length and ts. (The 3-letter keys of the test
  // above share all eight prefix bytes in long runs.)
  const records = makeRecords(21, 40_000, true);
  const replayed = replayRun(frame(records), { memtableBytes: 64 * MIB, indexBytes: 64 * MIB });
  assert.is(replayed.memtables[0].length + replayed.memtables[1].length, 2, "nothing filled a memtable");
  check(replayed, versions(records), "wide and narrow keys, one pass");
});

test("memtables that fill mid-record: the record goes on from the operation that did not fit", () => {
  const records = makeRecords(7, 3000);
  const replayed = replayRun(frame(records), { memtableBytes: 8192, indexBytes: 8192 });
  assert.ok(replayed.memtables[0].length > 5 && replayed.memtables[1].length > 5, `memtables filled: ${replayed.memtables.map((m) => m.length)}`);
  assert.is(replayed.state.records, records.length, "every record counted once");
  check(replayed, versions(records), "tiny memtables");
});

test("operations at or below their shard's floor are skipped, but count for maxTs; records below fromLsn are skipped", () => {
  const records = makeRecords(11, 2000);
  const run = frame(records);
  const floors = [5000n, 2000n];
  const replayed = replayRun(run, { memtableBytes: 8 * MIB, indexBytes: 8 * MIB, floors, fromLsn: run.lsns[100] });
  const kept = records.slice(100);
  assert.is(replayed.state.records, kept.length);
  check(replayed, versions(kept).filter((op) => op.ts > floors[op.shard]), "floors");
  for (const shard of [0, 1]) {
    const max = kept.flat().filter((op) => op.shard === shard).reduce((m, op) => (op.ts > m ? op.ts : m), 0n);
    assert.is(replayed.state.maxTs(shard), max, `maxTs of shard ${shard}`);
  }
});

test.run();
