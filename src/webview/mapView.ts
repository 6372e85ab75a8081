/**
 * The sharing map: layer × unit heatmap of best-match scores with the current plan's shared units,
 * chains and roots marked (src/webview/planCells.ts, shared with the report), a ratio slider that
 * re-plans live (planSharing from src/core, pure), the score histogram with the cut line, details of
 * the focused cell (source, root, scores, saved bytes), quick eval on the rule's text or another, and
 * exports as figures (title, model, ratio, legend, histogram).
 */
import { maxRatio } from "../core/share/plan";
import type { MatchTable } from "../core/share/types";
import type { EvalSummary, MapInit } from "../protocol/webview";
import { append, clear, h } from "./dom";
import { evalHeading, evalTable, hiddenCosineChart, separatorOffer } from "./evalParts";
import { stem, svgPngBase64, svgText } from "./exporting";
import { figureSvg, markLegend } from "./figure";
import { bytes, fixed, int, pct, unitName } from "./format";
import { Heatmap } from "./heatmap";
import type { Cell } from "./heatmap";
import { drawHistogram } from "./histogram";
import { GenerateSection } from "./generateView";
import type { Host } from "./host";
import { PlanCells } from "./planCells";
import { readTheme } from "./theme";
import type { Theme } from "./theme";
import { button, setDisabled, spinner, tag } from "./toolkit";

export class MapView {
  private readonly table: MatchTable;
  private cells!: PlanCells;
  private ratio: number;
  private theme: Theme = readTheme();
  private readonly heatmap: Heatmap;
  private readonly slider: HTMLInputElement;
  private readonly ratioOut: HTMLOutputElement;
  private readonly stats = h("div", { class: "stats", id: "plan-stats", "aria-live": "polite" });
  private readonly detail = h("div", { class: "detail", id: "cell-detail", "aria-live": "polite" });
  private readonly histo = h("div", { class: "histogram-wrap", id: "histogram" });
  private readonly evalBox = h("section", { class: "eval", id: "eval-result", "aria-label": "Quick eval result" });
  private readonly busy = h("div", { class: "busy", id: "busy", role: "status" });
  private readonly evalButton: HTMLElement;
  private readonly chooseButton: HTMLElement;
  private ratioTimer: number | undefined;
  private lastEval: EvalSummary | null = null;
  private evalAbort: AbortController | undefined;
  private rendered = false;

  constructor(
    private readonly root: HTMLElement,
    private readonly host: Host,
    private readonly init: MapInit,
  ) {
    this.table = init.table;
    const restored = host.viewState?.view === "map" && host.viewState.path === init.model.path ? host.viewState : undefined;
    const max = Math.floor(maxRatio(this.table.layers) * 100) / 100;
    this.ratio = Math.min(max, restored?.ratio ?? init.ratio);
    this.slider = h("input", { type: "range", id: "ratio", min: 0, max, step: 0.01, value: this.ratio, "aria-label": "Sharing ratio" }) as HTMLInputElement;
    this.slider.value = String(this.ratio);
    this.ratioOut = h("output", { id: "ratio-value", for: "ratio" }) as HTMLOutputElement;
    this.heatmap = new Heatmap(
      () => Math.min(this.root.clientWidth - 24, 900),
      (c) => this.showDetail(c),
    );
    this.evalButton = button("Quick eval at this ratio", {
      id: "quick-eval",
      onClick: () => void this.quickEval("auto"),
      title: init.canEval
        ? "Compare the shared model with the original on the text the rule picks"
        : "Needs a trusted workspace and a tokenizer.json beside the model",
    });
    this.chooseButton = button("Score another text…", {
      id: "quick-eval-choose",
      secondary: true,
      title: "Quick eval at this ratio on a text file you choose",
      onClick: () => void this.quickEval("choose"),
    });
    setDisabled(this.evalButton, !init.canEval);
    setDisabled(this.chooseButton, !init.canEval);
    this.slider.addEventListener("input", () => this.setRatio(Number(this.slider.value)));
    this.build();
    this.setRatio(this.ratio);
    if (restored?.selected) this.heatmap.pin(restored.selected as unknown as Cell);
    else this.showDetail(null);
    if (init.lastEval) this.showEval(init.lastEval);
  }

  private build(): void {
    const t = this.table,
      m = this.init.model;
    const src = t.source;
    const header = h(
      "header",
      {},
      h("h1", {}, `Sharing map — ${m.name}`),
      h(
        "div",
        { class: "tags" },
        tag(`strategy ${t.strategy}`),
        tag(`unit ${t.granularity}`),
        tag(`${t.layers} layers × ${t.unitsPerLayer} units`),
        src?.provider ? tag(`match on ${src.provider}`) : null,
        src?.seconds !== undefined ? tag(`${src.seconds.toFixed(2)} s`) : null,
      ),
      h("p", { class: "path" }, m.path),
    );
    const controls = h(
      "div",
      { class: "controls" },
      h("label", { for: "ratio" }, "Sharing ratio"),
      this.slider,
      this.ratioOut,
      h(
        "div",
        { class: "buttons" },
        this.evalButton,
        this.chooseButton,
        button("Compress…", {
          id: "compress",
          secondary: true,
          onClick: () =>
            void this.host.rpc
              .request("webview/compress", { ratio: this.ratio })
              .catch((e: unknown) => this.showError(String(e instanceof Error ? e.message : e))),
        }),
        button("Export SVG", { id: "export-svg", secondary: true, onClick: () => this.exportFigure("svg") }),
        button("Export PNG", { id: "export-png", secondary: true, onClick: () => this.exportFigure("png") }),
        button("Export JSON", {
          secondary: true,
          ariaLabel: "Export the plan as JSON",
          onClick: () =>
            void this.host.exportFile({
              format: "json",
              suggestedName: `${stem(m.name)}-plan-${Math.round(this.ratio * 100)}.json`,
              data: JSON.stringify(this.cells.plan, null, 1),
            }),
        }),
      ),
      this.init.textRule ? h("p", { class: "hint", id: "text-rule" }, this.init.textRule) : null,
    );
    const legend = h(
      "p",
      { class: "legend", id: "map-legend" },
      h("span", { class: "dot selected" }),
      " shared (its weights are dropped)  ",
      h("span", { class: "dot chained" }),
      " shared through a chain (its source is shared too)  ",
      h("span", { class: "dot root" }),
      " root (kept, used by shared units)  ",
      h("span", { class: "hatch" }),
      " layer 0: never a target  ·  colour: best-match cosine (bar on the right). Hover or click a cell (arrow keys when focused) to see its source and root.",
    );
    this.root.append(
      header,
      controls,
      this.stats,
      this.busy,
      h("div", { class: "map-row" }, this.heatmap.element, this.detail),
      legend,
      h("h2", {}, "Best-match scores"),
      this.histo,
      this.evalBox,
      ...(this.init.canEval ? [new GenerateSection(this.host, () => this.ratio, "Shared").element] : []),
    );
  }

  setRatio(ratio: number): void {
    try {
      if (this.cells) this.cells.setRatio(ratio);
      else this.cells = new PlanCells(this.table, ratio);
    } catch (e) {
      this.stats.textContent = e instanceof Error ? e.message : String(e);
      return;
    }
    this.ratio = ratio;
    this.ratioOut.textContent = `${(ratio * 100).toFixed(0)}%`;
    this.host.saveViewState({ view: "map", path: this.init.model.path, strategy: this.table.strategy, granularity: this.table.granularity, ratio });
    // The host offers this ratio to Quick Eval and Compress from the palette.
    window.clearTimeout(this.ratioTimer);
    this.ratioTimer = window.setTimeout(() => this.host.rpc.notify("webview/ratio", { ratio }), 150);
    this.renderStats();
    this.redraw(!this.rendered);
    this.rendered = true;
  }

  private renderStats(): void {
    const p = this.cells.plan,
      t = this.table;
    const savedBytes = t.bytesPerUnit !== null ? p.savedUnits * t.bytesPerUnit : null;
    const savedParams = p.parametersBefore !== null && p.parametersAfter !== null ? p.parametersBefore - p.parametersAfter : null;
    clear(this.stats);
    append(this.stats, [
      h(
        "span",
        { id: "plan-arithmetic" },
        h("strong", { id: "selected-count", "data-selected": p.selected }, int(p.selected)),
        this.cells.arithmetic(this.ratio).replace(/^\S+/, ""),
      ),
      h("span", {}, `cut score ${fixed(p.cutoffScore, 3)}`),
      h("span", {}, `${int(p.chainedTargets)} chained`),
      savedParams !== null
        ? h("span", { id: "saved-params" }, `saves ${int(savedParams)} parameters (${pct(savedParams / p.parametersBefore!, 2)} of the model)`)
        : null,
      savedBytes !== null ? h("span", { id: "saved-bytes" }, `${bytes(savedBytes)} saved`) : null,
    ]);
  }

  private showDetail(c: Cell | null): void {
    clear(this.detail);
    if (!c) {
      this.detail.append(h("p", { class: "hint" }, "Hover or click a cell."));
      this.host.saveViewState({ view: "map", selected: null });
      return;
    }
    const [r, u] = c;
    this.detail.append(h("h3", {}, unitName(r, u)), h("p", { id: "cell-text" }, this.cells.describe(r, u)));
    this.host.saveViewState({ view: "map", selected: this.heatmap.pinnedCell ? [r, u] : null });
  }

  redraw(rebuildTable = false): void {
    this.theme = readTheme();
    this.heatmap.render(this.cells.heatmapModel(), this.theme, rebuildTable);
    clear(this.histo);
    this.histo.append(this.histogram(Math.min(Math.max(320, this.root.clientWidth - 24), 760)));
    if (this.lastEval) this.showEval(this.lastEval);
  }

  private histogram(width: number): SVGSVGElement {
    const scores = this.table.entries.map((e) => e.score);
    const selected = this.table.entries.map((e) => this.cells.isSelected(e.layer, e.unit));
    return drawHistogram(
      { scores, selected, cutoff: this.cells.plan.cutoffScore, bins: Math.min(40, Math.max(10, Math.round(Math.sqrt(scores.length) * 2))) },
      this.theme,
      width,
      160,
    );
  }

  /** The map as a figure: title, model, ratio and plan, the heatmap (no hover or pinned cell), the histogram, the legend. */
  figure(): SVGSVGElement {
    const t = this.table,
      p = this.cells.plan,
      m = this.init.model;
    const map = this.heatmap.toSvg();
    const width = Number(map.getAttribute("width"));
    return figureSvg(
      {
        title: `Sharing map — ${m.name} at ${pct(this.ratio, 0)}`,
        lines: [
          m.path,
          `${this.cells.arithmetic(this.ratio)} · cut score ${fixed(p.cutoffScore, 3)} · ${int(p.chainedTargets)} chained`,
          `strategy ${t.strategy} · unit ${t.granularity} · colour: best-match cosine to a lower-layer unit${p.parametersBefore !== null && p.parametersAfter !== null ? ` · parameters ${int(p.parametersBefore)} → ${int(p.parametersAfter)}` : ""}`,
        ],
        parts: [map, this.histogram(Math.max(320, width))],
        legend: [
          ...markLegend(p.chainedTargets > 0),
          { kind: "bar", label: "histogram: the shared units' scores" },
          { kind: "cut", label: "cut: the lowest shared score" },
        ],
      },
      this.theme,
    );
  }

  private exportFigure(format: "svg" | "png"): void {
    const name = `${stem(this.init.model.name)}-sharing-map-${Math.round(this.ratio * 100)}`;
    const fig = this.figure();
    if (format === "svg") void this.host.exportFile({ format: "svg", suggestedName: `${name}.svg`, data: svgText(fig) });
    else void svgPngBase64(fig).then((data) => this.host.exportFile({ format: "png", suggestedName: `${name}.png`, data }));
  }

  /** The host's message already holds the job's fraction and time left (the status bar's words). */
  setBusy(message: string | null, _fraction: number | null): void {
    clear(this.busy);
    setDisabled(this.evalButton, message !== null || !this.init.canEval);
    setDisabled(this.chooseButton, message !== null || !this.init.canEval);
    if (message === null) return;
    this.busy.append(
      spinner("Working"),
      h("span", { id: "busy-text" }, message),
      button("Cancel", { id: "cancel-job", secondary: true, onClick: () => this.evalAbort?.abort() }),
    );
  }

  showError(message: string): void {
    this.setBusy(null, null);
    clear(this.busy);
    this.busy.append(h("p", { class: "error", role: "alert" }, message));
  }

  /** Asks the host for a quick eval at the current ratio; Cancel aborts the request (the host cancels the job). */
  private async quickEval(text: "auto" | "choose", separator?: string | null): Promise<void> {
    this.evalAbort?.abort();
    const ac = new AbortController();
    this.evalAbort = ac;
    const ratio = this.ratio;
    this.setBusy(`Quick eval at ${pct(ratio, 0)}`, null);
    try {
      const ev = await this.host.rpc.request("webview/quickEval", { ratio, text, ...(separator !== undefined ? { separator } : {}) }, { signal: ac.signal });
      this.showEval(ev);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      this.showError(code === "cancelled" ? "Quick eval was cancelled." : `Quick eval failed: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      if (this.evalAbort === ac) this.evalAbort = undefined;
    }
  }

  showEval(ev: EvalSummary): void {
    this.lastEval = ev;
    this.setBusy(null, null);
    clear(this.evalBox);
    append(this.evalBox, [
      h("h2", {}, `Quick eval at ${pct(ev.ratio ?? this.ratio, 0)}`),
      evalHeading(ev, this.init.model.name),
      separatorOffer(ev, (sep) => void this.quickEval("auto", sep)),
      evalTable(ev),
      ev.hiddenCosine.length ? hiddenCosineChart(ev, this.theme, Math.min(Math.max(320, this.root.clientWidth - 24), 620)) : null,
    ]);
  }
}
