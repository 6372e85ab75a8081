/**
 * The sharing map: layer × unit heatmap of best-match scores with the current plan's selected targets
 * marked, a ratio slider that re-plans live (planSharing from src/core, pure), the score histogram with
 * the cut line, details of the focused cell (source, root, scores, saved bytes), quick eval, export.
 */
import { maxRatio, planSharing } from "../core/share/plan";
import type { MatchTable, PlanTarget, SharingPlan } from "../core/share/types";
import type { EvalSummary, MapInit } from "../protocol/webview";
import { append, clear, h } from "./dom";
import { evalTable, hiddenCosineChart } from "./evalParts";
import { canvasPngBase64, stackSvgs, stem, svgText } from "./exporting";
import { bytes, fixed, int, pct, unitName } from "./format";
import { Heatmap } from "./heatmap";
import type { Cell, HeatmapModel, Link } from "./heatmap";
import { drawHistogram } from "./histogram";
import { GenerateSection } from "./generateView";
import type { Host } from "./host";
import { readTheme } from "./theme";
import type { Theme } from "./theme";
import { button, setDisabled, spinner, tag } from "./toolkit";

export class MapView {
  private readonly table: MatchTable;
  private plan!: SharingPlan;
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
  private byCell = new Map<number, PlanTarget>();
  private rootUse = new Map<number, number>();
  private lastEval: EvalSummary | null = null;
  private evalAbort: AbortController | undefined;
  private rendered = false;

  constructor(private readonly root: HTMLElement, private readonly host: Host, private readonly init: MapInit) {
    this.table = init.table as MatchTable;
    const restored = host.viewState?.view === "map" && host.viewState.path === init.model.path ? host.viewState : undefined;
    const max = Math.floor(maxRatio(this.table.layers) * 100) / 100;
    this.ratio = Math.min(max, restored?.ratio ?? init.ratio);
    this.slider = h("input", { type: "range", id: "ratio", min: 0, max, step: 0.01, value: this.ratio, "aria-label": "Sharing ratio" }) as HTMLInputElement;
    this.slider.value = String(this.ratio);
    this.ratioOut = h("output", { id: "ratio-value", for: "ratio" }) as HTMLOutputElement;
    this.heatmap = new Heatmap(() => Math.min(this.root.clientWidth - 24, 900), (c) => this.showDetail(c));
    this.evalButton = button("Quick eval at this ratio", { id: "quick-eval", onClick: () => void this.quickEval(),
      title: init.canEval ? "Compare the shared model with the original on the eval text" : "Needs a trusted workspace and a tokenizer.json beside the model" });
    setDisabled(this.evalButton, !init.canEval);
    this.slider.addEventListener("input", () => this.setRatio(Number(this.slider.value)));
    this.build();
    this.setRatio(this.ratio);
    if (restored?.selected) this.heatmap.pin(restored.selected as unknown as Cell); else this.showDetail(null);
    if (init.lastEval) this.showEval(init.lastEval);
  }

  private build(): void {
    const t = this.table, m = this.init.model;
    const src = t.source;
    const header = h("header", {},
      h("h1", {}, `Sharing map — ${m.name}`),
      h("div", { class: "tags" }, tag(`strategy ${t.strategy}`), tag(`unit ${t.granularity}`), tag(`${t.layers} layers × ${t.unitsPerLayer} units`),
        src?.provider ? tag(`match on ${src.provider}`) : null, src?.seconds !== undefined ? tag(`${src.seconds.toFixed(2)} s`) : null),
      h("p", { class: "path" }, m.path));
    const controls = h("div", { class: "controls" },
      h("label", { for: "ratio" }, "Sharing ratio"), this.slider, this.ratioOut,
      h("div", { class: "buttons" },
        this.evalButton,
        button("Compress…", { id: "compress", secondary: true, onClick: () => void this.host.rpc.request("webview/compress", { ratio: this.ratio }).catch((e: unknown) => this.showError(String(e instanceof Error ? e.message : e))) }),
        button("Export SVG", { secondary: true, onClick: () => this.exportSvg() }),
        button("Export PNG", { secondary: true, onClick: () => void this.host.exportFile({ format: "png", suggestedName: `${stem(m.name)}-sharing-map.png`, data: canvasPngBase64(this.heatmap.canvas) }) }),
        button("Export JSON", { secondary: true, ariaLabel: "Export the plan as JSON", onClick: () => void this.host.exportFile({ format: "json", suggestedName: `${stem(m.name)}-plan-${this.ratio.toFixed(2)}.json`, data: JSON.stringify(this.plan, null, 1) }) })));
    const legend = h("p", { class: "legend" },
      h("span", { class: "dot selected" }), " selected target (its weights are dropped)  ",
      h("span", { class: "dot root" }), " root used by selected targets  ",
      h("span", { class: "hatch" }), " layer 0: never a target. Hover or click a cell (arrow keys when focused) to see its source and root.");
    this.root.append(header, controls, this.stats, this.busy,
      h("div", { class: "map-row" }, this.heatmap.element, this.detail), legend,
      h("h2", {}, "Best-match scores"), this.histo, this.evalBox,
      ...(this.init.canEval ? [new GenerateSection(this.host, () => this.ratio, "Shared").element] : []));
  }

  setRatio(ratio: number): void {
    try {
      this.plan = planSharing(this.table, ratio);
    } catch (e) {
      this.stats.textContent = e instanceof Error ? e.message : String(e);
      return;
    }
    this.ratio = ratio;
    this.ratioOut.textContent = `${(ratio * 100).toFixed(0)}%`;
    const U = this.table.unitsPerLayer;
    this.byCell = new Map(this.plan.targets.map((p) => [p.layer * U + p.unit, p]));
    this.rootUse = new Map();
    for (const p of this.plan.targets) this.rootUse.set(p.rootLayer * U + p.rootUnit, (this.rootUse.get(p.rootLayer * U + p.rootUnit) ?? 0) + 1);
    this.host.saveViewState({ view: "map", path: this.init.model.path, strategy: this.table.strategy, granularity: this.table.granularity, ratio });
    this.renderStats();
    this.redraw(!this.rendered);
    this.rendered = true;
  }

  private renderStats(): void {
    const p = this.plan, t = this.table;
    const candidates = t.entries.length;
    const savedBytes = t.bytesPerUnit !== null ? p.savedUnits * t.bytesPerUnit : null;
    const savedParams = p.parametersBefore !== null && p.parametersAfter !== null ? p.parametersBefore - p.parametersAfter : null;
    clear(this.stats);
    append(this.stats, [
      h("span", {}, h("strong", { id: "selected-count", "data-selected": p.selected }, int(p.selected)), ` of ${int(candidates)} candidates selected`),
      h("span", {}, `cut score ${fixed(p.cutoffScore, 3)}`),
      h("span", {}, `${int(p.chainedTargets)} chained`),
      savedParams !== null ? h("span", { id: "saved-params" }, `saves ${int(savedParams)} parameters (${pct(savedParams / p.parametersBefore!, 2)} of the model)`) : null,
      savedBytes !== null ? h("span", { id: "saved-bytes" }, `${bytes(savedBytes)} saved`) : null]);
  }

  private heatmapModel(): HeatmapModel {
    const t = this.table, U = t.unitsPerLayer;
    let lo = Infinity, hi = -Infinity;
    for (const e of t.entries) { lo = Math.min(lo, e.score); hi = Math.max(hi, e.score); }
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    return {
      rows: t.layers, cols: U, title: "Best-match cosine per unit", rowName: "layer", colName: "unit",
      domain: [lo, hi],
      value: (r, c) => (r === 0 ? null : t.entries[(r - 1) * U + c]!.score),
      mark: (r, c) => (this.byCell.has(r * U + c) ? "selected" : this.rootUse.has(r * U + c) ? "root" : null),
      links: (r, c) => {
        if (r === 0) return [];
        const e = t.entries[(r - 1) * U + c]!;
        const p = this.byCell.get(r * U + c);
        const out: Link[] = [];
        if (!p || p.rootLayer !== e.sourceLayer || p.rootUnit !== e.sourceUnit) out.push({ to: [e.sourceLayer, e.sourceUnit], kind: "source" });
        if (p) out.push({ to: [p.rootLayer, p.rootUnit], kind: "root" });
        return out;
      },
      describe: (r, c) => this.describe(r, c),
    };
  }

  private describe(r: number, c: number): string {
    const t = this.table, U = t.unitsPerLayer;
    const uses = this.rootUse.get(r * U + c);
    const usedBy = uses ? ` Root of ${uses} selected target${uses > 1 ? "s" : ""}.` : "";
    if (r === 0) return `${unitName(r, c)}: layer 0 has no lower layer, never a target.${usedBy}`;
    const e = t.entries[(r - 1) * U + c]!;
    const p = this.byCell.get(r * U + c);
    let s = `${unitName(r, c)}: best source ${unitName(e.sourceLayer, e.sourceUnit)}, score ${e.score.toFixed(4)}.`;
    if (p) {
      s += ` Selected: uses ${unitName(p.rootLayer, p.rootUnit)}'s weights`;
      s += p.rootCosine !== null ? ` (cosine to root ${p.rootCosine.toFixed(4)}).` : ".";
      if (t.bytesPerUnit !== null) s += ` Saves ${bytes(t.bytesPerUnit)}`;
      if (t.parametersPerUnit !== null) s += `${t.bytesPerUnit !== null ? "," : " Saves"} ${int(t.parametersPerUnit)} parameters.`;
    } else {
      s += ` Not selected${this.plan.cutoffScore !== null ? ` (cut at ${this.plan.cutoffScore.toFixed(4)})` : ""}.`;
    }
    return s + usedBy;
  }

  private showDetail(c: Cell | null): void {
    clear(this.detail);
    if (!c) { this.detail.append(h("p", { class: "hint" }, "Hover or click a cell.")); this.host.saveViewState({ view: "map", selected: null }); return; }
    const [r, u] = c;
    this.detail.append(h("h3", {}, unitName(r, u)), h("p", { id: "cell-text" }, this.describe(r, u)));
    this.host.saveViewState({ view: "map", selected: this.heatmap.pinnedCell ? [r, u] : null });
  }

  redraw(rebuildTable = false): void {
    this.theme = readTheme();
    this.heatmap.render(this.heatmapModel(), this.theme, rebuildTable);
    const scores = this.table.entries.map((e) => e.score);
    const U = this.table.unitsPerLayer;
    const selected = this.table.entries.map((e) => this.byCell.has(e.layer * U + e.unit));
    clear(this.histo);
    this.histo.append(drawHistogram({ scores, selected, cutoff: this.plan.cutoffScore, bins: Math.min(40, Math.max(10, Math.round(Math.sqrt(scores.length) * 2))) },
      this.theme, Math.min(Math.max(320, this.root.clientWidth - 24), 760), 160));
    if (this.lastEval) this.showEval(this.lastEval);
  }

  private exportSvg(): void {
    const parts = [this.heatmap.toSvg(), this.histo.querySelector("svg") as SVGSVGElement];
    void this.host.exportFile({ format: "svg", suggestedName: `${stem(this.init.model.name)}-sharing-map.svg`, data: svgText(stackSvgs(parts, this.theme.background)) });
  }

  setBusy(message: string | null, fraction: number | null): void {
    clear(this.busy);
    setDisabled(this.evalButton, message !== null || !this.init.canEval);
    if (message === null) return;
    this.busy.append(spinner("Working"), h("span", {}, fraction !== null ? `${message} (${Math.round(fraction * 100)}%)` : message),
      button("Cancel", { id: "cancel-job", secondary: true, onClick: () => this.evalAbort?.abort() }));
  }

  showError(message: string): void {
    this.setBusy(null, null);
    clear(this.busy);
    this.busy.append(h("p", { class: "error", role: "alert" }, message));
  }

  /** Asks the host for a quick eval at the current ratio; Cancel aborts the request (the host cancels the job). */
  private async quickEval(): Promise<void> {
    this.evalAbort?.abort();
    const ac = new AbortController();
    this.evalAbort = ac;
    const ratio = this.ratio;
    this.setBusy(`Quick eval at ${pct(ratio, 0)}`, null);
    try {
      const ev = await this.host.rpc.request("webview/quickEval", { ratio }, { signal: ac.signal });
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
    append(this.evalBox, [h("h2", {}, `Quick eval at ${pct(ev.ratio ?? this.ratio, 0)}`), evalTable(ev),
      ev.hiddenCosine.length ? hiddenCosineChart(ev, this.theme, Math.min(Math.max(320, this.root.clientWidth - 24), 620)) : null]);
  }
}

