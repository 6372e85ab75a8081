/**
 * Removes what killed writers left in a folder — only theirs: a temporary whose owner still runs
 * (a concurrent writer) or runs elsewhere (another host or container: liveness unknown) is kept.
 * A replaced output that a killed swap had moved aside is put back when its target is missing (the
 * kill fell between the swap's two renames), so the previous output is never lost.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { parseTempName } from "./names";
import { ownerLiveness, pidExists } from "./owner";

export interface CleanReport {
  readonly removed: string[];
  /** Asides renamed back to their target. */
  readonly restored: string[];
}

/** Best effort: never throws. Returns the names removed (the historical API). */
export async function cleanStaleTemps(dir: string): Promise<string[]> {
  return (await cleanStale(dir)).removed;
}

export async function cleanStale(dir: string): Promise<CleanReport> {
  const removed: string[] = [],
    restored: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return { removed, restored };
  }
  // Asides first: their restore must happen before any stale staging of the same target goes.
  const parsed = names.map((name) => ({ name, p: parseTempName(name) })).filter((x) => x.p !== undefined);
  parsed.sort((a, b) => Number(b.p && "aside" in b.p && b.p.aside) - Number(a.p && "aside" in a.p && a.p.aside));
  for (const { name, p } of parsed) {
    const dead = "legacyPid" in p! ? !pidExists(p.legacyPid) : ownerLiveness(p!.owner) === "dead";
    if (!dead) continue;
    try {
      if ("aside" in p! && p.aside) {
        const target = path.join(dir, p.target);
        const present = await fs.lstat(target).then(
          () => true,
          () => false,
        );
        if (!present) {
          await fs.rename(path.join(dir, name), target);
          restored.push(name);
          continue;
        }
      }
      await fs.rm(path.join(dir, name), { force: true, recursive: true }); // a staging folder too
      removed.push(name);
    } catch {
      // another cleaner got it, or no permission: leave it
    }
  }
  return { removed, restored };
}
