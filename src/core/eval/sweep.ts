/**
 * `sweep`: the quality/size curve of DirectShare on one model (method.md §6). One match table,
 * then for every ratio the plan applied in memory (same session, only the touched attention
 * tensors replaced) and the shared model compared with the original on the same windows:
 * NLL/ppl, KL(P_original ‖ P_shared), top-1 agreement, parameters and bytes after sharing.
 * The original's per-batch outputs are computed once and kept when they fit in `cacheBytes`.
 */
import type { Checkpoint } from "../model/checkpoint";
import type { Granularity } from "../model/types";
import { NLL } from "../graph/types";
import type { ProviderName } from "../runtime/ort";
import { computeMatchTable, unitCost } from "../share/match";
import { planSharing } from "../share/plan";
import type { MatchTable, Strategy } from "../share/types";
import { EvalError } from "./errors";
import {
  chooseForward,
  CompareAccumulator,
  compareOutputs,
  defaultBatchTokens,
  gpuBatchCap,
  prepareSource,
  protocolFacts,
  scoringForward,
  sumNll,
  type ForwardPath,
} from "./evaluate";
import { memoryBudgetBytes } from "./memoryBudget";
import { CANCEL_SECONDS, PacedBatches } from "./pacing";
import { runStreamed } from "./streamed";
import { checkWindowFits, makeBatches, predictedCount, type Batch, type TextProtocol } from "./windows";
import { ForwardRunner, type RunOutput } from "./runner";
import { modelSize } from "./sizes";
import { bosId, loadTokenizer, type TextTokenizer } from "./tokenizer";
import type { TextSource } from "./textFile";

export interface SweepOptions {
  readonly strategy?: Strategy;
  readonly granularity?: Granularity;
  /** A match table already computed for this checkpoint (skips matching). */
  readonly table?: MatchTable;
  readonly tokenizer?: TextTokenizer;
  readonly providers?: readonly ProviderName[] | "auto";
  readonly threads?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: { readonly phase: string; readonly done: number; readonly total: number }) => void;
  /** Padded tokens per batch (default: as evaluate with --compare). */
  readonly batchTokens?: number;
  /** Query chunk of the blocked causal attention (default 64; 0 = off). */
  readonly attentionChunk?: number;
  /** Memory for the original's cached outputs (default 512 MiB); beyond it they are recomputed per ratio. */
  readonly cacheBytes?: number;
  /** Which forward runs (default "auto", as `evaluate`). */
  readonly forward?: ForwardPath | "auto";
  /** Memory budget in GiB (default: min(4 GiB, a quarter of this machine's memory)). */
  readonly memoryBudgetGiB?: number;
}

import type { SweepResult, SweepRow } from "./results";
export type { SweepResult, SweepRow };

function checkRatios(ratios: readonly number[], layers: number): void {
  if (!Array.isArray(ratios) || ratios.length === 0) throw new EvalError("bad-option", "give at least one ratio, e.g. --ratios 0,0.1,0.2,0.3");
  const max = (layers - 1) / layers;
  for (const r of ratios) {
    if (typeof r !== "number" || !Number.isFinite(r) || r < 0 || r > max + 1e-12) {
      throw new EvalError("bad-option", `ratio ${r} is out of range: ratios must be in [0, ${max.toFixed(4)}] ((L−1)/L for ${layers} layers)`);
    }
  }
}

export async function sweep(
  ckpt: Checkpoint,
  ratios: readonly number[],
  text: TextSource,
  protocol: TextProtocol,
  opts: SweepOptions = {},
): Promise<SweepResult> {
  const t0 = performance.now();
  const spec = ckpt.spec;
  checkRatios(ratios, spec.layers);
  if (ckpt.compact) throw new EvalError("bad-option", `${ckpt.weightsPath} is already a compact shared checkpoint; sweep the original model`);
  checkWindowFits(protocol, ckpt.spec.maxPositions, ckpt.spec.config, ckpt.weightsPath);
  const strategy = opts.strategy ?? "qk",
    granularity = opts.granularity ?? "group";
  const tok = opts.tokenizer ?? (await loadTokenizer(ckpt.dir));
  const V = spec.vocab;
  const batchTokens = opts.batchTokens ?? defaultBatchTokens(protocol.window, V, true);
  const prepared = await prepareSource(text, protocol, tok, bosId(spec, tok), batchTokens, V, opts.signal);
  const progress = (phase: string, done: number, total: number): void => opts.onProgress?.({ phase, done, total });
  const common = { ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  const table =
    opts.table ??
    (await computeMatchTable(ckpt, {
      strategy,
      granularity,
      ...common,
      ...(opts.threads ? { intraOpThreads: opts.threads } : {}),
      onProgress: (p) => progress(`match: ${p.phase}`, p.done, p.total),
    }));
  if (table.layers !== spec.layers || table.granularity !== granularity) {
    throw new EvalError(
      "mismatch",
      `the match table (${table.layers} layers, ${table.granularity}) is not for this model (${spec.layers} layers, ${granularity})`,
    );
  }
  const budget = memoryBudgetBytes(opts.memoryBudgetGiB);
  if (chooseForward(opts.forward, [ckpt], budget) === "layer-streamed") {
    const plans = ratios.map((r) => planSharing(table, r));
    const r = await runStreamed([{ ckpt }, ...plans.map((plan) => ({ ckpt, plan }))], prepared.scored, {
      budgetBytes: budget,
      hiddenCosine: true,
      ...common,
      ...(opts.threads ? { threads: opts.threads } : {}),
      ...(opts.attentionChunk !== undefined ? { attentionChunk: opts.attentionChunk } : {}),
      onProgress: (p) => progress(p.message ?? p.phase, p.done, p.total),
    });
    const size = modelSize(ckpt),
      cost = unitCost(ckpt, granularity),
      n = r.count;
    const rows = plans.map((plan, k): SweepRow => {
      const sc = r.scores[k + 1]!,
        mean = sc.nllSum / n;
      return {
        ratio: ratios[k]!,
        selected: plan.selected,
        savedUnits: plan.savedUnits,
        chainedTargets: plan.chainedTargets,
        parameters: size.parameters - plan.savedUnits * cost.params,
        bytes: size.bytes - plan.savedUnits * cost.bytes,
        nll: mean,
        ppl: Math.exp(mean),
        kl: sc.klSum / n,
        top1Agreement: sc.agree / n,
        hiddenCosine: sc.cosSum.map((c) => c / n),
      };
    });
    const on = r.scores[0]!.nllSum / n;
    return {
      rows,
      original: { nll: on, ppl: Math.exp(on), parameters: size.parameters, bytes: size.bytes },
      tokens: n,
      protocol: protocolFacts(protocol, prepared.windows),
      strategy,
      granularity,
      klDirection: "KL(P_original ‖ P_shared)",
      provider: r.provider,
      seconds: (performance.now() - t0) / 1000,
      forward: "layer-streamed",
      memory: r.memory,
    };
  }
  const outputs = compareOutputs(spec.layers, true);
  const forward = scoringForward(protocol.window, opts.attentionChunk, { logits: false, nll: true, logprobs: true, hiddenStates: true });
  const runner = await ForwardRunner.create(ckpt, {
    overridable: true,
    forward,
    ...common,
    ...(opts.threads ? { threads: opts.threads } : {}),
  });
  try {
    // on a GPU with buffer limits, batches whose activations fit one storage binding (gpuFit.ts)
    const cap = gpuBatchCap(batchTokens, protocol.window, forward.attentionChunk ?? 0, [[ckpt, runner]]);
    // The original's outputs are kept when every batch's fit (makeBatches' batches of the cap: the
    // largest, so an upper bound for the paced batches, which are cut from the same longest-first order).
    const perBatchBytes = (cap < batchTokens ? makeBatches(prepared.scored, cap) : prepared.batches).map(
      (b) => b.batch * b.seq * (V + spec.layers * spec.hidden + 1) * 4,
    );
    const cache = perBatchBytes.reduce((a, x) => a + x, 0) <= (opts.cacheBytes ?? 512 * 2 ** 20);
    const cancelled = (): void => {
      if (opts.signal?.aborted) throw new EvalError("aborted", "the sweep was cancelled");
    };
    // With a signal (the worker's jobs) and the default batch size, the original's pass is paced (pacing.ts)
    // so a cancel lands within ~CANCEL_SECONDS; every ratio replays the same batches (each run costs the
    // same: the same session with a few attention weights replaced).
    const paced = new PacedBatches(prepared.scored, cap, opts.signal && opts.batchTokens === undefined ? CANCEL_SECONDS : undefined);
    const batches: Batch[] = [];
    const cached: Record<string, RunOutput>[] = [];
    const original = async (i: number): Promise<Record<string, RunOutput>> => {
      if (cache && cached[i]) return cached[i]!;
      const b = batches[i]!;
      const o = await runner.run(b.ids, b.batch, b.seq, b.targets, outputs);
      if (cache) cached[i] = o;
      return o;
    };
    let origNll = 0,
      done = 0;
    for (let b = paced.next(); b; b = paced.next()) {
      cancelled();
      const tb = performance.now();
      batches.push(b);
      origNll += sumNll(b, (await original(batches.length - 1))[NLL]!);
      paced.took(b, (performance.now() - tb) / 1000);
      done += predictedCount(b.windows);
      progress("original", done, prepared.tokens);
    }
    const size = modelSize(ckpt);
    const cost = unitCost(ckpt, granularity);
    const unitParams = cost.params,
      unitBytes = cost.bytes;
    const rows: SweepRow[] = [];
    for (const [k, ratio] of ratios.entries()) {
      const plan = planSharing(table, ratio);
      const overrides = runner.planOverrides(plan);
      const acc = new CompareAccumulator(spec.layers, spec.hidden, V);
      let nll = 0;
      done = 0;
      for (const [i, b] of batches.entries()) {
        cancelled();
        const mine = await runner.run(b.ids, b.batch, b.seq, b.targets, outputs, overrides);
        nll += sumNll(b, mine[NLL]!);
        cancelled(); // without the cache the original's batch runs again here
        // KL(P_original ‖ P_shared): the original is "mine" for the accumulator
        acc.add(b, await original(i), mine);
        done += predictedCount(b.windows);
        progress(`ratio ${ratio}`, k * prepared.tokens + done, ratios.length * prepared.tokens);
      }
      const m = acc.result();
      const mean = nll / prepared.tokens;
      rows.push({
        ratio,
        selected: plan.selected,
        savedUnits: plan.savedUnits,
        chainedTargets: plan.chainedTargets,
        parameters: size.parameters - plan.savedUnits * unitParams,
        bytes: size.bytes - plan.savedUnits * unitBytes,
        nll: mean,
        ppl: Math.exp(mean),
        kl: m.kl,
        top1Agreement: m.top1Agreement,
        hiddenCosine: m.hiddenCosine,
      });
    }
    const on = origNll / prepared.tokens;
    return {
      rows,
      original: { nll: on, ppl: Math.exp(on), parameters: size.parameters, bytes: size.bytes },
      tokens: prepared.tokens,
      protocol: protocolFacts(protocol, prepared.windows),
      strategy,
      granularity,
      klDirection: "KL(P_original ‖ P_shared)",
      provider: runner.provider,
      seconds: (performance.now() - t0) / 1000,
      forward: "whole-model",
    };
  } finally {
    await runner.release();
  }
}

/** The sweep as CSV (one row per ratio; hidden cosines as hidden_cos_<layer> columns). */
export function sweepCsv(r: Pick<SweepResult, "rows">): string {
  const L = r.rows[0]?.hiddenCosine.length ?? 0;
  const head = [
    "ratio",
    "selected",
    "saved_units",
    "chained_targets",
    "parameters",
    "bytes",
    "nll",
    "ppl",
    "kl",
    "top1_agreement",
    ...Array.from({ length: L }, (_, l) => `hidden_cos_${l}`),
  ];
  const lines = r.rows.map((x) =>
    [x.ratio, x.selected, x.savedUnits, x.chainedTargets, x.parameters, x.bytes, x.nll, x.ppl, x.kl, x.top1Agreement, ...x.hiddenCosine].join(","),
  );
  return [head.join(","), ...lines].join("\n") + "\n";
}
