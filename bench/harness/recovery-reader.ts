/**
 * Child process of the recovery workload: reopens a directory a killed writer left behind
 * (bench/harness/recovery-writer.ts), reads back the first key written, and prints
 * `SHARDLINE-RECOVERY-OPENED {"ms":…}` (plus `openMs` for the log on its own). A process
 * that restarts after kill -9 is a fresh one, so each round is timed in a fresh process:
 * its modules are loaded before the clock starts, and no earlier workload's heap, threads
 * or peers' native state slow it down (in the harness's own process, after every other
 * workload of a full run, the same open took 1.4 s where a fresh process took 1.0 s).
 * - "engine": shardline's `open(dir)` (replays the log into memtables) and a get;
 * - "wal": the write-ahead log on its own, `openLog(dir)` plus reading every record back;
 * - "peer": the peer's System.crashRecovery reopen and a read of the first key.
 * Closing is not timed.
 *
 * usage: <runtime> bench/harness/recovery-reader.ts engine|wal|peer <dir> <value bytes> <records> [system id]
 * Threads: main thread of its own process.
 */
import process from "node:process";
import { randomKeys } from "../lib/data.ts";
import { systemById } from "../systems/all.ts";
import { loadEngine, loadWal } from "../systems/shardline.ts";
import { RECOVERY_MEMTABLE_BYTES, SEEDS } from "../workloads/bench-data.ts";

const args = "Deno" in globalThis ? (globalThis as unknown as { Deno: { args: string[] } }).Deno.args : process.argv.slice(2);
const [kind, dir, valueBytesText, recordsText, systemId] = args;
const valueBytes = Number(valueBytesText);
const records = Number(recordsText);

/** The first key the writer wrote (its first chunk's first key), which every recovery reads back. */
const firstKey = randomKeys(1, 16, SEEDS.putKeys + 1000)[0];

/** open(), then a get of the first key written (timed, as the peers' first read is), then close (not timed). */
async function timeEngineOpen(): Promise<{ ms: number }> {
  const engine = await loadEngine();
  if (typeof engine === "string") throw new Error(engine);
  const t = performance.now();
  const db = await engine.open(dir, { durability: "async", memtableBytesMax: RECOVERY_MEMTABLE_BYTES }).catch((e) => {
    if (e instanceof RangeError) return engine.open(dir, { durability: "async" });
    throw e;
  });
  const v = db.get(firstKey);
  const ms = performance.now() - t;
  await db.close();
  if (v?.length !== valueBytes) throw new Error(`shardline recovered without the first key written (${v === undefined ? "missing" : `${v.length} bytes`})`);
  return { ms };
}

async function timeWalOpen(): Promise<{ ms: number; openMs: number }> {
  const wal = await loadWal();
  if (typeof wal === "string") throw new Error(wal);
  const t = performance.now();
  const log = await wal.openLog(dir, { durability: "async" });
  const openMs = performance.now() - t;
  let n = 0;
  for await (const _ of log.stream({})) n++;
  const ms = performance.now() - t;
  await log.close();
  if (n !== records) throw new Error(`recovered ${n} records, ${records} were written`);
  return { ms, openMs };
}

async function timePeerOpen(): Promise<{ ms: number }> {
  const system = systemById(systemId);
  const recovery = system?.crashRecovery;
  if (recovery === undefined) throw new Error(`system ${systemId} has no crash recovery to measure`);
  // The library loaded (and probed) before the clock, as shardline's engine is: its first
  // load inside reopen() was ~25 ms of the SQLite figure (review, 2026-12-06).
  const available = await system!.available();
  if (available !== true) throw new Error(`${systemId}: ${available}`);
  const t = performance.now();
  const close = await recovery.reopen(dir, firstKey, valueBytes);
  const ms = performance.now() - t;
  await close();
  return { ms };
}

const timed = kind === "engine" ? await timeEngineOpen() : kind === "wal" ? await timeWalOpen() : kind === "peer" ? await timePeerOpen() : undefined;
if (!timed) throw new Error(`usage: recovery-reader.ts engine|wal|peer <dir> <value bytes> <records> [system id], got ${args.join(" ")}`);
console.log(`SHARDLINE-RECOVERY-OPENED ${JSON.stringify(timed)}`);
process.exit(0); // a peer may leave native threads or timers behind: the result is out
