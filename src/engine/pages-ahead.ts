/**
 * PagesAhead: the actor maps the pages that writers are about to fill, each shard's active
 * memtable and the group WAL ring, a window ahead of them, so that the writers do not take
 * the page faults.
 *
 * Why: a memtable's nodes are bump-allocated from its arena; an arena the core has not
 * used before lies on pages no thread has touched, and the first write to each costs a page
 * fault. On this project's VM (Firecracker) a first touch of a shared memory's page costs
 * ~12 µs, ~27 puts of 100-byte values share a page, so a writer filling a fresh memtable paid
 * ~0.5 µs a put in faults, and as much again for its log record in the ring's first lap
 * (docs/PERFORMANCE.md, "Page faults on fresh memory"). The actor is idle while fast-path
 * writers write, so it takes the faults instead, on its own core.
 *
 * How: for each shard, the pages of the active memtable from its start (a fresh arena's key
 * index, after its header, is not written at its format) up to MEMTABLE_WINDOW_BYTES
 * beyond its cursor (bytes used); for the ring, from its reserve head up to
 * RING_WINDOW_BYTES beyond, until one whole lap is mapped (the ring is never given back
 * while the database is open). At most STEP_PAGES_MAX pages a call, so that the actor comes
 * back to its request ring between steps; while steps find pages to touch it looks every
 * ACTIVE_POLL_MS (pollMs), so a writer that trickles into an already mapped window does not
 * keep it polling. Only ahead of a cursor that moved: a database nobody writes to touches nothing,
 * and costs no resident memory for it. An arena reused from the core's free lists is
 * already mapped; touching it again costs ~50 ns a page.
 *
 * A touch is `Atomics.add(word, 0)` on the page's first 4 bytes: an atomic read-modify-write
 * that writes back what it read. A writer may be writing a node over that word at the same
 * time (it reserved the bytes and is filling them): the processor performs the add
 * indivisibly, before or after each of the writer's stores, so either way the word ends up
 * as the writer wrote it. A plain store of 0 could erase the writer's bytes; a plain load
 * would map the zero page and leave the write fault to the writer.
 *
 * Invariants: touches stay within [arena, arena + capacity) of an arena read as its shard's
 * active memtable during the same step, or within the ring's data;
 * `#touchedTo[shard]` is an offset in `#arena[shard]`. In the actor the arena cannot be
 * given back during the step (only the actor releases memtables, and it is running this);
 * in recovery's helper (replay-pages.ts) replay may flush and release one meanwhile and the
 * core hand its block out again. Either way a touch changes no byte and stays inside the
 * memory, which never shrinks, so touching a block that changed hands is only wasted work.
 * Threads: one owner (the actor, or the replay helper's thread), its own state; the memory
 * it touches is shared with every writer (fast-path threads and replay write nodes and
 * records into the pages being touched).
 */
import type { Core } from "../core/core.ts";
import type { RingView } from "../wal/ring.ts";

/** How far ahead of a shard's memtable cursor pages are mapped, bytes. */
export const MEMTABLE_WINDOW_BYTES = 1 << 20;
/** How far ahead of the ring's reserve head pages are mapped, bytes (all shards' writers share it). */
export const RING_WINDOW_BYTES = 4 << 20;
/** How often the actor looks at the cursors while writers are filling pages, ms. */
export const ACTIVE_POLL_MS = 2;
/** Steps without a cursor move after which the actor sleeps its idle time again (~100 ms of polls). */
export const QUIET_STEPS_MAX = 50;
/** Pages touched in one step at most (~0.8 ms at 12 µs a fault), so requests wait little. */
export const STEP_PAGES_MAX = 64;
export const PAGE_BYTES = 4096;

export class PagesAhead {
  /** Per shard: the active memtable seen last (0: none yet), its cursor then, and the offset below which its pages are mapped. */
  readonly #arena: number[];
  readonly #usedSeen: number[];
  readonly #touchedTo: number[];
  /** The ring's LSN below which its pages are mapped, the end of its first lap, the head seen last (-1: not yet). */
  #ringTouchedTo = 0;
  #ringLapEnd = 0;
  #ringHeadSeen = -1;
  /** Steps in a row that touched no page (0 at open: writes usually follow it at once). */
  #quietSteps = 0;

  /**
   * `ring`: the group WAL ring to map ahead of its head (undefined: memtables only).
   * `options`: the memtable window; `firstSeenMoving`, whether the memtables seen at the
   * first step are being written already (recovery's replay: replay-pages.ts), else they
   * wait for their cursor to move. `touch`: maps the page holding `address` (tests pass a
   * recorder).
   */
  constructor(
    private readonly core: Core,
    shards: number,
    private readonly ring: RingView | undefined,
    private readonly options: { memtableWindowBytes: number; firstSeenMoving: boolean } = { memtableWindowBytes: MEMTABLE_WINDOW_BYTES, firstSeenMoving: false },
    private readonly touch: (address: number) => void = (address) => void Atomics.add(core.i32, address >>> 2, 0),
  ) {
    this.#arena = new Array(shards).fill(0);
    this.#usedSeen = new Array(shards).fill(0);
    this.#touchedTo = new Array(shards).fill(0);
  }

  /**
   * How long the actor may sleep when it has nothing else to do, ms: ACTIVE_POLL_MS after
   * open and while steps find pages to touch, until QUIET_STEPS_MAX steps in a row touched
   * none (at ~200 MB/s writers cross the ring's window in ~20 ms), else `idleMs`.
   */
  pollMs(idleMs: number): number {
    return this.#quietSteps < QUIET_STEPS_MAX ? ACTIVE_POLL_MS : idleMs;
  }

  /** Touches up to STEP_PAGES_MAX pages ahead of the ring's and the shards' cursors; whether it touched any. */
  step(): boolean {
    const budget = this.#stepMemtables(STEP_PAGES_MAX - this.#stepRing(STEP_PAGES_MAX));
    const touched = budget < STEP_PAGES_MAX;
    this.#quietSteps = touched ? 0 : this.#quietSteps + 1;
    return touched;
  }

  /** The ring's pages from its head toward head + RING_WINDOW_BYTES, until a lap is mapped; returns how many it touched. */
  #stepRing(budget: number): number {
    if (this.ring === undefined) return 0;
    const head = this.ring.reserveHead;
    if (this.#ringHeadSeen < 0) {
      this.#ringHeadSeen = head;
      this.#ringTouchedTo = head;
      this.#ringLapEnd = head + this.ring.capacity;
      return 0;
    }
    if (this.#ringTouchedTo >= this.#ringLapEnd) return 0; // every page of the ring is mapped
    if (head === this.#ringHeadSeen && this.#ringTouchedTo <= head) return 0; // nobody writes
    this.#ringHeadSeen = head;
    const { data, capacity } = this.ring;
    const end = Math.min(this.#ringLapEnd, head + RING_WINDOW_BYTES);
    let lsn = Math.max(this.#ringTouchedTo, head);
    let pages = 0;
    for (; lsn < end && pages < budget; pages++) {
      const at = data + (lsn % capacity);
      this.touch(at & ~3);
      lsn += PAGE_BYTES - (at % PAGE_BYTES); // to the next page's start
    }
    this.#ringTouchedTo = Math.max(this.#ringTouchedTo, Math.min(lsn, end));
    return pages;
  }

  /** The shards' active memtables ahead of their cursors with up to `budget` pages; returns what is left of it. */
  #stepMemtables(budget: number): number {
    const e = this.core.exports;
    for (let shard = 0; shard < this.#arena.length && budget > 0; shard++) {
      const arena = e.shardActiveMemtable(shard) >>> 0;
      const used = e.shardMemtableBytesUsed(shard) >>> 0;
      if (arena !== this.#arena[shard]) {
        // The first seen (at open) waits for a write; one installed since (a freeze, because
        // writers filled the last) is written to now: its cursor moved, as far as we know.
        // From the arena's start: a fresh arena's key index (after its header) is not
        // written at its format (assembly/skiplist.ts memtableFormat), inserts reach its
        // pages at random.
        const waits = this.#arena[shard] === 0 && !this.options.firstSeenMoving;
        this.#arena[shard] = arena;
        this.#usedSeen[shard] = waits ? used : -1;
        this.#touchedTo[shard] = 0;
      }
      const still = used === this.#usedSeen[shard];
      if (still && (this.#touchedTo[shard] <= used || this.#touchedTo[shard] >= used + this.options.memtableWindowBytes)) continue; // nobody writes here, or its window is mapped
      this.#usedSeen[shard] = used;
      budget -= this.#touchMemtable(shard, arena, used, budget);
    }
    return budget;
  }

  /**
   * Touches pages of `arena` from touchedTo toward used + the window; returns how many. From
   * touchedTo, not from `used`: a writer fills what it reserved below `used` (a fast-path
   * writer one node, replay a chunk of up to REPLAY_CHUNK_BYTES_MAX), and a page it already
   * mapped costs ~50 ns to touch again.
   */
  #touchMemtable(shard: number, arena: number, used: number, budget: number): number {
    const capacity = this.core.exports.shardMemtableCapacity(shard) >>> 0;
    const end = Math.min(capacity, used + this.options.memtableWindowBytes);
    let offset = this.#touchedTo[shard];
    offset = Math.ceil((arena + offset) / PAGE_BYTES) * PAGE_BYTES - arena; // the next page's start
    let pages = 0;
    for (; offset < end && pages < budget; offset += PAGE_BYTES, pages++) this.touch(arena + offset);
    this.#touchedTo[shard] = Math.max(this.#touchedTo[shard], Math.min(offset, end));
    return pages;
  }
}
