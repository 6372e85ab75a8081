// `npm test`: type-check, bundle (with tests), run every out/**/*.test.js with node's test runner,
// then the real-VS-Code suite when its runtime is installed (scripts/setup-vscode-runtime.sh).
// Extra args are passed to `node --test` (e.g. --test-name-pattern=safetensors).
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const passthrough = process.argv.slice(2);
if (!process.env.HEADSHARE_SKIP_TYPECHECK) run("npm", ["run", "--silent", "typecheck"]);
run("node", ["scripts/build.mjs", "--tests"]);
function find(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? find(p) : /\.test\.js$/.test(e.name) ? [p] : [];
  });
}
const files = find(path.join(root, "out"))
  .filter((f) => !f.includes(`${path.sep}vscode${path.sep}`))
  .sort();
run("node", ["--test", "--test-reporter=spec", ...passthrough, ...files]);
if (fs.existsSync(path.join(root, "scripts", "test-vscode.mjs"))) run("node", ["scripts/test-vscode.mjs"]);
