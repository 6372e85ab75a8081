/**
 * GPU benchmark (issue 12): `npm run bench -- --only gpu`. On the WebGPU provider and on the CPU
 * provider in the same run:
 *   1. the match table of the Llama-2-7B-shaped attention-only BF16 checkpoint of the match bench
 *      (32 layers × 32 heads, width 4096; generated once into the bench cache); goal ≤ 1 s on an
 *      H100-class GPU (its floor there is reading 2 GiB and decoding BF16);
 *   2. the eval forward (NLL output) of a 7B-shaped Llama stack (width 4096, 32 heads, SwiGLU 11008,
 *      vocabulary 32000, random weights fed as graph inputs) on 512 tokens; goal ≥ 10× the CPU run.
 *      This is the whole-model forward (ForwardRunner's graph). Issue 11's layer-streamed eval
 *      plugs in at `evalSeconds`: `evaluate(ckpt, text, protocol, { forward: "streamed",
 *      providers: [provider] })` on the scale bench's 7B checkpoint instead of one session holding
 *      every layer (HEADSHARE_BENCH_GPU_LAYERS picks the layer count meanwhile; default 32, about
 *      26 GiB of float32 weights).
 * Each provider: a warm-up run, then the median, min and max of `reps` runs. The adapter (vendor,
 * device, backend) and the node placement of each session are printed with the numbers.
 * `--quick`: the match bench's quick shape and a 2-layer stack on 128 tokens. A software adapter
 * (SwiftShader) runs a smoke shape only (it is ~100× slower than the CPU), to check the bench itself.
 * WebGPU needs the Vulkan loader and a driver in this process's environment (docs/gpu.md).
 */
import os from "node:os";
import { BenchUnavailable, type Bench, type BenchOptions, type BenchResult } from "./run";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { computeMatchTable } from "../src/core/share/match";
import { buildLlamaGraph } from "../src/core/graph/llama";
import { scoringForward } from "../src/core/eval/evaluate";
import { serializeModel } from "../src/core/onnx/serialize";
import { createSession, Tensor, type OrtTensor, type ProviderName } from "../src/core/runtime/ort";
import { webGpuProbe } from "../src/core/runtime/adapter";
import { ComputeLog, withComputeLog } from "../src/core/runtime/computeLog";
import { adapterLabel, sessionsText, type GpuAdapter } from "../src/core/runtime/types";
import { ensureModel, type Shape } from "./match.bench";
import { fill, shapesOf, wideSpec } from "./eval.bench";

const log = (s: string): void => {
  process.stderr.write(`[gpu bench] ${s}\n`);
};
const fmt = (x: number, d = 2): string => x.toFixed(d);

interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}
function stats(xs: number[]): Stats {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** A warm-up call, then `reps` timed calls (seconds). */
async function timeIt(reps: number, f: () => Promise<void>): Promise<Stats> {
  await f();
  const xs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await f();
    xs.push((performance.now() - t) / 1000);
  }
  return stats(xs);
}

interface EvalShape {
  readonly layers: number;
  readonly tokens: number;
  readonly hidden: number;
  readonly heads: number;
  readonly inter: number;
  readonly vocab: number;
}

const MATCH_SMOKE: Shape = { layers: 4, hidden: 256, heads: 4 };
const EVAL_SMOKE: EvalShape = { layers: 1, tokens: 32, hidden: 256, heads: 4, inter: 512, vocab: 512 };

async function matchSeconds(dir: string, provider: ProviderName, reps: number): Promise<{ t: Stats; scores: number[]; placement: string }> {
  const ckpt = await openCheckpoint(dir);
  const clog = new ComputeLog();
  try {
    let scores: number[] = [];
    const t = await withComputeLog(clog, () =>
      timeIt(reps, async () => {
        const table = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group", keepLowerCosines: false, providers: [provider] });
        if (table.source?.provider !== provider) throw new Error(`the match ran on ${table.source?.provider}, not ${provider}`);
        scores = table.entries.map((e) => e.score);
      }),
    );
    return { t, scores, placement: sessionsText(clog.report()?.sessions.slice(0, 1) ?? []) };
  } finally {
    await ckpt.close();
  }
}

/** The whole-model eval forward of a Llama stack on `provider` (issue 11's streamed forward goes here). */
async function evalSeconds(s: EvalShape, provider: ProviderName, reps: number): Promise<{ t: Stats; nll: number; placement: string }> {
  const spec = wideSpec(s.layers, s.hidden, s.heads, s.inter, s.vocab);
  const shapes = shapesOf(spec);
  const shapeOf = (n: string): readonly number[] => shapes.get(n)!;
  const fg = buildLlamaGraph(
    spec,
    { has: (n) => shapes.has(n) },
    { stored: shapeOf, dense: shapeOf },
    scoringForward(s.tokens, undefined, { logits: false, nll: true }),
    "(synthetic 7B-shaped stack)",
  );
  const feeds: Record<string, OrtTensor> = {};
  fg.weights.forEach((w, i) => {
    const n = w.shape.reduce((x, y) => x * y, 1);
    feeds[w.input] = new Tensor("float32", w.shape.length === 1 ? new Float32Array(n).fill(1) : fill(n, Math.sqrt(3 / w.shape[1]!), 100 + i), w.shape);
  });
  const ids = new BigInt64Array(s.tokens),
    targets = new BigInt64Array(s.tokens);
  for (let i = 0; i < s.tokens; i++) {
    ids[i] = BigInt((i * 7919) % s.vocab);
    targets[i] = BigInt(((i + 1) * 7919) % s.vocab);
  }
  feeds.input_ids = new Tensor("int64", ids, [1, s.tokens]);
  feeds.targets = new Tensor("int64", targets, [1, s.tokens]);
  const clog = new ComputeLog();
  return withComputeLog(clog, async () => {
    const { session, provider: used } = await createSession(serializeModel(fg.graph), { providers: [provider], label: "forward" });
    if (used !== provider) throw new Error(`the forward ran on ${used}, not ${provider}`);
    let nll = NaN;
    try {
      const t = await timeIt(reps, async () => {
        const r = await session.run(feeds);
        const v = r[fg.outputs.find((o) => o === "nll") ?? fg.outputs[0]!]!.data as Float32Array;
        let sum = 0;
        for (const x of v) sum += x;
        nll = sum / v.length;
      });
      return { t, nll, placement: sessionsText(clog.report()?.sessions ?? []) };
    } finally {
      await session.release();
    }
  });
}

export const gpuBench: Bench = {
  name: "gpu",
  async run(opts: BenchOptions): Promise<BenchResult> {
    const probe = await webGpuProbe();
    const load = os.loadavg()[0]!;
    console.log(`machine: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), ${fmt(os.totalmem() / 2 ** 30, 0)} GiB, load average ${fmt(load)}`);
    if (!probe.ok)
      throw new BenchUnavailable(
        `the gpu bench needs a WebGPU adapter, and WebGPU does not run here: ${probe.reason}. docs/gpu.md says how to bring the Vulkan loader and a driver (on a lent GPU machine: scripts/gpu-device-pack.sh, then scripts/gpu-device-run.sh); nothing was recorded`,
      );
    const adapter: GpuAdapter = probe.adapter;
    const smoke = adapter.software;
    console.log(
      `WebGPU adapter: ${adapterLabel(adapter)}${smoke ? " — a software renderer: smoke shapes only (checks the bench, measures nothing about GPUs)" : ""}`,
    );
    const reps = smoke || opts.quick ? 2 : 3;
    const matchShape: Shape = smoke ? MATCH_SMOKE : opts.quick ? { layers: 32, hidden: 2048, heads: 32 } : { layers: 32, hidden: 4096, heads: 32 };
    const layers = Number(process.env.HEADSHARE_BENCH_GPU_LAYERS ?? (opts.quick ? 2 : 32));
    const evalShape: EvalShape = smoke ? EVAL_SMOKE : { layers, tokens: opts.quick ? 128 : 512, hidden: 4096, heads: 32, inter: 11008, vocab: 32000 };

    log(`match table: ${matchShape.layers} layers × ${matchShape.heads} heads, width ${matchShape.hidden}`);
    const dir = await ensureModel(opts.cacheDir, matchShape);
    const mg = await matchSeconds(dir, "webgpu", reps);
    const mc = await matchSeconds(dir, "cpu", reps);
    const scoreDiff = Math.max(...mg.scores.map((x, i) => Math.abs(x - mc.scores[i]!)));
    log(`eval forward: ${evalShape.layers} layers, width ${evalShape.hidden}, ${evalShape.tokens} tokens`);
    const eg = await evalSeconds(evalShape, "webgpu", reps);
    const ec = await evalSeconds(evalShape, "cpu", reps);
    const row = (what: string, p: string, t: Stats): string => `| ${what} | ${p} | ${fmt(t.median, 3)} | ${fmt(t.min, 3)}–${fmt(t.max, 3)} | ${t.n} |`;
    console.log("\n| job | provider | median s | min–max s | runs |");
    console.log("| --- | --- | ---: | ---: | ---: |");
    console.log(row(`match table, ${matchShape.layers}×${matchShape.heads} heads, width ${matchShape.hidden}, BF16`, `webgpu (${adapter.device})`, mg.t));
    console.log(row("", "cpu", mc.t));
    console.log(
      row(`eval forward, ${evalShape.layers} Llama layers, width ${evalShape.hidden}, ${evalShape.tokens} tokens`, `webgpu (${adapter.device})`, eg.t),
    );
    console.log(row("", "cpu", ec.t));
    console.log(
      `\nmatch: webgpu/cpu speed-up ${fmt(mc.t.median / mg.t.median)}× (goal on an H100-class GPU: ≤ 1 s for the 7B shape); max |score difference| ${scoreDiff.toExponential(2)}`,
    );
    console.log(`eval: webgpu/cpu speed-up ${fmt(ec.t.median / eg.t.median)}× (goal ≥ 10×); mean NLL webgpu ${fmt(eg.nll, 6)} cpu ${fmt(ec.nll, 6)}`);
    console.log(`placement: ${mg.placement}; ${eg.placement}`);
    console.log(
      'This stack feeds its weights as inputs: each run uploads them (the whole-model eval keeps them resident on a GPU: docs/gpu.md, "Weights on the GPU").',
    );
    return {
      adapter,
      load,
      smoke,
      match: { shape: matchShape, webgpuSeconds: mg.t, cpuSeconds: mc.t, maxScoreDifference: scoreDiff },
      eval: { shape: evalShape, webgpuSeconds: eg.t, cpuSeconds: ec.t, nll: { webgpu: eg.nll, cpu: ec.nll } },
      placement: { match: mg.placement, eval: eg.placement },
    };
  },
};
