/**
 * Headshare: Select Compute Device — asks the worker which execution providers work here (each
 * checked with a small session) with their GPU adapters, and sets headshare.executionProviders
 * (user setting) to the one picked, or to "auto"; the worker restarts to use it.
 */
import * as vscode from "vscode";
import { adapterLabel, computeText } from "../../protocol/common";
import type { ProviderSetting } from "../config";
import type { Session } from "../session";

const NAMES: Readonly<Record<string, string>> = { cuda: "CUDA", webgpu: "WebGPU", dml: "DirectML", coreml: "CoreML", cpu: "CPU" };

type Pick = "auto" | "cuda" | "dml" | "coreml" | "webgpu" | "cpu";
interface Item extends vscode.QuickPickItem {
  readonly value: Pick;
  readonly available: boolean;
  readonly why?: string;
}

/** `opts.pick` chooses without asking (automation, tests). Returns the setting written, or undefined. */
export async function selectDeviceCommand(session: Session, opts: { pick?: Pick } = {}): Promise<ProviderSetting | undefined> {
  const r = await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: "Headshare: checking compute devices…" }, () =>
    session.worker.request("headshare/devices", {}, { label: "devices" }),
  );
  const current = session.settings.executionProviders;
  const isCurrent = (v: Pick): boolean => (v === "auto" ? current === "auto" : Array.isArray(current) && current[0] === v);
  const items: Item[] = [
    {
      label: `$(sparkle) Automatic${isCurrent("auto") ? " (current)" : ""}`,
      value: "auto",
      available: true,
      description: `now: ${computeText({ ...r.auto, skipped: [] })}`,
      detail:
        r.auto.skipped.map((k) => `${NAMES[k.provider]} skipped: ${k.reason}`).join(" · ") ||
        "CUDA, then WebGPU on a hardware GPU, then DirectML/CoreML, then CPU",
    },
    ...r.devices.map((d): Item => ({
      label: `${d.available ? "$(check)" : "$(circle-slash)"} ${NAMES[d.provider] ?? d.provider}${isCurrent(d.provider) ? " (current)" : ""}`,
      value: d.provider,
      available: d.available,
      ...(d.reason ? { why: d.reason } : {}),
      description: d.adapter ? adapterLabel(d.adapter) : d.provider === "cpu" ? "the CPU" : d.available ? "" : "not available",
      ...(d.reason ? { detail: d.reason } : {}),
    })),
  ];
  session.log.info(
    `compute devices: ${r.devices.map((d) => `${d.provider} ${d.available ? `works${d.adapter ? ` on ${adapterLabel(d.adapter)}` : ""}` : `does not work (${d.reason})`}`).join("; ")}; auto: ${computeText(r.auto)}`,
  );
  const chosen = opts.pick
    ? items.find((i) => i.value === opts.pick)
    : await vscode.window.showQuickPick(items, {
        title: "Headshare: Select Compute Device",
        placeHolder: "Where the worker runs models (headshare.executionProviders)",
        matchOnDescription: true,
        matchOnDetail: true,
      });
  if (!chosen) return undefined;
  if (!chosen.available) {
    void vscode.window.showWarningMessage(`Headshare: ${NAMES[chosen.value]} does not work here: ${chosen.why ?? "not available"}`);
    return undefined;
  }
  // CPU stays the last resort: the runtime appends it to every list.
  const value: ProviderSetting = chosen.value === "auto" ? "auto" : [chosen.value];
  // Restart first, so the settings change does not also ask to restart.
  await session.restartWorker(`compute device set to ${chosen.value === "auto" ? "auto" : NAMES[chosen.value]}`);
  await vscode.workspace.getConfiguration("headshare").update("executionProviders", value, vscode.ConfigurationTarget.Global);
  return value;
}
