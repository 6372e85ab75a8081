/** Single files written atomically beside their target (the match cache, exports, reports, copies). */
import fs from "node:fs/promises";
import path from "node:path";
import { cleanStaleTemps } from "./clean";
import { tempPathFor } from "./names";

/** Writes `data` to a temporary name in `file`'s folder, syncs, and renames it over `file`. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const target = path.resolve(file);
  await cleanStaleTemps(path.dirname(target));
  const tmp = tempPathFor(target);
  try {
    const fh = await fs.open(tmp, "wx");
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** Copies `from` to `to` through a temporary name (mode 0644: a copy, writable even when the input is read-only). */
export async function copyFileAtomic(from: string, to: string): Promise<void> {
  const tmp = tempPathFor(path.resolve(to));
  try {
    await fs.copyFile(from, tmp);
    await fs.chmod(tmp, 0o644);
    await fs.rename(tmp, to);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}
