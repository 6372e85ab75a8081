/**
 * Text generation with a KV cache in headshare's own runtime: the decoder graph
 * (`buildForward(…, { kvCache: true })`, the graph `headshare export` writes) run by a
 * `ForwardRunner` with the checkpoint's weights fed once (a plan applied in memory to a dense
 * checkpoint, or a compact one run as compact).
 *
 *   prompt ids [1, P] ─► decoder(past = empty) ─► logits [1, P, V], present ─► pick ─► id
 *   id [1, 1] ─► decoder(past = present, attention_mask [1, t+1], position_ids [[t]]) ─► … until EOS or maxTokens
 *
 * `kvCache: false` re-runs the whole sequence each step (past always empty): the reference the
 * cached loop must equal token for token.
 */
import type { Checkpoint } from "../model/checkpoint";
import { ForwardRunner } from "../eval/runner";
import { ATTENTION_MASK, cacheHeads, pastKeyName, pastValueName, POSITION_IDS, presentKeyName, presentValueName } from "../graph/kvCache";
import { INPUT_IDS, LOGITS } from "../graph/types";
import { Tensor, type OrtTensor, type ProviderName } from "../runtime/ort";
import type { SharingPlan } from "../share/types";
import { Rng } from "../train/rng";
import { ExportError } from "../export/errors";
import { pickToken } from "./sampling";
import { generationGpuPlan } from "./gpuFit";

export interface GeneratorOptions {
  /** A plan applied in memory to a dense checkpoint. */
  readonly plan?: SharingPlan;
  readonly providers?: readonly ProviderName[] | "auto";
  /** Intra-op threads (default: `defaultThreads`). */
  readonly threads?: number;
  readonly signal?: AbortSignal;
}

export interface GenerateOptions {
  readonly maxTokens: number;
  /** 0 (default) = greedy. */
  readonly temperature?: number;
  readonly topP?: number;
  readonly seed?: number;
  /** Stop at the model's eos_token_id (default true). */
  readonly stopAtEos?: boolean;
  /** Default true; false = full recompute every step (the reference). */
  readonly kvCache?: boolean;
  readonly signal?: AbortSignal;
  /** Called with each new token id as it is produced. */
  readonly onToken?: (id: number, index: number) => void;
}

export interface Generation {
  /** The new token ids (the prompt excluded). */
  readonly ids: number[];
  readonly stop: "eos" | "max-tokens" | "context";
  /** Seconds of the prompt's forward pass and of the rest. */
  readonly prefillSeconds: number;
  readonly decodeSeconds: number;
  /** New tokens per second over the whole call (prefill included). */
  readonly tokensPerSecond: number;
}

/** EOS ids from config.json's eos_token_id (a number or a list). */
export function eosIds(ckpt: Checkpoint): Set<number> {
  const e = ckpt.spec.config.eos_token_id;
  const list = Array.isArray(e) ? e : [e];
  return new Set(list.filter((x): x is number => typeof x === "number"));
}

/** Below this many parameters a decode step is a few MFLOP: one intra-op thread (see `defaultThreads`). */
export const ONE_THREAD_MAX_PARAMETERS = 10_000_000;

/**
 * Intra-op threads for generation when none are asked for: 1 for a model under
 * ONE_THREAD_MAX_PARAMETERS, where splitting each small MatMul across threads costs more in
 * synchronisation than it saves (stories260K-hf: 0.56 vs 1.0 CPU ms per token, and faster in wall
 * time; docs/export.md), else onnxruntime's default (undefined).
 */
export function defaultThreads(ckpt: Checkpoint): number | undefined {
  const parameters = ckpt.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
  return parameters < ONE_THREAD_MAX_PARAMETERS ? 1 : undefined;
}

export class Generator {
  private constructor(
    private readonly ckpt: Checkpoint,
    private readonly runner: ForwardRunner,
    /** The intra-op threads the session runs with (undefined: onnxruntime's default). */
    readonly threads: number | undefined,
  ) {}

  static async create(ckpt: Checkpoint, o: GeneratorOptions = {}): Promise<Generator> {
    const threads = o.threads ?? defaultThreads(ckpt);
    const runner = await ForwardRunner.create(ckpt, {
      forward: { kvCache: true },
      // initializers, as in the exported file: prepacked MatMul weights, only activations bound per step
      embedWeights: true,
      ...(o.plan ? { plan: o.plan } : {}),
      ...(o.providers ? { providers: o.providers } : {}),
      ...(threads ? { threads } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    return new Generator(ckpt, runner, threads);
  }

  get provider(): ProviderName {
    return this.runner.provider;
  }

  async generate(prompt: readonly number[], o: GenerateOptions): Promise<Generation> {
    const spec = this.ckpt.spec;
    if (prompt.length === 0) throw new ExportError("bad-options", "the prompt has no tokens; give some text (the BOS token counts)");
    if (!Number.isInteger(o.maxTokens) || o.maxTokens < 0) throw new ExportError("bad-options", `max tokens must be a whole number ≥ 0, got ${o.maxTokens}`);
    const temperature = o.temperature ?? 0,
      topP = o.topP ?? 1;
    if (!(temperature >= 0) || !(topP > 0 && topP <= 1))
      throw new ExportError("bad-options", `temperature must be ≥ 0 and top-p in (0, 1], got ${temperature} and ${topP}`);
    for (const id of prompt) {
      if (!Number.isInteger(id) || id < 0 || id >= spec.vocab)
        throw new ExportError("bad-options", `prompt token id ${id} is outside the model's vocabulary (0..${spec.vocab - 1}); use the model's own tokenizer`);
    }
    const cached = o.kvCache !== false;
    // On a GPU with buffer limits: refused up front when the longest KV cache cannot fit; a long prompt is prefilled in pieces.
    const piece = this.runner.limits ? generationGpuPlan(this.ckpt, prompt.length, o.maxTokens, cached, this.runner.limits) : Infinity;
    const rng = new Rng(o.seed ?? 0);
    const eos = o.stopAtEos === false ? new Set<number>() : eosIds(this.ckpt);
    const V = spec.vocab,
      L = spec.layers,
      hkv = cacheHeads(spec),
      dh = spec.headDim;
    const seq = [...prompt];
    const out: number[] = [];
    const empty = new Tensor("float32", new Float32Array(0), [1, hkv, 0, dh]);
    let past: Record<string, OrtTensor> = {};
    const resetPast = (): void => {
      past = {};
      for (let l = 0; l < L; l++) {
        past[pastKeyName(l)] = empty;
        past[pastValueName(l)] = empty;
      }
    };
    resetPast();
    const outputs = [LOGITS];
    if (cached) for (let l = 0; l < L; l++) outputs.push(presentKeyName(l), presentValueName(l));
    const t0 = performance.now();
    let prefill = 0;
    let stop: Generation["stop"] = "max-tokens";
    let pastLen = 0;
    while (out.length < o.maxTokens) {
      o.signal?.throwIfAborted();
      if (seq.length >= spec.maxPositions) {
        stop = "context";
        break;
      }
      const feedFrom = cached ? pastLen : 0;
      if (!cached) resetPast();
      // a prompt longer than one GPU piece: its first pieces only fill the cache
      const n = Math.min(seq.length - feedFrom, piece);
      const end = feedFrom + n;
      const ids = BigInt64Array.from(seq.slice(feedFrom, end), (x) => BigInt(x)); // [1, n]
      const pos = BigInt64Array.from({ length: n }, (_, i) => BigInt(feedFrom + i)); // [1, n]
      const mask = new BigInt64Array(end).fill(1n); // [1, past + n]
      const res = await this.runner.runFeeds(
        {
          [INPUT_IDS]: new Tensor("int64", ids, [1, n]),
          [ATTENTION_MASK]: new Tensor("int64", mask, [1, end]),
          [POSITION_IDS]: new Tensor("int64", pos, [1, n]),
          ...past,
        },
        outputs,
      );
      if (cached) {
        past = {};
        for (let l = 0; l < L; l++) {
          past[pastKeyName(l)] = res[presentKeyName(l)]!;
          past[pastValueName(l)] = res[presentValueName(l)]!;
        }
        pastLen = end;
      }
      if (end < seq.length) continue;
      const logits = res[LOGITS]!.data as Float32Array; // [1, n, V]
      const id = pickToken(logits, (n - 1) * V, V, { temperature, topP }, rng);
      if (out.length === 0) prefill = (performance.now() - t0) / 1000;
      out.push(id);
      seq.push(id);
      o.onToken?.(id, out.length - 1);
      if (eos.has(id)) {
        stop = "eos";
        break;
      }
    }
    const total = (performance.now() - t0) / 1000;
    return { ids: out, stop, prefillSeconds: prefill, decodeSeconds: total - prefill, tokensPerSecond: total > 0 ? out.length / total : 0 };
  }

  async release(): Promise<void> {
    await this.runner.release();
  }
}
