// Figures the benchmarks share.

/** The p-th percentile of an ascending list (0 for an empty one). */
export function pct(sorted: ArrayLike<number>, p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * Sustained rate (per second, one decimal) of events at these ascending times (ms): those between the
 * 10th and 90th percentile times, so the start burst of bucket tokens and the drain tail do not count.
 * 0 with fewer than two events.
 */
export function sustainedMps(sortedTimes: readonly number[]): number {
  if (sortedTimes.length < 2) return 0;
  const i10 = Math.floor(sortedTimes.length * 0.1);
  const i90 = Math.max(i10 + 1, Math.floor(sortedTimes.length * 0.9));
  const spanS = Math.max(0.001, (sortedTimes[i90] - sortedTimes[i10]) / 1000);
  return Math.round(((i90 - i10) / spanS) * 10) / 10;
}
