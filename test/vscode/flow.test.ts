/**
 * Issue 17 in the real extension host: Compress ends with quality (the demo model's report scores the
 * held-out text its model card names, against the README's numbers), the "which text" rule and the
 * per-document protocol named in every result and title, bad input reported about the input before any
 * question (and not as a worker failure), ratio limits, cancel confirmations, and the manifest's
 * inspector default and "Headshare:" menu titles.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as vscode from "vscode";
import { writeSyntheticModel } from "../../src/core/model/synthetic";

const workspace = process.env.HEADSHARE_TEST_WORKSPACE ?? "";
const tmp = process.env.HEADSHARE_TEST_TMP ?? "";
const stories = path.join(workspace, "models", "stories260K-hf");
const haveStories = fs.existsSync(path.join(stories, "model.safetensors"));
const tinyStories = path.join(process.env.HEADSHARE_TEST_SHARED ?? "", "corpus", "tinystories-valid-excerpt.txt");

interface EvalShape {
  tokens: number;
  original: { nll: number; ppl: number };
  shared: { nll: number; ppl: number };
  kl: number | null;
  top1Agreement: number | null;
  text?: { label: string; source: string; path: string } | null;
  protocolKind?: string;
  separatorHint?: { separator: string; occurrences: number } | null;
}
interface ReportShape {
  kind?: string;
  eval: EvalShape | null;
  table?: { layers: number } | null;
  selected: number | null;
  parameters: { before: number; after: number } | null;
  evalState?: { state: string; message: string } | null;
}
interface Api {
  mapQuickEval(model: string, ratio: number): Promise<unknown>;
  runningJobs(): { id: number; label: string; phase: string }[];
  cancel(id?: number): number;
  settledReport(): Promise<ReportShape | undefined>;
  latestReportTitle(): string | undefined;
  statusText(): string;
  lastMessage(): string | undefined;
}

/** Resolves with the command's result, or "asked" when it is still waiting (on a question) after `ms`. */
async function settlesWithin<T>(p: Thenable<T>, ms: number): Promise<T | "asked"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([Promise.resolve(p), new Promise<"asked">((res) => (timer = setTimeout(() => res("asked"), ms)))]);
  clearTimeout(timer);
  if (r === "asked") await vscode.commands.executeCommand("workbench.action.closeQuickOpen");
  return r;
}

describe("Issue 17: the core flow, finished", function () {
  let api: Api;
  let demo = "";
  let synthetic = "";
  const config = () => vscode.workspace.getConfiguration("headshare");

  before(async function () {
    const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === "headshare")!;
    api = (await ext.activate()) as Api;
    demo = path.join(tmp, "flow", "demo-model");
    fs.mkdirSync(path.dirname(demo), { recursive: true });
    fs.cpSync(path.join(ext.extensionPath, "assets", "demo-model"), demo, { recursive: true });
    synthetic = await writeSyntheticModel(path.join(tmp, "flow", "synthetic-no-tokenizer"), {
      family: "llama",
      layers: 4,
      heads: 4,
      kvHeads: 2,
      headDim: 8,
      seed: 7,
    });
  });

  afterEach(async function () {
    await vscode.commands.executeCommand("workbench.action.closeAllEditors");
  });

  it("1. Compress ends with quality: the demo model's report scores heldout-brown.txt (named in its MODEL_CARD.md) in place — the README's numbers — and carries the plan for the map's marks", async function () {
    this.timeout(180_000);
    const out = path.join(tmp, "flow", "demo-shared-30");
    const r = (await vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(demo), { ratio: 0.3, format: "compact", out, evaluate: true })) as
      { report: ReportShape } | undefined;
    assert.ok(r, `compress returned an outcome (${api.lastMessage()})`);
    const rep = r.report;
    assert.equal(rep.kind, "compress");
    assert.ok(rep.eval, `the report holds an evaluation (state: ${JSON.stringify(rep.evalState)})`);
    assert.equal(rep.eval.text?.label, "heldout-brown.txt");
    assert.equal(rep.eval.text?.source, "named in MODEL_CARD.md");
    // headshare.eval.documentSeparator (<|endoftext|>) is set by the runner but the text does not hold it: stream windows.
    assert.equal(rep.eval.protocolKind, "stream");
    // README.md (npm run demo): 624,128 → 574,976 parameters; NLL 1.9213 → 2.0595 nats/byte, KL 0.2867, top-1 68.70 %.
    assert.deepEqual(rep.parameters, { before: 624128, after: 574976 });
    assert.ok(Math.abs(rep.eval.original.nll - 1.9213) < 6e-5, `original NLL ${rep.eval.original.nll} ≈ 1.9213`);
    assert.ok(Math.abs(rep.eval.shared.nll - 2.0595) < 6e-5, `shared NLL ${rep.eval.shared.nll} ≈ 2.0595`);
    assert.ok(Math.abs((rep.eval.kl ?? NaN) - 0.2867) < 6e-5, `KL ${rep.eval.kl} ≈ 0.2867`);
    assert.ok(Math.abs((rep.eval.top1Agreement ?? NaN) - 0.687) < 6e-5, `top-1 ${rep.eval.top1Agreement} ≈ 68.70 %`);
    assert.equal(rep.table?.layers, 4, "the match table travels with the report (the weight map marks the shared units from it)");
    assert.equal(rep.selected, 4);
    assert.equal(api.latestReportTitle(), "Compress: demo-model @30% · heldout-brown.txt (stream)");
  });

  it('1b. with no held-out text and no headshare.eval.text, Compress\'s report offers a text instead of "No evaluation"', async function () {
    this.timeout(120_000);
    const before = config().inspect<string>("eval.text")?.globalValue;
    try {
      await config().update("eval.text", "", vscode.ConfigurationTarget.Global);
      const noCard = path.join(tmp, "flow", "demo-no-card");
      fs.cpSync(demo, noCard, { recursive: true });
      fs.rmSync(path.join(noCard, "MODEL_CARD.md"));
      const r = await vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(noCard), {
        ratio: 0.25,
        format: "compact",
        out: path.join(tmp, "flow", "demo-no-card-25"),
      });
      assert.ok(r);
      const rep = await api.settledReport();
      assert.equal(rep?.eval, null);
      assert.equal(rep?.evalState?.state, "offer");
      assert.match(rep?.evalState?.message ?? "", /No held-out text is named in this model's card and headshare.eval.text is not set/);
    } finally {
      await config().update("eval.text", before, vscode.ConfigurationTarget.Global);
    }
  });

  it("1c. compressing from the map right after its quick eval at the same ratio reuses that evaluation", async function () {
    this.timeout(180_000);
    await vscode.commands.executeCommand("headshare.showSharingMap", vscode.Uri.file(demo), { ratio: 0.5 });
    const ev = (await api.mapQuickEval(demo, 0.5)) as EvalShape;
    assert.equal(ev.text?.label, "heldout-brown.txt", "the map scores the model's held-out text too (one rule)");
    const r = (await vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(demo), {
      ratio: 0.5,
      format: "dense",
      out: path.join(tmp, "flow", "demo-from-map-50"),
      evaluate: false,
    })) as { report: ReportShape & { eval: (EvalShape & { reusedFrom?: string | null }) | null } } | undefined;
    assert.ok(r, api.lastMessage());
    assert.match(r.report.eval?.reusedFrom ?? "", /the sharing map's quick eval at 50%/);
    assert.equal(r.report.eval?.shared.ppl, ev.shared.ppl);
    assert.equal(r.report.eval?.original.ppl, ev.original.ppl);
  });

  it("2. which text and which protocol: a text holding <|endoftext|> scored without a separator says so; per document it gives the README's 3.39532; the title names model, ratio, text and protocol", async function () {
    if (!haveStories || !fs.existsSync(tinyStories)) {
      console.log("      (skipped: ../shared is not present; it exists in CI and dev sessions only)");
      this.skip();
    }
    this.timeout(180_000);
    const stream = (await vscode.commands.executeCommand("headshare.quickEval", vscode.Uri.file(stories), {
      shared: stories,
      text: tinyStories,
      separator: null,
      noReport: true,
    })) as EvalShape | undefined;
    assert.ok(stream, api.lastMessage());
    assert.equal(stream.protocolKind, "stream");
    assert.equal(stream.separatorHint?.separator, "<|endoftext|>", "the result carries the offer to score per document");
    assert.ok((stream.separatorHint?.occurrences ?? 0) > 10);
    assert.equal(stream.text?.label, "tinystories-valid-excerpt.txt");
    const docs = (await vscode.commands.executeCommand("headshare.quickEval", vscode.Uri.file(stories), {
      shared: stories,
      text: tinyStories,
      separator: "<|endoftext|>",
      noReport: true,
    })) as EvalShape | undefined;
    assert.ok(docs);
    assert.equal(docs.protocolKind, "documents");
    assert.equal(docs.tokens, 14552);
    assert.ok(Math.abs(docs.original.ppl - 3.39532) / 3.39532 < 1e-4, `per-document perplexity ${docs.original.ppl} ≈ 3.39532 (../shared/models/README.md)`);
    assert.ok(stream.original.ppl > docs.original.ppl + 1, `the stream protocol (${stream.original.ppl}) is what made the extension disagree with the README`);
    const shown = await vscode.commands.executeCommand("headshare.quickEval", vscode.Uri.file(stories), {
      ratio: 0.3,
      text: tinyStories,
      separator: "<|endoftext|>",
    });
    assert.ok(shown);
    assert.equal(api.latestReportTitle(), "Quick eval: stories260K-hf @30% · tinystories-valid-excerpt.txt (documents)");
  });

  it("3. bad input is an error about the input, before any question, and the status bar does not call it a worker failure", async function () {
    this.timeout(120_000);
    // A loose, truncated .safetensors file (no config.json beside it).
    const loose = path.join(tmp, "flow", "loose");
    fs.mkdirSync(loose, { recursive: true });
    const broken = path.join(loose, "broken.safetensors");
    const whole = fs.readFileSync(path.join(synthetic, "model.safetensors"));
    fs.writeFileSync(broken, whole.subarray(0, Math.floor(whole.length / 2)));
    assert.equal(
      await settlesWithin(vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(broken)), 30_000),
      undefined,
      "Compress failed before asking anything",
    );
    assert.match(api.lastMessage() ?? "", /broken\.safetensors/);
    assert.match(api.lastMessage() ?? "", /truncated/);
    assert.doesNotMatch(api.statusText(), /worker stopped|error/i, `status bar: ${api.statusText()}`);
    // A model without a tokenizer: Quick Eval says so before asking for a ratio or a text.
    assert.equal(
      await settlesWithin(vscode.commands.executeCommand("headshare.quickEval", vscode.Uri.file(synthetic)), 30_000),
      undefined,
      "Quick Eval failed before asking anything",
    );
    assert.match(api.lastMessage() ?? "", /tokenizer/);
    assert.match(api.lastMessage() ?? "", /synthetic-no-tokenizer/);
    // A ratio above the model's maximum ((L−1)/L = 75 % for 4 layers) is refused with the number.
    const out = path.join(tmp, "flow", "too-much");
    assert.equal(
      await vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(synthetic), { ratio: 0.9, out, evaluate: false, noReport: true }),
      undefined,
    );
    assert.match(api.lastMessage() ?? "", /90% is above this model's maximum of 75%/);
    assert.ok(!fs.existsSync(out));
    assert.doesNotMatch(api.statusText(), /worker stopped|error/i);
  });

  it("5. a cancel says so", async function () {
    this.timeout(60_000);
    const out = path.join(tmp, "flow", "cancelled");
    const running = vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(synthetic), {
      ratio: 0.5,
      strategy: "qkv",
      granularity: "query-head",
      format: "dense",
      out,
      evaluate: false,
      noReport: true,
    });
    const t0 = Date.now();
    while (!api.runningJobs().some((j) => j.label.startsWith("compress")) && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 2));
    api.cancel();
    assert.equal(await running, undefined);
    assert.equal(api.lastMessage(), "Headshare: Compress cancelled; no output folder was left behind.");
    assert.ok(!fs.existsSync(out));
  });

  it('7. manifest: a .safetensors opens in the inspector by default; explorer menu entries say "Headshare:"', function () {
    const pkg = vscode.extensions.all.find((e) => e.packageJSON?.name === "headshare")!.packageJSON;
    assert.equal(pkg.contributes.customEditors[0].priority, "default");
    const titles = new Map<string, string>(
      (pkg.contributes.commands as { command: string; title: string; category?: string }[]).map((c) => [
        c.command,
        c.category ? `${c.category}: ${c.title}` : c.title,
      ]),
    );
    for (const m of pkg.contributes.menus["explorer/context"] as { command: string }[]) {
      const own = (pkg.contributes.commands as { command: string; title: string }[]).find((c) => c.command === m.command)!;
      assert.match(own.title, /^Headshare: /, `the context menu shows "${own.title}"`);
      assert.match(titles.get(m.command)!, /^Headshare: (?!Headshare)/, "and the palette does not double the prefix");
    }
  });
});
