// Resident memory of a fresh process that loads an exported decoder with a stock onnxruntime
// InferenceSession (default options: graph optimizations on, constant folding included) and runs it
// once on a short prompt. Prints one JSON line {rssBytes, peakRssBytes, loadSeconds, runSeconds}.
// usage: node scripts/onnx-rss-probe.mjs DIR/onnx/model.onnx LAYERS KV_HEADS HEAD_DIM [TOKENS]
import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const ort = require("onnxruntime-node");
const [file, layers, kvHeads, headDim, tokens = "8"] = process.argv.slice(2);
if (!file || !layers || !kvHeads || !headDim) {
  process.stderr.write("usage: node scripts/onnx-rss-probe.mjs MODEL.onnx LAYERS KV_HEADS HEAD_DIM [TOKENS]\n");
  process.exit(2);
}
const status = (key) =>
  Number(
    /(\d+) kB/.exec(
      fs
        .readFileSync("/proc/self/status", "utf8")
        .split("\n")
        .find((l) => l.startsWith(key)) ?? "0 kB",
    )[1],
  ) * 1024;
const t0 = performance.now();
const session = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
const t1 = performance.now();
const S = Number(tokens),
  L = Number(layers);
const feeds = {
  input_ids: new ort.Tensor(
    "int64",
    BigInt64Array.from({ length: S }, (_, i) => BigInt(i + 1)),
    [1, S],
  ),
  attention_mask: new ort.Tensor("int64", new BigInt64Array(S).fill(1n), [1, S]),
  position_ids: new ort.Tensor(
    "int64",
    BigInt64Array.from({ length: S }, (_, i) => BigInt(i)),
    [1, S],
  ),
};
for (let l = 0; l < L; l++) {
  for (const kv of ["key", "value"])
    feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor("float32", new Float32Array(0), [1, Number(kvHeads), 0, Number(headDim)]);
}
await session.run(feeds);
const t2 = performance.now();
process.stdout.write(
  `${JSON.stringify({ rssBytes: status("VmRSS:"), peakRssBytes: status("VmHWM:"), loadSeconds: (t1 - t0) / 1000, runSeconds: (t2 - t1) / 1000 })}\n`,
);
await session.release();
