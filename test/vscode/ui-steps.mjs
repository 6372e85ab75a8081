// UI steps for scripts/test-vscode.mjs: the workbench in Chromium, driven like a user. Throws on failure.
import assert from "node:assert/strict";
import path from "node:path";

// `model`: "stories260K-hf" (../shared present: everything, checked against the README's numbers) or
// "synthetic-llama" (a fresh clone: the same 5 × 4 shape; map, slider, inspect, reload, compress without eval).
export async function runUi({ page, port, workspace, payload, artifacts, step, model = "stories260K-hf" }) {
  const real = model === "stories260K-hf";
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`);
  await page.locator(".monaco-workbench .statusbar").waitFor({ timeout: 60000 });
  step("workbench is up");
  const row = (name) => page.locator(".explorer-folders-view .monaco-list-row", { has: page.locator(".label-name", { hasText: new RegExp(`^${name}$`) }) }).first();
  await row("models").waitFor({ timeout: 30000 });
  await row("models").click();
  await row(model).waitFor({ timeout: 15000 });
  // The extension activates on workspaceContains:**/*.safetensors (its status bar item appears), then lists model folders.
  await page.locator(".statusbar-item", { hasText: "Headshare" }).first().waitFor({ timeout: 60000 });
  step("extension active");
  await page.waitForTimeout(1500);
  // The explorer menu shows Headshare on model folders once the extension has listed them (context key).
  const item = page.locator(".context-view .monaco-menu .action-label", { hasText: "Show Sharing Map" });
  const menu = page.locator(".context-view .monaco-menu");
  for (let i = 0; ; i++) {
    await row(model).click({ button: "right" });
    if (await item.first().waitFor({ state: "visible", timeout: 3000 }).then(() => true, () => false)) break;
    await page.keyboard.press("Escape");
    if (!(await menu.waitFor({ state: "hidden", timeout: 3000 }).then(() => true, () => false))) await page.mouse.click(900, 600);
    if (i > 10) throw new Error(`the explorer context menu never offered Headshare: Show Sharing Map on ${model}`);
    await page.waitForTimeout(1000);
  }
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-context-menu.png") });
  // The menu lives in a shadow root above a full-screen click catcher; hover it and press Enter like a keyboard user.
  await item.first().hover({ force: true });
  await page.waitForTimeout(200);
  await page.keyboard.press("Enter");
  step("Show Sharing Map chosen from the explorer context menu");
  const webview = page.frameLocator("iframe.webview.ready").last().frameLocator("iframe#active-frame");
  const canvas = webview.locator("canvas.heatmap");
  await canvas.waitFor({ timeout: 120000 });
  assert.equal(await canvas.getAttribute("data-rows"), "5");
  assert.equal(await canvas.getAttribute("data-cols"), "4");
  assert.equal(await webview.locator("table.heatmap-cells td").count(), 20);
  const count = webview.locator("#selected-count");
  const before = Number(await count.getAttribute("data-selected"));
  assert.equal(before, 6, "floor(0.3 · 5 · 4) = 6 selected at the default ratio");
  step(`map rendered: 5 × 4 cells, ${before} selected`);
  await page.waitForTimeout(500);
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-map.png") });

  await webview.locator("#ratio").focus();
  for (let i = 0; i < 20; i++) await page.keyboard.press("ArrowRight");
  const after = Number(await count.getAttribute("data-selected"));
  assert.equal(after, 10, "floor(0.5 · 20) = 10 after moving the slider to 50%");
  step(`slider moved: ${before} → ${after} selected`);
  const box = await canvas.boundingBox();
  await page.mouse.move(box.x + 40 + 20 * 2.5, box.y + 22 + 20 * 3.5);
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-map-slider.png") });

  // Inspect Checkpoint from the explorer menu of model.safetensors: the read-only custom editor.
  await row("model.safetensors").click({ button: "right" });
  const inspectItem = page.locator(".context-view .monaco-menu .action-label", { hasText: "Inspect Checkpoint" }).first();
  await inspectItem.waitFor({ timeout: 10000 });
  await inspectItem.hover({ force: true });
  await page.waitForTimeout(200);
  await page.keyboard.press("Enter");
  const inspect = page.frameLocator("iframe.webview.ready").last().frameLocator("iframe#active-frame");
  await inspect.locator("#tensor-table").waitFor({ timeout: 60000 });
  const tensors = await inspect.locator("#tensor-table tbody tr").count();
  const summary = await inspect.locator("#inspect-summary").textContent();
  assert.equal(tensors, real ? 47 : 48, "embed + 5 × 9 per layer + final norm (+ an untied head in the synthetic model)");
  if (real) assert.match(summary, /260,032/);
  assert.match(summary, /LlamaForCausalLM/);
  step(`inspect editor: ${tensors} tensors`);
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-inspect.png") });
  // Back to the sharing map tab (its webview reloads and restores the ratio from its view state).
  await page.locator(".tabs-container .tab", { hasText: "Sharing map" }).first().click();
  await webview.locator("canvas.heatmap").waitFor({ timeout: 30000 });
  assert.equal(Number(await count.getAttribute("data-selected")), 10, "the restored panel keeps the 50% ratio");
  step("sharing map restored with its ratio after switching tabs");
  // A window reload: the WebviewPanelSerializer revives the panel from its view state (table from the cache).
  // Developer: Reload Window (unlike a bare page reload, it lets the workbench save its editor state first).
  await page.keyboard.press("F1");
  await page.locator(".quick-input-widget input").fill(">Developer: Reload Window");
  await page.locator(".quick-input-list .monaco-list-row", { hasText: "Reload Window" }).first().waitFor({ timeout: 10000 });
  await page.keyboard.press("Enter");
  await page.waitForEvent("load", { timeout: 30000 }).catch(() => undefined);
  await page.locator(".monaco-workbench .statusbar").waitFor({ timeout: 60000 });
  await page.locator(".tabs-container .tab", { hasText: "Sharing map" }).first().click({ timeout: 30000 });
  await webview.locator("canvas.heatmap").waitFor({ timeout: 60000 });
  assert.equal(Number(await count.getAttribute("data-selected")), 10, "the revived panel keeps the 50% ratio");
  step("sharing map revived after a window reload with its ratio");

  if (!real) {
    // The synthetic model has no tokenizer and there is no reference text: nothing to score.
    step("synthetic model: quick eval and the perplexity checks need ../shared (skipped)");
    return;
  }
  await webview.locator("#quick-eval").click();
  step("quick eval requested");
  const ppl = webview.locator("#eval-ppl");
  const err = webview.locator("#busy .error");
  await Promise.race([ppl.waitFor({ timeout: 180000 }), err.waitFor({ timeout: 180000 }).then(async () => { throw new Error(`quick eval failed in the panel: ${await err.textContent()}`); })]);
  const original = Number(await webview.locator("#eval-ppl-original").getAttribute("data-ppl"));
  const shared = Number(await ppl.getAttribute("data-ppl"));
  const caption = await webview.locator("#eval-metrics caption").textContent();
  step(`quick eval: perplexity ${original} → ${shared} (${caption})`);
  // ../shared/models/README.md: TinyStories excerpt, per-document windows of 512 → ppl 3.39532 on 14,552 tokens.
  assert.ok(Math.abs(original - 3.39532) / 3.39532 < 1e-3, `original perplexity ${original} ≈ 3.39532`);
  assert.match(caption, /14,552 tokens/);
  assert.ok(shared > original, "sharing 50% of the heads raises perplexity");
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-quick-eval.png") });
  await webview.locator("#eval-result").scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-quick-eval-metrics.png") });
  // The README picture: a tall window with the map (a cell pinned: its line to the root), the histogram and the eval.
  await page.setViewportSize({ width: 1400, height: 1500 });
  await page.waitForTimeout(500);
  await webview.locator("canvas.heatmap").scrollIntoViewIfNeeded();
  const cb = await webview.locator("canvas.heatmap").boundingBox();
  const cell = (cb.width - 40 - 64) / 4;
  await page.mouse.click(cb.x + 40 + cell * 1.5, cb.y + 22 + cell * 2.5);   // layer 2, unit 1
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-readme.png") });
  await page.setViewportSize({ width: 1400, height: 900 });

  // Compress from the explorer menu, accepting every default (DirectShare, 30%, qk, compact, folder beside the input).
  await row(model).click({ button: "right" });
  const compressItem = page.locator(".context-view .monaco-menu .action-label", { hasText: "Compress Checkpoint" }).first();
  await compressItem.waitFor({ timeout: 10000 });
  await compressItem.hover({ force: true });
  await page.waitForTimeout(200);
  await page.keyboard.press("Enter");
  const quickInput = page.locator(".quick-input-widget");
  for (const title of ["method", "sharing ratio", "similarity strategy", "output format", "output folder"]) {
    await quickInput.locator(".quick-input-title", { hasText: title }).waitFor({ timeout: 15000 });
    if (title === "output folder") {
      const value = await quickInput.locator("input").inputValue();
      assert.ok(value.endsWith(path.join("models", "stories260K-hf-shared-30")), `default output beside the input: ${value}`);
    }
    await page.keyboard.press("Enter");
    await page.waitForTimeout(300);
  }
  step("Compress: accepted the defaults (DirectShare, 30%, qk, compact, beside the input)");
  const report = page.frameLocator("iframe.webview.ready").last().frameLocator("iframe#active-frame");
  await report.locator("#report-size").waitFor({ timeout: 180000 });
  const size = await report.locator("#report-size").textContent();
  assert.match(size, /260,032 → 241,600/);
  await report.locator("#eval-ppl").waitFor({ timeout: 60000 });
  const rOrig = Number(await report.locator("#eval-ppl-original").getAttribute("data-ppl"));
  const rShared = Number(await report.locator("#eval-ppl").getAttribute("data-ppl"));
  assert.ok(Math.abs(rOrig - 3.39532) / 3.39532 < 1e-3);
  step(`report: parameters 260,032 → 241,600; perplexity ${rOrig.toFixed(4)} → ${rShared.toFixed(4)}`);
  // Weight similarity (5 layers × 4 KV groups) beside attention-map similarity (5 layers × 8 query heads).
  const maps = report.locator("canvas.heatmap");
  assert.equal(await maps.count(), 2);
  assert.deepEqual([await maps.nth(0).getAttribute("data-cols"), await maps.nth(1).getAttribute("data-cols")], ["4", "8"]);
  assert.equal(await maps.nth(1).getAttribute("data-rows"), "5");
  step("report: weight-similarity map (5 × 4) beside the attention-map similarity map (5 × 8)");
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-report.png") });
  await maps.nth(1).scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(artifacts, "vscode-ui-report-maps.png") });
  // The new folder appears in the explorer beside the input (expand "models" if the explorer folded it).
  if (!(await row("stories260K-hf-shared-30").isVisible())) await row("models").click();
  await row("stories260K-hf-shared-30").waitFor({ timeout: 15000 });
  step("the output folder shows in the explorer beside the input");

  // Back on the sharing map (its webview reloaded while hidden): the last quick eval is shown again.
  await page.locator(".tabs-container .tab", { hasText: "Sharing map" }).first().click();
  await webview.locator("#eval-ppl").waitFor({ timeout: 30000 });
  assert.equal(Number(await webview.locator("#eval-ppl").getAttribute("data-ppl")), shared);
  step("the sharing map shows its last quick eval again after a tab switch");

  const status = await page.locator(".statusbar-item", { hasText: "Headshare" }).first().textContent();
  step(`status bar: ${status?.trim()}`);
  assert.match(status ?? "", /Headshare/);
}
