/**
 * Deterministic kill points for crash-safety tests. In a child process, `installKillPoints(k)`
 * wraps every mutating file-system call (open for writing, write, sync, close, rename, unlink,
 * copy, mkdir; promise, callback and sync APIs, and FileHandle methods) with a counter; when the
 * k-th such call begins the process SIGKILLs itself — for a write, after writing only the first
 * half of the bytes (a torn write). k = 0 never kills; the count is reported by `opsSoFar()` so
 * a parent can first measure how many kill points a job has and then kill at each one.
 */
import fs from "node:fs";
import fsp from "node:fs/promises";

let count = 0;
let killAt = 0;
let log: string[] | undefined;

export function opsSoFar(): number {
  return count;
}
/** The op names seen (when tracing is on): for reports. */
export function opsLog(): readonly string[] {
  return log ?? [];
}

function die(): never {
  process.kill(process.pid, "SIGKILL");
  // SIGKILL is synchronous for the calling process in practice; never continue past it.
  for (;;) {
    /* unreachable */
  }
}

/** Counts one op; returns true when this op is the kill point (the caller tears it, then dies). */
function tick(name: string): boolean {
  count++;
  log?.push(name);
  return count === killAt;
}

const WRITE_FLAGS = /[wa+]/;
function isWriteFlag(flags: unknown): boolean {
  return typeof flags === "string"
    ? WRITE_FLAGS.test(flags)
    : typeof flags === "number"
      ? (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0
      : false;
}

type AnyFn = (...a: unknown[]) => unknown;
function wrap(
  obj: Record<string, unknown>,
  name: string,
  when: (args: unknown[]) => boolean = () => true,
  tear?: (orig: AnyFn, self: unknown, args: unknown[]) => unknown,
): void {
  const orig = obj[name] as AnyFn | undefined;
  if (typeof orig !== "function") return;
  obj[name] = function (this: unknown, ...args: unknown[]) {
    if (when(args) && tick(name)) {
      if (tear) {
        const r = tear(orig, this, args);
        if (r instanceof Promise) return r.then(die, die);
      }
      die();
    }
    return orig.apply(this, args);
  };
}

/** Half of a buffer write (positional or not): `write(buf, off, len, pos)` / `write(buf)`. */
function halfArgs(args: unknown[]): unknown[] | undefined {
  const [buf, off, len, pos] = args;
  if (!(buf instanceof Uint8Array)) {
    if (typeof buf === "string") return [buf.slice(0, Math.floor(buf.length / 2)), ...args.slice(1)];
    return undefined;
  }
  const o = typeof off === "number" ? off : 0;
  const l = typeof len === "number" ? len : buf.byteLength - o;
  return [buf, o, Math.floor(l / 2), typeof pos === "number" ? pos : null];
}

/** Wraps the FileHandle prototype (write/writev/writeFile/sync/datasync/close/truncate). */
async function wrapFileHandle(): Promise<void> {
  const fh = await fsp.open(process.execPath, "r");
  const proto = Object.getPrototypeOf(fh) as Record<string, unknown>;
  await fh.close();
  const tearHalf = (orig: AnyFn, self: unknown, args: unknown[]) => {
    const h = halfArgs(args);
    return h ? orig.apply(self, h) : undefined;
  };
  wrap(proto, "write", () => true, tearHalf);
  wrap(
    proto,
    "writeFile",
    () => true,
    (orig, self, args) => {
      const [data] = args;
      if (typeof data === "string" || data instanceof Uint8Array) return orig.apply(self, [data.slice(0, Math.floor(data.length / 2))]);
      return undefined;
    },
  );
  for (const n of ["writev", "sync", "datasync", "truncate"]) wrap(proto, n);
  // close() of a handle opened for writing is a kill point too; closing read handles is not
  // distinguishable here, so every close counts.
  wrap(proto, "close");
}

/** Installs the counters. `at` = 0: count only; `at` = k: die at the k-th op. */
export async function installKillPoints(at: number, trace = false): Promise<void> {
  killAt = at;
  if (trace) log = [];
  const P = fsp as unknown as Record<string, unknown>;
  wrap(P, "open", (a) => isWriteFlag(a[1]));
  wrap(
    P,
    "writeFile",
    () => true,
    (orig, _self, args) => {
      const [file, data, opts] = args;
      if (typeof data === "string" || data instanceof Uint8Array) return orig.apply(fsp, [file, data.slice(0, Math.floor(data.length / 2)), opts]);
      return undefined;
    },
  );
  for (const n of ["appendFile", "rename", "rm", "unlink", "copyFile", "mkdir", "rmdir", "truncate", "link", "symlink", "cp"]) wrap(P, n);
  const F = fs as unknown as Record<string, unknown>;
  wrap(F, "openSync", (a) => isWriteFlag(a[1]));
  wrap(F, "open", (a) => isWriteFlag(a[1]));
  wrap(
    F,
    "writeSync",
    () => true,
    (orig, _self, args) => {
      const h = halfArgs(args.slice(1));
      return h ? orig.apply(fs, [args[0], ...h]) : undefined;
    },
  );
  for (const n of [
    "write",
    "writev",
    "fsync",
    "fdatasync",
    "rename",
    "unlink",
    "rm",
    "copyFile",
    "mkdir",
    "writeFileSync",
    "writeFile",
    "renameSync",
    "unlinkSync",
    "rmSync",
    "copyFileSync",
    "mkdirSync",
    "fsyncSync",
    "fdatasyncSync",
    "appendFileSync",
    "cpSync",
  ])
    wrap(F, n);
  await wrapFileHandle();
}
