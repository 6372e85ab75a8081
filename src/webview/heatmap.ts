/**
 * A rows × cols heatmap on a <canvas> (layers × units), with: a colour bar, per-cell marks, links drawn
 * from the focused cell (to its source and root), hover/click/keyboard focus, an accessible table
 * mirroring every cell for screen readers (and tests), and an SVG rendering of the same picture.
 */
import { clear, h, s } from "./dom";
import { setupCanvas } from "./theme";
import type { Theme } from "./theme";

export type Cell = readonly [row: number, col: number];

export type Mark = "selected" | "chained" | "root";

/** Black or white, whichever stands out more on a CSS colour ("rgb(r, g, b)" or "#rrggbb"): the halo that keeps marks visible on any cell in any theme. */
export function haloFor(colour: string): string {
  let r = 0,
    g = 0,
    b = 0;
  const m = /rgba?\((\d+)[, ]+(\d+)[, ]+(\d+)/.exec(colour);
  if (m) {
    r = +m[1]!;
    g = +m[2]!;
    b = +m[3]!;
  } else if (/^#[0-9a-f]{6}$/i.test(colour)) {
    r = parseInt(colour.slice(1, 3), 16);
    g = parseInt(colour.slice(3, 5), 16);
    b = parseInt(colour.slice(5, 7), 16);
  }
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 ? "#000000" : "#ffffff";
}

export interface Link {
  readonly to: Cell;
  readonly kind: "source" | "root";
}

export interface HeatmapModel {
  readonly rows: number;
  readonly cols: number;
  readonly title: string;
  readonly rowName: string; // "layer"
  readonly colName: string; // "unit" or "head"
  /** Colour domain [lo, hi]. */
  readonly domain: readonly [number, number];
  /** Cell value, or null for "no value" (e.g. layer 0 has no lower layer to match). */
  value(r: number, c: number): number | null;
  /** "selected" cells get a filled dot, "chained" ones (shared through a chain to a root) a dot in a ring, "root" cells (kept, used by a selected one) a ring. */
  mark(r: number, c: number): Mark | null;
  links(r: number, c: number): readonly Link[];
  /** One-line description for the live region and the accessible table. */
  describe(r: number, c: number): string;
}

const MARGIN = { left: 40, top: 22, right: 64, bottom: 8 };

/** "U3" for units, "H3" for heads. */
const colLabel = (m: HeatmapModel, c: number): string => `${m.colName === "head" ? "H" : "U"}${c}`;

export class Heatmap {
  readonly element: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private readonly table: HTMLTableElement;
  private model: HeatmapModel | undefined;
  private theme: Theme | undefined;
  private cell = 24;
  private hover: Cell | null = null;
  private pinned: Cell | null = null;
  private keyFocus: Cell = [0, 0];
  private textTimer: number | undefined;

  constructor(
    private readonly maxWidth: () => number,
    private readonly onFocusCell: (c: Cell | null, pinned: boolean) => void,
  ) {
    this.canvas = h("canvas", { tabindex: 0, role: "img", class: "heatmap" }) as HTMLCanvasElement;
    this.table = h("table", { class: "heatmap-cells" }) as HTMLTableElement;
    this.element = h("div", { class: "heatmap-wrap" }, this.canvas, h("div", { class: "sr-only" }, this.table));
    this.canvas.addEventListener("mousemove", (e) => this.setHover(this.hit(e)));
    this.canvas.addEventListener("mouseleave", () => this.setHover(null));
    this.canvas.addEventListener("click", (e) => {
      const c = this.hit(e);
      this.pin(c && this.same(c, this.pinned) ? null : c);
    });
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
  }

  get pinnedCell(): Cell | null {
    return this.pinned;
  }

  /** Sets data/theme and redraws; keeps the pinned cell when it still exists. */
  render(model: HeatmapModel, theme: Theme, rebuildTable: boolean): void {
    this.model = model;
    this.theme = theme;
    if (this.pinned && (this.pinned[0] >= model.rows || this.pinned[1] >= model.cols)) this.pinned = null;
    const avail = Math.max(200, this.maxWidth()) - MARGIN.left - MARGIN.right;
    this.cell = Math.max(8, Math.min(56, Math.floor(avail / model.cols)));
    this.canvas.dataset.rows = String(model.rows);
    this.canvas.dataset.cols = String(model.cols);
    this.canvas.setAttribute(
      "aria-label",
      `${model.title}: ${model.rows} ${model.rowName}s × ${model.cols} ${model.colName}s. Arrow keys move between cells, Enter pins one.`,
    );
    this.draw();
    if (rebuildTable) this.buildTable();
    else this.refreshTable();
  }

  /** Pins (or unpins with null) a cell, as a click does. */
  pin(c: Cell | null): void {
    this.pinned = c;
    if (c) this.keyFocus = c;
    this.draw();
    this.onFocusCell(this.pinned ?? this.hover, this.pinned !== null);
  }

  private setHover(c: Cell | null): void {
    if (this.same(c, this.hover)) return;
    this.hover = c;
    this.draw();
    this.onFocusCell(this.pinned ?? this.hover, this.pinned !== null);
  }

  private same(a: Cell | null, b: Cell | null): boolean {
    return a === b || (!!a && !!b && a[0] === b[0] && a[1] === b[1]);
  }

  private hit(e: MouseEvent): Cell | null {
    const m = this.model;
    if (!m) return null;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left - MARGIN.left;
    const y = e.clientY - r.top - MARGIN.top;
    const col = Math.floor(x / this.cell);
    const row = Math.floor(y / this.cell);
    return row >= 0 && row < m.rows && col >= 0 && col < m.cols ? [row, col] : null;
  }

  private onKey(e: KeyboardEvent): void {
    const m = this.model;
    if (!m) return;
    let [r, c] = this.pinned ?? this.keyFocus;
    switch (e.key) {
      case "ArrowUp":
        r = Math.max(0, r - 1);
        break;
      case "ArrowDown":
        r = Math.min(m.rows - 1, r + 1);
        break;
      case "ArrowLeft":
        c = Math.max(0, c - 1);
        break;
      case "ArrowRight":
        c = Math.min(m.cols - 1, c + 1);
        break;
      case "Home":
        c = 0;
        break;
      case "End":
        c = m.cols - 1;
        break;
      case "Escape":
        this.pin(null);
        e.preventDefault();
        return;
      case "Enter":
      case " ":
        this.pin([r, c]);
        e.preventDefault();
        return;
      default:
        return;
    }
    e.preventDefault();
    this.pin([r, c]);
  }

  private center(c: Cell): [number, number] {
    return [MARGIN.left + (c[1] + 0.5) * this.cell, MARGIN.top + (c[0] + 0.5) * this.cell];
  }

  get width(): number {
    return this.model ? MARGIN.left + this.model.cols * this.cell + MARGIN.right : 0;
  }
  get height(): number {
    return this.model ? MARGIN.top + this.model.rows * this.cell + MARGIN.bottom : 0;
  }

  private draw(): void {
    const m = this.model,
      t = this.theme;
    if (!m || !t) return;
    const ctx = setupCanvas(this.canvas, this.width, Math.max(this.height, 150));
    const cs = this.cell;
    const colour = t.score(m.domain[0], m.domain[1]);
    ctx.clearRect(0, 0, this.width, this.height);
    ctx.font = t.font;
    ctx.fillStyle = t.muted;
    ctx.textBaseline = "middle";
    const labelEvery = Math.max(1, Math.ceil(14 / cs));
    ctx.textAlign = "right";
    for (let r = 0; r < m.rows; r += labelEvery) ctx.fillText(`L${r}`, MARGIN.left - 6, MARGIN.top + (r + 0.5) * cs);
    ctx.textAlign = "center";
    const colEvery = Math.max(1, Math.ceil((ctx.measureText(colLabel(m, m.cols - 1)).width + 6) / cs));
    for (let c = 0; c < m.cols; c += colEvery) ctx.fillText(colLabel(m, c), MARGIN.left + (c + 0.5) * cs, MARGIN.top - 10);
    const hc = t.kind.startsWith("high-contrast");
    for (let r = 0; r < m.rows; r++) {
      for (let c = 0; c < m.cols; c++) {
        const x = MARGIN.left + c * cs,
          y = MARGIN.top + r * cs;
        const v = m.value(r, c);
        if (v === null) {
          ctx.fillStyle = t.background;
          ctx.fillRect(x, y, cs, cs);
          ctx.strokeStyle = t.grid;
          ctx.lineWidth = 1; // (a mark drawn before leaves a wide line: the hatch would paint the cell solid grey)
          ctx.beginPath(); // hatch: "no value here"
          for (let k = -cs; k < cs; k += 6) {
            ctx.moveTo(x + Math.max(0, k), y + Math.max(0, -k));
            ctx.lineTo(x + Math.min(cs, cs + k), y + Math.min(cs, cs - k));
          }
          ctx.stroke();
        } else {
          ctx.fillStyle = colour(v);
          ctx.fillRect(x, y, cs, cs);
        }
        if (hc || cs >= 14) {
          ctx.strokeStyle = hc ? t.border : t.background;
          ctx.lineWidth = hc ? 1 : 0.5;
          ctx.strokeRect(x + 0.25, y + 0.25, cs - 0.5, cs - 0.5);
        }
        const mark = m.mark(r, c);
        if (mark) drawMark(ctx, mark, x + cs / 2, y + cs / 2, cs, t, haloFor(v === null ? t.background : colour(v)));
      }
    }
    this.drawColourBar(ctx, t, colour, m.domain);
    const f = this.pinned ?? this.hover;
    if (f) {
      const [fx, fy] = this.center(f);
      for (const l of m.links(f[0], f[1])) {
        const [tx, ty] = this.center(l.to);
        ctx.beginPath();
        ctx.setLineDash(l.kind === "source" ? [4, 3] : []);
        ctx.strokeStyle = l.kind === "root" ? t.accent : t.foreground;
        ctx.lineWidth = 2;
        ctx.moveTo(fx, fy);
        ctx.lineTo(tx, ty);
        ctx.stroke();
        ctx.setLineDash([]);
        ctx.beginPath();
        ctx.arc(tx, ty, 3, 0, 2 * Math.PI);
        ctx.fillStyle = ctx.strokeStyle;
        ctx.fill();
        ctx.strokeRect(MARGIN.left + l.to[1] * cs + 1, MARGIN.top + l.to[0] * cs + 1, cs - 2, cs - 2);
      }
      ctx.strokeStyle = t.focus;
      ctx.lineWidth = 2;
      ctx.strokeRect(MARGIN.left + f[1] * cs + 1, MARGIN.top + f[0] * cs + 1, cs - 2, cs - 2);
    }
  }

  private drawColourBar(ctx: CanvasRenderingContext2D, t: Theme, colour: (v: number) => string, [lo, hi]: readonly [number, number]): void {
    const m = this.model!;
    const x = MARGIN.left + m.cols * this.cell + 12,
      y0 = MARGIN.top,
      hgt = Math.max(60, m.rows * this.cell);
    for (let i = 0; i < hgt; i++) {
      ctx.fillStyle = colour(hi - ((hi - lo) * i) / (hgt - 1));
      ctx.fillRect(x, y0 + i, 10, 1);
    }
    ctx.strokeStyle = t.border;
    ctx.lineWidth = 1;
    ctx.strokeRect(x, y0, 10, hgt);
    ctx.fillStyle = t.muted;
    ctx.textAlign = "left";
    ctx.fillText(hi.toFixed(2), x + 14, y0 + 4);
    ctx.fillText(lo.toFixed(2), x + 14, y0 + hgt - 4);
  }

  private buildTable(): void {
    const m = this.model!;
    clear(this.table);
    this.table.append(h("caption", {}, `${m.title} (${m.rows} × ${m.cols})`));
    const head = h("tr", {}, h("th", { scope: "col" }, m.rowName));
    for (let c = 0; c < m.cols; c++) head.append(h("th", { scope: "col" }, `${m.colName} ${c}`));
    const body = h("tbody");
    for (let r = 0; r < m.rows; r++) {
      const tr = h("tr", {}, h("th", { scope: "row" }, `${m.rowName} ${r}`));
      for (let c = 0; c < m.cols; c++) tr.append(h("td", { "data-row": r, "data-col": c }));
      body.append(tr);
    }
    this.table.append(h("thead", {}, head), body);
    this.refreshTable();
  }

  /** Marks update at once (cheap); the per-cell sentences are rebuilt once the slider rests. */
  private refreshTable(): void {
    const m = this.model!;
    const tds = Array.from(this.table.querySelectorAll("td"));
    for (const td of tds) {
      const raw = m.mark(Number(td.dataset.row), Number(td.dataset.col));
      // A chained target is a selected target (data-mark), with data-chain beside it.
      const mark = raw === "chained" ? "selected" : raw;
      if (mark) {
        if (td.dataset.mark !== mark) td.dataset.mark = mark;
      } else if (td.dataset.mark) delete td.dataset.mark;
      if (raw === "chained") td.dataset.chain = "true";
      else if (td.dataset.chain) delete td.dataset.chain;
    }
    window.clearTimeout(this.textTimer);
    this.textTimer = window.setTimeout(
      () => {
        for (const td of tds) td.textContent = m.describe(Number(td.dataset.row), Number(td.dataset.col));
      },
      tds.length > 256 ? 250 : 0,
    );
  }

  /** The picture as standalone SVG (cells, marks, labels, colour bar), for export. */
  toSvg(): SVGSVGElement {
    const m = this.model!,
      t = this.theme!;
    const cs = this.cell,
      colour = t.score(m.domain[0], m.domain[1]);
    const svg = s("svg", {
      xmlns: "http://www.w3.org/2000/svg",
      width: this.width,
      height: this.height,
      viewBox: `0 0 ${this.width} ${this.height}`,
      "font-family": "sans-serif",
      "font-size": 11,
    }) as SVGSVGElement;
    svg.append(s("title", {}, m.title), s("rect", { width: this.width, height: this.height, fill: t.background }));
    for (let r = 0; r < m.rows; r++)
      svg.append(
        s("text", { x: MARGIN.left - 6, y: MARGIN.top + (r + 0.5) * cs, "text-anchor": "end", "dominant-baseline": "middle", fill: t.muted }, `L${r}`),
      );
    for (let c = 0; c < m.cols; c++)
      svg.append(
        s(
          "text",
          { x: MARGIN.left + (c + 0.5) * cs, y: MARGIN.top - 10, "text-anchor": "middle", "dominant-baseline": "middle", fill: t.muted },
          colLabel(m, c),
        ),
      );
    for (let r = 0; r < m.rows; r++) {
      for (let c = 0; c < m.cols; c++) {
        const v = m.value(r, c);
        const rect = s("rect", {
          x: MARGIN.left + c * cs,
          y: MARGIN.top + r * cs,
          width: cs,
          height: cs,
          fill: v === null ? t.background : colour(v),
          stroke: t.grid,
          "stroke-width": 0.5,
        });
        rect.append(s("title", {}, m.describe(r, c)));
        svg.append(rect);
        const mark = m.mark(r, c);
        if (mark)
          svg.append(...markSvg(mark, MARGIN.left + (c + 0.5) * cs, MARGIN.top + (r + 0.5) * cs, cs, t, haloFor(v === null ? t.background : colour(v))));
      }
    }
    const x = MARGIN.left + m.cols * cs + 12,
      hgt = Math.max(60, m.rows * cs);
    const grad = s("linearGradient", { id: "cbar", x1: 0, y1: 1, x2: 0, y2: 0 });
    for (let i = 0; i <= 10; i++) grad.append(s("stop", { offset: i / 10, "stop-color": colour(m.domain[0] + ((m.domain[1] - m.domain[0]) * i) / 10) }));
    svg.append(
      s("defs", {}, grad),
      s("rect", { x, y: MARGIN.top, width: 10, height: hgt, fill: "url(#cbar)", stroke: t.border }),
      s("text", { x: x + 14, y: MARGIN.top + 4, fill: t.muted }, m.domain[1].toFixed(2)),
      s("text", { x: x + 14, y: MARGIN.top + hgt - 4, fill: t.muted }, m.domain[0].toFixed(2)),
    );
    return svg;
  }
}

/** Mark sizes for a cell of `cs` pixels: the dot, the ring around it, the halo under both. */
function markGeometry(cs: number) {
  const dot = Math.max(2, cs * 0.18);
  return { dot, ring: Math.max(dot + 2.5, cs * 0.3), width: Math.max(1.5, cs * 0.08) };
}

/** Draws a mark on the canvas; `halo` (black or white against the cell) keeps it visible in light and dark themes. */
function drawMark(ctx: CanvasRenderingContext2D, mark: Mark, x: number, y: number, cs: number, t: Theme, halo: string): void {
  const g = markGeometry(cs);
  const circle = (rad: number) => {
    ctx.beginPath();
    ctx.arc(x, y, rad, 0, 2 * Math.PI);
  };
  if (mark !== "selected") {
    circle(g.ring);
    ctx.strokeStyle = halo;
    ctx.lineWidth = g.width + 1.5;
    ctx.stroke();
    ctx.strokeStyle = t.accent2;
    ctx.lineWidth = g.width;
    ctx.stroke();
  }
  if (mark !== "root") {
    circle(g.dot);
    ctx.fillStyle = t.accent;
    ctx.fill();
    ctx.strokeStyle = halo;
    ctx.lineWidth = Math.max(1, cs * 0.05);
    ctx.stroke();
  }
}

/** The same mark as SVG elements. */
function markSvg(mark: Mark, x: number, y: number, cs: number, t: Theme, halo: string): SVGElement[] {
  const g = markGeometry(cs);
  const out: SVGElement[] = [];
  if (mark !== "selected") {
    out.push(
      s("circle", { cx: x, cy: y, r: g.ring, fill: "none", stroke: halo, "stroke-width": g.width + 1.5 }),
      s("circle", { cx: x, cy: y, r: g.ring, fill: "none", stroke: t.accent2, "stroke-width": g.width, class: "mark-ring" }),
    );
  }
  if (mark !== "root")
    out.push(s("circle", { cx: x, cy: y, r: g.dot, fill: t.accent, stroke: halo, "stroke-width": Math.max(1, cs * 0.05), class: "mark-dot" }));
  return out;
}
