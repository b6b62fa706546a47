// A worker terminated in the middle of an append (shardline/wal; review 2026-12-06, seen
// failing before the fix in Node and Bun: Deno's terminate() did not stop the append loop
// in this setup). Its record was reserved in the ring and never published; the durability
// worker, closing, waited for it for ever, so the owner's close() never settled and the
// process could not exit (close() had ref'd that worker). Now a closing log fails after
// ABANDONED_RESERVATION_MS (5 s: src/wal/durability-worker.ts) with EABANDONED.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { FailCode, RingState } from "../../src/wal/format.ts";
import { cleanup, openLog, platform, tempDir } from "./helpers.ts";
import { WalFailedError } from "../../src/errors.ts";
import { rejects } from "../harness/assert.ts";

const test = suite("wal abandoned reservation");
const appender = new URL("./fixtures/append-forever.ts", import.meta.url).href;

test("a worker terminated in the middle of an append: the owner's close() settles, failing the log (EABANDONED)", async () => {
  for (let round = 0; round < 2; round++) {
    // The durability worker gives up on the abandoned record after 300 ms, not its 5 s.
    const log = await openLog(tempDir(), { segmentBytesMax: 64 * 1024 * 1024, bufferBytes: 64 * 1024 * 1024, faults: { abandonedReservationMs: 300 } });
    const handle = log.share();
    const flag = new Int32Array(new SharedArrayBuffer(4));
    const worker = platform.spawnWorker({
      role: "module",
      module: handle.module,
      memory: handle.memory,
      args: { url: appender, export: "appendForever", data: { handle, bytes: log.limits.recordBytesMax, flag } },
    });
    const started = Atomics.waitAsync(flag, 0, 0, 10_000);
    if (started.async) await started.value;
    await new Promise((r) => setTimeout(r, 5));
    await worker.terminate();
    const closing = log.close();
    // Settles: resolves if the terminate landed between appends, rejects (the log failed) if inside one.
    const outcome = await Promise.race([closing.then(() => "closed", () => "closed"), new Promise((r) => setTimeout(() => r("still closing after 15 s"), 15_000))]);
    if (outcome !== "closed") {
      // Free the stuck durability worker (fail the ring), so that this test process can end.
      const ring = (log as unknown as { ring: { setState(state: number, failCode: number, osCode: string): void } }).ring;
      ring.setState(RingState.FAILED, FailCode.OTHER, "ETEST");
      await closing.catch(() => {});
    }
    assert.is(outcome, "closed", `round ${round}: close() did not settle; durableLsn ${log.durableLsn}, currentLsn ${log.currentLsn}`);
    // Failed when the terminate landed inside an append (Deno's may not), closed otherwise.
    const state = log.stats().state;
    assert.ok(state === "failed" || state === "closed", state);
    if (state === "failed") {
      assert.ok(log.durableLsn < log.currentLsn, "what followed the abandoned record was never written");
      await rejects(() => closing, WalFailedError);
    }
  }
});

test.after.each(cleanup);
test.run();
