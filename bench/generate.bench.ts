/**
 * Generate benchmark (issue 13, "Measured"). Prints, all measured in this run:
 *   1. greedy generation speed (new tokens/s, prompt 32 tokens, 256 new tokens) of `headshare
 *      generate`'s KV-cache loop and of transformers.js on the SAME exported folder, on
 *      stories260K-hf and the demo model; headshare on its own default threads (`defaultThreads`:
 *      1 for these tiny models), transformers.js on onnxruntime's default AND, for a like-for-like
 *      figure, on headshare's thread count; one warm-up run each, then alternating runs, median and
 *      range; target: headshare ≥ transformers.js;
 *   2. resident memory of a fresh process that loads the dense and the shared (ratio 0.3) export
 *      with a stock InferenceSession and runs it once, on a seeded Llama-2-7B-shaped model with 8
 *      layers (d 4096, 32 heads × 128, SwiGLU 11008, vocab 32000, BF16 input; fp32 and fp16
 *      exports with external data), against the bytes the plan saves at that dtype; target: the
 *      difference ≥ 80% of them.
 * `--quick`: 3 runs instead of 5, 64 new tokens, and 2 layers for the memory model.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Bench, BenchOptions, BenchResult } from "./run";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel, type SyntheticOptions } from "../src/core/model/synthetic";
import { loadTokenizer } from "../src/core/eval/tokenizer";
import { exportOnnx, ONNX_FILE, type ExportDtype } from "../src/core/export/exportOnnx";
import { Generator } from "../src/core/generate/generator";

const log = (s: string): void => {
  process.stderr.write(`[generate bench] ${s}\n`);
};
const fmt = (x: number, d = 0): string => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;

function sharedDir(): string | undefined {
  const c = [process.env.HEADSHARE_SHARED_DIR, path.resolve(process.cwd(), "../shared")].filter((p): p is string => !!p);
  return c.find((p) => fs.existsSync(path.join(p, "models/stories260K-hf")));
}

interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}
const stats = (xs: readonly number[]): Stats => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });

/** tokens/s of both runtimes on one exported folder, as recorded. */
interface Speed {
  headshare: Stats;
  transformersJs: Stats;
  transformersJsSameThreads: Stats;
  threads: number | "default";
  cpuMsPerToken: Record<string, Stats>;
}

/** tokens/s of both runtimes on one exported folder. */
async function speed(model: string, exportDir: string, promptText: string, newTokens: number, reps: number): Promise<Speed> {
  const ck = await openCheckpoint(model);
  const tok = await loadTokenizer(ck.dir);
  const bos = tok.bosTokenId ?? ck.spec.bosTokenId;
  const prompt = [...(bos !== undefined ? [bos] : []), ...tok.encode(promptText)].slice(0, 32);
  const gen = await Generator.create(ck);
  const tjs = await import("@huggingface/transformers");
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  const load = (threads: number | undefined): ReturnType<typeof tjs.AutoModelForCausalLM.from_pretrained> =>
    tjs.AutoModelForCausalLM.from_pretrained(exportDir, {
      local_files_only: true,
      dtype: "fp32",
      device: "cpu",
      session_options: { logSeverityLevel: 3, ...(threads ? { intraOpNumThreads: threads } : {}) },
    });
  const lm = await load(undefined);
  const lmSame = await load(gen.threads);
  const input_ids = new tjs.Tensor(
    "int64",
    BigInt64Array.from(prompt, (x) => BigInt(x)),
    [1, prompt.length],
  );
  const attention_mask = new tjs.Tensor("int64", new BigInt64Array(prompt.length).fill(1n), [1, prompt.length]);
  const ours = async (): Promise<number> => {
    const t = performance.now();
    const r = await gen.generate(prompt, { maxTokens: newTokens, stopAtEos: false });
    return r.ids.length / ((performance.now() - t) / 1000);
  };
  const theirs = async (m = lm): Promise<number> => {
    const t = performance.now();
    // min_new_tokens keeps EOS away, so both write exactly newTokens tokens
    const r = (await m.generate({ input_ids, attention_mask, max_new_tokens: newTokens, min_new_tokens: newTokens, do_sample: false })) as { dims: number[] };
    return (r.dims[1]! - prompt.length) / ((performance.now() - t) / 1000);
  };
  try {
    await ours();
    await theirs(); // warm-up
    await theirs(lmSame);
    const a: number[] = [],
      b: number[] = [],
      c: number[] = [];
    // CPU time (this process, onnxruntime's threads included) per new token: the work done, less
    // sensitive to other processes on a shared machine than wall time
    const ca: number[] = [],
      cb: number[] = [],
      cc: number[] = [];
    const cpu = async (into: number[], f: () => Promise<number>): Promise<number> => {
      const c0 = process.cpuUsage();
      const tps = await f();
      const used = process.cpuUsage(c0);
      into.push((used.user + used.system) / 1000 / newTokens);
      return tps;
    };
    for (let i = 0; i < reps; i++) {
      a.push(await cpu(ca, ours));
      b.push(await cpu(cb, theirs));
      c.push(await cpu(cc, () => theirs(lmSame)));
    }
    return {
      headshare: stats(a),
      transformersJs: stats(b),
      transformersJsSameThreads: stats(c),
      threads: gen.threads ?? "default",
      cpuMsPerToken: { headshare: stats(ca), transformersJs: stats(cb), transformersJsSameThreads: stats(cc) },
    };
  } finally {
    await lm.dispose();
    await lmSame.dispose();
    await gen.release();
    await ck.close();
  }
}

interface Probe {
  rssBytes: number;
  peakRssBytes: number;
  loadSeconds: number;
}
function probe(dir: string, o: SyntheticOptions, dtype: ExportDtype): Probe {
  const script = path.resolve(process.cwd(), "scripts/onnx-rss-probe.mjs");
  return JSON.parse(
    execFileSync(process.execPath, [script, path.join(dir, "onnx", ONNX_FILE[dtype]), String(o.layers), String(o.kvHeads ?? o.heads), String(o.headDim)], {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    }),
  ) as Probe;
}

async function memory(opts: BenchOptions): Promise<BenchResult> {
  const o: SyntheticOptions = {
    family: "llama",
    layers: opts.quick ? 2 : 8,
    heads: 32,
    kvHeads: 32,
    headDim: 128,
    intermediate: 11008,
    vocab: 32000,
    maxPositions: 4096,
    seed: 2402,
    dtype: "BF16",
    tied: false,
  };
  const root = path.join(opts.cacheDir, `generate-llama2-7b-shape-${o.layers}l`);
  fs.mkdirSync(root, { recursive: true });
  const model = path.join(root, "model");
  if (!fs.existsSync(path.join(model, "config.json"))) {
    log(`writing the seeded Llama-2-7B-shaped model with ${o.layers} layers to ${model}`);
    fs.rmSync(model, { recursive: true, force: true });
    await writeSyntheticModel(model, o);
  }
  const results: Record<string, BenchResult> = {};
  for (const dtype of ["fp32", "fp16"] as const) results[dtype] = await memoryAt(dtype, o, root, model, opts);
  return results;
}

async function memoryAt(dtype: ExportDtype, o: SyntheticOptions, root: string, model: string, opts: BenchOptions): Promise<BenchResult> {
  const out = fs.mkdtempSync(path.join(root, "exports-"));
  try {
    log(`exporting dense and shared 0.3 (${dtype}, external data)…`);
    const dense = await exportOnnx(model, { outDir: path.join(out, "dense"), dtype, externalData: true });
    const shared = await exportOnnx(model, { outDir: path.join(out, "shared"), ratio: 0.3, dtype, externalData: true });
    const saved = (dense.parameters - shared.parameters) * (dtype === "fp16" ? 2 : 4);
    const d: Probe[] = [],
      s: Probe[] = [];
    for (let i = 0; i < (opts.quick ? 1 : 3); i++) {
      d.push(probe(dense.outDir, o, dtype));
      s.push(probe(shared.outDir, o, dtype));
      log(`${dtype} probe ${i + 1}: dense ${gib(d[i]!.rssBytes)}, shared ${gib(s[i]!.rssBytes)} (load average ${os.loadavg()[0]!.toFixed(1)})`);
    }
    const dr = median(d.map((p) => p.rssBytes)),
      sr = median(s.map((p) => p.rssBytes));
    log(`${dtype}: resident dense ${gib(dr)}, shared ${gib(sr)}; the plan saves ${gib(saved)}`);
    return {
      layers: o.layers,
      dtype,
      savedBytes: saved,
      denseRssBytes: dr,
      sharedRssBytes: sr,
      rssSavedFraction: (dr - sr) / saved,
      dense: { parameters: dense.parameters, fileBytes: dense.bytes, peakRssBytes: median(d.map((p) => p.peakRssBytes)) },
      shared: { parameters: shared.parameters, fileBytes: shared.bytes, peakRssBytes: median(s.map((p) => p.peakRssBytes)), units: shared.plan?.selected ?? 0 },
    };
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}

export const generateBench: Bench = {
  name: "generate",
  async run(opts: BenchOptions): Promise<BenchResult> {
    const result: BenchResult = { machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, loadAverage: os.loadavg()[0] } };
    const shared = sharedDir();
    const reps = opts.quick ? 3 : 5,
      newTokens = opts.quick ? 64 : 256;
    const models: [string, string][] = [["demo model", path.resolve(process.cwd(), "assets/demo-model")]];
    if (shared) models.unshift(["stories260K-hf", path.join(shared, "models/stories260K-hf")]);
    else log("../shared is absent: stories260K-hf is skipped");
    const promptText =
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the sunshine. One day, she saw a big, red ball in the park and";
    const speeds: Record<string, unknown> = {};
    for (const [name, model] of models) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-genbench-"));
      try {
        await exportOnnx(model, { outDir: path.join(dir, "export") });
        const r = await speed(model, path.join(dir, "export"), promptText, newTokens, reps);
        log(`${name}: headshare ${fmt(r.headshare.median)} tokens/s, transformers.js ${fmt(r.transformersJs.median)} tokens/s`);
        speeds[name] = r;
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    result.tokensPerSecond = speeds;
    result.newTokens = newTokens;
    result.memory = await memory(opts);
    console.log(`\n${generateTables(result)}`);
    return result;
  },
  readme: (result) => ({ "": generateTables(result) }),
};

interface MemoryRecord {
  layers: number;
  dtype: string;
  savedBytes: number;
  denseRssBytes: number;
  sharedRssBytes: number;
  rssSavedFraction: number;
  dense?: { parameters: number; fileBytes: number; peakRssBytes: number };
  shared?: { parameters: number; fileBytes: number; peakRssBytes: number; units: number };
}

/** The bench's tables from its recorded result (the console's and README's `generate` region). */
export function generateTables(result: BenchResult): string {
  const speeds = (result.tokensPerSecond ?? {}) as Record<string, Speed>;
  const newTokens = typeof result.newTokens === "number" ? `${result.newTokens} new tokens` : "new tokens";
  const row = (s: Stats): string => `${fmt(s.median)} [${fmt(s.min)}–${fmt(s.max)}]`;
  const out = [
    `Greedy generation, prompt 32 tokens, ${newTokens}, the same exported folder (fp32) for both; runs alternate after a warm-up; tokens/s as median [min–max] over n = ${Object.values(speeds)[0]?.headshare.n ?? 0} runs. Target: headshare ≥ transformers.js.`,
    "",
    "| model | headshare generate tokens/s | transformers.js tokens/s | ratio | transformers.js on headshare's threads | ratio |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...Object.entries(speeds).map(
      ([name, r]) =>
        `| ${name} | ${row(r.headshare)} (threads: ${r.threads}) | ${row(r.transformersJs)} | ${(r.headshare.median / r.transformersJs.median).toFixed(2)} | ${row(r.transformersJsSameThreads)} | ${(r.headshare.median / r.transformersJsSameThreads.median).toFixed(2)} |`,
    ),
    "",
    "CPU milliseconds per new token (median; this process, onnxruntime's threads included):",
    "",
    "| model | headshare generate | transformers.js | transformers.js on headshare's threads |",
    "| --- | ---: | ---: | ---: |",
    ...Object.entries(speeds).map(
      ([name, r]) =>
        `| ${name} | ${fmt(r.cpuMsPerToken.headshare!.median, 3)} | ${fmt(r.cpuMsPerToken.transformersJs!.median, 3)} | ${fmt(r.cpuMsPerToken.transformersJsSameThreads!.median, 3)} |`,
    ),
  ];
  const mem = Object.values((result.memory ?? {}) as Record<string, MemoryRecord>);
  if (mem.length) {
    out.push(
      "",
      `Resident memory of a fresh process after loading the export and one run (stock InferenceSession, default options), Llama-2-7B shape with ${mem[0]!.layers} layers, dense and shared at 0.3; target: the difference ≥ 80 % of the bytes the plan saves:`,
      "",
      "| dtype | export | parameters | file | resident (median) | peak resident | plan saves | resident difference |",
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const m of mem) {
      const cell = (x: number | undefined, f: (y: number) => string): string => (x === undefined ? "—" : f(x));
      out.push(
        `| ${m.dtype} | dense | ${cell(m.dense?.parameters, fmt)} | ${cell(m.dense?.fileBytes, gib)} | ${gib(m.denseRssBytes)} | ${cell(m.dense?.peakRssBytes, gib)} | | |`,
        `| ${m.dtype} | shared 0.3${m.shared ? ` (${m.shared.units} units)` : ""} | ${cell(m.shared?.parameters, fmt)} | ${cell(m.shared?.fileBytes, gib)} | ${gib(m.sharedRssBytes)} | ${cell(m.shared?.peakRssBytes, gib)} | ${gib(m.savedBytes)} | ${gib(m.denseRssBytes - m.sharedRssBytes)} = **${(100 * m.rssSavedFraction).toFixed(0)} %** |`,
      );
    }
  }
  return out.join("\n");
}
