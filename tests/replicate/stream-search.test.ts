// Where a follower starts reading: seqOfLsn (src/replicate/stream-messages.ts), the sequence
// of the message holding a record, by binary search over the stream's sequences, over
// streams with messages deleted from their middle (by hand, or a hole a stream limit left).
// A JetStreamManager stand-in answers streams.info and streams.getMessage as nats-server
// 2.9+ does (`{ seq }`: that message or null; `{ seq, next_by_subj }`: the first message at
// or after seq on the subject, or null), so that holes of any size are cheap to make; the
// same search against a real server is in hostile-streams.test.ts.
// From the review of fa3d8d3 (2026-12-07): each probe that landed in a hole read on one
// sequence at a time, so a hole of 10,000 messages cost ~5,000 requests a lookup (5,016
// here), and a follower makes one at every start and resubscription.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import type { JetStreamManager } from "@nats-io/jetstream";
import { pieceId, runId, seqOfLsn } from "../../src/replicate/stream-messages.ts";

const test = suite("replicate: where a follower starts reading, over deleted messages");
const SUBJECT = "shardline.s";

interface Piece {
  lsn: number;
  part: number;
  parts: number;
}

/** A stream of `n` one-record messages at seq 1..n, LSN 8*seq each (or `pieces`); `deleted` seqs have no message. */
function standInStream(n: number, deleted: Set<number>, pieces?: Map<number, Piece>) {
  let gets = 0;
  const exists = (seq: number) => seq >= 1 && seq <= n && !deleted.has(seq);
  const message = (seq: number) => {
    const p = pieces?.get(seq);
    const id = p ? pieceId(p.lsn, p.part, p.parts) : runId(8 * seq, 8 * seq + 8);
    return { seq, subject: SUBJECT, data: new Uint8Array(0), time: new Date(), header: { get: (k: string) => (k === "Nats-Msg-Id" ? id : "") } };
  };
  let first = 1;
  while (first <= n && !exists(first)) first++;
  const jsm = {
    streams: {
      info: async () => ({ config: { name: "s", subjects: [SUBJECT] }, state: { first_seq: first, last_seq: n, messages: n - deleted.size } }),
      getMessage: async (_stream: string, query: { seq: number; next_by_subj?: string }) => {
        gets++;
        if (query.next_by_subj === undefined) return exists(query.seq) ? message(query.seq) : null;
        for (let seq = Math.max(1, query.seq); seq <= n; seq++) if (exists(seq)) return message(seq);
        return null;
      },
    },
  } as unknown as JetStreamManager;
  return { jsm, gets: () => gets };
}

test("random holes: every record's LSN gives the last message at or below it", async () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let round = 0; round < 40; round++) {
    const n = 2 + Math.floor(random() * 60);
    const deleted = new Set<number>();
    for (let seq = 2; seq <= n; seq++) if (random() < 0.4) deleted.add(seq);
    const { jsm } = standInStream(n, deleted);
    for (let seq = 1; seq <= n; seq++) {
      let want = seq;
      while (deleted.has(want)) want--;
      assert.is(await seqOfLsn(jsm, "s", SUBJECT, 8 * seq), want, `round ${round}: ${n} messages, LSN of seq ${seq}, deleted ${[...deleted]}`);
    }
  }
});

test("a record in pieces whose first piece was deleted from the middle: the search answers that piece's sequence (the follower then meets the gap)", async () => {
  const pieces = new Map([[5, { lsn: 40, part: 0, parts: 3 }], [6, { lsn: 40, part: 1, parts: 3 }], [7, { lsn: 40, part: 2, parts: 3 }]]);
  const { jsm } = standInStream(10, new Set([5]), pieces);
  assert.is(await seqOfLsn(jsm, "s", SUBJECT, 40), 5);
});

test("a stream of 20,000 messages with 10,000 deleted from its middle: one lookup is a binary search's few requests", async () => {
  const deleted = new Set<number>();
  for (let seq = 5_001; seq <= 15_000; seq++) deleted.add(seq);
  const stream = standInStream(20_000, deleted);
  assert.is(await seqOfLsn(stream.jsm, "s", SUBJECT, 8 * 4_000), 4_000);
  assert.is(await seqOfLsn(stream.jsm, "s", SUBJECT, 8 * 10_000), 5_000, "an LSN in the hole: the message before it");
  assert.is(await seqOfLsn(stream.jsm, "s", SUBJECT, 8 * 17_000), 17_000);
  // ~15 probes a lookup over 20,000 sequences (and the stream's info): 3 lookups.
  assert.ok(stream.gets() <= 3 * 40, `requests for 3 lookups: ${stream.gets()}`);
});

test.run();
