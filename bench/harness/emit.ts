/**
 * The per-runtime harness's only channel to scripts/bench.mjs: one line per record on
 * stdout, `SHARDLINE-BENCH {json}` for results and `SHARDLINE-PROGRESS {json}` for the
 * live display. Everything else a child prints is kept by the driver for diagnosis only.
 *
 * Invariants: each record is one line of JSON with finite numbers only (a non-finite
 * figure is a harness bug: it throws here, before the driver could write it out).
 * Threads: main thread of the harness process.
 */

function checkFinite(value: unknown, path: string): void {
  if (typeof value === "number" && !Number.isFinite(value)) throw new Error(`non-finite figure at ${path}: ${value}`);
  if (typeof value === "bigint") throw new Error(`bigint at ${path}: convert it before emitting`);
  if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) checkFinite(v, `${path}.${k}`);
  }
}

export function emitRecord(record: { type: string } & Record<string, unknown>): void {
  checkFinite(record, record.type);
  console.log(`SHARDLINE-BENCH ${JSON.stringify(record)}`);
}

export interface Progress {
  /** Steps done so far and in all. */
  done: number;
  total: number;
  workload: string;
  system: string;
}

export function emitProgress(progress: Progress): void {
  console.log(`SHARDLINE-PROGRESS ${JSON.stringify(progress)}`);
}
