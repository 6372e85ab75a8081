/**
 * Disk-full conditions for writer tests: a real size-limited tmpfs (needs root and mount
 * rights; `mountSmallTmpfs` returns undefined with the reason when it cannot), and a simulated
 * ENOSPC from the file layer (every FileHandle write / fs.promises.writeFile in this process fails
 * once a byte budget is spent), which works everywhere.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";

/** Mounts a tmpfs of `bytes` at `dir` (created). Returns an unmount function, or a skip reason. */
export function mountSmallTmpfs(dir: string, bytes: number): { unmount: () => void } | { reason: string } {
  if (process.platform !== "linux") return { reason: "tmpfs mounts need Linux" };
  if (typeof process.getuid === "function" && process.getuid() !== 0) return { reason: "mounting a tmpfs needs root" };
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", dir], { encoding: "utf8" });
  if (r.status !== 0) return { reason: `mount -t tmpfs failed here (${(r.stderr || r.error?.message || "").trim()}); the simulated ENOSPC test still runs` };
  return {
    unmount: () => {
      spawnSync("umount", [dir]);
    },
  };
}

function enospc(syscall: string): NodeJS.ErrnoException {
  const e = new Error(`ENOSPC: no space left on device, ${syscall}`) as NodeJS.ErrnoException;
  e.code = "ENOSPC";
  e.errno = -28;
  e.syscall = syscall;
  return e;
}

/**
 * Simulates a disk with `budget` bytes free for this process: writes beyond it write what fits,
 * then fail with ENOSPC (as a full disk does). Returns the function that removes the simulation.
 */
export async function simulateDiskFull(budget: number): Promise<() => void> {
  let left = budget;
  const fh = await fsp.open(process.execPath, "r");
  const proto = Object.getPrototypeOf(fh) as Record<string, unknown>;
  await fh.close();
  const origWrite = proto.write as (...a: unknown[]) => Promise<{ bytesWritten: number; buffer: unknown }>;
  const P = fsp as unknown as Record<string, unknown>;
  const origWriteFile = P.writeFile as (...a: unknown[]) => Promise<void>;
  proto.write = async function (this: unknown, ...args: unknown[]) {
    const [buf, off, len, pos] = args;
    if (buf instanceof Uint8Array) {
      const o = typeof off === "number" ? off : 0;
      const l = typeof len === "number" ? len : buf.byteLength - o;
      if (l > left) {
        if (left > 0) {
          const fit = left;
          left = 0;
          return origWrite.call(this, buf, o, fit, pos);
        }
        throw enospc("write");
      }
      left -= l;
    }
    return origWrite.apply(this, args);
  };
  P.writeFile = async function (...args: unknown[]) {
    const data = args[1];
    const n = typeof data === "string" ? Buffer.byteLength(data) : data instanceof Uint8Array ? data.byteLength : 0;
    if (n > left) {
      // A full disk takes what fits, then fails: leave the partial file behind as it would.
      const part = (typeof data === "string" ? Buffer.from(data) : (data as Uint8Array)).subarray(0, left);
      left = 0;
      await origWriteFile.apply(fsp, [args[0], part, ...args.slice(2)]);
      throw enospc("write");
    }
    left -= n;
    return origWriteFile.apply(fsp, args);
  };
  return () => {
    proto.write = origWrite;
    P.writeFile = origWriteFile;
  };
}
