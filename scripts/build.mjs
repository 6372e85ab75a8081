// Bundles every entry point with esbuild. `tsc --noEmit` (npm run typecheck) does the type checking.
//   dist/extension.js  node, vscode external          (extension host)
//   dist/worker.js     node, onnxruntime-node external (compute process)
//   dist/cli.js        node, onnxruntime-node external (headshare CLI)
//   dist/matchThread.js node, onnxruntime-node external (match threads the worker/CLI start; also
//                      beside the test and bench bundles, which start them too)
//   dist/tokenizerThread.js node (the tokenizer thread: encode/decode under a time limit; same places)
//   dist/webview.js    browser IIFE                    (webview UI)
//   out/test/**.test.js  node test files for `node --test` (with --tests)
import * as esbuild from "esbuild";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const args = new Set(process.argv.slice(2));
const production = args.has("--production");
const withTests = args.has("--tests");
const withBench = args.has("--bench");
const nodeExternal = ["vscode", "onnxruntime-node", "playwright-core", "mocha", "@huggingface/transformers"];

const common = {
  bundle: true,
  sourcemap: production ? false : "linked",
  minify: production,
  logLevel: "warning",
  absWorkingDir: root,
};

function findTests(dir) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findTests(p));
    else if (/\.test\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

/** The match-thread and tokenizer-thread bundles, written beside every bundle that computes match tables or tokenizes. */
function matchThread(outdir) {
  return esbuild.build({
    ...common,
    platform: "node",
    format: "cjs",
    target: "node20",
    entryPoints: { matchThread: "src/core/share/matchThread.ts", tokenizerThread: "src/core/eval/tokenizerThread.ts" },
    outdir,
    external: nodeExternal,
  });
}

const builds = [
  esbuild.build({
    ...common,
    platform: "node",
    format: "cjs",
    target: "node20",
    entryPoints: { extension: "src/extension/extension.ts" },
    outdir: "dist",
    external: nodeExternal,
  }),
  esbuild.build({
    ...common,
    platform: "node",
    format: "cjs",
    target: "node20",
    entryPoints: { worker: "src/worker/main.ts", cli: "src/cli/main.ts" },
    outdir: "dist",
    external: nodeExternal,
    banner: { js: "#!/usr/bin/env node" },
  }),
  matchThread("dist"),
  esbuild.build({
    ...common,
    platform: "browser",
    format: "iife",
    target: "es2022",
    entryPoints: { webview: "src/webview/main.ts" },
    outdir: "dist",
    loader: { ".css": "css" },
  }),
];
if (withTests) {
  const entries = [...findTests(path.join(root, "test")), ...findTests(path.join(root, "src"))];
  const entryPoints = Object.fromEntries(entries.map((f) => [path.relative(root, f).replace(/\.ts$/, ""), f]));
  if (entries.length) {
    builds.push(
      esbuild.build({ ...common, sourcemap: "inline", platform: "node", format: "cjs", target: "node20", entryPoints, outdir: "out", external: nodeExternal }),
    );
    builds.push(matchThread("out/test"));
  }
}
if (withBench) {
  builds.push(
    esbuild.build({
      ...common,
      platform: "node",
      format: "cjs",
      target: "node20",
      entryPoints: { "bench/run": "bench/run.ts" },
      outdir: "out",
      external: nodeExternal,
    }),
  );
  builds.push(matchThread("out/bench"));
}
await Promise.all(builds);
