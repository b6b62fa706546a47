// Waiting for the ring's published end to pass a record (RingView.untilPublished, which an
// "async" write uses when another thread's earlier reservation is not published yet): the
// publication that moves the published end wakes the waiter, a failed ring wakes it with
// its error, and a publisher with nobody waiting does nothing more than before. Two cores
// on one memory stand for two threads, each with its own reservation.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { WalFailedError } from "../../src/errors.ts";
import { FailCode, Ring, RING_HEADER_BYTES, RingState, WalStatus } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";

const test = suite("wal publish wait");
const CAPACITY = 64 * 1024;

async function twoWriters() {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const address = core.exports.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
  assert.is(core.exports.walRingFormat(address, CAPACITY, 7, 0n, 1024), WalStatus.OK);
  const other = await Core.attach(core.module, core.memory);
  const first = new RingView(core, address);
  const second = new RingView(other, address);
  const word = (field: number) => Atomics.load(first.i32, first.index(field));
  return { first, second, word, detach: () => other.detach() };
}

/** `first` reserves 8 bytes and does not publish; `second` appends a record behind it. Returns the end of the second record. */
function holeThenRecord(first: RingView, second: RingView): number {
  const held = first.reserve(8);
  assert.ok(held >= 0);
  const behind = second.tryAppend(new Uint8Array(16).fill(2));
  assert.is(first.publishedEnd, held, "the published end stops at the unpublished reservation");
  return behind + 12 + 16;
}

test("a wait behind another thread's unpublished reservation is woken by that publication", async () => {
  const { first, second, word, detach } = await twoWriters();
  try {
    const end = holeThenRecord(first, second);
    const seqBefore = word(Ring.PUBLISH_SEQ);
    let resolved = false;
    const waiting = first.untilPublished(end, "test ring").then(() => (resolved = true));
    assert.is(word(Ring.PUBLISH_WAITERS), 1, "the waiter counts itself before it looks");
    await new Promise((r) => setTimeout(r, 0));
    assert.is(resolved, false, "still held back");
    first.write(first.publishedEnd, new Uint8Array(8).fill(1));
    first.publishReserved(8);
    assert.is(word(Ring.PUBLISH_SEQ), seqBefore + 1, "the publication saw the waiter and woke it");
    assert.ok(first.publishedEnd >= end, "the published end moved past both records");
    await waiting;
    assert.is(word(Ring.PUBLISH_WAITERS), 0, "the waiter left");
    // Nobody waits now: a publication leaves publishSeq alone.
    second.tryAppend(new Uint8Array(4));
    assert.is(word(Ring.PUBLISH_SEQ), seqBefore + 1);
  } finally {
    detach();
  }
});

test("a ring that fails wakes the wait, which rejects with the ring's error", async () => {
  const { first, second, word, detach } = await twoWriters();
  try {
    const end = holeThenRecord(first, second);
    const seqBefore = word(Ring.PUBLISH_SEQ);
    const waiting = first.untilPublished(end, "test ring");
    second.setState(RingState.FAILED, FailCode.SYNC, "EIO");
    assert.ok(word(Ring.PUBLISH_SEQ) > seqBefore, "the state change woke publish waiters");
    const error = await waiting.then(() => undefined, (e: unknown) => e);
    assert.instance(error, WalFailedError);
    assert.is(word(Ring.PUBLISH_WAITERS), 0);
  } finally {
    detach();
  }
});

test("an end already published resolves without counting a waiter for long", async () => {
  const { first, second, word, detach } = await twoWriters();
  try {
    const lsn = second.tryAppend(new Uint8Array(16));
    await first.untilPublished(lsn + 12 + 16, "test ring");
    assert.is(word(Ring.PUBLISH_WAITERS), 0);
  } finally {
    detach();
  }
});

test.run();
