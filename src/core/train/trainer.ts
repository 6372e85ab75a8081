/**
 * The training loop: one ORT session runs the training graph (forward + losses + backward) per
 * micro-batch; gradients are accumulated in JS, clipped by global norm and applied with AdamW.
 * Progress events per optimizer step; cancellable between micro-batches; resumable checkpoints
 * (trainable weights + AdamW moments + step) written atomically as safetensors.
 *
 *   for step in [start, steps):
 *     for micro in [0, accumulation):  run(weights, batch(step·acc + micro)) → loss, lm, weight, grad/*
 *     g ← Σ grads / acc;  scale ← min(1, clip / ‖g‖);  AdamW(lr(step), scale)
 */
import path from "node:path";
import type { IrGraph } from "../onnx/ir";
import { serializeModel } from "../onnx/serialize";
import { createSession, Tensor, type InferenceSession, type OrtTensor, type ProviderName } from "../runtime/ort";
import { openSafetensors } from "../safetensors/reader";
import { writeSafetensors } from "../safetensors/writer";
import type { BatchSource } from "./data";
import { TrainError } from "./errors";
import { AdamW, globalNorm, learningRate, validateOptimizer, type OptimizerOptions } from "./optimizer";
import { LM_LOSS, LOSS, WEIGHT_LOSS } from "./trainGraph";
import type { Checkpoint } from "../model/checkpoint";
import { providerLimits } from "../runtime/gpuLimits";
import { checkTrainingGpu } from "./gpuFit";

export interface TrainLoopOptions extends OptimizerOptions {
  readonly steps: number;
  /** Micro-batches per optimizer step. */
  readonly accumulation: number;
  /** Write a resumable checkpoint here every `checkpointEvery` steps and at the end (optional). */
  readonly checkpointFile?: string;
  readonly checkpointEvery?: number;
  /** Resume from a checkpoint written by an earlier run with the same parameters. */
  readonly resumeFrom?: string;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly intraOpThreads?: number;
}

export interface StepEvent {
  readonly step: number; // 1-based: optimizer steps done
  readonly steps: number;
  readonly loss: number;
  readonly lm: number;
  readonly weight: number;
  readonly lr: number;
  readonly gradNorm: number;
  readonly tokensPerSecond: number;
  readonly seconds: number;
}

export interface TrainRunHooks {
  readonly signal?: AbortSignal;
  readonly onStep?: (e: StepEvent) => void;
}

export interface TrainRunResult {
  readonly curve: StepEvent[];
  readonly provider: ProviderName;
  readonly startStep: number;
  readonly seconds: number;
  readonly tokens: number;
}

const CKPT_KEY = "headshare.train";

/** The trainable/frozen weights and the session that trains them. */
export class Trainer {
  private constructor(
    readonly session: InferenceSession,
    readonly provider: ProviderName,
    readonly params: Map<string, Float32Array>,
    readonly shapes: Map<string, readonly number[]>,
    readonly trainable: readonly string[],
    readonly gradOutputs: Readonly<Record<string, string>>,
  ) {}

  /** `params`: every float input of the graph (weights), by input name; the trainer updates the trainable ones in place. */
  static async create(
    graph: IrGraph,
    gradOutputs: Readonly<Record<string, string>>,
    params: Map<string, Float32Array>,
    opts: {
      providers?: readonly ProviderName[] | "auto";
      intraOpThreads?: number;
      /** The model and micro-batch trained: on a GPU with buffer limits, checked before the first step (gpuFit.ts). */
      fit?: { readonly ckpt: Checkpoint; readonly batch: number; readonly seq: number };
    } = {},
  ): Promise<Trainer> {
    const shapes = new Map<string, readonly number[]>();
    for (const inp of graph.inputs) {
      if (inp.type !== "float32") continue;
      const w = params.get(inp.name);
      if (!w) throw new TrainError("bad-options", `trainer: no values for weight input "${inp.name}"`);
      const dims = inp.shape.map((d) => (typeof d === "number" ? d : NaN));
      const n = dims.reduce((a, b) => a * b, 1);
      if (!(n === w.length))
        throw new TrainError("bad-options", `trainer: weight "${inp.name}" has ${w.length} values, its graph input [${inp.shape.join(", ")}] needs ${n}`);
      shapes.set(inp.name, dims);
    }
    const { session, provider, adapter } = await createSession(serializeModel(graph), {
      label: "train step",
      ...(opts.providers ? { providers: opts.providers } : {}),
      ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}),
    });
    const limits = providerLimits(provider, adapter);
    if (limits && opts.fit) {
      try {
        checkTrainingGpu(opts.fit.ckpt, shapes, Object.keys(gradOutputs), opts.fit.batch, opts.fit.seq, limits);
      } catch (e) {
        await session.release();
        throw e;
      }
    }
    return new Trainer(session, provider, params, shapes, Object.keys(gradOutputs), gradOutputs);
  }

  /** Runs the graph on one micro-batch; returns the losses and the gradients. */
  async forwardBackward(
    inputIds: BigInt64Array,
    targets: BigInt64Array,
    batch: number,
    seq: number,
  ): Promise<{ loss: number; lm: number; weight: number; grads: Map<string, Float32Array> }> {
    const feeds: Record<string, OrtTensor> = {
      input_ids: new Tensor("int64", inputIds, [batch, seq]),
      targets: new Tensor("int64", targets, [batch, seq]),
    };
    for (const [name, dims] of this.shapes) feeds[name] = new Tensor("float32", this.params.get(name)!, [...dims]);
    const out = await this.session.run(feeds);
    const scalar = (k: string): number => Number((out[k]!.data as Float32Array)[0]);
    const grads = new Map<string, Float32Array>();
    for (const [w, g] of Object.entries(this.gradOutputs)) grads.set(w, out[g]!.data as Float32Array);
    return { loss: scalar(LOSS), lm: scalar(LM_LOSS), weight: scalar(WEIGHT_LOSS), grads };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function validateLoop(o: TrainLoopOptions): void {
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new TrainError("bad-options", `steps must be a positive integer, got ${o.steps}`);
  if (!Number.isInteger(o.accumulation) || o.accumulation < 1)
    throw new TrainError("bad-options", `gradient accumulation must be a positive integer, got ${o.accumulation}`);
  if (o.checkpointEvery !== undefined && (!Number.isInteger(o.checkpointEvery) || o.checkpointEvery < 1)) {
    throw new TrainError("bad-options", `checkpointEvery must be a positive integer, got ${o.checkpointEvery}`);
  }
  validateOptimizer(o, o.steps);
}

/** Trains in place (trainer.params) for `opts.steps` optimizer steps. */
export async function runTraining(trainer: Trainer, sampler: BatchSource, opts: TrainLoopOptions, hooks: TrainRunHooks = {}): Promise<TrainRunResult> {
  validateLoop(opts);
  const adam = new AdamW(opts);
  for (const name of trainer.trainable) {
    const shape = trainer.shapes.get(name)!;
    adam.register(name, trainer.params.get(name)!.length, shape.length >= 2);
  }
  let startStep = 0;
  if (opts.resumeFrom) startStep = await loadTrainCheckpoint(opts.resumeFrom, trainer, adam, opts.steps);
  const curve: StepEvent[] = [];
  const t0 = performance.now();
  let tokens = 0;
  const sums = new Map<string, Float32Array>();
  for (const name of trainer.trainable) sums.set(name, new Float32Array(trainer.params.get(name)!.length));
  for (let step = startStep; step < opts.steps; step++) {
    const ts = performance.now();
    for (const s of sums.values()) s.fill(0);
    let loss = 0,
      lm = 0,
      weight = 0;
    for (let micro = 0; micro < opts.accumulation; micro++) {
      if (hooks.signal?.aborted) throw new TrainError("cancelled", `training cancelled at step ${step} of ${opts.steps}`);
      const b = sampler.batch(step * opts.accumulation + micro);
      const r = await trainer.forwardBackward(b.inputIds, b.targets, sampler.batchSize, sampler.seqLen);
      if (!Number.isFinite(r.loss)) {
        throw new TrainError("non-finite", `the loss became ${r.loss} at step ${step + 1}; lower the learning rate (--lr) or raise clipping`);
      }
      loss += r.loss / opts.accumulation;
      lm += r.lm / opts.accumulation;
      weight += r.weight / opts.accumulation;
      for (const [name, g] of r.grads) {
        const s = sums.get(name)!;
        for (let i = 0; i < g.length; i++) s[i]! += g[i]!;
      }
      tokens += sampler.batchSize * sampler.seqLen;
    }
    const avg = 1 / opts.accumulation;
    const norm = globalNorm(sums.values()) * avg;
    if (!Number.isFinite(norm)) throw new TrainError("non-finite", `the gradient norm became ${norm} at step ${step + 1}; lower the learning rate (--lr)`);
    const clip = opts.clipNorm > 0 && Number.isFinite(opts.clipNorm) && norm > opts.clipNorm ? opts.clipNorm / norm : 1;
    const lr = learningRate(opts, step, opts.steps);
    adam.update(trainer.params, sums, lr, avg * clip);
    const seconds = (performance.now() - t0) / 1000;
    const stepTokens = sampler.batchSize * sampler.seqLen * opts.accumulation;
    const e: StepEvent = {
      step: step + 1,
      steps: opts.steps,
      loss,
      lm,
      weight,
      lr,
      gradNorm: norm,
      tokensPerSecond: stepTokens / ((performance.now() - ts) / 1000),
      seconds,
    };
    curve.push(e);
    hooks.onStep?.(e);
    const last = step + 1 === opts.steps;
    if (opts.checkpointFile && (last || (opts.checkpointEvery && (step + 1) % opts.checkpointEvery === 0))) {
      await saveTrainCheckpoint(opts.checkpointFile, trainer, adam, step + 1);
    }
  }
  return { curve, provider: trainer.provider, startStep, seconds: (performance.now() - t0) / 1000, tokens };
}

const bytes = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Trainable weights, AdamW moments and the step, as safetensors (atomic). */
export async function saveTrainCheckpoint(file: string, trainer: Trainer, adam: AdamW, step: number): Promise<void> {
  const tensors = trainer.trainable.flatMap((name) => {
    const shape = [...trainer.shapes.get(name)!];
    const st = adam.state.get(name)!;
    return [
      { name: `param/${name}`, dtype: "F32" as const, shape, data: bytes(trainer.params.get(name)!) },
      { name: `adam_m/${name}`, dtype: "F32" as const, shape, data: bytes(st.m) },
      { name: `adam_v/${name}`, dtype: "F32" as const, shape, data: bytes(st.v) },
    ];
  });
  await writeSafetensors(path.resolve(file), tensors, { [CKPT_KEY]: JSON.stringify({ step, t: adam.t, trainable: trainer.trainable }) });
}

async function loadTrainCheckpoint(file: string, trainer: Trainer, adam: AdamW, steps: number): Promise<number> {
  let src;
  try {
    src = await openSafetensors(path.resolve(file));
  } catch (e) {
    throw new TrainError(
      "bad-checkpoint",
      `cannot open the training checkpoint (${e instanceof Error ? e.message : String(e)}); pass a file written by an earlier run`,
      file,
    );
  }
  try {
    const meta = src.metadata[CKPT_KEY];
    if (!meta) throw new TrainError("bad-checkpoint", "this is not a headshare training checkpoint (no headshare.train metadata)", file);
    let info: { step: number; t: number; trainable: string[] };
    try {
      info = JSON.parse(meta) as typeof info;
    } catch {
      throw new TrainError("bad-checkpoint", "its headshare.train metadata is not JSON; the file is damaged", file);
    }
    if (!Number.isInteger(info.step) || info.step < 0 || info.step > steps) {
      throw new TrainError("bad-checkpoint", `it stopped at step ${info.step}, outside 0..${steps}; resume with at least as many --steps`, file);
    }
    const want = [...trainer.trainable].sort().join("\n"),
      have = [...(info.trainable ?? [])].sort().join("\n");
    if (want !== have)
      throw new TrainError("bad-checkpoint", "it trains a different set of weights than this run; resume with the same model and --trainable", file);
    for (const name of trainer.trainable) {
      const n = trainer.params.get(name)!.length;
      const read = async (key: string): Promise<Float32Array> => {
        if (!src.has(key)) throw new TrainError("bad-checkpoint", `tensor "${key}" is missing`, file);
        const a = await src.readF32(key);
        if (a.length !== n)
          throw new TrainError("bad-checkpoint", `tensor "${key}" has ${a.length} values, the model's weight has ${n}; it belongs to another model`, file);
        return a;
      };
      trainer.params.get(name)!.set(await read(`param/${name}`));
      adam.state.get(name)!.m.set(await read(`adam_m/${name}`));
      adam.state.get(name)!.v.set(await read(`adam_v/${name}`));
    }
    adam.t = info.t;
    return info.step;
  } finally {
    await src.close();
  }
}
