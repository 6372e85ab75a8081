// Running an exported KV-cache decoder file with a stock onnxruntime session, and headshare's own
// scoring forward as its reference (used by the export tests).
import * as ort from "onnxruntime-node";
import type { Checkpoint } from "../../src/core/model/checkpoint";
import { ForwardRunner, type WeightOverrides } from "../../src/core/eval/runner";
import { LOGITS } from "../../src/core/graph/types";
import { cacheHeads, pastKeyName, pastValueName, presentKeyName, presentValueName } from "../../src/core/graph/kvCache";
import type { SharingPlan } from "../../src/core/share/types";

/** Two rows, the second left-padded: ids [2, S] and its attention mask. */
export function batch(vocab: number, S: number): { ids: number[][]; mask: number[][] } {
  const a = Array.from({ length: S }, (_, i) => (i * 7 + 3) % vocab);
  const b = Array.from({ length: S }, (_, i) => (i < 3 ? 0 : (i * 5 + 1) % vocab));
  return { ids: [a, b], mask: [a.map(() => 1), b.map((_, i) => (i < 3 ? 0 : 1))] };
}

const i64 = (rows: number[][]): ort.Tensor =>
  new ort.Tensor(
    "int64",
    BigInt64Array.from(rows.flat(), (x) => BigInt(x)),
    [rows.length, rows[0]!.length],
  );

/** position_ids as transformers.js makes them: cumsum(mask) − 1, 1 where masked. */
function positions(mask: number[][], from: number, to: number): number[][] {
  return mask.map((row) => {
    let c = 0;
    return row
      .map((m) => {
        c += m;
        return m ? c - 1 : 1;
      })
      .slice(from, to);
  });
}

/** headshare's own scoring forward (no cache): logits of one unpadded row [S, V]; `overrides` replace weights by input name. */
export async function ownLogits(ck: Checkpoint, ids: readonly number[], plan?: SharingPlan, overrides?: WeightOverrides): Promise<Float32Array> {
  const runner = await ForwardRunner.create(ck, { forward: { logits: true }, providers: ["cpu"], threads: 1, ...(plan ? { plan } : {}) });
  try {
    return (
      await runner.run(
        BigInt64Array.from(ids, (x) => BigInt(x)),
        1,
        ids.length,
        undefined,
        undefined,
        overrides,
      )
    )[LOGITS]!.data;
  } finally {
    await runner.release();
  }
}

export const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

/** Runs the exported file: the whole batch at once, and row 0 as prefix + steps through the cache. */
export async function exportedLogits(
  file: string,
  ck: Checkpoint,
  S: number,
): Promise<{ full: Float32Array; stepped: Float32Array; inputNames: readonly string[]; rows: number[][] }> {
  const s = await ort.InferenceSession.create(file);
  try {
    const spec = ck.spec,
      V = spec.vocab;
    const { ids, mask } = batch(V, S);
    const empty = (B: number): Record<string, ort.Tensor> => {
      const f: Record<string, ort.Tensor> = {};
      for (let l = 0; l < spec.layers; l++) {
        f[pastKeyName(l)] = new ort.Tensor("float32", new Float32Array(0), [B, cacheHeads(spec), 0, spec.headDim]);
        f[pastValueName(l)] = new ort.Tensor("float32", new Float32Array(0), [B, cacheHeads(spec), 0, spec.headDim]);
      }
      return f;
    };
    const full = await s.run({ input_ids: i64(ids), attention_mask: i64(mask), position_ids: i64(positions(mask, 0, S)), ...empty(2) });
    // row 0: prefix of 4, then one token at a time through the cache
    const stepped = new Float32Array(S * V);
    let past = empty(1);
    for (let t0 = 0; t0 < S;) {
      const t1 = t0 === 0 ? 4 : t0 + 1;
      const r = await s.run({
        input_ids: i64([ids[0]!.slice(t0, t1)]),
        attention_mask: i64([ids[0]!.slice(0, t1).map(() => 1)]),
        position_ids: i64([Array.from({ length: t1 - t0 }, (_, i) => t0 + i)]),
        ...past,
      });
      stepped.set(r.logits!.data as Float32Array, t0 * V);
      past = {};
      for (let l = 0; l < spec.layers; l++) {
        past[pastKeyName(l)] = r[presentKeyName(l)]!;
        past[pastValueName(l)] = r[presentValueName(l)]!;
      }
      t0 = t1;
    }
    return { full: full.logits!.data as Float32Array, stepped, inputNames: s.inputNames, rows: ids };
  } finally {
    await s.release();
  }
}
