// Evaluation: windowing protocols, tokenizer fidelity, NLL/perplexity against the reference numbers
// of ../shared/models/README.md §4 (skipped when ../shared is absent), and the comparison metrics
// against a float64 reference on a seeded synthetic model (always on).
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { sharedPath, sharedSkip } from "./helpers/shared";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { evaluate } from "../src/core/eval/evaluate";
import { checkWindowFits, makeBatches, makeProtocol, makeWindows, predictedCount } from "../src/core/eval/windows";
import { bosId, loadTokenizer, type TextTokenizer } from "../src/core/eval/tokenizer";
import { EvalError } from "../src/core/eval/errors";
import { llamaReference, scaledSynthetic } from "./graph-reference";

/** A character tokenizer for synthetic models: char code mod (V−3) + 3; BOS 1. */
function charTokenizer(V: number): TextTokenizer {
  return {
    path: "(test)",
    vocabSize: V,
    bosTokenId: 1,
    encode: (t) => Array.from(t, (c) => (c.codePointAt(0)! % (V - 3)) + 3),
    decode: () => "",
  };
}
const enc = (t: string): number[] => Array.from(t, (c) => c.charCodeAt(0));

test("bosId: config.json's bos_token_id first, else the tokenizer's BOS, else none (one rule for eval, sweep and PostShare)", () => {
  assert.equal(bosId({ bosTokenId: 20 }, { bosTokenId: 5 }), 20);
  assert.equal(bosId({ bosTokenId: undefined }, { bosTokenId: 5 }), 5);
  assert.equal(bosId({}, { bosTokenId: undefined }), undefined);
  assert.equal(bosId({ bosTokenId: 0 }, { bosTokenId: 5 }), 0, "id 0 is a BOS id, not 'none'");
});

test("eval protocol: documents are trimmed, empty ones skipped, BOS + tokens truncated to the window", () => {
  const p = makeProtocol({ documentsSeparator: "|", window: 5 }, 100);
  const ws = makeWindows("  ab \n| \n |abcdefgh|c", p, enc, 1);
  assert.deepEqual(
    ws.map((w) => w.tokens),
    [
      [1, 97, 98],
      [1, 97, 98, 99, 100],
      [1, 99],
    ],
  );
  assert.ok(ws.every((w) => w.scoreFrom === 1));
  assert.equal(predictedCount(ws), 2 + 4 + 1);
  const noBos = makeWindows("ab|c|de", makeProtocol({ documentsSeparator: "|", window: 5, bos: false }, 100), enc, undefined);
  assert.deepEqual(
    noBos.map((w) => w.tokens),
    [
      [97, 98],
      [100, 101],
    ],
    "a one-token document has nothing to predict without BOS",
  );
});

test("eval protocol: stream windows predict every token exactly once, with the right context, for any stride", () => {
  const text = "the quick brown fox jumps over the lazy dog";
  const ids = enc(text);
  for (const bos of [true, false])
    for (const window of [2, 3, 7, 16, 100])
      for (let stride = 1; stride < window; stride++) {
        const ws = makeWindows(text, makeProtocol({ window, stride, bos }, 100), enc, 0);
        const predicted = new Array<number>(ids.length).fill(0);
        for (const w of ws) {
          assert.ok(w.tokens.length <= window);
          const off = bos ? 1 : 0;
          if (bos) assert.equal(w.tokens[0], 0);
          const start = ws.indexOf(w) * stride; // window k covers the text from k·stride
          for (let i = w.scoreFrom; i < w.tokens.length; i++) {
            assert.equal(w.tokens[i], ids[start + i - off], `window at ${start} holds the text's tokens`);
            predicted[start + i - off]!++;
          }
        }
        const expect = ids.map((_, i) => (i === 0 && !bos ? 0 : 1));
        assert.deepEqual(predicted, expect, `bos ${bos} window ${window} stride ${stride}`);
      }
});

test("eval protocol: options are validated up front", () => {
  const bad = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof EvalError && e.code === "bad-option" && re.test(e.message));
  bad(() => makeProtocol({ window: 1 }, 10), /window must be/);
  bad(() => makeProtocol({ window: 11 }, 10), /longer than the model's context/);
  bad(() => makeProtocol({ window: 8, stride: 8 }, 10), /stride must be an integer in 1\.\.7/);
  bad(() => makeProtocol({ window: 8, stride: 2, documentsSeparator: "x" }, 10), /drop --stride/);
  bad(() => makeProtocol({ documentsSeparator: "" }, 10), /must not be empty/);
  bad(() => makeWindows("abc", makeProtocol({ window: 4 }, 10), enc, undefined), /no BOS/);
  bad(() => checkWindowFits(makeProtocol({ window: 9 }, 10), 10, { sliding_window: 8 }, "m"), /pass --window 8 or less/);
  checkWindowFits(makeProtocol({ window: 9 }, 10), 10, { sliding_window: 8, use_sliding_window: false }, "m");
  checkWindowFits(makeProtocol({ window: 9 }, 10), 10, { sliding_window: null }, "m");
  assert.throws(
    () => makeWindows("   ", makeProtocol({ documentsSeparator: "|" }, 10), enc, 1),
    (e: unknown) => e instanceof EvalError && e.code === "bad-text",
  );
  const b = makeBatches(
    [
      { tokens: [1, 2, 3], scoreFrom: 1 },
      { tokens: [1, 2, 3, 4, 5], scoreFrom: 1 },
      { tokens: [1, 2], scoreFrom: 1 },
    ],
    8,
  );
  assert.deepEqual(
    b.map((x) => [x.batch, x.seq]),
    [
      [2, 4],
      [1, 1],
    ],
    "longest first, right-padded, ≤ 8 padded tokens",
  );
  assert.deepEqual(Array.from(b[0]!.targets.slice(4), Number), [2, 3, 0, 0]);
});

test("eval: NLL equals a float64 reference; KL(self) = 0, agreement 1, hidden cosine 1; ratio-0 plan is the identity", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-eval-"));
  try {
    const V = 41;
    const ck = await openCheckpoint(
      await scaledSynthetic(dir, { family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 4, vocab: V, maxPositions: 64, seed: 9 }, 8),
    );
    try {
      const tok = charTokenizer(V);
      const text = "Once upon a time there was a cat.|It sat.|| The end of the story, told twice: once upon a time.";
      const protocol = makeProtocol({ documentsSeparator: "|", window: 24 }, ck.spec.maxPositions);
      const r = await evaluate(ck, text, protocol, { tokenizer: tok, providers: ["cpu"], threads: 1, batchTokens: 40, attentionChunk: 5 });
      // reference: −log softmax at every predicted position, float64, one window at a time
      const W = new Map<string, Float64Array>();
      for (const t of ck.source.tensors) W.set(t.name, Float64Array.from(await ck.source.readF32(t.name)));
      let sum = 0,
        n = 0;
      for (const w of makeWindows(text, protocol, tok.encode, 1)) {
        const logits = llamaReference(
          ck.spec,
          (k) => W.get(k)!,
          w.tokens.slice(0, -1),
          (k) => W.has(k),
        );
        for (let i = w.scoreFrom; i < w.tokens.length; i++) {
          const row = logits[i - 1]!;
          const m = Math.max(...row);
          sum += m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) - row[w.tokens[i]!]!;
          n++;
        }
      }
      assert.equal(r.tokens, n);
      assert.ok(Math.abs(r.nll - sum / n) < 1e-5, `nll ${r.nll} vs reference ${sum / n}`);
      assert.ok(Math.abs(r.ppl - Math.exp(sum / n)) < 1e-4);
      assert.equal(r.protocol.kind, "documents");
      assert.equal(r.provider, "cpu");
      const self = await evaluate(ck, text, protocol, { tokenizer: tok, providers: ["cpu"], threads: 1, compare: ck, batchTokens: 40 });
      assert.ok(Math.abs(self.kl!) < 1e-7, `KL(self) = ${self.kl}`);
      assert.equal(self.top1Agreement, 1);
      assert.equal(self.hiddenCosine!.length, 2);
      for (const c of self.hiddenCosine!) assert.ok(Math.abs(c - 1) < 1e-6);
      assert.equal(self.compare!.nll, self.nll);
      assert.equal(self.compare!.parameters, self.parameters);
      const zero = {
        format: "headshare.plan",
        version: 1,
        ratio: 0,
        strategy: "qk",
        granularity: "group",
        layers: 2,
        unitsPerLayer: 2,
        selected: 0,
        savedUnits: 0,
        chainedTargets: 0,
        cutoffScore: null,
        parametersBefore: null,
        parametersAfter: null,
        targets: [],
        storedFrom: [
          [
            [0, 0],
            [0, 1],
          ],
          [
            [1, 0],
            [1, 1],
          ],
        ],
      } as const;
      const z = await evaluate(ck, text, protocol, { tokenizer: tok, providers: ["cpu"], threads: 1, plan: zero, compare: ck, batchTokens: 40 });
      assert.equal(z.nll, r.nll);
      assert.equal(z.kl, 0);
      await assert.rejects(
        evaluate(ck, text, protocol, { tokenizer: charTokenizer(V + 10), providers: ["cpu"] }),
        (e: unknown) => e instanceof EvalError && e.code === "mismatch" && /outside the model's vocabulary of 41/.test(e.message),
      );
      // a checkpoint whose weights would not fit in memory as float32 is refused before anything is read
      const huge = {
        ...ck,
        source: Object.assign(Object.create(ck.source) as typeof ck.source, {
          info: (n: string) => ({ ...ck.source.info(n), shape: n.includes("mlp.up_proj") ? [os.totalmem() / 4, 1] : ck.source.info(n).shape }),
        }),
      };
      await assert.rejects(
        evaluate(huge, text, protocol, { tokenizer: tok, providers: ["cpu"] }),
        (e: unknown) => e instanceof EvalError && e.code === "too-large" && /GiB/.test(e.message),
      );
      const progress: number[] = [];
      const ac = new AbortController();
      await assert.rejects(
        evaluate(ck, text, protocol, {
          tokenizer: tok,
          providers: ["cpu"],
          batchTokens: 24,
          signal: ac.signal,
          onProgress: (p) => {
            progress.push(p.done);
            ac.abort();
          },
        }),
        (e: unknown) => e instanceof EvalError && e.code === "aborted",
      );
      assert.equal(progress.length, 1, "cancelled after the first batch");
    } finally {
      await ck.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

const HF = "models/stories260K-hf";

test("eval tokenizer: stories260K-hf tokenizer.json gives the reference id counts", { skip: sharedSkip(HF) }, async () => {
  const tok = await loadTokenizer(sharedPath(HF)!);
  assert.equal(tok.bosTokenId, 1);
  const stories = (await fs.readFile(sharedPath("corpus/tinystories-valid-excerpt.txt")!, "utf8"))
    .split("<|endoftext|>")
    .map((s) => s.trim())
    .filter((s) => s);
  assert.equal(stories.length, 45);
  const ids = stories.map((s) => tok.encode(s));
  assert.equal(
    ids.reduce((a, x) => a + x.length + 1, 0),
    14705,
    "14,705 ids including 45 BOS",
  );
  assert.equal(ids.flat().filter((i) => i >= 3 && i <= 258).length, 105, "105 byte-fallback tokens");
  assert.equal(tok.decode(ids[3]!), stories[3]);
  const wiki = (await fs.readFile(sharedPath("corpus/wikitext-2-raw-test.txt")!, "utf8")).replace(/\r\n/g, "\n").slice(0, 20000);
  const w = tok.encode(wiki);
  assert.equal(w.length, 12361);
  assert.deepEqual(w.slice(0, 2), [410, 410], "the prepended space, then the text's own");
  assert.equal(w.filter((i) => i >= 3 && i <= 258).length, 232);
});

test(
  "eval fidelity: stories260K-hf TinyStories per document, window 512: 14,552 tokens, NLL 1.222397; KL(self) 0, agreement 1",
  { skip: sharedSkip(HF) },
  async () => {
    const ck = await openCheckpoint(sharedPath(HF)!);
    try {
      const text = await fs.readFile(sharedPath("corpus/tinystories-valid-excerpt.txt")!, "utf8");
      const r = await evaluate(ck, text, makeProtocol({ documentsSeparator: "<|endoftext|>", window: 512 }, ck.spec.maxPositions), { providers: ["cpu"] });
      assert.equal(r.tokens, 14552);
      // README: the reference NLL (printed to 6 decimals) is reproduced to 1e-7 absolute; ppl to its printed 5 decimals
      assert.ok(Math.abs(r.nll - 1.222397) < 1e-7, `nll ${r.nll} vs 1.222397`);
      assert.ok(Math.abs(r.ppl - 3.39532) < 5e-6, `ppl ${r.ppl} vs 3.39532`);
      assert.equal(r.protocol.windows, 45);
      assert.equal(r.parameters, 260032);
      const self = await evaluate(ck, text, makeProtocol({ documentsSeparator: "<|endoftext|>", window: 512 }, ck.spec.maxPositions), {
        providers: ["cpu"],
        compare: ck,
      });
      assert.equal(self.kl, 0);
      assert.equal(self.top1Agreement, 1);
      assert.deepEqual(
        self.hiddenCosine!.map((c) => Math.round(c * 1e9) / 1e9),
        [1, 1, 1, 1, 1],
      );
    } finally {
      await ck.close();
    }
  },
);

test("eval fidelity: stories260K-hf wikitext first 20,000 chars, window 512 stride 511: 12,361 tokens, ppl 115.090", { skip: sharedSkip(HF) }, async () => {
  const ck = await openCheckpoint(sharedPath(HF)!);
  try {
    const text = (await fs.readFile(sharedPath("corpus/wikitext-2-raw-test.txt")!, "utf8")).replace(/\r\n/g, "\n").slice(0, 20000);
    const r = await evaluate(ck, text, makeProtocol({ window: 512, stride: 511 }, ck.spec.maxPositions), { providers: ["cpu"] });
    assert.equal(r.tokens, 12361);
    assert.equal(r.protocol.windows, 25);
    // README: the reference NLL (printed to 6 decimals) is reproduced to 1e-6 absolute; ppl to its printed 3 decimals
    assert.ok(Math.abs(r.nll - 4.745714) < 1e-6, `nll ${r.nll} vs 4.745714`);
    assert.ok(Math.abs(r.ppl - 115.09) < 5e-4, `ppl ${r.ppl} vs 115.090`);
  } finally {
    await ck.close();
  }
});

test("eval tokenizer: a GPT-2 vocab.json + merges.txt folder loads as byte-level BPE", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-tok-"));
  try {
    const vocab = { l: 0, o: 1, w: 2, e: 3, r: 4, s: 5, t: 6, i: 7, d: 8, n: 9, Ġ: 10, Ġl: 11, Ġn: 12, Ġlo: 13, Ġlow: 14, er: 15, "<|endoftext|>": 16 };
    await fs.writeFile(path.join(dir, "vocab.json"), JSON.stringify(vocab));
    await fs.writeFile(path.join(dir, "merges.txt"), "#version: 0.2\nĠ l\nĠl o\nĠlo w\ne r\n");
    const tok = await loadTokenizer(dir);
    // " lowest": Ġ l o w e s t → (Ġ l) (Ġl o) (Ġlo w) → Ġlow e s t; " newer": no "Ġ n" merge → Ġ n e w er
    assert.deepEqual(tok.encode(" lowest newer"), [14, 3, 5, 6, 10, 9, 3, 2, 15]);
    assert.equal(tok.decode([14, 3, 5, 6]), " lowest");
    await fs.rm(path.join(dir, "merges.txt"));
    await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof EvalError && e.code === "no-tokenizer" && /tokenizer\.json/.test(e.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("eval: tiny-gpt2-random (GPT2Model, vocab.json + merges.txt) evaluates end to end", { skip: sharedSkip("models/tiny-gpt2-random") }, async () => {
  const ck = await openCheckpoint(sharedPath("models/tiny-gpt2-random")!);
  try {
    const r = await evaluate(ck, " lowest newer wider| lower", makeProtocol({ documentsSeparator: "|", window: 16 }, ck.spec.maxPositions), {
      providers: ["cpu"],
      threads: 1,
    });
    assert.ok(r.tokens > 5 && Number.isFinite(r.nll) && r.nll > 0);
    assert.equal(r.parameters, 2168);
  } finally {
    await ck.close();
  }
});

test("eval protocol (property): any text, window, stride and BOS choice predicts every token once, in context", async () => {
  const fc = await import("fast-check");
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 3, max: 50 }), { minLength: 0, maxLength: 120 }),
      fc.integer({ min: 2, max: 40 }),
      fc.integer({ min: 1, max: 39 }),
      fc.boolean(),
      (ids, window, strideRaw, bos) => {
        const stride = 1 + ((strideRaw - 1) % (window - 1));
        const text = String.fromCharCode(...ids);
        const p = makeProtocol({ window, stride, bos }, 64);
        const count = new Array<number>(ids.length).fill(0);
        let windows: ReturnType<typeof makeWindows>;
        try {
          windows = makeWindows(text, p, enc, 1);
        } catch (e) {
          // only a text with nothing to predict may fail
          return e instanceof EvalError && e.code === "bad-text" && ids.length <= (bos ? 0 : 1);
        }
        const off = bos ? 1 : 0;
        windows.forEach((w, k) => {
          if (w.tokens.length > window || (bos && w.tokens[0] !== 1)) throw new Error("bad window");
          for (let i = off; i < w.tokens.length; i++) if (w.tokens[i] !== ids[k * stride + i - off]) throw new Error("not a slice of the text");
          for (let i = w.scoreFrom; i < w.tokens.length; i++) count[k * stride + i - off]!++;
        });
        return count.every((c, i) => c === (i === 0 && !bos ? 0 : 1));
      },
    ),
    { numRuns: 500, seed: 4 },
  );
});
