/**
 * The regression report of Compress, Quick Eval or Sweep (its title and sections follow the kind):
 * size before/after with the arithmetic of the units shared, quality (perplexity, KL, top-1, per-layer
 * hidden-state cosine) on a named text with its protocol — evaluated in place, with the buttons to
 * score a text when the rule found none — the sweep curve, and the weight map (shared units, chains and
 * roots marked, with the map's hover) beside the attention-map similarity map (the paper's Fig. 1).
 * Exports: a figure (SVG/PNG with title, model, ratio, legend), JSON, the sweep's CSV.
 */
import type { MatchTable } from "../core/share/types";
import type { EvalSummary, PostShareSummary, Report, SimilarityGrid } from "../protocol/webview";
import { clear, h, keyValueTable } from "./dom";
import { evalHeading, evalTable, hiddenCosineChart, separatorOffer } from "./evalParts";
import { stem, svgPngBase64, svgText } from "./exporting";
import { figureSvg, markLegend } from "./figure";
import type { LegendItem } from "./figure";
import { bytes, fixed, int, pct, unitName } from "./format";
import { Heatmap } from "./heatmap";
import type { Cell } from "./heatmap";
import { GenerateSection } from "./generateView";
import type { Host } from "./host";
import { drawLineChart } from "./lineChart";
import { PlanCells } from "./planCells";
import { readTheme } from "./theme";
import { button, spinner, tag } from "./toolkit";

type Kind = NonNullable<Report["kind"]>;

/** The kind of a report (saved before `kind` was recorded: inferred). */
export function reportKind(r: Report): Kind {
  return r.kind ?? (r.sweep && !r.eval ? "sweep" : r.output === null && r.eval ? "quickEval" : "compress");
}

/** The report's title: what it is, the model, the ratio. */
export function reportTitle(r: Report): string {
  const kind = reportKind(r);
  if (kind === "sweep") return `Sweep — ${r.model.name}`;
  if (kind === "quickEval") return `Quick eval — ${r.model.name}${r.output ? ` vs ${r.output.split(/[\\/]/).pop()}` : ` shared at ${pct(r.ratio, 0)}`}`;
  return `${r.method === "postshare" ? "PostShare" : "DirectShare"} at ${pct(r.ratio, 0)} — ${r.model.name}`;
}

/** A running evaluation's abort: kept across re-renders (the host re-sends the report as it progresses). */
let pendingEval: AbortController | undefined;

/** The Generate section, kept across the same re-renders (a prompt typed or a generation running while the report evaluates survives). */
let generate: { key: string; section: GenerateSection } | undefined;

function generateSection(host: Host, r: Report): HTMLElement {
  const key = JSON.stringify([r.model.path, r.output, r.ratio]);
  if (generate?.key !== key) generate = { key, section: new GenerateSection(host, () => r.ratio, r.output ? "Shared" : `Shared at ${pct(r.ratio, 0)}`) };
  return generate.section.element;
}

export class ReportView {
  private readonly body = h("div", { class: "report-body" });
  private readonly busyText = h("span", { id: "report-busy-text" });
  private charts: SVGSVGElement[] = [];
  private maps: Heatmap[] = [];
  private readonly cells: PlanCells | null;
  private readonly detail = h("div", { class: "detail", id: "report-cell-detail", "aria-live": "polite" });

  constructor(
    private readonly root: HTMLElement,
    private readonly host: Host,
    private readonly report: Report,
    reportFile: string | null,
  ) {
    if (reportFile) host.saveViewState({ view: "report", path: reportFile });
    const r = report,
      kind = reportKind(r);
    let cells: PlanCells | null = null;
    try {
      cells = r.table ? new PlanCells(r.table as MatchTable, r.ratio) : null;
    } catch {
      cells = null;
    }
    this.cells = cells;
    const name = stem(r.model.name);
    const suffix = kind === "sweep" ? "sweep" : `${kind === "quickEval" ? "quick-eval" : "report"}-${Math.round(r.ratio * 100)}`;
    this.root.append(
      h(
        "header",
        {},
        h("h1", {}, reportTitle(r)),
        h(
          "div",
          { class: "tags" },
          kind === "sweep" ? tag(`${r.sweep?.length ?? 0} ratios`) : kind === "quickEval" && r.output ? null : tag(`ratio ${pct(r.ratio, 0)}`),
          tag(`strategy ${r.strategy}`),
          tag(`unit ${r.granularity}`),
          r.format ? tag(r.format) : null,
          r.provider ? tag(r.provider) : null,
        ),
        h("p", { class: "path" }, r.output ? `${r.model.path} → ${r.output}` : r.model.path),
      ),
      h(
        "div",
        { class: "buttons" },
        button("Export SVG", {
          id: "report-export-svg",
          secondary: true,
          onClick: () => void host.exportFile({ format: "svg", suggestedName: `${name}-${suffix}.svg`, data: svgText(this.figure()) }),
        }),
        button("Export PNG", {
          id: "report-export-png",
          secondary: true,
          onClick: () => void svgPngBase64(this.figure()).then((data) => host.exportFile({ format: "png", suggestedName: `${name}-${suffix}.png`, data })),
        }),
        button("Export JSON", {
          secondary: true,
          onClick: () => void host.exportFile({ format: "json", suggestedName: `${name}-${suffix}.json`, data: JSON.stringify(r, null, 1) }),
        }),
        r.sweep
          ? button("Export sweep CSV", {
              secondary: true,
              onClick: () => void host.exportFile({ format: "csv", suggestedName: `${name}-sweep.csv`, data: sweepCsv(r) }),
            })
          : null,
      ),
      this.body,
      generateSection(host, r),
    );
    this.redraw();
  }

  /** Progress of the evaluation running in place (the job's own words: phase, percent, time left). */
  setBusy(message: string): void {
    this.busyText.textContent = message;
  }

  private sizeRows(): [string, string][] {
    const r = this.report;
    const size: [string, string][] = [];
    if (r.parameters)
      size.push([
        "parameters",
        `${int(r.parameters.before)} → ${int(r.parameters.after)} (−${int(r.parameters.before - r.parameters.after)}, ${pct((r.parameters.before - r.parameters.after) / r.parameters.before, 2)})`,
      ]);
    if (r.bytes) size.push(["bytes", `${bytes(r.bytes.before)} → ${bytes(r.bytes.after)} (−${bytes(r.bytes.before - r.bytes.after)})`]);
    if (r.selected !== null)
      size.push([
        "units shared",
        `${this.cells ? this.cells.arithmetic(r.ratio) : int(r.selected)}${r.chainedTargets !== null ? ` (${int(r.chainedTargets)} through a chain)` : ""}`,
      ]);
    return size;
  }

  private quality(width: number): void {
    const r = this.report,
      st = r.evalState,
      theme = readTheme();
    this.body.append(h("h2", { id: "quality" }, "Quality: what did sharing cost?"));
    if (st && st.state === "running") {
      this.body.append(
        h(
          "div",
          { class: "quality-state running", id: "eval-state", "data-state": st.state, role: "status" },
          h("span", {}, spinner("Scoring"), " ", st.message),
          this.busyText,
          h("div", { class: "buttons" }, button("Cancel", { id: "cancel-eval", secondary: true, onClick: () => pendingEval?.abort() })),
        ),
      );
    } else if (st) {
      this.body.append(
        h(
          "div",
          { class: `quality-state ${st.state}`, id: "eval-state", "data-state": st.state, role: st.state === "failed" ? "alert" : "note" },
          h(
            "p",
            { class: st.state === "failed" ? "error" : "" },
            st.state === "failed" ? `Scoring ${st.text?.label ?? "the text"} failed: ${st.message}` : st.message,
          ),
          h(
            "div",
            { class: "buttons" },
            st.state === "too-large" ? button(`Score ${st.text?.label ?? "it"} now`, { id: "eval-run", onClick: () => this.evaluate("auto") }) : null,
            button("Score a text file…", { id: "eval-choose", secondary: st.state === "too-large", onClick: () => this.evaluate("choose") }),
            button("Score the active editor's text", { id: "eval-editor", secondary: true, onClick: () => this.evaluate("editor") }),
          ),
        ),
      );
    }
    if (r.eval) {
      this.body.append(evalHeading(r.eval, r.model.name), separatorOffer(r.eval, (sep) => this.evaluate("auto", sep)) ?? "", evalTable(r.eval));
      if (r.eval.hiddenCosine.length) {
        const c = hiddenCosineChart(r.eval, theme, width);
        this.charts.push(c);
        this.body.append(c);
      }
      if (!st)
        this.body.append(
          h("div", { class: "buttons" }, button("Score another text…", { id: "eval-choose", secondary: true, onClick: () => this.evaluate("choose") })),
        );
    } else if (!st) {
      this.body.append(
        h(
          "p",
          { class: "hint", id: "eval-none" },
          "This report holds no evaluation (it was saved without one). Run “Headshare: Quick Eval” on this model to score it.",
        ),
      );
    }
  }

  /** Asks the host to score a text in place; the updated report comes back as a new render. */
  private evaluate(text: "auto" | "choose" | "editor", separator?: string): void {
    pendingEval?.abort();
    const ac = new AbortController();
    pendingEval = ac;
    void this.host.rpc
      .request("webview/evaluate", { text, ...(separator !== undefined ? { separator } : {}) }, { signal: ac.signal })
      .catch((e: unknown) => {
        if ((e as { code?: unknown }).code === "cancelled") return;
        const el = document.getElementById("eval-state") ?? document.getElementById("quality");
        el?.after(h("p", { class: "error", role: "alert", id: "eval-error" }, e instanceof Error ? e.message : String(e)));
      })
      .finally(() => {
        if (pendingEval === ac) pendingEval = undefined;
      });
  }

  private postShare(p: PostShareSummary, theme: ReturnType<typeof readTheme>, width: number): void {
    this.body.append(h("h2", {}, "PostShare against DirectShare at the same ratio"), postShareTable(p));
    if (p.lossCurve.length > 1) {
      const c = drawLineChart(
        [
          { name: "LM loss", colour: theme.accent, points: p.lossCurve.map((x) => [x.step, x.lm] as const) },
          { name: "weight loss", colour: theme.accent2, points: p.lossCurve.map((x) => [x.step, x.weight] as const) },
        ],
        { title: "Post-training losses", xLabel: "step", yLabel: "loss", width, height: 220, integerX: true },
        theme,
      );
      this.charts.push(c);
      this.body.append(c);
    }
  }

  /** The whole report as one figure: title, what was compressed and scored, the charts and maps, the legend. */
  private figure(): SVGSVGElement {
    const r = this.report,
      ev: EvalSummary | null = r.eval;
    const lines = [
      r.output ? `${r.model.path} → ${r.output}` : r.model.path,
      `strategy ${r.strategy} · unit ${r.granularity}${r.format ? ` · ${r.format}` : ""}${this.sizeRows()
        .map(([k, v]) => ` · ${k} ${v}`)
        .join("")}`,
    ];
    if (ev)
      lines.push(
        `scored on ${ev.text?.label ?? "(text not recorded)"} · ${ev.protocol} · perplexity ${fixed(ev.original.ppl, 4)} → ${fixed(ev.shared.ppl, 4)} · KL ${fixed(ev.kl, 5)} · top-1 ${pct(ev.top1Agreement, 2)}`,
      );
    if (r.sweep && r.sweepText) lines.push(`scored on ${r.sweepText.label}${r.sweepProtocol ? ` · ${r.sweepProtocol}` : ""}`);
    const legend: LegendItem[] = this.cells ? markLegend(this.cells.plan.chainedTargets > 0) : [];
    return figureSvg({ title: reportTitle(r), lines, parts: [...this.charts, ...this.maps.map((m) => m.toSvg())], legend }, readTheme());
  }

  redraw(): void {
    const r = this.report,
      theme = readTheme(),
      kind = reportKind(r);
    const width = Math.min(Math.max(320, this.root.clientWidth - 24), 720);
    clear(this.body);
    this.charts = [];
    this.maps = [];
    const size = this.sizeRows();
    if (size.length) this.body.append(keyValueTable("Size", size, "report-size"));
    if (r.seconds !== null || r.provider)
      this.body.append(
        h(
          "p",
          { class: "run-line", id: "report-run" },
          `${kind === "sweep" ? "Swept" : kind === "quickEval" ? "Scored" : "Written"}${r.seconds !== null ? ` in ${r.seconds.toFixed(2)} s` : ""}${r.provider ? ` on ${r.provider}` : ""}.`,
        ),
      );

    if (kind !== "sweep" || r.eval) this.quality(width);
    if (r.postShare) this.postShare(r.postShare, theme, width);

    if (r.sweep && r.sweep.length) {
      this.body.append(h("h2", {}, "Sweep: quality against size"));
      if (r.sweepText)
        this.body.append(
          h(
            "p",
            { class: "scored", id: "sweep-scored", title: r.sweepText.path },
            h("strong", {}, "Scored: "),
            `${r.model.name} shared at each ratio on ${r.sweepText.label} (${r.sweepText.source})${r.sweepProtocol ? ` · ${r.sweepProtocol}` : ""}`,
          ),
        );
      const pts = r.sweep.map((row) => [row.ratio, row.ppl] as const);
      const c = drawLineChart(
        [{ name: "perplexity", colour: theme.accent, points: pts }],
        { title: "Perplexity by sharing ratio", xLabel: "sharing ratio", yLabel: "perplexity", width, height: 220 },
        theme,
      );
      this.charts.push(c);
      this.body.append(c, sweepTable(r));
    }

    const weights = this.cells || r.weightSimilarity;
    if (weights || r.attentionSimilarity) {
      this.body.append(
        h(
          "h2",
          { id: "maps-heading" },
          weights && r.attentionSimilarity
            ? "Which heads look alike: weights vs attention maps"
            : weights
              ? "Which units look alike (weights) and which were shared"
              : "Which heads look alike (attention maps)",
        ),
      );
      const row = h("div", { class: "similarity-row" });
      if (this.cells) {
        const hm = new Heatmap(
          () => Math.min(420, width / 2 + 60),
          (c) => this.showDetail(c),
        );
        hm.render(this.cells.heatmapModel("Weight cosine to the best lower-layer unit; shared units marked"), theme, true);
        this.maps.push(hm);
        row.append(
          h(
            "figure",
            { id: "report-weight-map" },
            h("figcaption", {}, `Weights: best-match cosine · ${this.cells.arithmetic(r.ratio)}`),
            hm.element,
            h(
              "p",
              { class: "legend" },
              h("span", { class: "dot selected" }),
              " shared  ",
              h("span", { class: "dot chained" }),
              " through a chain  ",
              h("span", { class: "dot root" }),
              " root  ",
              h("span", { class: "hatch" }),
              " layer 0",
            ),
          ),
          this.detail,
        );
        this.showDetail(null);
      } else if (r.weightSimilarity) {
        row.append(this.gridFigure(r.weightSimilarity, width));
      }
      if (r.attentionSimilarity) row.append(this.gridFigure(r.attentionSimilarity, width));
      this.body.append(row);
    }
  }

  private gridFigure(g: SimilarityGrid, width: number): HTMLElement {
    const hm = new Heatmap(
      () => Math.min(360, width / 2),
      () => undefined,
    );
    hm.render(gridModel(g), readTheme(), true);
    this.maps.push(hm);
    return h("figure", {}, h("figcaption", {}, g.title), hm.element);
  }

  private showDetail(c: Cell | null): void {
    clear(this.detail);
    if (!this.cells) return;
    if (!c) {
      this.detail.append(h("p", { class: "hint" }, "Hover or click a cell: its source, its root, what it saves."));
      return;
    }
    this.detail.append(h("h3", {}, unitName(c[0], c[1])), h("p", { id: "report-cell-text" }, this.cells.describe(c[0], c[1])));
  }
}

function postShareTable(p: PostShareSummary): HTMLElement {
  const row = (label: string, x: { nll: number; ppl: number }, vs: { kl: number; top1Agreement: number } | null, id: string) =>
    h(
      "tr",
      { id },
      h("th", { scope: "row" }, label),
      h("td", { "data-ppl": x.ppl }, fixed(x.ppl, 4)),
      h("td", {}, fixed(x.nll, 5)),
      h("td", {}, vs ? fixed(vs.kl, 5) : "—"),
      h("td", {}, vs ? pct(vs.top1Agreement, 2) : "—"),
    );
  return h(
    "table",
    { class: "metrics", id: "postshare-metrics" },
    h(
      "caption",
      {},
      `held-out: ${int(p.tokens)} tokens · ${int(p.steps)} steps in ${p.trainSeconds.toFixed(1)} s · paired-weight distance ${fixed(p.pairDistance.before, 4)} → ${fixed(p.pairDistance.after, 4)}`,
    ),
    h("thead", {}, h("tr", {}, ...["model", "perplexity", "NLL", "KL vs original", "top-1 vs original"].map((c) => h("th", { scope: "col" }, c)))),
    h(
      "tbody",
      {},
      row("original", p.original, null, "ps-original"),
      row("DirectShare", p.directShare, p.directShareVsOriginal, "ps-directshare"),
      row("post-trained (before sharing)", p.postTrained, null, "ps-posttrained"),
      row("PostShare", p.postShare, p.finalShare, "ps-postshare"),
    ),
  );
}

function gridModel(g: SimilarityGrid) {
  const vals = g.values.filter((v): v is number => v !== null);
  return {
    rows: g.rows,
    cols: g.cols,
    title: g.title,
    rowName: "layer",
    colName: g.colName ?? "unit",
    domain: [vals.length ? Math.min(...vals) : 0, vals.length ? Math.max(...vals) : 1] as const,
    value: (r: number, c: number) => g.values[r * g.cols + c] ?? null,
    mark: () => null,
    links: () => [],
    describe: (r: number, c: number) => {
      const v = g.values[r * g.cols + c];
      return `L${r}·${g.colName === "head" ? "H" : "U"}${c}: ${v === null || v === undefined ? "no value" : v.toFixed(4)}`;
    },
  };
}

function sweepTable(r: Report): HTMLElement {
  const body = h("tbody");
  for (const row of r.sweep!) {
    body.append(
      h(
        "tr",
        {},
        h("td", {}, pct(row.ratio, 0)),
        h("td", {}, int(row.selected)),
        h("td", {}, row.parameters === null ? "—" : int(row.parameters)),
        h("td", {}, fixed(row.ppl, 4)),
        h("td", {}, fixed(row.nll, 5)),
        h("td", {}, fixed(row.kl, 5)),
        h("td", {}, pct(row.top1Agreement, 2)),
      ),
    );
  }
  return h(
    "table",
    { class: "metrics", id: "sweep-table" },
    h("caption", {}, "Sweep"),
    h("thead", {}, h("tr", {}, ...["ratio", "shared units", "parameters", "perplexity", "NLL", "KL", "top-1"].map((c) => h("th", { scope: "col" }, c)))),
    body,
  );
}

function sweepCsv(r: Report): string {
  const lines = ["ratio,selected,parameters,ppl,nll,kl,top1_agreement"];
  for (const x of r.sweep ?? []) lines.push([x.ratio, x.selected, x.parameters ?? "", x.ppl, x.nll, x.kl ?? "", x.top1Agreement ?? ""].join(","));
  return lines.join("\n") + "\n";
}
