/**
 * LiveReader: what makes a `readOnly` handle follow the writer (docs/ENGINE.md "Live
 * readers"). The handle the user holds routes every read to the newest *view*: a read-only
 * Database built from the files as they were at one refresh (open-read-only.ts: the tables
 * of one MANIFEST plus the group WAL replayed from its checkpoint up to the writer's durable
 * mark). A refresh builds a new view when the MANIFEST or the durable mark changed, then
 * makes it current; the views before it stay alive while a snapshot or scan taken on them
 * is open (each such read keeps reading the view it started on, so it sees one consistent
 * state), and are closed once nothing reads them.
 *
 *   reads ──► current view ◄── refresh: append (same MANIFEST), or build a new view and swap
 *              retired views: closed when their last snapshot / scan ends
 *
 * A refresh whose only news is a newer durable mark (same MANIFEST bytes) appends the log
 * up to it to the current view instead (View.append: versions with their LSN as seq, then
 * the view's visible point moves, so the view's older snapshots and scans see none of it).
 *
 * When: a read starts a refresh in the background if the last one started more than
 * refreshIntervalMs ago (reads never wait for it; the staleness of a read is bounded by
 * that interval plus the time a refresh takes); `await db.refresh()` starts one and waits.
 * One refresh runs at a time.
 *
 * What the writer keeps for us: the handle's ReaderSlot (reader-slots.ts) claims, at every
 * moment, the oldest MANIFEST version and log checkpoint of any live view, and claimed
 * them before any of them was read; a refresh re-writes it after each swap and after views
 * close. If the writer evicted the slot (we held more than its readerRetainBytesMax), the
 * files of the current view may be gone: reads throw ReaderEvictedError, and the next
 * refresh claims everything again and builds a new view from scratch. An eviction is seen
 * whenever it happened: at a refresh, after any rewrite of the slot (the writer leaves a
 * tombstone, reader-slots.ts), when a build or append fails (then the build starts over,
 * claiming everything first), or when a read finds a table of its view gone (#tableGone). Every view that existed when it was seen is stale for good:
 * reads routed to it (a snapshot's, a scan's) throw ReaderEvictedError even after the
 * rebuild, and the slot no longer claims what it reads.
 *
 * Never a torn or undurable record: a view reads the log only below the durable mark
 * (src/wal/durable-mark.ts), read after the MANIFEST, so it also covers every table's
 * versions. Commit order: a view is a prefix of the log at a record boundary.
 * Threads: the thread that opened the handle (its views have no threads of their own).
 */
import { ReaderEvictedError, SnapshotReleasedError } from "../errors.ts";
import type { Platform } from "../platform.ts";
import { readDurableMark } from "../wal/durable-mark.ts";
import { LogTrimmedError } from "../wal/log-tail.ts";
import type { Database } from "./database.ts";
import { MANIFEST_NAME, readManifestBytes } from "./manifest.ts";
import { sameBytes } from "./memtables.ts";
import { durableMarkPath, type ReaderSlot } from "./reader-slots.ts";

/** The longest wait between background refreshes after failures in a row. */
const FAILURE_BACKOFF_MS_MAX = 30_000;

/** Builds a refresh tries when the writer evicts us during them, before it gives up. */
const BUILD_ATTEMPTS_MAX = 3;

/** Closed views between two garbage collections this reader asks for. */
const VIEWS_PER_COLLECTION = 4;

/** What one view was built from. */
export interface ViewSource {
  manifestVersion: number;
  /** The group WAL's checkpoint in that MANIFEST: the view replayed the log from here. */
  checkpoint: number;
  /** The durable mark it read the log up to (undefined: none, the whole clean log). */
  durableLsn: number | undefined;
  /** The MANIFEST's bytes, to tell cheaply whether it changed. */
  manifestBytes: Uint8Array;
}

export interface View {
  db: Database;
  source: ViewSource;
  /**
   * Appends the group WAL up to `endLsn` (a newer durable mark, same MANIFEST) to this view:
   * its versions take their record's LSN as seq and the view's visible point moves to
   * `endLsn`, so snapshots taken before do not see them. false: it would need a flush (the
   * memtables are full): build a new view. Undefined for a view without a mark.
   */
  append?: (endLsn: number) => boolean;
}

/** Builds a view from the files as they are now (open-read-only.ts). */
export type BuildView = () => Promise<View>;

/** Refresh statistics, in stats().coordination.live. */
export interface LiveReaderStats {
  /** Refreshes that found something new and built a view. */
  refreshes: number;
  /** Refreshes that found only more durable log (same MANIFEST) and appended it to the current view. */
  appends: number;
  /** Refreshes that found nothing new. */
  unchanged: number;
  /** Views still open (the current one and retired ones still read). */
  views: number;
  manifestVersion: number;
  durableLsn: bigint | undefined;
  /** When the current view's refresh started (ms since the epoch). */
  refreshedAtMs: number;
  /** Milliseconds the last refresh that built a view took. */
  lastBuildMs: number;
  /** The last refresh's failure, if the last one failed (reads go on with the current view). */
  lastError: string | undefined;
  evicted: boolean;
}

export class LiveReader {
  #current: View;
  readonly #retired: View[] = [];
  #refreshing: Promise<void> | undefined;
  /** Refreshes started so far (the one running is number #refreshesStarted). */
  #refreshesStarted = 0;
  #lastStartMs: number;
  #refreshedAtMs: number;
  #evicted = false;
  #closed = false;
  #closedSinceCollection = 0;
  /** Refreshes that failed in a row. */
  #failures = 0;
  #stats = { refreshes: 0, appends: 0, unchanged: 0, lastBuildMs: 0, lastError: undefined as string | undefined };
  /** Which view each snapshot was taken on (a snapshot reads only its own view). */
  readonly #snapshotViews = new WeakMap<object, Database>();
  /**
   * Views built before an eviction this reader noticed: their files may be gone, so reads
   * routed to them (a snapshot's, a scan's) throw ReaderEvictedError for good, and the slot
   * no longer claims what they read. They close once nothing reads them.
   */
  readonly #stale = new WeakSet<Database>();

  constructor(
    private readonly platform: Platform,
    readonly dir: string,
    private readonly slot: ReaderSlot,
    first: View,
    private readonly build: BuildView,
    private readonly intervalMs: number,
    startedAtMs: number,
  ) {
    this.#current = first;
    first.db.explainTableGone(this.#tableGone);
    this.#lastStartMs = startedAtMs;
    this.#refreshedAtMs = startedAtMs;
    this.#claim();
  }

  /**
   * A view's read found a table of its MANIFEST gone (tables open at their first read): if
   * the writer evicted us, that is why, whether or not a refresh was due to notice it.
   */
  readonly #tableGone = (): Error | undefined => {
    if (this.#closed || !this.slot.evicted) return undefined;
    this.#noteEvicted();
    return new ReaderEvictedError(this.dir);
  };

  /**
   * The view a read goes to: the one `snapshot` was taken on, else the current one (after
   * starting a background refresh if one is due). Throws ReaderEvictedError while the
   * writer no longer keeps our files, whichever view the read would go to: a retired
   * view's files are the oldest the slot claimed, the first the writer deletes.
   */
  route(snapshot?: object): Database {
    // Released: said so here, as a writer's handle does. Routed on, the read reached a view
    // a refresh had closed since, and said ClosedError of an open handle (review, 2026-12-06).
    // Only one of this handle's own: another's, or not a snapshot, is the view's TypeError.
    const view = snapshot === undefined ? undefined : this.#snapshotViews.get(snapshot);
    if (view && (snapshot as { released?: boolean }).released === true) throw new SnapshotReleasedError();
    if (!view) this.#closeUnread();
    if (Date.now() - this.#lastStartMs >= this.#dueAfterMs() && !this.#refreshing) {
      if (this.slot.evicted) this.#noteEvicted();
      this.#refreshInBackground();
    }
    const target = view ?? this.#current.db;
    if (this.#evicted || this.#stale.has(target)) throw new ReaderEvictedError(this.dir);
    return target;
  }

  /**
   * The writer evicted our slot: every view there is now may read files it deleted. Reads
   * throw ReaderEvictedError until a refresh builds a view from scratch, and the views
   * before it stay stale for good (tests/engine/live-reader-eviction.test.ts).
   */
  #noteEvicted(): void {
    this.#evicted = true;
    this.#stale.add(this.#current.db);
    for (const view of this.#retired) this.#stale.add(view.db);
  }

  /**
   * How long after the last refresh started the next background one is due: the interval,
   * or after failures in a row (a log that does not fit the memtables, a file system error)
   * a backoff doubling from 1 s to 30 s, so a failing build is not retried at every read.
   * `refresh()` always tries at once.
   */
  #dueAfterMs(): number {
    const failures = this.#failures;
    if (failures === 0) return this.intervalMs;
    return Math.max(this.intervalMs, Math.min(FAILURE_BACKOFF_MS_MAX, 1000 * 2 ** (failures - 1)));
  }

  /** Notes that `snapshot` belongs to `db` (a view), so reads with it go there. */
  noteSnapshot(snapshot: object, db: Database): void {
    this.#snapshotViews.set(snapshot, db);
  }

  get current(): Database {
    return this.#current.db;
  }

  /**
   * Resolves once a refresh that STARTED AFTER this call is done, so it shows everything
   * durable at the call. One already running (a read's background refresh) may have read
   * the mark before the call: it is waited out, then the next one is joined or started.
   * Refreshes are numbered as they start; the call needs one numbered above the last
   * started at the call, and any such started after the call, so joining it is right; the
   * loop turns at most twice (the running one ends, then the next exists).
   * Joining the running one lost writes durable before the call
   * (tests/engine/live-readers-processes.test.ts).
   */
  async refresh(): Promise<void> {
    const first = this.#refreshesStarted + 1; // the first refresh that starts after this call
    for (;;) {
      if (!this.#refreshing) this.#startRefresh();
      if (this.#refreshesStarted >= first) return this.#refreshing!;
      await this.#refreshing!.catch(() => {});
    }
  }

  #startRefresh(): void {
    this.#refreshesStarted++;
    this.#refreshing = this.#refresh().finally(() => (this.#refreshing = undefined));
  }

  /** A background refresh (a read's): joins the one running, if any. */
  #refreshInBackground(): void {
    if (!this.#refreshing) this.#startRefresh();
    this.#refreshing!.catch(() => {}); // its failure is in stats and in the next refresh()
  }

  async #refresh(): Promise<void> {
    if (this.#closed) return;
    const startedAtMs = Date.now();
    this.#lastStartMs = startedAtMs;
    try {
      this.#closeUnread();
      if (this.slot.evicted) {
        // Everything we read may be gone: claim everything again before reading anything.
        this.#noteEvicted();
        this.slot.reclaim();
      } else {
        const change = this.#change();
        const current = change.kind === "none" || (change.kind === "log" && this.#append(change.durableLsn));
        if (current && !this.slot.evicted) {
          if (change.kind === "none") this.#stats.unchanged++;
          this.#refreshedAtMs = startedAtMs;
          this.#stats.lastError = undefined;
          this.#failures = 0;
          return;
        }
        // Evicted meanwhile (during the append, the writer may have trimmed log it read or
        // deleted the view's tables): as above, before the build.
        if (this.slot.evicted) {
          this.#noteEvicted();
          this.slot.reclaim();
        }
      }
      const view = await this.#buildClaimed();
      if (this.#closed) {
        await view.db.close();
        return;
      }
      view.db.explainTableGone(this.#tableGone);
      this.#retired.push(this.#current);
      this.#current = view;
      this.#evicted = false;
      this.#refreshedAtMs = startedAtMs;
      this.#stats.refreshes++;
      this.#stats.lastBuildMs = Date.now() - startedAtMs;
      this.#stats.lastError = undefined;
      this.#failures = 0;
      this.#closeUnread();
      this.#claim();
    } catch (error) {
      this.#stats.lastError = (error as Error)?.message ?? String(error);
      this.#failures++;
      // An append of the log to the current view that the writer evicted us during (the
      // segment it read trimmed): the view may miss files; say so, the next refresh rebuilds.
      if (!this.#closed && !(error instanceof ReaderEvictedError) && this.slot.evicted) {
        this.#noteEvicted();
        throw new ReaderEvictedError(this.dir);
      }
      throw error;
    }
  }

  /**
   * Builds a view. A build the writer evicted us during (it may have trimmed a segment the
   * build was about to open, or deleted a table: a raw ENOENT or CorruptionError) is
   * started again from scratch, claiming everything first, up to BUILD_ATTEMPTS_MAX times;
   * then it rejects with ReaderEvictedError.
   */
  async #buildClaimed(): Promise<View> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.build();
      } catch (error) {
        if (this.#closed || !this.slot.evicted) throw error;
        this.#noteEvicted();
        if (attempt >= BUILD_ATTEMPTS_MAX) throw new ReaderEvictedError(this.dir);
        this.slot.reclaim();
      }
    }
  }

  /**
   * What changed since the current view was built or last appended to: nothing, only the
   * durable mark (more log, same MANIFEST), or the MANIFEST (a flush or compaction: a new view).
   */
  #change(): { kind: "none" } | { kind: "log"; durableLsn: number } | { kind: "manifest" } {
    const source = this.#current.source;
    let bytes: Uint8Array | undefined;
    try {
      bytes = readManifestBytes(this.platform, this.dir);
    } catch {
      // being replaced: the build reads it properly
    }
    if (!bytes) return { kind: "manifest" };
    const same = sameBytes(bytes, source.manifestBytes);
    if (!same) return { kind: "manifest" };
    // The mark after the MANIFEST: it covers every table of that MANIFEST (as in a build).
    const durableLsn = readDurableMark(this.platform, durableMarkPath(this.dir));
    if (durableLsn === source.durableLsn) return { kind: "none" };
    if (durableLsn === undefined || source.durableLsn === undefined || durableLsn < source.durableLsn) return { kind: "manifest" };
    return { kind: "log", durableLsn };
  }

  /** Appends the log up to `durableLsn` to the current view; false when it cannot (build a new one). */
  #append(durableLsn: number): boolean {
    const view = this.#current;
    try {
      if (!view.append || !view.append(durableLsn)) return false;
    } catch (error) {
      // The log from the view's mark was trimmed (the writer evicted us, or set its log
      // aside): a build reads from the MANIFEST's checkpoint instead. The view is as it was
      // (an append that throws before it raised the visible point shows nothing of it).
      if (error instanceof LogTrimmedError) return false;
      throw error;
    }
    view.source.durableLsn = durableLsn;
    this.#stats.appends++;
    return true;
  }

  /**
   * Closes retired views nothing reads any more. Every VIEWS_PER_COLLECTION closed views,
   * helps the collector (#collectClosedViews): a view's shared memory (its replayed
   * memtables) is freed only when collected, and a thread that mostly refreshes allocates
   * too little to prompt one (Bun grew past 2 GiB in 20 s of refreshes under a writer
   * without it).
   */
  #closeUnread(): void {
    if (this.#retired.length === 0) return;
    let closed = false;
    for (let i = this.#retired.length - 1; i >= 0; i--) {
      const view = this.#retired[i];
      if (view.db.hasOpenReads()) continue;
      this.#retired.splice(i, 1);
      view.db.closeView();
      closed = true;
      if (++this.#closedSinceCollection >= VIEWS_PER_COLLECTION) {
        this.#closedSinceCollection = 0;
        this.#collectClosedViews();
      }
    }
    if (closed && !this.#evicted) this.#claim();
  }

  /**
   * Asks for a collection of the closed views' memories in the cheapest way the runtime
   * has: Bun's asynchronous request (Platform.collectSoon); nothing where the platform
   * weighs shared memories (Node: the weights make V8 start its own major collection as
   * dropped views add up); else a full collection now (Deno), which stops this thread for
   * as long as its heap takes to mark. It was a full collection everywhere until
   * 2026-12-05: a pause on the reader's own thread every VIEWS_PER_COLLECTION views, as
   * long as the application's heap made it (scratch livemem, a reader refreshing under a
   * writer for 20 s: peak RSS Node 232 MiB with it, 252 without; Bun 460 with it, 443 with
   * collectSoon; Deno 283 with it, 381 without, so Deno keeps it).
   */
  #collectClosedViews(): void {
    const platform = this.platform;
    if (platform.collectSoon) platform.collectSoon();
    else if (!platform.weighSharedMemory) platform.collectGarbage?.();
  }

  /** Writes our slot: the oldest MANIFEST version and checkpoint any open view that is not stale reads. */
  #claim(): void {
    let version = this.#current.source.manifestVersion;
    let lsn = this.#current.source.checkpoint;
    for (const view of this.#retired) {
      if (this.#stale.has(view.db)) continue;
      version = Math.min(version, view.source.manifestVersion);
      lsn = Math.min(lsn, view.source.checkpoint);
    }
    try {
      this.slot.update(version, lsn);
    } catch (error) {
      if (!(error instanceof ReaderEvictedError)) throw error;
      this.#noteEvicted();
    }
  }

  /** Live snapshots on every open view: each view has its own slots (a retired view lives while one of them reads it). */
  liveSnapshots(): number {
    let n = 0;
    for (const view of [this.#current, ...this.#retired]) n += view.db.ownLiveSnapshots;
    return n;
  }

  stats(): LiveReaderStats {
    const source = this.#current.source;
    return {
      ...this.#stats,
      views: 1 + this.#retired.length,
      manifestVersion: source.manifestVersion,
      durableLsn: source.durableLsn === undefined ? undefined : BigInt(source.durableLsn),
      refreshedAtMs: this.#refreshedAtMs,
      evicted: this.#evicted,
    };
  }

  /** Closes every view (waiting for a refresh in flight) and gives the slot back. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#refreshing?.catch(() => {});
    for (const view of this.#retired.splice(0)) view.db.closeView();
    this.slot.release();
  }
}
