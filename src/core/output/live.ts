/**
 * The staging folders this process has open right now, for a last-resort cleanup by someone
 * other than the code that made them (the worker's parent watch, src/worker/parentWatch.ts, when
 * the main thread is stuck and the process must go). Removing a staging path by name is always
 * safe: once committed it has been renamed away, and the name is gone.
 */
const live = new Set<string>();
const listeners = new Set<(paths: readonly string[]) => void>();

function changed(): void {
  const now = [...live];
  for (const l of listeners) l(now);
}

export function addLiveStaging(p: string): void {
  live.add(p);
  changed();
}

export function removeLiveStaging(p: string): void {
  if (live.delete(p)) changed();
}

/** Calls `listener` with the current list now and after every change; returns the unsubscribe. */
export function watchLiveStaging(listener: (paths: readonly string[]) => void): () => void {
  listeners.add(listener);
  listener([...live]);
  return () => void listeners.delete(listener);
}
