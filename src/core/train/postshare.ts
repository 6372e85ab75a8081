/**
 * PostShare (method.md §5, paper §4): match and plan on the pre-trained weights, post-train with
 *   loss = λ_lm · LM + λ_w · (1/N) · Σ_targets Σ_{p∈regularize} ‖W_p(target) − W_p(root)‖_F
 * then DirectShare with the same plan on the post-trained weights, and report held-out metrics of
 * the original model, DirectShare at the same ratio, and PostShare. `regularize` defaults to
 * q, k, v, o (the paper pulls q, k, v only; the final share also swaps o — docs/training.md).
 *
 *   ckpt ─► match table ─► plan(α) ─┬─► DirectShare(original) ─► held-out nll
 *                                   └─► pairs ─► train graph ─► AdamW steps ─► post-trained
 *                                                   ─► DirectShare(post-trained) ─► held-out nll, KL ─► out dir
 */
import fs from "node:fs/promises";
import path from "node:path";
import { bosId, loadTokenizer } from "../eval/tokenizer";
import { openCheckpoint, type Checkpoint } from "../model/checkpoint";
import { computeMatchTable } from "../share/match";
import { planSharing } from "../share/plan";
import { writeShared } from "../share/write";
import type { MatchTable, SharingPlan } from "../share/types";
import { BlockSampler, loadTextData, type BatchSource, type TokenizedData } from "./data";
import { asTrainError, TrainError } from "./errors";
import { optimizerOptions, resolvePostShareOptions, type POSTSHARE_DEFAULTS, type PostShareOptions } from "./postshareOptions";
import type { ProviderName } from "../runtime/ort";
import { trainingForward, NLL } from "./forward";
import { compareLogprobs, HeldoutScorer, type HeldoutScore } from "./heldout";
import { applyPlanInMemory, meanRelativeDistance, pairsFromPlan } from "./pairs";
import { writeTrainedFiles } from "./save";
import { addLiveStaging, checkNotLocked, checkOutputPath, removeLiveStaging, tempPathFor, type WaitingPhase } from "../output";
import { buildTrainGraph, type TrainGraph } from "./trainGraph";
import { runTraining, Trainer, type StepEvent, type TrainLoopOptions, type TrainRunResult } from "./trainer";
import { sampleSequences } from "./sample";

export { POSTSHARE_DEFAULTS, POSTSHARE_PAPER, resolvePostShareOptions, validatePostShareOptions, type PostShareOptions } from "./postshareOptions";
export type { Projection } from "../model/types";

export interface PostShareProgress {
  /** `waiting for …`: another live run writes the output folder and this one waits for it (`wait`). */
  readonly phase: "load" | "match" | "evaluate" | "sample" | "train" | "write" | WaitingPhase;
  readonly done: number;
  readonly total: number;
  readonly message?: string;
  readonly step?: StepEvent;
}

import type { LossCurveRow, PostShareResult, PostShareScores } from "./results";
export type { LossCurveRow, PostShareResult, PostShareScores };

export interface PostShareHooks {
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: PostShareProgress) => void;
}

/** The progress of one training step (postshare, and a job run here): `step 3/40 lm 2.1234 weight 0.0123`. */
export function trainStepProgress(e: StepEvent): PostShareProgress {
  return { phase: "train", done: e.step, total: e.steps, step: e, message: `step ${e.step}/${e.steps} lm ${e.lm.toFixed(4)} weight ${e.weight.toFixed(4)}` };
}

/**
 * Trains `params` in place (postshare, and a job run here): a trainer on the training graph, the loop
 * with the hooks' cancel signal and step progress, the trainer released however the loop ends.
 */
export async function trainWithProgress(
  tg: TrainGraph,
  params: Map<string, Float32Array>,
  rt: Parameters<typeof Trainer.create>[3],
  sampler: BatchSource,
  loop: TrainLoopOptions,
  hooks: PostShareHooks,
): Promise<TrainRunResult> {
  const trainer = await Trainer.create(tg.graph, tg.gradOutputs, params, rt);
  try {
    return await runTraining(trainer, sampler, loop, {
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      onStep: (e) => hooks.onProgress?.(trainStepProgress(e)),
    });
  } finally {
    await trainer.release();
  }
}

/** The options with POSTSHARE_DEFAULTS filled in, after validation. */
export type ResolvedPostShareOptions = typeof POSTSHARE_DEFAULTS & PostShareOptions;

/**
 * PostShare's first steps, shared with the job exporter: the text tokenized (documents, held-out
 * split, BOS from the tokenizer or the config), then the match table and plan on the pre-trained weights.
 */
export async function textAndPlan(
  ckpt: Checkpoint,
  o: ResolvedPostShareOptions,
  rt: { providers?: readonly ProviderName[] | "auto"; intraOpThreads?: number },
  hooks: PostShareHooks,
): Promise<{ bos: number | undefined; data: TokenizedData; table: MatchTable; plan: SharingPlan }> {
  const progress = (p: PostShareProgress): void => hooks.onProgress?.(p);
  const check = (): void => {
    if (hooks.signal?.aborted) throw new TrainError("cancelled", "postshare cancelled");
  };
  const tok = await loadTokenizer(ckpt.dir);
  const bos = bosId(ckpt.spec, tok);
  const encode = (text: string): number[] => (bos !== undefined ? [bos, ...tok.encode(text)] : tok.encode(text));
  const data = await loadTextData(o.text, encode, {
    ...(o.heldout ? { heldoutFiles: o.heldout } : {}),
    ...(o.heldoutDocs ? { heldoutDocs: o.heldoutDocs } : {}),
  });
  check();
  progress({ phase: "match", done: 0, total: 1, message: "match table and plan on the pre-trained weights" });
  const table = await computeMatchTable(ckpt, { strategy: o.strategy, granularity: o.granularity, ...rt, ...(hooks.signal ? { signal: hooks.signal } : {}) });
  const plan = planSharing(table, o.ratio);
  progress({ phase: "match", done: 1, total: 1, message: `${plan.selected} units selected` });
  check();
  return { bos, data, table, plan };
}

/**
 * The post-training token stream — the text's stream and/or sequences sampled from the original
 * model (`trainOn`) — and the seeded block sampler over it. Batch k is a function of (stream, seed, k).
 */
export async function postTrainingData(
  ckpt: Checkpoint,
  original: ReadonlyMap<string, Float32Array>,
  textStream: Int32Array,
  o: ResolvedPostShareOptions,
  bos: number | undefined,
  rt: { providers?: readonly ProviderName[] | "auto"; intraOpThreads?: number },
  hooks: PostShareHooks,
): Promise<{ stream: Int32Array; sampler: BlockSampler }> {
  const progress = (p: PostShareProgress): void => hooks.onProgress?.(p);
  const parts: Int32Array[] = o.trainOn === "sampled" ? [] : [textStream];
  if (o.trainOn !== "text") {
    const batch = Math.min(64, o.sampleSequences),
      rounds = Math.ceil(o.sampleSequences / batch);
    progress({ phase: "sample", done: 0, total: rounds, message: `sampling ${rounds * batch} sequences of ${o.sampleLength} tokens from the original model` });
    const seqs = await sampleSequences(ckpt, original, {
      batch,
      rounds,
      length: Math.min(o.sampleLength, ckpt.spec.maxPositions),
      temperature: o.sampleTemperature,
      seed: o.seed,
      bos: bos ?? 0,
      ...rt,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      onProgress: (done, total) => progress({ phase: "sample", done, total }),
    });
    parts.push(...seqs);
  }
  const stream = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => {
    stream.set(p, at);
    return at + p.length;
  }, 0);
  return { stream, sampler: new BlockSampler(stream, o.batchSize, Math.min(o.seqLen, ckpt.spec.maxPositions), o.seed) };
}

/** The graph inputs that train: every weight, or only the attention projections and their biases. */
export function trainableInputs(ckpt: Checkpoint, weights: readonly { input: string; tensor: string }[], which: "all" | "attention"): string[] {
  const attention = new Set(ckpt.spec.layerTensors.flatMap((l) => [l.q, l.k, l.v, l.o, l.qBias, l.kBias, l.vBias, l.oBias].filter((x): x is string => !!x)));
  return weights.filter((w) => which === "all" || attention.has(w.tensor)).map((w) => w.input);
}

export async function loadParams(ckpt: Checkpoint, inputs: readonly { input: string; tensor: string }[]): Promise<Map<string, Float32Array>> {
  const m = new Map<string, Float32Array>();
  for (const w of inputs) m.set(w.input, await ckpt.source.readF32(w.tensor));
  return m;
}

export async function postShare(model: string, opts: PostShareOptions, hooks: PostShareHooks = {}): Promise<PostShareResult> {
  const o = resolvePostShareOptions(opts);
  const t0 = performance.now();
  const progress = (p: PostShareProgress): void => hooks.onProgress?.(p);
  const check = (): void => {
    if (hooks.signal?.aborted) throw new TrainError("cancelled", "postshare cancelled");
  };
  const threads = o.intraOpThreads;
  const rt = { ...(o.providers ? { providers: o.providers } : {}), ...(threads ? { intraOpThreads: threads } : {}) };

  progress({ phase: "load", done: 0, total: 1, message: `opening ${model}` });
  const ckpt = await openCheckpoint(model);
  try {
    if (o.outDir) {
      await checkPostSharedOut(ckpt, o.outDir, !!o.force, o.wait);
    }
    const { bos, data, plan } = await textAndPlan(ckpt, o, rt, hooks);

    const fwd = trainingForward(ckpt);
    const shapeOf = (t: string): readonly number[] => ckpt.source.info(t).shape;
    const original = await loadParams(ckpt, fwd.weights);
    const pairs = pairsFromPlan(ckpt.spec, plan, o.regularize);
    const before = meanRelativeDistance(pairs, original, shapeOf);

    progress({ phase: "evaluate", done: 0, total: 2, message: "held-out: original and DirectShare" });
    const scorer = await HeldoutScorer.create(ckpt, { withLogprobs: true, ...rt });
    let result: PostShareResult;
    try {
      const origScore = await scorer.score(original, data.heldout, hooks.signal);
      const directParams = applyPlanInMemory(ckpt.spec, plan, original, shapeOf);
      const directScore = await scorer.score(directParams, data.heldout, hooks.signal);
      const directVsOrig = compareLogprobs(origScore.logprobs!, directScore.logprobs!, ckpt.spec.vocab);
      progress({ phase: "evaluate", done: 2, total: 2 });
      check();

      const { stream, sampler } = await postTrainingData(ckpt, original, data.stream, o, bos, rt, hooks);
      const trainable = trainableInputs(ckpt, fwd.weights, o.trainable);
      const tg = buildTrainGraph(fwd.graph, {
        nll: NLL,
        trainable,
        lambdaLm: o.lambdaLm,
        lambdaW: o.lambdaW,
        weightLoss: o.weightLoss,
        pairs,
        targets: plan.selected,
      });
      const params = new Map<string, Float32Array>([...original].map(([k, v]) => [k, Float32Array.from(v)]));
      const run = await trainWithProgress(
        tg,
        params,
        { ...rt, fit: { ckpt, batch: sampler.batchSize, seq: sampler.seqLen } },
        sampler,
        {
          steps: o.steps,
          accumulation: o.accumulation,
          ...optimizerOptions(o),
          ...(o.checkpointFile ? { checkpointFile: o.checkpointFile } : {}),
          ...(o.checkpointEvery ? { checkpointEvery: o.checkpointEvery } : {}),
          ...(o.resumeFrom ? { resumeFrom: o.resumeFrom } : {}),
        },
        hooks,
      );
      check();

      progress({ phase: "evaluate", done: 0, total: 2, message: "held-out: post-trained and PostShare" });
      const after = meanRelativeDistance(pairs, params, shapeOf);
      const postTrained = await scorer.score(params, data.heldout, hooks.signal);
      const shared = applyPlanInMemory(ckpt.spec, plan, params, shapeOf);
      const postScore = await scorer.score(shared, data.heldout, hooks.signal);
      const finalShare = compareLogprobs(postTrained.logprobs!, postScore.logprobs!, ckpt.spec.vocab);
      progress({ phase: "evaluate", done: 2, total: 2 });

      let outDir: string | undefined;
      if (o.outDir) {
        progress({ phase: "write", done: 0, total: 1, message: `writing ${o.outDir}` });
        outDir = await writePostShared(
          ckpt,
          fwd.weights,
          params,
          plan,
          o.outDir,
          o.format ?? "compact",
          !!o.force,
          o.wait,
          {
            "headshare.postshare": JSON.stringify({
              ratio: o.ratio,
              strategy: o.strategy,
              granularity: o.granularity,
              steps: o.steps,
              selected: plan.selected,
            }),
          },
          hooks.signal,
          (phase) => progress({ phase, done: 0, total: 1 }),
        );
        progress({ phase: "write", done: 1, total: 1 });
      }
      const strip = (s: HeldoutScore): HeldoutScore => ({ nll: s.nll, ppl: s.ppl, tokens: s.tokens, documents: s.documents });
      const trainSeconds = run.seconds;
      result = {
        model: ckpt.dir,
        ratio: o.ratio,
        strategy: o.strategy,
        granularity: o.granularity,
        selected: plan.selected,
        plan,
        original: strip(origScore),
        directShare: strip(directScore),
        postTrained: strip(postTrained),
        postShare: strip(postScore),
        lossCurve: run.curve.map((e) => ({
          step: e.step,
          lm: e.lm,
          weight: e.weight,
          lr: e.lr,
          loss: e.loss,
          gradNorm: e.gradNorm,
          tokensPerSecond: e.tokensPerSecond,
        })),
        meanRelativePairDistance: { before, after },
        finalShare,
        directShareVsOriginal: directVsOrig,
        steps: o.steps,
        tokens: run.tokens,
        trainSeconds,
        tokensPerSecond: run.tokens / Math.max(trainSeconds, 1e-9),
        seconds: (performance.now() - t0) / 1000,
        provider: run.provider,
        heldoutDocuments: data.heldout.length,
        trainDocuments: data.train.length,
        options: {
          preset: o.preset ?? "default",
          steps: o.steps,
          lr: o.lr,
          warmupSteps: o.warmupSteps,
          minLrRatio: o.minLrRatio,
          beta1: o.beta1,
          beta2: o.beta2,
          eps: o.eps,
          weightDecay: o.weightDecay,
          clipNorm: o.clipNorm,
          lambdaLm: o.lambdaLm,
          lambdaW: o.lambdaW,
          weightLoss: o.weightLoss,
          regularize: o.regularize,
          trainOn: o.trainOn,
          sampleSequences: o.trainOn === "text" ? 0 : Math.ceil(o.sampleSequences / Math.min(64, o.sampleSequences)) * Math.min(64, o.sampleSequences),
          sampleLength: o.sampleLength,
          sampleTemperature: o.sampleTemperature,
          trainTokens: stream.length,
          batchSize: o.batchSize,
          seqLen: sampler.seqLen,
          accumulation: o.accumulation,
          seed: o.seed,
          trainable: o.trainable,
        },
        ...(outDir ? { outDir } : {}),
      };
    } finally {
      await scorer.release();
    }
    return result;
  } finally {
    await ckpt.close();
  }
}

/**
 * The post-shared output's rules up front, before the training or evaluation that precedes the write:
 * not the input, an existing writable parent, empty unless force; and, without wait, not being written
 * by another live run (its lock is taken when the writing starts, so this refuses early, not instead).
 */
export async function checkPostSharedOut(ckpt: Checkpoint, outDir: string, force: boolean, wait: boolean | number | undefined): Promise<void> {
  await asTrainError(async () => {
    const { out } = await checkOutputPath(outDir, { inputs: [ckpt.dir], force, what: "the post-shared checkpoint" });
    if (!wait) await checkNotLocked(out);
  });
}

/**
 * The post-trained weights go to a temporary folder beside `outDir` (unshared, every tensor in the
 * input's dtype), then DirectShare's writer shares them with the plan into `outDir` (compact or
 * dense, atomic), and the temporary folder is removed.
 */
export async function writePostShared(
  ckpt: Checkpoint,
  weights: readonly { input: string; tensor: string }[],
  params: ReadonlyMap<string, Float32Array>,
  plan: SharingPlan,
  outDir: string,
  format: "compact" | "dense",
  force: boolean,
  wait: boolean | number | undefined,
  metadata: Record<string, string>,
  signal?: AbortSignal,
  onWait?: (phase: WaitingPhase) => void,
): Promise<string> {
  const out = path.resolve(outDir);
  // Refused before the trained weights are written (writeShared checks again under its lock).
  await asTrainError(() => checkOutputPath(out, { inputs: [ckpt.dir], force, what: "the post-shared checkpoint" }));
  // The unshared trained weights: a temporary folder of this run beside the output (removed after; a killed run's is cleaned by the next).
  const tmp = tempPathFor(path.join(path.dirname(out), `${path.basename(out)}.posttrained`));
  addLiveStaging(tmp);
  await fs.mkdir(tmp);
  try {
    const byTensor = new Map(weights.map((w) => [w.tensor, params.get(w.input)!]));
    await writeTrainedFiles(ckpt, byTensor, tmp, metadata);
    const trained = await openCheckpoint(tmp);
    try {
      await writeShared(trained, plan, {
        format,
        outDir: out,
        force,
        ...(wait !== undefined ? { wait } : {}),
        ...(signal ? { signal } : {}),
        ...(onWait ? { onWait } : {}),
      });
    } finally {
      await trained.close();
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
    removeLiveStaging(tmp);
  }
  return out;
}
