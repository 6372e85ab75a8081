/**
 * Histogram of the candidates' best-match scores, split into selected / not selected, with the cut
 * line (the plan's lowest selected score). Drawn as SVG (crisp, exportable as is).
 */
import { scaleLinear } from "d3-scale";
import { s } from "./dom";
import type { Theme } from "./theme";

export interface HistogramInput {
  readonly scores: readonly number[];
  /** Parallel to scores: is this candidate selected by the current plan. */
  readonly selected: readonly boolean[];
  readonly cutoff: number | null;
  readonly bins: number;
}

/** Bin counts over [lo, hi]: [all, selected] per bin. Pure (tested through the page). */
export function binScores(inp: HistogramInput, lo: number, hi: number): { all: number[]; sel: number[] } {
  const all = new Array<number>(inp.bins).fill(0),
    sel = new Array<number>(inp.bins).fill(0);
  const w = (hi - lo) / inp.bins || 1;
  inp.scores.forEach((v, i) => {
    const b = Math.min(inp.bins - 1, Math.max(0, Math.floor((v - lo) / w)));
    all[b]!++;
    if (inp.selected[i]) sel[b]!++;
  });
  return { all, sel };
}

export function drawHistogram(inp: HistogramInput, theme: Theme, width: number, height: number): SVGSVGElement {
  const m = { left: 40, right: 12, top: 12, bottom: 30 };
  const lo = Math.min(0, ...inp.scores),
    hi = Math.max(1e-9, ...inp.scores, inp.cutoff ?? -Infinity);
  const { all, sel } = binScores(inp, lo, hi);
  const x = scaleLinear()
    .domain([lo, hi])
    .range([m.left, width - m.right]);
  const y = scaleLinear()
    .domain([0, Math.max(1, ...all)])
    .nice()
    .range([height - m.bottom, m.top]);
  const svg = s("svg", {
    xmlns: "http://www.w3.org/2000/svg",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: "histogram",
    role: "img",
    "aria-label": `Histogram of ${inp.scores.length} best-match scores; ${inp.selected.filter(Boolean).length} selected above the cut ${inp.cutoff === null ? "(none)" : inp.cutoff.toFixed(3)}`,
    "font-family": "sans-serif",
    "font-size": 10,
  }) as SVGSVGElement;
  svg.append(s("title", {}, "Best-match score histogram"));
  const bw = (width - m.left - m.right) / inp.bins;
  for (let b = 0; b < inp.bins; b++) {
    const x0 = m.left + b * bw;
    const rest = all[b]! - sel[b]!;
    if (rest > 0)
      svg.append(
        s("rect", { x: x0 + 0.5, y: y(all[b]!), width: Math.max(1, bw - 1), height: y(sel[b]!) - y(all[b]!), fill: theme.muted, "fill-opacity": 0.55 }),
      );
    if (sel[b]! > 0)
      svg.append(s("rect", { x: x0 + 0.5, y: y(sel[b]!), width: Math.max(1, bw - 1), height: y(0) - y(sel[b]!), fill: theme.accent, class: "bar-selected" }));
  }
  svg.append(s("line", { x1: m.left, x2: width - m.right, y1: y(0), y2: y(0), stroke: theme.grid }));
  for (const tv of x.ticks(6)) {
    svg.append(s("line", { x1: x(tv), x2: x(tv), y1: y(0), y2: y(0) + 4, stroke: theme.grid }));
    svg.append(s("text", { x: x(tv), y: y(0) + 15, "text-anchor": "middle", fill: theme.muted }, tv.toFixed(1)));
  }
  for (const tv of y.ticks(3))
    svg.append(s("text", { x: m.left - 6, y: y(tv), "text-anchor": "end", "dominant-baseline": "middle", fill: theme.muted }, String(tv)));
  svg.append(s("text", { x: (m.left + width - m.right) / 2, y: height - 2, "text-anchor": "middle", fill: theme.muted }, "best-match cosine"));
  if (inp.cutoff !== null) {
    const cx = x(inp.cutoff);
    svg.append(
      s("line", {
        x1: cx,
        x2: cx,
        y1: m.top - 4,
        y2: y(0),
        stroke: theme.foreground,
        "stroke-width": 1.5,
        "stroke-dasharray": "4 3",
        class: "cut-line",
        "data-cut": inp.cutoff,
      }),
    );
    svg.append(
      s("text", { x: cx + 4, y: m.top + 4, fill: theme.foreground, "text-anchor": cx > width - 80 ? "end" : "start" }, `cut ${inp.cutoff.toFixed(3)}`),
    );
  }
  return svg;
}
