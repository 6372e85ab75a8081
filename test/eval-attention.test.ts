// Attention-map similarity: on a model whose layer-0 heads and layer-1 head 0 have zero q (so their
// attention rows are exactly uniform over 0..t, a closed form), head (1, 0) matches (0, 0) with
// score 1 (ties go to the lowest head) and the peaked head (1, 1) scores below 1.
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
import { makeProtocol } from "../src/core/eval/protocol";
import type { TextTokenizer } from "../src/core/eval/tokenizer";

const tok: TextTokenizer = {
  path: "(test)", vocabSize: 29, bosTokenId: 1,
  encode: (t) => Array.from(t, (c) => (c.charCodeAt(0) % 26) + 3), decode: () => "",
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
      if (/layers\.0\.self_attn\.q_proj/.test(t.name)) x = new Float32Array(x.length);            // layer 0: q = 0
      else if (/layers\.1\.self_attn\.q_proj/.test(t.name)) x = x.map((v, i) => (i < 4 * 8 ? 0 : v * 60)); // head 0 rows zero, head 1 peaked
      else if (/layers\.1\.self_attn\.k_proj/.test(t.name)) x = x.map((v) => v * 60);
      tensors.push({ name: t.name, dtype: "F32" as const, shape: t.shape, data: f32ToBytes(x, "F32") });
    }
    await src.close();
    await writeSafetensors(path.join(out, "model.safetensors"), tensors, { format: "pt" });
    await fs.copyFile(path.join(base, "config.json"), path.join(out, "config.json"));
    const ck = await openCheckpoint(out);
    try {
      const text = "the cat sat on the mat and the dog ran far away|a second story about the sea";
      const r = await attentionMapSimilarity(ck, text, makeProtocol({ documentsSeparator: "|" }, 64), { tokenizer: tok, providers: ["cpu"], threads: 1, maxPositions: 50 });
      assert.equal(r.positions, 50);
      assert.equal(r.windows, 2);
      assert.deepEqual(r.best[0], [null, null]);
      const [h0, h1] = r.entries;
      assert.deepEqual([h0!.layer, h0!.head, h0!.sourceLayer, h0!.sourceHead], [1, 0, 0, 0]);
      assert.ok(Math.abs(h0!.score - 1) < 1e-6, `uniform vs uniform: ${h0!.score}`);
      assert.ok(h1!.score < 0.95, `a peaked head is not uniform: ${h1!.score}`);
      assert.equal(r.best[1]![1], h1!.score);
      assert.match(r.measure, /cos/);
    } finally { await ck.close(); }
  } finally { await fs.rm(dir, { recursive: true, force: true }); }
});
