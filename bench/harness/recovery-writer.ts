/**
 * Child process of the recovery workload: fills a directory with a log of at least
 * `bytes` bytes, makes it durable, prints `SHARDLINE-RECOVERY-READY {json}`, and then
 * waits to be killed with SIGKILL (so what is recovered is what a crash leaves behind,
 * not a clean close).
 * - "engine": shardline's `open(dir, { durability: "async" })` and puts of random 16-byte
 *   keys with 100-byte values, with memtables large enough that nothing is flushed to
 *   tables (RECOVERY_MEMTABLE_BYTES per shard; if the engine refuses that size, its
 *   default, said so in the output);
 * - "wal": the log on its own (`openLog`), records of 116 bytes (a put's key and value);
 * - "peer": a peer's store (its System.crashRecovery, by system id), batches of CHUNK puts
 *   of the same keys and values, until its log files hold `bytes`.
 *
 * usage: <runtime> bench/harness/recovery-writer.ts engine|wal <dir> <bytes>
 *        <runtime> bench/harness/recovery-writer.ts peer <dir> <bytes> <system id>
 * Threads: main thread of its own process.
 */
import process from "node:process";
import { randomKeys, ValuePool } from "../lib/data.ts";
import { currentPlatform } from "../lib/platform.ts";
import { systemById } from "../systems/all.ts";
import { loadEngine, loadWal } from "../systems/shardline.ts";
import { RECOVERY_MEMTABLE_BYTES, SEEDS } from "../workloads/bench-data.ts";

const args = "Deno" in globalThis ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args : process.argv.slice(2);
const [kind, dir, bytesText, systemId] = args;
const target = Number(bytesText);
const platform = await currentPlatform();
const values = new ValuePool(100, SEEDS.values);
const CHUNK = 10_000;

/** Bytes of the log files (*.wal, or what `isLog` names) under `path`, and of all files. */
function logBytes(path: string, isLog = (name: string) => name.endsWith(".wal")): { log: number; all: number } {
  let log = 0;
  let all = 0;
  for (const name of platform.readdir(path)) {
    const child = `${path}/${name}`;
    const stat = platform.stat(child);
    if (!stat) continue;
    if (stat.isDirectory) {
      const inner = logBytes(child, isLog);
      log += inner.log;
      all += inner.all;
    } else {
      all += stat.size;
      if (isLog(name)) log += stat.size;
    }
  }
  return { log, all };
}

function ready(info: Record<string, unknown>): void {
  console.log(`SHARDLINE-RECOVERY-READY ${JSON.stringify(info)}`);
  setInterval(() => {}, 60_000); // wait for SIGKILL
}

if (kind === "wal") {
  const wal = await loadWal();
  if (typeof wal === "string") throw new Error(wal);
  const log = await wal.openLog(dir, { durability: "async" });
  const record = new Uint8Array(116);
  let records = 0;
  for (let chunk = 0; log.currentLsn < BigInt(target); chunk++) {
    const keys = randomKeys(CHUNK, 16, SEEDS.putKeys + 1000 + chunk);
    for (let i = 0; i < CHUNK; i++, records++) {
      record.set(keys[i], 0);
      record.set(values.at(records), 16);
      log.appendNow(record);
    }
  }
  await log.flushUntil(log.currentLsn);
  ready({ kind, records, logBytes: Number(log.currentLsn), dirBytes: logBytes(dir).all });
} else if (kind === "engine") {
  const engine = await loadEngine();
  if (typeof engine === "string") throw new Error(engine);
  let note = "";
  let db;
  try {
    db = await engine.open(dir, { durability: "async", memtableBytesMax: RECOVERY_MEMTABLE_BYTES });
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    note = `memtableBytesMax ${RECOVERY_MEMTABLE_BYTES >> 20} MiB refused (${error.message}); engine defaults`;
    platform.removeAll(dir);
    db = await engine.open(dir, { durability: "async" });
  }
  let records = 0;
  for (let chunk = 0; ; chunk++) {
    const keys = randomKeys(CHUNK, 16, SEEDS.putKeys + 1000 + chunk);
    for (let i = 0; i < CHUNK; i++, records++) await db.put(keys[i], values.at(records));
    const sizes = logBytes(dir);
    if (sizes.log >= target) break;
    if (sizes.all >= 4 * target) throw new Error(`the log files (*.wal) under ${dir} hold ${sizes.log} of ${sizes.all} bytes: no log to recover`);
  }
  await db.flush();
  const sizes = logBytes(dir);
  // The log's records (LSNs are byte positions, the first at 8), not its files: a fresh
  // segment's preallocated zeros are not log (review, 2026-12-06). Older engines without
  // stats().wal: the files.
  const durableLsn = (db.stats?.() as { wal?: { durableLsn?: bigint } } | undefined)?.wal?.durableLsn;
  ready({ kind, records, logBytes: durableLsn === undefined ? sizes.log : Number(durableLsn) - 8, dirBytes: sizes.all, note });
} else if (kind === "peer") {
  const recovery = systemById(systemId)?.crashRecovery;
  if (recovery === undefined) throw new Error(`system ${systemId} has no crash recovery to measure`);
  platform.mkdir(dir, { recursive: true });
  const writer = await recovery.openWriter(dir);
  let records = 0;
  for (let chunk = 0; ; chunk++) {
    const keys = randomKeys(CHUNK, 16, SEEDS.putKeys + 1000 + chunk);
    const base = records;
    await writer.write(keys, (i) => values.at(base + i));
    records += CHUNK;
    const sizes = logBytes(dir, recovery.isLog);
    if (sizes.log >= target) break;
    if (sizes.all >= 4 * target) throw new Error(`the log files under ${dir} hold ${sizes.log} of ${sizes.all} bytes: no log to recover`);
  }
  const sizes = logBytes(dir, recovery.isLog);
  ready({ kind, records, logBytes: sizes.log, dirBytes: sizes.all });
} else {
  throw new Error(`usage: recovery-writer.ts engine|wal <dir> <bytes> | peer <dir> <bytes> <system id>, got ${args.join(" ")}`);
}
