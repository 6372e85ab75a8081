/**
 * The webview rendered standalone (production page + dist/webview.js, stub acquireVsCodeApi) in headless
 * Chromium: the sharing map for synthetic match tables, the slider re-planning live, hover details,
 * export, quick-eval round trip, state restore, CSP cleanliness, and the report and inspect views.
 * Screenshots go to test-artifacts/. Skips with the reason when Chromium is absent.
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import type { MatchEntry, MatchTable } from "../src/core/share/types";
import { CHROMIUM, repoRoot, rng, startHarness, webviewSkip } from "./webview-harness";
import type { Harness } from "./webview-harness";

const skip = webviewSkip();
const artifacts = path.join(repoRoot, "test-artifacts");

/** A random but valid match table: every unit of layers 1..L-1 gets a random lower source and score. */
function syntheticTable(L: number, U: number, seed: number): MatchTable {
  const r = rng(seed);
  const entries: MatchEntry[] = [];
  for (let l = 1; l < L; l++) {
    for (let u = 0; u < U; u++) {
      entries.push({
        layer: l,
        unit: u,
        sourceLayer: Math.floor(r() * l),
        sourceUnit: Math.floor(r() * U),
        score: Math.round((0.05 + 0.85 * r() * r()) * 1e6) / 1e6,
      });
    }
  }
  return {
    format: "headshare.match",
    version: 1,
    strategy: "qk",
    granularity: "group",
    layers: L,
    unitsPerLayer: U,
    parametersPerUnit: 3072,
    bytesPerUnit: 12288,
    parameters: L * U * 3072 * 3,
    entries,
    source: { provider: "cpu", seconds: 0.12 },
  };
}

/** Reference selection: the N highest scores, ties to the lower (layer, unit); written plainly here. */
function referenceSelection(t: MatchTable, ratio: number): Set<string> {
  const n = Math.floor(ratio * t.layers * t.unitsPerLayer + 1e-9);
  const sorted = [...t.entries].sort((a, b) => b.score - a.score || a.layer - b.layer || a.unit - b.unit);
  return new Set(sorted.slice(0, n).map((e) => `${e.layer},${e.unit}`));
}

async function selectedCells(page: Page): Promise<Set<string>> {
  const cells = await page.$$eval("table.heatmap-cells td[data-mark='selected']", (tds) =>
    tds.map((td) => `${(td as HTMLElement).dataset.row},${(td as HTMLElement).dataset.col}`),
  );
  return new Set(cells);
}

/** The last RPC request the page sent for `method` (waits for it). */
async function lastRequest(page: Page, method: string): Promise<{ id: number; params: unknown }> {
  await page.waitForFunction(
    (m) => (window as unknown as { __posted: { kind: string; method?: string }[] }).__posted.some((x) => x.kind === "request" && x.method === m),
    method,
  );
  return page.evaluate(
    (m) =>
      (window as unknown as { __posted: { kind: string; method?: string; id: number; params: unknown }[] }).__posted
        .filter((x) => x.kind === "request" && x.method === m)
        .pop()!,
    method,
  );
}

let browser: Browser | undefined;
let harness: Harness | undefined;

async function open(init: unknown, opts: { theme?: "dark" | "light" | "high-contrast"; state?: unknown; width?: number } = {}) {
  const page = await browser!.newPage({ viewport: { width: opts.width ?? 1100, height: 900 } });
  const problems: string[] = [];
  await page.addInitScript(() =>
    document.addEventListener("securitypolicyviolation", (e) => console.error(`CSP violation: ${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}`)),
  );
  page.on("console", (m) => {
    if (m.type() === "error" || /Content Security Policy|Refused to/.test(m.text())) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(String(e)));
  await page.goto(harness!.url(init, opts));
  await page.waitForSelector("body[data-ready='true']", { timeout: 15000 });
  return { page, problems };
}

test("webview (standalone page in Chromium)", { skip }, async (t) => {
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  harness = await startHarness();
  fs.mkdirSync(artifacts, { recursive: true });
  t.after(async () => {
    await browser?.close();
    await harness?.close();
  });

  await t.test("webview map: 5 × 4 cells, slider re-plans, selection equals the reference top-N", async () => {
    const table = syntheticTable(5, 4, 7);
    const { page, problems } = await open({ view: "map", model: { path: "/models/stories260K-hf", name: "stories260K-hf" }, table, ratio: 0.3, canEval: true });
    const canvas = page.locator("canvas.heatmap");
    assert.equal(await canvas.getAttribute("data-rows"), "5");
    assert.equal(await canvas.getAttribute("data-cols"), "4");
    assert.equal(await page.locator("table.heatmap-cells td").count(), 20);
    assert.equal(await page.locator("#selected-count").getAttribute("data-selected"), "6"); // floor(0.3·5·4)
    assert.deepEqual(await selectedCells(page), referenceSelection(table, 0.3));
    const cut = Number(await page.locator("line.cut-line").getAttribute("data-cut"));
    const top6 = [...table.entries].map((e) => e.score).sort((a, b) => b - a)[5]!;
    assert.equal(cut, top6);
    await page.screenshot({ path: path.join(artifacts, "webview-map-dark.png"), fullPage: true });

    // Move the slider with the keyboard: 20 steps of 0.01 → 0.5 → floor(0.5·20) = 10 selected.
    await page.locator("#ratio").focus();
    for (let i = 0; i < 20; i++) await page.keyboard.press("ArrowRight");
    assert.equal(await page.locator("#ratio-value").textContent(), "50%");
    assert.equal(await page.locator("#selected-count").getAttribute("data-selected"), "10");
    assert.deepEqual(await selectedCells(page), referenceSelection(table, 0.5));
    const cut10 = Number(await page.locator("line.cut-line").getAttribute("data-cut"));
    assert.equal(cut10, [...table.entries].map((e) => e.score).sort((a, b) => b - a)[9]!);
    const lastState = await page.evaluate(() => (window as unknown as { __state: { ratio: number } }).__state);
    assert.equal(lastState.ratio, 0.5);

    // Click a cell (layer 3, unit 2): the detail names its source and score from the table.
    const box = (await canvas.boundingBox())!;
    const cellSize = await page.evaluate(() => {
      const c = document.querySelector("canvas.heatmap") as HTMLCanvasElement;
      return (parseFloat(c.style.width) - 40 - 64) / 4;
    });
    await page.mouse.click(box.x + 40 + cellSize * 2.5, box.y + 22 + cellSize * 3.5);
    const e = table.entries.find((x) => x.layer === 3 && x.unit === 2)!;
    const text = (await page.locator("#cell-text").textContent())!;
    assert.match(text, new RegExp(`^L3·U2: best source L${e.sourceLayer}·U${e.sourceUnit}, score ${e.score.toFixed(4)}`));
    assert.equal(referenceSelection(table, 0.5).has("3,2"), text.includes("Selected: uses"));
    // Keyboard moves the pinned cell.
    await canvas.focus();
    await page.keyboard.press("ArrowUp");
    assert.match((await page.locator("#cell-text").textContent())!, /^L2·U2:/);
    await page.screenshot({ path: path.join(artifacts, "webview-map-hover.png"), fullPage: true });

    // Export JSON: the requested export holds the plan that is shown; the saved path is reported.
    await page.locator("vscode-button", { hasText: "Export JSON" }).click();
    const exp = (await lastRequest(page, "webview/export")).params as { format: string; data: string; suggestedName: string };
    const plan = JSON.parse(exp.data);
    assert.equal(plan.selected, 10);
    assert.equal(plan.format, "headshare.plan");
    assert.equal(exp.suggestedName, "stories260K-hf-plan-50.json");
    await page.locator("#export-note", { hasText: "Saved /saved/stories260K-hf-plan-50.json" }).waitFor();
    // Exports are figures: title (model, ratio), the plan's arithmetic, the 20 cells, the histogram, a legend; the ratio is in the name.
    await page.locator("vscode-button", { hasText: "Export SVG" }).click();
    const svgReq = (await lastRequest(page, "webview/export")).params as { data: string; suggestedName: string };
    const svg = svgReq.data;
    assert.equal(svgReq.suggestedName, "stories260K-hf-sharing-map-50.svg");
    assert.match(svg, /^<\?xml/);
    assert.equal((svg.match(/<rect [^>]*stroke-width="0.5"/g) ?? []).length, 20);
    assert.match(svg, /class="figure-title"[^>]*>Sharing map — stories260K-hf at 50%</);
    assert.match(svg, /10 of 20 units shared = ⌊50% × 20⌋; layer 0's 4 units are never targets, so 16 are candidates/);
    assert.match(svg, /class="histogram"/);
    for (const label of ["shared: its weights are dropped", "root: kept, used by shared units", "layer 0: no lower layer, never shared"])
      assert.ok(svg.includes(label), `legend: ${label}`);
    await page.locator("vscode-button", { hasText: "Export PNG" }).click();
    await page.waitForFunction(() => (window as unknown as { __posted: { params?: { format?: string } }[] }).__posted.some((m) => m.params?.format === "png"));
    const png = (await lastRequest(page, "webview/export")).params as { format: string; data: string; suggestedName: string };
    assert.equal(png.format, "png");
    assert.equal(png.suggestedName, "stories260K-hf-sharing-map-50.png");
    assert.deepEqual([...Buffer.from(png.data, "base64").subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

    // Quick eval: a request carrying the ratio; Cancel sends the RPC cancel and the panel says so.
    await page.locator("#quick-eval").click();
    const first = await lastRequest(page, "webview/quickEval");
    assert.deepEqual(first.params, { ratio: 0.5, text: "auto" });
    await page.locator("#cancel-job").click();
    const cancel = await page.evaluate(() =>
      (window as unknown as { __posted: { kind: string; target?: number }[] }).__posted.filter((m) => m.kind === "cancel").pop(),
    );
    assert.equal(cancel?.target, first.id);
    await page.evaluate(
      (id) => window.postMessage({ kind: "error", id: 7000, inReplyTo: id, error: { code: "cancelled", message: "cancelled" } }, "*"),
      first.id,
    );
    await page.locator("#busy .error", { hasText: "Quick eval was cancelled." }).waitFor();
    // Again, with progress events and a result.
    await page.locator("#quick-eval").click();
    const second = await lastRequest(page, "webview/quickEval");
    assert.notEqual(second.id, first.id);
    // The panel shows the job's one progress text as the host words it (the status bar's and the notification's).
    await page.evaluate(() =>
      window.postMessage(
        { kind: "event", id: 7001, method: "webview/progress", params: { job: "eval", message: "scoring (evaluate) 50% · about 3 s left", fraction: 0.5 } },
        "*",
      ),
    );
    await page.locator("#busy", { hasText: "scoring (evaluate) 50% · about 3 s left" }).waitFor();
    await page.evaluate(
      (id) =>
        window.postMessage(
          {
            kind: "result",
            id: 7002,
            inReplyTo: id,
            result: {
              ratio: 0.5,
              tokens: 14552,
              protocol: "documents, window 512",
              provider: "cpu",
              original: { nll: 1.222397, ppl: 3.39532 },
              shared: { nll: 1.5, ppl: Math.exp(1.5) },
              kl: 0.21,
              top1Agreement: 0.83,
              hiddenCosine: [1, 0.99, 0.97, 0.95, 0.93, 0.9],
              seconds: 1.2,
            },
          },
          "*",
        ),
      second.id,
    );
    await page.locator("#eval-ppl").waitFor();
    assert.equal(Number(await page.locator("#eval-ppl").getAttribute("data-ppl")), Math.exp(1.5));
    assert.equal(await page.locator("#eval-ppl").textContent(), Math.exp(1.5).toFixed(4));
    assert.equal(await page.locator("#busy .spinner").count(), 0);

    // Malformed messages and replies to nothing are dropped without effect.
    await page.evaluate(() => window.postMessage({ type: "evalResult", eval: { ratio: 7 } }, "*"));
    await page.evaluate(() => window.postMessage({ kind: "event", id: 7003, method: "webview/init", params: { view: "map", table: { format: "nope" } } }, "*"));
    await page.evaluate(() => window.postMessage({ kind: "result", id: 7004, inReplyTo: 123456, result: {} }, "*"));
    await page.waitForTimeout(100);
    assert.equal(await page.locator("#selected-count").getAttribute("data-selected"), "10");
    await page.screenshot({ path: path.join(artifacts, "webview-map-eval.png"), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });

  await t.test("webview map: restores ratio and pinned cell from view state; ratio 0 selects nothing", async () => {
    const table = syntheticTable(5, 4, 7);
    const init = { view: "map", model: { path: "/m", name: "m" }, table, ratio: 0.3, canEval: false };
    const { page, problems } = await open(init, { state: { view: "map", path: "/m", ratio: 0.45, selected: [4, 1] } });
    assert.equal(await page.locator("#ratio").inputValue(), "0.45");
    assert.equal(await page.locator("#selected-count").getAttribute("data-selected"), "9");
    assert.match((await page.locator("#cell-text").textContent())!, /^L4·U1:/);
    assert.equal(await page.locator("#quick-eval").getAttribute("disabled"), "");
    await page.locator("#ratio").fill("0");
    assert.equal(await page.locator("#selected-count").getAttribute("data-selected"), "0");
    assert.equal(await page.locator("line.cut-line").count(), 0);
    assert.deepEqual(problems, []);
    await page.close();
  });

  await t.test("webview map: a 32 × 32 table renders, re-plans in under 50 ms per move, light and high-contrast themes", async (tt) => {
    const table = syntheticTable(32, 32, 11);
    for (const theme of ["light", "high-contrast"] as const) {
      const { page, problems } = await open(
        { view: "map", model: { path: "/models/llama-like", name: "llama-like" }, table, ratio: 0.3, canEval: true },
        { theme },
      );
      assert.equal(await page.locator("table.heatmap-cells td").count(), 1024);
      assert.equal(await page.locator("#selected-count").getAttribute("data-selected"), "307");
      assert.deepEqual(await selectedCells(page), referenceSelection(table, 0.3));
      const ms = await page.evaluate(() => {
        const s = document.getElementById("ratio") as HTMLInputElement;
        const t0 = performance.now();
        for (let i = 0; i < 10; i++) {
          s.value = String(0.1 + i * 0.05);
          s.dispatchEvent(new Event("input"));
        }
        return (performance.now() - t0) / 10;
      });
      assert.ok(ms < 50, `one slider move took ${ms.toFixed(1)} ms`);
      tt.diagnostic(`${theme}: one slider move (plan + heatmap + histogram) on 32 × 32 takes ${ms.toFixed(1)} ms`);
      await page.screenshot({ path: path.join(artifacts, `webview-map-32x32-${theme}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await page.close();
    }
  });

  await t.test("webview report: size, quality, sweep and similarity maps render and export", async () => {
    const r = rng(3);
    const grid = (title: string) => ({ title, rows: 5, cols: 4, values: Array.from({ length: 20 }, (_, i) => (i < 4 ? null : Math.round(r() * 1e4) / 1e4)) });
    const report = {
      model: { path: "/models/stories260K-hf", name: "stories260K-hf" },
      output: "/models/stories260K-hf-shared-30",
      method: "directshare",
      format: "compact",
      ratio: 0.3,
      strategy: "qk",
      granularity: "group",
      provider: "cpu",
      seconds: 0.4,
      parameters: { before: 260032, after: 241600 },
      bytes: { before: 1044992, after: 975872 },
      selected: 6,
      chainedTargets: 1,
      eval: {
        ratio: 0.3,
        tokens: 14552,
        protocol: "documents, window 512",
        provider: "cpu",
        original: { nll: 1.222397, ppl: 3.39532 },
        shared: { nll: 1.4, ppl: Math.exp(1.4) },
        kl: 0.17,
        top1Agreement: 0.86,
        hiddenCosine: [1, 0.995, 0.98, 0.96, 0.95, 0.94],
        seconds: 2,
      },
      sweep: [0, 0.1, 0.2, 0.3, 0.4].map((a, i) => ({
        ratio: a,
        selected: Math.floor(a * 20 + 1e-9),
        parameters: 260032 - Math.floor(a * 20 + 1e-9) * 3072,
        ppl: 3.39532 + i * i * 0.3,
        nll: Math.log(3.39532 + i * i * 0.3),
        kl: i * 0.05,
        top1Agreement: 1 - i * 0.04,
      })),
      weightSimilarity: grid("Weight cosine (best lower match)"),
      attentionSimilarity: { ...grid("Attention-map similarity (best lower match)"), colName: "head" },
      postShare: {
        original: { nll: 1.2, ppl: Math.exp(1.2) },
        directShare: { nll: 1.6, ppl: Math.exp(1.6) },
        postTrained: { nll: 1.25, ppl: Math.exp(1.25) },
        postShare: { nll: 1.3, ppl: Math.exp(1.3) },
        directShareVsOriginal: { kl: 0.4, top1Agreement: 0.7 },
        finalShare: { kl: 0.1, top1Agreement: 0.9 },
        tokens: 3000,
        steps: 200,
        trainSeconds: 30,
        pairDistance: { before: 0.9, after: 0.2 },
        lossCurve: Array.from({ length: 20 }, (_, i) => ({ step: i * 10, lm: 3 - i * 0.05, weight: 1 / (1 + i), loss: 0.5 * (3 - i * 0.05) + 0.5 / (1 + i) })),
      },
    };
    const { page, problems } = await open({ view: "report", report });
    assert.match((await page.locator("#report-size").textContent())!, /260,032 → 241,600/);
    assert.equal(Number(await page.locator("#eval-ppl").getAttribute("data-ppl")), Math.exp(1.4));
    assert.equal(await page.locator("#sweep-table tbody tr").count(), 5);
    assert.equal(await page.locator("svg.line-chart").count(), 3);
    assert.equal(Number(await page.locator("#ps-postshare td").first().getAttribute("data-ppl")), Math.exp(1.3));
    assert.equal(Number(await page.locator("#ps-directshare td").first().getAttribute("data-ppl")), Math.exp(1.6));
    assert.equal(await page.locator("canvas.heatmap").count(), 2);
    assert.match((await page.locator("table.heatmap-cells").nth(1).locator("td").nth(5).textContent())!, /^L1·H1: /);
    await page.locator("vscode-button", { hasText: "Export sweep CSV" }).click();
    await page.locator("vscode-button", { hasText: "Export PNG" }).click();
    await page.waitForFunction(() => (window as unknown as { __posted: { params?: { format?: string } }[] }).__posted.some((m) => m.params?.format === "png"));
    const posted = (await page.evaluate(() => (window as unknown as { __posted: { params?: { format?: string; data?: string } }[] }).__posted)).map(
      (m) => m.params ?? {},
    );
    const csv = posted
      .find((m) => m.format === "csv")!
      .data!.trim()
      .split("\n");
    assert.equal(csv.length, 6);
    assert.equal(csv[0], "ratio,selected,parameters,ppl,nll,kl,top1_agreement");
    assert.ok(Buffer.from(posted.find((m) => m.format === "png")!.data!, "base64").length > 1000);
    // Generate: the prompt goes to the host; streamed text fills each column; the result shows tokens/s
    await page.locator("#generate-prompt").fill("Once upon a time");
    await page.locator("vscode-button#generate").click();
    const gen = await lastRequest(page, "webview/generate");
    assert.deepEqual(gen.params, { prompt: "Once upon a time", maxTokens: 64, temperature: 0, topP: 1, seed: 0, ratio: 0.3 });
    await page.evaluate(() =>
      window.postMessage({ kind: "event", id: 7100, method: "webview/generated", params: { side: "shared", text: " there was", tokens: 3 } }, "*"),
    );
    await page.waitForFunction(() => document.getElementById("generate-shared")?.textContent === " there was");
    await page.evaluate(
      (id) =>
        window.postMessage(
          {
            kind: "result",
            id: 7101,
            inReplyTo: id,
            result: {
              original: { text: " there was a girl", tokens: 5, tokensPerSecond: 120.5, stop: "max-tokens" },
              shared: { text: " there was a dog", tokens: 5, tokensPerSecond: 118, stop: "eos" },
              sharedLabel: "stories260K-hf-shared-30",
            },
          },
          "*",
        ),
      gen.id,
    );
    await page.waitForFunction(() => document.getElementById("generate-original")?.textContent === " there was a girl");
    assert.match((await page.locator(".generate-stats").nth(1).textContent())!, /5 tokens, 118\.0 tokens\/s \(stopped at EOS\)/);
    await page.screenshot({ path: path.join(artifacts, "webview-report.png"), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });

  await t.test("webview report (issue 17): Compress's report evaluates in place, marks the shared units, sections follow the kind", async () => {
    const table = syntheticTable(5, 4, 11);
    const base = {
      kind: "compress",
      model: { path: "/models/stories260K-hf", name: "stories260K-hf" },
      output: "/models/stories260K-hf-shared-30",
      method: "directshare",
      format: "compact",
      ratio: 0.3,
      strategy: "qk",
      granularity: "group",
      provider: "cpu",
      seconds: 0.4,
      parameters: { before: 260032, after: 241600 },
      bytes: null,
      selected: 6,
      chainedTargets: 0,
      eval: null,
      sweep: null,
      weightSimilarity: null,
      attentionSimilarity: null,
      table,
    };
    // 1. No text found by the rule: the report says so and offers a text in one click.
    const offer = await open({
      view: "report",
      report: {
        ...base,
        evalState: { state: "offer", text: null, message: "No held-out text is named in this model's card and headshare.eval.text is not set." },
      },
    });
    let page = offer.page;
    assert.equal(await page.locator("h1").textContent(), "DirectShare at 30% — stories260K-hf");
    const size = (await page.locator("#report-size").textContent())!;
    assert.match(size, /6 of 20 units shared = ⌊30% × 20⌋; layer 0's 4 units are never targets, so 16 are candidates/);
    assert.doesNotMatch(size, /time/, "the run time is not a size");
    assert.match((await page.locator("#report-run").textContent())!, /Written in 0.40 s on cpu/);
    assert.equal(await page.locator("#eval-state").getAttribute("data-state"), "offer");
    // The weight map marks exactly the plan's shared units (the reference top-N), with the map's hover text.
    const marked = await page.$$eval("#report-weight-map table.heatmap-cells td[data-mark='selected']", (tds) =>
      tds.map((td) => `${(td as HTMLElement).dataset.row},${(td as HTMLElement).dataset.col}`),
    );
    assert.deepEqual(new Set(marked), referenceSelection(table, 0.3));
    const box = (await page.locator("#report-weight-map canvas.heatmap").boundingBox())!;
    const cellPx = (box.width - 40 - 64) / 4;
    await page.mouse.move(box.x + 40 + cellPx * 2.5, box.y + 22 + cellPx * 3.5);
    assert.match((await page.locator("#report-cell-text").textContent())!, /^L3·U2: best source L\d·U\d, score /);
    await page.locator("#eval-choose").click();
    assert.deepEqual((await lastRequest(page, "webview/evaluate")).params, { text: "choose" });
    await page.screenshot({ path: path.join(artifacts, "webview-report-offer.png"), fullPage: true });
    assert.deepEqual(offer.problems, []);
    await page.close();
    // 2. Running: the job's progress text in place, a Cancel.
    const running = await open(
      {
        view: "report",
        report: {
          ...base,
          evalState: {
            state: "running",
            text: { path: "/m/heldout.txt", label: "heldout.txt", source: "named in MODEL_CARD.md" },
            message: "Scoring heldout.txt (named in MODEL_CARD.md): original vs shared",
          },
        },
      },
      { theme: "light" },
    );
    page = running.page;
    await page.evaluate(() =>
      window.postMessage(
        { kind: "event", id: 7100, method: "webview/progress", params: { job: "evaluate", message: "scoring (evaluate) 40% · about 6 s left", fraction: 0.4 } },
        "*",
      ),
    );
    await page.locator("#report-busy-text", { hasText: "scoring (evaluate) 40% · about 6 s left" }).waitFor();
    assert.equal(await page.locator("#cancel-eval").count(), 1);
    await page.close();
    // 3. Done: the scored line names model, text, source and protocol; the per-document offer when the text holds a separator.
    const ev = {
      ratio: 0.3,
      tokens: 14552,
      protocol: "stream, window 512",
      provider: "cpu",
      original: { nll: 1.9, ppl: Math.exp(1.9) },
      shared: { nll: 2.0, ppl: Math.exp(2) },
      kl: 0.1,
      top1Agreement: 0.9,
      hiddenCosine: [1, 0.95, 0.9],
      seconds: 1,
      text: { path: "/m/tiny.txt", label: "tiny.txt", source: "headshare.eval.text" },
      protocolKind: "stream",
      separatorHint: { separator: "<|endoftext|>", occurrences: 48 },
    };
    const done = await open({ view: "report", report: { ...base, eval: ev } }, { theme: "light" });
    page = done.page;
    assert.match(
      (await page.locator("#eval-scored").textContent())!,
      /stories260K-hf vs shared at 30% on tiny.txt \(headshare.eval.text\) · stream, window 512/,
    );
    await page.locator("#score-per-document").click();
    assert.deepEqual((await lastRequest(page, "webview/evaluate")).params, { text: "auto", separator: "<|endoftext|>" });
    // Chart ticks share one precision ("1.00" beside "0.95", never "1").
    const ticks = await page.$$eval("svg.line-chart text.tick-y", (els) => els.map((e) => e.textContent ?? ""));
    assert.ok(ticks.length >= 2 && new Set(ticks.map((x) => (x.split(".")[1] ?? "").length)).size === 1, `ticks ${ticks.join(" ")}`);
    await page.screenshot({ path: path.join(artifacts, "webview-report-light.png"), fullPage: true });
    await page.locator("#report-export-svg").click();
    const fig = (await lastRequest(page, "webview/export")).params as { data: string; suggestedName: string };
    assert.equal(fig.suggestedName, "stories260K-hf-report-30.svg");
    assert.match(fig.data, /DirectShare at 30% — stories260K-hf/);
    assert.match(fig.data, /scored on tiny.txt/);
    assert.deepEqual(done.problems, []);
    await page.close();
    // 4. A quick eval's report: its own title, no empty Size section; a sweep: no ratio badge, no "No evaluation".
    const qe = await open({ view: "report", report: { ...base, kind: "quickEval", output: null, parameters: null, selected: null, table: null, eval: ev } });
    assert.equal(await qe.page.locator("h1").textContent(), "Quick eval — stories260K-hf shared at 30%");
    assert.equal(await qe.page.locator("#report-size").count(), 0);
    await qe.page.close();
    const sw = await open({
      view: "report",
      report: {
        ...base,
        kind: "sweep",
        output: null,
        format: null,
        parameters: null,
        selected: null,
        table: null,
        sweepText: { path: "/t.txt", label: "t.txt", source: "chosen by you" },
        sweepProtocol: "documents, window 512",
        sweep: [0, 0.3].map((a) => ({ ratio: a, selected: a ? 6 : 0, parameters: null, ppl: 3 + a, nll: 1 + a, kl: a, top1Agreement: 1 - a })),
      },
    });
    assert.equal(await sw.page.locator("h1").textContent(), "Sweep — stories260K-hf");
    assert.equal(await sw.page.locator(".tag", { hasText: "ratio 30%" }).count(), 0);
    assert.equal(await sw.page.locator("#eval-none").count(), 0);
    assert.match((await sw.page.locator("#sweep-scored").textContent())!, /t.txt \(chosen by you\) · documents, window 512/);
    await sw.page.close();
  });

  await t.test("webview inspect: summary, dtypes, compact plan and a filterable tensor table", async () => {
    const tensors = [
      { name: "model.embed_tokens.weight", dtype: "F32", shape: [512, 64], bytes: 131072 },
      ...Array.from({ length: 5 }, (_, l) =>
        ["q_proj", "k_proj", "v_proj", "o_proj"].map((p) => ({
          name: `model.layers.${l}.self_attn.${p}.weight`,
          dtype: "F32",
          shape: [p === "k_proj" || p === "v_proj" ? 32 : 64, 64],
          bytes: (p === "k_proj" || p === "v_proj" ? 32 : 64) * 64 * 4,
        })),
      ).flat(),
    ];
    const inspect = {
      path: "/models/stories260K-hf/model.safetensors",
      architecture: "LlamaForCausalLM",
      family: "llama",
      layers: 5,
      heads: 8,
      kvHeads: 4,
      headDim: 8,
      hidden: 64,
      parameters: 260032,
      bytes: 1044992,
      attentionParameters: 61440,
      dtypes: { F32: 260032 },
      tensors,
      metadata: { format: "pt" },
      plan: {
        ratio: 0.3,
        selected: 6,
        strategy: "qk",
        granularity: "group",
        parametersBefore: 260032,
        parametersAfter: 241600,
        targets: [{ layer: 2, unit: 1, rootLayer: 0, rootUnit: 3, score: 0.5 }],
      },
      modelError: null,
    };
    const { page, problems } = await open({ view: "inspect", inspect }, { theme: "light" });
    assert.equal(await page.locator("#tensor-table tbody tr").count(), 21);
    assert.match((await page.locator("#inspect-summary").textContent())!, /260,032/);
    assert.match((await page.locator("#inspect-plan").textContent())!, /L2·U1.*L0·U3/);
    await page.locator("#tensor-filter").click();
    await page.keyboard.type("k_proj");
    await page.waitForFunction(() => document.querySelectorAll("#tensor-table tbody tr").length === 5);
    assert.equal(await page.locator("#tensor-count").textContent(), "5 of 21 tensors");
    await page.screenshot({ path: path.join(artifacts, "webview-inspect-light.png"), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });
});
