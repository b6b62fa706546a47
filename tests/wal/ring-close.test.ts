// Closing a ring is decided on reserveHead itself (assembly/walring.ts ringCloseDrained):
// the worker's compare-exchange sets RESERVE_CLOSED only if nothing was reserved past the
// end it drained to, and a writer whose fetch-add returns the bit gives up (WAL_CLOSED).
// Before, the worker compared reserveHead and then stored CLOSED, and a writer that had read
// the state as OPEN could reserve in between: its record, reported written (an "async" or
// appendNow append), was never drained (found by reading, review of 2026-12-06). The window
// lies between two instructions of ringReserve, so the interleaving is played here step by
// step at the core's level: the worker's look at reserveHead, a writer's reservation, the
// worker's close.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { RING_HEADER_BYTES, WalStatus } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";

const test = suite("wal ring close");
const CAPACITY = 64 * 1024;

test("a reservation made after the worker looked at reserveHead keeps the ring open until it is drained; one made after the close is refused", async () => {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const address = core.exports.coreAlloc(RING_HEADER_BYTES + CAPACITY) >>> 0;
  assert.is(core.exports.walRingFormat(address, CAPACITY, 7, 8n, 1024), WalStatus.OK);
  const ring = new RingView(core, address);
  const end = ring.reserveHead; // the worker: everything up to here is drained
  const lsn = ring.tryAppend(new Uint8Array(16).fill(1)); // a writer that read the state as OPEN
  assert.is(lsn, end);
  assert.is(core.exports.walCloseDrained(address, BigInt(end)), 0, "the close sees the reservation: the worker must drain it first");
  const drained = ring.reserveHead;
  assert.ok(drained > end);
  assert.is(core.exports.walCloseDrained(address, BigInt(drained)), 1, "nothing reserved past the drained end: closed");
  assert.is(ring.reserveHead, drained, "reserveHead reads without the closed bit");
  assert.is(core.exports.walReserve(address, 16), WalStatus.CLOSED, "a reservation after the close is refused");
  assert.is(ring.reserveHead, drained, "and leaves reserveHead as it reads");
  assert.is(core.exports.walCloseDrained(address, BigInt(drained)), 0, "a second close finds the bit");
});

test.run();
