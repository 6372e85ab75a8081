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
