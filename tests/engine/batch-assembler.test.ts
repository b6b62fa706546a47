// BatchAssembler (src/engine/batch-assembler.ts): a large batch's fragments come out only
// with their commit, stamped with the commit's timestamps; fragments without a commit never
// come out; a commit whose first fragment is before where reading began is skipped; a
// commit that does not match the fragments the log holds is an error.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { BatchAssembler } from "../../src/engine/batch-assembler.ts";
import { decodeRecord, encodeCommit, encodeFragment, encodeOperations, KIND_OPERATIONS, type Operation, OP_DELETE, OP_PUT } from "../../src/engine/records.ts";

const test = suite("engine batch assembler");
const enc = new TextEncoder();
const op = (shard: number, key: string, value?: string): Operation => ({ type: value === undefined ? OP_DELETE : OP_PUT, shard, key: enc.encode(key), value: value === undefined ? undefined : enc.encode(value), ts: 0n });
const fragment = (ops: Operation[]) => encodeFragment(ops);
const commit = (firstFragmentLsn: number, fragments: number, shards: Array<[number, number, bigint]>) =>
  encodeCommit({ firstFragmentLsn, fragments, count: shards.reduce((n, s) => n + s[1], 0), shards: shards.map(([shard, operations, firstTs]) => ({ shard, operations, firstTs })) });

test("fragments come out with their commit, as operations records with the commit's timestamps per shard in batch order", () => {
  const a = new BatchAssembler(0);
  assert.equal(a.add(100, fragment([op(0, "a", "1"), op(1, "b", "2")])), []);
  assert.is(a.pendingFrom, 100);
  const small = encodeOperations([{ ...op(1, "x", "y"), ts: 7n }]);
  assert.equal(a.add(200, small), [small], "an operations record in between comes out at once");
  assert.equal(a.add(300, fragment([op(0, "c"), op(0, "d", "4")])), []);
  const out = a.add(400, commit(100, 2, [[0, 3, 50n], [1, 1, 9n]]));
  assert.is(out.length, 2);
  assert.is(a.pendingFrom, undefined);
  const ops = out.flatMap((r) => {
    const d = decodeRecord(r);
    assert.is(d.kind, KIND_OPERATIONS);
    return d.kind === KIND_OPERATIONS ? d.ops : [];
  });
  assert.equal(ops.map((o) => [new TextDecoder().decode(o.key), o.shard, o.ts, o.type]), [["a", 0, 50n, OP_PUT], ["b", 1, 9n, OP_PUT], ["c", 0, 51n, OP_DELETE], ["d", 0, 52n, OP_PUT]]);
});

test("fragments of a batch that never committed are dropped: at the end, and when a later batch commits", () => {
  const a = new BatchAssembler(0);
  a.add(100, fragment([op(0, "lost", "1")]));
  a.add(150, fragment([op(0, "lost2", "1")]));
  a.add(200, fragment([op(0, "kept", "1")]));
  const out = a.add(300, commit(200, 1, [[0, 1, 5n]]));
  assert.is(out.length, 1);
  const d = decodeRecord(out[0]);
  assert.ok(d.kind === KIND_OPERATIONS && new TextDecoder().decode(d.ops[0].key) === "kept");
});

test("a commit whose first fragment is before where reading began is skipped (the batch is in tables)", () => {
  const a = new BatchAssembler(250);
  a.add(260, fragment([op(0, "late", "1")]));
  assert.equal(a.add(300, commit(200, 2, [[0, 2, 5n]])), []);
});

test("a commit that does not match the log is an error: fragments missing, operations miscounted, a shard without timestamps", () => {
  const missing = new BatchAssembler(0);
  missing.add(100, fragment([op(0, "a", "1")]));
  assert.throws(() => missing.add(300, commit(100, 2, [[0, 2, 5n]])), /2 fragments/);
  const miscounted = new BatchAssembler(0);
  miscounted.add(100, fragment([op(0, "a", "1"), op(0, "b", "1")]));
  assert.throws(() => miscounted.add(300, commit(100, 1, [[0, 3, 5n]])), /more operations/);
  const noShard = new BatchAssembler(0);
  noShard.add(100, fragment([op(1, "a", "1")]));
  assert.throws(() => noShard.add(300, commit(100, 1, [[0, 1, 5n]])), /no timestamp left/);
});

test.run();
