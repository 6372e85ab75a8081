/** Pieces shared by the map (quick eval) and the report: the metrics table and the hidden-cosine chart. */
import type { EvalSummary } from "../protocol/webview";
import { h } from "./dom";
import { fixed, int, pct } from "./format";
import { drawLineChart } from "./lineChart";
import type { Theme } from "./theme";

/** Original vs shared: perplexity, NLL, KL, top-1 agreement, tokens, protocol. */
export function evalTable(ev: EvalSummary): HTMLElement {
  const d = ev.shared.ppl - ev.original.ppl;
  const row = (label: string, a: string, b: string, extra = "", id?: string) =>
    h("tr", { id }, h("th", { scope: "row" }, label), h("td", {}, a), h("td", {}, b), h("td", {}, extra));
  return h("table", { class: "metrics", id: "eval-metrics" },
    h("caption", {}, `${int(ev.tokens)} tokens · ${ev.protocol} · ${ev.provider}${ev.seconds !== null ? ` · ${ev.seconds.toFixed(1)} s` : ""}`),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "metric"), h("th", { scope: "col" }, "original"), h("th", { scope: "col" }, "shared"), h("th", { scope: "col" }, "change"))),
    h("tbody", {},
      h("tr", { id: "eval-ppl-row" }, h("th", { scope: "row" }, "perplexity"), h("td", { id: "eval-ppl-original", "data-ppl": ev.original.ppl }, fixed(ev.original.ppl, 4)),
        h("td", { id: "eval-ppl", "data-ppl": ev.shared.ppl }, fixed(ev.shared.ppl, 4)), h("td", {}, `${d >= 0 ? "+" : ""}${fixed(d, 4)} (${pct(d / ev.original.ppl, 2)})`)),
      row("mean NLL (nats/token)", fixed(ev.original.nll, 5), fixed(ev.shared.nll, 5), `${fixed(ev.shared.nll - ev.original.nll, 5)}`),
      row("KL(original ‖ shared)", "—", fixed(ev.kl, 5), "", "eval-kl"),
      row("top-1 agreement", "—", pct(ev.top1Agreement, 2), "", "eval-top1")));
}

export function hiddenCosineChart(ev: EvalSummary, theme: Theme, width: number): SVGSVGElement {
  return drawLineChart([{ name: "cosine", colour: theme.accent, points: ev.hiddenCosine.map((v, i) => [i, v] as const) }],
    { title: "Hidden-state cosine, original vs shared, per layer", xLabel: "layer", yLabel: "cosine", width, height: 200, integerX: true,
      yDomain: [Math.min(0.9, ...ev.hiddenCosine), 1] }, theme);
}
