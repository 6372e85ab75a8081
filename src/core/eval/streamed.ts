/**
 * The layer-streamed forward: scores windows one decoder layer at a time, so memory scales with one
 * layer, not with the model (docs/eval.md, "Layer-streamed forward").
 *
 *   for each pass (as many windows as the memory budget allows):
 *     embedding rows ─► hidden [N, d] per checkpoint
 *     for layer l: read l's weights (dense float32, plans applied while reading) ─► block graph ─► hidden
 *                  (models whose layers 0..l are identical share one hidden stream: an original and
 *                   its shared versions split at their first changed layer; a sweep's ratios likewise)
 *     final norm on the predicted positions ─► head in vocabulary chunks, its statistics computed in
 *     the graph (max, Σ exp, argmax, target logit, KL terms: graph/headStats.ts) ─► merged in float64
 *     (headMerge.ts): no logits ever reach JS
 *
 * Several models run in lockstep (model 0 is the reference of the comparisons): the same checkpoint
 * with different plans, or two checkpoints. Per model: Σ NLL, Σ KL(P_0 ‖ P_i), top-1 agreements
 * with model 0, and per layer Σ cos(h_0, h_i) over predicted positions.
 */
import type { Checkpoint } from "../model/checkpoint";
import { HIDDEN_IN, HIDDEN_OUT, streamGraphs, type BlockGraph, type StreamGraphs } from "../graph/blockGraphs";
import { HEAD_ROWS, NORMED, REF_NORMED, REF_PREFIX, REF_ROWS, STAT, TARGET_INDEX } from "../graph/headStats";
import { mergeKl, RowStats, type ChunkStats } from "./headMerge";
import { INPUT_IDS } from "../graph/types";
import { createSession, likelyProvider, Tensor, type InferenceSession, type OrtTensor, type ProviderName } from "../runtime/ort";
import { RuntimeError } from "../runtime/errors";
import { providerLimits, type GpuLimits } from "../runtime/gpuLimits";
import { noteCompute } from "../runtime/computeLog";
import { checkGpuWeights } from "./gpuFit";
import type { SharingPlan } from "../share/types";
import { EvalError } from "./errors";
import { LayerWeights, targetsOfLayer, type RootParts } from "./layerWeights";
import { HeadRows } from "./headRows";
import { chooseMemory, streamedNeed, type MemoryNeed } from "./memoryBudget";
import type { StreamedMemory } from "./results";
import { cosineRows } from "./metrics";
import { makeBatches, type Batch, type ScoredWindow } from "./windows";

/** A model to score: a checkpoint, optionally with a sharing plan applied while reading (dense checkpoints). */
export interface StreamedModel {
  readonly ckpt: Checkpoint;
  readonly plan?: SharingPlan;
}

export interface StreamedOptions {
  readonly providers?: readonly ProviderName[] | "auto";
  readonly threads?: number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: {
    readonly phase: string;
    readonly done: number;
    readonly total: number;
    readonly message?: string;
    readonly memoryNeed?: MemoryNeed;
  }) => void;
  readonly budgetBytes: number;
  /** Query chunk of the blocked causal attention (default 64; 0 = full attention). */
  readonly attentionChunk?: number;
  /** Accumulate the per-layer hidden-state cosine of every model against model 0. */
  readonly hiddenCosine?: boolean;
}

export interface StreamedScore {
  readonly nllSum: number;
  /** Σ KL(P_0 ‖ P_i) and top-1 agreements with model 0 over predicted positions (0 and count for model 0). */
  readonly klSum: number;
  readonly agree: number;
  /** Σ cos(h_0, h_i) per layer (empty without hiddenCosine or when shapes differ). */
  readonly cosSum: number[];
}

export type { StreamedMemory };

export interface StreamedRun {
  readonly scores: StreamedScore[];
  /** Predicted tokens. */
  readonly count: number;
  readonly provider: ProviderName;
  readonly memory: StreamedMemory;
  /** Layers computed once for all models of the same checkpoint (before the first changed layer). */
  readonly sharedLayers: number;
  /** Distinct block graphs (sessions) the run used. */
  readonly blockGraphs: number;
  /** Wall seconds reading (and widening, and applying plans to) layer weights, running the blocks, and the head (embedding included). */
  readonly timings: { readonly readSeconds: number; readonly blockSeconds: number; readonly headSeconds: number };
}

/** Wall-clock seconds by stage (filled as the run goes). */
interface Timings {
  readSeconds: number;
  blockSeconds: number;
  headSeconds: number;
}
async function timed<T>(t: Timings, k: keyof Timings, f: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await f();
  } finally {
    t[k] += (performance.now() - t0) / 1000;
  }
}

interface Opened {
  readonly reader: LayerWeights;
  readonly graphs: StreamGraphs;
  /** The head's rows by vocabulary chunk (set once the memory budget has chosen the chunk). */
  head?: HeadRows;
}

/** One hidden stream: the models whose computation so far is identical. */
interface Group {
  readonly members: number[];
  readonly ckpt: Checkpoint;
  hidden: Float32Array; // [N, d] f32
}

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new EvalError("aborted", "evaluation was cancelled");
}

/** Sessions by graph key: a 7B model's 32 layers share one. */
class Sessions {
  private readonly byKey = new Map<string, InferenceSession>();
  provider: ProviderName | undefined;
  constructor(private readonly opts: StreamedOptions) {}
  async get(g: BlockGraph): Promise<InferenceSession> {
    let s = this.byKey.get(g.key);
    if (!s) {
      const created = await createSession(g.model, {
        label: `streamed ${g.graph.name}`,
        ...(this.opts.providers ? { providers: this.opts.providers } : {}),
        ...(this.opts.threads ? { intraOpThreads: this.opts.threads } : {}),
        allowSpinning: false,
      });
      s = created.session;
      this.provider ??= created.provider;
      this.byKey.set(g.key, s);
    }
    return s;
  }
  get count(): number {
    return this.byKey.size;
  }
  async release(): Promise<void> {
    for (const s of this.byKey.values()) await s.release();
  }
}

async function run(s: InferenceSession, feeds: Record<string, OrtTensor>, output: string, file: string, what: string): Promise<Float32Array> {
  return (await runOutputs(s, feeds, [output], file, what))[output] as Float32Array;
}

/** Runs `s` for `outputs`: their data by name; a failure says which file and stage, and what to try. */
async function runOutputs(
  s: InferenceSession,
  feeds: Record<string, OrtTensor>,
  outputs: readonly string[],
  file: string,
  what: string,
): Promise<Record<string, OrtTensor["data"]>> {
  try {
    const r = await s.run(feeds, [...outputs]);
    return Object.fromEntries(outputs.map((o) => [o, r[o]!.data]));
  } catch (e) {
    if (e instanceof RuntimeError && e.code === "gpu-memory") throw new RuntimeError("gpu-memory", `${file}: the ${what}: ${e.message}`);
    const msg = (e instanceof Error ? e.message : String(e)).split("\n")[0];
    throw new RuntimeError("run-failed", `${file}: the ${what} failed (${msg}); try a smaller window or memory budget`);
  }
}

/** A head graph's statistics: the reference's (`REF_PREFIX`) and the stacked streams' (with the KL terms) of the pair graph, or the one stream's. */
async function runHead(
  s: InferenceSession,
  feeds: Record<string, OrtTensor>,
  pair: boolean,
  file: string,
  what: string,
): Promise<{ ref: ChunkStats; rest?: ChunkStats & { kl: Float32Array } }> {
  const names = (p: string): string[] => [STAT.max, STAT.sumExp, STAT.argmax, STAT.target].map((n) => p + n);
  const out = await runOutputs(s, feeds, pair ? [...names(REF_PREFIX), ...names(""), STAT.kl] : names(""), file, what);
  const stats = (p: string): ChunkStats => ({
    max: out[p + STAT.max] as Float32Array,
    sumExp: out[p + STAT.sumExp] as Float32Array,
    argmax: out[p + STAT.argmax] as BigInt64Array,
    target: out[p + STAT.target] as Float32Array,
  });
  return pair ? { ref: stats(REF_PREFIX), rest: { ...stats(""), kl: out[STAT.kl] as Float32Array } } : { ref: stats("") };
}

/** The memory sizes the budget needs, from the graphs of every checkpoint and the plans. */
function streamSizes(
  models: readonly StreamedModel[],
  opened: Map<Checkpoint, Opened>,
  roots: ReadonlyMap<Checkpoint, RootParts>,
  windows: readonly ScoredWindow[],
  chunk: number,
) {
  let layerWeightBytes = 0,
    readBufferBytes = 0,
    savedBytes = 0,
    rootSliceBytes = 0;
  // every checkpoint's reader holds its own layer arrays and read arena: the largest layer of each, summed
  for (const [ckpt, o] of opened) {
    let w = 0,
      r = 0;
    for (let l = 0; l < ckpt.spec.layers; l++) {
      const ws = o.graphs.block(l).weights;
      w = Math.max(
        w,
        ws.reduce((a, x) => a + 4 * numel(x.shape), 0),
      );
      r = Math.max(r, o.reader.readBufferBytes(ws.map((x) => x.tensor)));
    }
    layerWeightBytes += w;
    readBufferBytes += r;
  }
  // plans run one after another: the largest layer's overwritten slices of one of them at a time
  for (const m of models) if (m.plan) savedBytes = Math.max(savedBytes, opened.get(m.ckpt)!.reader.savedBytes(m.plan));
  for (const r of roots.values()) rootSliceBytes += r.peakBytes;
  const spec = models[0]!.ckpt.spec;
  const window = Math.max(...windows.map((w) => w.tokens.length - 1));
  return {
    layerWeightBytes,
    readBufferBytes,
    savedBytes,
    rootSliceBytes,
    hidden: Math.max(...models.map((m) => m.ckpt.spec.hidden)),
    heads: Math.max(...models.map((m) => m.ckpt.spec.heads)),
    ffn: Math.max(...models.map((m) => m.ckpt.spec.intermediate)),
    vocab: spec.vocab,
    models: models.length,
    window,
    totalTokens: windows.reduce((a, w) => a + w.tokens.length - 1, 0),
    attentionChunk: chunk,
    headRowBytes: [...opened.values()].reduce((a, o) => a + HeadRows.bytesPerRow(o.reader.ckpt.source, o.graphs.globals.lmHead), 0),
  };
}

/**
 * The buffer limits of the provider the block sessions will most likely land on (the same checks as
 * createSession; undefined when it has none), with every layer's and the final norm's weights
 * checked against them (refused naming the weight). The embedding is read row by row on the host
 * and the head's weight is fed in vocabulary chunks (chooseMemory sizes them), so neither is ever
 * one GPU buffer.
 */
async function streamedGpuLimits(opened: Map<Checkpoint, Opened>, providers: StreamedOptions["providers"]): Promise<GpuLimits | undefined> {
  const likely = await likelyProvider(providers);
  const limits = providerLimits(likely.provider, likely.adapter);
  if (!limits) return undefined;
  for (const [ckpt, o] of opened) {
    for (let l = 0; l < ckpt.spec.layers; l++) checkGpuWeights(ckpt, o.graphs.block(l).weights, limits);
    checkGpuWeights(ckpt, o.graphs.final.weights, limits);
  }
  return limits;
}

/** Scores windows with the layer-streamed forward. Validates every plan against its checkpoint first. */
export async function runStreamed(models: readonly StreamedModel[], windows: readonly ScoredWindow[], opts: StreamedOptions): Promise<StreamedRun> {
  if (models.length === 0) throw new EvalError("bad-option", "runStreamed needs at least one model");
  const V = models[0]!.ckpt.spec.vocab;
  for (const m of models) {
    if (m.ckpt.spec.vocab !== V)
      throw new EvalError(
        "mismatch",
        `${m.ckpt.weightsPath}: vocabulary ${m.ckpt.spec.vocab} differs from ${models[0]!.ckpt.weightsPath}'s ${V}; compare models that share a tokenizer`,
      );
  }
  const window = Math.max(...windows.map((w) => w.tokens.length));
  const size = opts.attentionChunk ?? 64;
  const chunkOpts = size > 0 && size < window ? { attentionChunk: size, maxSequence: window } : {};
  const opened = new Map<Checkpoint, Opened>();
  for (const m of models) {
    if (!opened.has(m.ckpt)) {
      const reader = new LayerWeights(m.ckpt);
      opened.set(m.ckpt, { reader, graphs: streamGraphs(m.ckpt.spec, m.ckpt.source, reader.dense, chunkOpts, m.ckpt.weightsPath) });
    }
    if (m.plan) opened.get(m.ckpt)!.reader.checkPlan(m.plan);
  }
  // per checkpoint, the slices its plans (a compact file's own included) read from lower layers
  const roots = new Map<Checkpoint, RootParts>();
  for (const [ckpt, o] of opened) {
    const plans = models.flatMap((m) => (m.ckpt === ckpt && m.plan ? [m.plan] : []));
    roots.set(ckpt, o.reader.rootParts(o.reader.compactPlan ? [...plans, o.reader.compactPlan] : plans));
  }
  const limits = await streamedGpuLimits(opened, opts.providers);
  const { gpuNote, ...memory } = chooseMemory(
    streamSizes(models, opened, roots, windows, size > 0 && size < window ? size : 0),
    opts.budgetBytes,
    models[0]!.ckpt.weightsPath,
    limits,
  );
  if (gpuNote) noteCompute(gpuNote);
  // the roots' slices stay in memory from their layer's read when the budget holds them (else read from the file)
  if (memory.parts.rootSlices > 0) for (const [ckpt, o] of opened) o.reader.keepRoots(roots.get(ckpt)!);
  for (const o of opened.values()) o.head = new HeadRows(o.reader.ckpt.source, o.graphs.globals.lmHead, memory.vocabChunk);
  const batches = makeBatches(windows, memory.tokensPerPass);
  const Lmax = Math.max(...models.map((m) => m.ckpt.spec.layers));
  const sameShape = models.every((m) => m.ckpt.spec.layers === models[0]!.ckpt.spec.layers && m.ckpt.spec.hidden === models[0]!.ckpt.spec.hidden);
  const cosLayers = opts.hiddenCosine && sameShape ? Lmax : 0;
  const scores = models.map(() => ({ nllSum: 0, klSum: 0, agree: 0, cosSum: new Array<number>(cosLayers).fill(0) }));
  const sessions = new Sessions(opts);
  const totalSteps = batches.length * (Lmax + 1);
  let step = 0,
    count = 0,
    sharedLayers = Lmax;
  const timings: Timings = { readSeconds: 0, blockSeconds: 0, headSeconds: 0 };
  const progress = (message: string): void => opts.onProgress?.({ phase: "layers", done: ++step, total: totalSteps, message });
  opts.onProgress?.({ phase: "layers", done: 0, total: totalSteps, message: "estimated the memory", memoryNeed: streamedNeed(memory) });
  try {
    // layer 0 is read while the embedding is gathered and the block graph's session is created
    for (const o of opened.values())
      o.reader.prefetch(
        0,
        o.graphs.block(0).weights.map((x) => x.tensor),
      );
    for (const [bi, b] of batches.entries()) {
      let groups: Group[] = [];
      for (const [ckpt, o] of opened) {
        groups.push({ members: models.flatMap((m, i) => (m.ckpt === ckpt ? [i] : [])), ckpt, hidden: await timed(timings, "headSeconds", () => embed(o, b)) });
      }
      const scored: number[] = [],
        targets: number[] = [];
      b.windows.forEach((w, r) => {
        for (let t = w.scoreFrom - 1; t < w.tokens.length - 1; t++) {
          scored.push(r * b.seq + t);
          targets.push(w.tokens[t + 1]!);
        }
      });
      for (let l = 0; l < Lmax; l++) {
        aborted(opts.signal);
        groups = await runLayer(l, groups, models, opened, sessions, b, timings, bi + 1 < batches.length, opts.signal);
        if (groups.length > opened.size) sharedLayers = Math.min(sharedLayers, l);
        if (cosLayers) addCosines(scores, groups, models.length, l, scored, models[0]!.ckpt.spec.hidden);
        progress(`pass ${bi + 1}/${batches.length} (${b.windows.length} windows): layer ${l + 1}/${Lmax}`);
      }
      aborted(opts.signal);
      // the last pass needs no layer weights any more: the head's chunk never coexists with them
      if (bi + 1 === batches.length) for (const o of opened.values()) await o.reader.settle();
      await timed(timings, "headSeconds", () =>
        scoreHead(groups, models, opened, sessions, scored, Int32Array.from(targets), memory.vocabChunk, scores, opts.signal),
      );
      count += scored.length;
      progress(`pass ${bi + 1}/${batches.length}: head`);
    }
  } finally {
    for (const o of opened.values()) await o.reader.settle();
    await sessions.release();
  }
  return {
    scores,
    count,
    provider: sessions.provider ?? "cpu",
    memory: { ...memory, passes: batches.length },
    sharedLayers,
    blockGraphs: sessions.count,
    timings,
  };
}

/** The embedding of a pass's ids (row copies; GPT-2 adds learned positions): [N, d] f32. */
async function embed(o: Opened, b: Batch): Promise<Float32Array> {
  const spec = o.reader.ckpt.spec,
    d = spec.hidden;
  const rows = new Map<number, Float32Array>();
  const out = new Float32Array(b.batch * b.seq * d);
  for (let i = 0; i < b.ids.length; i++) {
    const id = Number(b.ids[i]);
    let row = rows.get(id);
    if (!row) {
      row = await o.reader.rows(o.graphs.globals.embed, id, id + 1);
      rows.set(id, row);
    }
    out.set(row, i * d);
  }
  if (o.graphs.globals.positions) {
    const pos = await o.reader.rows(o.graphs.globals.positions, 0, b.seq); // [S, d]
    for (let i = 0; i < b.ids.length; i++) {
      const t = i % b.seq;
      for (let j = 0; j < d; j++) out[i * d + j] = out[i * d + j]! + pos[t * d + j]!;
    }
  }
  return out;
}

/**
 * Runs layer l for every group, splitting a group where its members' layer-l weights differ. Once a
 * checkpoint's layer-l weights are read, the read of its next layer starts (layer 0 of the next pass
 * after the last layer when `morePasses`), so that it overlaps this layer's compute.
 */
async function runLayer(
  l: number,
  groups: readonly Group[],
  models: readonly StreamedModel[],
  opened: Map<Checkpoint, Opened>,
  sessions: Sessions,
  b: Batch,
  t: Timings,
  morePasses: boolean,
  signal: AbortSignal | undefined,
): Promise<Group[]> {
  const out: Group[] = [];
  // the runs of this layer: each group split where its members' layer-l weights differ
  const runs: { readonly g: Group; readonly members: number[] }[] = [];
  for (const g of groups) {
    if (l >= g.ckpt.spec.layers) {
      out.push(g);
      continue;
    }
    const parts = new Map<string, number[]>();
    for (const i of g.members) {
      const key = JSON.stringify(targetsOfLayer(models[i]!.plan, l).map((t) => [t.unit, t.rootLayer, t.rootUnit, models[i]!.plan!.granularity]));
      parts.set(key, [...(parts.get(key) ?? []), i]);
    }
    for (const members of parts.values()) runs.push({ g, members });
  }
  const base = new Map<Checkpoint, Map<string, Float32Array>>();
  for (const [ri, { g, members }] of runs.entries()) {
    aborted(signal); // a sweep runs one layer per ratio here: a cancel lands after one of them
    const o = opened.get(g.ckpt)!;
    const graph = o.graphs.block(l);
    const session = await sessions.get(graph); // before the weights: creating it overlaps their read
    let layer = base.get(g.ckpt);
    if (!layer) {
      layer = await timed(t, "readSeconds", () =>
        o.reader.readLayer(
          l,
          graph.weights.map((x) => x.tensor),
        ),
      );
      base.set(g.ckpt, layer);
      const next = l + 1 < g.ckpt.spec.layers ? l + 1 : morePasses ? 0 : -1;
      if (next >= 0)
        o.reader.prefetch(
          next,
          o.graphs.block(next).weights.map((x) => x.tensor),
        );
    }
    const plan = models[members[0]!]!.plan;
    // the plan's targets take their roots' slices in place for this run; the layer is put back only
    // for a later run of the same checkpoint (the next readLayer widens every array again)
    const restorable = runs.slice(ri + 1).some((r) => r.g.ckpt === g.ckpt);
    const restore = plan ? await timed(t, "readSeconds", () => o.reader.applyPlan(l, plan, layer, restorable)) : undefined;
    try {
      const feeds: Record<string, OrtTensor> = {
        [INPUT_IDS]: new Tensor("int64", b.ids, [b.batch, b.seq]),
        [HIDDEN_IN]: new Tensor("float32", g.hidden, [b.batch * b.seq, g.ckpt.spec.hidden]),
      };
      for (const x of graph.weights) feeds[x.input] = new Tensor("float32", layer.get(x.tensor)!, [...x.shape]);
      const hidden = await timed(t, "blockSeconds", () => run(session, feeds, HIDDEN_OUT, g.ckpt.weightsPath, `layer ${l} on ${b.batch} × ${b.seq} tokens`));
      out.push({ members, ckpt: g.ckpt, hidden });
    } finally {
      restore?.();
    }
  }
  return out;
}

function groupOf(groups: readonly Group[], i: number): Group {
  return groups.find((g) => g.members.includes(i))!;
}

function addCosines(scores: { cosSum: number[] }[], groups: readonly Group[], n: number, l: number, scored: readonly number[], d: number): void {
  const g0 = groupOf(groups, 0);
  for (let i = 0; i < n; i++) {
    const gi = groupOf(groups, i);
    if (gi === g0) {
      scores[i]!.cosSum[l]! += scored.length;
      continue;
    }
    let s = 0;
    for (const row of scored) s += cosineRows(g0.hidden, row * d, gi.hidden, row * d, d);
    scores[i]!.cosSum[l]! += s;
  }
}

/** Final norm on the predicted rows, then the head chunk by chunk (statistics in the graph): NLL, KL(P_0 ‖ P_i), top-1. */
async function scoreHead(
  groups: readonly Group[],
  models: readonly StreamedModel[],
  opened: Map<Checkpoint, Opened>,
  sessions: Sessions,
  scored: readonly number[],
  targets: Int32Array,
  vocabChunk: number,
  scores: { nllSum: number; klSum: number; agree: number }[],
  signal: AbortSignal | undefined,
): Promise<void> {
  const M = scored.length;
  const normed = new Map<Group, Float32Array>();
  const finals = new Map<Checkpoint, Record<string, OrtTensor>>();
  for (const g of groups) {
    const o = opened.get(g.ckpt)!,
      d = g.ckpt.spec.hidden;
    const x = new Float32Array(M * d); // [M, d] f32: the predicted rows
    scored.forEach((row, k) => x.set(g.hidden.subarray(row * d, (row + 1) * d), k * d));
    let fw = finals.get(g.ckpt);
    if (!fw) {
      fw = {};
      for (const w of o.graphs.final.weights) fw[w.input] = new Tensor("float32", await g.ckpt.source.readF32(w.tensor), [...w.shape]);
      finals.set(g.ckpt, fw);
    }
    normed.set(
      g,
      await run(await sessions.get(o.graphs.final), { ...fw, [HIDDEN_IN]: new Tensor("float32", x, [M, d]) }, NORMED, g.ckpt.weightsPath, "final norm"),
    );
  }
  const g0 = groupOf(groups, 0);
  // the other streams, stacked per checkpoint ([G·M, d]): one head run per checkpoint and chunk beside the reference
  const others = new Map<Checkpoint, Group[]>();
  for (const g of groups) if (g !== g0) others.set(g.ckpt, [...(others.get(g.ckpt) ?? []), g]);
  const stacks = new Map(
    [...others].map(([ckpt, gs]) => {
      const x = new Float32Array(gs.length * M * ckpt.spec.hidden); // [G·M, d] f32
      gs.forEach((g, i) => x.set(normed.get(g)!, i * M * ckpt.spec.hidden));
      return [ckpt, { groups: gs, normed: x }] as const;
    }),
  );
  const stats = new Map<Group, RowStats>(groups.map((g) => [g, new RowStats(M)]));
  const kl = new Map<Group, Float64Array>();
  for (const g of groups) if (g !== g0) kl.set(g, new Float64Array(M));
  const V = models[0]!.ckpt.spec.vocab;
  // the next chunk's head rows, read on the pool while this chunk's statistics are computed (in the other slot)
  const ahead = new Map<Checkpoint, Promise<Float32Array>>();
  const rowsOf = async (ckpt: Checkpoint, v0: number, vc: number): Promise<Float32Array> => {
    const head = opened.get(ckpt)!.head!;
    const w = await (ahead.get(ckpt) ?? head.read(v0, v0 + vc)); // [vc, d] f32
    ahead.delete(ckpt);
    if (v0 + vc < V) {
      const next = head.read(v0 + vc, Math.min(v0 + 2 * vc, V));
      next.catch(() => undefined); // awaited by the next chunk; dropped (never unhandled) when this one fails
      ahead.set(ckpt, next);
    }
    return w;
  };
  const index = new BigInt64Array(M); // [M, 1] i64: each target's index in the chunk (0 outside it)
  const d0 = g0.ckpt.spec.hidden;
  for (let v0 = 0; v0 < V; v0 += vocabChunk) {
    aborted(signal);
    const vc = Math.min(vocabChunk, V - v0);
    for (let r = 0; r < M; r++) {
      const t = targets[r]! - v0;
      index[r] = BigInt(t >= 0 && t < vc ? t : 0);
    }
    const rows = new Map<Checkpoint, Float32Array>();
    const rowsFor = async (ckpt: Checkpoint): Promise<Float32Array> => {
      let w = rows.get(ckpt);
      if (!w) rows.set(ckpt, (w = await rowsOf(ckpt, v0, vc)));
      return w;
    };
    const what = `head (vocabulary ${v0}..${v0 + vc})`;
    const feedsOf = (x: Float32Array, w: Float32Array, d: number): Record<string, OrtTensor> => ({
      [NORMED]: new Tensor("float32", x, [x.length / d, d]),
      [HEAD_ROWS]: new Tensor("float32", w, [vc, d]),
      [TARGET_INDEX]: new Tensor("int64", index, [M, 1]),
    });
    const w0 = await rowsFor(g0.ckpt);
    if (stacks.size === 0) {
      const s = opened.get(g0.ckpt)!.graphs.headStats;
      const { ref } = await runHead(await sessions.get(s), feedsOf(normed.get(g0)!, w0, d0), false, g0.ckpt.weightsPath, what);
      stats.get(g0)!.merge(ref, 0, v0, vc, targets);
      continue;
    }
    let refMerged = false;
    for (const [ckpt, st] of stacks) {
      const p = opened.get(ckpt)!.graphs.headPair;
      const feeds = {
        ...feedsOf(st.normed, await rowsFor(ckpt), ckpt.spec.hidden),
        [REF_NORMED]: new Tensor("float32", normed.get(g0)!, [M, d0]),
        [REF_ROWS]: new Tensor("float32", w0, [vc, d0]),
      };
      const { ref, rest } = await runHead(await sessions.get(p), feeds, true, ckpt.weightsPath, what);
      const out = rest!;
      if (!refMerged) stats.get(g0)!.merge(ref, 0, v0, vc, targets);
      refMerged = true;
      st.groups.forEach((g, i) => {
        stats.get(g)!.merge(out, i * M, v0, vc, targets);
        mergeKl(kl.get(g)!, stats.get(g0)!, ref.max, out.kl, i * M);
      });
    }
  }
  const s0 = stats.get(g0)!;
  models.forEach((_m, i) => {
    const g = groupOf(groups, i),
      st = stats.get(g)!,
      acc = kl.get(g);
    for (let r = 0; r < M; r++) {
      scores[i]!.nllSum += st.lse(r) - st.zt[r]!;
      if (acc) scores[i]!.klSum += acc[r]! / s0.s[r]! - s0.lse(r) + st.lse(r);
      if (st.arg[r] === s0.arg[r]) scores[i]!.agree++;
    }
  });
}
