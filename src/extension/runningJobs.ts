/**
 * Running jobs started from the UI: each has an AbortController, so the status bar's Cancel, the
 * `Headshare: Cancel Running Job` command, a notification's cancel button and a panel's Cancel all
 * reach the same job. Each job holds the ONE progress state (phase, fraction of the phase, time left)
 * that the status bar, its tooltip, the progress notification and the panels all render through
 * `describeProgress`, so they never disagree.
 */
import * as vscode from "vscode";
import { describeProgress } from "./progressText";

export interface Job {
  readonly id: number;
  readonly label: string;
  readonly controller: AbortController;
  /** Fraction of the current phase done (null: not known yet). */
  fraction: number | null;
  phase: string;
  /** The worker's words for the phase now ("block 3 of 12"), shown instead of `phase` when set. */
  detail: string | null;
  /** ms since epoch when the current phase started (for the time-left estimate). */
  phaseStarted: number;
  readonly started: number;
}

export class Jobs implements vscode.Disposable {
  private next = 1;
  private readonly running = new Map<number, Job>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  get list(): readonly Job[] {
    return [...this.running.values()];
  }

  /** Runs `fn` as a job; `external` (e.g. a notification's token) also cancels it. */
  async run<T>(label: string, fn: (job: Job) => Promise<T>, external?: vscode.CancellationToken): Promise<T> {
    const now = Date.now();
    const job: Job = {
      id: this.next++,
      label,
      controller: new AbortController(),
      fraction: null,
      phase: "starting",
      detail: null,
      phaseStarted: now,
      started: now,
    };
    const sub = external?.onCancellationRequested(() => job.controller.abort());
    this.running.set(job.id, job);
    this.changed.fire();
    try {
      return await fn(job);
    } finally {
      sub?.dispose();
      this.running.delete(job.id);
      this.changed.fire();
    }
  }

  /** The one place progress changes: a new phase restarts the fraction and the time-left clock. */
  progress(job: Job, phase: string, fraction: number | null, detail: string | null = null): void {
    if (phase !== job.phase) {
      job.phase = phase;
      job.phaseStarted = Date.now();
    }
    job.detail = detail;
    job.fraction = fraction === null ? null : Math.max(0, Math.min(1, fraction));
    this.changed.fire();
  }

  /** "writing the compact checkpoint 45% · about 12 s left" for a job (what every surface shows). */
  describe(job: Job): string {
    return describeProgress(job.detail ?? job.phase, job.fraction, Date.now() - job.phaseStarted);
  }

  /** Cancels every running job (or the one with this id); returns how many were cancelled. */
  cancel(id?: number): number {
    let n = 0;
    for (const j of this.running.values())
      if (id === undefined || j.id === id) {
        j.controller.abort();
        n++;
      }
    return n;
  }

  dispose(): void {
    this.cancel();
    this.changed.dispose();
  }
}

/**
 * Runs a job under a cancellable progress notification whose message is the job's own progress text
 * (the same the status bar shows).
 */
export function withJobNotification<T>(jobs: Jobs, title: string, label: string, fn: (job: Job) => Promise<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) =>
    jobs.run(
      label,
      async (job) => {
        let last = "";
        const sub = jobs.onDidChange(() => {
          const m = jobs.describe(job);
          if (m !== last) {
            last = m;
            progress.report({ message: m });
          }
        });
        try {
          return await fn(job);
        } finally {
          sub.dispose();
        }
      },
      token,
    ),
  );
}
