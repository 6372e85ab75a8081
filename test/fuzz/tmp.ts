/** A scratch folder for file-based fuzz targets: on tmpfs (/dev/shm) when there is one. */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export function scratchDir(label: string): string {
  const bases = ["/dev/shm", os.tmpdir()];
  for (const b of bases) {
    try {
      fs.accessSync(b, fs.constants.W_OK);
      return fs.mkdtempSync(path.join(b, `headshare-fuzz-${label}-`));
    } catch {
      // try the next
    }
  }
  throw new Error("no writable temporary folder for the fuzz scratch files");
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Empties a folder (keeps the folder). */
export function emptyDir(dir: string): void {
  for (const e of fs.readdirSync(dir)) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
}
