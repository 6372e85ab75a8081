/**
 * The PostShare training, held-out and sampling graphs on a GPU with buffer limits
 * (runtime/gpuLimits.ts), checked before their first run. On the GPU a training step holds:
 *
 *   every weight          fed as an input: one buffer each (maxBufferSize)
 *   every gradient        an output, the weight's shape: one storage binding each
 *   activations of B × S  logits [B, S, V] (and their gradient), MLP [B·S, ffn],
 *                         attention scores [B, H, S, S] (full attention), hidden [B·S, d]: one binding each
 *
 * AdamW's moments (m, v) and the accumulated gradients live in host memory (trainer.ts, optimizer.ts):
 * they never go to the GPU. A weight or gradient that does not fit is refused (it cannot be split);
 * activations that do not fit are refused saying which batch size would. Sampling (sample.ts) decodes
 * G sequences at once through the KV cache: its last step's tensors are generation's (generate/gpuFit.ts)
 * with a batch of G, refused saying which sample length would fit.
 */
import type { Checkpoint } from "../model/checkpoint";
import { checkGpuTensors, firstTooLarge, largestFitting, type GpuLimits, type GpuTensor } from "../runtime/gpuLimits";
import { generationGpuTensors } from "../generate/gpuFit";

/** The activations of a forward over `batch` sequences of `seq` tokens (full attention), one binding each. */
export function batchActivations(ckpt: Checkpoint, batch: number, seq: number): GpuTensor[] {
  const { vocab: V, intermediate: ffn, heads: H, hidden: d } = ckpt.spec;
  const f = ckpt.weightsPath;
  return [
    { what: `${f}: the logits of a batch`, shape: [batch, seq, V], kind: "activation" },
    { what: `${f}: the MLP activations of a batch`, shape: [batch * seq, ffn], kind: "activation" },
    { what: `${f}: one layer's attention scores of a batch`, shape: [batch, H, seq, seq], kind: "activation" },
    { what: `${f}: the hidden states of a batch`, shape: [batch * seq, d], kind: "activation" },
  ];
}

/** Refuses (RuntimeError "gpu-limit") a batch of `batch` × `seq` tokens whose activations do not fit, saying which batch size would. */
function checkBatch(ckpt: Checkpoint, batch: number, seq: number, limits: GpuLimits, what: string): void {
  if (!firstTooLarge(batchActivations(ckpt, batch, seq), limits)) return;
  const k = largestFitting(batch, (b) => batchActivations(ckpt, b, seq), limits);
  checkGpuTensors(
    batchActivations(ckpt, batch, seq),
    limits,
    k > 0 ? `use --batch-size ${k} (${what}), or --providers cpu` : `use a shorter --seq-len (${what}), or --providers cpu`,
  );
}

/**
 * Checks a training step of `batch` × `seq` tokens: the weights `shapes` (graph input → shape), the
 * gradients of `trainable`, then the activations. Throws RuntimeError("gpu-limit") naming the tensor.
 */
export function checkTrainingGpu(
  ckpt: Checkpoint,
  shapes: ReadonlyMap<string, readonly number[]>,
  trainable: readonly string[],
  batch: number,
  seq: number,
  limits: GpuLimits,
): void {
  checkGpuTensors(
    [
      ...weightTensors(ckpt, shapes),
      ...trainable.map((name): GpuTensor => ({ what: `${ckpt.weightsPath}: the gradient of ${name}`, shape: shapes.get(name) ?? [], kind: "activation" })),
    ],
    limits,
    WEIGHT_ADVICE,
  );
  checkBatch(ckpt, batch, seq, limits, "the training graph");
}

const WEIGHT_ADVICE = "train it with --providers cpu (or, when the adapter allows larger buffers, say so with HEADSHARE_GPU_LIMITS)";

/** The weights fed to a graph (graph input → shape), one buffer each. */
function weightTensors(ckpt: Checkpoint, shapes: Iterable<readonly [string, readonly number[]]>): GpuTensor[] {
  return [...shapes].map(([name, shape]): GpuTensor => ({ what: `${ckpt.weightsPath}: the weight ${name}`, shape, kind: "weight" }));
}

/** Checks the held-out forward (one document of at most `seq` tokens per run; weights as inputs). */
export function checkHeldoutGpu(ckpt: Checkpoint, shapes: ReadonlyMap<string, readonly number[]>, seq: number, limits: GpuLimits): void {
  checkGpuTensors(weightTensors(ckpt, shapes), limits, WEIGHT_ADVICE);
  checkGpuTensors(batchActivations(ckpt, 1, seq), limits, "use shorter held-out documents, or --providers cpu");
}

/** Checks the sampling decoder: `batch` sequences of `length` tokens (BOS included) through the KV cache; weights as inputs. */
export function checkSamplingGpu(
  ckpt: Checkpoint,
  shapes: Iterable<readonly [string, readonly number[]]>,
  batch: number,
  length: number,
  limits: GpuLimits,
): void {
  checkGpuTensors(weightTensors(ckpt, shapes), limits, WEIGHT_ADVICE);
  const stepAt = (len: number): GpuTensor[] => generationGpuTensors(ckpt, len - 1, 1, batch); // the last step's cache holds len − 1
  if (!firstTooLarge(stepAt(length), limits)) return;
  const fits = largestFitting(length, stepAt, limits);
  checkGpuTensors(
    stepAt(length),
    limits,
    `${fits >= 2 ? `use --sample-length ${fits}, ` : ""}post-train on the text only (--train-on text), or use --providers cpu (${batch} sequences are sampled at once)`,
  );
}
