/**
 * PostShare's options, their defaults and the one set of rules that checks them. Pure (no model,
 * no onnxruntime): the worker protocol's `headshare/postshare` params schema runs the same check.
 */
import { GRANULARITIES, PROJECTIONS, type Granularity, type Projection } from "../model/types";
import type { ProviderName } from "../runtime/ort";
import { STRATEGIES, type Strategy } from "../share/types";
import { TrainError } from "./errors";
import { DEFAULT_OPTIMIZER } from "./optimizer";

/** Choices of the enumerated options (the worker protocol's schema takes its enums from here). */
export const WEIGHT_LOSSES = ["l2", "mse"] as const;
export const TRAIN_ON = ["text", "sampled", "both"] as const;
export const TRAINABLE = ["all", "attention"] as const;
export const OUTPUT_FORMATS = ["compact", "dense"] as const;

export const PRESETS = ["default", "paper"] as const;

export interface PostShareOptions {
  readonly ratio: number;
  /**
   * Where options left out come from: "default" (POSTSHARE_DEFAULTS, tuned for small models) or
   * "paper" (method.md §5 exactly: POSTSHARE_DEFAULTS overridden by POSTSHARE_PAPER). Options given
   * explicitly win over either.
   */
  readonly preset?: (typeof PRESETS)[number];
  readonly strategy?: Strategy;
  readonly granularity?: Granularity;
  /** Post-training text files. */
  readonly text: readonly string[];
  /** Held-out text files; otherwise the last `heldoutDocs` documents (or 20 %) of `text`. */
  readonly heldout?: readonly string[];
  readonly heldoutDocs?: number;
  readonly steps?: number;
  readonly lr?: number;
  readonly warmupSteps?: number;
  readonly minLrRatio?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  readonly clipNorm?: number;
  readonly lambdaLm?: number;
  readonly lambdaW?: number;
  readonly weightLoss?: (typeof WEIGHT_LOSSES)[number];
  /**
   * Projections the weight loss pulls together. Default q, k, v, o: the final share also gives each
   * target its root's o columns, so o is pulled too; `["q","k","v"]` is the paper's loss.
   */
  readonly regularize?: readonly Projection[];
  /** What to post-train on: the text, sequences sampled from the original model, or both (default). */
  readonly trainOn?: (typeof TRAIN_ON)[number];
  /** Sampled sequences (BOS + sampleLength − 1 tokens each) and their temperature. */
  readonly sampleSequences?: number;
  readonly sampleLength?: number;
  readonly sampleTemperature?: number;
  readonly batchSize?: number;
  readonly seqLen?: number;
  readonly accumulation?: number;
  readonly seed?: number;
  /** Which weights train: every weight, or only the attention projections. */
  readonly trainable?: (typeof TRAINABLE)[number];
  /** Write the PostShare model here (DirectShare of the post-trained weights); omitted: metrics only. */
  readonly outDir?: string;
  /** Output layout (default compact: only stored units' slices; dense: ordinary HF shapes). */
  readonly format?: (typeof OUTPUT_FORMATS)[number];
  readonly force?: boolean;
  /** Another writer holds the output folder's lock: wait for it (true, or at most this many ms) instead of refusing. */
  readonly wait?: boolean | number;
  readonly checkpointFile?: string;
  readonly checkpointEvery?: number;
  readonly resumeFrom?: string;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly intraOpThreads?: number;
}

/**
 * Defaults that work on stories260K (the postshare bench measures them against the paper's: its
 * table is in README.md and docs/training.md). The paper's lr 5e-5 / λ_w 0.5 barely moves a
 * 260 k-parameter model in minutes: its pairs start far apart (mean relative distance above 1), so
 * the pull must dominate (λ_w 5) and the learning rate must be large enough to close it (2e-3,
 * cosine to 2e-5). Training only the attention projections on text sampled from the original model
 * plus the given text keeps the post-trained model from memorising a small text. The weight loss
 * pulls o as well as q, k, v: with the paper's q, k, v only, the final share's swap of the
 * unregularised o columns undoes the post-training (the bench's "paper's loss" row).
 */
export const POSTSHARE_DEFAULTS = {
  strategy: "qk" as Strategy,
  granularity: "group" as Granularity,
  steps: 800,
  lr: 2e-3,
  warmupSteps: 20,
  minLrRatio: 0.01,
  beta1: DEFAULT_OPTIMIZER.beta1,
  beta2: DEFAULT_OPTIMIZER.beta2,
  eps: DEFAULT_OPTIMIZER.eps,
  weightDecay: 0,
  clipNorm: 1,
  lambdaLm: 0.5,
  lambdaW: 5,
  weightLoss: "l2" as const,
  regularize: ["q", "k", "v", "o"] as readonly Projection[],
  trainOn: "both" as "text" | "sampled" | "both",
  sampleSequences: 512,
  sampleLength: 128,
  sampleTemperature: 1,
  batchSize: 8,
  seqLen: 128,
  accumulation: 1,
  seed: 1,
  trainable: "attention" as "all" | "attention",
};

/**
 * method.md §5 (the paper's reference code): λ_lm = λ_w = 0.5, the unsquared Frobenius norm over q, k,
 * v, AdamW β 0.9/0.95, ε 1e-8, weight decay 0.1, lr 5e-5 with cosine decay (no warm-up, to 0), clipping
 * 1.0, the dense model (every weight) post-trained on the given text. Steps, batch and sequence length
 * are not fixed by §5 and keep POSTSHARE_DEFAULTS. docs/method.md tables both presets and why they differ.
 */
export const POSTSHARE_PAPER = {
  lr: 5e-5,
  warmupSteps: 0,
  minLrRatio: 0,
  beta1: 0.9,
  beta2: 0.95,
  eps: 1e-8,
  weightDecay: 0.1,
  clipNorm: 1,
  lambdaLm: 0.5,
  lambdaW: 0.5,
  weightLoss: "l2" as const,
  regularize: ["q", "k", "v"] as readonly Projection[],
  trainOn: "text" as "text" | "sampled" | "both",
  trainable: "all" as "all" | "attention",
} satisfies Partial<typeof POSTSHARE_DEFAULTS>;

/** Integer options: [flag, lowest, highest]. */
const INTEGER_OPTIONS: readonly (readonly [keyof PostShareOptions, string, number, number])[] = [
  ["steps", "steps", 1, 10_000_000],
  ["warmupSteps", "warmup-steps", 0, 10_000_000],
  ["batchSize", "batch-size", 1, 1 << 16],
  ["seqLen", "seq-len", 2, 1 << 20],
  ["accumulation", "accumulation", 1, 1 << 16],
  ["heldoutDocs", "heldout-docs", 1, 10_000_000],
  ["sampleSequences", "sample-sequences", 1, 1_000_000],
  ["sampleLength", "sample-length", 2, 1 << 20],
  ["checkpointEvery", "checkpoint-every", 1, Number.MAX_SAFE_INTEGER],
  ["seed", "seed", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
];
const CHOICES: readonly (readonly [keyof PostShareOptions, string, readonly string[]])[] = [
  ["preset", "preset", PRESETS],
  ["trainOn", "train-on", TRAIN_ON],
  ["format", "format", OUTPUT_FORMATS],
  ["weightLoss", "weight-loss", WEIGHT_LOSSES],
  ["trainable", "trainable", TRAINABLE],
  ["strategy", "strategy", STRATEGIES],
  ["granularity", "granularity", GRANULARITIES],
];
/** Most text files one run reads (post-training and held-out each). */
const MAX_TEXT_FILES = 1000;

/**
 * Checks PostShare options up front (the worker's `headshare/postshare` params schema runs this
 * too: the rules live only here). Throws TrainError("bad-options") naming the CLI flag.
 */
export function validatePostShareOptions(o: PostShareOptions): void {
  const bad = (m: string): never => {
    throw new TrainError("bad-options", `postshare: ${m}`);
  };
  if (!(typeof o.ratio === "number" && o.ratio > 0 && o.ratio < 1)) bad(`--ratio must be a number in (0, 1), got ${o.ratio}`);
  if (!Array.isArray(o.text) || o.text.length === 0) bad("give at least one post-training text file (--text FILE)");
  if (o.text.length > MAX_TEXT_FILES) bad(`at most ${MAX_TEXT_FILES} --text files, got ${o.text.length}`);
  if (o.heldout !== undefined && (!Array.isArray(o.heldout) || o.heldout.length === 0 || o.heldout.length > MAX_TEXT_FILES))
    bad(`--heldout must name 1 to ${MAX_TEXT_FILES} files`);
  for (const [k, flag, lo, hi] of INTEGER_OPTIONS) {
    const v = o[k];
    if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi))
      bad(`--${flag} must be an integer in [${lo}, ${hi}], got ${String(v)}`);
  }
  for (const [k, flag, choices] of CHOICES) {
    const v = o[k];
    if (v !== undefined && !choices.includes(v as string)) bad(`--${flag} must be ${choices.slice(0, -1).join(", ")} or ${choices.at(-1)}, got ${String(v)}`);
  }
  if (o.sampleTemperature !== undefined && !(o.sampleTemperature > 0 && o.sampleTemperature <= 100))
    bad(`--sample-temperature must be in (0, 100], got ${o.sampleTemperature}`);
  if (o.lr !== undefined && !(typeof o.lr === "number" && o.lr > 0 && Number.isFinite(o.lr))) bad(`--lr must be a positive number, got ${o.lr}`);
  for (const [k, v] of [
    ["beta1", o.beta1],
    ["beta2", o.beta2],
  ] as const)
    if (v !== undefined && !(v >= 0 && v < 1)) bad(`--${k} must be in [0, 1), got ${v}`);
  if (o.eps !== undefined && !(o.eps > 0 && Number.isFinite(o.eps))) bad(`--eps must be > 0, got ${o.eps}`);
  if (o.weightDecay !== undefined && !(o.weightDecay >= 0 && Number.isFinite(o.weightDecay))) bad(`--weight-decay must be ≥ 0, got ${o.weightDecay}`);
  if (o.clipNorm !== undefined && !(o.clipNorm >= 0 && Number.isFinite(o.clipNorm))) bad(`--clip-norm must be ≥ 0 (0 = no clipping), got ${o.clipNorm}`);
  if (o.minLrRatio !== undefined && !(o.minLrRatio >= 0 && o.minLrRatio <= 1))
    bad(`--min-lr-ratio must be in [0, 1] (the final learning rate ÷ --lr), got ${o.minLrRatio}`);
  for (const [k, v] of [
    ["lambda-lm", o.lambdaLm],
    ["lambda-w", o.lambdaW],
  ] as const)
    if (v !== undefined && !(v >= 0 && Number.isFinite(v))) bad(`--${k} must be ≥ 0, got ${v}`);
  if (o.lambdaLm === 0 && o.lambdaW === 0) bad("--lambda-lm and --lambda-w are both 0: nothing to train");
  if (
    o.regularize !== undefined &&
    (!Array.isArray(o.regularize) ||
      o.regularize.length === 0 ||
      o.regularize.some((p) => !PROJECTIONS.includes(p)) ||
      new Set(o.regularize).size !== o.regularize.length)
  ) {
    bad(`--regularize must list some of q, k, v, o, each once (e.g. q,k,v,o; q,k,v is the paper's loss), got ${JSON.stringify(o.regularize)}`);
  }
  if (o.wait !== undefined && typeof o.wait !== "boolean" && !(Number.isInteger(o.wait) && o.wait >= 0))
    bad(`--wait must be true, false or a whole number of milliseconds ≥ 0, got ${String(o.wait)}`);
  for (const [k, v] of [
    ["checkpoint", o.checkpointFile],
    ["resume", o.resumeFrom],
  ] as const)
    if (v !== undefined && (typeof v !== "string" || v.length === 0)) bad(`--${k} must be a file path, got ${JSON.stringify(v)}`);
}

/** The options a run uses: POSTSHARE_DEFAULTS, then the preset's values, then every option given (validated). */
export function resolvePostShareOptions(opts: PostShareOptions): typeof POSTSHARE_DEFAULTS & PostShareOptions {
  validatePostShareOptions(opts);
  const preset = opts.preset === "paper" ? POSTSHARE_PAPER : {};
  return { ...POSTSHARE_DEFAULTS, ...preset, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as typeof POSTSHARE_DEFAULTS &
    PostShareOptions;
}

/** The AdamW and schedule options of a resolved run, as the trainer (and a job's train.py) take them; warm-up capped at the steps. */
export function optimizerOptions(o: typeof POSTSHARE_DEFAULTS) {
  return {
    lr: o.lr,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    weightDecay: o.weightDecay,
    warmupSteps: Math.min(o.warmupSteps, o.steps),
    minLrRatio: o.minLrRatio,
    clipNorm: o.clipNorm,
  };
}
