/**
 * Nearest name: for an unknown option, the known one the caller most likely meant, by
 * Levenshtein edit distance (insertions, deletions, substitutions; case-insensitive).
 * A suggestion is made only within `max(2, a third of the name's length)` edits, so
 * "shard" suggests "shards" but "xyz" suggests nothing.
 * Threads: pure.
 */

/** Levenshtein distance between `a` and `b` (one row of the DP table kept). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The name in `known` closest to `name`, or undefined when none is close enough. */
export function nearestName(name: string, known: readonly string[]): string | undefined {
  const limit = Math.max(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return bestDistance <= limit ? best : undefined;
}

/** TypeError for the first key of `options` not in `known`: "unknown option shard; did you mean shards?". */
export function rejectUnknownNames(options: object, known: readonly string[], prefix = ""): void {
  for (const name of Object.keys(options)) {
    if (known.includes(name)) continue;
    const near = nearestName(name, known);
    throw new TypeError(`unknown option ${prefix}${name}${near === undefined ? "" : `; did you mean ${prefix}${near}?`}`);
  }
}
