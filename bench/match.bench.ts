/**
 * Match-table benchmark (issue 3, "Speed and memory"). On a synthetic Llama-2-7B-shaped,
 * attention-only BF16 checkpoint (32 layers, width 4096, 32 heads; generated once into the bench
 * cache) — or a small shape with --quick — it prints, all measured in this run:
 *   - seconds for computeMatchTable (strategy qk, group = head);
 *   - the floor = max(bytes read / page-cache read bandwidth, 2·MACs / ORT Gemm FLOP rate);
 *   - the ratio to the floor and the process's peak RSS;
 *   - the per-pair baseline (the reference code's algorithm written plainly: for each pair, cut
 *     both units' q/k slices out of the loaded tensors, three dot products) timed on a sample of
 *     pairs × the number of pairs, and the speed-up.
 * The matcher picks its thread count ("auto": two match threads here); HEADSHARE_MATCH_THREADS=N
 * pins it (1 measures the one-thread kernel for an A/B).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Bench, BenchOptions } from "./run";
import { fmtSummary, mapSummary, summarize, type Summary } from "./stats";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { gaussian, mulberry32 } from "../src/core/model/synthetic";
import { numberToBf16Bits } from "../src/core/safetensors/dtype";
import { writeSafetensors } from "../src/core/safetensors/writer";
import type { TensorToWrite } from "../src/core/safetensors/types";
import { computeMatchTable, type MatchStats } from "../src/core/share/match";
import { createSession, Tensor } from "../src/core/runtime/ort";
import { gemmTransBModel } from "../src/core/runtime/gemmModel";

export interface Shape {
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
}
const FULL: Shape = { layers: 32, hidden: 4096, heads: 32 };
const QUICK: Shape = { layers: 32, hidden: 2048, heads: 32 }; // same unit count as 7B, a quarter of the floats
const VERSION = 1;

const log = (s: string): void => {
  process.stderr.write(`[match bench] ${s}\n`);
};

/** Writes (once) the attention-only BF16 checkpoint: seeded normal(0, 0.02) values, sign-scrambled per tensor. */
export async function ensureModel(cacheDir: string, s: Shape): Promise<string> {
  const dir = path.join(cacheDir, `llama-attn-bf16-L${s.layers}-d${s.hidden}-h${s.heads}-v${VERSION}`);
  const marker = path.join(dir, "complete");
  if (fs.existsSync(marker)) return dir;
  fs.mkdirSync(dir, { recursive: true });
  const t0 = performance.now();
  const d = s.hidden;
  const baseCount = d * d; // one tensor's elements
  const base = new Uint16Array(baseCount); // [d, d] bf16 bits
  const normal = gaussian(mulberry32(1234));
  for (let i = 0; i < baseCount; i++) base[i] = numberToBf16Bits(0.02 * normal());
  const base32 = new Uint32Array(base.buffer);
  let seed = 0x9e3779b9;
  const tensor = (): Uint8Array => {
    // xorshift32 sign masks: every tensor gets independent random signs (near-orthogonal units)
    const out = new Uint32Array(base32.length);
    let x = (seed = (seed + 0x6d2b79f5) >>> 0) || 1;
    for (let i = 0; i < out.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = base32[i]! ^ (x & 0x80008000);
    }
    return new Uint8Array(out.buffer);
  };
  const tensors: TensorToWrite[] = [{ name: "model.embed_tokens.weight", dtype: "BF16", shape: [32, d], data: new Uint8Array(32 * d * 2) }];
  for (let l = 0; l < s.layers; l++) {
    for (const p of ["q", "k", "v", "o"]) {
      tensors.push({ name: `model.layers.${l}.self_attn.${p}_proj.weight`, dtype: "BF16", shape: [d, d], data: async () => tensor() });
    }
  }
  await writeSafetensors(path.join(dir, "model.safetensors"), tensors, { format: "pt" });
  fs.writeFileSync(
    path.join(dir, "config.json"),
    JSON.stringify(
      {
        architectures: ["LlamaForCausalLM"],
        model_type: "llama",
        hidden_size: d,
        num_attention_heads: s.heads,
        num_key_value_heads: s.heads,
        num_hidden_layers: s.layers,
        intermediate_size: 4 * d,
        vocab_size: 32,
        max_position_embeddings: 4096,
        rms_norm_eps: 1e-5,
        torch_dtype: "bfloat16",
        tie_word_embeddings: true,
      },
      null,
      2,
    ),
  );
  fs.writeFileSync(marker, "ok\n");
  log(`generated ${dir} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return dir;
}

/** Sequential page-cache read bandwidth of `file` (warm), bytes/s, best of 2. */
function readBandwidth(file: string): number {
  const fd = fs.openSync(file, "r");
  const buf = Buffer.allocUnsafe(64 << 20);
  const size = fs.fstatSync(fd).size;
  let best = 0;
  try {
    for (let rep = 0; rep < 3; rep++) {
      const t0 = performance.now();
      for (let pos = 0; pos < size;) pos += fs.readSync(fd, buf, 0, Math.min(buf.length, size - pos), pos) || size;
      const bw = size / ((performance.now() - t0) / 1000);
      if (rep > 0) best = Math.max(best, bw); // rep 0 warms the page cache
    }
  } finally {
    fs.closeSync(fd);
  }
  return best;
}

/** CPU seconds (all threads of this process) since `from`. */
function cpuSince(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

/** FLOPs per CPU-second of the last gemmRate() call's best run (less sensitive to other processes). */
let flopPerCpuSecond = 0;

/** ORT Gemm FLOP rate (A·Bᵀ, 1024×1024 output, k = 16384), FLOP/s, best of 3. */
async function gemmRate(): Promise<number> {
  const { session } = await createSession(gemmTransBModel(), { providers: ["cpu"] });
  const m = 1024,
    k = 16384;
  const a = new Float32Array(m * k).map((_, i) => ((i * 2654435761) % 1000) / 1000 - 0.5);
  const feeds = { A: new Tensor("float32", a, [m, k]), B: new Tensor("float32", a, [m, k]) };
  await session.run(feeds);
  let best = 0;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    await session.run(feeds);
    best = Math.max(best, (2 * m * m * k) / ((performance.now() - t0) / 1000));
    flopPerCpuSecond = Math.max(flopPerCpuSecond, (2 * m * m * k) / cpuSince(c0));
  }
  await session.release();
  return best;
}

/** Target layer, source layer: four layer distances (1, 8, 16, L−1) of the per-pair sample. */
function pairLayers(L: number): [number, number][] {
  return [
    [1, 0],
    [9, 1],
    [17, 1],
    [L - 1, 0],
  ].filter(([t]) => t! < L) as [number, number][];
}

/**
 * The reference per-pair algorithm (the paper's code written plainly in JS): for each pair, cut both
 * units' q and k rows out of the loaded tensors, concatenate q‖k, three dot products. Timed pair by
 * pair after `warmup` untimed pairs, `perDistance` pairs (seeded random heads) at each layer
 * distance of pairLayers: seconds per pair, overall and per distance.
 */
async function perPairSeconds(
  dir: string,
  s: Shape,
  perDistance: number,
  warmup: number,
): Promise<{ all: Summary; cpu: Summary; byDistance: { distance: number; seconds: Summary }[] }> {
  const ckpt = await openCheckpoint(dir);
  try {
    const dh = s.hidden / s.heads,
      d = s.hidden;
    const layers = pairLayers(s.layers);
    const loaded = new Map<number, { q: Float32Array; k: Float32Array }>(); // [d, d] f32 row-major each
    for (const l of new Set(layers.flat())) {
      loaded.set(l, {
        q: await ckpt.source.readF32(`model.layers.${l}.self_attn.q_proj.weight`),
        k: await ckpt.source.readF32(`model.layers.${l}.self_attn.k_proj.weight`),
      });
    }
    const rand = mulberry32(77);
    let sink = 0;
    const pair = (t: number, src: number, i: number, j: number): void => {
      const a = loaded.get(t)!,
        b = loaded.get(src)!;
      const x = new Float32Array(2 * dh * d),
        y = new Float32Array(2 * dh * d); // [2·dh·d] q‖k of one head
      x.set(a.q.subarray(i * dh * d, (i + 1) * dh * d), 0);
      x.set(a.k.subarray(i * dh * d, (i + 1) * dh * d), dh * d);
      y.set(b.q.subarray(j * dh * d, (j + 1) * dh * d), 0);
      y.set(b.k.subarray(j * dh * d, (j + 1) * dh * d), dh * d);
      let xy = 0,
        xx = 0,
        yy = 0;
      for (let t2 = 0; t2 < x.length; t2++) {
        xy += x[t2]! * y[t2]!;
        xx += x[t2]! * x[t2]!;
        yy += y[t2]! * y[t2]!;
      }
      sink += xy / Math.sqrt(xx * yy);
    };
    const head = (): number => Math.floor(rand() * s.heads);
    for (let w = 0; w < warmup; w++) pair(layers[w % layers.length]![0], layers[w % layers.length]![1], head(), head());
    const all: number[] = [],
      cpu: number[] = [],
      byDistance: { distance: number; seconds: Summary }[] = [];
    for (const [t, src] of layers) {
      const times: number[] = [];
      for (let p = 0; p < perDistance; p++) {
        const i = head(),
          j = head();
        const t0 = performance.now(),
          c0 = process.cpuUsage();
        pair(t, src, i, j);
        times.push((performance.now() - t0) / 1000);
        cpu.push(cpuSince(c0));
      }
      all.push(...times);
      byDistance.push({ distance: t - src, seconds: summarize(times) });
    }
    if (!Number.isFinite(sink)) throw new Error("per-pair baseline produced a non-finite cosine");
    return { all: summarize(all), cpu: summarize(cpu), byDistance };
  } finally {
    await ckpt.close();
  }
}

const fmt = (x: number, digits = 2): string => x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const GiB = 2 ** 30;

/** What the match bench records (bench/results/match.json). Seconds unless named otherwise. */
export type MatchBenchResult = {
  readonly shape: { layers: number; hidden: number; heads: number; units: number; floatsPerUnit: number; pairs: number; macs: number };
  readonly provider: string;
  readonly matchThreads: number;
  /** onnxruntime intra-op threads: per match thread (the matcher's choice), and of the Gemm-rate reference. */
  readonly ortThreads: string;
  /** Why the matcher ran on fewer threads than asked, when it did. */
  readonly threadFallback: string | null;
  readonly matchSeconds: Summary;
  readonly matchCpuSeconds: Summary;
  /** Of the last run, thread-seconds summed over the match threads. */
  readonly lastRun: { readWait: number; decode: number; gram: number; blocks: number };
  readonly bytesRead: number;
  readonly readBandwidthBytesPerSecond: number;
  readonly gemmFlopPerSecond: number;
  readonly gemmFlopPerCpuSecond: number;
  readonly floorSeconds: { io: number; flop: number; floor: number; cpu: number };
  readonly ratioToFloor: Summary;
  readonly cpuRatioToFloor: Summary;
  readonly peakRssBytes: number;
  readonly perPairSeconds: Summary;
  /** CPU seconds of each pair (robust to other load, like matchCpuSeconds). */
  readonly perPairCpuSeconds?: Summary;
  readonly perPairByDistance: readonly { distance: number; seconds: Summary }[];
  readonly perPairWarmup: number;
  /** per-pair median × pairs. */
  readonly perPairBaselineSeconds: number;
  /** baseline ÷ match seconds: median ÷ median, and the range (min per-pair ÷ max match … max ÷ min). */
  readonly speedup: { median: number; min: number; max: number };
  /** per-pair CPU median × pairs ÷ the match's CPU seconds (median). */
  readonly cpuSpeedup?: number;
};

export const matchBench: Bench = {
  name: "match",
  async run(opts: BenchOptions): Promise<MatchBenchResult> {
    const s = opts.quick ? QUICK : FULL;
    const dir = await ensureModel(opts.cacheDir, s);
    const file = path.join(dir, "model.safetensors");
    log("measuring page-cache read bandwidth");
    const bw = readBandwidth(file);
    log("measuring ORT Gemm FLOP rate");
    const rateBefore = await gemmRate();
    const runs = 3;
    const wall: number[] = [],
      cpu: number[] = [];
    let bytesRead = 0,
      provider = "?",
      threadsUsed = 1;
    let stats: MatchStats = { readWait: 0, decode: 0, gram: 0, blocks: 0 };
    // HEADSHARE_MATCH_THREADS=1 measures the one-thread kernel (default: "auto", two threads here)
    const threads = process.env.HEADSHARE_MATCH_THREADS ? Number(process.env.HEADSHARE_MATCH_THREADS) : ("auto" as const);
    for (let run = 0; run < runs; run++) {
      log(`computing the match table (${run + 1} of ${runs}; load average ${os.loadavg()[0]!.toFixed(2)})`);
      const ckpt = await openCheckpoint(dir);
      stats = { readWait: 0, decode: 0, gram: 0, blocks: 0 };
      try {
        const t0 = performance.now(),
          c0 = process.cpuUsage();
        const table = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group", keepLowerCosines: false, stats, threads });
        wall.push((performance.now() - t0) / 1000);
        cpu.push(cpuSince(c0));
        bytesRead = table.source?.bytesRead ?? 0;
        provider = table.source?.provider ?? "?";
        threadsUsed = stats.threads ?? 1;
      } finally {
        await ckpt.close();
      }
    }
    const peakRss = process.resourceUsage().maxRSS * 1024;
    // The rate is measured before and after the match; the higher one (the lower floor) is used.
    const rate = Math.max(rateBefore, await gemmRate());
    const U = s.heads,
      L = s.layers,
      D = (2 * s.hidden * s.hidden) / s.heads;
    const pairs = (U * U * L * (L - 1)) / 2;
    const macs = pairs * D;
    const floorIo = bytesRead / bw,
      floorFlop = (2 * macs) / rate;
    const floor = Math.max(floorIo, floorFlop);
    const floorCpu = (2 * macs) / flopPerCpuSecond;
    log("timing the per-pair baseline");
    const warmup = 8;
    const per = await perPairSeconds(dir, s, opts.quick ? 16 : 32, warmup);
    const matchS = summarize(wall),
      cpuS = summarize(cpu);
    const baseline = per.all.median * pairs;
    const r: MatchBenchResult = {
      shape: { layers: L, hidden: s.hidden, heads: U, units: L * U, floatsPerUnit: D, pairs, macs },
      provider,
      matchThreads: threadsUsed,
      ortThreads: `${threadsUsed > 1 ? `${Math.max(1, Math.floor(os.cpus().length / threadsUsed))} per match thread` : "onnxruntime's default in the one match thread"}; the Gemm-rate reference: onnxruntime's default`,
      threadFallback: stats.threadFallback ?? null,
      matchSeconds: matchS,
      matchCpuSeconds: cpuS,
      lastRun: { readWait: stats.readWait, decode: stats.decode, gram: stats.gram, blocks: stats.blocks },
      bytesRead,
      readBandwidthBytesPerSecond: bw,
      gemmFlopPerSecond: rate,
      gemmFlopPerCpuSecond: flopPerCpuSecond,
      floorSeconds: { io: floorIo, flop: floorFlop, floor, cpu: floorCpu },
      ratioToFloor: mapSummary(matchS, (x) => x / floor),
      cpuRatioToFloor: mapSummary(cpuS, (x) => x / floorCpu),
      peakRssBytes: peakRss,
      perPairSeconds: per.all,
      perPairByDistance: per.byDistance,
      perPairWarmup: warmup,
      perPairBaselineSeconds: baseline,
      perPairCpuSeconds: per.cpu,
      cpuSpeedup: (per.cpu.median * pairs) / cpuS.median,
      speedup: { median: baseline / matchS.median, min: (per.all.min * pairs) / matchS.max, max: (per.all.max * pairs) / matchS.min },
    };
    console.log(
      `shape: ${L} layers × ${U} heads, width ${s.hidden}, BF16, strategy qk (${L * U} units of ${D} floats, ${pairs} pairs, ${fmt(macs / 1e12, 3)}·10^12 MACs)`,
    );
    console.log(matchTable(r));
    return r;
  },
  readme(result) {
    return { "": matchTable(result as unknown as MatchBenchResult) };
  },
};

const ms = (s: Summary): string =>
  `${fmt(s.median * 1000)} ms (${fmt(s.min * 1000)}–${fmt(s.max * 1000)}; p10–p90 ${fmt(s.p10 * 1000)}–${fmt(s.p90 * 1000)}; n = ${s.n})`;

/** The match bench's table, printed by the run and rendered into README.md. */
export function matchTable(r: MatchBenchResult): string {
  const sh = r.shape;
  const rows = [
    "| metric | value |",
    "| --- | --- |",
    `| checkpoint | synthetic Llama-shaped attention-only BF16: ${sh.layers} layers × ${sh.heads} heads, width ${sh.hidden}; strategy qk, ${sh.units} units of ${sh.floatsPerUnit.toLocaleString("en-US")} floats, ${sh.pairs.toLocaleString("en-US")} pairs, ${fmt(sh.macs / 1e12, 3)}·10¹² multiply-adds |`,
    `| match table (${r.provider}, ${r.matchThreads} match thread${r.matchThreads === 1 ? "" : "s"}${r.threadFallback ? `: ${r.threadFallback}` : ""}), wall | **${fmtSummary(r.matchSeconds, 2, " s")}** |`,
    `| the same, CPU seconds (all threads) | ${fmtSummary(r.matchCpuSeconds, 2, " s")} |`,
    `| of the last run: async-read wait / read+decode / Gram (ORT), thread-seconds | ${fmt(r.lastRun.readWait)} / ${fmt(r.lastRun.decode)} / ${fmt(r.lastRun.gram)} s over ${r.lastRun.blocks} blocks |`,
    `| bytes read | ${fmt(r.bytesRead / GiB, 3)} GiB |`,
    `| peak RSS of the process | ${fmt(r.peakRssBytes / GiB, 2)} GiB |`,
    `| floor: read at the page-cache bandwidth (${fmt(r.readBandwidthBytesPerSecond / GiB)} GiB/s, measured) | ${fmt(r.floorSeconds.io)} s |`,
    `| floor: 2 × multiply-adds at the ORT Gemm rate (${fmt(r.gemmFlopPerSecond / 1e9, 1)} GFLOP/s, measured before and after, best) | ${fmt(r.floorSeconds.flop)} s |`,
    `| match ÷ floor (wall; CPU seconds ÷ Gemm CPU-floor) | **${fmtSummary(r.ratioToFloor, 2, "×")}**; CPU ${fmtSummary(r.cpuRatioToFloor, 2, "×")} |`,
    `| per-pair reference algorithm (JS: cut q‖k of both heads, 3 dot products), after ${r.perPairWarmup} warm-up pairs | ${ms(r.perPairSeconds)} per pair |`,
    ...r.perPairByDistance.map((d) => `| … at layer distance ${d.distance} | ${ms(d.seconds)} |`),
    `| per-pair median × ${sh.pairs.toLocaleString("en-US")} pairs | ${fmt(r.perPairBaselineSeconds, 0)} s |`,
    `| speed-up of the match table over per-pair | **${fmt(r.speedup.median, 0)}×** (range ${fmt(r.speedup.min, 0)}–${fmt(r.speedup.max, 0)}×) |`,
    ...(r.perPairCpuSeconds && r.cpuSpeedup !== undefined
      ? [
          `| the same in CPU time (per-pair CPU ${ms(r.perPairCpuSeconds)} × pairs ÷ the match's CPU seconds; robust to other load) | ${fmt(r.cpuSpeedup, 0)}× |`,
        ]
      : []),
  ];
  return rows.join("\n");
}
