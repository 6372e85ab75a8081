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
import { openCheckpoint } from "../src/core/model/checkpoint";
import { gaussian, mulberry32 } from "../src/core/model/synthetic";
import { numberToBf16Bits } from "../src/core/safetensors/dtype";
import { writeSafetensors } from "../src/core/safetensors/writer";
import type { TensorToWrite } from "../src/core/safetensors/types";
import { computeMatchTable, type MatchStats } from "../src/core/share/match";
import { createSession, Tensor } from "../src/core/runtime/ort";
import { gemmTransBModel } from "../src/core/runtime/gemmModel";

export interface Shape { readonly layers: number; readonly hidden: number; readonly heads: number }
const FULL: Shape = { layers: 32, hidden: 4096, heads: 32 };
const QUICK: Shape = { layers: 32, hidden: 2048, heads: 32 }; // same unit count as 7B, a quarter of the floats
const VERSION = 1;

const log = (s: string): void => { process.stderr.write(`[match bench] ${s}\n`); };

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
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
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
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({
    architectures: ["LlamaForCausalLM"], model_type: "llama", hidden_size: d, num_attention_heads: s.heads,
    num_key_value_heads: s.heads, num_hidden_layers: s.layers, intermediate_size: 4 * d, vocab_size: 32,
    max_position_embeddings: 4096, rms_norm_eps: 1e-5, torch_dtype: "bfloat16", tie_word_embeddings: true,
  }, null, 2));
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
  const m = 1024, k = 16384;
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

/** The reference per-pair algorithm on a sample of pairs: seconds per pair. */
async function perPairSeconds(dir: string, s: Shape, samples: number): Promise<number> {
  const ckpt = await openCheckpoint(dir);
  try {
    const dh = s.hidden / s.heads, d = s.hidden;
    const q1 = await ckpt.source.readF32(`model.layers.1.self_attn.q_proj.weight`), k1 = await ckpt.source.readF32(`model.layers.1.self_attn.k_proj.weight`);
    const q0 = await ckpt.source.readF32(`model.layers.0.self_attn.q_proj.weight`), k0 = await ckpt.source.readF32(`model.layers.0.self_attn.k_proj.weight`);
    let sink = 0;
    const t0 = performance.now();
    for (let p = 0; p < samples; p++) {
      const i = p % s.heads, j = (p * 7) % s.heads;
      // cut both heads' slices out of the loaded tensors and concatenate q‖k, as the reference does
      const x = new Float32Array(2 * dh * d), y = new Float32Array(2 * dh * d);
      x.set(q1.subarray(i * dh * d, (i + 1) * dh * d), 0); x.set(k1.subarray(i * dh * d, (i + 1) * dh * d), dh * d);
      y.set(q0.subarray(j * dh * d, (j + 1) * dh * d), 0); y.set(k0.subarray(j * dh * d, (j + 1) * dh * d), dh * d);
      let xy = 0, xx = 0, yy = 0;
      for (let t = 0; t < x.length; t++) { xy += x[t]! * y[t]!; xx += x[t]! * x[t]!; yy += y[t]! * y[t]!; }
      sink += xy / Math.sqrt(xx * yy);
    }
    const per = (performance.now() - t0) / 1000 / samples;
    if (!Number.isFinite(sink)) throw new Error("per-pair baseline produced a non-finite cosine");
    return per;
  } finally {
    await ckpt.close();
  }
}

const fmt = (x: number, digits = 2): string => x.toFixed(digits);
const GiB = 2 ** 30;

export const matchBench: Bench = {
  name: "match",
  async run(opts: BenchOptions): Promise<void> {
    const s = opts.quick ? QUICK : FULL;
    const dir = await ensureModel(opts.cacheDir, s);
    const file = path.join(dir, "model.safetensors");
    log("measuring page-cache read bandwidth");
    const bw = readBandwidth(file);
    log("measuring ORT Gemm FLOP rate");
    const rateBefore = await gemmRate();
    const load = os.loadavg()[0]!;
    log("computing the match table");
    const ckpt = await openCheckpoint(dir);
    let seconds: number, bytesRead: number, provider: string, cpuSeconds: number;
    let c0: NodeJS.CpuUsage;
    const stats: MatchStats = { readWait: 0, decode: 0, gram: 0, blocks: 0 };
    try {
      const t0 = performance.now();
      c0 = process.cpuUsage();
      // HEADSHARE_MATCH_THREADS=1 measures the one-thread kernel (default: "auto", two threads here)
      const threads = process.env.HEADSHARE_MATCH_THREADS ? Number(process.env.HEADSHARE_MATCH_THREADS) : "auto" as const;
      const table = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group", keepLowerCosines: false, stats, threads });
      seconds = (performance.now() - t0) / 1000;
      cpuSeconds = cpuSince(c0);
      bytesRead = table.source?.bytesRead ?? 0;
      provider = table.source?.provider ?? "?";
    } finally {
      await ckpt.close();
    }
    const peakRss = process.resourceUsage().maxRSS * 1024;
    // The rate is measured before and after the match; the higher one (the lower floor) is used.
    const rate = Math.max(rateBefore, await gemmRate());
    const U = s.heads, L = s.layers, D = 2 * s.hidden * s.hidden / s.heads;
    const pairs = (U * U * L * (L - 1)) / 2;
    const macs = pairs * D;
    const floorIo = bytesRead / bw, floorFlop = (2 * macs) / rate;
    const floor = Math.max(floorIo, floorFlop);
    log("timing the per-pair baseline");
    const per = await perPairSeconds(dir, s, opts.quick ? 16 : 8);
    const baseline = per * pairs;
    console.log(`machine: ${os.cpus().length} CPUs, load average ${fmt(load)} when the match started (other processes share the cores)`);
    console.log(`shape: ${L} layers × ${U} heads, width ${s.hidden}, BF16, strategy qk (${L * U} units of ${D} floats, ${pairs} pairs, ${fmt(macs / 1e12, 3)}·10^12 MACs)`);
    console.log("| metric | value |");
    console.log("| --- | --- |");
    console.log(`| match table (${provider}) | ${fmt(seconds)} s |`);
    const threadNote = (stats.threads ?? 1) > 1 ? `, thread-seconds summed over ${stats.threads} match threads` : ", one match thread";
    console.log(`| of which: async-read wait / read+decode / Gram (ORT) | ${fmt(stats.readWait)} / ${fmt(stats.decode)} / ${fmt(stats.gram)} s over ${stats.blocks} blocks${threadNote} |`);
    console.log(`| bytes read | ${fmt(bytesRead / GiB, 3)} GiB |`);
    console.log(`| page-cache read bandwidth | ${fmt(bw / GiB)} GiB/s → ${fmt(floorIo)} s |`);
    console.log(`| ORT Gemm rate (best of before/after) | ${fmt(rate / 1e9, 1)} GFLOP/s → ${fmt(floorFlop)} s |`);
    console.log(`| floor = max(...) | ${fmt(floor)} s |`);
    console.log(`| ratio to floor | ${fmt(seconds / floor)}× (target ≤ 1.3×) |`);
    const floorCpu = (2 * macs) / flopPerCpuSecond;
    console.log(`| CPU time: match / Gemm floor (all threads) | ${fmt(cpuSeconds)} / ${fmt(floorCpu)} CPU·s → ${fmt(cpuSeconds / floorCpu)}× (robust to other load) |`);
    console.log(`| peak RSS | ${fmt(peakRss / GiB, 2)} GiB (target ≤ 4 GiB) |`);
    console.log(`| per-pair baseline | ${fmt(per * 1000, 2)} ms/pair × ${pairs} = ${fmt(baseline, 0)} s |`);
    console.log(`| speed-up vs per-pair | ${fmt(baseline / seconds, 0)}× (target ≥ 100×) |`);
  },
};
