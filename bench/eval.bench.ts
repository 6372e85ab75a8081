/**
 * Eval benchmark (issue 4, "Speed"). Prints and records, all measured in this run (warm-up, then
 * several samples; median and range):
 *   1. teacher-forced scoring of stories260K-hf on the TinyStories excerpt (per document, window
 *      512) and the wikitext excerpt (window 512, stride 511), 2 intra-op threads: the forward-only
 *      rate (prepared batches through one session; blocked attention, the default, and plain full
 *      attention) beside the end-to-end time of `evaluate` (open the checkpoint, load the
 *      tokenizer, tokenize, build the graph, start the session, score: what `headshare eval` does
 *      after Node starts); target ≥ 40,000 tokens/s forward-only;
 *   2. the CLI examples README.md shows (`headshare eval`, `headshare sweep` on the TinyStories
 *      excerpt), run once as child processes, their output recorded as printed;
 *   3. when HEADSHARE_LLAMA2C_DIR names a llama2.c checkout: llama2.c scoring the TinyStories
 *      excerpt with the same protocol, end to end (bench/llama2c.ts compiles bench/llama2c-score.c
 *      against its run.c; stories260K.bin + tok512.bin), its NLL beside headshare's and headshare's
 *      end-to-end rate divided by it. Otherwise the generation figure issue 4 quoted is printed as
 *      external, and nothing is divided by it;
 *   4. on a synthetic Llama layer stack of width 4096 (32 heads × 128, SwiGLU 11008, random
 *      weights fed as inputs), the achieved GFLOP/s of the forward pass as a fraction of the ORT
 *      MatMul rate on the stack's largest projection shape [S,4096]×[4096,11008] with B a constant
 *      initializer (ORT may pre-pack it: the best this shape gets, which the stack cannot beat), and
 *      with B fed at run time as the stack's weights are; target ≥ 60%.
 * The full run's stack has 3 layers (2.3 GiB of float32 weights, beyond protobuf's 2 GiB: they are
 * graph inputs). `--quick`: fewer samples, one layer and 256 tokens on the wide stack, no sweep example.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import type { Bench, BenchOptions } from "./run";
import { sharedRoot } from "../test/helpers/shared";
import { fmtSummary, mapSummary, sample, type Summary } from "./stats";
import { openCheckpoint } from "../src/core/model/checkpoint";
import type { ModelSpec } from "../src/core/model/types";
import { ForwardRunner } from "../src/core/eval/runner";
import { defaultBatchTokens, evaluate, prepareText, scoringForward } from "../src/core/eval/evaluate";
import { makeProtocol, type ProtocolInput } from "../src/core/eval/windows";
import { bosId, loadTokenizer } from "../src/core/eval/tokenizer";
import { buildLlamaGraph } from "../src/core/graph/llama";
import { GraphBuilder } from "../src/core/onnx/builder";
import { serializeModel } from "../src/core/onnx/serialize";
import { createSession, Tensor, type OrtTensor } from "../src/core/runtime/ort";
import { repoRoot } from "./machine";
import { buildLlama2cScorer, LLAMA2C_ENV, runLlama2cScorer, sampleLlama2cScorer, type Llama2cBuild } from "./llama2c";

const THREADS = 2;
const log = (s: string): void => {
  process.stderr.write(`[eval bench] ${s}\n`);
};
const fmt = (x: number, d = 0): string => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

type ScoringRow = {
  text: string;
  tokens: number;
  /** Mean NLL of `evaluate` (records before the llama2.c baseline have none). */
  nll?: number;
  forwardBlocked: Summary;
  forwardFull: Summary;
  forwardBlockedCpu: Summary;
  endToEnd: Summary;
};
/** The scoring case llama2.c is compared on: its text file, separator and window. */
const TINY = { label: "TinyStories excerpt, per document, window 512", file: "corpus/tinystories-valid-excerpt.txt", separator: "<|endoftext|>", window: 512 };

async function storiesThroughput(shared: string, samples: number): Promise<ScoringRow[]> {
  const modelDir = path.join(shared, "models/stories260K-hf");
  const ck = await openCheckpoint(modelDir);
  const rows: ScoringRow[] = [];
  try {
    const tok = await loadTokenizer(ck.dir);
    const tiny = fs.readFileSync(path.join(shared, TINY.file), "utf8");
    const wiki = fs.readFileSync(path.join(shared, "corpus/wikitext-2-raw-test.txt"), "utf8").replace(/\r\n/g, "\n").slice(0, 20000);
    const cases: [string, string, ProtocolInput][] = [
      [TINY.label, tiny, { documentsSeparator: TINY.separator, window: TINY.window }],
      ["wikitext, first 20,000 characters, window 512 stride 511", wiki, { window: 512, stride: 511 }],
    ];
    for (const [label, text, pin] of cases) {
      const protocol = makeProtocol(pin, ck.spec.maxPositions);
      const forward: Summary[] = [];
      let cpu: Summary | undefined,
        tokens = 0;
      for (const chunk of [undefined, 0] as const) {
        const prep = prepareText(text, protocol, tok, bosId(ck.spec, tok), defaultBatchTokens(protocol.window, ck.spec.vocab, false), ck.spec.vocab);
        tokens = prep.tokens;
        const runner = await ForwardRunner.create(ck, {
          forward: scoringForward(protocol.window, chunk, { logits: false, nll: true }),
          providers: ["cpu"],
          threads: THREADS,
        });
        try {
          const t = await sample(samples, 1, async () => {
            for (const b of prep.batches) await runner.run(b.ids, b.batch, b.seq, b.targets);
          });
          forward.push(t.wall);
          cpu ??= t.cpu;
        } finally {
          await runner.release();
        }
      }
      // end to end: what `headshare eval` does after Node starts (the checkpoint opened afresh each time)
      let nll = NaN;
      const e2e = await sample(samples, 1, async () => {
        const c = await openCheckpoint(modelDir);
        try {
          nll = (await evaluate(c, text, protocol, { providers: ["cpu"], threads: THREADS })).nll;
        } finally {
          await c.close();
        }
      });
      rows.push({ text: label, tokens, nll, forwardBlocked: forward[0]!, forwardFull: forward[1]!, forwardBlockedCpu: cpu!, endToEnd: e2e.wall });
      log(
        `${label}: forward ${fmt(tokens / forward[0]!.median)} tokens/s, end to end ${fmt(tokens / e2e.wall.median)} tokens/s (load average ${os.loadavg()[0]!.toFixed(1)})`,
      );
    }
  } finally {
    await ck.close();
  }
  return rows;
}

/** Runs the built CLI (dist/cli.js) once; its stdout as printed. */
function cliExample(args: string[], shown: string): { command: string; stdout: string } {
  const cli = path.resolve(__dirname, "../../dist/cli.js");
  const stdout = execFileSync(process.execPath, [cli, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], maxBuffer: 16 << 20 });
  return { command: `$ headshare ${shown}`, stdout: stdout.trimEnd() };
}

function examples(shared: string, quick: boolean): { command: string; stdout: string }[] {
  const model = path.join(shared, "models/stories260K-hf"),
    text = path.join(shared, "corpus/tinystories-valid-excerpt.txt");
  const shownModel = "../shared/models/stories260K-hf",
    shownText = "../shared/corpus/tinystories-valid-excerpt.txt";
  const out = [
    cliExample(
      ["eval", model, "--text", text, "--documents-separator", "<|endoftext|>", "--window", "512"],
      `eval ${shownModel} --text ${shownText} --documents-separator "<|endoftext|>" --window 512`,
    ),
  ];
  if (!quick) {
    out.push(
      cliExample(
        ["sweep", model, "--ratios", "0,0.1,0.2,0.3,0.4,0.5", "--text", text, "--documents-separator", "<|endoftext|>"],
        `sweep ${shownModel} --ratios 0,0.1,0.2,0.3,0.4,0.5 --text ${shownText} --documents-separator "<|endoftext|>"`,
      ),
    );
  }
  return out;
}

/** The figure issue 4 quoted for llama2.c, printed as external (never divided by). */
const LLAMA2C_EXTERNAL = {
  tokensPerSecond: 8226,
  source: "issue 4 of this repository (llama2.c run.c -O3 generating one token at a time on stories260K, another session's machine, not run here)",
};

type Llama2cMeasured = {
  measured: true;
  /** Which run.c API the scorer was compiled against (bench/llama2c-score.c). */
  api: number;
  text: string;
  build: { label: string; command: string; threads: number; documents: number; tokens: number; nll: number; seconds: Summary };
  /** headshare's `evaluate` end to end with 1 intra-op thread (llama2.c's thread count), on the same text. */
  headshareOneThread: { seconds: Summary; nll: number };
  /** headshare's end-to-end tokens/s (medians) ÷ llama2.c's: with 1 thread each, and with the bench's threads. */
  ratioOneThread: number;
  ratio: number;
  /** |headshare's mean NLL − llama2.c's|. */
  nllDifference: number;
};
type Llama2cNotMeasured = { measured: false; reason?: string; tokensPerSecond: number; source: string };
type Llama2c = Llama2cMeasured | Llama2cNotMeasured;

/** Checks and compiles llama2.c before anything long runs, so a wrong HEADSHARE_LLAMA2C_DIR fails at once. */
function prepareLlama2c(shared: string | undefined, cacheDir: string): { build: Llama2cBuild; api: number } | Llama2cNotMeasured {
  const dir = process.env[LLAMA2C_ENV];
  if (!dir) return { measured: false, reason: `${LLAMA2C_ENV} is not set`, ...LLAMA2C_EXTERNAL };
  if (!shared) return { measured: false, reason: "../shared/models/stories260K is not present", ...LLAMA2C_EXTERNAL };
  for (const f of ["models/stories260K/stories260K.bin", "models/stories260K/tok512.bin"])
    if (!fs.existsSync(path.join(shared, f)))
      throw new Error(`${LLAMA2C_ENV} is set but ${path.join(shared, f)} is missing: the llama2.c baseline scores that checkpoint`);
  log(`llama2.c: compiling ${path.join(dir, "run.c")} with bench/llama2c-score.c`);
  return buildLlama2cScorer(path.resolve(dir), path.join(repoRoot(), "bench", "llama2c-score.c"), cacheDir);
}

async function measureLlama2c(prep: { build: Llama2cBuild; api: number }, shared: string, headshare: ScoringRow, samples: number): Promise<Llama2cMeasured> {
  const m = path.join(shared, "models/stories260K");
  const text = path.join(shared, TINY.file);
  log(`llama2.c scoring: ${prep.build.label}`);
  const r = sampleLlama2cScorer(prep.build, samples, 1, () =>
    runLlama2cScorer(prep.build, path.join(m, "stories260K.bin"), path.join(m, "tok512.bin"), text, TINY.separator, TINY.window),
  );
  if (r.tokens !== headshare.tokens)
    throw new Error(`llama2.c predicted ${r.tokens} tokens where headshare predicted ${headshare.tokens}: the two do not score the same text; not comparable`);
  log("headshare scoring end to end with 1 intra-op thread");
  const hsModel = path.join(shared, "models/stories260K-hf");
  const textStr = fs.readFileSync(text, "utf8");
  let nll1 = NaN;
  const one = await sample(samples, 1, async () => {
    const c = await openCheckpoint(hsModel);
    try {
      const protocol = makeProtocol({ documentsSeparator: TINY.separator, window: TINY.window }, c.spec.maxPositions);
      nll1 = (await evaluate(c, textStr, protocol, { providers: ["cpu"], threads: 1 })).nll;
    } finally {
      await c.close();
    }
  });
  return {
    measured: true,
    api: prep.api,
    text: TINY.label,
    build: { label: prep.build.label, command: prep.build.command, threads: prep.build.threads, ...r },
    headshareOneThread: { seconds: one.wall, nll: nll1 },
    ratioOneThread: r.seconds.median / one.wall.median,
    ratio: r.seconds.median / headshare.endToEnd.median,
    nllDifference: Math.abs((headshare.nll ?? NaN) - r.nll),
  };
}

/** A Llama ModelSpec with Hugging Face tensor names, for graphs fed with in-memory weights. */
export function wideSpec(layers: number, d: number, heads: number, inter: number, vocab: number): ModelSpec {
  const dh = d / heads;
  const layerTensors = Array.from({ length: layers }, (_, l) => {
    const p = `model.layers.${l}.`;
    return {
      q: `${p}self_attn.q_proj.weight`,
      k: `${p}self_attn.k_proj.weight`,
      v: `${p}self_attn.v_proj.weight`,
      o: `${p}self_attn.o_proj.weight`,
      other: {
        "input_layernorm.weight": `${p}input_layernorm.weight`,
        "post_attention_layernorm.weight": `${p}post_attention_layernorm.weight`,
        "mlp.gate_proj.weight": `${p}mlp.gate_proj.weight`,
        "mlp.up_proj.weight": `${p}mlp.up_proj.weight`,
        "mlp.down_proj.weight": `${p}mlp.down_proj.weight`,
      },
    };
  });
  return {
    family: "llama",
    architecture: "LlamaForCausalLM",
    layers,
    heads,
    kvHeads: heads,
    headDim: dh,
    hidden: d,
    intermediate: inter,
    vocab,
    maxPositions: 4096,
    tiedEmbeddings: true,
    normEps: 1e-5,
    ropeTheta: 10000,
    activation: "silu",
    bosTokenId: 1,
    layerTensors,
    globals: { embed: "model.embed_tokens.weight", finalNorm: "model.norm.weight" },
    config: {},
  };
}

export function shapesOf(spec: ModelSpec): Map<string, number[]> {
  const d = spec.hidden,
    I = spec.intermediate,
    m = new Map<string, number[]>();
  m.set("model.embed_tokens.weight", [spec.vocab, d]);
  m.set("model.norm.weight", [d]);
  for (const t of spec.layerTensors) {
    for (const n of [t.q, t.k, t.v, t.o]) m.set(n, [d, d]);
    const o = t.other;
    m.set(o["input_layernorm.weight"]!, [d]);
    m.set(o["post_attention_layernorm.weight"]!, [d]);
    m.set(o["mlp.gate_proj.weight"]!, [I, d]);
    m.set(o["mlp.up_proj.weight"]!, [I, d]);
    m.set(o["mlp.down_proj.weight"]!, [d, I]);
  }
  return m;
}

/** Uniform(−a, a) fill from a seeded LCG (fast; values only need to be finite and non-degenerate). */
export function fill(n: number, a: number, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = ((s / 2 ** 32) * 2 - 1) * a;
  }
  return x;
}

/**
 * ORT MatMul GFLOP/s on [M, K] × [K, N], per wall second and per CPU second: with B a constant
 * initializer (`constantB`, which ORT may pre-pack) or fed at run time.
 */
async function matmulRate(M: number, K: number, N: number, samples: number, constantB: boolean): Promise<{ wall: Summary; cpu: Summary }> {
  const b = new GraphBuilder("matmul-rate", 17);
  const a = b.input("A", "float32", [M, K]);
  const bData = fill(K * N, 0.02, 2); // [K, N] f32 row-major
  const w = constantB ? b.initializer("B", "float32", [K, N], bData) : b.input("B", "float32", [K, N]);
  b.output(b.op("MatMul", [a, w], "/bench/MatMul"), "float32", [M, N]);
  const { session } = await createSession(serializeModel(b.build()), { providers: ["cpu"], intraOpThreads: THREADS });
  try {
    const feeds: Record<string, OrtTensor> = { A: new Tensor("float32", fill(M * K, 1, 1), [M, K]) };
    if (!constantB) feeds.B = new Tensor("float32", bData, [K, N]);
    const t = await sample(samples, 1, async () => {
      await session.run(feeds);
    });
    const flop = 2 * M * K * N;
    return { wall: mapSummary(t.wall, (x) => flop / x / 1e9), cpu: mapSummary(t.cpu, (x) => flop / x / 1e9) };
  } finally {
    await session.release();
  }
}

type WideStack = {
  layers: number;
  tokens: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab: number;
  gflop: number;
  weightGiB: number;
  modelProtoKiB: number;
  seconds: Summary;
  gflops: Summary;
  gflopsPerCpu: Summary;
  matmulShape: string;
  /** Best of the runs before and after the stack (medians), B a constant initializer and B fed. */
  matmulConstantB: { before: Summary; after: Summary; gflops: number; gflopsPerCpu: number };
  matmulFedB: { before: Summary; after: Summary; gflops: number; gflopsPerCpu: number };
  fractionOfConstantB: number;
  fractionOfConstantBPerCpu: number;
  fractionOfFedB: number;
};

async function wideStack(quick: boolean, samples: number): Promise<WideStack> {
  const layers = quick ? 1 : 3,
    S = quick ? 256 : 512,
    d = 4096,
    H = 32,
    I = 11008,
    V = 4096;
  const spec = wideSpec(layers, d, H, I, V);
  const shapes = shapesOf(spec);
  const shapeOf = (t: string): readonly number[] => shapes.get(t)!;
  const fg = buildLlamaGraph(
    spec,
    { has: (n) => shapes.has(n) },
    { stored: shapeOf, dense: shapeOf },
    scoringForward(S, undefined, { logits: false, nll: true }),
    "(synthetic width-4096 stack)",
  );
  log(`wide stack: ${layers} layer(s), ${S} tokens, filling ${fmt(fg.weights.reduce((a, w) => a + w.shape.reduce((x, y) => x * y, 1), 0) / 1e6)} M weights`);
  const feeds: Record<string, OrtTensor> = {};
  fg.weights.forEach((w, i) => {
    const n = w.shape.reduce((x, y) => x * y, 1);
    const data = w.shape.length === 1 ? new Float32Array(n).fill(1) : fill(n, Math.sqrt(3 / w.shape[1]!), 100 + i);
    feeds[w.input] = new Tensor("float32", data, w.shape);
  });
  const ids = new BigInt64Array(S),
    targets = new BigInt64Array(S);
  for (let i = 0; i < S; i++) {
    ids[i] = BigInt((i * 7919) % V);
    targets[i] = BigInt(((i + 1) * 7919) % V);
  }
  feeds.input_ids = new Tensor("int64", ids, [1, S]);
  feeds.targets = new Tensor("int64", targets, [1, S]);
  const constBefore = await matmulRate(S, d, I, samples, true),
    fedBefore = await matmulRate(S, d, I, samples, false);
  const proto = serializeModel(fg.graph);
  const weightBytes = fg.weights.reduce((a, w) => a + 4 * w.shape.reduce((x, y) => x * y, 1), 0);
  const { session } = await createSession(proto, { providers: ["cpu"], intraOpThreads: THREADS });
  let t: { wall: Summary; cpu: Summary };
  try {
    t = await sample(samples, 1, async () => {
      await session.run(feeds);
    });
  } finally {
    await session.release();
  }
  // useful FLOPs: projections and MLP (2 per multiply-add), causal attention S(S+1)/2 dot products for QK and PV, LM head
  const proj = 2 * S * (4 * d * d + 3 * d * I);
  const attn = (2 * 2 * H * spec.headDim * (S * (S + 1))) / 2;
  const flops = layers * (proj + attn) + 2 * S * d * V;
  const gflops = mapSummary(t.wall, (x) => flops / x / 1e9),
    gflopsPerCpu = mapSummary(t.cpu, (x) => flops / x / 1e9);
  // The machine may be shared: the MatMul rates are measured before and after the stack, the higher median is used.
  const constAfter = await matmulRate(S, d, I, samples, true),
    fedAfter = await matmulRate(S, d, I, samples, false);
  const best = (a: { wall: Summary; cpu: Summary }, b: { wall: Summary; cpu: Summary }) => ({
    before: a.wall,
    after: b.wall,
    gflops: Math.max(a.wall.median, b.wall.median),
    gflopsPerCpu: Math.max(a.cpu.median, b.cpu.median),
  });
  const c = best(constBefore, constAfter),
    f = best(fedBefore, fedAfter);
  return {
    layers,
    tokens: S,
    hidden: d,
    heads: H,
    intermediate: I,
    vocab: V,
    gflop: flops / 1e9,
    weightGiB: weightBytes / 2 ** 30,
    modelProtoKiB: proto.length / 1024,
    seconds: t.wall,
    gflops,
    gflopsPerCpu,
    matmulShape: `[${S},${d}]×[${d},${I}]`,
    matmulConstantB: c,
    matmulFedB: f,
    fractionOfConstantB: gflops.median / c.gflops,
    fractionOfConstantBPerCpu: gflopsPerCpu.median / c.gflopsPerCpu,
    fractionOfFedB: gflops.median / f.gflops,
  };
}

export type EvalBenchResult = {
  ortThreads: number;
  scoring: ScoringRow[] | null;
  skipped?: string;
  examples: { command: string; stdout: string }[];
  llama2c: Llama2c;
  wideStack: WideStack;
};

const tps = (tokens: number, s: Summary): string => `${fmt(tokens / s.median)} (${fmt(tokens / s.max)}–${fmt(tokens / s.min)})`;

/** The eval bench's tables, printed by the run and rendered into README.md (parts: "", "examples"). */
export function evalTables(r: EvalBenchResult): Record<string, string> {
  const lines: string[] = [];
  if (r.scoring) {
    lines.push(
      `Teacher-forced scoring of stories260K-hf, ${r.ortThreads} intra-op threads; tokens/s as median (range) over ${r.scoring[0]?.endToEnd.n ?? 0} samples after a warm-up. Forward-only: the prepared batches through one open session. End to end: \`evaluate\` from opening the checkpoint (tokenizer, tokenizing, graph, session start, scoring).`,
      "",
    );
    lines.push(
      "| text | predicted tokens | forward-only, blocked attention (default) | forward-only, full attention | **end to end** (tokenize → NLL) | end-to-end seconds |",
    );
    lines.push("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (const x of r.scoring)
      lines.push(
        `| ${x.text} | ${fmt(x.tokens)} | ${tps(x.tokens, x.forwardBlocked)} | ${tps(x.tokens, x.forwardFull)} | **${tps(x.tokens, x.endToEnd)}** | ${fmtSummary(x.endToEnd, 3)} |`,
      );
  } else {
    lines.push(`Scoring: ${r.skipped ?? "skipped"}.`);
  }
  lines.push("");
  const l = r.llama2c;
  if (l.measured) {
    const hs = r.scoring?.find((x) => x.text === l.text);
    lines.push(
      `llama2.c scoring the same text with the same protocol in this run (${l.text}; stories260K.bin and tok512.bin, run.c's forward pass one token at a time with its KV cache, compiled with bench/llama2c-score.c against run.c API ${l.api}), end to end per process (start, read checkpoint and tokenizer, tokenize, score), seconds as median (range) after a warm-up:`,
      "",
      "| scorer | threads | predicted tokens | mean NLL | end-to-end seconds | **end-to-end tokens/s** | headshare ÷ llama2.c |",
      "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
      `| llama2.c, ${l.build.label} | ${l.build.threads} | ${fmt(l.build.tokens)} | ${l.build.nll.toFixed(6)} | ${fmtSummary(l.build.seconds, 3)} | ${tps(l.build.tokens, l.build.seconds)} | |`,
      `| headshare \`evaluate\` | 1 intra-op | ${fmt(l.build.tokens)} | ${l.headshareOneThread.nll.toFixed(6)} | ${fmtSummary(l.headshareOneThread.seconds, 3)} | **${tps(l.build.tokens, l.headshareOneThread.seconds)}** | **${fmt(l.ratioOneThread, 2)}×** |`,
      ...(hs
        ? [
            `| headshare \`evaluate\` (the table above) | ${r.ortThreads} intra-op | ${fmt(hs.tokens)} | ${hs.nll !== undefined ? hs.nll.toFixed(6) : "—"} | ${fmtSummary(hs.endToEnd, 3)} | ${tps(hs.tokens, hs.endToEnd)} | ${fmt(l.ratio, 2)}× |`,
          ]
        : []),
      "",
      `The mean NLLs of headshare and llama2.c differ by ${l.nllDifference.toExponential(1)} nats/token (independent forward passes and tokenizers on the same text). llama2.c's OpenMP build is not measured (bench/llama2c.ts says why).`,
    );
  } else
    lines.push(
      `llama2.c was not run (${l.reason ?? `${LLAMA2C_ENV} was not set`}); \`${LLAMA2C_ENV}=<llama2.c checkout> npm run bench -- --only eval\` scores the same text with llama2.c's run.c in the same run and divides by it. For scale only: ${fmt(l.tokensPerSecond)} tokens/s for llama2.c run.c **generating** (other work: one token at a time, no teacher forcing) is **external, from ${l.source}**; nothing above is divided by it.`,
    );
  const w = r.wideStack;
  lines.push(
    "",
    `Forward pass of ${w.layers} synthetic Llama layer${w.layers === 1 ? "" : "s"} of width ${w.hidden} (${w.heads} heads, SwiGLU ${w.intermediate}, vocabulary ${w.vocab}), ${w.tokens} tokens, ${fmt(w.weightGiB, 2)} GiB of float32 weights fed as graph inputs (protobuf's limit is 2 GiB), ${fmt(w.gflop, 1)} GFLOP of useful work, against ORT MatMul ${w.matmulShape} measured before and after the stack (the better median):`,
    "",
  );
  lines.push("| measured | GFLOP/s, median (range) | stack ÷ it |", "| --- | ---: | ---: |");
  lines.push(`| the layer stack (${fmtSummary(w.seconds, 3, " s")}) | **${fmt(w.gflops.median, 1)}** (${fmt(w.gflops.min, 1)}–${fmt(w.gflops.max, 1)}) | |`);
  lines.push(
    `| MatMul, B a constant initializer (ORT may pre-pack it: the best rate for this shape) | ${fmt(w.matmulConstantB.gflops, 1)} | **${fmt(100 * w.fractionOfConstantB, 1)} %** (per CPU-second ${fmt(100 * w.fractionOfConstantBPerCpu, 1)} %) |`,
  );
  lines.push(`| MatMul, B fed at run time (as the stack's weights are) | ${fmt(w.matmulFedB.gflops, 1)} | ${fmt(100 * w.fractionOfFedB, 1)} % |`);
  return {
    "": lines.join("\n"),
    examples: r.examples.length
      ? r.examples.map((e) => "```\n" + `${e.command}\n${e.stdout}` + "\n```").join("\n\n")
      : "_The examples need ../shared (stories260K-hf and the TinyStories excerpt)._",
  };
}

export const evalBench: Bench = {
  name: "eval",
  readme: (result) => evalTables(result as EvalBenchResult),
  async run(opts: BenchOptions): Promise<EvalBenchResult> {
    const samples = opts.quick ? 3 : 7;
    const shared = sharedRoot("models/stories260K-hf");
    const l2cPrep = prepareLlama2c(sharedRoot("models/stories260K"), opts.cacheDir);
    let scoring: ScoringRow[] | null = null,
      skipped: string | undefined;
    if (shared) scoring = await storiesThroughput(shared, samples);
    else skipped = "skipped: ../shared/models/stories260K-hf is not present (set HEADSHARE_SHARED_DIR)";
    log("running the CLI examples");
    const ex = shared ? examples(shared, opts.quick) : [];
    const tinyRow = scoring?.find((x) => x.text === TINY.label);
    const l2c: Llama2c =
      "build" in l2cPrep
        ? tinyRow
          ? await measureLlama2c(l2cPrep, sharedRoot("models/stories260K")!, tinyRow, samples)
          : { measured: false, reason: "headshare's scoring was skipped", ...LLAMA2C_EXTERNAL }
        : l2cPrep;
    log("wide stack");
    const wide = await wideStack(opts.quick, opts.quick ? 2 : 3);
    const r: EvalBenchResult = { ortThreads: THREADS, scoring, ...(skipped ? { skipped } : {}), examples: ex, llama2c: l2c, wideStack: wide };
    const t = evalTables(r);
    console.log(t[""]);
    console.log("\n" + t.examples);
    return r;
  },
};
