/**
 * `postshare-import`: brings a PostShare job's trained weights back. Checks, before anything is
 * written, that the job folder is intact (plan hash), that the model is the one the job was
 * exported from (fingerprint), and that the weights file is whole, from this job's plan and holds
 * every tensor with the model's shape; then scores the held-out documents stored in the job
 * (original, DirectShare, post-trained, PostShare, as `postshare` reports) and writes the final
 * share (DirectShare of the trained weights with the job's plan; compact or dense, atomic).
 *
 *   DIR/job.json ─► plan ─┐
 *   DIR/run/model.safetensors ─► trained weights ─┼─► held-out nll ×4, KL ─► writeShared ─► OUT
 *   model (job.model or --model) ─► original ─────┘
 */
import fs from "node:fs/promises";
import path from "node:path";
import { openCheckpoint, type Checkpoint } from "../../model/checkpoint";
import type { ProviderName } from "../../runtime/ort";
import { openSafetensors } from "../../safetensors/reader";
import type { TensorSource } from "../../safetensors/types";
import { TrainError } from "../errors";
import type { JobMetricsRow, PostShareImportResult } from "../results";
import { trainingForward } from "../forward";
import { compareLogprobs, HeldoutScorer, type HeldoutScore } from "../heldout";
import { applyPlanInMemory, meanRelativeDistance, pairsFromPlan } from "../pairs";
import { checkPostSharedOut, loadParams, writePostShared, type PostShareHooks, type Projection } from "../postshare";
import { METRICS_FILE, modelFingerprint, readJobArray, readJobFile, RUN_DIR, TRAINED_METADATA_KEY, WEIGHTS_FILE, type JobFile } from "./format";

export interface PostShareImportOptions {
  /** The job folder (job.json). */
  readonly jobDir: string;
  readonly outDir: string;
  readonly format?: "compact" | "dense";
  readonly force?: boolean;
  /** Another writer holds the output folder's lock: wait for it (true, or at most this many ms) instead of refusing. */
  readonly wait?: boolean | number;
  /** The model on this machine (default: job.json's model). */
  readonly model?: string;
  /** The trained weights (default DIR/run/model.safetensors). */
  readonly weights?: string;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly intraOpThreads?: number;
}

const METRIC_KEYS = ["step", "lm", "weight", "loss", "lr", "gradNorm", "seconds"] as const;

export type { JobMetricsRow, PostShareImportResult };

/** Reads a metrics.jsonl (rank 0's JSON lines); a missing file is an empty curve, a bad line an error naming it. */
export async function readJobMetrics(file: string): Promise<JobMetricsRow[]> {
  const text = await fs.readFile(file, "utf8").catch(() => "");
  const rows: JobMetricsRow[] = [];
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new TrainError("bad-job", `line ${i + 1} is not JSON; the metrics file is damaged`, file);
    }
    const missing = METRIC_KEYS.filter((k) => typeof r[k] !== "number" || !Number.isFinite(r[k]));
    if (missing.length)
      throw new TrainError("bad-job", `line ${i + 1} lacks finite ${missing.join(", ")}; the metrics file is damaged or not from train.py`, file);
    rows.push(Object.fromEntries(METRIC_KEYS.map((k) => [k, r[k] as number])) as unknown as JobMetricsRow);
  });
  return rows;
}

async function resolveModel(job: JobFile, jobDir: string, override: string | undefined): Promise<string> {
  if (override) return path.resolve(override);
  const candidates = path.isAbsolute(job.model) ? [job.model] : [path.resolve(job.model), path.resolve(jobDir, job.model)];
  for (const c of candidates)
    if (
      await fs.stat(c).then(
        () => true,
        () => false,
      )
    )
      return c;
  throw new TrainError(
    "bad-job",
    `the job's model ${job.model} is not on this machine; pass --model with the model the job was exported from`,
    path.join(jobDir, "job.json"),
  );
}

/** The trained weights: whole, written by train.py for this job's plan and model, every tensor with the model's dtype and shape. */
async function openTrainedWeights(file: string, job: JobFile): Promise<TensorSource> {
  if (
    !(await fs.stat(file).then(
      (s) => s.isFile(),
      () => false,
    ))
  ) {
    throw new TrainError(
      "bad-job",
      "the trained weights are missing; run the job first (bash launch.sh, or python3 train.py job.json --local-ranks N) or pass --weights FILE",
      file,
    );
  }
  let src: TensorSource;
  try {
    src = await openSafetensors(file);
  } catch (e) {
    throw new TrainError(
      "bad-job",
      `the trained weights are unreadable (${e instanceof Error ? e.message : String(e)}); copy them again from the cluster`,
      file,
    );
  }
  try {
    const raw = src.metadata[TRAINED_METADATA_KEY];
    if (!raw) throw new TrainError("bad-job", `no ${TRAINED_METADATA_KEY} metadata: these weights were not written by this job's train.py`, file);
    let info: { planSha256?: string; modelFingerprint?: string };
    try {
      info = JSON.parse(raw) as typeof info;
    } catch {
      throw new TrainError("bad-job", `its ${TRAINED_METADATA_KEY} metadata is not JSON; the file is damaged`, file);
    }
    if (info.planSha256 !== job.plan.planSha256) {
      throw new TrainError(
        "bad-job",
        `trained for plan ${String(info.planSha256).slice(0, 12)}…, but this job's plan is ${job.plan.planSha256.slice(0, 12)}…; these weights belong to another job`,
        file,
      );
    }
    if (info.modelFingerprint !== job.modelFingerprint)
      throw new TrainError("bad-job", "trained from another model than this job's; these weights belong to another job", file);
    for (const [name, [dtype, shape]] of Object.entries(job.tensors)) {
      if (!src.has(name)) throw new TrainError("bad-job", `tensor ${name} is missing; the weights file is incomplete`, file);
      const t = src.info(name);
      if (t.dtype !== dtype || t.shape.join(",") !== shape.join(",")) {
        throw new TrainError("bad-job", `tensor ${name} is ${t.dtype} [${t.shape.join(", ")}], the model's is ${dtype} [${shape.join(", ")}]`, file);
      }
    }
    return src;
  } catch (e) {
    await src.close();
    throw e;
  }
}

export async function importPostShareJob(opts: PostShareImportOptions, hooks: PostShareHooks = {}): Promise<PostShareImportResult> {
  const t0 = performance.now();
  const progress = hooks.onProgress ?? ((): void => {});
  const jobDir = path.resolve(opts.jobDir);
  const format = opts.format ?? "compact";
  if (format !== "compact" && format !== "dense")
    throw new TrainError("bad-options", `postshare-import: --format must be compact or dense, got ${String(format)}`);
  progress({ phase: "load", done: 0, total: 1, message: `reading ${jobDir}` });
  const job = await readJobFile(jobDir);
  const weightsFile = path.resolve(opts.weights ?? path.join(jobDir, RUN_DIR, WEIGHTS_FILE));
  const heldFlat = await readJobArray(
    jobDir,
    job,
    job.data.heldout,
    "uint32",
    job.data.heldoutLengths.reduce((a, b) => a + b, 0),
  );
  const model = await resolveModel(job, jobDir, opts.model);
  const ckpt: Checkpoint = await openCheckpoint(model);
  try {
    if (modelFingerprint(ckpt) !== job.modelFingerprint) {
      throw new TrainError(
        "bad-job",
        `${model} is not the model this job was exported from (${job.model}: its config or tensor shapes differ); pass --model with that model`,
        path.join(jobDir, "job.json"),
      );
    }
    if (path.resolve(opts.outDir) === path.resolve(ckpt.dir) || path.resolve(opts.outDir) === jobDir) {
      throw new TrainError(
        "bad-options",
        `postshare-import: --out ${opts.outDir} is the model's or the job's folder; choose a new folder (inputs are never modified)`,
      );
    }
    // Before the evaluations: the folder's rules, and (without wait) no other live writer.
    await checkPostSharedOut(ckpt, opts.outDir, !!opts.force, opts.wait);
    const trainedSrc = await openTrainedWeights(weightsFile, job);
    const fwd = trainingForward(ckpt);
    const plan = job.plan.sharingPlan;
    const shapeOf = (t: string): readonly number[] => ckpt.source.info(t).shape;
    let trained: Map<string, Float32Array>, trainedBy: Record<string, unknown>;
    try {
      trained = new Map<string, Float32Array>();
      for (const w of fwd.weights) trained.set(w.input, await trainedSrc.readF32(w.tensor));
      trainedBy = JSON.parse(trainedSrc.metadata[TRAINED_METADATA_KEY]!) as Record<string, unknown>;
    } finally {
      await trainedSrc.close();
    }
    const original = await loadParams(ckpt, fwd.weights);
    const pairs = pairsFromPlan(ckpt.spec, plan, job.loss.regularize as Projection[]);
    const heldout: Int32Array[] = [];
    job.data.heldoutLengths.reduce((at, n) => {
      heldout.push(heldFlat.subarray(at, at + n));
      return at + n;
    }, 0);

    progress({ phase: "evaluate", done: 0, total: 4, message: "held-out: original, DirectShare, post-trained, PostShare" });
    const rt = { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.intraOpThreads ? { intraOpThreads: opts.intraOpThreads } : {}) };
    const scorer = await HeldoutScorer.create(ckpt, { withLogprobs: true, ...rt });
    const provider = scorer.provider;
    let scores: {
      orig: HeldoutScore & { logprobs?: Float32Array[] };
      direct: HeldoutScore & { logprobs?: Float32Array[] };
      post: HeldoutScore & { logprobs?: Float32Array[] };
      shared: HeldoutScore & { logprobs?: Float32Array[] };
    };
    try {
      const orig = await scorer.score(original, heldout, hooks.signal);
      const direct = await scorer.score(applyPlanInMemory(ckpt.spec, plan, original, shapeOf), heldout, hooks.signal);
      const post = await scorer.score(trained, heldout, hooks.signal);
      const shared = await scorer.score(applyPlanInMemory(ckpt.spec, plan, trained, shapeOf), heldout, hooks.signal);
      scores = { orig, direct, post, shared };
    } finally {
      await scorer.release();
    }
    progress({ phase: "evaluate", done: 4, total: 4 });
    if (hooks.signal?.aborted) throw new TrainError("cancelled", "postshare-import cancelled");

    progress({ phase: "write", done: 0, total: 1, message: `writing ${opts.outDir}` });
    const outDir = await writePostShared(
      ckpt,
      fwd.weights,
      trained,
      plan,
      opts.outDir,
      format,
      !!opts.force,
      opts.wait,
      {
        "headshare.postshare": JSON.stringify({
          ratio: job.plan.ratio,
          strategy: job.plan.strategy,
          granularity: job.plan.granularity,
          steps: trainedBy.steps,
          selected: plan.selected,
          job: job.plan.planSha256,
          trainedBy,
        }),
      },
      hooks.signal,
      (phase) => progress({ phase, done: 0, total: 1 }),
    );
    progress({ phase: "write", done: 1, total: 1 });
    const strip = (s: HeldoutScore): HeldoutScore => ({ nll: s.nll, ppl: s.ppl, tokens: s.tokens, documents: s.documents });
    return {
      model: ckpt.dir,
      weights: weightsFile,
      ratio: job.plan.ratio,
      selected: plan.selected,
      plan,
      original: strip(scores.orig),
      directShare: strip(scores.direct),
      postTrained: strip(scores.post),
      postShare: strip(scores.shared),
      finalShare: compareLogprobs(scores.post.logprobs!, scores.shared.logprobs!, ckpt.spec.vocab),
      directShareVsOriginal: compareLogprobs(scores.orig.logprobs!, scores.direct.logprobs!, ckpt.spec.vocab),
      meanRelativePairDistance: { before: meanRelativeDistance(pairs, original, shapeOf), after: meanRelativeDistance(pairs, trained, shapeOf) },
      trainedBy,
      lossCurve: await readJobMetrics(path.join(path.dirname(weightsFile), METRICS_FILE)),
      heldoutDocuments: heldout.length,
      provider,
      seconds: (performance.now() - t0) / 1000,
      outDir,
    };
  } finally {
    await ckpt.close();
  }
}
