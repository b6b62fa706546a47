// Appends from four worker threads (attached through log.share()) and the main thread at
// once, into one ring with no lock: every record is read back exactly once, at the LSN
// its writer was given, and the LSNs of all records are distinct.
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { runModuleInWorker } from "../../src/worker-client.ts";
import { cleanup, collect, openLog, platform, tempDir } from "./helpers.ts";
import { attachLog } from "./helpers.ts";

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
