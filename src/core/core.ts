/**
 * Core: one thread's handle on the shardline WebAssembly core.
 *
 * The creating thread calls `Core.create`, which compiles the embedded module once per
 * process, makes the shared memory and lays out the control region (`coreInit`). Every
 * other thread receives `{ module, memory }` (both structured-cloneable) and calls
 * `Core.attach`. Each Core then owns one ThreadBlock in shared memory (assembly/thread.ts)
 * whose staging area carries keys and values into the core, so one call does one write.
 *
 * Threads: a Core belongs to the thread that made it; the memory behind it is shared.
 *
 * Views (docs/ARCHITECTURE.md, "Decision: the whole shared memory is reserved at open"):
 * `Core.create` makes the memory with initial = maximum pages, so it never grows and its
 * buffer never changes length. Invariant: every JS view of the shared memory, on every
 * thread (opener, attached workers, the actor, the durability worker), is one of this
 * Core's `u8`, `u32`, `i32`, `u64`, made once in the constructor over the whole memory;
 * so no read or write goes through a view shorter than the address it touches. Nothing
 * else may wrap `memory.buffer`. The constructor refuses a memory whose buffer does not
 * cover the core's heap limit (one not made by `Core.create`), so the core's `memory.grow`
 * (assembly/heap.ts) can never run. Untouched pages cost no resident memory (measured in
 * Node, Bun and Deno: RSS unchanged after reserving 3 × 4 GiB).
 */
import { CORE_WASM_BASE64 } from "./wasm-binary.ts";

/** The module's exports, typed. Addresses and u32 values arrive as (possibly negative) i32. */
export interface CoreExports {
  coreInit(shards: number, heapLimitBytes: number): number;
  coreReady(): number;
  coreLayoutVersion(): number;
  coreShardCount(): number;
  coreHeapTop(): number;
  coreHeapStart(): number;
  coreHeapLimit(): number;
  coreKeyBytesMax(): number;
  coreValueBytesMax(): number;
  coreAlloc(bytes: number): number;
  coreFree(ptr: number, bytes: number): number;
  coreAllocPermanent(bytes: number, alignment: number): number;
  hash32(ptr: number, length: number, seed: number): number;
  shardOf(ptr: number, length: number): number;
  crc32c(crc: number, ptr: number, length: number): number;
  bytesAllZero(ptr: number, length: number): number;
  shardRecordAddress(shard: number): number;
  shardNextTimestamp(shard: number): bigint;
  shardCommitCounter(shard: number): bigint;
  shardRaiseCounter(shard: number, ts: bigint): bigint;
  shardActiveMemtable(shard: number): number;
  shardSetActiveMemtable(shard: number, mt: number): number;
  shardMemtableBytesUsed(shard: number): number;
  shardMemtableCapacity(shard: number): number;
  shardSubscribers(shard: number): number;
  shardAddSubscribers(shard: number, delta: number): number;
  memtableCreate(bytes: number): number;
  memtableRelease(mt: number): number;
  memtablePut(mt: number, shard: number, key: number, keyLength: number, value: number, valueLength: number): number;
  memtableInsert(mt: number, key: number, keyLength: number, value: number, valueLength: number, ts: bigint, seq: bigint): number;
  memtableGetVisible(mt: number, key: number, keyLength: number, snapshot: number): number;
  memtableGet(mt: number, key: number, keyLength: number, ts: bigint): number;
  memtableSeekGE(mt: number, key: number, keyLength: number, ts: bigint): number;
  memtableSeekLT(mt: number, key: number, keyLength: number, ts: bigint): number;
  memtableFirst(mt: number): number;
  memtableLast(mt: number): number;
  memtableNext(node: number): number;
  memtablePrev(mt: number, node: number): number;
  memtableBytesUsed(mt: number): number;
  memtableCapacity(mt: number): number;
  memtableCount(mt: number): number;
  walRingFormat(ring: number, capacity: number, salt: number, startLsn: bigint, recordBytesMax: number): number;
  walReserve(ring: number, payloadLength: number): number;
  walPublishReserved(ring: number, payloadLength: number, type: number): number;
  walAppend(ring: number, source: number, length: number): number;
  walScan(ring: number, from: bigint, limit: bigint): bigint;
  walRelease(ring: number, upTo: bigint): void;
  walPublishDurable(ring: number, lsn: bigint, records: bigint): void;
  walSetState(ring: number, state: number, failCode: number): number;
  walHeaderCrc(salt: number, lsn: bigint, word: number, payloadCrc: number): number;
  walValidate(buffer: number, length: number, salt: number, lsn: bigint): number;
  walFindValidHeader(buffer: number, length: number, salt: number, lsn: bigint, start: number): number;
  engineWrite(ring: number, key: number, keyLength: number, value: number, valueLength: number): number;
  engineBatch(ring: number, ops: number, opsBytes: number, count: number, scratch: number): number;
  epochEnter(): void;
  epochExit(): void;
  epochAdvance(): number;
  epochQuiet(retired: number): number;
  shardInstallActive(shard: number, mt: number): void;
  shardRotateActive(shard: number, next: number): number;
  shardDropOldestFrozen(shard: number): number;
  shardMemtableList(shard: number): number;
  shardSetFastWrite(shard: number, enabled: number): number;
  memtableFreeze(mt: number): number;
  memtableWriters(mt: number): number;
  memtableMinGroupLsn(mt: number): number;
  memtableNoteGroupLsn(mt: number, lsn: number): void;
  engineFastWrites(): number;
  threadAttach(): number;
  threadDetach(): void;
  currentThreadBlock(): number;
}

/** Status codes the core returns in place of an address (assembly/layout.ts). */
export const Status = {
  OK: 0,
  FULL: 1,
  DUPLICATE: 2,
  KEY_TOO_LARGE: 3,
  VALUE_TOO_LARGE: 4,
  BAD_SHARD: 5,
  NO_MEMORY: 6,
  NOT_READY: 7,
  BAD_ARGUMENT: 8,
  FROZEN: 9,
} as const;
/** Values below this are statuses, values at or above it are addresses. */
export const STATUS_LIMIT = 64;

/** Largest key in bytes (assembly/layout.ts KEY_BYTES_MAX). */
export const KEY_BYTES_MAX = 2048;
/** Largest value in bytes (assembly/layout.ts VALUE_BYTES_MAX). */
export const VALUE_BYTES_MAX = 1 << 20;
/** Most shards one database may have (assembly/layout.ts SHARDS_MAX). */
export const SHARDS_MAX = 256;
/** Largest memory the core can address (a u32 pointer must not wrap). */
export const MEMORY_BYTES_LIMIT = 0xffff0000;

const PAGE_BYTES = 65536;
/** ThreadBlock offsets (assembly/thread.ts). */
const TB_RESULT = 64;
const TB_SHARD_LIST = 1408;
const TB_STAGING = 4096;
/** Staging capacity: a maximal key plus a maximal value plus slack (assembly/thread.ts). */
export const STAGING_BYTES = KEY_BYTES_MAX + VALUE_BYTES_MAX + 64 * 1024;

let compiled: Promise<WebAssembly.Module> | undefined;

/** The core module, compiled once per process from the embedded bytes. */
export function compileCore(): Promise<WebAssembly.Module> {
  compiled ??= WebAssembly.compile(coreBytes());
  return compiled;
}

/** The embedded core's bytes. */
export function coreBytes(): Uint8Array<ArrayBuffer> {
  const text = atob(CORE_WASM_BASE64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

export interface CoreOptions {
  /** Shards laid out in the control region, 1..SHARDS_MAX. */
  shards: number;
  /** The memory's size in bytes (rounded up to 64 KiB pages), all reserved at create. */
  memoryBytesMax: number;
}

/** Thrown when the core cannot do what it is asked with the memory it has. */
export class CoreError extends Error {
  override readonly name = "CoreError";
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

export class Core {
  readonly exports: CoreExports;
  /** Address of this thread's ThreadBlock. */
  readonly threadBlock: number;
  /** Address of this thread's staging area (STAGING_BYTES long). */
  readonly staging: number;
  /** Address of this thread's 64-byte result area. */
  readonly result: number;
  /** Address where `shardMemtableList` writes a shard's memtables (u32 each, newest first). */
  readonly shardList: number;
  /** Views over the whole shared memory, made once (the buffer never changes length). */
  readonly u8: Uint8Array;
  readonly u32: Uint32Array;
  /** For Atomics.wait / notify and other i32 atomics. */
  readonly i32: Int32Array;
  readonly u64: BigUint64Array;
  #detached = false;

  private constructor(
    readonly module: WebAssembly.Module,
    readonly memory: WebAssembly.Memory,
    instance: WebAssembly.Instance,
  ) {
    this.exports = instance.exports as unknown as CoreExports;
    if (this.exports.coreReady() !== 1) {
      throw new CoreError("the shared memory holds no initialised shardline core of this layout version", Status.NOT_READY);
    }
    if (this.exports.coreKeyBytesMax() !== KEY_BYTES_MAX || this.exports.coreValueBytesMax() !== VALUE_BYTES_MAX) {
      throw new CoreError("the core's size limits differ from src/core/core.ts: rebuild the core", Status.BAD_ARGUMENT);
    }
    const buffer = memory.buffer;
    const heapLimitBytes = this.exports.coreHeapLimit() >>> 0;
    if (buffer.byteLength < heapLimitBytes) {
      throw new CoreError(
        `the shared memory is ${buffer.byteLength} bytes but the core's heap reaches ${heapLimitBytes}: it must be reserved in full (Core.create)`,
        Status.BAD_ARGUMENT,
      );
    }
    this.u8 = new Uint8Array(buffer);
    this.u32 = new Uint32Array(buffer);
    this.i32 = new Int32Array(buffer);
    this.u64 = new BigUint64Array(buffer);
    const block = this.exports.threadAttach() >>> 0;
    if (block === 0) throw new CoreError("no memory left for this thread's block", Status.NO_MEMORY);
    this.threadBlock = block;
    this.staging = block + TB_STAGING;
    this.result = block + TB_RESULT;
    this.shardList = block + TB_SHARD_LIST;
  }

  /** Compiles the core if needed, creates the shared memory (all of it, once) and initialises it. */
  static async create(options: CoreOptions): Promise<Core> {
    const { shards, memoryBytesMax } = options;
    if (!Number.isInteger(shards) || shards < 1 || shards > SHARDS_MAX) {
      throw new RangeError(`shards must be an integer from 1 to ${SHARDS_MAX}, got ${shards}`);
    }
    if (!Number.isInteger(memoryBytesMax) || memoryBytesMax < 8 * PAGE_BYTES || memoryBytesMax > MEMORY_BYTES_LIMIT) {
      throw new RangeError(`memoryBytesMax must be an integer from ${8 * PAGE_BYTES} to ${MEMORY_BYTES_LIMIT}, got ${memoryBytesMax}`);
    }
    const pages = Math.ceil(memoryBytesMax / PAGE_BYTES);
    const module = await compileCore();
    // initial = maximum: the buffer has its final length before any view is made.
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const status = (instance.exports as unknown as CoreExports).coreInit(shards, Math.min(pages * PAGE_BYTES, MEMORY_BYTES_LIMIT));
    if (status !== Status.OK) throw new CoreError(`core initialisation failed with status ${status}`, status);
    return new Core(module, memory, instance);
  }

  /** This thread's handle on a core another thread created. */
  static async attach(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Core> {
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    return new Core(module, memory, instance);
  }

  /** Copies `bytes` into the staging area at `offset`; returns its address. Caller checks sizes. */
  stage(bytes: Uint8Array, offset = 0): number {
    const at = this.staging + offset;
    this.u8.set(bytes, at);
    return at;
  }

  /** A copy of `length` bytes at `ptr`. */
  copyOut(ptr: number, length: number): Uint8Array {
    return this.u8.slice(ptr, ptr + length);
  }

  /** CRC-32C of `data`, continuing from `crc` (0 to start). */
  crc32c(data: Uint8Array, crc = 0): number {
    let c = crc >>> 0;
    for (let i = 0; i < data.length; i += STAGING_BYTES) {
      const part = data.subarray(i, i + STAGING_BYTES);
      c = this.exports.crc32c(c, this.stage(part), part.length) >>> 0;
    }
    return c;
  }

  /** xxh32 of `data` with `seed`. `data` must fit the staging area. */
  hash32(data: Uint8Array, seed = 0): number {
    if (data.length > STAGING_BYTES) throw new RangeError(`hash32 input is ${data.length} bytes; the limit is ${STAGING_BYTES}`);
    return this.exports.hash32(this.stage(data), data.length, seed) >>> 0;
  }

  /** The shard `key` belongs to. */
  shardOf(key: Uint8Array): number {
    checkKey(key);
    return this.exports.shardOf(this.stage(key), key.length) >>> 0;
  }

  get shardCount(): number {
    return this.exports.coreShardCount();
  }

  /** Gives this thread's block back. The Core must not be used afterwards. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    this.exports.threadDetach();
  }
}

/** Throws a RangeError naming the limit when a key is too large. */
export function checkKey(key: Uint8Array): void {
  if (key.length > KEY_BYTES_MAX) {
    throw new RangeError(`key is ${key.length} bytes; the limit is ${KEY_BYTES_MAX} bytes (KEY_BYTES_MAX)`);
  }
}

/** Throws a RangeError naming the limit when a value is too large. */
export function checkValue(value: Uint8Array): void {
  if (value.length > VALUE_BYTES_MAX) {
    throw new RangeError(`value is ${value.length} bytes; the limit is ${VALUE_BYTES_MAX} bytes (VALUE_BYTES_MAX)`);
  }
}
