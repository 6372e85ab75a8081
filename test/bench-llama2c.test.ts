// The eval bench's llama2.c baseline (bench/llama2c.ts, bench/llama2c-score.c): a wrong
// HEADSHARE_LLAMA2C_DIR fails at once with what to fix; with a llama2.c checkout (not vendored: set
// HEADSHARE_LLAMA2C_DIR to one), the scorer compiled against its run.c scores the TinyStories
// excerpt with headshare's documents protocol and reproduces ../shared/models/README.md's reference
// (45 stories, 14,552 predicted tokens, mean NLL 1.222397), the number headshare's eval tests check.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildLlama2cScorer, LLAMA2C_ENV, llama2cApi, llama2cSource, runLlama2cScorer } from "../bench/llama2c";
import { repoRoot } from "../bench/machine";
import { sharedPath } from "./helpers/shared";

test("bench llama2c: a missing folder, a folder without run.c and an unknown run.c are refused with what to do", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-l2c-"));
  try {
    assert.throws(() => llama2cSource(path.join(dir, "nope")), new RegExp(`${LLAMA2C_ENV}=.*nope: no such folder; set ${LLAMA2C_ENV} to a checkout`));
    assert.throws(() => llama2cSource(dir), /there is no run\.c in it; set HEADSHARE_LLAMA2C_DIR/);
    fs.writeFileSync(path.join(dir, "run.c"), "int main(void) { return 0; }\n");
    assert.throws(() => llama2cSource(dir), /run\.c: not a run\.c this bench knows/);
    assert.throws(() => buildLlama2cScorer(dir, path.join(repoRoot(), "bench", "llama2c-score.c"), dir), /not a run\.c this bench knows/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("bench llama2c: the run.c API is told apart by its signatures", () => {
  const v1 =
    "void transformer(int token, int pos, Config* p, RunState* s, TransformerWeights* w) {}\nvoid bpe_encode(char *text) {}\nvoid checkpoint_init_weights(TransformerWeights *w) {}";
  const v2 =
    "void build_transformer(Transformer *t, char* checkpoint_path) {}\nfloat* forward(Transformer* transformer, int token, int pos) {}\nvoid encode(Tokenizer* t, char *text, int8_t bos, int8_t eos, int *tokens, int *n_tokens) {}";
  assert.equal(llama2cApi(v1), 1);
  assert.equal(llama2cApi(v2), 2);
  assert.equal(llama2cApi("int main() {}"), undefined);
});

const l2cDir = process.env[LLAMA2C_ENV];
const stories = sharedPath("models/stories260K/stories260K.bin");
const excerpt = sharedPath("corpus/tinystories-valid-excerpt.txt");
test(
  "bench llama2c: llama2.c's run.c scoring the TinyStories excerpt reproduces the reference (14,552 tokens, NLL 1.222397)",
  {
    skip: !l2cDir
      ? `${LLAMA2C_ENV} is not set (point it at a karpathy/llama2.c checkout to test the llama2.c baseline)`
      : !stories || !excerpt
        ? "../shared/models/stories260K or the TinyStories excerpt is not present"
        : false,
  },
  () => {
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-l2c-build-"));
    try {
      const { build } = buildLlama2cScorer(path.resolve(l2cDir!), path.join(repoRoot(), "bench", "llama2c-score.c"), cache);
      const r = runLlama2cScorer(build, stories!, path.join(path.dirname(stories!), "tok512.bin"), excerpt!, "<|endoftext|>", 512);
      assert.equal(r.documents, 45);
      assert.equal(r.tokens, 14552);
      assert.ok(Math.abs(r.nll - 1.222397) < 1e-5, `mean NLL ${r.nll} vs the reference 1.222397`);
    } finally {
      fs.rmSync(cache, { recursive: true, force: true });
    }
  },
);
