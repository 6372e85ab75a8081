/**
 * A forward graph bound to a session and its weights: weights are loaded once as ORT tensors and
 * reused for every batch; each `run` feeds token ids (and targets) of a right-padded batch.
 */
import os from "node:os";
import type { Checkpoint } from "../model/checkpoint";
import { buildForward } from "../graph/forward";
import { applyPlanInPlace, loadWeightFeeds } from "../graph/feeds";
import { overridableWeights, sharedProjections } from "../graph/compact";
import { unitLayout } from "../model/units";
import { INPUT_IDS, TARGETS, type ForwardOptions, type WeightInput } from "../graph/types";
import type { IrGraph } from "../onnx/ir";
import { noteCompute } from "../runtime/computeLog";
import { serializeModel } from "../onnx/serialize";
import { createSession, likelyProvider, Tensor, type InferenceSession, type OrtTensor, type ProviderName } from "../runtime/ort";
import type { SharingPlan } from "../share/types";
import { EvalError } from "./errors";
import { fileStamps } from "./fileStamps";
import { RuntimeError } from "../runtime/errors";
import { providerLimits, type GpuLimits } from "../runtime/gpuLimits";
import { checkGpuWeights } from "./gpuFit";

export interface RunnerOptions {
  readonly forward: ForwardOptions;
  /** A plan applied in memory to a dense checkpoint (sweep). */
  readonly plan?: SharingPlan;
  readonly providers?: readonly ProviderName[] | "auto";
  /** Intra-op threads (default: ORT's choice). */
  readonly threads?: number;
  /** Let ORT's idle threads spin (default: ORT's default, on). Off yields the cores to other processes. */
  readonly allowSpinning?: boolean;
  readonly signal?: AbortSignal;
  /** What the graph is for, in reports ("forward", "attention maps"). Default "forward". */
  readonly label?: string;
  /**
   * Put the weights in the session as initializers (as the exported decoder holds them) instead of
   * feeding them on every run: onnxruntime prepacks constant MatMul weights and each run binds only
   * the activations. Only when they are at most EMBED_WEIGHTS_MAX_BYTES (the serialized model holds
   * a copy while the session is created); `planOverrides` is then unavailable.
   */
  readonly embedWeights?: boolean;
  /**
   * The caller replaces weights per run (planOverrides: the sweep): they stay fed inputs on every
   * provider. Otherwise, on a GPU, they are resident (initializers from ONNX external data, any
   * size): onnxruntime ignores a feed for an initializer (measured on WebGPU: the override had no
   * effect), so resident weights cannot be overridden.
   */
  readonly overridable?: boolean;
}

/** Weights embedded by `embedWeights` at most (float32 bytes); above, they are fed per run. */
export const EMBED_WEIGHTS_MAX_BYTES = 2 ** 30;

export interface RunOutput {
  /** float32 row-major. */
  readonly data: Float32Array;
  readonly dims: readonly number[];
}

/** Refuses, before reading anything, weights whose float32 copy would not fit in 80% of this machine's memory. */
function checkFits(ckpt: Checkpoint, bytes: number): void {
  const limit = 0.8 * os.totalmem();
  if (bytes > limit) {
    const gib = (x: number): string => (x / 2 ** 30).toFixed(1);
    throw new EvalError(
      "too-large",
      `${ckpt.weightsPath}: running it needs ${gib(bytes)} GiB for its weights as float32, more than 80% of this machine's ${gib(os.totalmem())} GiB; evaluate it on a machine with more memory`,
    );
  }
}

/** The external-data name of a resident weight. */
const externalName = (input: string): string => `weight:${input}`;

/**
 * `graph` with every weight input also an initializer whose bytes are external data (named by
 * externalName). The inputs stay (not fed): nothing is folded, the numbers are those of fed weights.
 */
function residentGraph(graph: IrGraph, weights: readonly WeightInput[]): IrGraph {
  return {
    ...graph,
    initializers: [
      ...graph.initializers,
      ...weights.map((w) => {
        const length = 4 * w.shape.reduce((a, b) => a * b, 1);
        return {
          name: w.input,
          type: "float32" as const,
          dims: w.shape,
          data: new Float32Array(0),
          external: { location: externalName(w.input), offset: 0, length },
        };
      }),
    ],
  };
}

/** Replacement weight feeds by input name (see `planOverrides`). */
export type WeightOverrides = Readonly<Record<string, OrtTensor>>;

export class ForwardRunner {
  private constructor(
    private readonly ckpt: Checkpoint,
    private readonly session: InferenceSession,
    private readonly weights: Record<string, OrtTensor>,
    /** input name → its float32 data (the base weights, never modified). */
    private readonly arrays: Map<string, Float32Array>,
    readonly provider: ProviderName,
    readonly fallbackReason: string | undefined,
    readonly outputs: readonly string[],
    readonly hasTargets: boolean,
    /** The buffer limits its batches must keep to (a provider with limits: WebGPU; gpuFit.ts). */
    readonly limits?: GpuLimits,
  ) {}

  static async create(ckpt: Checkpoint, opts: RunnerOptions): Promise<ForwardRunner> {
    const fg = buildForward(ckpt, opts.forward);
    checkFits(
      ckpt,
      fg.weights.reduce((a, w) => a + 4 * w.shape.reduce((x, y) => x * y, 1), 0),
    );
    const stamps = fileStamps(ckpt);
    const sessionOptions = {
      label: opts.label ?? "forward",
      ...(opts.providers ? { providers: opts.providers } : {}),
      ...(opts.threads ? { intraOpThreads: opts.threads } : {}),
      ...(opts.allowSpinning !== undefined ? { allowSpinning: opts.allowSpinning } : {}),
    };
    // On a GPU the weights are resident unless the caller overrides them per run (docs/gpu.md,
    // "Weights on the GPU"): decided from the provider createSession will most likely land on.
    const likely = await likelyProvider(opts.providers);
    const resident = !opts.embedWeights && !opts.overridable && likely.provider !== "cpu";
    // Weights fed as inputs: the session comes first, so that on WebGPU every weight is checked against
    // the buffer limits of the adapter it landed on before any is read (gpuFit.ts). Embedded and resident
    // weights need the graph first: they are checked against the likely adapter's limits first.
    let created = opts.embedWeights || resident ? undefined : await createSession(serializeModel(fg.graph), sessionOptions);
    let limits = created ? providerLimits(created.provider, created.adapter) : providerLimits(likely.provider, likely.adapter);
    let feeds;
    try {
      if (limits) checkGpuWeights(ckpt, fg.weights, limits);
      feeds = await loadWeightFeeds(ckpt, fg.weights, { ...(opts.plan ? { plan: opts.plan } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
      await created?.session.release();
      if (opts.signal?.aborted) throw new EvalError("aborted", `loading ${ckpt.weightsPath} was cancelled`);
      throw e;
    }
    stamps.check(); // the weights were read from the file as it was opened, not a mix of two versions
    const weights: Record<string, OrtTensor> = {};
    const arrays = new Map<string, Float32Array>();
    const embed = !!opts.embedWeights && feeds.reduce((a, f) => a + f.data.byteLength, 0) <= EMBED_WEIGHTS_MAX_BYTES;
    let graph = fg.graph;
    let externalData: { path: string; data: Uint8Array }[] | undefined;
    if (resident && !embed) {
      graph = residentGraph(fg.graph, fg.weights);
      externalData = feeds.map((f) => ({ path: externalName(f.input), data: new Uint8Array(f.data.buffer, f.data.byteOffset, f.data.byteLength) }));
    } else if (embed) {
      // overridable initializers (also graph inputs) where a compact bank is read: not folded into per-layer copies
      const keep = overridableWeights(fg.graph, fg.weights);
      const fed = new Set(feeds.map((f) => f.input));
      graph = {
        ...graph,
        inputs: graph.inputs.filter((v) => !fed.has(v.name) || keep.has(v.name)),
        initializers: [...graph.initializers, ...feeds.map((f) => ({ name: f.input, type: "float32" as const, dims: [...f.dims], data: f.data }))],
      };
    } else {
      for (const f of feeds) {
        weights[f.input] = new Tensor("float32", f.data, [...f.dims]);
        arrays.set(f.input, f.data);
      }
    }
    if (!created) {
      created = await createSession(serializeModel(graph), { ...sessionOptions, ...(externalData ? { externalData } : {}) });
      limits = providerLimits(created.provider, created.adapter);
      try {
        if (limits) checkGpuWeights(ckpt, fg.weights, limits);
      } catch (e) {
        await created.session.release();
        throw e;
      }
    }
    const label = sessionOptions.label;
    noteCompute(
      externalData
        ? `${label} weights resident on ${created.provider}: initializers, uploaded once when the session was created`
        : embed
          ? `${label} weights embedded in the session on ${created.provider}`
          : created.provider === "cpu"
            ? `${label} weights fed as inputs on cpu (read in place, no copy)`
            : `${label} weights fed as inputs on ${created.provider}: uploaded with every batch${opts.overridable ? " (each plan replaces some of them per run)" : ""}`,
    );
    return new ForwardRunner(ckpt, created.session, weights, arrays, created.provider, created.fallbackReason, fg.outputs, !!opts.forward.nll, limits);
  }

  /**
   * Weight feeds that replace the base ones to run `plan` in memory (the same session, no reload):
   * copies of the attention tensors the plan touches, with every target's slices set to its root's.
   */
  planOverrides(plan: SharingPlan): WeightOverrides {
    if (this.arrays.size === 0)
      throw new EvalError(
        "bad-option",
        `${this.ckpt.weightsPath}: the weights are in the session (embedWeights, or resident on a GPU); plan overrides need them fed (overridable)`,
      );
    const touched = new Set<string>();
    for (const t of plan.targets) {
      for (const [l, u] of [
        [t.layer, t.unit],
        [t.rootLayer, t.rootUnit],
      ] as const) {
        const lay = unitLayout(this.ckpt.spec, l, u, plan.granularity);
        for (const p of sharedProjections(plan)) {
          const r = lay[p];
          if (r && this.arrays.has(r.tensor)) touched.add(r.tensor);
        }
      }
    }
    const copies = new Map<string, Float32Array>();
    for (const name of touched) copies.set(name, this.arrays.get(name)!.slice());
    applyPlanInPlace(this.ckpt, plan, copies);
    const out: Record<string, OrtTensor> = {};
    for (const [name, data] of copies) out[name] = new Tensor("float32", data, [...this.weights[name]!.dims]);
    return out;
  }

  /** ids/targets: int64 [batch, seq] row-major. Returns the requested outputs by name. */
  async run(
    ids: BigInt64Array,
    batch: number,
    seq: number,
    targets?: BigInt64Array,
    outputs?: readonly string[],
    overrides?: WeightOverrides,
  ): Promise<Record<string, RunOutput>> {
    const feeds: Record<string, OrtTensor> = { ...this.weights, ...(overrides ?? {}), [INPUT_IDS]: new Tensor("int64", ids, [batch, seq]) };
    if (this.hasTargets) feeds[TARGETS] = new Tensor("int64", targets ?? new BigInt64Array(batch * seq), [batch, seq]);
    let res;
    try {
      res = await this.session.run(feeds, outputs ? [...outputs] : [...this.outputs]);
    } catch (e) {
      if (e instanceof RuntimeError && e.code === "gpu-memory")
        throw new RuntimeError("gpu-memory", `${this.ckpt.weightsPath}: a batch of ${batch} × ${seq} tokens: ${e.message}`);
      const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      throw new RuntimeError(
        "run-failed",
        `${this.ckpt.weightsPath}: the forward pass failed on a batch of ${batch} × ${seq} tokens on ${this.provider} (${msg}); try a smaller window or batch`,
      );
    }
    const out: Record<string, RunOutput> = {};
    for (const [k, t] of Object.entries(res)) out[k] = { data: t.data as Float32Array, dims: t.dims };
    return out;
  }

  /**
   * Runs with these non-weight feeds (e.g. the KV-cache decoder's input_ids, attention_mask,
   * position_ids and past_key_values.*), the loaded weights added.
   */
  async runFeeds(feeds: Readonly<Record<string, OrtTensor>>, outputs?: readonly string[]): Promise<Record<string, OrtTensor>> {
    try {
      return await this.session.run({ ...this.weights, ...feeds }, outputs ? [...outputs] : [...this.outputs]);
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
      throw new RuntimeError("run-failed", `${this.ckpt.weightsPath}: the forward pass failed on ${this.provider} (${msg})`);
    }
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
