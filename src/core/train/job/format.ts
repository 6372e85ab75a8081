/**
 * The PostShare job folder (docs/training.md "PostShare on a cluster"): the one definition of
 * job.json, its data files and the trained-weights metadata, shared by the exporter
 * (`export.ts`), the importer (`import.ts`) and, on the Python side, `assets/postshare-job/train.py`
 * (which reads the same keys; a change here is a change there and a new `version`).
 *
 *   DIR/job.json        this shape (JobFile)
 *   DIR/tokens.bin      [T] uint32 LE    the post-training token stream (text and/or sampled)
 *   DIR/order.bin       [K·B] int32 LE   window start offsets, micro-batch k = rows k·B … k·B+B−1
 *   DIR/heldout.bin     [Σn] uint32 LE   held-out documents, lengths in job.json data.heldoutLengths
 *   DIR/train.py, launch.sh, README.md
 *   DIR/run/            what train.py writes: metrics.jsonl, checkpoints/, model.safetensors
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import type { Checkpoint } from "../../model/checkpoint";
import type { SliceRef } from "../../model/types";
import type { MatchTable, SharingPlan } from "../../share/types";
import { TrainError } from "../errors";
import type { OptimizerOptions } from "../optimizer";

export const JOB_FORMAT = "headshare.postshare-job";
export const JOB_VERSION = 1;
export const JOB_FILE = "job.json";
export const TOKENS_FILE = "tokens.bin";
export const ORDER_FILE = "order.bin";
export const HELDOUT_FILE = "heldout.bin";
export const RUN_DIR = "run";
export const METRICS_FILE = "metrics.jsonl";
export const WEIGHTS_FILE = "model.safetensors";
/** Metadata key train.py writes into the final weights (JSON: planSha256, modelFingerprint, steps, worldSize). */
export const TRAINED_METADATA_KEY = "headshare.postshare-job";

/** How train.py runs the model: the family's forward, resolved to tensor names (no adapter logic in Python). */
export interface JobForward {
  readonly family: "llama" | "gpt2" | "gpt-neox";
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly hidden: number;
  readonly vocab: number;
  readonly maxPositions: number;
  readonly normEps: number;
  /** GELU kind (gpt2, gpt-neox): tanh approximation or exact erf. */
  readonly act?: "tanh" | "erf";
  /** RoPE inverse frequencies (llama: dh/2 values incl. rope_scaling; gpt-neox: rotaryDims/2), float32 values. */
  readonly invFreq?: readonly number[];
  readonly rotaryDims?: number;
  /** Multiplier of q·k per layer (1/√dh, or GPT-2's scale options). */
  readonly attnScale: readonly number[];
  /** gpt-neox: parallel residual. */
  readonly parallelResidual?: boolean;
  /** Global tensors by role: embed, lmHead, finalNorm(+Bias), positions (gpt2 wpe). */
  readonly globals: Readonly<Record<string, string>>;
  /** Per layer, role → tensor name (roles per family: see train.py). */
  readonly layerNames: readonly Readonly<Record<string, string>>[];
}

export interface JobPair {
  readonly label: string;
  readonly target: SliceRef;
  readonly root: SliceRef;
}

export interface JobFile {
  readonly format: typeof JOB_FORMAT;
  readonly version: typeof JOB_VERSION;
  readonly createdBy: string;
  /** The model path exactly as given to `postshare-job` (the cluster may hold it elsewhere: train.py --model). */
  readonly model: string;
  /** sha256 over config.json's canonical JSON and every tensor's name, dtype and shape. */
  readonly modelFingerprint: string;
  readonly modelSummary: {
    readonly architecture: string;
    readonly parameters: number;
    readonly trainableParameters: number;
    readonly bytes: number;
    readonly dtype: string;
  };
  readonly forward: JobForward;
  /** Every tensor of the checkpoint: name → [dtype, shape]. */
  readonly tensors: Readonly<Record<string, readonly [string, readonly number[]]>>;
  readonly plan: {
    readonly ratio: number;
    readonly strategy: string;
    readonly granularity: string;
    /** N: selected targets (the weight loss is averaged over them). */
    readonly targets: number;
    readonly matchTableSha256: string;
    readonly planSha256: string;
    readonly sharingPlan: SharingPlan;
    /** Target → root per regularised projection: the weight loss's terms. */
    readonly pairs: readonly JobPair[];
  };
  readonly loss: {
    readonly lambdaLm: number;
    readonly lambdaW: number;
    readonly weightLoss: "l2" | "mse";
    readonly regularize: readonly string[];
    readonly sqrtEps: number;
  };
  /** Tensor names that train (the rest stay frozen). */
  readonly trainable: readonly string[];
  /** AdamW and its schedule, as the trainer takes them. */
  readonly optimizer: OptimizerOptions;
  readonly schedule: { readonly steps: number; readonly accumulation: number; readonly batchSize: number; readonly seqLen: number; readonly seed: number };
  readonly data: {
    readonly tokens: string;
    readonly tokenCount: number;
    readonly order: string;
    readonly microBatches: number;
    readonly heldout: string;
    readonly heldoutLengths: readonly number[];
    readonly trainOn: string;
    readonly textFiles: readonly string[];
    readonly heldoutFiles: readonly string[];
    readonly sampledSequences: number;
    readonly sampleLength: number;
    readonly sampleTemperature: number;
    readonly trainDocuments: number;
    /** sha256 of tokens.bin, order.bin and heldout.bin. */
    readonly sha256: Readonly<Record<string, string>>;
  };
}

export const sha256 = (data: string | Uint8Array): string => createHash("sha256").update(data).digest("hex");

/** JSON with object keys sorted at every level (a stable input for hashes). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(",")}]`;
  if (v && typeof v === "object") {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  }
  return JSON.stringify(v);
}

/** The plan's hash: what train.py writes into the weights and the importer checks. */
export const planSha256 = (plan: SharingPlan): string => sha256(canonicalJson(plan));

/** The match table's hash, without its run facts (`source`: provider, seconds, threads vary by run). */
export function matchTableSha256(t: MatchTable): string {
  const { source: _source, ...rest } = t;
  return sha256(canonicalJson(rest));
}

/** Identity of a checkpoint's content layout: config and every tensor's name, dtype and shape (not the values: a 70B hash would read 140 GB). */
export function modelFingerprint(ckpt: Checkpoint): string {
  const tensors = ckpt.source.tensors.map((t) => [t.name, t.dtype, [...t.shape]]);
  return sha256(canonicalJson({ config: ckpt.spec.config, tensors }));
}

/** Reads and checks DIR/job.json: format, version, and that its plan still hashes to planSha256. */
export async function readJobFile(dir: string): Promise<JobFile> {
  const file = path.join(dir, JOB_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (e) {
    throw new TrainError(
      "bad-job",
      `cannot read the job file (${e instanceof Error ? e.message : String(e)}); give a folder written by headshare postshare-job`,
      file,
    );
  }
  let job: JobFile;
  try {
    job = JSON.parse(text) as JobFile;
  } catch {
    throw new TrainError("bad-job", "it is not JSON (truncated or edited?); export the job again with headshare postshare-job", file);
  }
  if (job?.format !== JOB_FORMAT)
    throw new TrainError("bad-job", `it is not a PostShare job (format ${JSON.stringify(job?.format)}, expected "${JOB_FORMAT}")`, file);
  if (job.version !== JOB_VERSION)
    throw new TrainError(
      "bad-job",
      `job version ${String(job.version)} is not supported by this headshare (it reads version ${JOB_VERSION}); use the headshare that exported it`,
      file,
    );
  for (const k of ["model", "modelFingerprint", "plan", "loss", "trainable", "optimizer", "schedule", "data", "forward", "tensors"] as const) {
    if (job[k] === undefined || job[k] === null) throw new TrainError("bad-job", `"${k}" is missing; export the job again`, file);
  }
  const h = planSha256(job.plan.sharingPlan);
  if (h !== job.plan.planSha256) {
    throw new TrainError(
      "bad-job",
      `its sharing plan hashes to ${h.slice(0, 12)}…, not the recorded planSha256 ${String(job.plan.planSha256).slice(0, 12)}… (the plan was edited); export the job again`,
      file,
    );
  }
  return job;
}

/** Reads a little-endian uint32/int32 data file of the job, checking its size and sha256. */
export async function readJobArray(dir: string, job: JobFile, name: string, kind: "uint32" | "int32", count: number): Promise<Int32Array> {
  const file = path.join(dir, name);
  let buf: Buffer;
  try {
    buf = await fs.readFile(file);
  } catch (e) {
    throw new TrainError("bad-job", `cannot read it (${e instanceof Error ? e.message : String(e)}); the job folder is incomplete, export it again`, file);
  }
  if (buf.length !== count * 4)
    throw new TrainError(
      "bad-job",
      `it has ${buf.length} bytes, job.json says ${count} ${kind} values (${count * 4} bytes); it is truncated or from another job`,
      file,
    );
  const want = job.data.sha256[name];
  if (want && sha256(buf) !== want)
    throw new TrainError("bad-job", "its sha256 does not match job.json; it was changed after export, export the job again", file);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = kind === "uint32" ? buf.readUInt32LE(i * 4) : buf.readInt32LE(i * 4);
  return out;
}
