/**
 * The "Generate" section of the sharing map and the report: a prompt, the original's and the shared
 * model's continuations side by side (greedy, or sampled with one seed for both), tokens/s of each,
 * streamed as they are produced (`webview/generated`), cancellable.
 */
import type { GeneratedEvent, GenerateResponse } from "../protocol/webviewGenerate";
import { h } from "./dom";
import type { Host } from "./host";
import { button, setDisabled } from "./toolkit";

/** The section that receives streamed text (one per view). */
let current: GenerateSection | undefined;

/** Routes a `webview/generated` event to the open section (main.ts). */
export function routeGenerated(ev: GeneratedEvent): void {
  current?.stream(ev);
}

export class GenerateSection {
  readonly element: HTMLElement;
  private readonly prompt: HTMLTextAreaElement;
  private readonly maxTokens: HTMLInputElement;
  private readonly temperature: HTMLInputElement;
  private readonly seed: HTMLInputElement;
  private readonly go: HTMLElement;
  private readonly stop: HTMLElement;
  private readonly out: Record<"original" | "shared", { text: HTMLElement; stats: HTMLElement; title: HTMLElement }>;
  private readonly status = h("p", { class: "generate-status", role: "status" });
  private abort: AbortController | undefined;

  /** `ratio`: the sharing ratio to send (the map's slider); `sharedLabel`: the shared column's title. */
  constructor(
    private readonly host: Host,
    private readonly ratio: () => number,
    sharedLabel: string,
  ) {
    // The one section a page shows receives the streamed `webview/generated` events (handled at module level).
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    current = this;
    this.prompt = h("textarea", { id: "generate-prompt", rows: 3, "aria-label": "Prompt", placeholder: "Once upon a time" }) as HTMLTextAreaElement;
    this.maxTokens = h("input", {
      id: "generate-max-tokens",
      type: "number",
      min: 1,
      max: 2048,
      value: 64,
      "aria-label": "New tokens at most",
    }) as HTMLInputElement;
    this.temperature = h("input", {
      id: "generate-temperature",
      type: "number",
      min: 0,
      max: 10,
      step: 0.1,
      value: 0,
      "aria-label": "Temperature (0 = greedy)",
    }) as HTMLInputElement;
    this.seed = h("input", { id: "generate-seed", type: "number", min: 0, value: 0, "aria-label": "Seed" }) as HTMLInputElement;
    this.go = button("Generate", { id: "generate", onClick: () => void this.run() });
    this.stop = button("Cancel", { id: "generate-cancel", secondary: true, onClick: () => this.abort?.abort() });
    setDisabled(this.stop, true);
    const column = (side: "original" | "shared", title: string) => {
      const t = h("h3", {}, title),
        text = h("pre", { class: "generate-text", id: `generate-${side}`, "aria-live": "polite" }),
        stats = h("p", { class: "generate-stats" });
      return { el: h("div", { class: "generate-column" }, t, text, stats), text, stats, title: t };
    };
    const o = column("original", "Original"),
      s = column("shared", sharedLabel);
    this.out = { original: o, shared: s };
    this.element = h(
      "section",
      { class: "generate", "aria-label": "Generate" },
      h("h2", {}, "Generate"),
      this.prompt,
      h(
        "div",
        { class: "controls" },
        h("label", { for: "generate-max-tokens" }, "New tokens"),
        this.maxTokens,
        h("label", { for: "generate-temperature" }, "Temperature (0 = greedy)"),
        this.temperature,
        h("label", { for: "generate-seed" }, "Seed"),
        this.seed,
        h("div", { class: "buttons" }, this.go, this.stop),
      ),
      this.status,
      h("div", { class: "generate-row" }, o.el, s.el),
    );
  }

  stream(ev: GeneratedEvent): void {
    const c = this.out[ev.side];
    c.text.textContent = ev.text;
    c.stats.textContent = `${ev.tokens} tokens…`;
  }

  private async run(): Promise<void> {
    const prompt = this.prompt.value;
    if (!prompt.trim()) {
      this.status.textContent = "Write a prompt first.";
      return;
    }
    const num = (el: HTMLInputElement, lo: number, hi: number, dflt: number): number => {
      const x = Number(el.value);
      return Number.isFinite(x) ? Math.min(hi, Math.max(lo, x)) : dflt;
    };
    const temperature = num(this.temperature, 0, 10, 0);
    this.abort = new AbortController();
    setDisabled(this.go, true);
    setDisabled(this.stop, false);
    for (const c of Object.values(this.out)) {
      c.text.textContent = "";
      c.stats.textContent = "";
    }
    this.status.textContent = `Generating (${temperature > 0 ? `sampled, temperature ${temperature}, seed ${num(this.seed, 0, 2 ** 32 - 1, 0)}` : "greedy"})…`;
    try {
      const r: GenerateResponse = await this.host.rpc.request(
        "webview/generate",
        {
          prompt,
          maxTokens: Math.round(num(this.maxTokens, 1, 2048, 64)),
          temperature,
          topP: 1,
          seed: Math.round(num(this.seed, 0, 2 ** 32 - 1, 0)),
          ratio: this.ratio(),
        },
        { signal: this.abort.signal },
      );
      this.out.shared.title.textContent = r.sharedLabel;
      for (const side of ["original", "shared"] as const) {
        const g = r[side],
          c = this.out[side];
        c.text.textContent = g.text;
        c.stats.textContent = `${g.tokens} tokens, ${g.tokensPerSecond.toFixed(1)} tokens/s${g.stop === "eos" ? " (stopped at EOS)" : ""}`;
      }
      this.status.textContent = "";
    } catch (e) {
      this.status.textContent = this.abort.signal.aborted ? "Cancelled." : `Generation failed: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      setDisabled(this.go, false);
      setDisabled(this.stop, true);
      this.abort = undefined;
    }
  }
}
