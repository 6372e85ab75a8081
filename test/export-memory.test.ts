// The saving survives loading: a fresh process that loads the exported decoder with a stock
// onnxruntime InferenceSession (default options, which constant-fold) and runs it once is smaller
// for the shared export than for the dense one by at least 80% of the bytes the plan saves.
import test from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { writeSyntheticModel, type SyntheticOptions } from "../src/core/model/synthetic";
import { exportOnnx, ONNX_FILE, type ExportDtype } from "../src/core/export/exportOnnx";

const PROBE = path.resolve(__dirname, "../../scripts/onnx-rss-probe.mjs");

interface Probe {
  rssBytes: number;
  peakRssBytes: number;
}

function probe(dir: string, o: SyntheticOptions, dtype: ExportDtype): Probe {
  const out = execFileSync(
    process.execPath,
    [PROBE, path.join(dir, "onnx", ONNX_FILE[dtype]), String(o.layers), String(o.kvHeads ?? o.heads), String(o.headDim)],
    {
      encoding: "utf8",
    },
  );
  return JSON.parse(out) as Probe;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;

for (const dtype of ["fp32", "fp16"] as const) {
  test(`export memory (${dtype}): a stock onnxruntime session holds the shared export in ≥ 80% less of the saved bytes than the dense one`, async () => {
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-export-rss-"));
    try {
      // attention-heavy: 8 layers × 4 × 512² attention weights (32 MiB f32), small MLP and vocabulary
      const o: SyntheticOptions = { family: "llama", layers: 8, heads: 8, kvHeads: 8, headDim: 64, intermediate: 128, vocab: 128, maxPositions: 64, seed: 11 };
      const model = await writeSyntheticModel(path.join(tmp, "model"), o);
      const dense = await exportOnnx(model, { outDir: path.join(tmp, "dense"), dtype, providers: ["cpu"] });
      const shared = await exportOnnx(model, { outDir: path.join(tmp, "shared"), ratio: 0.5, dtype, providers: ["cpu"] });
      const savedBytes = (dense.parameters - shared.parameters) * (dtype === "fp16" ? 2 : 4);
      assert.equal(shared.plan?.selected, 32);
      const d: Probe[] = [],
        s: Probe[] = [];
      for (let i = 0; i < 3; i++) {
        d.push(probe(dense.outDir, o, dtype));
        s.push(probe(shared.outDir, o, dtype));
      }
      const rssDiff = median(d.map((p) => p.rssBytes)) - median(s.map((p) => p.rssBytes));
      const peakDiff = median(d.map((p) => p.peakRssBytes)) - median(s.map((p) => p.peakRssBytes));
      console.log(
        `# ${dtype}: plan saves ${mib(savedBytes)}; resident after one run: dense ${mib(median(d.map((p) => p.rssBytes)))}, shared ${mib(median(s.map((p) => p.rssBytes)))} (Δ ${mib(rssDiff)}, ${((100 * rssDiff) / savedBytes).toFixed(0)}%); peak Δ ${mib(peakDiff)} (${((100 * peakDiff) / savedBytes).toFixed(0)}%)`,
      );
      assert.ok(rssDiff >= 0.8 * savedBytes, `resident memory dense − shared = ${mib(rssDiff)}, less than 80% of the ${mib(savedBytes)} the plan saves`);
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  });
}
