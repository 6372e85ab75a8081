/**
 * The demo's results (`headshare demo --json`) and its self-contained HTML report: the
 * before/after table, the sharing map and the per-layer hidden-state cosine as inline SVG. No
 * scripts, no remote resources (a CSP meta tag forbids them); every text is HTML-escaped.
 */
import type { MatchTable, SharingPlan } from "../../core/share/types";

export interface DemoSide {
  readonly parameters: number;
  /** Size of the weights file on disk. */
  readonly fileBytes: number;
  /** Mean NLL per predicted token on the held-out text (nats). */
  readonly nll: number;
  readonly ppl: number;
}

/** What `headshare demo --json` prints and the report shows. */
export interface DemoSummary {
  readonly format: "headshare.demo";
  readonly version: 1;
  readonly model: {
    readonly path: string;
    readonly kind: "committed" | "synthetic";
    /** From the checkpoint summary; null where the config does not say. */
    readonly architecture: string | null;
    readonly layers: number;
    readonly heads: number | null;
    readonly kvHeads: number | null;
    readonly headDim: number | null;
    readonly hidden: number | null;
  };
  readonly ratio: number;
  readonly strategy: string;
  readonly granularity: string;
  readonly selected: number;
  readonly units: number;
  readonly chainedTargets: number;
  readonly cutoffScore: number | null;
  /** The held-out text and how it was scored. */
  readonly heldout: {
    readonly file: string;
    /** excerpt: the committed model's held-out excerpt; generated: seeded text for the synthetic model; user: --text. */
    readonly source: "excerpt" | "generated" | "user";
    readonly tokens: number;
    readonly protocol: string;
  };
  readonly original: DemoSide;
  readonly shared: DemoSide;
  /** KL(P_original ‖ P_shared) per predicted token (nats). */
  readonly kl: number;
  readonly klDirection: string;
  readonly top1Agreement: number;
  /** Per layer: mean cosine between the two models' hidden states after that layer. */
  readonly hiddenCosine: readonly number[];
  /** Best-match score of every target candidate (layers 1..L−1), and the selected targets. */
  readonly matches: readonly {
    readonly layer: number;
    readonly unit: number;
    readonly sourceLayer: number;
    readonly sourceUnit: number;
    readonly score: number;
  }[];
  readonly targets: readonly { readonly layer: number; readonly unit: number; readonly rootLayer: number; readonly rootUnit: number; readonly score: number }[];
  readonly compactDir: string;
  readonly report: string;
  readonly provider: string;
  readonly seconds: number;
}

/** The match/plan part of the summary, from the worker's table and the plan. */
export function mapFacts(
  table: MatchTable,
  plan: SharingPlan,
): Pick<DemoSummary, "matches" | "targets" | "selected" | "units" | "chainedTargets" | "cutoffScore"> {
  return {
    selected: plan.selected,
    units: plan.layers * plan.unitsPerLayer,
    chainedTargets: plan.chainedTargets,
    cutoffScore: plan.cutoffScore,
    matches: table.entries.map((e) => ({ layer: e.layer, unit: e.unit, sourceLayer: e.sourceLayer, sourceUnit: e.sourceUnit, score: e.score })),
    targets: plan.targets.map((t) => ({ layer: t.layer, unit: t.unit, rootLayer: t.rootLayer, rootUnit: t.rootUnit, score: t.score })),
  };
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const signedPct = (after: number, before: number): string => {
  const r = before === 0 ? 0 : after / before - 1;
  return `${r > 0 ? "+" : r < 0 ? "−" : "±"}${Math.abs(100 * r).toFixed(2)}%`;
};
const signed = (d: number, digits: number): string => `${d > 0 ? "+" : d < 0 ? "−" : "±"}${Math.abs(d).toFixed(digits)}`;

const HELDOUT_NOTE = {
  excerpt: "Scored on held-out text the model never trained on",
  generated: "Scored on seeded generated text (the synthetic model was trained on nothing)",
  user: "Scored on the text given with --text",
} as const;

/** The before/after rows shared by the terminal table and the report: [label, original, shared, change]. */
export function summaryRows(s: DemoSummary): [string, string, string, string][] {
  return [
    ["parameters", int(s.original.parameters), int(s.shared.parameters), signedPct(s.shared.parameters, s.original.parameters)],
    ["file bytes", int(s.original.fileBytes), int(s.shared.fileBytes), signedPct(s.shared.fileBytes, s.original.fileBytes)],
    ["NLL (nats/token)", s.original.nll.toFixed(4), s.shared.nll.toFixed(4), signed(s.shared.nll - s.original.nll, 4)],
    ["perplexity", s.original.ppl.toFixed(3), s.shared.ppl.toFixed(3), signedPct(s.shared.ppl, s.original.ppl)],
  ];
}

/** Colour of a target cell: how similar it was to its source (low score = orange, high = green). */
function scoreColour(score: number): string {
  const t = Math.max(0, Math.min(1, (score + 0.2) / 1.2)); // cosine −0.2…1 → 0…1
  const hue = Math.round(25 + 95 * t);
  return `hsl(${hue} 70% 62%)`;
}

/** Layers as rows (0 at the top), units as columns; a target shows the unit whose weights it uses. */
function sharingMapSvg(s: DemoSummary): string {
  const L = s.model.layers,
    U = s.units / Math.max(1, L);
  const cw = 100,
    ch = 44,
    left = 70,
    top = 30;
  const w = left + U * cw + 10,
    h = top + L * ch + 12;
  const match = new Map(s.matches.map((m) => [`${m.layer}.${m.unit}`, m]));
  const target = new Map(s.targets.map((t) => [`${t.layer}.${t.unit}`, t]));
  const cells: string[] = [];
  for (let u = 0; u < U; u++) {
    cells.push(`<text x="${left + u * cw + cw / 2}" y="${top - 10}" class="axis" text-anchor="middle">unit ${u}</text>`);
  }
  for (let l = 0; l < L; l++) {
    const y = top + l * ch;
    cells.push(`<text x="${left - 10}" y="${y + ch / 2 + 4}" class="axis" text-anchor="end">layer ${l}</text>`);
    for (let u = 0; u < U; u++) {
      const x = left + u * cw,
        key = `${l}.${u}`;
      const t = target.get(key),
        m = match.get(key);
      const fill = t ? scoreColour(t.score) : "#f4f5f7";
      const title = t
        ? `layer ${l} unit ${u}: shared, uses ${t.rootLayer}.${t.rootUnit} (best match ${m ? `${m.sourceLayer}.${m.sourceUnit}` : "?"}, cosine ${t.score.toFixed(3)})`
        : m
          ? `layer ${l} unit ${u}: kept (best match ${m.sourceLayer}.${m.sourceUnit}, cosine ${m.score.toFixed(3)})`
          : `layer ${l} unit ${u}: kept (layer 0 is never a target)`;
      cells.push(
        `<g><title>${esc(title)}</title><rect x="${x + 2}" y="${y + 2}" width="${cw - 4}" height="${ch - 4}" rx="4" fill="${fill}" stroke="${t ? "#333" : "#c9ccd1"}" stroke-width="${t ? 1.5 : 1}"/>`,
      );
      if (t) {
        cells.push(`<text x="${x + cw / 2}" y="${y + 19}" text-anchor="middle" class="cell strong">← L${t.rootLayer} U${t.rootUnit}</text>`);
        cells.push(`<text x="${x + cw / 2}" y="${y + 34}" text-anchor="middle" class="cell">cos ${t.score.toFixed(3)}</text>`);
      } else {
        cells.push(`<text x="${x + cw / 2}" y="${y + 19}" text-anchor="middle" class="cell muted">kept</text>`);
        cells.push(`<text x="${x + cw / 2}" y="${y + 34}" text-anchor="middle" class="cell muted">${m ? `best ${m.score.toFixed(3)}` : "source only"}</text>`);
      }
      cells.push("</g>");
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="sharing map">${cells.join("")}</svg>`;
}

/** Bars of the per-layer hidden-state cosine, on an axis from just below the lowest value to 1. */
function hiddenCosineSvg(values: readonly number[]): string {
  const bw = 64,
    gap = 18,
    left = 56,
    top = 16,
    ph = 180,
    bottom = 36;
  const w = left + values.length * (bw + gap) + 10,
    h = top + ph + bottom;
  const lowest = Math.min(1, ...values);
  const lo = Math.max(-1, Math.floor((lowest - 0.05) * 10) / 10);
  const y = (v: number): number => top + ph * (1 - (v - lo) / (1 - lo));
  const parts: string[] = [];
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const v = lo + ((1 - lo) * i) / ticks;
    parts.push(
      `<line x1="${left}" x2="${w - 6}" y1="${y(v)}" y2="${y(v)}" class="grid"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" class="axis">${v.toFixed(2)}</text>`,
    );
  }
  values.forEach((v, l) => {
    const x = left + gap / 2 + l * (bw + gap);
    const yy = y(Math.max(lo, v));
    parts.push(`<g><title>layer ${l}: cosine ${v.toFixed(6)}</title><rect x="${x}" y="${yy}" width="${bw}" height="${top + ph - yy}" fill="#4b7bd1"/>`);
    parts.push(`<text x="${x + bw / 2}" y="${yy - 4}" text-anchor="middle" class="cell">${v.toFixed(4)}</text></g>`);
    parts.push(`<text x="${x + bw / 2}" y="${top + ph + 18}" text-anchor="middle" class="axis">layer ${l}</text>`);
  });
  parts.push(
    `<line x1="${left}" x2="${left}" y1="${top}" y2="${top + ph}" class="axisline"/><line x1="${left}" x2="${w - 6}" y1="${top + ph}" y2="${top + ph}" class="axisline"/>`,
  );
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="hidden-state cosine per layer">${parts.join("")}</svg>`;
}

/** The whole report: one HTML file, no scripts, no external resources. */
export function renderDemoReport(s: DemoSummary): string {
  const rows = summaryRows(s)
    .map(([k, a, b, c]) => `<tr><th scope="row">${esc(k)}</th><td>${esc(a)}</td><td>${esc(b)}</td><td>${esc(c)}</td></tr>`)
    .join("\n");
  const m = s.model;
  const pctRatio = `${Math.round(100 * s.ratio)}%`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>headshare demo: DirectShare ${esc(pctRatio)}</title>
<style>
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2230; margin: 28px auto; max-width: 980px; padding: 0 20px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #e2e4e8; padding-bottom: 4px; }
  .sub { color: #5b6272; margin: 0 0 8px; }
  table { border-collapse: collapse; margin: 8px 0; }
  th, td { padding: 5px 14px; border-bottom: 1px solid #e6e8ec; }
  thead th { text-align: right; background: #f4f5f7; }
  thead th:first-child, tbody th { text-align: left; }
  td { text-align: right; font-variant-numeric: tabular-nums; font-family: ui-monospace, Menlo, Consolas, monospace; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 16px; margin: 8px 0; }
  dt { color: #5b6272; }
  dd { margin: 0; overflow-wrap: anywhere; }
  code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 13px; }
  svg { display: block; margin: 8px 0; max-width: 100%; height: auto; }
  svg .axis { font-size: 12px; fill: #5b6272; }
  svg .cell { font-size: 12px; fill: #1d2230; font-family: ui-monospace, Menlo, Consolas, monospace; }
  svg .strong { font-weight: 600; }
  svg .muted { fill: #8a909c; }
  svg .grid { stroke: #eceef1; }
  svg .axisline { stroke: #9aa0ab; }
  .note { color: #5b6272; font-size: 13px; }
  .legend span { display: inline-block; width: 14px; height: 14px; vertical-align: -2px; border: 1px solid #333; border-radius: 3px; margin: 0 4px 0 12px; }
</style>
</head>
<body>
<h1>headshare demo: DirectShare ${esc(pctRatio)}</h1>
<p class="sub">${esc(m.kind === "committed" ? "the committed demo model (assets/demo-model)" : "a seeded synthetic, untrained model (no committed demo model, or --synthetic)")} · ${esc(`${m.architecture ?? "?"}: ${m.layers} layers, ${m.heads ?? "?"} heads / ${m.kvHeads ?? "?"} KV heads, head size ${m.headDim ?? "?"}, width ${m.hidden ?? "?"}`)}</p>

<h2>Before and after</h2>
<table>
<thead><tr><th></th><th>original</th><th>shared (${esc(pctRatio)})</th><th>change</th></tr></thead>
<tbody>
${rows}
<tr><th scope="row">KL(P<sub>original</sub> ‖ P<sub>shared</sub>)</th><td colspan="3">${esc(s.kl.toFixed(5))} nats/token</td></tr>
<tr><th scope="row">top-1 agreement</th><td colspan="3">${esc((100 * s.top1Agreement).toFixed(2))}%</td></tr>
</tbody>
</table>
<p class="note">${esc(HELDOUT_NOTE[s.heldout.source])}: <code>${esc(s.heldout.file)}</code>, ${esc(int(s.heldout.tokens))} predicted tokens, ${esc(s.heldout.protocol)}.</p>

<h2>Sharing map</h2>
<p class="sub">${esc(`${s.selected} of ${s.units} attention units (KV groups) share another unit's weights (strategy ${s.strategy}); ${s.chainedTargets} chained; cut-off score ${s.cutoffScore === null ? "-" : s.cutoffScore.toFixed(4)}.`)}
A shared cell shows the unit whose weights it uses (its root: “← L0 U2” is layer 0, unit 2) and the cosine to its best match; a kept cell shows the cosine of its own best match.</p>
<p class="note legend">colour of a shared unit by its cosine:<span style="background:${scoreColour(-0.2)}"></span>−0.2<span style="background:${scoreColour(0.4)}"></span>0.4<span style="background:${scoreColour(1)}"></span>1.0</p>
${sharingMapSvg(s)}

<h2>Hidden-state cosine per layer</h2>
<p class="sub">Mean over predicted positions of the cosine between the original and the shared model's hidden state after each layer (1 = unchanged).</p>
${hiddenCosineSvg(s.hiddenCosine)}

<h2>Run</h2>
<dl>
<dt>model</dt><dd><code>${esc(m.path)}</code></dd>
<dt>compact checkpoint</dt><dd><code>${esc(s.compactDir)}</code></dd>
<dt>KL direction</dt><dd>${esc(s.klDirection)}</dd>
<dt>provider</dt><dd>${esc(s.provider)}</dd>
<dt>time</dt><dd>${esc(s.seconds.toFixed(1))} s</dd>
</dl>
</body>
</html>
`;
}
