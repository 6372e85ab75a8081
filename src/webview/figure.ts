/**
 * Exports as figures that stand on their own: a title, the lines that say what is shown (model, ratio,
 * strategy, text), the pictures stacked (heatmap, histogram, charts) and a legend of every mark, as one
 * SVG (PNG = that SVG rasterised). Nothing interactive (hover, the pinned cell) is drawn into it.
 */
import { s } from "./dom";
import type { Theme } from "./theme";

export interface LegendItem {
  readonly kind: "dot" | "chain" | "ring" | "hatch" | "bar" | "cut";
  readonly label: string;
}

export interface FigureSpec {
  readonly title: string;
  /** One line each: "stories260K-hf · /path", "ratio 30% · 6 of 20 units shared · strategy qk · unit group". */
  readonly lines: readonly string[];
  readonly parts: readonly SVGSVGElement[];
  readonly legend: readonly LegendItem[];
}

const PAD = 16;

/** The legend of the sharing marks, as the map and the report draw them. */
export function markLegend(withChain: boolean): LegendItem[] {
  return [
    { kind: "dot", label: "shared: its weights are dropped, it uses its root's" },
    ...(withChain ? [{ kind: "chain" as const, label: "shared through a chain (its source is shared too)" }] : []),
    { kind: "ring", label: "root: kept, used by shared units" },
    { kind: "hatch", label: "layer 0: no lower layer, never shared" },
  ];
}

export function figureSvg(f: FigureSpec, t: Theme): SVGSVGElement {
  const partsW = Math.max(320, ...f.parts.map((p) => Number(p.getAttribute("width")) || 0));
  const width = partsW + 2 * PAD;
  const titleH = 24,
    lineH = 16,
    legendRow = 18;
  const legendCols = Math.max(1, Math.floor(partsW / 300));
  const legendH = f.legend.length ? Math.ceil(f.legend.length / legendCols) * legendRow + 8 : 0;
  const head = PAD + titleH + f.lines.length * lineH + 6;
  const bodyH = f.parts.reduce((a, p) => a + (Number(p.getAttribute("height")) || 0) + 8, 0);
  const height = head + bodyH + legendH + PAD;
  const svg = s("svg", {
    xmlns: "http://www.w3.org/2000/svg",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "font-family": "sans-serif",
    "font-size": 11,
    class: "figure",
  }) as SVGSVGElement;
  svg.append(s("title", {}, f.title), s("rect", { width, height, fill: t.background }));
  svg.append(s("text", { x: PAD, y: PAD + 14, fill: t.foreground, "font-size": 16, "font-weight": "bold", class: "figure-title" }, f.title));
  f.lines.forEach((line, i) => svg.append(s("text", { x: PAD, y: PAD + titleH + (i + 1) * lineH - 4, fill: t.muted, class: "figure-line" }, line)));
  let y = head;
  for (const p of f.parts) {
    const g = s("g", { transform: `translate(${PAD} ${y})` });
    g.append(p.cloneNode(true));
    svg.append(g);
    y += (Number(p.getAttribute("height")) || 0) + 8;
  }
  f.legend.forEach((item, i) => {
    const col = i % legendCols,
      row = Math.floor(i / legendCols);
    const x = PAD + col * 300,
      cy = y + row * legendRow + 9;
    svg.append(
      legendSymbol(item.kind, x + 7, cy, t),
      s("text", { x: x + 20, y: cy, "dominant-baseline": "middle", fill: t.foreground, class: "legend-label" }, item.label),
    );
  });
  return svg;
}

function legendSymbol(kind: LegendItem["kind"], x: number, y: number, t: Theme): SVGElement {
  const g = s("g", { class: `legend-${kind}` });
  if (kind === "dot" || kind === "chain") g.append(s("circle", { cx: x, cy: y, r: 4, fill: t.accent, stroke: t.background }));
  if (kind === "ring" || kind === "chain") g.append(s("circle", { cx: x, cy: y, r: 7, fill: "none", stroke: t.accent2, "stroke-width": 2 }));
  if (kind === "hatch") {
    g.append(s("rect", { x: x - 6, y: y - 6, width: 12, height: 12, fill: t.background, stroke: t.grid }));
    g.append(s("path", { d: `M${x - 6},${y + 2}L${x - 2},${y + 6}M${x - 6},${y - 4}L${x + 4},${y + 6}M${x - 2},${y - 6}L${x + 6},${y + 2}`, stroke: t.grid }));
  }
  if (kind === "bar") g.append(s("rect", { x: x - 6, y: y - 5, width: 12, height: 10, fill: t.accent }));
  if (kind === "cut") g.append(s("line", { x1: x, x2: x, y1: y - 7, y2: y + 7, stroke: t.foreground, "stroke-dasharray": "3 2", "stroke-width": 1.5 }));
  return g;
}
