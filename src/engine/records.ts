/**
 * Engine records: the payload of a WAL record written by the engine (the group WAL's fast
 * path, in assembly/engine.ts; the actor's partition logs and markers, here).
 *
 *   record    := version:u8 = 1  kind:u8  reserved:u16  count:u32  body
 *   kind 1    (operations) body := operation{count}
 *   operation := type:u8 (1 put, 2 delete)  reserved:u8  shard:u16  keyLength:u16
 *                reserved:u16  valueLength:u32 (0 for a delete)  ts:u64  key  value
 *   kind 2    (channel marker) body := shard:u16 reserved:u16 partitionLsn:u64 (count = operations
 *             the actor applied under this marker): gives channel-path writes their place in
 *             the group WAL's order (their seq) without repeating their data
 *
 * Threads: pure functions; any thread.
 */

export const RECORD_VERSION = 1;
export const KIND_OPERATIONS = 1;
export const KIND_MARKER = 2;
export const OP_PUT = 1;
export const OP_DELETE = 2;
export const RECORD_PREFIX_BYTES = 8;
export const OP_HEADER_BYTES = 20;
export const MARKER_BODY_BYTES = 12;

export interface Operation {
  type: typeof OP_PUT | typeof OP_DELETE;
  shard: number;
  key: Uint8Array;
  /** undefined for a delete */
  value: Uint8Array | undefined;
  ts: bigint;
}

export type EngineRecord =
  | { kind: typeof KIND_OPERATIONS; ops: Operation[] }
  | { kind: typeof KIND_MARKER; shard: number; partitionLsn: number; count: number };

/** Bytes an operation takes in a record. */
export function operationBytes(key: Uint8Array, value: Uint8Array | undefined): number {
  return OP_HEADER_BYTES + key.length + (value?.length ?? 0);
}

/** An operations record for `ops` (timestamps already assigned). */
export function encodeOperations(ops: readonly Operation[]): Uint8Array {
  let bytes = RECORD_PREFIX_BYTES;
  for (const op of ops) bytes += operationBytes(op.key, op.value);
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  out[0] = RECORD_VERSION;
  out[1] = KIND_OPERATIONS;
  view.setUint32(4, ops.length, true);
  let at = RECORD_PREFIX_BYTES;
  for (const op of ops) {
    out[at] = op.type;
    view.setUint16(at + 2, op.shard, true);
    view.setUint16(at + 4, op.key.length, true);
    view.setUint32(at + 8, op.value?.length ?? 0, true);
    view.setBigUint64(at + 12, op.ts, true);
    out.set(op.key, at + OP_HEADER_BYTES);
    if (op.value) out.set(op.value, at + OP_HEADER_BYTES + op.key.length);
    at += operationBytes(op.key, op.value);
  }
  return out;
}

/** Decodes a record, or throws an Error saying what is wrong (the caller reports corruption). */
export function decodeRecord(payload: Uint8Array): EngineRecord {
  if (payload.length < RECORD_PREFIX_BYTES) throw new Error(`engine record of ${payload.length} bytes is shorter than its prefix`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload[0] !== RECORD_VERSION) throw new Error(`engine record version ${payload[0]} is not ${RECORD_VERSION}`);
  const kind = payload[1];
  const count = view.getUint32(4, true);
  if (kind === KIND_MARKER) {
    if (payload.length !== RECORD_PREFIX_BYTES + MARKER_BODY_BYTES) throw new Error("marker record has the wrong size");
    return { kind, shard: view.getUint16(8, true), partitionLsn: Number(view.getBigUint64(12, true)), count };
  }
  if (kind !== KIND_OPERATIONS) throw new Error(`unknown engine record kind ${kind}`);
  const ops: Operation[] = [];
  let at = RECORD_PREFIX_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + OP_HEADER_BYTES > payload.length) throw new Error(`operation ${i} runs past the record`);
    const type = payload[at];
    if (type !== OP_PUT && type !== OP_DELETE) throw new Error(`operation ${i} has unknown type ${type}`);
    const keyLength = view.getUint16(at + 4, true);
    const valueLength = view.getUint32(at + 8, true);
    const keyAt = at + OP_HEADER_BYTES;
    const end = keyAt + keyLength + (type === OP_PUT ? valueLength : 0);
    if (end > payload.length) throw new Error(`operation ${i} runs past the record`);
    ops.push({
      type,
      shard: view.getUint16(at + 2, true),
      ts: view.getBigUint64(at + 12, true),
      key: payload.slice(keyAt, keyAt + keyLength),
      value: type === OP_PUT ? payload.slice(keyAt + keyLength, end) : undefined,
    });
    at = end;
  }
  if (at !== payload.length) throw new Error("engine record has bytes after its last operation");
  return { kind, ops };
}
