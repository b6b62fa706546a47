// Memory layout of the shardline core.
//
// One shared WebAssembly.Memory holds everything. AssemblyScript's own runtime is not
// thread-safe (static data is re-copied on every instantiation, module globals are per
// instance), so the core owns the memory itself: the module has no data segments and no
// mutable static data; all shared state lives in the control region and the heap below,
// laid out by `coreInit` once, before any other thread attaches.
//
//   0                         CONTROL_BASE (4 KiB)
//   +-------------------------+  AssemblyScript's reserved low memory (__heap_base is
//   | unused, never written   |  checked to be at or below CONTROL_BASE at init)
//   +-------------------------+ CONTROL_BASE
//   | ControlHeader  256 B    |  magic, layout version, init state, shard count,
//   |                         |  heap bump pointer and limit, thread counter,
//   |                         |  the heap's free list and its lock
//   +-------------------------+ CRC_TABLES = CONTROL_BASE + 256
//   | CRC-32C tables 16 KiB   |  16 x 256 x u32, slicing-by-16; written once by coreInit,
//   |                         |  read-only afterwards
//   +-------------------------+ THREAD_REGISTRY = CRC_TABLES + 16384
//   | u32 threadBlocks[256]   |  every attached thread's block (0 = free slot), so the
//   |                         |  reclaimer can read each thread's epoch (epoch.ts)
//   +-------------------------+ SHARD_TABLE = THREAD_REGISTRY + 1024
//   | ShardShared[shards]     |  128 B each (two cache lines), see shard.ts
//   +-------------------------+ heap start (64-aligned)
//   | heap: memtable arenas,  |  bump-allocated with one CAS (heap.ts); grows the memory
//   | thread blocks, rings    |  on demand up to the configured limit
//   +-------------------------+ heapLimit
//
// ControlHeader (offsets from CONTROL_BASE), all fields little-endian:
//
//   +0   u32 magic          0x4E4C4853 ("SHLN")
//   +4   u32 layoutVersion  LAYOUT_VERSION
//   +8   u32 initState      0 = untouched, 1 = initialising, 2 = ready   (atomic)
//   +12  u32 shardCount     1..SHARDS_MAX, fixed at init
//   +16  u32 heapTop        next free heap byte (atomic, CAS-advanced)
//   +20  u32 heapLimit      heap may not grow past this address
//   +24  u32 threadCount    threads attached so far (atomic, gives thread ids)
//   +28  u32 heapStart      first heap byte
//   +32 .. +64 reserved (zero)
//   +64  u32 freeHead       the first free block of the heap (heap.ts), 0 if none; under the heap lock
//   +68  u32 heapLock       0 free, 1 held (heap.ts); on a cache line of its own with freeHead,
//                           so a thread waiting for it does not slow the readers of the first line
//   +72 .. +160 reserved (zero)
//   +160 u32 generation     memtables formatted so far (atomic, gives each a generation)
//   +164 u32 epoch          the reclamation epoch (atomic, epoch.ts)
//   +168 u64 fastWritesDone fast-path writes of threads that detached (atomic, thread.ts)
//   +176 .. +256 reserved (zero)

export const CONTROL_BASE: usize = 4096;
export const LAYOUT_VERSION: u32 = 5;
export const CORE_MAGIC: u32 = 0x4e4c4853;

export const CTL_MAGIC: usize = 0;
export const CTL_LAYOUT_VERSION: usize = 4;
export const CTL_INIT_STATE: usize = 8;
export const CTL_SHARD_COUNT: usize = 12;
export const CTL_HEAP_TOP: usize = 16;
export const CTL_HEAP_LIMIT: usize = 20;
export const CTL_THREAD_COUNT: usize = 24;
export const CTL_HEAP_START: usize = 28;
export const CTL_FREE_HEAD: usize = 64;
export const CTL_HEAP_LOCK: usize = 68;
export const CTL_GENERATION: usize = 160;
export const CTL_EPOCH: usize = 164;
export const CTL_FAST_WRITES_DONE: usize = 168;
export const CONTROL_HEADER_BYTES: usize = 256;


export const INIT_UNTOUCHED: u32 = 0;
export const INIT_RUNNING: u32 = 1;
export const INIT_READY: u32 = 2;

export const CRC_TABLES: usize = CONTROL_BASE + CONTROL_HEADER_BYTES;
export const CRC_TABLES_BYTES: usize = 16 * 256 * 4;

export const THREAD_REGISTRY: usize = CRC_TABLES + CRC_TABLES_BYTES;
export const THREADS_MAX: u32 = 256;
export const SHARD_TABLE: usize = THREAD_REGISTRY + <usize>THREADS_MAX * 4;
export const SHARD_RECORD_BYTES: usize = 128;
export const SHARDS_MAX: u32 = 256;

/** Highest address the heap may ever reach: a u32 pointer must not wrap. */
export const HEAP_ADDRESS_MAX: u64 = 0xffff0000;

/** Status codes returned in place of a pointer. Real pointers are always >= CONTROL_BASE. */
export const STATUS_OK: u32 = 0;
export const STATUS_FULL: u32 = 1;
export const STATUS_DUPLICATE: u32 = 2;
export const STATUS_KEY_TOO_LARGE: u32 = 3;
export const STATUS_VALUE_TOO_LARGE: u32 = 4;
export const STATUS_BAD_SHARD: u32 = 5;
export const STATUS_NO_MEMORY: u32 = 6;
export const STATUS_NOT_READY: u32 = 7;
export const STATUS_BAD_ARGUMENT: u32 = 8;
export const STATUS_FROZEN: u32 = 9;
/** Every value below this is a status; every value at or above it is a pointer. */
export const STATUS_LIMIT: u32 = 64;

/** Largest key the core accepts, in bytes. */
export const KEY_BYTES_MAX: u32 = 2048;
/** Largest value the core accepts, in bytes. */
export const VALUE_BYTES_MAX: u32 = 1 << 20;

@inline
export function alignUp(value: usize, alignment: usize): usize {
  return (value + alignment - 1) & ~(alignment - 1);
}

@inline
export function shardCount(): u32 {
  return load<u32>(CONTROL_BASE + CTL_SHARD_COUNT);
}
