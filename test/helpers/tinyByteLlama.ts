/**
 * A tiny byte-tokenizer Llama (width 32, 4/2 heads, seed 21) and a seeded text of short documents
 * over a 12-word vocabulary joined by <|endoftext|>: the model and text of the PostShare tests.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { writeInitialLlama } from "../../src/core/train/initModel";
import { byteTokenizerConfig, byteTokenizerJson, BYTE_VOCAB } from "../../src/core/train/byteTokenizer";
import { mulberry32 as rng } from "../../src/core/model/rng";

/** dir/model (`layers` layers) and dir/text.txt (`docs` documents of 20–39 words). */
export async function writeTinyByteLlama(dir: string, layers: number, docs: number): Promise<{ model: string; text: string }> {
  const model = path.join(dir, "model");
  await writeInitialLlama(
    model,
    { layers, heads: 4, kvHeads: 2, headDim: 8, hidden: 32, intermediate: 48, vocab: BYTE_VOCAB, maxPositions: 64, tied: true, seed: 21, std: 0.08 },
    { "tokenizer.json": JSON.stringify(byteTokenizerJson()), "tokenizer_config.json": JSON.stringify(byteTokenizerConfig(64)) },
  );
  const r = rng(8);
  const words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "red", "ball"];
  const lines = Array.from(
    { length: docs },
    () => Array.from({ length: 20 + Math.floor(r() * 20) }, () => words[Math.floor(r() * words.length)]).join(" ") + ".",
  );
  const text = path.join(dir, "text.txt");
  await fs.writeFile(text, lines.join("\n<|endoftext|>\n"));
  return { model, text };
}
