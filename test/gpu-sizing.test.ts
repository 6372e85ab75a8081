// The jobs sized to a GPU's buffer limits before they run (docs/gpu.md, "GPU memory"), on the CPU:
// HEADSHARE_GPU_LIMITS applies on every provider when set (runtime/gpuLimits.ts providerLimits), so
// these runs take the path a WebGPU adapter with those limits would. For each job: the sized run
// equals the unsized one (the tolerances of eval-streamed, export-generate and train-postshare), the
// chosen sizes keep within the limits, and a tensor that cannot fit is refused naming it, its bytes,
// the limit and what to do. No GPU needed.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint, type Checkpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel, type SyntheticOptions } from "../src/core/model/synthetic";
import { evaluate, type EvalResult } from "../src/core/eval/evaluate";
import { makeProtocol } from "../src/core/eval/windows";
import { chooseMemory, GIB } from "../src/core/eval/memoryBudget";
import { attentionMapSimilarity } from "../src/core/eval/attentionSimilarity";
import type { TextTokenizer } from "../src/core/eval/tokenizer";
import { Generator } from "../src/core/generate/generator";
import { ComputeLog, withComputeLog } from "../src/core/runtime/computeLog";
import { RuntimeError } from "../src/core/runtime/errors";
import { GPU_LIMITS_ENV, gpuLimits, gpuLimitsFromEnv, providerLimits, SPEC_GPU_LIMITS, type GpuLimits } from "../src/core/runtime/gpuLimits";
import type { GpuAdapter } from "../src/core/runtime/types";
import { postShare, type PostShareOptions } from "../src/core/train/postshare";
import { writeTinyByteLlama } from "./helpers/tinyByteLlama";
import { LLAMA2_7B_STREAM } from "./helpers/streamSizes";

const KIB = 1024;

/** Runs `f` with HEADSHARE_GPU_LIMITS=`value` (restored after), collecting the job's compute notes. */
async function withLimits<T>(value: string, f: () => Promise<T>): Promise<{ value: T; notes: string[] }> {
  const before = process.env[GPU_LIMITS_ENV];
  process.env[GPU_LIMITS_ENV] = value;
  const log = new ComputeLog();
  try {
    const v = await withComputeLog(log, f);
    return { value: v, notes: [...(log.report()?.notes ?? [])] };
  } finally {
    if (before === undefined) delete process.env[GPU_LIMITS_ENV];
    else process.env[GPU_LIMITS_ENV] = before;
  }
}

/** A RuntimeError("gpu-limit") whose message matches every one of `res`. */
function gpuLimitRefusal(...res: RegExp[]): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof RuntimeError && e.code === "gpu-limit", `a gpu-limit error, got ${String(e)}`);
    for (const re of res) assert.match(e.message, re);
    return true;
  };
}

async function withModel(opts: SyntheticOptions, f: (ck: Checkpoint) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-gpusize-"));
  try {
    const ck = await openCheckpoint(await writeSyntheticModel(path.join(dir, "m"), opts));
    try {
      await f(ck);
    } finally {
      await ck.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

function charTokenizer(V: number): TextTokenizer {
  return { path: "(test)", vocabSize: V, bosTokenId: 1, encode: (t) => Array.from(t, (c) => (c.codePointAt(0)! % (V - 3)) + 3), decode: () => "" };
}
const TEXT = "the quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs. ".repeat(6);

test("gpu sizing: HEADSHARE_GPU_LIMITS sizes every provider when set (saying so); unset, only WebGPU has limits", () => {
  const nvidia: GpuAdapter = { vendor: "NVIDIA", device: "NVIDIA H100 80GB HBM3", backend: "vulkan", software: false };
  assert.equal(providerLimits("cpu", undefined, undefined), undefined);
  assert.equal(providerLimits("cuda", undefined, undefined), undefined);
  assert.equal(providerLimits("webgpu", undefined, undefined), SPEC_GPU_LIMITS);
  assert.deepEqual(providerLimits("webgpu", nvidia, undefined), gpuLimits(nvidia, undefined));
  const cpu = providerLimits("cpu", undefined, "maxStorageBufferBindingSize=64KiB")!;
  assert.equal(cpu.maxStorageBufferBindingSize, 64 * KIB);
  assert.equal(cpu.source, "HEADSHARE_GPU_LIMITS=maxStorageBufferBindingSize=64KiB, applied on cpu too: unset it to run without these limits");
  assert.equal(providerLimits("webgpu", nvidia, "maxStorageBufferBindingSize=64KiB")!.source, "HEADSHARE_GPU_LIMITS=maxStorageBufferBindingSize=64KiB");
});

test("gpu sizing: the memory-budget chooser keeps a 7B pass within one binding (Llama-2 and Llama-3 shapes), and refuses a window that cannot fit", () => {
  const llama2 = LLAMA2_7B_STREAM;
  const llama3 = { ...llama2, layerWeightBytes: 4 * 218_112_000, readBufferBytes: 2 * 218_112_000, ffn: 14336, vocab: 128256 };
  const within = (m: { tokensPerPass: number; vocabChunk: number }, s: typeof llama2, g: GpuLimits): void => {
    const B = g.maxStorageBufferBindingSize;
    for (const [what, bytes] of [
      ["MLP [N, ffn]", 4 * m.tokensPerPass * s.ffn],
      ["scores [N, H·c]", 4 * m.tokensPerPass * s.heads * 64],
      ["logits chunk [N, Vc]", 4 * m.tokensPerPass * m.vocabChunk],
      ["lm_head rows [Vc, d]", 4 * m.vocabChunk * s.hidden],
    ] as const)
      assert.ok(bytes <= B, `${what}: ${bytes} bytes within ${B}`);
  };
  // The unsized choice at 16 GiB: one pass of 20,480 tokens, head chunks of 16,384 rows: its MLP activations alone take 860 MiB.
  const free = chooseMemory(llama2, 16 * GIB, "llama.safetensors");
  assert.deepEqual([free.tokensPerPass, free.vocabChunk], [20480, 16384]);
  assert.equal(free.gpuNote, undefined);
  // WebGPU's guaranteed 128 MiB binding: MLP [N, 11008] holds 3,048 tokens; lm_head rows [V_c, 4096] hold 8,192.
  const spec2 = chooseMemory(llama2, 16 * GIB, "llama.safetensors", SPEC_GPU_LIMITS);
  assert.deepEqual([spec2.tokensPerPass, spec2.vocabChunk], [3048, 8192]);
  within(spec2, llama2, SPEC_GPU_LIMITS);
  assert.match(
    spec2.gpuNote!,
    /^layer-streamed passes cut to 3048 tokens \(the memory budget allows 20480\) and head chunks cut to 8192 vocabulary rows so that .* fit one GPU storage binding \(128 MiB: WebGPU's guaranteed minimum/,
  );
  // Llama-3-8B (MLP 14,336, vocabulary 128,256 = a 2 GiB lm_head, fed 8,192 rows at a time): 2,340 tokens a pass.
  const spec3 = chooseMemory(llama3, 16 * GIB, "llama3.safetensors", SPEC_GPU_LIMITS);
  assert.deepEqual([spec3.tokensPerPass, spec3.vocabChunk], [2340, 8192]);
  within(spec3, llama3, SPEC_GPU_LIMITS);
  // NVIDIA on Vulkan (2 GiB − 4): nothing to cut.
  const nv = gpuLimits({ vendor: "NVIDIA", device: "H100", backend: "vulkan", software: false }, undefined);
  const nv3 = chooseMemory(llama3, 16 * GIB, "llama3.safetensors", nv);
  assert.deepEqual([nv3.tokensPerPass, nv3.vocabChunk, nv3.gpuNote], [20480, 16384, undefined]);
  within(nv3, llama3, nv);
  // One 512-token window's MLP activations [512, 11008] (22 MiB) above a 16 MiB binding: refused naming it.
  assert.throws(
    () => chooseMemory(llama2, 16 * GIB, "llama.safetensors", gpuLimitsFromEnv("maxStorageBufferBindingSize=16MiB")),
    gpuLimitRefusal(
      /^llama\.safetensors: the forward's MLP activations of one window \[1, 512, 11008\] float32 takes 21\.50 MiB, more than the GPU allows \(maxStorageBufferBindingSize 16 MiB: HEADSHARE_GPU_LIMITS=maxStorageBufferBindingSize=16MiB\)/,
      /use a shorter window \(--window\), or --providers cpu$/,
    ),
  );
  // The head's smallest chunk of rows [256, 4096] (4 MiB) above a 2 MiB binding: nothing can be split further.
  assert.throws(
    () => chooseMemory(llama2, 16 * GIB, "llama.safetensors", gpuLimitsFromEnv("maxStorageBufferBindingSize=2MiB")),
    gpuLimitRefusal(/the head's weight chunk \(lm_head rows\) \[256, 4096\] float32 takes 4 MiB/, /--providers cpu$/),
  );
});

// hidden 32, MLP 85, vocabulary 700: lm_head and embed_tokens [700, 32] take 87.5 KiB each, a layer's largest weight 10.6 KiB.
const STREAMED: SyntheticOptions = { family: "llama", layers: 4, heads: 4, kvHeads: 2, headDim: 8, vocab: 700, maxPositions: 64, seed: 31 };

test("gpu sizing: layer-streamed eval — passes and head chunks cut to the binding, embedding and head never one buffer; same NLL and KL", () =>
  withModel(STREAMED, async (ck) => {
    const tokenizer = charTokenizer(700);
    const protocol = makeProtocol({ window: 32 }, 64);
    const o = { tokenizer, providers: ["cpu"] as const, threads: 1, forward: "layer-streamed" as const, compare: ck };
    const free = await evaluate(ck, TEXT, protocol, o);
    assert.ok(free.memory!.tokensPerPass > 64 && free.memory!.vocabChunk === 700, `unsized: ${JSON.stringify(free.memory)}`);
    // 64 KiB: a pass of N tokens holds the logits chunk [N, 256] (1 KiB a token) → 2 windows; lm_head rows [256, 32] fit.
    const limits = "maxBufferSize=64KiB,maxStorageBufferBindingSize=64KiB";
    const { value: sized, notes } = await withLimits(limits, () => evaluate(ck, TEXT, protocol, o));
    assert.deepEqual([sized.memory!.tokensPerPass, sized.memory!.vocabChunk], [64, 256]);
    assert.ok(sized.memory!.passes > 1);
    const same = (a: EvalResult, b: EvalResult, what: string): void => {
      assert.equal(a.tokens, b.tokens);
      for (const k of ["nll", "kl"] as const) assert.ok(Math.abs(a[k]! - b[k]!) <= 1e-5, `${what} ${k}: ${a[k]} vs ${b[k]}`);
      assert.ok(Math.abs(a.top1Agreement! - b.top1Agreement!) <= 1 / a.tokens + 1e-12);
    };
    same(sized, free, "sized vs unsized");
    assert.ok(
      notes.some((n) => /^layer-streamed passes cut to 64 tokens .* and head chunks cut to 256 vocabulary rows .*\(64 KiB: HEADSHARE_GPU_LIMITS=/.test(n)),
      notes.join("\n"),
    );
    // The whole-model forward holds embed_tokens as one buffer: refused under the same limits, naming it.
    await assert.rejects(
      withLimits(limits, () => evaluate(ck, TEXT, protocol, { ...o, forward: "whole-model" })),
      gpuLimitRefusal(
        /model\.safetensors: the weight model\.embed_tokens\.weight \[700, 32\] float32 takes 87\.50 KiB, more than the GPU allows \(maxBufferSize 64 KiB/,
      ),
    );
    // A layer weight above maxBufferSize cannot be split: the MLP's [85, 32] (10.63 KiB) above 8 KiB.
    await assert.rejects(
      withLimits("maxBufferSize=8KiB,maxStorageBufferBindingSize=8KiB", () => evaluate(ck, TEXT, protocol, o)),
      gpuLimitRefusal(
        /the weight model\.layers\.0\.mlp\.\w+_proj\.weight \[(85, 32|32, 85)\] float32 takes 10\.63 KiB, more than the GPU allows \(maxBufferSize 8 KiB/,
        /--providers cpu/,
      ),
    );
    // A 40-token window runs 39 (the last is only a target): its logits chunk [39, 256] (39 KiB) above a 32 KiB binding.
    await assert.rejects(
      withLimits("maxStorageBufferBindingSize=32KiB", () => evaluate(ck, TEXT, makeProtocol({ window: 40 }, 64), o)),
      gpuLimitRefusal(
        /the forward's head's logits chunk of one window \[39, 256\] float32 takes 39 KiB, more than the GPU allows \(maxStorageBufferBindingSize 32 KiB/,
        /use a shorter window \(--window\)/,
      ),
    );
  }));

test("gpu sizing: attention-map similarity refuses a window whose maps cannot fit, naming the window that would; that window runs", () =>
  withModel({ family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 8, vocab: 29, maxPositions: 64, seed: 33 }, async (ck) => {
    const tok = charTokenizer(29);
    const text = "once upon a time a fox met a crow|the crow had cheese and the fox wanted it";
    const protocol = makeProtocol({ documentsSeparator: "|" }, 64);
    const o = { tokenizer: tok, providers: ["cpu"] as const, threads: 1, maxPositions: 40 };
    const free = await attentionMapSimilarity(ck, text, protocol, o);
    // The longest run is the first document, 33 tokens: the maps of every layer [3, 4, 33, 33] take 51.05 KiB; 32 KiB holds S ≤ 26 (a window of 27).
    await assert.rejects(
      withLimits("maxStorageBufferBindingSize=32KiB", () => attentionMapSimilarity(ck, text, protocol, o)),
      gpuLimitRefusal(
        /the attention maps of every layer of one window \[3, 4, 33, 33\] float32 takes 51\.05 KiB, more than the GPU allows \(maxStorageBufferBindingSize 32 KiB/,
        /use a shorter window \(--window 27\), leave out --attention, or use --providers cpu$/,
      ),
    );
    const { value: short } = await withLimits("maxStorageBufferBindingSize=32KiB", () =>
      attentionMapSimilarity(ck, text, makeProtocol({ documentsSeparator: "|", window: 27 }, 64), o),
    );
    const shortFree = await attentionMapSimilarity(ck, text, makeProtocol({ documentsSeparator: "|", window: 27 }, 64), o);
    assert.equal(short.positions, shortFree.positions);
    short.entries.forEach((e, i) => assert.ok(Math.abs(e.score - shortFree.entries[i]!.score) <= 1e-5));
    assert.ok(free.positions === 40 && short.positions > 0);
  }));

test("gpu sizing: generation — a long prompt is prefilled in pieces (same tokens); a KV cache that cannot fit is refused, saying how many tokens would", () =>
  withModel({ family: "llama", layers: 2, heads: 4, kvHeads: 2, headDim: 8, vocab: 700, maxPositions: 64, seed: 35 }, async (ck) => {
    const prompt = Array.from({ length: 40 }, (_, i) => 3 + ((i * 37) % 690));
    const run = async (maxTokens: number): Promise<number[]> => {
      const gen = await Generator.create(ck, { providers: ["cpu"], threads: 1 });
      try {
        return (await gen.generate(prompt, { maxTokens, stopAtEos: false })).ids;
      } finally {
        await gen.release();
      }
    };
    const free = await run(20);
    assert.equal(free.length, 20);
    // 32 KiB: a step's logits [1, n, 700] hold 11 tokens → the 40-token prompt in pieces of 11.
    const { value: pieces, notes } = await withLimits("maxStorageBufferBindingSize=32KiB", () => run(20));
    assert.deepEqual(pieces, free);
    assert.ok(
      notes.some((n) => /^generate: the 40-token prompt is prefilled in pieces of 11 tokens .*\(32 KiB: HEADSHARE_GPU_LIMITS=/.test(n)),
      notes.join("\n"),
    );
    // 3 KiB: a layer's KV cache [1, 2, T, 8] holds T ≤ 48 positions: 9 new tokens after 40, not 20 (T = 59).
    await assert.rejects(
      withLimits("maxStorageBufferBindingSize=3KiB", () => run(20)),
      gpuLimitRefusal(
        /model\.safetensors: one layer's KV cache \(present key or value\) \[1, 2, 59, 8\] float32 takes 3\.69 KiB, more than the GPU allows \(maxStorageBufferBindingSize 3 KiB/,
        /generate at most 9 new tokens after this 40-token prompt \(--max-tokens 9\), or use --providers cpu$/,
      ),
    );
    const { value: nine } = await withLimits("maxStorageBufferBindingSize=3KiB", () => run(9));
    assert.deepEqual(nine, free.slice(0, 9), "one token at a time through the cache, the same continuation");
  }));

test("gpu sizing: PostShare — the training and sampling graphs are checked before their first step (activations, weights, gradients); a fitting batch trains as without limits", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-gpusize-train-"));
  try {
    const { model, text } = await writeTinyByteLlama(dir, 2, 16);
    const opts = (batchSize: number): PostShareOptions => ({
      ratio: 0.5,
      text: [text],
      heldoutDocs: 3,
      steps: 3,
      batchSize,
      seqLen: 32,
      trainOn: "text",
      providers: ["cpu"],
      intraOpThreads: 1,
    });
    // 100 KiB: the logits of a batch [B, 32, 259] take 32.4 KiB a sequence → 3 fit, 4 do not (held-out documents of ≤ 63 tokens fit).
    const limits = "maxStorageBufferBindingSize=100KiB";
    await assert.rejects(
      withLimits(limits, () => postShare(model, opts(4))),
      gpuLimitRefusal(
        /model\.safetensors: the logits of a batch \[4, 32, 259\] float32 takes 129\.50 KiB, more than the GPU allows \(maxStorageBufferBindingSize 100 KiB/,
        /use --batch-size 3 \(the training graph\), or --providers cpu$/,
      ),
    );
    // Sampling decodes 64 sequences at once: a layer's KV cache [64, 2, 63, 8] (252 KiB) does not fit; 26 tokens would.
    await assert.rejects(
      withLimits(limits, () => postShare(model, { ...opts(3), trainOn: "both", sampleSequences: 64, sampleLength: 64 })),
      gpuLimitRefusal(
        /one layer's KV cache \(present key or value\) \[64, 2, 63, 8\] float32 takes 252 KiB, more than the GPU allows \(maxStorageBufferBindingSize 100 KiB/,
        /use --sample-length 26, post-train on the text only \(--train-on text\), or use --providers cpu \(64 sequences are sampled at once\)$/,
      ),
    );
    const { value: sized } = await withLimits(limits, () => postShare(model, opts(3)));
    const free = await postShare(model, opts(3));
    const losses = (r: typeof free): unknown[] => r.lossCurve.map(({ tokensPerSecond: _, ...row }) => row);
    assert.deepEqual(losses(sized), losses(free));
    assert.equal(sized.lossCurve.length, 3);
    assert.equal(sized.postShare.nll, free.postShare.nll);
    // A weight above maxBufferSize cannot be split: embed_tokens [259, 32] (32.38 KiB) above 16 KiB.
    await assert.rejects(
      withLimits("maxBufferSize=16KiB", () => postShare(model, opts(3))),
      gpuLimitRefusal(/the weight \S*embed_tokens\S* \[259, 32\] float32 takes 32\.38 KiB, more than the GPU allows \(maxBufferSize 16 KiB/, /--providers cpu/),
    );
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
