/** Free space up front: a write that cannot fit is refused before its first byte. */
import fs from "node:fs/promises";
import { OutputError } from "./errors";

/** Headroom beyond the estimate (file-system metadata, rounding to blocks). */
const MARGIN = 8 * 2 ** 20;

const fmt = (b: number): string => (b >= 2 ** 30 ? `${(b / 2 ** 30).toFixed(2)} GiB` : `${(b / 2 ** 20).toFixed(1)} MiB`);

/** Free bytes for this user on the file system holding `dir` (undefined where statfs is unavailable). */
export async function freeBytes(dir: string): Promise<number | undefined> {
  if (typeof fs.statfs !== "function") return undefined;
  try {
    const s = await fs.statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return undefined;
  }
}

/** Throws "no-space" when `dir`'s file system has less than `need` bytes (+ a margin) free. */
export async function checkFreeSpace(dir: string, need: number, what: string, note = ""): Promise<void> {
  const free = process.env.HEADSHARE_TEST_FREE_BYTES !== undefined ? Number(process.env.HEADSHARE_TEST_FREE_BYTES) : await freeBytes(dir);
  if (free === undefined || !(need > 0)) return;
  if (free < need + MARGIN) {
    throw new OutputError(
      "no-space",
      dir,
      `not enough free space for ${what}: it needs about ${fmt(need)}${note} and ${dir} has ${fmt(free)} free; nothing was written. Free some space or choose another folder`,
    );
  }
}
