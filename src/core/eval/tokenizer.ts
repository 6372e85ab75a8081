/**
 * Loads a Hugging Face `tokenizer.json` (plus `tokenizer_config.json` when present) from disk,
 * with `@huggingface/tokenizers` (pure JS, no network). `encode` returns ids WITHOUT special
 * tokens: the text protocols add BOS themselves.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { assertInsideFolder } from "../safetensors/contained";
import { readRegularFile, RegularFileError } from "../safetensors/regularFile";
import { EvalError } from "./errors";
import { LimitedTokenizer, type TimeLimit } from "./tokenizerLimit";

export interface TextTokenizer {
  /** The tokenizer.json it was loaded from. */
  readonly path: string;
  readonly vocabSize: number;
  /** BOS id from tokenizer_config.json / the vocabulary, when the tokenizer has one. */
  readonly bosTokenId: number | undefined;
  /** Ids without special tokens; throws EvalError("tokenizer-stuck") past the time limit (tokenizerLimit.ts). */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
  /** Stops its tokenizer thread now (it also stops after a while idle; a later call starts another). */
  close?(): void;
}

/**
 * The BOS id every path prepends (eval, sweep, attention similarity, PostShare's training and
 * held-out text, the bench): the model's `bos_token_id` from config.json when it has one (what the
 * model was trained to see first), else the tokenizer's BOS token; undefined when neither defines one.
 */
export function bosId(spec: { readonly bosTokenId?: number | undefined }, tok: Pick<TextTokenizer, "bosTokenId">): number | undefined {
  return spec.bosTokenId ?? tok.bosTokenId;
}

/** Tokenizer files are read whole (the largest real ones are ~35 MB); larger ones are refused unread. */
const MAX_TOKENIZER_BYTES = 256 * 2 ** 20;

async function readJson(file: string, what: string): Promise<Record<string, unknown>> {
  const text = await readTokenizerFile(file, what);
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error("not an object");
    return v as Record<string, unknown>;
  } catch (e) {
    throw new EvalError("no-tokenizer", `${file}: the ${what} is not a JSON object (${(e as Error).message}); re-download it`);
  }
}

/** A tokenizer file as UTF-8: a regular file (a FIFO or device is refused by name, never opened for a blocking read) of bounded size. */
async function readTokenizerFile(file: string, what: string): Promise<string> {
  try {
    return (await readRegularFile(file, MAX_TOKENIZER_BYTES)).toString("utf8");
  } catch (e) {
    const r = e instanceof RegularFileError ? e.reason : "io";
    if (r === "not-regular")
      throw new EvalError("no-tokenizer", `${file}: the ${what} is not a regular file (a folder, FIFO or device); put the model's file there`);
    if (r === "too-large")
      throw new EvalError(
        "no-tokenizer",
        `${file}: the ${what} is ${(e as RegularFileError).size} bytes, more than the ${MAX_TOKENIZER_BYTES} a tokenizer file can plausibly be; it is corrupt, re-download it`,
      );
    throw new EvalError(
      "no-tokenizer",
      `${file}: cannot read the ${what} (${e instanceof Error ? e.message : String(e)}); put the model's tokenizer.json beside config.json`,
    );
  }
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as { content?: unknown }).content === "string") return (v as { content: string }).content;
  return undefined;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * The tokenizer.json equivalent of a GPT-2 style `vocab.json` + `merges.txt` pair (byte-level
 * BPE, as Hugging Face's GPT2Tokenizer builds it), for folders that ship only those two files.
 */
export async function gpt2TokenizerJson(dir: string): Promise<Record<string, unknown>> {
  const vocabFile = path.join(dir, "vocab.json"),
    mergesFile = path.join(dir, "merges.txt");
  try {
    await assertInsideFolder(dir, vocabFile, "vocab.json");
    await assertInsideFolder(dir, mergesFile, "merges.txt");
  } catch (e) {
    throw new EvalError("no-tokenizer", e instanceof Error ? e.message : String(e));
  }
  const vocab = await readJson(vocabFile, "vocab.json");
  const text = await readTokenizerFile(mergesFile, "merges.txt (a vocab.json needs its merges.txt)");
  const merges = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#version"));
  const special = Object.entries(vocab).filter(([k]) => /^<\|.*\|>$/.test(k) || k === "<unk>");
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: "1.0",
    added_tokens: special.map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: "",
      end_of_word_suffix: "",
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

/**
 * Loads `<dir>/tokenizer.json` (dir = a checkpoint folder, or the tokenizer.json itself); a folder
 * with only GPT-2's `vocab.json` + `merges.txt` gets the equivalent byte-level BPE tokenizer.
 */
export async function loadTokenizer(dirOrFile: string, opts: { readonly timeLimit?: TimeLimit } = {}): Promise<TextTokenizer> {
  const file = dirOrFile.endsWith(".json") ? dirOrFile : path.join(dirOrFile, "tokenizer.json");
  const cfgFile = path.join(path.dirname(file), "tokenizer_config.json");
  // Links out of the model folder are refused (contained.ts): a model must not make us read any file.
  try {
    if (file !== dirOrFile) await assertInsideFolder(dirOrFile, file, "tokenizer.json"); // an explicit file is the user's choice
    await assertInsideFolder(path.dirname(file), cfgFile, "tokenizer_config.json");
  } catch (e) {
    throw new EvalError("no-tokenizer", e instanceof Error ? e.message : String(e));
  }
  const dir = path.dirname(file);
  const gpt2Files = !(await exists(file)) && (await exists(path.join(dir, "vocab.json"))) && (await exists(path.join(dir, "merges.txt")));
  const json = gpt2Files ? await gpt2TokenizerJson(dir) : await readJson(file, "tokenizer");
  let config: Record<string, unknown> = {};
  try {
    await fs.access(cfgFile);
    config = await readJson(cfgFile, "tokenizer config");
  } catch (e) {
    if (e instanceof EvalError) throw e;
  }
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    throw new EvalError("no-tokenizer", `${file}: @huggingface/tokenizers cannot load it (${(e as Error).message})`);
  }
  const bosText = tokenContent(config.bos_token);
  const bosTokenId = bosText !== undefined ? tok.token_to_id(bosText) : undefined;
  const vocabSize = tok.get_vocab(true).size;
  // Encoding and decoding run the file's regexes: on a thread, under a time limit.
  const limited = new LimitedTokenizer(file, json, config, opts.timeLimit);
  return {
    path: file,
    vocabSize,
    bosTokenId,
    encode: (text) => Array.from(limited.encode(text)),
    decode: (ids) => limited.decode(ids),
    close: () => limited.close(),
  };
}
