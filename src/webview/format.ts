/** Number formatting for the views (en-US grouping; fixed digits where comparisons matter). */

export const int = (n: number): string => Math.round(n).toLocaleString("en-US");

export function bytes(n: number): string {
  const a = Math.abs(n);
  if (a < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(Math.abs(v) < 10 ? 2 : 1)} ${units[i]}`;
}

export const fixed = (n: number | null | undefined, digits = 4): string => (n === null || n === undefined ? "—" : n.toFixed(digits));

export const pct = (n: number | null | undefined, digits = 1): string => (n === null || n === undefined ? "—" : `${(100 * n).toFixed(digits)}%`);

/** "L3·U2": a unit's short name. */
export const unitName = (layer: number, unit: number): string => `L${layer}·U${unit}`;
