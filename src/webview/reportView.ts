/**
 * The regression report: parameters and bytes before/after, quality metrics (perplexity, KL, top-1),
 * per-layer hidden-state cosine, the sweep curve (quality vs ratio), and the attention-map similarity
 * map beside the weight-similarity map (the paper's Fig. 1 motivation). Export SVG/PNG/JSON/CSV.
 */
import type { PostShareSummary, Report, SimilarityGrid } from "../protocol/webview";
import { clear, h, keyValueTable } from "./dom";
import { evalTable, hiddenCosineChart } from "./evalParts";
import { stackSvgs, stem, svgPngBase64, svgText } from "./exporting";
import { bytes, fixed, int, pct } from "./format";
import { Heatmap } from "./heatmap";
import { GenerateSection } from "./generateView";
import type { Host } from "./host";
import { drawLineChart } from "./lineChart";
import { readTheme } from "./theme";
import { button, tag } from "./toolkit";

export class ReportView {
  private readonly body = h("div", { class: "report-body" });
  private charts: SVGSVGElement[] = [];
  private maps: Heatmap[] = [];

  constructor(private readonly root: HTMLElement, host: Host, private readonly report: Report, reportFile: string | null) {
    if (reportFile) host.saveViewState({ view: "report", path: reportFile });
    const r = report;
    const name = stem(r.model.name);
    this.root.append(
      h("header", {},
        h("h1", {}, `${r.method === "postshare" ? "PostShare" : "DirectShare"} report — ${r.model.name}`),
        h("div", { class: "tags" }, tag(`ratio ${pct(r.ratio, 0)}`), tag(`strategy ${r.strategy}`), tag(`unit ${r.granularity}`),
          r.format ? tag(r.format) : null, r.provider ? tag(r.provider) : null),
        h("p", { class: "path" }, r.output ? `${r.model.path} → ${r.output}` : r.model.path)),
      h("div", { class: "buttons" },
        button("Export SVG", { secondary: true, onClick: () => void host.exportFile({ format: "svg", suggestedName: `${name}-report.svg`, data: svgText(this.stacked()) }) }),
        button("Export PNG", { secondary: true, onClick: () => void svgPngBase64(this.stacked()).then((data) => host.exportFile({ format: "png", suggestedName: `${name}-report.png`, data })) }),
        button("Export JSON", { secondary: true, onClick: () => void host.exportFile({ format: "json", suggestedName: `${name}-report.json`, data: JSON.stringify(r, null, 1) }) }),
        r.sweep ? button("Export sweep CSV", { secondary: true, onClick: () => void host.exportFile({ format: "csv", suggestedName: `${name}-sweep.csv`, data: sweepCsv(r) }) }) : null),
      this.body,
      new GenerateSection(host, () => r.ratio, r.output ? "Shared" : `Shared at ${pct(r.ratio, 0)}`).element);
    this.redraw();
  }

  private postShare(p: PostShareSummary, theme: ReturnType<typeof readTheme>, width: number): void {
    this.body.append(h("h2", {}, "PostShare against DirectShare at the same ratio"), postShareTable(p));
    if (p.lossCurve.length > 1) {
      const c = drawLineChart([
        { name: "LM loss", colour: theme.accent, points: p.lossCurve.map((x) => [x.step, x.lm] as const) },
        { name: "weight loss", colour: theme.accent2, points: p.lossCurve.map((x) => [x.step, x.weight] as const) },
      ], { title: "Post-training losses", xLabel: "step", yLabel: "loss", width, height: 220, integerX: true }, theme);
      this.charts.push(c);
      this.body.append(c);
    }
  }

  private stacked(): SVGSVGElement {
    return stackSvgs([...this.charts, ...this.maps.map((m) => m.toSvg())], readTheme().background);
  }

  redraw(): void {
    const r = this.report, theme = readTheme();
    const width = Math.min(Math.max(320, this.root.clientWidth - 24), 720);
    clear(this.body);
    this.charts = [];
    this.maps = [];
    const size: [string, string][] = [];
    if (r.parameters) size.push(["parameters", `${int(r.parameters.before)} → ${int(r.parameters.after)} (−${int(r.parameters.before - r.parameters.after)}, ${pct((r.parameters.before - r.parameters.after) / r.parameters.before, 2)})`]);
    if (r.bytes) size.push(["bytes", `${bytes(r.bytes.before)} → ${bytes(r.bytes.after)} (−${bytes(r.bytes.before - r.bytes.after)})`]);
    if (r.selected !== null) size.push(["units shared", `${int(r.selected)}${r.chainedTargets !== null ? ` (${int(r.chainedTargets)} chained)` : ""}`]);
    if (r.seconds !== null) size.push(["time", `${r.seconds.toFixed(2)} s`]);
    this.body.append(keyValueTable("Size", size, "report-size"));

    this.body.append(h("h2", {}, "Quality"));
    if (r.eval) {
      this.body.append(evalTable(r.eval));
      if (r.eval.hiddenCosine.length) { const c = hiddenCosineChart(r.eval, theme, width); this.charts.push(c); this.body.append(c); }
    } else {
      this.body.append(h("p", { class: "hint" }, "No evaluation in this report. Run “Headshare: Quick Eval” to compare the shared model with the original."));
    }

    if (r.postShare) this.postShare(r.postShare, theme, width);

    if (r.sweep && r.sweep.length) {
      this.body.append(h("h2", {}, "Sweep: quality against size"));
      const pts = r.sweep.map((row) => [row.ratio, row.ppl] as const);
      const c = drawLineChart([{ name: "perplexity", colour: theme.accent, points: pts }],
        { title: "Perplexity by sharing ratio", xLabel: "sharing ratio", yLabel: "perplexity", width, height: 220, markerX: r.ratio }, theme);
      this.charts.push(c);
      this.body.append(c, sweepTable(r));
    }

    if (r.weightSimilarity || r.attentionSimilarity) {
      this.body.append(h("h2", {}, "Which heads look alike: weights vs attention maps"));
      const row = h("div", { class: "similarity-row" });
      for (const g of [r.weightSimilarity, r.attentionSimilarity]) {
        if (!g) continue;
        const hm = new Heatmap(() => Math.min(360, width / 2), () => undefined);
        hm.render(gridModel(g), theme, true);
        this.maps.push(hm);
        row.append(h("figure", {}, h("figcaption", {}, g.title), hm.element));
      }
      this.body.append(row);
    }
  }
}

function postShareTable(p: PostShareSummary): HTMLElement {
  const row = (label: string, x: { nll: number; ppl: number }, vs: { kl: number; top1Agreement: number } | null, id: string) =>
    h("tr", { id }, h("th", { scope: "row" }, label), h("td", { "data-ppl": x.ppl }, fixed(x.ppl, 4)), h("td", {}, fixed(x.nll, 5)),
      h("td", {}, vs ? fixed(vs.kl, 5) : "—"), h("td", {}, vs ? pct(vs.top1Agreement, 2) : "—"));
  return h("table", { class: "metrics", id: "postshare-metrics" },
    h("caption", {}, `held-out: ${int(p.tokens)} tokens · ${int(p.steps)} steps in ${p.trainSeconds.toFixed(1)} s · paired-weight distance ${fixed(p.pairDistance.before, 4)} → ${fixed(p.pairDistance.after, 4)}`),
    h("thead", {}, h("tr", {}, ...["model", "perplexity", "NLL", "KL vs original", "top-1 vs original"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, row("original", p.original, null, "ps-original"), row("DirectShare", p.directShare, p.directShareVsOriginal, "ps-directshare"),
      row("post-trained (before sharing)", p.postTrained, null, "ps-posttrained"), row("PostShare", p.postShare, p.finalShare, "ps-postshare")));
}

function gridModel(g: SimilarityGrid) {
  const vals = g.values.filter((v): v is number => v !== null);
  return {
    rows: g.rows, cols: g.cols, title: g.title, rowName: "layer", colName: g.colName ?? "unit",
    domain: [vals.length ? Math.min(...vals) : 0, vals.length ? Math.max(...vals) : 1] as const,
    value: (r: number, c: number) => g.values[r * g.cols + c] ?? null,
    mark: () => null, links: () => [],
    describe: (r: number, c: number) => { const v = g.values[r * g.cols + c]; return `L${r}·${g.colName === "head" ? "H" : "U"}${c}: ${v === null || v === undefined ? "no value" : v.toFixed(4)}`; },
  };
}

function sweepTable(r: Report): HTMLElement {
  const body = h("tbody");
  for (const row of r.sweep!) {
    body.append(h("tr", {}, h("td", {}, pct(row.ratio, 0)), h("td", {}, int(row.selected)), h("td", {}, row.parameters === null ? "—" : int(row.parameters)),
      h("td", {}, fixed(row.ppl, 4)), h("td", {}, fixed(row.nll, 5)), h("td", {}, fixed(row.kl, 5)), h("td", {}, pct(row.top1Agreement, 2))));
  }
  return h("table", { class: "metrics", id: "sweep-table" }, h("caption", {}, "Sweep"),
    h("thead", {}, h("tr", {}, ...["ratio", "shared units", "parameters", "perplexity", "NLL", "KL", "top-1"].map((c) => h("th", { scope: "col" }, c)))), body);
}

function sweepCsv(r: Report): string {
  const lines = ["ratio,selected,parameters,ppl,nll,kl,top1_agreement"];
  for (const x of r.sweep ?? []) lines.push([x.ratio, x.selected, x.parameters ?? "", x.ppl, x.nll, x.kl ?? "", x.top1Agreement ?? ""].join(","));
  return lines.join("\n") + "\n";
}
