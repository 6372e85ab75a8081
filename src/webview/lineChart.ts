/** A small multi-series line chart in SVG (per-layer hidden cosine, the sweep curve). */
import { scaleLinear } from "d3-scale";
import { s } from "./dom";
import type { Theme } from "./theme";

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  readonly colour: string;
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly width: number;
  readonly height: number;
  /** Integer ticks on x (layers). */
  readonly integerX?: boolean;
  /** A vertical marker (e.g. the current ratio). */
  readonly markerX?: number | null;
  readonly yDomain?: readonly [number, number];
}

export function drawLineChart(series: readonly Series[], o: LineChartOptions, theme: Theme): SVGSVGElement {
  const m = { left: 52, right: 14, top: 26, bottom: 34 };
  const xs = series.flatMap((q) => q.points.map((p) => p[0]));
  const ys = series.flatMap((q) => q.points.map((p) => p[1]));
  const x = scaleLinear()
    .domain(xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1])
    .range([m.left, o.width - m.right]);
  if (xs.length && Math.min(...xs) === Math.max(...xs)) x.domain([xs[0]! - 1, xs[0]! + 1]);
  const y = scaleLinear()
    .domain(o.yDomain ? [...o.yDomain] : ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1])
    .nice()
    .range([o.height - m.bottom, m.top]);
  const svg = s("svg", {
    xmlns: "http://www.w3.org/2000/svg",
    width: o.width,
    height: o.height,
    viewBox: `0 0 ${o.width} ${o.height}`,
    role: "img",
    "aria-label": `${o.title}: ${series.map((q) => `${q.name} ${q.points.map((p) => `(${fmt(p[0])}, ${fmt(p[1])})`).join(" ")}`).join("; ")}`,
    "font-family": "sans-serif",
    "font-size": 10,
    class: "line-chart",
  }) as SVGSVGElement;
  svg.append(s("title", {}, o.title), s("text", { x: m.left, y: 14, fill: theme.foreground, "font-size": 12 }, o.title));
  // One precision per axis, from the tick step (d3's tickFormat): "0.950" beside "1.000", never "1".
  const yFmt = y.tickFormat(4);
  for (const tv of y.ticks(4)) {
    svg.append(s("line", { x1: m.left, x2: o.width - m.right, y1: y(tv), y2: y(tv), stroke: theme.grid, "stroke-opacity": 0.6 }));
    svg.append(s("text", { x: m.left - 6, y: y(tv), "text-anchor": "end", "dominant-baseline": "middle", fill: theme.muted, class: "tick-y" }, yFmt(tv)));
  }
  const xt = o.integerX ? x.ticks(Math.min(10, Math.max(1, xs.length))).filter((v) => Number.isInteger(v)) : x.ticks(6);
  const xFmt = o.integerX ? (v: number) => String(v) : x.tickFormat(6);
  for (const tv of xt) svg.append(s("text", { x: x(tv), y: o.height - m.bottom + 14, "text-anchor": "middle", fill: theme.muted, class: "tick-x" }, xFmt(tv)));
  svg.append(s("text", { x: (m.left + o.width - m.right) / 2, y: o.height - 4, "text-anchor": "middle", fill: theme.muted }, o.xLabel));
  svg.append(
    s(
      "text",
      {
        x: 10,
        y: (m.top + o.height - m.bottom) / 2,
        "text-anchor": "middle",
        fill: theme.muted,
        transform: `rotate(-90 10 ${(m.top + o.height - m.bottom) / 2})`,
      },
      o.yLabel,
    ),
  );
  if (o.markerX !== undefined && o.markerX !== null) {
    svg.append(s("line", { x1: x(o.markerX), x2: x(o.markerX), y1: m.top, y2: o.height - m.bottom, stroke: theme.foreground, "stroke-dasharray": "4 3" }));
  }
  series.forEach((q, i) => {
    if (!q.points.length) return;
    svg.append(
      s("path", {
        d: q.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(""),
        fill: "none",
        stroke: q.colour,
        "stroke-width": 2,
      }),
    );
    for (const p of q.points)
      svg.append(s("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, fill: q.colour }, s("title", {}, `${q.name}: ${fmt(p[0])} → ${fmt(p[1])}`)));
    if (series.length > 1) {
      svg.append(s("rect", { x: o.width - m.right - 120, y: m.top + i * 14 - 8, width: 10, height: 10, fill: q.colour }));
      svg.append(s("text", { x: o.width - m.right - 106, y: m.top + i * 14, fill: theme.foreground }, q.name));
    }
  });
  return svg;
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
}
