/** Up-front checks of an output folder, so a long job is not started only to be refused at the end. */
import fs from "node:fs";
import path from "node:path";
import { checkOutputPath, OutputError } from "../../core/output";
import { UsageError } from "../args";

/**
 * `--out DIR` must not be the input's folder (nor hold the input), and an existing non-empty folder
 * needs `--force`. The writers check again; this only fails early with the same rule.
 */
export function checkOutDir(command: string, usage: string, out: string, input: string, force: boolean): void {
  const inputDir = fs.existsSync(input) && fs.statSync(input).isDirectory() ? input : path.dirname(input);
  if (path.resolve(out) === path.resolve(inputDir)) {
    throw new UsageError(`${command}: --out ${out} is the input's folder; choose another folder (the input is never modified)`, usage);
  }
  if (!fs.existsSync(out)) {
    if (!fs.existsSync(path.dirname(out)))
      throw new UsageError(`${command}: --out ${out}: its parent folder ${path.dirname(out)} does not exist; create it first`, usage);
    return;
  }
  if (!fs.statSync(out).isDirectory()) throw new UsageError(`${command}: --out ${out} exists and is not a folder; choose a folder name`, usage);
  if (!force && fs.readdirSync(out).length > 0) {
    throw new UsageError(
      `${command}: --out ${out} exists and is not empty; pass --force to write into it (files of the same names are replaced) or choose another folder`,
      usage,
    );
  }
}

/**
 * checkOutDir, then the output-folder module's own rules (src/core/output/folder.ts) for a folder
 * headshare replaces whole: the parent is a writable folder, and with --force the existing folder
 * holds only checkpoint files. Errors are usage errors naming the flag.
 */
export async function checkOutFolder(command: string, usage: string, out: string, input: string, force: boolean, what: string): Promise<void> {
  checkOutDir(command, usage, out, input, force);
  try {
    // The input's folder (a missing input is left to the job, which names it).
    const inputs = !fs.existsSync(input) ? [] : fs.statSync(input).isDirectory() ? [input] : [path.dirname(input)];
    await checkOutputPath(out, { inputs, force, what });
  } catch (e) {
    if (e instanceof OutputError)
      throw new UsageError(`${command}: --out ${out}: ${e.message.startsWith(out) ? e.message.slice(out.length).replace(/^:?\s*/, "") : e.message}`, usage);
    throw e;
  }
}
