/** Pure rules for Compress's output folder and Sweep's ratio list (no vscode import: unit-tested in node). */
import path from "node:path";

/** Default output folder: beside the model folder, named after it and the ratio (never the model folder itself). */
export function defaultOutput(dir: string, ratio: number, format: "compact" | "dense", method: "directshare" | "postshare"): string {
  return path.join(
    path.dirname(dir),
    `${path.basename(dir)}-${method === "postshare" ? "postshare" : "shared"}-${Math.round(ratio * 100)}${format === "dense" ? "-dense" : ""}`,
  );
}

/** Why `out` cannot receive the output of a model in `dir`: the output-folder module's rule (one definition). */
export { outputProblem } from "../core/output/rules";

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
