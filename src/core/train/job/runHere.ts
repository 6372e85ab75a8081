/**
 * A PostShare job run by headshare's own ONNX trainer instead of train.py: the same job.json (pairs,
 * trainable tensors, hyperparameters) and the same batches (OrderedSampler over tokens.bin and
 * order.bin). Writes what train.py writes — metrics.jsonl and model.safetensors with the job's
 * plan hash — so `postshare-import` takes either engine's result. For models that fit one machine,
 * and as the reference train.py is checked against.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { openCheckpoint } from "../../model/checkpoint";
import type { ProviderName } from "../../runtime/ort";
import { writeTextAtomic } from "../../safetensors/writer";
import { OrderedSampler } from "../data";
import { TrainError } from "../errors";
import { NLL, trainingForward } from "../forward";
import { loadParams, trainWithProgress, type PostShareHooks } from "../postshare";
import { writeTrainedCheckpoint } from "../save";
import { buildTrainGraph } from "../trainGraph";
import type { StepEvent } from "../trainer";
import { METRICS_FILE, modelFingerprint, readJobArray, readJobFile, RUN_DIR, TRAINED_METADATA_KEY, WEIGHTS_FILE } from "./format";

export interface RunJobHereOptions {
  readonly jobDir: string;
  /** The model on this machine (default: job.json's model). */
  readonly model?: string;
  /** Default DIR/run. */
  readonly outDir?: string;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly intraOpThreads?: number;
}

export async function runJobHere(opts: RunJobHereOptions, hooks: PostShareHooks = {}): Promise<{ curve: StepEvent[]; weights: string }> {
  const jobDir = path.resolve(opts.jobDir);
  const job = await readJobFile(jobDir);
  const { batchSize: B, seqLen: S, steps, accumulation } = job.schedule;
  const tokens = await readJobArray(jobDir, job, job.data.tokens, "uint32", job.data.tokenCount);
  const order = await readJobArray(jobDir, job, job.data.order, "int32", job.data.microBatches * B);
  const sampler = new OrderedSampler(tokens, order, B, S);
  const ckpt = await openCheckpoint(opts.model ?? job.model);
  try {
    if (modelFingerprint(ckpt) !== job.modelFingerprint) {
      throw new TrainError(
        "bad-job",
        `${ckpt.dir} is not the model this job was exported from (${job.model}); pass the model the job was exported from`,
        path.join(jobDir, "job.json"),
      );
    }
    const fwd = trainingForward(ckpt);
    const tg = buildTrainGraph(fwd.graph, {
      nll: NLL,
      trainable: [...job.trainable],
      lambdaLm: job.loss.lambdaLm,
      lambdaW: job.loss.lambdaW,
      weightLoss: job.loss.weightLoss,
      pairs: job.plan.pairs,
      targets: job.plan.targets,
      sqrtEps: job.loss.sqrtEps,
    });
    const params = await loadParams(ckpt, fwd.weights);
    const rt = { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}) };
    const run = await trainWithProgress(tg, params, { ...rt, fit: { ckpt, batch: B, seq: S } }, sampler, { steps, accumulation, ...job.optimizer }, hooks);
    const out = path.resolve(opts.outDir ?? path.join(jobDir, RUN_DIR));
    await fs.mkdir(out, { recursive: true });
    await writeTextAtomic(
      path.join(out, METRICS_FILE),
      run.curve
        .map((e) =>
          JSON.stringify({ step: e.step, steps: e.steps, lm: e.lm, weight: e.weight, loss: e.loss, lr: e.lr, gradNorm: e.gradNorm, seconds: e.seconds }),
        )
        .join("\n") + "\n",
    );
    // Only model.safetensors: writeTrainedCheckpoint's side files (config, tokenizer) go to a temporary folder that is dropped.
    const tmp = await fs.mkdtemp(path.join(out, ".headshare-tmp-run-"));
    try {
      await writeTrainedCheckpoint(ckpt, new Map(fwd.weights.map((w) => [w.tensor, params.get(w.input)!])), tmp, {
        force: true,
        metadata: {
          [TRAINED_METADATA_KEY]: JSON.stringify({
            planSha256: job.plan.planSha256,
            modelFingerprint: job.modelFingerprint,
            steps,
            scheduleSteps: steps,
            worldSize: 1,
            optimizer: "headshare",
            device: run.provider,
          }),
        },
      });
      await fs.rename(path.join(tmp, WEIGHTS_FILE), path.join(out, WEIGHTS_FILE));
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
    return { curve: run.curve, weights: path.join(out, WEIGHTS_FILE) };
  } finally {
    await ckpt.close();
  }
}
