/** Pure rules for Compress's output folder and Sweep's ratio list (no vscode import: unit-tested in node). */
import path from "node:path";

/** Default output folder: beside the model folder, named after it and the ratio (never the model folder itself). */
export function defaultOutput(dir: string, ratio: number, format: "compact" | "dense", method: "directshare" | "postshare"): string {
  return path.join(path.dirname(dir), `${path.basename(dir)}-${method === "postshare" ? "postshare" : "shared"}-${Math.round(ratio * 100)}${format === "dense" ? "-dense" : ""}`);
}

/** Why `out` cannot receive the output of a model in `dir` (undefined when it can). */
export function outputProblem(dir: string, out: string): string | undefined {
  if (!out || !path.isAbsolute(out)) return "give an absolute folder path";
  const a = path.resolve(dir), o = path.resolve(out);
  if (o === a) return "that is the input model's folder; the output must go to a new folder beside it, never over the input";
  if (a.startsWith(o + path.sep) || o === path.parse(o).root) return "that folder contains the input model; choose a new folder beside it";
  if (o.startsWith(a + path.sep)) return "that folder is inside the input model's folder; choose a folder beside it";
  return undefined;
}

/** "0, 0.1 0.2;0.3" → [0, 0.1, 0.2, 0.3] (sorted, unique); throws a message naming the bad entry. */
export function parseRatios(text: string): number[] {
  const parts = text.split(/[\s,;]+/).filter(Boolean);
  if (!parts.length) throw new Error("give at least one ratio, e.g. 0, 0.1, 0.2, 0.3");
  const xs = parts.map((p) => {
    const x = Number(p);
    if (!Number.isFinite(x) || x < 0 || x >= 1) throw new Error(`ratio "${p}" must be a number from 0 to below 1`);
    return x;
  });
  return [...new Set(xs)].sort((a, b) => a - b);
}
