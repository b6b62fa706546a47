/**
 * Stages a fast-path batch in a thread's staging area as `engineBatch` reads it
 * (assembly/engine.ts writeBatch; src/engine/database.ts #apply writes the same layout),
 * for the core's batch tests:
 *
 *   per operation: u8 type (1 put, 2 delete), u8 0, u16 keyLength, u32 valueLength, key, value
 */
import type { Core } from "../../src/core/core.ts";

export interface StagedOp {
  type: number;
  key: string;
  value?: string;
}

/** Stages `ops` at `core.staging`; returns [opsBytes, scratch] (scratch: 8-aligned, after the operations). */
export function stageBatch(core: Core, ops: readonly StagedOp[]): [number, number] {
  const enc = new TextEncoder();
  const u8 = core.u8;
  const dv = new DataView(u8.buffer);
  let at = core.staging;
  for (const op of ops) {
    const key = enc.encode(op.key);
    const value = op.value === undefined ? undefined : enc.encode(op.value);
    u8[at] = op.type;
    u8[at + 1] = 0;
    dv.setUint16(at + 2, key.length, true);
    dv.setUint32(at + 4, value?.length ?? 0, true);
    u8.set(key, at + 8);
    if (value) u8.set(value, at + 8 + key.length);
    at += 8 + key.length + (value?.length ?? 0);
  }
  return [at - core.staging, (at + 7) & ~7];
}
