// Bundles scripts/NAME.ts with esbuild into out/scripts/NAME.js and runs it with this process's
// arguments, exiting with its status (the launchers of the demo model's scripts).
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

/** `external`: packages left to require at run time (native modules such as onnxruntime-node). */
export async function bundleAndRun(name, external = []) {
  const outfile = path.join(root, "out", "scripts", `${name}.js`);
  await esbuild.build({
    entryPoints: [path.join(root, "scripts", `${name}.ts`)],
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    outfile,
    external,
    logLevel: "warning",
    absWorkingDir: root,
  });
  const r = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: "inherit", cwd: root });
  process.exit(r.status ?? 1);
}
