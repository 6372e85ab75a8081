/**
 * Safetensors/model-layer benchmark (issue 2). Prints and records, all measured in this run (each
 * timing: warm-up, then several samples; median and range):
 *   - inspect of a Llama-2-7B-shaped BF16 checkpoint (sparse file, 13 GB): seconds and bytes read;
 *   - reading KV-group units (q/k/v rows, o column block) of a width-4096 BF16 layer through
 *     readUnit against the read-once baseline (read each of q, k, v, o whole once, cut the units'
 *     slices): all units of the layer (same bytes: the overhead of unit reads), and one unit (the
 *     bytes a unit read saves);
 *   - BF16/F16 → F32 widening (bytesToF32) against plain loops: the BF16 shift loop
 *     (`u32[i] = u16[i] << 16`) and the F16 per-element decode (f16BitsToNumber).
 */
import fs from "node:fs";
import path from "node:path";
import type { Bench, BenchOptions } from "./run";
import { fmtSummary, sample, type Summary } from "./stats";
import { openCheckpoint, type Checkpoint } from "../src/core/model/checkpoint";
import { inspectCheckpoint } from "../src/core/model/summary";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { readUnit } from "../src/core/model/units";
import { bytesToF32, f16BitsToNumber } from "../src/core/safetensors/dtype";
import { writeSparseLlama } from "../test/helpers/sparseLlama";

const log = (s: string): void => {
  process.stderr.write(`[safetensors bench] ${s}\n`);
};
const rchar = (): number | undefined => {
  try {
    return Number(/rchar:\s*(\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);
  } catch {
    return undefined;
  }
};
const MiB = 2 ** 20;
const fmt = (x: number, d = 1): string => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

async function sparseLlama7b(cacheDir: string): Promise<string> {
  const dir = path.join(cacheDir, "sparse-llama2-7b-bf16-v1");
  if (fs.existsSync(path.join(dir, "complete"))) return dir;
  writeSparseLlama(dir, 32);
  fs.writeFileSync(path.join(dir, "complete"), "");
  return dir;
}

/** One timed comparison: headshare's way against a baseline, both sampled in this run. */
type Comparison = { label: string; seconds: Summary; bytes: number; baseline: string; baselineSeconds: Summary; baselineBytes: number };

export type SafetensorsBenchResult = {
  ortThreads: string;
  inspect: { fileBytes: number; parameters: number; seconds: Summary; bytesRead: number | null };
  width: number;
  units: Comparison[];
  widening: { dtype: "BF16" | "F16"; values: number; seconds: Summary; baseline: string; baselineSeconds: Summary }[];
};

/** readUnit for `units` of layer 0 against reading q, k, v, o whole once and cutting the same units. */
async function compareUnits(
  ck: Checkpoint,
  width: number,
  units: number[],
  samples: number,
): Promise<{ seconds: Summary; bytes: number; baselineSeconds: Summary; baselineBytes: number }> {
  const projs = ["q", "k", "v", "o"] as const;
  const dh = 128;
  let b0 = ck.source.bytesRead;
  const fast = await sample(samples, 1, async () => {
    for (const u of units) await readUnit(ck, 0, u, "group", projs);
  });
  const bytes = (ck.source.bytesRead - b0) / (samples + 1);
  const lt = ck.spec.layerTensors[0]!;
  b0 = ck.source.bytesRead;
  const slow = await sample(samples, 1, async () => {
    const [q, k, v, o] = [await ck.source.readF32(lt.q), await ck.source.readF32(lt.k), await ck.source.readF32(lt.v), await ck.source.readF32(lt.o)]; // [d, d] f32 each
    for (const u of units) {
      for (const w of [q, k, v]) w.slice(u * dh * width, (u + 1) * dh * width); // [dh, d] rows of unit u
      const out = new Float32Array(width * dh); // [d, dh] columns of unit u
      for (let r = 0; r < width; r++) out.set(o.subarray(r * width + u * dh, r * width + (u + 1) * dh), r * dh);
    }
  });
  const baselineBytes = (ck.source.bytesRead - b0) / (samples + 1);
  return { seconds: fast.wall, bytes, baselineSeconds: slow.wall, baselineBytes };
}

async function run(o: BenchOptions): Promise<SafetensorsBenchResult> {
  // 1. inspect = headers only
  const sparse = await sparseLlama7b(o.cacheDir);
  const r0 = rchar();
  const s = await inspectCheckpoint(sparse);
  const inspectBytes = r0 === undefined ? null : rchar()! - r0;
  const inspect = await sample(o.quick ? 5 : 15, 1, async () => {
    await inspectCheckpoint(sparse);
  });

  // 2. unit reads vs the read-once baseline
  const width = o.quick ? 2048 : 4096,
    heads = width / 128;
  const dir = path.join(o.cacheDir, `layer-bf16-d${width}-v1`);
  if (!fs.existsSync(path.join(dir, "config.json"))) {
    log(`writing a 1-layer width-${width} BF16 checkpoint into ${dir}`);
    await writeSyntheticModel(dir, { family: "llama", layers: 1, heads, headDim: 128, intermediate: 8, vocab: 8, maxPositions: 8, seed: 1, dtype: "BF16" });
  }
  const ck = await openCheckpoint(dir);
  const samples = o.quick ? 3 : 7;
  const units: Comparison[] = [];
  try {
    const all = await compareUnits(
      ck,
      width,
      Array.from({ length: heads }, (_, u) => u),
      samples,
    );
    units.push({ label: `all ${heads} units of the layer`, ...all, baseline: "read q, k, v, o whole once, cut every unit" });
    const one = await compareUnits(ck, width, [heads >> 1], samples);
    units.push({ label: "one unit", ...one, baseline: "read q, k, v, o whole once, cut the unit" });
  } finally {
    await ck.close();
  }

  // 3. widening throughput
  const n = o.quick ? 1 << 22 : 1 << 25;
  const raw = new Uint16Array(n);
  for (let i = 0; i < n; i++) raw[i] = (i * 2654435761) & 0x7bff;
  const bytes = new Uint8Array(raw.buffer);
  const widening: SafetensorsBenchResult["widening"] = [];
  for (const dt of ["BF16", "F16"] as const) {
    let sink = 0;
    const fast = await sample(samples, 1, () => {
      sink += bytesToF32(bytes, dt)[n - 1]!;
    });
    const slow =
      dt === "BF16"
        ? await sample(samples, 1, () => {
            const out = new Uint32Array(n);
            for (let i = 0; i < n; i++) out[i] = raw[i]! << 16;
            sink += out[n - 1]!;
          })
        : await sample(samples, 1, () => {
            const out = new Float32Array(n);
            for (let i = 0; i < n; i++) out[i] = f16BitsToNumber(raw[i]!);
            sink += out[n - 1]!;
          });
    if (Number.isNaN(sink)) log("(sink is NaN)");
    widening.push({
      dtype: dt,
      values: n,
      seconds: fast.wall,
      baseline: dt === "BF16" ? "plain shift loop u32[i] = u16[i] << 16" : "per-element decode f16BitsToNumber",
      baselineSeconds: slow.wall,
    });
  }
  const r: SafetensorsBenchResult = {
    ortThreads: "none (no onnxruntime in this bench)",
    inspect: { fileBytes: s.fileBytes, parameters: s.parameters, seconds: inspect.wall, bytesRead: inspectBytes },
    width,
    units,
    widening,
  };
  console.log(safetensorsTable(r));
  return r;
}

/** The safetensors bench's table, printed by the run and rendered into README.md. */
export function safetensorsTable(r: SafetensorsBenchResult): string {
  const rows = [
    "| measured | headshare | baseline in the same run | ratio (baseline ÷ headshare, medians) |",
    "| --- | --- | --- | --- |",
    `| inspect a ${fmt(r.inspect.fileBytes / 1e9, 2)} GB Llama-2-7B-shaped BF16 file (${r.inspect.parameters.toLocaleString("en-US")} parameters) | ${fmtSummary(r.inspect.seconds, 4, " s")}, ${r.inspect.bytesRead === null ? "?" : r.inspect.bytesRead.toLocaleString("en-US")} bytes read | the file's size | reads only the header and config |`,
    ...r.units.map(
      (u) =>
        `| read ${u.label} (q/k/v rows, o columns) of a width-${r.width} BF16 layer | ${fmtSummary(u.seconds, 3, " s")}, ${fmt(u.bytes / MiB)} MiB read | ${u.baseline}: ${fmtSummary(u.baselineSeconds, 3, " s")}, ${fmt(u.baselineBytes / MiB)} MiB | ${fmt(u.baselineSeconds.median / u.seconds.median, 2)}× the speed, ${u.baselineBytes > 1.05 * u.bytes ? `${fmt(u.baselineBytes / u.bytes, 1)}× fewer bytes` : "the same bytes"} |`,
    ),
    ...r.widening.map(
      (w) =>
        `| ${w.dtype} → F32, ${w.values.toLocaleString("en-US")} values (bytesToF32) | ${fmt(w.values / w.seconds.median / 1e6, 0)} M values/s (${fmtSummary(w.seconds, 4, " s")}) | ${w.baseline}: ${fmt(w.values / w.baselineSeconds.median / 1e6, 0)} M values/s | ${fmt(w.baselineSeconds.median / w.seconds.median, 2)}× |`,
    ),
  ];
  return rows.join("\n");
}

export const safetensorsBench: Bench = {
  name: "safetensors",
  run,
  readme: (result) => ({ "": safetensorsTable(result as SafetensorsBenchResult) }),
};
