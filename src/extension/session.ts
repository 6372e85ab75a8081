/**
 * The Session owns what commands share: settings, the log, the (lazily started) compute worker, the
 * match-table cache in global storage, running jobs and the status bar. Commands receive it instead of
 * reaching for globals (rust-analyzer's Ctx).
 */
import path from "node:path";
import * as vscode from "vscode";
import type { Granularity } from "../core/model/types";
import type { MatchTable, Strategy } from "../core/share/types";
import type { JobParams, JobResult, Progress, WorkerJob } from "../protocol/worker";
import { setFollowSymlinks } from "../core/safetensors/contained";
import { WorkerClient } from "../host/workerClient";
import { MatchCache, checkpointIdentity } from "../host/matchCache";
import { RESTART_SETTINGS, readSettings } from "./config";
import type { Settings } from "./config";
import { Jobs } from "./runningJobs";
import type { Job } from "./runningJobs";
import { Log } from "./log";
import { StatusBar } from "./statusBar";

/** What each worker job is called in progress texts. */
const PHASES: Partial<Record<WorkerJob, string>> = {
  "headshare/inspect": "reading the header",
  "headshare/match": "matching heads",
  "headshare/plan": "planning",
  "headshare/share": "writing the checkpoint",
  "headshare/expand": "expanding",
  "headshare/eval": "scoring",
  "headshare/sweep": "sweeping",
  "headshare/postshare": "PostShare",
};

export class Session implements vscode.Disposable {
  readonly log = new Log();
  readonly jobs = new Jobs();
  readonly status = new StatusBar(this.jobs);
  readonly cache: MatchCache;
  private client: WorkerClient | undefined;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(readonly context: vscode.ExtensionContext) {
    this.cache = new MatchCache(path.join(context.globalStorageUri.fsPath, "match-cache"));
    this.applySymlinkConsent();
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration("headshare.followSymlinks")) this.applySymlinkConsent();
        this.onConfig(e);
      }),
      // headshare.followSymlinks is honoured only once the workspace is trusted: a running worker started without it.
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        this.applySymlinkConsent();
        if (this.client && this.settings.followSymlinks) void this.restartWorker("the workspace is now trusted (headshare.followSymlinks applies)");
      }),
    );
  }

  get settings(): Settings {
    return readSettings((m) => this.log.warn(m));
  }

  get extensionUri(): vscode.Uri {
    return this.context.extensionUri;
  }

  /** Whether the user allows model files that link out of their folder: the setting, in a trusted workspace only. */
  get followSymlinks(): boolean {
    return this.settings.followSymlinks && vscode.workspace.isTrusted;
  }

  /**
   * The extension host reads model folders too (the match cache's checkpoint identity): it follows the
   * setting at once, explicitly (not the host's environment). The worker gets it when it (re)starts.
   */
  private applySymlinkConsent(): void {
    setFollowSymlinks(this.followSymlinks);
  }

  /** The worker client; created on first use, the process itself starts on the first request. */
  get worker(): WorkerClient {
    if (!this.client) {
      const s = this.settings;
      const client = new WorkerClient({
        workerPath: path.join(this.context.extensionPath, "dist", "worker.js"),
        providers: s.executionProviders,
        // The consent to follow links out of a model folder is a parameter of the worker's handshake,
        // decided here (the setting, in a trusted workspace), never inherited from the host's environment.
        followSymlinks: this.followSymlinks,
        ...(s.jobTimeoutMinutes > 0
          ? {
              jobTimeoutMs: Object.fromEntries(
                ["headshare/match", "headshare/share", "headshare/eval", "headshare/sweep", "headshare/inspect", "headshare/expand", "headshare/postshare"].map(
                  (m) => [m, s.jobTimeoutMinutes * 60_000],
                ),
              ),
            }
          : {}),
        log: (level, message) => this.log[level](message),
      });
      // A job's failure (the worker still runs) is the job's error, reported where it was started; the
      // status bar turns red only when the worker process itself died.
      client.onStatus((st) => this.status.setStatus(st, client.pid !== undefined));
      this.client = client;
    }
    return this.client;
  }

  /** Runs a worker job as a UI job (cancellable from everywhere, progress in the status bar). */
  request<M extends WorkerJob>(job: Job, method: M, params: JobParams<M>, onProgress?: (p: Progress) => void): Promise<JobResult<M>> {
    // A new request is a new phase: no fraction until its first progress (never the last phase's 100%).
    const name = PHASES[method] ?? method.replace("headshare/", "");
    this.jobs.progress(job, name, null);
    return this.worker.request(method, params, {
      signal: job.controller.signal,
      onProgress: (p) => {
        this.jobs.progress(job, `${name} (${p.phase})`, p.total > 0 ? Math.min(1, p.done / p.total) : null, p.message ? `${name}: ${p.message}` : null);
        onProgress?.(p);
      },
    });
  }

  /** The match table of a checkpoint: from the cache when (path, size, mtime, strategy, granularity) match, else computed once and cached. */
  async matchTable(
    job: Job,
    model: string,
    strategy: Strategy,
    granularity: Granularity,
    onProgress?: (p: Progress) => void,
  ): Promise<{ table: MatchTable; cached: boolean }> {
    const id = await checkpointIdentity(model);
    const key = { ...id, strategy, granularity };
    const hit = await this.cache.get(key);
    if (hit) {
      this.log.info(`match table for ${id.path} (${strategy}, ${granularity}) from the cache`);
      return { table: hit, cached: true };
    }
    const r = await this.request(job, "headshare/match", { model, strategy, granularity }, onProgress);
    const file = await this.cache.set(key, r.table);
    this.log.info(`match table for ${id.path} (${strategy}, ${granularity}) computed on ${r.provider} in ${r.seconds.toFixed(2)} s, cached in ${file}`);
    return { table: (await this.cache.get(key)) ?? r.table, cached: false };
  }

  async restartWorker(reason: string): Promise<void> {
    const old = this.client;
    this.client = undefined;
    if (old) await old.dispose();
    this.status.setStatus({ state: "stopped", provider: null, message: reason });
    this.log.info(`worker restarted: ${reason}`);
  }

  private onConfig(e: vscode.ConfigurationChangeEvent): void {
    const hit = RESTART_SETTINGS.filter((k) => e.affectsConfiguration(k));
    if (!hit.length || !this.client) return;
    void vscode.window.showInformationMessage(`${hit.join(", ")} changed: the Headshare worker must restart to use it.`, "Restart Worker").then((a) => {
      if (a) void this.restartWorker(`${hit.join(", ")} changed`);
    });
  }

  async dispose(): Promise<void> {
    this.jobs.dispose();
    for (const d of this.disposables) d.dispose();
    await this.client?.dispose();
    this.status.dispose();
    this.log.dispose();
  }
}
