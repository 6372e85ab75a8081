/** `headshare share <model> --ratio A --out DIR`: DirectShare in the worker (match → plan → compact or dense checkpoint). */
import type { ShareResult } from "../../core/share/types";
import { defineCommand } from "../command";
import { bytes, int, keyValues, pct, writeOut, device } from "../output";
import { absolute } from "../runJob";
import { checkOutFolder } from "./outDir";
import { planFacts } from "./plan";
import { JSON_FLAG, MATCH_FLAGS, PROVIDERS_FLAG, RATIO_FLAG, WRITE_FLAGS } from "./matchFlags";

const usage = `usage: headshare share <model> --ratio A --out DIR [--strategy q|k|v|qk|qkv] [--granularity group|query-head]
                       [--format compact|dense] [--force] [--wait] [--json] [--providers auto|cpu,cuda,...] [--debug]

DirectShare (method.md §2–§4): computes the match table, selects floor(A·L·U) units, and writes
  compact  safetensors holding only the stored units' attention slices, the plan in __metadata__
           (the file that actually saves memory; headshare expand turns it into the dense one)
  dense    ordinary Hugging Face shapes, each shared unit's slices replaced by its root's
config.json and tokenizer files are copied; the input is only read. Progress goes to stderr;
Ctrl-C cancels and leaves no output folder behind.

  <model>         a checkpoint folder, a .safetensors file or an index json
  --ratio A       sharing ratio: a fraction of all L·U units (0 ≤ A ≤ (L−1)/L)
  --out DIR       output folder (refused when it exists and is not empty, unless --force)
  --force         replace an existing output: the new one is built in a staging folder beside it and
                  swapped in when complete; on failure or Ctrl-C the previous output stays as it was
  --wait          when another headshare run is writing the same folder, wait for it instead of refusing
  --format        compact (default) or dense
  --strategy      match strategy (default qk); --granularity group (default) or query-head
  --json          print one JSON object {plan, output, match, provider, seconds}`;

export const shareCommand = defineCommand({
  name: "share",
  summary: "DirectShare: write a compact or dense shared checkpoint at a ratio",
  usage,
  flags: [RATIO_FLAG, { name: "out", type: "string", short: "o" }, ...MATCH_FLAGS, ...WRITE_FLAGS, JSON_FLAG, PROVIDERS_FLAG],
  positionals: [{ name: "model", required: true }],
  async run(c) {
    const a = c.args;
    const ratio = c.required("ratio", "--ratio A is required (e.g. --ratio 0.3)") as number;
    c.required("out", "--out DIR is required (a new folder for the shared checkpoint)");
    const providers = c.providers();
    const model = absolute(a.positionals[0]!);
    const out = absolute(a.flags.out as string);
    const force = a.flags.force === true;
    await checkOutFolder("share", usage, out, model, force, "the shared checkpoint");
    const r = await c.job("headshare/share", {
      model,
      out,
      force,
      ratio,
      ...(a.flags.wait === true ? { wait: true } : {}),
      strategy: (a.flags.strategy as "qk" | undefined) ?? "qk",
      granularity: (a.flags.granularity as "group" | undefined) ?? "group",
      format: (a.flags.format as "compact" | undefined) ?? "compact",
      providers,
    });
    if (a.flags.json) await writeOut(JSON.stringify(r));
    else {
      await writeOut(
        keyValues([
          ...planFacts(r.plan),
          ...outputFacts(r.output),
          ["time", `${r.seconds.toFixed(2)} s (match ${r.match.seconds.toFixed(2)} s on ${device(r)})`],
        ]),
      );
    }
    return 0;
  },
});

/** Sizes before → after of a written checkpoint. */
export function outputFacts(o: ShareResult): [string, string][] {
  const saved = o.fileBytesBefore - o.fileBytesAfter;
  const facts: [string, string][] = [
    ["written", `${o.format} checkpoint in ${o.outDir} (${o.files.join(", ")})`],
    ["parameters", `${int(o.parametersBefore)} → ${int(o.parametersAfter)} unique (${int(o.parametersStored)} stored)`],
    ["file size", `${int(o.fileBytesBefore)} → ${int(o.fileBytesAfter)} bytes (${bytes(o.fileBytesBefore)} → ${bytes(o.fileBytesAfter)})`],
  ];
  if (saved > 0) {
    facts.push([
      "bytes saved",
      `${int(saved)} (${bytes(saved)}, ${pct(saved / Math.max(1, o.fileBytesBefore), 2)}; ${int(o.savedUnits)} units × ${int(o.bytesPerUnit)} bytes = ${int(o.savedUnits * o.bytesPerUnit)} of tensor data)`,
    ]);
  }
  return facts;
}
