// Mistral's sliding_window in the exported decoder: with a window (4) shorter than the sequence
// (12), the exported file's logits — whole batch with a left-padded row, and step by step through
// its cache — equal a plain float64 forward that attends to the last `window` positions only
// (≤ 1e-4); headshare generate (the same graph) with the cache equals full recompute past the
// window; a per-layer window mix (Qwen2 max_window_layers) is refused naming the file.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { exportOnnx } from "../src/core/export/exportOnnx";
import { ExportError } from "../src/core/export/errors";
import { Generator } from "../src/core/generate/generator";
import { applyPlanInPlace } from "../src/core/graph/feeds";
import { exportedLogits } from "./helpers/decoderRun";
import { llamaReference, scaledSynthetic, type Weights } from "./graph-reference";

const WINDOW = 4;
const S = 12;

async function mistral(root: string, extra: Record<string, unknown>): Promise<string> {
  const dir = await scaledSynthetic(root, { family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 8, vocab: 64, maxPositions: 64, seed: 9 }, 10);
  const file = path.join(dir, "config.json");
  const config = JSON.parse(await fs.readFile(file, "utf8")) as Record<string, unknown>;
  await fs.writeFile(file, JSON.stringify({ ...config, ...extra }));
  return dir;
}

test(`export sliding window: a Mistral config with sliding_window ${WINDOW} < ${S} tokens equals a windowed float64 forward (≤ 1e-4), batched and through the cache`, async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-swa-"));
  try {
    const model = await mistral(tmp, { model_type: "mistral", architectures: ["MistralForCausalLM"], sliding_window: WINDOW });
    const ck = await openCheckpoint(model);
    try {
      for (const ratio of [undefined, 0.3]) {
        const r = await exportOnnx(model, { outDir: path.join(tmp, `out-${ratio ?? "dense"}`), providers: ["cpu"], ...(ratio !== undefined ? { ratio } : {}) });
        assert.ok(ratio === undefined || (r.plan?.selected ?? 0) > 0, "the plan shares units");
        // the reference's weights: the checkpoint's, with the plan's targets set to their roots' slices
        const f32 = new Map<string, Float32Array>();
        for (const t of ck.source.tensors) f32.set(t.name, await ck.source.readF32(t.name));
        if (r.plan) applyPlanInPlace(ck, r.plan, f32);
        const m = new Map([...f32].map(([k, v]) => [k, Float64Array.from(v)]));
        const W: Weights = (n) => m.get(n)!;
        const got = await exportedLogits(path.join(r.outDir, "onnx", "model.onnx"), ck, S);
        const V = ck.spec.vocab;
        const diff = (rows: Float32Array, want: Float64Array[]): number => {
          let d = 0;
          want.forEach((row, t) => row.forEach((w, v) => (d = Math.max(d, Math.abs(rows[t * V + v]! - w)))));
          return d;
        };
        const windowed0 = llamaReference(ck.spec, W, got.rows[0]!, (n) => m.has(n), WINDOW);
        const windowed1 = llamaReference(ck.spec, W, got.rows[1]!.slice(3), (n) => m.has(n), WINDOW);
        const full0 = llamaReference(ck.spec, W, got.rows[0]!, (n) => m.has(n));
        const d0 = diff(got.full.subarray(0, S * V), windowed0);
        const d1 = diff(got.full.subarray((S + 3) * V, 2 * S * V), windowed1);
        const ds = diff(got.stepped, windowed0);
        const dFull = diff(got.full.subarray(0, S * V), full0);
        console.log(
          `# ${ratio === undefined ? "dense" : `shared ${ratio}`}, sliding window ${WINDOW}, ${S} tokens: max |Δ| vs the windowed reference ${d0.toExponential(2)} (left-padded ${d1.toExponential(2)}, cached ${ds.toExponential(2)}); vs full attention ${dFull.toExponential(2)}`,
        );
        assert.ok(d0 <= 1e-4 && d1 <= 1e-4 && ds <= 1e-4, `exported logits differ from the windowed reference: ${d0}, ${d1}, ${ds}`);
        assert.ok(dFull > 1e-2, "the window changes the logits past it, so the comparison means something");
      }
      // headshare generate runs the same decoder: the cache equals full recompute well past the window
      const gen = await Generator.create(ck, { providers: ["cpu"] });
      try {
        const a = await gen.generate([3, 9, 27, 17], { maxTokens: 20, stopAtEos: false });
        const b = await gen.generate([3, 9, 27, 17], { maxTokens: 20, stopAtEos: false, kvCache: false });
        assert.deepEqual(a.ids, b.ids);
      } finally {
        await gen.release();
      }
    } finally {
      await ck.close();
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

test("export sliding window: Qwen2 windows on only some layers (max_window_layers) are refused naming the file; use_sliding_window false is full attention", async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-swa-bad-"));
  try {
    const mixed = await mistral(path.join(tmp, "a"), {
      model_type: "qwen2",
      architectures: ["Qwen2ForCausalLM"],
      sliding_window: WINDOW,
      use_sliding_window: true,
      max_window_layers: 1,
    });
    await assert.rejects(
      exportOnnx(mixed, { outDir: path.join(tmp, "out") }),
      (e: unknown) => e instanceof ExportError && e.code === "unsupported" && e.message.includes(mixed) && /max_window_layers/.test(e.message),
    );
    assert.deepEqual((await fs.readdir(tmp)).sort(), ["a"]);
    const off = await mistral(path.join(tmp, "b"), {
      model_type: "qwen2",
      architectures: ["Qwen2ForCausalLM"],
      sliding_window: WINDOW,
      use_sliding_window: false,
    });
    const r = await exportOnnx(off, { outDir: path.join(tmp, "out-off"), providers: ["cpu"] });
    const ck = await openCheckpoint(off);
    try {
      const m = new Map<string, Float64Array>();
      for (const t of ck.source.tensors) m.set(t.name, Float64Array.from(await ck.source.readF32(t.name)));
      const got = await exportedLogits(path.join(r.outDir, "onnx", "model.onnx"), ck, S);
      const want = llamaReference(
        ck.spec,
        (n) => m.get(n)!,
        got.rows[0]!,
        (n) => m.has(n),
      );
      let d = 0;
      want.forEach((row, t) => row.forEach((w, v) => (d = Math.max(d, Math.abs(got.full[t * ck.spec.vocab + v]! - w)))));
      assert.ok(d <= 1e-4, `use_sliding_window false: full attention expected, max |Δ| ${d}`);
    } finally {
      await ck.close();
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});
