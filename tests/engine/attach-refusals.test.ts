// What `attach(handle)` refuses, and what a refusal leaves behind. Each test is a defect the
// review of 2026-12-06 (the Database handle across threads) found, seen failing before its
// fix: a share() result with a damaged blockCacheBytesMax or writeQueue was a RangeError from
// deep inside, and a `shared` address past the memory was accepted (every read and write of
// the handle then failed); and each refused attach kept its ThreadBlock, so ~253 refusals
// left no room for a good handle. checkHandle (src/engine/database.ts) now checks every field
// before the handle takes a block, and a refusal after it gives the block back.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { attach, cleanup, open, tempDir, text } from "./helpers.ts";

const test = suite("engine: attach refusals");
test.after.each(cleanup);

/** What `attach(handle)` did: "ok" (the handle is closed again), or the error's class name. */
async function attachOutcome(handle: Parameters<typeof attach>[0]): Promise<string> {
  try {
    const h = await attach(handle);
    await h.close().catch(() => {});
    return "ok";
  } catch (error) {
    return (error as Error)?.constructor?.name ?? String(error);
  }
}

// README, Errors: "TypeError: ... `attach` given something other than `db.share()`'s result".
// checkHandle (src/engine/database.ts) checks kind, module, memory, dir, shared and
// durability, but not blockCacheBytesMax, writeQueue, nor that `shared` lies in the memory:
// a wrong type there is a RangeError from deep inside (or no error at all).
test("attach given a share() result with a damaged field is a TypeError", async () => {
  const db = await open(tempDir(), { shards: 1 });
  try {
    const share = db.share();
    const damaged = {
      "blockCacheBytesMax: 'x'": { ...share, blockCacheBytesMax: "x" as unknown as number },
      "blockCacheBytesMax: -5": { ...share, blockCacheBytesMax: -5 },
      "writeQueue: { capacity: 0 }": { ...share, writeQueue: { ...share.writeQueue, capacity: 0 } },
      // An address past the end of the shared memory: attach accepts it, and every read and
      // write of the handle then fails with "RangeError: Invalid atomic access index".
      "shared: 2 ** 31": { ...share, shared: 2 ** 31 },
      // Inside the memory, but not where the database's state is.
      "shared: 64 bytes on": { ...share, shared: share.shared + 64 },
    };
    const outcomes = Object.fromEntries(await Promise.all(Object.entries(damaged).map(async ([what, handle]) => [what, await attachOutcome(handle)])));
    for (const [what, outcome] of Object.entries(outcomes)) assert.is(outcome, "TypeError", `attach of a handle with ${what}: ${JSON.stringify(outcomes)}`);
  } finally {
    await db.close();
  }
});

// Database.attach takes a ThreadBlock (Core.attach) and only then builds the Database:
// resolveWriteQueueOptions and the block cache's check throw after it, and the block is never
// given back (no detach on that path). Each refused attach so uses up one of the 256 thread
// slots (THREADS_MAX) for as long as the database is open: after ~253 of them, every later
// attach, with a good handle, fails with the THREADS_MAX RangeError.
test("refused attaches give their thread slot back: a good attach still works after 300 refused ones", async () => {
  const db = await open(tempDir(), { shards: 1 });
  try {
    await db.put("k", "v");
    const share = db.share();
    const bad = { ...share, writeQueue: { ...share.writeQueue, capacity: 0 } };
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      try {
        const h = await attach(bad);
        await h.close();
      } catch {
        refused++;
      }
    }
    assert.is(refused, 300, "the damaged handle was refused every time");
    let good: Awaited<ReturnType<typeof attach>> | undefined;
    let error: unknown;
    try {
      good = await attach(share);
    } catch (e) {
      error = e;
    }
    assert.ok(good, `a good attach after 300 refused ones failed: ${(error as Error)?.message}`);
    assert.is(text(good!.get("k")), "v");
    await good!.close();
  } finally {
    await db.close();
  }
});

test.run();
