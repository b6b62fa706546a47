// Appends from four worker threads (attached through log.share()) and the main thread at
// once, into one ring with no lock: every record is read back exactly once, at the LSN
// its writer was given, and the LSNs of all records are distinct.
// attachLog's refusals (review of the WAL, second pass, 2026-12-06; seen failing before the
// fix): one past the shared headroom threw the core's internal CoreError, not a RangeError;
// a handle whose ring address held no ring attached to a 0-byte ring, where appends waited.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { cleanup, collect, openLog, platform, tempDir } from "./helpers.ts";
import { attachLog } from "./helpers.ts";
import type { Log } from "../../src/wal/log.ts";

const test = suite("wal workers");
const WORKERS = 4;
const PER_WORKER = 2000;

test(`${WORKERS} workers and the main thread append at once; every record is read back once at its LSN`, async () => {
  const log = await openLog(tempDir(), { segmentBytesMax: 64 * 1024, bufferBytes: 64 * 1024 });
  const handle = log.share();
  const runs = Array.from({ length: WORKERS }, (_, worker) =>
    runModuleInWorker(platform, {
      module: handle.module,
      memory: handle.memory,
      url: new URL("./fixtures/append-worker.ts", import.meta.url).href,
      exportName: "appendFromWorker",
      data: { handle, worker, count: PER_WORKER },
    }) as Promise<Array<[string, string]>>
  );
  const mainAppends = Promise.all(Array.from({ length: 500 }, (_, i) => log.append(`main-${i}`).then((lsn) => [`main-${i}`, String(lsn)] as [string, string])));
  const written = new Map<string, string>();
  for (const list of [...(await Promise.all(runs)), await mainAppends]) {
    for (const [text, lsn] of list) {
      assert.not.ok(written.has(text), `${text} reported twice`);
      written.set(text, lsn);
    }
  }
  assert.is(written.size, WORKERS * PER_WORKER + 500);
  assert.is(new Set(written.values()).size, written.size, "every LSN distinct");
  const read = await collect(log);
  assert.is(read.length, written.size, "every record read back exactly once");
  for (const r of read) assert.is(written.get(r.text), String(r.lsn), r.text);
  await log.close();
});

const UNLOCKED = { segmentBytesMax: 4096, bufferBytes: 64 * 1024, coordination: "single-process-unsafe" } as const;

/** `promise`'s outcome, or "pending" if it has not settled within `ms` (a hang, bounded). */
function settledWithin<T>(promise: Promise<T>, ms: number): Promise<{ value: T } | { error: unknown } | "pending"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"pending">((resolve) => (timer = setTimeout(() => resolve("pending"), ms)));
  return Promise.race([promise.then((value) => ({ value }), (error) => ({ error })), timeout]).finally(() => clearTimeout(timer));
}

test("attachLog past the log's shared headroom rejects with a RangeError naming the limit (it was an internal CoreError)", async () => {
  // README (shardline/wal): attached threads' blocks share the log's 192 MiB of headroom with
  // the streams' buffers, "more fail with a RangeError saying so"; Database.attach maps the
  // same refusal to a RangeError. Log.attach passes Core.attach's CoreError through: a class
  // that is neither in src/errors.ts nor exported, nor a RangeError.
  const log = await openLog(tempDir(), UNLOCKED);
  const attached: Log[] = [];
  let refusal: unknown;
  try {
    const handle = log.share();
    for (let i = 0; i < 400 && refusal === undefined; i++) {
      try {
        attached.push(await attachLog(handle));
      } catch (error) {
        refusal = error;
      }
    }
    assert.ok(refusal !== undefined, "400 attaches, none refused");
    assert.ok(refusal instanceof RangeError, `refused with ${(refusal as Error)?.name}: ${(refusal as Error)?.message}`);
  } finally {
    for (const a of attached) await a.close();
    await log.close();
  }
});

test("attachLog with a handle whose ring address holds no ring is a TypeError (it attached to a 0-byte ring made of whatever was there)", async () => {
  // Database.attach checks that the handle's shared address holds a database; Log.attach
  // takes any `ring` (a number past the memory, a string...) and builds a RingView over
  // whatever is there: here a ring of capacity 0 and recordBytesMax 0, where a record is
  // refused as "over the limit of 0 bytes" and an empty one never finds room, so append("")
  // waits for ever and so does close() (it waits for the append queue).
  const log = await openLog(tempDir(), UNLOCKED);
  try {
    const handle = log.share();
    let bogus: Log | undefined;
    let error: unknown;
    try {
      bogus = await attachLog({ ...handle, ring: handle.ring + 64 });
    } catch (e) {
      error = e;
    }
    if (bogus) {
      // (An empty record would wait for room for ever, and close() behind it: not done here,
      // so that nothing is left running.)
      const append = await settledWithin(bogus.append("x"), 1000);
      const close = await settledWithin(bogus.close(), 1000);
      const said = "error" in (append as object) ? String((append as { error: unknown }).error) : JSON.stringify(append);
      assert.unreachable(`attached to no ring (limits ${JSON.stringify(bogus.limits)}); its append: ${said}; close: ${close === "pending" ? "pending" : "settled"}`);
    }
    assert.ok(error instanceof TypeError, `refused with ${(error as Error)?.name}`);
  } finally {
    await log.close();
  }
});

test.after(cleanup);
test("stats().bytes of an attached handle counts from when the log was opened, as the opener's does", async () => {
  const log = await openLog(tempDir(), { segmentBytesMax: 4096, bufferBytes: 64 * 1024 });
  try {
    await log.append(["one", "two", "three"]);
    const attached = await attachLog(log.share());
    try {
      assert.is(attached.stats().bytes, log.stats().bytes, "the same log, the same bytes since it was opened");
    } finally {
      await attached.close();
    }
  } finally {
    await log.close();
  }
});

test.run();
