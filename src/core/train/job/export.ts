/**
 * `postshare-job`: everything a PyTorch cluster needs to run PostShare's post-training, in one
 * folder (format.ts): the plan and its weight-loss pairs, the forward description, the
 * hyperparameters, the token stream and the window order (so every engine sees the same batches),
 * train.py, launch.sh and a README with the memory per rank. Staged like every output (src/core/output):
 * the folder's rules checked before any work, its writer lock (`wait` for another writer), a staging
 * folder beside `outDir` swapped in when complete (a replaced job folder stays as it was on any failure).
 *
 *   ckpt ─► match table ─► plan(α) ─► pairs ───────────────┐
 *   text ─► tokens (+ sampled) ─► BlockSampler(seed) ─► order ├─► job.json, tokens.bin, order.bin, heldout.bin, train.py, launch.sh, README.md
 */
import fs from "node:fs/promises";
import path from "node:path";
import { openCheckpoint } from "../../model/checkpoint";
import { checkOutputPath, stageOutputFolder, type StagedFolder } from "../../output";
import { DTYPE_SIZE } from "../../safetensors/dtype";
import { asTrainError, TrainError } from "../errors";
import { trainingForward } from "../forward";
import { pairsFromPlan } from "../pairs";
import { loadParams, postTrainingData, resolvePostShareOptions, textAndPlan, trainableInputs, type PostShareHooks, type PostShareOptions } from "../postshare";
import { optimizerOptions } from "../postshareOptions";
import { jobForward } from "./forward";
import {
  HELDOUT_FILE,
  JOB_FILE,
  JOB_FORMAT,
  JOB_VERSION,
  matchTableSha256,
  modelFingerprint,
  ORDER_FILE,
  planSha256,
  sha256,
  TOKENS_FILE,
  type JobFile,
} from "./format";
import { jobAsset, launchScript, jobReadme } from "./files";
import { memoryTable, type MemoryRow } from "./memory";

export interface PostShareJobOptions extends Omit<PostShareOptions, "outDir" | "format" | "checkpointFile" | "checkpointEvery" | "resumeFrom"> {
  /** The job folder (new, or replaced with `force`). */
  readonly outDir: string;
  /** Model path as the user gave it (recorded in job.json); default the path opened. */
  readonly modelAsGiven?: string;
  readonly createdBy?: string;
}

export interface PostShareJobResult {
  readonly outDir: string;
  readonly job: JobFile;
  readonly files: readonly string[];
  /** Memory per rank for 1 … 64 ranks (README's table). */
  readonly memory: readonly MemoryRow[];
  /** The provider the match table ran on. */
  readonly provider: string | undefined;
  readonly seconds: number;
}

const u32 = (a: Int32Array): Buffer => {
  const b = Buffer.alloc(a.length * 4);
  for (let i = 0; i < a.length; i++) b.writeUInt32LE(a[i]!, i * 4);
  return b;
};

export async function exportPostShareJob(model: string, opts: PostShareJobOptions, hooks: PostShareHooks = {}): Promise<PostShareJobResult> {
  if (!opts.outDir) throw new TrainError("bad-options", "postshare-job: --out DIR is required (a new folder for the job)");
  const { outDir, modelAsGiven, createdBy, ...rest } = opts;
  const o = resolvePostShareOptions(rest);
  const t0 = performance.now();
  const progress = hooks.onProgress ?? ((): void => {});
  const check = (): void => {
    if (hooks.signal?.aborted) throw new TrainError("cancelled", "postshare-job cancelled");
  };
  const rt = { ...(o.providers ? { providers: o.providers } : {}), ...(o.intraOpThreads ? { intraOpThreads: o.intraOpThreads } : {}) };
  const out = path.resolve(outDir);
  progress({ phase: "load", done: 0, total: 1, message: `opening ${model}` });
  const ckpt = await openCheckpoint(model);
  try {
    if (out === path.resolve(ckpt.dir))
      throw new TrainError("bad-options", `postshare-job: --out ${outDir} is the input model's folder; choose another folder (the input is never modified)`);
    // The folder's rules before any work (stageOutputFolder checks again under its lock).
    await asTrainError(() => checkOutputPath(out, { inputs: [ckpt.dir], force: !!o.force, what: "the PostShare job" }));
    const fwd = jobForward(ckpt);
    const graph = trainingForward(ckpt);
    const { bos, data, table, plan } = await textAndPlan(ckpt, o, rt, hooks);

    // Sampling needs the weights in memory (small models); text-only jobs never load them.
    const original = o.trainOn === "text" ? new Map<string, Float32Array>() : await loadParams(ckpt, graph.weights);
    const { stream, sampler } = await postTrainingData(ckpt, original, data.stream, o, bos, rt, hooks);
    const microBatches = o.steps * o.accumulation;
    const order = new Int32Array(microBatches * sampler.batchSize); // [K, B] window start offsets
    for (let k = 0; k < microBatches; k++) order.set(sampler.offsets(k), k * sampler.batchSize);
    const heldLengths = data.heldout.map((d) => d.length);
    const held = new Int32Array(heldLengths.reduce((a, b) => a + b, 0));
    data.heldout.reduce((at, d) => {
      held.set(d, at);
      return at + d.length;
    }, 0);
    check();

    const trainable = trainableInputs(ckpt, graph.weights, o.trainable); // graph inputs are named like the tensors
    const pairs = pairsFromPlan(ckpt.spec, plan, o.regularize);
    let parameters = 0,
      bytes = 0,
      trainableParameters = 0;
    const trainSet = new Set(trainable);
    const dtypes = new Map<string, number>();
    for (const t of ckpt.source.tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      parameters += n;
      bytes += n * DTYPE_SIZE[t.dtype];
      dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + n);
      if (trainSet.has(t.name)) trainableParameters += n;
    }
    const tokensBuf = u32(stream),
      orderBuf = Buffer.from(order.buffer, order.byteOffset, order.byteLength),
      heldBuf = u32(held);
    const job: JobFile = {
      format: JOB_FORMAT,
      version: JOB_VERSION,
      createdBy: createdBy ?? "headshare",
      model: modelAsGiven ?? model,
      modelFingerprint: modelFingerprint(ckpt),
      modelSummary: { architecture: ckpt.spec.architecture, parameters, trainableParameters, bytes, dtype: [...dtypes].sort((a, b) => b[1] - a[1])[0]![0] },
      forward: fwd,
      tensors: Object.fromEntries(ckpt.source.tensors.map((t) => [t.name, [t.dtype, [...t.shape]] as const])),
      plan: {
        ratio: o.ratio,
        strategy: o.strategy,
        granularity: o.granularity,
        targets: plan.selected,
        matchTableSha256: matchTableSha256(table),
        planSha256: planSha256(plan),
        sharingPlan: plan,
        pairs: pairs.map((p) => ({ label: p.label, target: p.target, root: p.root })),
      },
      loss: { lambdaLm: o.lambdaLm, lambdaW: o.lambdaW, weightLoss: o.weightLoss, regularize: [...o.regularize], sqrtEps: 1e-12 },
      trainable,
      optimizer: optimizerOptions(o),
      schedule: { steps: o.steps, accumulation: o.accumulation, batchSize: sampler.batchSize, seqLen: sampler.seqLen, seed: o.seed },
      data: {
        tokens: TOKENS_FILE,
        tokenCount: stream.length,
        order: ORDER_FILE,
        microBatches,
        heldout: HELDOUT_FILE,
        heldoutLengths: heldLengths,
        trainOn: o.trainOn,
        textFiles: o.text.map((f) => path.basename(f)),
        heldoutFiles: (o.heldout ?? []).map((f) => path.basename(f)),
        sampledSequences: o.trainOn === "text" ? 0 : Math.ceil(o.sampleSequences / Math.min(64, o.sampleSequences)) * Math.min(64, o.sampleSequences),
        sampleLength: o.sampleLength,
        sampleTemperature: o.sampleTemperature,
        trainDocuments: data.train.length,
        sha256: { [TOKENS_FILE]: sha256(tokensBuf), [ORDER_FILE]: sha256(orderBuf), [HELDOUT_FILE]: sha256(heldBuf) },
      },
    };

    progress({ phase: "write", done: 0, total: 1, message: `writing ${out}` });
    const files: [string, string | Buffer, number?][] = [
      [JOB_FILE, `${JSON.stringify(job, null, 1)}\n`],
      [TOKENS_FILE, tokensBuf],
      [ORDER_FILE, orderBuf],
      [HELDOUT_FILE, heldBuf],
      ["train.py", await fs.readFile(await jobAsset("train.py"))],
      ["launch.sh", launchScript(job), 0o755],
      ["README.md", jobReadme(job)],
    ];
    const staged: StagedFolder = await asTrainError(() =>
      stageOutputFolder({
        out,
        inputs: [ckpt.dir],
        what: "the PostShare job",
        force: !!o.force,
        needBytes: files.reduce((a, [, c]) => a + Buffer.byteLength(c), 0),
        ...(o.wait !== undefined ? { wait: o.wait } : {}),
        ...(hooks.signal ? { signal: hooks.signal } : {}),
        onWait: (phase) => progress({ phase, done: 0, total: 1 }),
      }),
    );
    try {
      for (const [name, content, mode] of files) await fs.writeFile(path.join(staged.stage, name), content, mode ? { mode } : {});
      check();
      await staged.commit();
    } catch (e) {
      await staged.abort();
      throw e;
    }
    progress({ phase: "write", done: 1, total: 1 });
    return {
      outDir: out,
      job,
      files: files.map((f) => f[0]),
      memory: memoryTable(job),
      provider: table.source?.provider,
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    await ckpt.close();
  }
}
