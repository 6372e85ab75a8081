/** The words of a job's progress, shared by the status bar, its tooltip, notifications and panels. Pure (unit-tested in node). */

/** A time-left estimate is shown once a phase has run this long and is this far along. */
const MIN_ELAPSED_MS = 1500;
const MIN_FRACTION = 0.03;

/** "12 s", "3 min", "1 h 05 min". */
export function duration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  if (s < 90) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 90) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

/** Time left in a phase by linear extrapolation of its elapsed time, or null when too early to say. */
export function timeLeft(fraction: number | null, elapsedMs: number): number | null {
  if (fraction === null || fraction < MIN_FRACTION || fraction >= 1 || elapsedMs < MIN_ELAPSED_MS) return null;
  return (elapsedMs * (1 - fraction)) / fraction;
}

/** "scoring heldout-brown.txt 45% · about 12 s left". */
export function describeProgress(phase: string, fraction: number | null, elapsedMs: number): string {
  const left = timeLeft(fraction, elapsedMs);
  return `${phase}${fraction !== null ? ` ${Math.floor(fraction * 100)}%` : ""}${left !== null ? ` · about ${duration(left)} left` : ""}`;
}
