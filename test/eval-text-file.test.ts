/**
 * `--text` read and tokenized in pieces (textFile.ts, issue 18 finding 5): the stream protocol's ids
 * equal the whole text tokenized at once (golden: one encode of the whole string) with cuts every few
 * KB, for the shared Llama-style (no pre-tokenizer) and GPT-2-style (byte-level) tokenizers; the
 * documents protocol gives makeWindows' windows with separators across read boundaries; a long
 * single line is tokenized in seconds; the size limit is stated.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import test from "node:test";
import { EvalError } from "../src/core/eval/errors";
import { checkTextFile, MAX_TEXT_BYTES, StreamTokenizer, textFileWindows } from "../src/core/eval/textFile";
import { loadTokenizer } from "../src/core/eval/tokenizer";
import { makeProtocol, makeWindows } from "../src/core/eval/windows";
import { byteTokenizerConfig, byteTokenizerJson } from "../src/core/train/byteTokenizer";
import { removeDir, scratchDir } from "./fuzz/tmp";
import { sharedPath, sharedSkip } from "./helpers/shared";

const skip = sharedSkip("models/stories260K-hf") || sharedSkip("models/tiny-gpt2-random") || sharedSkip("corpus/wikitext-2-raw-test.txt");

test("text file: stream ids cut every few KB equal the whole text's ids (stories260K-hf and tiny-gpt2 tokenizers)", { skip, timeout: 120_000 }, async () => {
  const texts = {
    wikitext: fs.readFileSync(sharedPath("corpus", "wikitext-2-raw-test.txt")!, "utf8").slice(0, 120_000),
    tinystories: fs.readFileSync(sharedPath("corpus", "tinystories-valid-excerpt.txt")!, "utf8"),
  };
  for (const model of ["stories260K-hf", "tiny-gpt2-random"]) {
    const tok = await loadTokenizer(sharedPath("models", model)!);
    try {
      for (const [name, text] of Object.entries(texts)) {
        const whole = tok.encode(text);
        const st = new StreamTokenizer((t) => tok.encode(t), 3000);
        for (let i = 0; i < text.length; i += 1777) st.add(text.slice(i, i + 1777));
        const got = Array.from(st.finish());
        assert.equal(st.inexactCuts, 0, `${model} ${name}: every cut confirmed`);
        assert.equal(got.length, whole.length, `${model} ${name}`);
        assert.deepEqual(got, whole, `${model} ${name}: pieces must give the whole text's ids`);
      }
    } finally {
      tok.close?.();
    }
  }
});

test("text file: documents stream across read boundaries like makeWindows; long documents keep their window", async () => {
  const root = scratchDir("text-file");
  try {
    fs.writeFileSync(path.join(root, "tokenizer.json"), JSON.stringify(byteTokenizerJson()));
    fs.writeFileSync(path.join(root, "tokenizer_config.json"), JSON.stringify(byteTokenizerConfig(128)));
    const tok = await loadTokenizer(root);
    const sep = "<|endoftext|>";
    const docs = Array.from({ length: 60 }, (_, i) => (i % 7 === 3 ? "" : ` doc ${i} `.repeat(1 + ((i * 13) % 40))));
    docs[10] = "x".repeat(70_000); // longer than the kept prefix (64 KiB)
    const text = docs.join(sep);
    const file = path.join(root, "t.txt");
    fs.writeFileSync(file, text);
    for (const p of [makeProtocol({ documentsSeparator: sep, window: 64 }, 128), makeProtocol({ window: 64 }, 128)]) {
      const want = makeWindows(text, p, (t) => tok.encode(t), 1);
      const got = await textFileWindows(file, p, (t) => tok.encode(t), 1, undefined, { readBytes: 4093, pieceChars: 5000 });
      assert.deepEqual(got.windows, want, p.kind);
      const big = await textFileWindows(file, p, (t) => tok.encode(t), 1);
      assert.deepEqual(big.windows, want, `${p.kind} (default sizes)`);
    }
    tok.close?.();
  } finally {
    removeDir(root);
  }
});

test(
  "text file: a 3 MB single line is tokenized in pieces in seconds; over the size limit the file is refused unread",
  { skip, timeout: 120_000 },
  async () => {
    const root = scratchDir("text-line");
    try {
      const base = fs.readFileSync(sharedPath("corpus", "tinystories-valid-excerpt.txt")!, "utf8").replace(/\n/g, " ");
      const file = path.join(root, "line.txt");
      fs.writeFileSync(file, base.repeat(Math.ceil(3e6 / base.length)).slice(0, 3e6));
      const tok = await loadTokenizer(sharedPath("models", "stories260K-hf")!);
      const heap0 = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      const r = await textFileWindows(file, makeProtocol({ window: 256 }, 512), (t) => tok.encode(t), 1);
      const ms = performance.now() - t0;
      tok.close?.();
      const tokens = r.windows.reduce((a, w) => a + w.tokens.length - w.scoreFrom, 0);
      console.log(
        `# 3 MB single line: ${tokens} tokens in ${r.windows.length} windows, ${ms.toFixed(0)} ms, heap +${((process.memoryUsage().heapUsed - heap0) / 2 ** 20).toFixed(0)} MiB`,
      );
      assert.equal(r.inexactCuts, 0, "cut before spaces, each confirmed");
      assert.ok(tokens > 1_000_000);
      assert.ok(ms < 60_000, `${ms.toFixed(0)} ms`);
      const big = path.join(root, "big.txt");
      fs.closeSync(fs.openSync(big, "w"));
      fs.truncateSync(big, MAX_TEXT_BYTES + 1);
      await assert.rejects(
        checkTextFile(big),
        (e: unknown) =>
          e instanceof EvalError && e.code === "bad-text" && /big\.txt: cannot read the text file \(it is 67108865 bytes, more than the 64 MiB/.test(e.message),
      );
    } finally {
      removeDir(root);
    }
  },
);
