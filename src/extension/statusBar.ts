/**
 * One status bar item: the worker's state and execution provider, and the running job with its
 * progress; a markdown tooltip links Open Logs, Cancel and Restart Worker (rust-analyzer's pattern).
 */
import * as vscode from "vscode";
import type { ClientStatus } from "../worker/client";
import { adapterLabel, sessionsText } from "../protocol/common";
import type { Jobs } from "./jobs";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private status: ClientStatus = { state: "stopped", provider: null };

  constructor(private readonly jobs: Jobs) {
    this.item = vscode.window.createStatusBarItem("headshare.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Headshare";
    this.item.command = "headshare.showLogs";
    jobs.onDidChange(() => this.render());
    this.render();
    this.item.show();
  }

  setStatus(s: ClientStatus): void {
    this.status = s;
    this.render();
  }

  private render(): void {
    const s = this.status;
    const provider = s.provider && s.provider !== "none" ? s.provider.toUpperCase() : null;
    const job = this.jobs.list[0];
    let icon: string, text: string;
    if (job) {
      icon = "$(sync~spin)";
      text = `${job.label}${job.fraction !== null ? ` ${Math.round(job.fraction * 100)}%` : ""}`;
    } else if (s.state === "error") {
      icon = "$(error)"; text = "worker error";
    } else if (s.state === "computing" || s.state === "loading") {
      icon = "$(sync~spin)"; text = s.state;
    } else if (s.state === "stopped") {
      icon = "$(circle-outline)"; text = "idle";
    } else {
      icon = "$(pulse)"; text = "ready";
    }
    this.item.text = `${icon} Headshare${provider ? ` ${provider}` : ""}: ${text}`;
    this.item.backgroundColor = s.state === "error" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
    const md = new vscode.MarkdownString(undefined, true);
    md.isTrusted = { enabledCommands: ["headshare.showLogs", "headshare.cancel", "headshare.restartWorker", "headshare.selectComputeDevice"] };
    md.appendMarkdown(`**Headshare worker**: ${s.state === "stopped" ? "not running (starts on the first job)" : s.state}`);
    if (provider) md.appendMarkdown(` on ${provider}`);
    md.appendMarkdown("\n\n");
    // Where the last job's graphs ran: the adapter, and why providers before it were skipped.
    const c = "compute" in s ? s.compute : undefined;
    if (c) {
      if (c.adapter) md.appendText(`GPU adapter: ${adapterLabel(c.adapter)}\n\n`);
      for (const k of c.skipped) md.appendText(`${k.provider} skipped: ${k.reason}\n\n`);
      const placed = c.sessions.filter((x) => x.nodes);
      if (placed.length) md.appendText(`Graphs: ${sessionsText(placed)}\n\n`);
    }
    if (s.message) md.appendText(`${s.message}\n\n`);
    for (const j of this.jobs.list) md.appendText(`• ${j.label}: ${j.phase}${j.fraction !== null ? ` (${Math.round(j.fraction * 100)}%)` : ""}\n`);
    md.appendMarkdown(`\n[$(output) Open Logs](command:headshare.showLogs)`);
    if (this.jobs.list.length) md.appendMarkdown(` · [$(stop-circle) Cancel](command:headshare.cancel)`);
    md.appendMarkdown(` · [$(debug-restart) Restart Worker](command:headshare.restartWorker)`);
    md.appendMarkdown(` · [$(chip) Select Compute Device](command:headshare.selectComputeDevice)`);
    this.item.tooltip = md;
  }

  dispose(): void { this.item.dispose(); }
}
