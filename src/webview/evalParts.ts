/** Pieces shared by the map (quick eval) and the report: what was scored, the metrics table, the per-document offer and the hidden-cosine chart. */
import type { EvalSummary } from "../protocol/webview";
import { h } from "./dom";
import { fixed, int, pct } from "./format";
import { drawLineChart } from "./lineChart";
import type { Theme } from "./theme";
import { button } from "./toolkit";

/** "stories260K-hf vs shared at 30% · heldout-brown.txt (named in MODEL_CARD.md) · documents …": which model, text and protocol. */
export function evalHeading(ev: EvalSummary, model: string): HTMLElement {
  const text = ev.text ? `${ev.text.label} (${ev.text.source})` : "a text not recorded in this report";
  return h(
    "p",
    { class: "scored", id: "eval-scored", title: ev.text?.path ?? "" },
    h("strong", {}, "Scored: "),
    `${model} vs shared${ev.ratio !== null ? ` at ${pct(ev.ratio, 0)}` : ""} on ${text} · ${ev.protocol}`,
    ev.reusedFrom ? h("span", { class: "hint" }, ` · from ${ev.reusedFrom}`) : null,
  );
}

/** When the text holds a separator but was scored as a stream: the offer to score it per document. */
export function separatorOffer(ev: EvalSummary, rescore: (separator: string) => void): HTMLElement | null {
  const hint = ev.separatorHint;
  if (!hint) return null;
  return h(
    "div",
    { class: "warning", id: "separator-offer", role: "note" },
    `This text holds ${int(hint.occurrences)} × ${hint.separator} but was scored as one stream of windows, so documents run into each other (perplexity is then higher than the usual per-document number). `,
    button(`Score per document (split at ${hint.separator})`, { id: "score-per-document", onClick: () => rescore(hint.separator) }),
    h("span", { class: "hint" }, " Set headshare.eval.documentSeparator to make it the default."),
  );
}

/** Original vs shared: perplexity, NLL, KL, top-1 agreement, tokens, protocol. */
export function evalTable(ev: EvalSummary): HTMLElement {
  const d = ev.shared.ppl - ev.original.ppl;
  const row = (label: string, a: string, b: string, extra = "", id?: string) =>
    h("tr", { id }, h("th", { scope: "row" }, label), h("td", {}, a), h("td", {}, b), h("td", {}, extra));
  return h(
    "table",
    { class: "metrics", id: "eval-metrics" },
    h("caption", {}, `${int(ev.tokens)} tokens · ${ev.protocol} · ${ev.provider}${ev.seconds !== null ? ` · ${ev.seconds.toFixed(1)} s` : ""}`),
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "metric"),
        h("th", { scope: "col" }, "original"),
        h("th", { scope: "col" }, "shared"),
        h("th", { scope: "col" }, "change"),
      ),
    ),
    h(
      "tbody",
      {},
      h(
        "tr",
        { id: "eval-ppl-row" },
        h("th", { scope: "row" }, "perplexity"),
        h("td", { id: "eval-ppl-original", "data-ppl": ev.original.ppl }, fixed(ev.original.ppl, 4)),
        h("td", { id: "eval-ppl", "data-ppl": ev.shared.ppl }, fixed(ev.shared.ppl, 4)),
        h("td", {}, `${d >= 0 ? "+" : ""}${fixed(d, 4)} (${pct(d / ev.original.ppl, 2)})`),
      ),
      row("mean NLL (nats/token)", fixed(ev.original.nll, 5), fixed(ev.shared.nll, 5), `${fixed(ev.shared.nll - ev.original.nll, 5)}`),
      row("KL(original ‖ shared)", "—", fixed(ev.kl, 5), "", "eval-kl"),
      row("top-1 agreement", "—", pct(ev.top1Agreement, 2), "", "eval-top1"),
    ),
  );
}

export function hiddenCosineChart(ev: EvalSummary, theme: Theme, width: number): SVGSVGElement {
  return drawLineChart(
    [{ name: "cosine", colour: theme.accent, points: ev.hiddenCosine.map((v, i) => [i, v] as const) }],
    {
      title: "Hidden-state cosine, original vs shared, per layer",
      xLabel: "layer",
      yLabel: "cosine",
      width,
      height: 200,
      integerX: true,
      yDomain: [Math.min(0.9, ...ev.hiddenCosine), 1],
    },
    theme,
  );
}
