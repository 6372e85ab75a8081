/** The text-protocol flags shared by eval and sweep (how a text is cut into scored windows). */
import type { FlagSpec, ParsedArgs } from "../args";

export const TEXT_FLAGS: readonly FlagSpec[] = [
  { name: "text", type: "string" },
  { name: "documents-separator", type: "string" },
  { name: "window", type: "int", min: 2 },
  { name: "stride", type: "int", min: 1 },
  { name: "no-bos", type: "boolean" },
];

export const TEXT_USAGE = `  --text FILE                  the text to score (UTF-8)
  --documents-separator STR    score each document (split at STR, trimmed, empty ones skipped) on its
                               own as BOS + tokens truncated to the window; otherwise stream windows
  --window N                   tokens per window, BOS counted (default: the model's context, ≤ 512)
  --stride S                   stream windows move by S tokens, each token predicted once (default N−1)
  --no-bos                     do not prepend BOS`;

/** The protocol params of a job from parsed flags. */
export function textParams(a: ParsedArgs): { documentsSeparator?: string; window?: number; stride?: number; bos: boolean } {
  const f = a.flags;
  return {
    ...(f["documents-separator"] !== undefined ? { documentsSeparator: f["documents-separator"] as string } : {}),
    ...(f.window !== undefined ? { window: f.window as number } : {}),
    ...(f.stride !== undefined ? { stride: f.stride as number } : {}),
    bos: f["no-bos"] !== true,
  };
}

/** Flags of every command that runs a model: the memory budget and the forward path. */
export const RUN_MODEL_FLAGS: readonly FlagSpec[] = [
  { name: "memory-budget", type: "number", min: 0.001 },
  { name: "forward", type: "string", choices: ["auto", "whole-model", "layer-streamed"] },
];

export const RUN_MODEL_USAGE = `  --memory-budget GiB           memory the evaluation may use (default: min(4 GiB, RAM/4)); picks the
                               windows per pass and the vocabulary chunk; refused only when one layer
                               cannot fit
  --forward auto|whole-model|layer-streamed
                               the whole-model graph, or one layer at a time (auto: whole-model when
                               the float32 weights fit a quarter of the budget)`;

/** The run-model params of a job from parsed flags. */
export function runModelParams(a: ParsedArgs): { memoryBudgetGiB?: number; forward?: "auto" | "whole-model" | "layer-streamed" } {
  const f = a.flags;
  return {
    ...(f["memory-budget"] !== undefined ? { memoryBudgetGiB: f["memory-budget"] as number } : {}),
    ...(f.forward !== undefined ? { forward: f.forward as "auto" | "whole-model" | "layer-streamed" } : {}),
  };
}
