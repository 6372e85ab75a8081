/**
 * Safetensors/model-layer benchmark (issue 2). Prints, all measured in this run:
 *   - inspect of a Llama-2-7B-shaped BF16 checkpoint (sparse file, 13 GB): seconds and bytes read;
 *   - reading every KV-group unit (q/k/v rows, o column block) of a width-4096 BF16 layer through
 *     readUnit vs. the baseline "read each whole tensor, cut the slice": seconds, bytes read, ratio;
 *   - BF16/F16 → F32 conversion throughput vs. a per-element baseline.
 */
import fs from "node:fs";
import path from "node:path";
import type { Bench, BenchOptions } from "./run";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { inspectCheckpoint } from "../src/core/model/summary";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { readUnit } from "../src/core/model/units";
import { bytesToF32, f16BitsToNumber } from "../src/core/safetensors/dtype";
import { writeSparseLlama } from "../test/helpers/sparseLlama";

const log = (s: string): void => { process.stderr.write(`[safetensors bench] ${s}\n`); };
const rchar = (): number | undefined => {
  try {
    return Number(/rchar:\s*(\d+)/.exec(fs.readFileSync("/proc/self/io", "utf8"))![1]);
  } catch {
    return undefined;
  }
};
const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

async function sparseLlama7b(cacheDir: string): Promise<string> {
  const dir = path.join(cacheDir, "sparse-llama2-7b-bf16-v1");
  if (fs.existsSync(path.join(dir, "complete"))) return dir;
  writeSparseLlama(dir, 32);
  fs.writeFileSync(path.join(dir, "complete"), "");
  return dir;
}

async function run(o: BenchOptions): Promise<void> {
  // 1. inspect = headers only
  const sparse = await sparseLlama7b(o.cacheDir);
  const r0 = rchar();
  let t = performance.now();
  const s = await inspectCheckpoint(sparse);
  const inspectS = (performance.now() - t) / 1000;
  const r1 = rchar();
  console.log(`inspect Llama-2-7B-shaped BF16 (${(s.fileBytes / 1e9).toFixed(2)} GB, ${s.parameters.toLocaleString("en-US")} parameters): ${inspectS.toFixed(3)} s, ${r0 === undefined ? "?" : (r1! - r0).toLocaleString("en-US")} bytes read`);

  // 2. unit reads vs whole-tensor reads
  const width = o.quick ? 2048 : 4096, heads = width / 128;
  const dir = path.join(o.cacheDir, `layer-bf16-d${width}-v1`);
  if (!fs.existsSync(path.join(dir, "config.json"))) {
    log(`writing a 1-layer width-${width} BF16 checkpoint into ${dir}`);
    await writeSyntheticModel(dir, { family: "llama", layers: 1, heads, headDim: 128, intermediate: 8, vocab: 8, maxPositions: 8, seed: 1, dtype: "BF16" });
  }
  const ck = await openCheckpoint(dir);
  const projs = ["q", "k", "v", "o"] as const;
  const b0 = ck.source.bytesRead;
  t = performance.now();
  for (let u = 0; u < heads; u++) await readUnit(ck, 0, u, "group", projs);
  const unitS = (performance.now() - t) / 1000;
  const unitBytes = ck.source.bytesRead - b0;
  const lt = ck.spec.layerTensors[0]!;
  const b1 = ck.source.bytesRead;
  t = performance.now();
  for (let u = 0; u < heads; u++) {
    const rows = [u * 128, (u + 1) * 128];
    for (const name of [lt.q, lt.k, lt.v]) (await ck.source.readF32(name)).slice(rows[0]! * width, rows[1]! * width);
    const w = await ck.source.readF32(lt.o); // [d, d]
    const out = new Float32Array(width * 128);
    for (let r = 0; r < width; r++) out.set(w.subarray(r * width + rows[0]!, r * width + rows[1]!), r * 128);
  }
  const baseS = (performance.now() - t) / 1000;
  const baseBytes = ck.source.bytesRead - b1;
  await ck.close();
  console.log(`read all ${heads} units (q/k/v rows + o columns) of a width-${width} BF16 layer: readUnit ${unitS.toFixed(3)} s, ${mb(unitBytes)} read; whole-tensor baseline ${baseS.toFixed(3)} s, ${mb(baseBytes)} read; ${(baseS / unitS).toFixed(1)}× faster, ${(baseBytes / unitBytes).toFixed(1)}× fewer bytes`);

  // 3. conversion throughput
  const n = o.quick ? 1 << 22 : 1 << 25;
  const raw = new Uint16Array(n);
  for (let i = 0; i < n; i++) raw[i] = (i * 2654435761) & 0x7bff;
  const bytes = new Uint8Array(raw.buffer);
  for (const dt of ["BF16", "F16"] as const) {
    t = performance.now();
    bytesToF32(bytes, dt);
    const fast = (performance.now() - t) / 1000;
    t = performance.now();
    const out = new Float32Array(n);
    if (dt === "F16") for (let i = 0; i < n; i++) out[i] = f16BitsToNumber(raw[i]!);
    else { const dv = new DataView(raw.buffer); const f = new DataView(new ArrayBuffer(4)); for (let i = 0; i < n; i++) { f.setUint16(0, dv.getUint16(2 * i, true), false); f.setUint16(2, 0); out[i] = f.getFloat32(0, false); } }
    const slow = (performance.now() - t) / 1000;
    console.log(`${dt} → F32, ${n.toLocaleString("en-US")} values: ${(n / fast / 1e6).toFixed(0)} M/s (per-element baseline ${(n / slow / 1e6).toFixed(0)} M/s, ${(slow / fast).toFixed(1)}×)`);
  }
}

export const safetensorsBench: Bench = { name: "safetensors", run };
