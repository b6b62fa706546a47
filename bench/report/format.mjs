// How figures are written in the tables, the Markdown and the chart: rates with a
// thousands separator or a k/M suffix, times in the unit that keeps 3 significant
// digits, ratios with an "x". Pure functions; used by scripts/bench.mjs (Node).

/** 1234567 -> "1,234,567" */
export function count(n) {
  return Math.round(n).toLocaleString("en-US");
}

/** 1234567 -> "1.23M", 45600 -> "45.6k" (for the chart's labels) */
export function compact(n) {
  const abs = Math.abs(n);
  const fmt = (x, suffix) => `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}${suffix}`;
  if (abs >= 1e9) return fmt(n / 1e9, "G");
  if (abs >= 1e6) return fmt(n / 1e6, "M");
  if (abs >= 1e3) return fmt(n / 1e3, "k");
  return fmt(n, "");
}

/** A duration given in microseconds, in ns, µs, ms or s with 3 significant digits. */
export function micros(us) {
  if (us < 1) return `${(us * 1000).toPrecision(3)} ns`;
  if (us < 1000) return `${us.toPrecision(3)} µs`;
  if (us < 1e6) return `${(us / 1000).toPrecision(3)} ms`;
  return `${(us / 1e6).toPrecision(3)} s`;
}

/** A ratio: 3.14159 -> "3.14x", 0.0123 -> "0.012x" */
export function ratio(x) {
  return `${x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(2)}x`;
}

/** Bytes in GiB, MiB or KiB. */
export function bytes(n) {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}
