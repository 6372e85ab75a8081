/**
 * One status bar item: the worker's state and execution provider, and the running job with its
 * progress (the job's one progress text, the same the notification and tooltip show); a markdown
 * tooltip links Open Logs, Cancel and Restart Worker (rust-analyzer's pattern). A job that failed is
 * not the worker failing: the bar stays normal and the tooltip names the failure; it turns red only
 * when the worker process died.
 */
import * as vscode from "vscode";
import type { ClientStatus } from "../host/workerClient";
import { adapterLabel, sessionsText } from "../protocol/common";
import type { Jobs } from "./runningJobs";

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private status: ClientStatus = { state: "stopped", provider: null };
  /** The provider of the last job that ran a graph (kept through failures and restarts). */
  private provider: string | null = null;
  private lastFailure: string | null = null;
  private crashed = false;

  constructor(private readonly jobs: Jobs) {
    this.item = vscode.window.createStatusBarItem("headshare.status", vscode.StatusBarAlignment.Right, 100);
    this.item.name = "Headshare";
    this.item.command = "headshare.showLogs";
    jobs.onDidChange(() => this.render());
    this.render();
    this.item.show();
  }

  /** `alive`: the worker process still runs (an "error" then means one job failed, not the worker). */
  setStatus(s: ClientStatus, alive = false): void {
    this.status = s;
    if (s.provider && s.provider !== "none") this.provider = s.provider;
    if (s.state === "error") {
      this.crashed = !alive;
      this.lastFailure = s.message ?? null;
    } else if (s.state === "computing" || s.state === "loading") {
      this.crashed = false;
    }
    this.render();
  }

  /** The text shown now (tests read it through the API). */
  get text(): string {
    return this.item.text;
  }

  private render(): void {
    const s = this.status;
    const provider = this.provider ? this.provider.toUpperCase() : null;
    const job = this.jobs.list[0];
    let icon: string, text: string;
    if (job) {
      icon = "$(sync~spin)";
      text = `${job.label} ${job.fraction !== null ? `${Math.floor(job.fraction * 100)}%` : "…"}`;
    } else if (s.state === "error" && this.crashed) {
      icon = "$(error)";
      text = "worker stopped";
    } else if (s.state === "computing" || s.state === "loading") {
      icon = "$(sync~spin)";
      text = s.state;
    } else {
      icon = "$(pulse)";
      text = "ready";
    }
    this.item.text = `${icon} Headshare${provider ? ` ${provider}` : ""}: ${text}`;
    this.item.backgroundColor = s.state === "error" && this.crashed && !job ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
    const md = new vscode.MarkdownString(undefined, true);
    md.isTrusted = { enabledCommands: ["headshare.showLogs", "headshare.cancel", "headshare.restartWorker", "headshare.selectComputeDevice"] };
    const worker =
      s.state === "stopped"
        ? "ready (the worker starts with the first job)"
        : s.state === "error" && this.crashed
          ? "the worker process stopped unexpectedly; the next job starts a fresh one"
          : s.state === "error" || s.state === "idle"
            ? "ready"
            : s.state;
    md.appendMarkdown(`**Headshare**: ${worker}`);
    if (provider) md.appendMarkdown(` · last job on ${provider}`);
    md.appendMarkdown("\n\n");
    // Where the last job's graphs ran: the adapter, and why providers before it were skipped.
    const c = "compute" in s ? s.compute : undefined;
    if (c) {
      if (c.adapter) md.appendText(`GPU adapter: ${adapterLabel(c.adapter)}\n\n`);
      for (const k of c.skipped) md.appendText(`${k.provider} skipped: ${k.reason}\n\n`);
      const placed = c.sessions.filter((x) => x.nodes);
      if (placed.length) md.appendText(`Graphs: ${sessionsText(placed)}\n\n`);
    }
    if (s.state === "error" && this.crashed && s.message) md.appendText(`${s.message}\n\n`);
    else if (s.state === "stopped" && s.message) md.appendText(`${s.message}\n\n`);
    for (const j of this.jobs.list) md.appendText(`• ${j.label}: ${this.jobs.describe(j)}\n`);
    if (!job && this.lastFailure && !this.crashed) md.appendText(`Last job failed: ${this.lastFailure}\n\n`);
    md.appendMarkdown(`\n[$(output) Open Logs](command:headshare.showLogs)`);
    if (this.jobs.list.length) md.appendMarkdown(` · [$(stop-circle) Cancel](command:headshare.cancel)`);
    md.appendMarkdown(` · [$(debug-restart) Restart Worker](command:headshare.restartWorker)`);
    md.appendMarkdown(` · [$(chip) Select Compute Device](command:headshare.selectComputeDevice)`);
    this.item.tooltip = md;
  }

  dispose(): void {
    this.item.dispose();
  }
}
