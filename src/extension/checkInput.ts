/**
 * "Open the checkpoint first, then ask": every command that runs a model reads its header, sizes and
 * config.json (the worker's fast `headshare/inspect`) and, when it will score text, checks for a
 * tokenizer, before it asks a single question. A problem is an ExtensionError("bad-input") that names
 * the file, what is wrong and what to do (not a worker failure).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { maxRatio } from "../core/share/plan";
import { ExtensionError, messageOf } from "./errors";
import type { JobResult } from "../protocol/worker";
import type { Session } from "./session";

export type CheckpointFacts = JobResult<"headshare/inspect">["summary"];

/** Tokenizer files the eval core reads (src/core/eval/tokenizer.ts). */
const TOKENIZERS: readonly (readonly string[])[] = [["tokenizer.json"], ["vocab.json", "merges.txt"]];

/** Reads the checkpoint's header and config (fast: no weights); throws an error about the input. */
export async function openCheckpoint(session: Session, model: string, o: { tokenizer?: boolean; what: string }): Promise<CheckpointFacts> {
  let summary: CheckpointFacts;
  try {
    summary = (
      await session.jobs.run(`open ${path.basename(model)}`, async (job) => {
        const r = await session.request(job, "headshare/inspect", { model });
        // A cancel that arrives as the header is read still cancels the command (it is the running job then).
        if (job.controller.signal.aborted) throw new ExtensionError("cancelled", `${o.what} was cancelled`);
        return r;
      })
    ).summary;
  } catch (e) {
    if ((e as { code?: unknown }).code === "cancelled") throw e;
    // The worker's message usually starts with the file's path already: name it once.
    const m = messageOf(e);
    const todo = /truncated|corrupt|past the (data|end)/i.test(m) ? ". Copy or download the file again (it is incomplete); nothing was written" : "";
    throw new ExtensionError("bad-input", `${o.what} cannot open ${m.startsWith(model) ? m : `${model}: ${m}`}${todo}`);
  }
  if (summary.modelError) {
    throw new ExtensionError(
      "bad-input",
      `${o.what} needs a complete Hugging Face model (config.json beside the weights), and ${model} is not one: ${summary.modelError}`,
    );
  }
  if (summary.layers === null || summary.layers < 2) {
    throw new ExtensionError(
      "bad-input",
      `${model} has ${summary.layers ?? "no known number of"} layer(s): sharing needs at least 2 (a layer shares a lower layer's heads)`,
    );
  }
  if (o.tokenizer) await requireTokenizer(model, o.what);
  return summary;
}

/** The tokenizer beside the model, or an error saying which files are missing where. */
export async function requireTokenizer(model: string, what: string): Promise<void> {
  const dir = (await fs.stat(model)).isDirectory() ? model : path.dirname(model);
  const names = new Set(await fs.readdir(dir).catch(() => [] as string[]));
  if (TOKENIZERS.some((set) => set.every((n) => names.has(n)))) return;
  throw new ExtensionError(
    "bad-input",
    `${what} scores text, which needs the model's tokenizer, and ${dir} has none (tokenizer.json, or vocab.json + merges.txt): copy it from where the model came from`,
  );
}

/** The largest sharing ratio of a model with `layers` layers ((L−1)/L, layer 0 is never a target), rounded down to a percent. */
export function maxRatioOf(layers: number): number {
  return Math.floor(maxRatio(layers) * 100 + 1e-9) / 100;
}

/** "30%", "0.3", " 30 % " → 0.3; a message naming the problem otherwise (checked at once in the input box). */
export function parseRatio(text: string, max: number): number | string {
  const t = text.trim();
  const m = /^(\d+(?:\.\d+)?|\.\d+)\s*(%?)$/.exec(t);
  if (!m) return `"${t}" is not a ratio: type a fraction such as 0.3 or a percentage such as 30%`;
  const x = m[2] ? Number(m[1]) / 100 : Number(m[1]);
  if (!m[2] && x > 1 && x <= 100) return `${t} is above 1: did you mean ${t}%? Type 0.3 or 30%`;
  if (!(x >= 0 && x <= max + 1e-9))
    return `${(x * 100).toFixed(0)}% is above this model's maximum of ${(max * 100).toFixed(0)}% (layer 0 is never shared); type 0 to ${(max * 100).toFixed(0)}%`;
  return x;
}
