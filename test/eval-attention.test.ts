// Attention-map similarity: on a model whose layer-0 heads and layer-1 head 0 have zero q (so their
// attention rows are exactly uniform over 0..t, a closed form), head (1, 0) matches (0, 0) with
// score 1 (ties go to the lowest head) and the peaked head (1, 1) scores below 1; on a GQA model
// the in-graph Gram equals a slow row-by-row cosine computation.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { f32ToBytes } from "../src/core/safetensors/dtype";
import { writeSafetensors } from "../src/core/safetensors/writer";
import { attentionMapSimilarity } from "../src/core/eval/attentionSimilarity";
import { makeProtocol, makeWindows } from "../src/core/eval/windows";
import { ForwardRunner } from "../src/core/eval/runner";
import { attentionName } from "../src/core/graph/types";
import { scaledSynthetic } from "./graph-reference";
import type { TextTokenizer } from "../src/core/eval/tokenizer";

const tok: TextTokenizer = {
  path: "(test)",
  vocabSize: 29,
  bosTokenId: 1,
  encode: (t) => Array.from(t, (c) => (c.charCodeAt(0) % 26) + 3),
  decode: () => "",
};

test("eval attention similarity: uniform heads match with score 1, a peaked head scores lower", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-attn-"));
  try {
    const base = await writeSyntheticModel(path.join(dir, "base"), { family: "llama", layers: 2, heads: 2, headDim: 4, vocab: 29, maxPositions: 64, seed: 21 });
    const src = await openCheckpoint(base);
    const out = path.join(dir, "planted");
    await fs.mkdir(out);
    const tensors = [];
    for (const t of src.source.tensors) {
      let x = await src.source.readF32(t.name);
      if (/layers\.0\.self_attn\.q_proj/.test(t.name))
        x = new Float32Array(x.length); // layer 0: q = 0
      else if (/layers\.1\.self_attn\.q_proj/.test(t.name))
        x = x.map((v, i) => (i < 4 * 8 ? 0 : v * 60)); // head 0 rows zero, head 1 peaked
      else if (/layers\.1\.self_attn\.k_proj/.test(t.name)) x = x.map((v) => v * 60);
      tensors.push({ name: t.name, dtype: "F32" as const, shape: t.shape, data: f32ToBytes(x, "F32") });
    }
    await src.close();
    await writeSafetensors(path.join(out, "model.safetensors"), tensors, { format: "pt" });
    await fs.copyFile(path.join(base, "config.json"), path.join(out, "config.json"));
    const ck = await openCheckpoint(out);
    try {
      const text = "the cat sat on the mat and the dog ran far away|a second story about the sea";
      const r = await attentionMapSimilarity(ck, text, makeProtocol({ documentsSeparator: "|" }, 64), {
        tokenizer: tok,
        providers: ["cpu"],
        threads: 1,
        maxPositions: 50,
      });
      assert.equal(r.positions, 50);
      assert.equal(r.windows, 2);
      assert.deepEqual(r.best[0], [null, null]);
      const [h0, h1] = r.entries;
      assert.deepEqual([h0!.layer, h0!.head, h0!.sourceLayer, h0!.sourceHead], [1, 0, 0, 0]);
      assert.ok(Math.abs(h0!.score - 1) < 1e-6, `uniform vs uniform: ${h0!.score}`);
      assert.ok(h1!.score < 0.95, `a peaked head is not uniform: ${h1!.score}`);
      assert.equal(r.best[1]![1], h1!.score);
      assert.match(r.measure, /cos/);
    } finally {
      await ck.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("eval attention similarity: the in-graph Gram equals a slow per-row cosine computation (GQA model)", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-attn2-"));
  try {
    const ck = await openCheckpoint(
      await scaledSynthetic(dir, { family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 4, vocab: 29, maxPositions: 64, seed: 33 }, 10),
    );
    try {
      const text = "once upon a time a fox met a crow|the crow had cheese and the fox wanted it";
      const protocol = makeProtocol({ documentsSeparator: "|" }, 64);
      const r = await attentionMapSimilarity(ck, text, protocol, { tokenizer: tok, providers: ["cpu"], threads: 1, maxPositions: 40 });
      assert.equal(r.positions, 40);
      // reference: attention maps from the graph's `attentions` outputs, cosines summed row by row in float64
      const L = 3,
        H = 4,
        LH = L * H,
        sum = new Float64Array(LH * LH);
      const runner = await ForwardRunner.create(ck, { forward: { logits: false, attentions: true }, providers: ["cpu"], threads: 1 });
      let left = 40;
      try {
        for (const w of makeWindows(text, protocol, tok.encode, 1)) {
          const S = Math.min(w.tokens.length - 1, left + 1);
          if (S < 2 || left <= 0) break;
          const out = await runner.run(BigInt64Array.from(w.tokens.slice(0, S), BigInt), 1, S);
          const A = (l: number, h: number, t: number): number[] => Array.from(out[attentionName(l)]!.data.subarray((h * S + t) * S, (h * S + t + 1) * S));
          for (let t = 1; t < S; t++)
            for (let a = 0; a < LH; a++)
              for (let c = 0; c < LH; c++) {
                const x = A(Math.floor(a / H), a % H, t),
                  y = A(Math.floor(c / H), c % H, t);
                const dot = x.reduce((s, v, j) => s + v * y[j]!, 0),
                  nx = Math.hypot(...x),
                  ny = Math.hypot(...y);
                sum[a * LH + c]! += dot / (nx * ny);
              }
          left -= S - 1;
        }
      } finally {
        await runner.release();
      }
      for (const e of r.entries) {
        let best = -Infinity,
          bl = -1,
          bh = -1;
        for (let l2 = 0; l2 < e.layer; l2++)
          for (let h2 = 0; h2 < H; h2++) {
            const v = sum[(e.layer * H + e.head) * LH + l2 * H + h2]! / 40;
            if (v > best) {
              best = v;
              bl = l2;
              bh = h2;
            }
          }
        assert.ok(Math.abs(e.score - best) < 1e-5, `head (${e.layer}, ${e.head}): ${e.score} vs ${best}`);
        assert.deepEqual([e.sourceLayer, e.sourceHead], [bl, bh]);
      }
      assert.ok(
        r.entries.some((e) => e.score < 0.99),
        "the maps are not all identical",
      );
    } finally {
      await ck.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test("eval attention similarity: not layer-streamed, so a model whose weights and maps exceed the memory budget is refused up front, naming the file and the budget to ask for", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-attn3-"));
  try {
    const ck = await openCheckpoint(
      await writeSyntheticModel(path.join(dir, "m"), { family: "llama", layers: 2, heads: 2, headDim: 4, vocab: 29, maxPositions: 64, seed: 5 }),
    );
    try {
      const protocol = makeProtocol({ window: 64 }, 64);
      const read0 = ck.source.bytesRead;
      // closed form: 4 bytes × parameters + 2 × 4 × L·H·S² = 4P + 8 · 2 · 2 · 64² = 4P + 131,072 bytes
      const P = ck.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
      const needGiB = (4 * P + 131072) / 2 ** 30;
      await assert.rejects(
        attentionMapSimilarity(ck, "some text to compare attention maps on", protocol, { tokenizer: tok, providers: ["cpu"], memoryBudgetGiB: needGiB * 0.99 }),
        (e: unknown) =>
          e instanceof Error &&
          (e as { code?: string }).code === "too-large" &&
          e.message.startsWith(`${ck.weightsPath}: attention-map similarity runs the whole model at once`) &&
          e.message.includes(`at least ${Math.ceil(needGiB * 1000) / 1000} GiB`),
      );
      assert.equal(ck.source.bytesRead, read0, "refused before any weight is read");
      const ok = await attentionMapSimilarity(ck, "some text to compare attention maps on", protocol, {
        tokenizer: tok,
        providers: ["cpu"],
        threads: 1,
        memoryBudgetGiB: needGiB * 1.01,
      });
      assert.ok(ok.positions > 0, "runs within the budget");
    } finally {
      await ck.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
