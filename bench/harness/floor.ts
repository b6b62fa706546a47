/**
 * The physical floor of the benchmark directory's disk, measured in the same run as
 * everything else: p50/p99 of one `fdatasync` after a 4 KiB write,
 * - "append": each write extends the file, so the sync must also persist its new size
 *   (what a naive log pays; the figure durable latencies are compared with);
 * - "overwrite": each write lands in space the file already has (what a log that
 *   preallocates its segments pays: the lowest a durable write can go on this disk).
 * Durable puts are reported as multiples of the append p50, as bench/wal does.
 *
 * Threads: the harness's main thread; blocking I/O through the runtime's Platform.
 */
import type { Platform } from "../../src/platform.ts";
import { median, percentile } from "../lib/timing.ts";

export interface SyncFigures {
  p50Us: number;
  p99Us: number;
  samples: number;
}

export interface Floor {
  fdatasyncAppend: SyncFigures;
  fdatasyncOverwrite: SyncFigures;
}

function syncs(platform: Platform, path: string, samples: number, preallocate: boolean): SyncFigures {
  const file = platform.open(path, "truncate");
  const block = new Uint8Array(4096).fill(0x5a);
  try {
    if (preallocate) {
      file.write(new Uint8Array((samples + 2) * 4096), 0);
      file.sync();
    }
    // Two unmeasured syncs first: the first one also settles the file's creation.
    for (let i = 0; i < 2; i++) {
      file.write(block, i * 4096);
      file.datasync();
    }
    const us: number[] = [];
    for (let i = 2; i < samples + 2; i++) {
      const t = performance.now();
      file.write(block, i * 4096);
      file.datasync();
      us.push((performance.now() - t) * 1000);
    }
    return { p50Us: median(us), p99Us: percentile(us, 99), samples };
  } finally {
    file.close();
    platform.unlink(path);
  }
}

/** Measures both floors in `dir` (a directory on the disk every workload uses). */
export function measureFloor(platform: Platform, dir: string, samples: number): Floor {
  return {
    fdatasyncAppend: syncs(platform, `${dir}/floor-append`, samples, false),
    fdatasyncOverwrite: syncs(platform, `${dir}/floor-overwrite`, samples, true),
  };
}
