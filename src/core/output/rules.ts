/** Where an output folder may go (pure: the extension's input boxes use it too). */
import path from "node:path";

/** Why `out` cannot receive an output made from the model in `inputDir` (undefined when it can). */
export function outputProblem(inputDir: string, out: string): string | undefined {
  if (!out || !path.isAbsolute(out)) return "give an absolute folder path";
  const a = path.resolve(inputDir),
    o = path.resolve(out);
  if (o === a) return "that is the input model's folder; the output must go to a new folder beside it, never over the input";
  if (a.startsWith(o + path.sep) || o === path.parse(o).root) return "that folder contains the input model; choose a new folder beside it";
  if (o.startsWith(a + path.sep)) return "that folder is inside the input model's folder; choose a folder beside it";
  return undefined;
}

/**
 * Names a checkpoint folder holds (what `--force` may replace): weights, indexes, config and
 * tokenizer files, headshare's reports, a PostShare job folder's scripts (never its run/ results);
 * headshare's own temporaries and locks.
 */
const CHECKPOINT_FILE =
  /^([\w.-]+\.safetensors(\.index\.json)?|[\w.-]+\.json|tokenizer\.model|vocab\.txt|merges\.txt|[\w.-]+\.tiktoken|chat_template\.jinja|[\w.-]+\.(md|csv|onnx|bin)|train\.py|launch\.sh)$/;
export function isReplaceableEntry(name: string, isFile: boolean): boolean {
  return name.startsWith(".headshare-") || (isFile && CHECKPOINT_FILE.test(name));
}
