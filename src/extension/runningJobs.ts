/**
 * Running jobs started from the UI: each has an AbortController, so the status bar's Cancel, the
 * `Headshare: Cancel Running Job` command, a notification's cancel button and a panel's Cancel all
 * reach the same job. Progress of the current job shows in the status bar.
 */
import * as vscode from "vscode";

export interface Job {
  readonly id: number;
  readonly label: string;
  readonly controller: AbortController;
  fraction: number | null;
  phase: string;
}

export class Jobs implements vscode.Disposable {
  private next = 1;
  private readonly running = new Map<number, Job>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;

  get list(): readonly Job[] { return [...this.running.values()]; }

  /** Runs `fn` as a job; `external` (e.g. a notification's token) also cancels it. */
  async run<T>(label: string, fn: (job: Job) => Promise<T>, external?: vscode.CancellationToken): Promise<T> {
    const job: Job = { id: this.next++, label, controller: new AbortController(), fraction: null, phase: "starting" };
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

  progress(job: Job, phase: string, fraction: number | null): void {
    job.phase = phase;
    job.fraction = fraction;
    this.changed.fire();
  }

  /** Cancels every running job (or the one with this id); returns how many were cancelled. */
  cancel(id?: number): number {
    let n = 0;
    for (const j of this.running.values()) if (id === undefined || j.id === id) { j.controller.abort(); n++; }
    return n;
  }

  dispose(): void {
    this.cancel();
    this.changed.dispose();
  }
}
