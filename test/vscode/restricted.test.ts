/**
 * Runs inside the extension host of a window in Restricted Mode (workspace trust on, folder not
 * trusted; scripts/test-vscode.mjs phase "restricted"): only inspection works, everything that runs
 * models refuses without touching the disk.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import * as vscode from "vscode";
import { writeSyntheticModel } from "../../src/core/model/synthetic";

const tmp = process.env.HEADSHARE_TEST_TMP ?? "";

describe("Headshare in Restricted Mode", function () {
  let model = "";
  before(async function () {
    const ext = vscode.extensions.all.find((e) => e.packageJSON?.name === "headshare");
    assert.ok(ext);
    await ext.activate();
    model = await writeSyntheticModel(path.join(tmp, "restricted-llama"), { family: "llama", layers: 3, heads: 2, kvHeads: 2, headDim: 8, seed: 9 });
  });

  it("the window is untrusted and the extension is active", function () {
    assert.equal(vscode.workspace.isTrusted, false);
    assert.ok(vscode.extensions.all.find((e) => e.packageJSON?.name === "headshare")?.isActive);
  });

  it("compress, sharing map, quick eval and sweep refuse and write nothing", async function () {
    const out = path.join(tmp, "restricted-out");
    assert.equal(await vscode.commands.executeCommand("headshare.compress", vscode.Uri.file(model), { ratio: 0.3, out, noReport: true }), undefined);
    assert.equal(fs.existsSync(out), false);
    assert.equal(await vscode.commands.executeCommand("headshare.showSharingMap", vscode.Uri.file(model)), undefined);
    assert.equal(
      await vscode.commands.executeCommand("headshare.quickEval", vscode.Uri.file(model), {
        ratio: 0.3,
        text: path.join(model, "config.json"),
        noReport: true,
      }),
      undefined,
    );
    assert.equal(
      await vscode.commands.executeCommand("headshare.sweep", vscode.Uri.file(model), {
        ratios: [0, 0.3],
        text: path.join(model, "config.json"),
        noReport: true,
      }),
      undefined,
    );
    assert.equal(vscode.window.tabGroups.all.flatMap((g) => g.tabs).length, 0, "no panel opened");
  });

  it("headshare.followSymlinks does not apply in Restricted Mode", async function () {
    const api = (await vscode.extensions.all.find((e) => e.packageJSON?.name === "headshare")!.activate()) as { followSymlinks(): boolean };
    const config = vscode.workspace.getConfiguration("headshare");
    try {
      await config.update("followSymlinks", true, vscode.ConfigurationTarget.Global);
      assert.equal(vscode.workspace.getConfiguration("headshare").get("followSymlinks"), true, "the user setting is on");
      assert.equal(api.followSymlinks(), false, "but links out of a model folder stay refused in an untrusted workspace");
    } finally {
      await config.update("followSymlinks", undefined, vscode.ConfigurationTarget.Global);
    }
  });

  it("Inspect Checkpoint still works", async function () {
    await vscode.commands.executeCommand("headshare.inspect", vscode.Uri.file(path.join(model, "model.safetensors")));
    const t0 = Date.now();
    while (!(vscode.window.tabGroups.activeTabGroup.activeTab?.input instanceof vscode.TabInputCustom) && Date.now() - t0 < 10_000)
      await new Promise((r) => setTimeout(r, 50));
    const input = vscode.window.tabGroups.activeTabGroup.activeTab?.input;
    assert.ok(input instanceof vscode.TabInputCustom);
    assert.equal(input.viewType, "headshare.inspect");
  });
});
