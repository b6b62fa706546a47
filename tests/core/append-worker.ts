/**
 * Worker side of core-edges.test.ts: attaches to the shared core and appends one record
 * to a ring (reserve, copy, publish: walAppend), reporting the status. Announces itself in
 * `flag` (an i32 in shared memory) just before the call, so the main thread knows the call
 * has begun.
 */
import { Core } from "../../src/core/core.ts";

export interface AppendJob {
  ring: number;
  length: number;
  flag: number;
}

export async function appendOne(ctx: { module: WebAssembly.Module; memory: WebAssembly.Memory; data: AppendJob }) {
  const { ring, length, flag } = ctx.data;
  const core = await Core.attach(ctx.module, ctx.memory);
  const at = core.stage(new Uint8Array(length).fill(0x5a));
  Atomics.store(core.i32, flag >>> 2, 1);
  const status = core.exports.walAppend(ring, at, length);
  const lsn = core.u64Number(core.result);
  core.detach();
  return { status, lsn };
}
