/**
 * Tokenizing bounded in time (issue 18, finding 3) and linear on long words (finding 5): a
 * tokenizer.json regex that backtracks without end is stopped at the time limit with an error naming
 * the file and the regex; BPE on a long word is split where no merge reaches across (bpeSplit.ts),
 * giving exactly the library's tokens (golden: @huggingface/tokenizers unpatched, on the shared texts).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { Tokenizer } from "@huggingface/tokenizers";
import { MAX_RUN, splitWord } from "../src/core/eval/bpeSplit";
import { EvalError } from "../src/core/eval/errors";
import { loadTokenizer } from "../src/core/eval/tokenizer";
import { byteTokenizerConfig, byteTokenizerJson } from "../src/core/train/byteTokenizer";
import { removeDir, scratchDir } from "./fuzz/tmp";
import { sharedPath, sharedSkip } from "./helpers/shared";

const HF = "models/stories260K-hf";

/** A byte tokenizer whose normalizer (or pre-tokenizer) carries `(a|aa)+$`. */
function hostileTokenizer(dir: string, where: "normalizer" | "pre_tokenizer"): string {
  const json = byteTokenizerJson();
  const regex = { Regex: "(a|aa)+$" };
  if (where === "normalizer") json.normalizer = { type: "Replace", pattern: regex, content: "b" };
  else json.pre_tokenizer = { type: "Split", pattern: regex, behavior: "Isolated", invert: false };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "tokenizer.json"), JSON.stringify(json));
  fs.writeFileSync(path.join(dir, "tokenizer_config.json"), JSON.stringify(byteTokenizerConfig(128)));
  return dir;
}

test(
  "tokenizer limit: a catastrophic regex ((a|aa)+$ on 40 a's) is stopped at the time limit, naming the file and the regex",
  { timeout: 60_000 },
  async () => {
    const root = scratchDir("tok-limit");
    try {
      for (const where of ["normalizer", "pre_tokenizer"] as const) {
        const dir = hostileTokenizer(path.join(root, where), where);
        const tok = await loadTokenizer(dir, { timeLimit: { baseMs: 500, perCharMs: 0 } });
        assert.deepEqual(
          tok.encode("hello"),
          [...Buffer.from("hello")].map((b) => b + 3),
          "ordinary text still tokenizes",
        );
        const t0 = performance.now();
        assert.throws(
          () => tok.encode("a".repeat(40) + "!"),
          (e: unknown) =>
            e instanceof EvalError &&
            e.code === "tokenizer-stuck" &&
            e.message.includes(path.join(dir, "tokenizer.json")) &&
            e.message.includes(`the ${where} regex "(a|aa)+$" backtracks without end`),
        );
        const ms = performance.now() - t0;
        // 500 ms limit + ≤ 2 s naming the regex on a fresh thread + thread starts
        assert.ok(ms < 4000, `stopped after ${ms.toFixed(0)} ms`);
        assert.deepEqual(tok.encode("ab"), [100, 101], "the next call starts a fresh thread");
        tok.close?.();
      }
    } finally {
      removeDir(root);
    }
  },
);

test("tokenizer limit: splitWord cuts only where no merge result holds the pair, and long unsplittable runs every MAX_RUN", () => {
  const joinable = new Set(["ab", "▁a", "aa"]);
  assert.deepEqual(splitWord("▁ab▁aab", joinable), ["▁ab", "▁aab"]);
  assert.deepEqual(splitWord("b▁a", joinable), ["b", "▁a"]);
  const run = "a".repeat(2 * MAX_RUN + 5);
  const pieces = splitWord(run, joinable);
  assert.deepEqual(
    pieces.map((p) => p.length),
    [MAX_RUN, MAX_RUN, 5],
  );
  assert.equal(splitWord("😀a😀", new Set(["😀a"])).join("|"), "😀a|😀", "code points, not UTF-16 units");
});

test(
  "tokenizer limit: split BPE gives the library's exact ids on the shared texts, faster; a 2 MB single line takes seconds",
  { skip: sharedSkip(HF) || sharedSkip("corpus/wikitext-2-raw-test.txt"), timeout: 120_000 },
  async () => {
    const dir = sharedPath(HF)!;
    const lib = new Tokenizer(
      JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
      JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
    );
    const tok = await loadTokenizer(dir);
    try {
      for (const [name, n] of [
        ["tinystories-valid-excerpt.txt", Infinity],
        ["wikitext-2-raw-test.txt", 200_000],
      ] as const) {
        const text = fs.readFileSync(sharedPath("corpus", name)!, "utf8").slice(0, n);
        let t0 = performance.now();
        const want = lib.encode(text, { add_special_tokens: false }).ids;
        const libMs = performance.now() - t0;
        t0 = performance.now();
        const got = tok.encode(text);
        const ms = performance.now() - t0;
        assert.equal(got.length, want.length, name);
        assert.deepEqual(got, want, `${name}: split BPE must give the library's ids`);
        console.log(`# ${name}: ${text.length} chars, ${got.length} tokens: library ${libMs.toFixed(0)} ms, split on a thread ${ms.toFixed(0)} ms`);
      }
      const base = fs.readFileSync(sharedPath("corpus", "tinystories-valid-excerpt.txt")!, "utf8").replace(/\n/g, " ");
      const line = base.repeat(Math.ceil(2e6 / base.length)).slice(0, 2e6);
      const t0 = performance.now();
      const ids = tok.encode(line);
      const ms = performance.now() - t0;
      console.log(`# a 2 MB single line: ${ids.length} tokens in ${ms.toFixed(0)} ms`);
      assert.ok(ids.length > 500_000);
      assert.ok(ms < 30_000, `a 2 MB line took ${ms.toFixed(0)} ms (the library alone: ~10 µs per character)`);
    } finally {
      tok.close?.();
    }
  },
);
