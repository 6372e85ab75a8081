/** The read-only inspect view of a checkpoint: summary, dtypes, the plan of a compact checkpoint, the tensor table. */
import type { InspectData } from "../protocol/webview";
import { append, clear, h, keyValueTable } from "./dom";
import { stem } from "./exporting";
import { bytes, int, pct, unitName } from "./format";
import type { Host } from "./host";
import { button, textField } from "./toolkit";

export class InspectView {
  private readonly tbody = h("tbody");
  private readonly count = h("p", { class: "hint", id: "tensor-count", "aria-live": "polite" });

  constructor(
    root: HTMLElement,
    private readonly host: Host,
    private readonly d: InspectData,
  ) {
    const filter = host.viewState?.view === "inspect" ? (host.viewState.filter ?? "") : "";
    const name = d.path.split(/[\\/]/).filter(Boolean).slice(-2).join("/");
    const summary: [string, string][] = [
      ["architecture", d.architecture ?? "—"],
      ["layers", d.layers === null ? "—" : String(d.layers)],
      ["heads / kv heads", d.heads === null ? "—" : `${d.heads} / ${d.kvHeads ?? "?"}`],
      ["head size", d.headDim === null ? "—" : String(d.headDim)],
      ["width", d.hidden === null ? "—" : String(d.hidden)],
      ["parameters", int(d.parameters)],
      ["bytes", `${bytes(d.bytes)} (${int(d.bytes)})`],
      [
        "attention parameters",
        d.attentionParameters === null ? "—" : `${int(d.attentionParameters)} (${pct(d.attentionParameters / Math.max(1, d.parameters), 1)})`,
      ],
      ["tensors", int(d.tensors.length)],
    ];
    append(root, [
      h("header", {}, h("h1", {}, `Inspect — ${name}`), h("p", { class: "path" }, d.path)),
      d.modelError ? h("p", { class: "warning", role: "note" }, d.modelError) : null,
      h(
        "div",
        { class: "inspect-top" },
        keyValueTable("Model", summary, "inspect-summary"),
        keyValueTable(
          "Parameters by dtype",
          Object.entries(d.dtypes).map(([k, v]) => [k, int(v)] as [string, string]),
          "inspect-dtypes",
        ),
      ),
      d.plan ? this.planSection() : null,
      Object.keys(d.metadata).length
        ? keyValueTable(
            "Metadata",
            Object.entries(d.metadata)
              .filter(([k]) => k !== "headshare.plan")
              .map(([k, v]) => [k, v.length > 200 ? `${v.slice(0, 200)}…` : v] as [string, string]),
            "inspect-metadata",
          )
        : null,
      h("h2", {}, "Tensors"),
      h(
        "div",
        { class: "buttons" },
        textField({
          id: "tensor-filter",
          placeholder: "Filter tensors (substring)",
          ariaLabel: "Filter tensors by name",
          value: filter,
          onInput: (v) => this.fill(v),
        }),
        button("Export JSON", {
          secondary: true,
          onClick: () => void host.exportFile({ format: "json", suggestedName: `${stem(name)}-inspect.json`, data: JSON.stringify(d, null, 1) }),
        }),
      ),
      this.count,
      h(
        "table",
        { class: "tensors", id: "tensor-table" },
        h("thead", {}, h("tr", {}, ...["name", "dtype", "shape", "bytes"].map((c) => h("th", { scope: "col" }, c)))),
        this.tbody,
      ),
    ]);
    this.fill(filter);
  }

  private planSection(): HTMLElement {
    const p = this.d.plan!;
    const body = h("tbody");
    for (const t of p.targets.slice(0, 2000))
      body.append(h("tr", {}, h("td", {}, unitName(t.layer, t.unit)), h("td", {}, unitName(t.rootLayer, t.rootUnit)), h("td", {}, t.score.toFixed(4))));
    return h(
      "section",
      { id: "inspect-plan" },
      h("h2", {}, `Compact checkpoint: ${p.selected} units shared at ratio ${pct(p.ratio, 0)} (${p.strategy}, ${p.granularity})`),
      p.parametersBefore !== null && p.parametersAfter !== null ? h("p", {}, `parameters ${int(p.parametersBefore)} → ${int(p.parametersAfter)}`) : null,
      h(
        "table",
        { class: "metrics" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "target"), h("th", { scope: "col" }, "uses root"), h("th", { scope: "col" }, "score"))),
        body,
      ),
    );
  }

  private fill(filter: string): void {
    this.host.saveViewState({ view: "inspect", path: this.d.path, filter });
    const f = filter.trim().toLowerCase();
    const rows = f ? this.d.tensors.filter((t) => t.name.toLowerCase().includes(f)) : this.d.tensors;
    clear(this.tbody);
    const shown = rows.slice(0, 5000);
    for (const t of shown)
      this.tbody.append(
        h(
          "tr",
          {},
          h("td", { class: "mono" }, t.name),
          h("td", {}, t.dtype),
          h("td", { class: "mono" }, `[${t.shape.join(", ")}]`),
          h("td", { class: "num" }, int(t.bytes)),
        ),
      );
    this.count.textContent = `${rows.length} of ${this.d.tensors.length} tensors${rows.length > shown.length ? ` (first ${shown.length} shown)` : ""}`;
  }
}
