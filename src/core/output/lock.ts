/**
 * One writer per output folder: an advisory lock file `.headshare-lock-<name>` beside the folder
 * (in its parent, so it exists before the folder does), created with O_EXCL and holding its
 * owner (pid, host, owner tag, start time, what it writes). A second writer is refused with the
 * owner's details, or waits (`wait`). A lock whose owner is dead (./owner.ts: not by PID alone) is
 * stale and broken safely: under a short-lived breaker file, re-read, still the same stale owner,
 * then removed. An owner on another host or in another container is never judged dead.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { OutputError } from "./errors";
import { tempPathFor } from "./names";
import { formatOwner, myOwnerTag, ownerLiveness, parseOwner, type Liveness } from "./owner";

export const LOCK_PREFIX = ".headshare-lock-";

/** "waiting for headshare pid 123 on host (the shared checkpoint, started …) to finish": at most 200 characters (one progress line). */
export type WaitingPhase = `waiting for ${string} to finish`;

export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly owner: string;
  readonly started: string;
  readonly what: string;
}

export interface LockOptions {
  /** What the holder writes (shown to a refused writer). */
  readonly what: string;
  /** Wait for the owner to finish (ms; true: without limit) instead of failing at once. */
  readonly wait?: boolean | number;
  readonly signal?: AbortSignal;
  /** Poll interval while waiting (default 250 ms). */
  readonly pollMs?: number;
  /** Called once when a live writer holds the folder and this one starts waiting (a progress phase). */
  readonly onWait?: (phase: WaitingPhase) => void;
}

export interface OutputLock {
  readonly file: string;
  release(): Promise<void>;
}

export function lockPathFor(out: string): string {
  return path.join(path.dirname(out), `${LOCK_PREFIX}${path.basename(out)}`);
}

/** A breaker or lock file that cannot be parsed is treated as being written for this long. */
const GARBLED_GRACE_MS = 10_000;

async function readLock(file: string): Promise<{ info?: LockInfo; text: string; mtimeMs: number } | undefined> {
  try {
    const [text, st] = await Promise.all([fs.readFile(file, "utf8"), fs.stat(file)]);
    let info: LockInfo | undefined;
    try {
      const j = JSON.parse(text) as LockInfo;
      if (typeof j.owner === "string" && parseOwner(j.owner)) info = j;
    } catch {
      /* garbled */
    }
    return { ...(info ? { info } : {}), text, mtimeMs: st.mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function stateOf(l: { info?: LockInfo; mtimeMs: number }): Liveness {
  if (!l.info) return Date.now() - l.mtimeMs > GARBLED_GRACE_MS ? "dead" : "alive";
  return ownerLiveness(parseOwner(l.info.owner)!);
}

function describe(info: LockInfo | undefined): string {
  if (!info) return "another headshare run (its lock file is being written)";
  return `headshare pid ${info.pid} on ${info.host} (${info.what}, started ${info.started})`;
}

/** A live (or unknown) holder of a lock: who, whether it is alive, and its lock file. */
export interface LockHolder {
  readonly who: string;
  readonly state: Exclude<Liveness, "dead">;
  readonly file: string;
}

/**
 * Who holds `out`'s lock now, without taking it (the extension asks "Wait for it" / "Cancel" before
 * starting a writer): undefined when it is free or its owner is dead (the next writer breaks it).
 * `state` "unknown": the owner runs on another host or container.
 */
export async function lockHolder(out: string): Promise<LockHolder | undefined> {
  const file = lockPathFor(out);
  const held = await readLock(file);
  if (!held) return undefined;
  const state = stateOf(held);
  return state === "dead" ? undefined : { who: describe(held.info), state, file };
}

/** The refusal of a second writer: the owner's details, and what to do. */
function lockedError(out: string, held: LockHolder): OutputError {
  const hint =
    held.state === "unknown"
      ? `it runs on another host or container, so headshare cannot tell whether it is alive: if it is gone, delete ${held.file}`
      : "wait for it (--wait) or choose another folder";
  return new OutputError("locked", out, `${out} is being written by ${held.who}; nothing was changed. ${hint[0]!.toUpperCase()}${hint.slice(1)}`);
}

/**
 * Refuses now, as `lockOutput` without `wait` would, when another writer holds `out`'s lock: for a
 * writer that works for minutes before it takes the lock (PostShare trains first), so it is refused
 * before the work, not after. Takes nothing; the lock itself is still taken when the writing starts.
 */
export async function checkNotLocked(out: string): Promise<void> {
  const held = await lockHolder(out);
  if (held) throw lockedError(out, held);
}

/**
 * Creates `file` holding `text` only if it does not exist, never half-written: the text goes to a
 * temporary name first and is hard-linked to `file` (atomic, EEXIST when present). File systems
 * without hard links fall back to an O_EXCL create. False when `file` exists.
 */
async function createExclusive(file: string, text: string): Promise<boolean> {
  const tmp = tempPathFor(file);
  try {
    await fs.writeFile(tmp, text, { flag: "wx" });
    try {
      await fs.link(tmp, file);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EEXIST") return false;
      if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "ENOSYS") throw e;
    }
    try {
      await fs.writeFile(file, text, { flag: "wx" });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
      throw e;
    }
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}

/**
 * Removes breaker file `breaker` when its owner is dead (re-read first, so a live breaker that
 * replaced it is kept). True when it was removed or is absent.
 */
async function removeDeadBreaker(breaker: string): Promise<boolean> {
  const b = await readLock(breaker);
  if (!b) return true;
  if (stateOf(b) !== "dead") return false;
  const again = await readLock(breaker);
  if (again?.text === b.text) await fs.rm(breaker, { force: true });
  return true;
}

/** Removes `file` if it still holds `text` and its owner is dead, under an exclusive breaker. */
async function breakStale(file: string, text: string, pollMs: number): Promise<void> {
  const breaker = `${file}.break`;
  const mine = JSON.stringify({
    owner: formatOwner(myOwnerTag()),
    pid: process.pid,
    host: os.hostname(),
    started: new Date().toISOString(),
    what: "breaking a stale lock",
  });
  if (!(await createExclusive(breaker, mine))) {
    // Someone else is breaking it, or a breaker was killed mid-break: a dead one is removed.
    if (!(await removeDeadBreaker(breaker))) await sleep(pollMs);
    return; // retry from the top
  }
  try {
    const again = await readLock(file);
    if (again && again.text === text && stateOf(again) === "dead") await fs.rm(file, { force: true });
  } finally {
    await fs.rm(breaker, { force: true });
  }
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });

/** Takes the lock of output folder `out` (its parent must exist). */
export async function lockOutput(out: string, opts: LockOptions): Promise<OutputLock> {
  const file = lockPathFor(out);
  const me = myOwnerTag();
  const info: LockInfo = { pid: me.pid, host: os.hostname(), owner: formatOwner(me), started: new Date().toISOString(), what: opts.what };
  const text = JSON.stringify(info) + "\n";
  const t0 = Date.now();
  const limit = opts.wait === true ? Infinity : typeof opts.wait === "number" ? opts.wait : 0;
  let waiting = false;
  for (;;) {
    if (opts.signal?.aborted) throw new OutputError("aborted", out, `${opts.what} was cancelled while waiting for ${out}; nothing was changed`);
    try {
      if (!(await createExclusive(file, text))) throw Object.assign(new Error("exists"), { code: "EEXIST" });
      // A breaker killed after removing the stale lock but before removing itself is left over;
      // the lock's new holder clears it (a live one belongs to a run that will remove it).
      await removeDeadBreaker(`${file}.break`).catch(() => undefined);
      let released = false;
      return {
        file,
        async release() {
          if (released) return;
          released = true;
          const now = await readLock(file).catch(() => undefined);
          if (now?.text === text) await fs.rm(file, { force: true }).catch(() => undefined);
        },
      };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST") {
        throw new OutputError(
          "not-writable",
          out,
          `cannot create the lock file ${file} (${code ?? (e instanceof Error ? e.message : String(e))}); check that ${path.dirname(out)} exists and is writable`,
        );
      }
    }
    const held = await readLock(file);
    if (!held) continue; // released meanwhile
    const state = stateOf(held);
    if (state === "dead") {
      await breakStale(file, held.text, opts.pollMs ?? 250);
      continue;
    }
    const who = describe(held.info);
    if (Date.now() - t0 >= limit) throw lockedError(out, { who, state, file });
    if (!waiting) {
      waiting = true;
      // the lock file's fields are another run's: cut to one line
      const room = 200 - "waiting for  to finish".length;
      opts.onWait?.(`waiting for ${who.length > room ? `${who.slice(0, room - 1)}…` : who} to finish`);
    }
    await sleep(opts.pollMs ?? 250, opts.signal);
  }
}
