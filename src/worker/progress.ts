/**
 * Progress throttling (after hexeditor's ResultsCollector): at most one update per `intervalMs`
 * (default 250 ms, so ≤ 4/s), except that a phase change and the final step of a phase
 * (done ≥ total), and an update carrying the memory estimate, always pass at once. A dropped update is kept and sent when its slot comes, so the
 * last state is never lost. `dispose()` cancels the pending send.
 */
export interface ProgressUpdate {
  readonly phase: string;
  readonly done: number;
  readonly total: number;
  readonly message?: string;
  /** The job's estimated peak memory (never dropped by the throttle). */
  readonly memoryNeed?: { readonly bytes: number; readonly what: string };
}

export interface ThrottledProgress {
  (p: ProgressUpdate): void;
  /** Sends the held update now (if any). */
  flush(): void;
  dispose(): void;
}

export function throttleProgress(send: (p: ProgressUpdate) => void, intervalMs = 250, now: () => number = Date.now): ThrottledProgress {
  let lastSent = -Infinity;
  let lastPhase: string | undefined;
  let held: ProgressUpdate | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;

  const emit = (p: ProgressUpdate): void => {
    held = undefined;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    lastSent = now();
    lastPhase = p.phase;
    send(p);
  };
  const fn = ((p: ProgressUpdate) => {
    if (disposed) return;
    const t = now();
    if (p.phase !== lastPhase || p.done >= p.total || p.memoryNeed || t - lastSent >= intervalMs) return emit(p);
    held = p;
    if (!timer) {
      timer = setTimeout(() => held && emit(held), Math.max(0, intervalMs - (t - lastSent)));
      timer.unref?.();
    }
  }) as ThrottledProgress;
  fn.flush = () => void (held && !disposed && emit(held));
  fn.dispose = () => {
    disposed = true;
    held = undefined;
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
  };
  return fn;
}
