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
 *             the group WAL's order (their seq) without repeating their data. Only in logs
 *             of the format before the group WAL became the only log.
 *   kind 3    (batch fragment) body := operation{count}, every ts 0: a piece of a batch too
 *             large for one record (docs/ENGINE.md, "Large atomic batches"), in the
 *             batch's order. Applied only with its commit record, never alone.
 *   kind 4    (batch commit) count = the batch's operations
 *             body := firstFragmentLsn:u64 fragments:u32 shardCount:u32
 *                     (shard:u16 reserved:u16 operations:u32 firstTs:u64){shardCount}
 *             The batch is the `fragments` kind-3 records at or after firstFragmentLsn and
 *             before this record (the actor writes them and nothing else in between, so
 *             they are exactly the kind-3 records there). Timestamps: the i-th operation of
 *             shard s, in batch order, has firstTs(s) + i.
 *
 * Threads: pure functions; any thread.
 */

export const RECORD_VERSION = 1;
export const KIND_OPERATIONS = 1;
export const KIND_MARKER = 2;
export const KIND_FRAGMENT = 3;
export const KIND_COMMIT = 4;
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

export const COMMIT_FIXED_BYTES = 16;
export const COMMIT_SHARD_BYTES = 16;

/** A batch commit record's body (kind 4). */
export interface BatchCommit {
  firstFragmentLsn: number;
  fragments: number;
  /** Operations of the whole batch. */
  count: number;
  shards: Array<{ shard: number; operations: number; firstTs: bigint }>;
}

export type EngineRecord =
  | { kind: typeof KIND_OPERATIONS; ops: Operation[] }
  | { kind: typeof KIND_FRAGMENT; ops: Operation[] }
  | { kind: typeof KIND_MARKER; shard: number; partitionLsn: number; count: number }
  | ({ kind: typeof KIND_COMMIT } & BatchCommit);

/** Bytes an operation takes in a record. */
export function operationBytes(key: Uint8Array, value: Uint8Array | undefined): number {
  return OP_HEADER_BYTES + key.length + (value?.length ?? 0);
}

/** An operations record for `ops` (timestamps already assigned). */
export function encodeOperations(ops: readonly Operation[]): Uint8Array {
  return encodeOperationsAfter(ops, 0);
}

/**
 * encodeOperations, the record placed after `prefixBytes` zero bytes left for the caller
 * (a channel request's prefix: one array, one copy). Not an optional parameter of
 * encodeOperations: `records.map(encodeOperations)` would pass each index as it.
 */
export function encodeOperationsAfter(ops: readonly Operation[], prefixBytes: number): Uint8Array {
  let bytes = prefixBytes + RECORD_PREFIX_BYTES;
  for (const op of ops) bytes += operationBytes(op.key, op.value);
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  out[prefixBytes] = RECORD_VERSION;
  out[prefixBytes + 1] = KIND_OPERATIONS;
  view.setUint32(prefixBytes + 4, ops.length, true);
  let at = prefixBytes + RECORD_PREFIX_BYTES;
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

/** Decodes a record, or throws an Error saying what is wrong (the caller reports corruption); keys and values are copies. */
export function decodeRecord(payload: Uint8Array): EngineRecord {
  return decode(payload, false);
}

/** decodeRecord for a payload the caller owns and never writes again: keys and values are views of it. */
export function decodeOwnedRecord(payload: Uint8Array): EngineRecord {
  return decode(payload, true);
}

function decode(payload: Uint8Array, views: boolean): EngineRecord {
  if (payload.length < RECORD_PREFIX_BYTES) throw new Error(`engine record of ${payload.length} bytes is shorter than its prefix`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload[0] !== RECORD_VERSION) throw new Error(`engine record version ${payload[0]} is not ${RECORD_VERSION}`);
  const kind = payload[1];
  const count = view.getUint32(4, true);
  if (kind === KIND_MARKER) {
    if (payload.length !== RECORD_PREFIX_BYTES + MARKER_BODY_BYTES) throw new Error("marker record has the wrong size");
    return { kind, shard: view.getUint16(8, true), partitionLsn: Number(view.getBigUint64(12, true)), count };
  }
  if (kind === KIND_COMMIT) return { kind, ...decodeCommitBody(payload, view, count) };
  if (kind !== KIND_OPERATIONS && kind !== KIND_FRAGMENT) throw new Error(`unknown engine record kind ${kind}`);
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
      key: views ? payload.subarray(keyAt, keyAt + keyLength) : payload.slice(keyAt, keyAt + keyLength),
      value: type !== OP_PUT ? undefined : views ? payload.subarray(keyAt + keyLength, end) : payload.slice(keyAt + keyLength, end),
    });
    at = end;
  }
  if (at !== payload.length) throw new Error("engine record has bytes after its last operation");
  return kind === KIND_FRAGMENT ? { kind, ops } : { kind: KIND_OPERATIONS, ops };
}

/** A batch fragment record (kind 3) for `ops`, whose timestamps are 0. */
export function encodeFragment(ops: readonly Operation[]): Uint8Array {
  const out = encodeOperations(ops);
  out[1] = KIND_FRAGMENT;
  return out;
}

/** A batch commit record (kind 4). */
export function encodeCommit(commit: BatchCommit): Uint8Array {
  const out = new Uint8Array(RECORD_PREFIX_BYTES + COMMIT_FIXED_BYTES + commit.shards.length * COMMIT_SHARD_BYTES);
  const view = new DataView(out.buffer);
  out[0] = RECORD_VERSION;
  out[1] = KIND_COMMIT;
  view.setUint32(4, commit.count, true);
  view.setBigUint64(8, BigInt(commit.firstFragmentLsn), true);
  view.setUint32(16, commit.fragments, true);
  view.setUint32(20, commit.shards.length, true);
  let at = RECORD_PREFIX_BYTES + COMMIT_FIXED_BYTES;
  for (const s of commit.shards) {
    view.setUint16(at, s.shard, true);
    view.setUint32(at + 4, s.operations, true);
    view.setBigUint64(at + 8, s.firstTs, true);
    at += COMMIT_SHARD_BYTES;
  }
  return out;
}

function decodeCommitBody(payload: Uint8Array, view: DataView, count: number): BatchCommit {
  if (payload.length < RECORD_PREFIX_BYTES + COMMIT_FIXED_BYTES) throw new Error("batch commit record is shorter than its fixed part");
  const shardCount = view.getUint32(20, true);
  if (payload.length !== RECORD_PREFIX_BYTES + COMMIT_FIXED_BYTES + shardCount * COMMIT_SHARD_BYTES) throw new Error("batch commit record has the wrong size");
  const shards: BatchCommit["shards"] = [];
  let at = RECORD_PREFIX_BYTES + COMMIT_FIXED_BYTES;
  let operations = 0;
  for (let i = 0; i < shardCount; i++) {
    const entry = { shard: view.getUint16(at, true), operations: view.getUint32(at + 4, true), firstTs: view.getBigUint64(at + 8, true) };
    if (entry.firstTs === 0n) throw new Error(`batch commit record gives shard ${entry.shard} timestamp 0`);
    shards.push(entry);
    operations += entry.operations;
    at += COMMIT_SHARD_BYTES;
  }
  if (operations !== count) throw new Error(`batch commit record counts ${count} operations but its shards ${operations}`);
  return { firstFragmentLsn: Number(view.getBigUint64(8, true)), fragments: view.getUint32(16, true), count, shards };
}

/**
 * Calls `each` for every operation of a checked operations or fragment record, with its key
 * and value as views of `payload` (no copy); with `only`, just for those of the shards it
 * accepts.
 */
export function forEachOperation(
  payload: Uint8Array,
  each: (type: number, shard: number, key: Uint8Array, value: Uint8Array | undefined) => void,
  only?: (shard: number) => boolean,
): void {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(4, true);
  let at = RECORD_PREFIX_BYTES;
  for (let i = 0; i < count; i++) {
    const type = payload[at];
    const shard = view.getUint16(at + 2, true);
    const keyLength = view.getUint16(at + 4, true);
    const valueLength = type === OP_PUT ? view.getUint32(at + 8, true) : 0;
    const keyAt = at + OP_HEADER_BYTES;
    at = keyAt + keyLength + valueLength;
    if (only && !only(shard)) continue;
    each(type, shard, payload.subarray(keyAt, keyAt + keyLength), type === OP_PUT ? payload.subarray(keyAt + keyLength, at) : undefined);
  }
}

/**
 * True when `payload` is an operations record whose operations are framed as decodeRecord
 * requires and name shards below `shards` (checked without copying anything).
 */
export function isOperationsRecord(payload: Uint8Array, shards: number): boolean {
  if (payload.length < RECORD_PREFIX_BYTES || payload[0] !== RECORD_VERSION || payload[1] !== KIND_OPERATIONS) return false;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = view.getUint32(4, true);
  let at = RECORD_PREFIX_BYTES;
  for (let i = 0; i < count; i++) {
    if (at + OP_HEADER_BYTES > payload.length) return false;
    const type = payload[at];
    if ((type !== OP_PUT && type !== OP_DELETE) || view.getUint16(at + 2, true) >= shards) return false;
    at += OP_HEADER_BYTES + view.getUint16(at + 4, true) + (type === OP_PUT ? view.getUint32(at + 8, true) : 0);
  }
  return at === payload.length;
}
