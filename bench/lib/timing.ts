/** Timing helpers for benchmarks. performance.now() exists in every runtime. */

export interface Summary {
  ops: number;
  seconds: number;
  nsPerOp: number;
  opsPerSecond: number;
}

export function summarize(ops: number, ms: number): Summary {
  const seconds = ms / 1000;
  return { ops, seconds, nsPerOp: (ms * 1e6) / ops, opsPerSecond: ops / seconds };
}

/** Median of a numeric array (copied, not mutated). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Percentile p in [0, 100] by nearest rank. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank];
}
