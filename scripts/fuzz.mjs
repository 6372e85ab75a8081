// `npm run test:fuzz -- [--cases N] [--seconds S] [--seed S] [--only NAME]`: the long fuzz mode
// (a night run). Bundles test/fuzz/cli.ts to out/fuzz/cli.js and runs it. The bounded run is
// test/fuzz.test.ts, part of `npm test`.
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
await esbuild.build({
  bundle: true,
  sourcemap: "inline",
  platform: "node",
  format: "cjs",
  target: "node20",
  logLevel: "warning",
  absWorkingDir: root,
  entryPoints: { "fuzz/cli": "test/fuzz/cli.ts" },
  outdir: "out",
  external: ["vscode", "onnxruntime-node", "playwright-core", "mocha"],
});
const r = spawnSync(process.execPath, ["--enable-source-maps", path.join(root, "out/fuzz/cli.js"), ...process.argv.slice(2)], { stdio: "inherit", cwd: root });
process.exit(r.status ?? 1);
