// The channel path's client side (src/engine/channel.ts) against a stand-in for the actor:
// a reply wakes the request it answers (the client's Atomics.waitAsync has no timeout), and
// a request pending when the actor stops without answering (its thread died) fails within
// STOPPED_CHECK_MS, from the interval that checks while replies are pending.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Core } from "../../src/core/core.ts";
import { ChannelClient, REPLY_SLOTS, REQUEST_PREFIX_BYTES, ReplyStatus, writeReply } from "../../src/engine/channel.ts";
import { OP_HEADER_BYTES, OP_PUT, type Operation, RECORD_PREFIX_BYTES } from "../../src/engine/records.ts";
import { RING_HEADER_BYTES, WalStatus } from "../../src/wal/format.ts";
import { RingView } from "../../src/wal/ring.ts";
import { within } from "../harness/assert.ts";

const test = suite("channel client");
const REQUEST_RING_BYTES = 64 * 1024;

async function client(stopped: () => number | undefined): Promise<{ core: Core; requests: RingView; channel: ChannelClient }> {
  const core = await Core.create({ shards: 1, memoryBytesMax: 64 << 20 });
  const ring = core.exports.coreAlloc(RING_HEADER_BYTES + REQUEST_RING_BYTES) >>> 0;
  assert.is(core.exports.walRingFormat(ring, REQUEST_RING_BYTES, 0, 0n, REQUEST_RING_BYTES - 64), WalStatus.OK);
  const requests = new RingView(core, ring);
  return { core, requests, channel: new ChannelClient(core, requests, stopped) };
}

/** The key of a one-put write request (after the request prefix: the operations record). */
function keyOf(request: Uint8Array): string {
  const record = request.subarray(REQUEST_PREFIX_BYTES);
  const op = record.subarray(RECORD_PREFIX_BYTES);
  const keyLength = op[4] | (op[5] << 8);
  return new TextDecoder().decode(op.subarray(OP_HEADER_BYTES, OP_HEADER_BYTES + keyLength));
}

const put = (key: string): Operation => ({ type: OP_PUT, shard: 0, key: new TextEncoder().encode(key), value: new Uint8Array([1, 2, 3]), ts: 0n });

test("a reply written by the actor wakes the request it answers", async () => {
  const { core, requests, channel } = await client(() => undefined);
  const sent = channel.send([put("a")]);
  await new Promise((resolve) => setTimeout(resolve, 20)); // the client is waiting now
  const [request] = requests.payloads(requests.drainTail, requests.publishedEnd);
  const view = new DataView(request.payload.buffer, request.payload.byteOffset);
  assert.ok(request.payload.length > REQUEST_PREFIX_BYTES, "a request was sent");
  writeReply(core, view.getUint32(4, true), view.getUint16(2, true), { status: ReplyStatus.OK, ts: 7n, visibleAfter: 96 });
  const reply = await within(sent, 500, "the answered request");
  assert.equal(reply, { status: ReplyStatus.OK, ts: 7n, visibleAfter: 96 });
});

test("a request pending when the actor stops without answering fails within STOPPED_CHECK_MS", async () => {
  let stopped: number | undefined;
  const { channel } = await client(() => stopped);
  const sent = channel.send([put("b")]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  stopped = ReplyStatus.FAILED; // the actor's thread died: nobody notifies the client
  const reply = await within(sent, 2500, "the unanswered request");
  assert.is(reply.status, ReplyStatus.FAILED);
});

test("a request waiting for a reply slot is appended before one sent after the slots were freed", async () => {
  const { requests, channel } = await client(() => undefined);
  const first = Array.from({ length: REPLY_SLOTS }, (_, i) => channel.send([put(`held${i}`)]));
  const waited = channel.send([put("waited for a slot")]); // every slot is taken: it waits
  await new Promise((resolve) => setTimeout(resolve, 20));
  channel.failAll({ status: ReplyStatus.CLOSED, ts: 0n, visibleAfter: 0 }); // frees every slot at once
  const later = channel.send([put("sent after the slots were freed")]);
  await Promise.all(first);
  await new Promise((resolve) => setTimeout(resolve, 20)); // both requests are appended now
  const keys = requests.payloads(requests.drainTail, requests.publishedEnd).slice(REPLY_SLOTS).map((r) => keyOf(r.payload));
  assert.equal(keys, ["waited for a slot", "sent after the slots were freed"]);
  channel.failAll({ status: ReplyStatus.CLOSED, ts: 0n, visibleAfter: 0 });
  await Promise.all([waited, later]);
});

test.run();
