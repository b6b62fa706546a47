// Per-handle program order through the ring gate (src/engine/database.ts): a write that
// found the group WAL ring full waits behind the gate, and a write the same handle makes
// later must apply after it, even when it is made in the microtask between the gate
// opening and the gated writes running. The gate opens at once when the ring drained
// between the writer's load of the drain counter and its wait (Atomics.waitAsync answers
// "not-equal", not async); the test makes that race happen by answering so once.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { cleanup, open, SLOW_SMALL_RING, tempDir, text } from "./helpers.ts";

const test = suite("engine ring gate order");
const MIB = 1024 * 1024;

test.after.each(cleanup);

/** Runs `body` with Atomics.waitAsync answering "not-equal" (the value changed first). */
function withDrainRace<T>(body: () => T): T {
  const real = Atomics.waitAsync;
  (Atomics as { waitAsync: unknown }).waitAsync = () => ({ async: false, value: "not-equal" });
  try {
    return body();
  } finally {
    (Atomics as { waitAsync: unknown }).waitAsync = real;
  }
}

/** The value of `k`, described in a line: "made last", or which 1 MiB value it is. */
function valueOf(bytes: Uint8Array | undefined): string | undefined {
  return bytes && bytes.length > 64 ? `the 1 MiB value of byte ${bytes[0]}` : text(bytes);
}

test("a put made in the microtask after the ring gate opened applies after the puts waiting behind it", async () => {
  const dir = tempDir();
  // A slow disk (every fdatasync takes 300 ms) and the smallest ring: 1 MiB puts fill it.
  const db = await open(dir, SLOW_SMALL_RING);
  const writes: Promise<unknown>[] = [];
  let gated = false;
  for (let i = 0; i < 64 && !gated; i++) {
    const value = new Uint8Array(MIB - 64).fill(i);
    writes.push(withDrainRace(() => db.put("k", value)));
    // Under "async" a put the fast path took is visible at once; this one waits for room.
    gated = db.get("k")?.[0] !== i;
  }
  assert.ok(gated, "the group WAL ring never filled");
  const last = new Promise((resolve, reject) => queueMicrotask(() => db.put("k", "made last").then(resolve, reject)));
  await Promise.all([...writes, last]);
  assert.is(valueOf(db.get("k")), "made last");
  await db.close();
  const again = await open(dir);
  assert.is(valueOf(again.get("k")), "made last", "after reopen");
  await again.close();
});

test.run();
