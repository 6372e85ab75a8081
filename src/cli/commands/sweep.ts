/** `headshare sweep <model> --ratios … --text FILE`: one match table, then the shared model's metrics at each ratio. */
import { writeTextAtomic } from "../../core/safetensors/writer";
import { sweepCsv } from "../../core/eval/sweep";
import { UsageError } from "../args";
import { defineCommand } from "../command";
import { bytes, int, pct, table, writeOut, device } from "../output";
import { absolute } from "../runJob";
import { RUN_MODEL_FLAGS, RUN_MODEL_USAGE, runModelParams, TEXT_FLAGS, TEXT_USAGE, textParams } from "./textFlags";
import { JSON_FLAG, MATCH_FLAGS, PROVIDERS_FLAG } from "./matchFlags";

const usage = `usage: headshare sweep <model> --ratios A,B,... --text FILE [--csv FILE] [--strategy ...] [--granularity ...]
                       [--documents-separator STR] [--window N] [--stride S] [--no-bos] [--json]
                       [--providers auto|cpu,cuda,...] [--debug]

The quality/size curve: computes the match table once, then for each ratio applies DirectShare in
memory and scores the shared model against the original on the text (NLL, ppl, KL(P_original ‖
P_shared), top-1 agreement, hidden-state cosine), with the compact checkpoint's parameters and bytes.

  --ratios A,B,...  sharing ratios, e.g. 0,0.05,0.1,0.2,0.3
${TEXT_USAGE}
${RUN_MODEL_USAGE}
  --csv FILE        also write the curve as CSV
  --json            one JSON object {rows, original, tokens, protocol, provider, seconds, ...}`;

function parseRatios(raw: string): number[] {
  const parts = raw
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const out = parts.map(Number);
  const bad = parts.find((_s, i) => !Number.isFinite(out[i]!) || out[i]! < 0 || out[i]! > 1);
  if (parts.length === 0 || bad !== undefined) throw new UsageError(`sweep: --ratios needs a comma list of numbers in [0, 1] (got "${bad ?? raw}")`, usage);
  return out;
}

export const sweepCommand = defineCommand({
  name: "sweep",
  summary: "quality/size curve: metrics of the shared model at several ratios",
  usage,
  flags: [...TEXT_FLAGS, { name: "ratios", type: "string" }, { name: "csv", type: "string" }, ...MATCH_FLAGS, ...RUN_MODEL_FLAGS, JSON_FLAG, PROVIDERS_FLAG],
  positionals: [{ name: "model", required: true }],
  async run(c) {
    const a = c.args;
    c.required("ratios", "--ratios A,B,... is required (e.g. --ratios 0,0.1,0.2,0.3)");
    c.required("text", "--text FILE is required");
    const ratios = parseRatios(a.flags.ratios as string);
    const providers = c.providers();
    const r = await c.job("headshare/sweep", {
      model: absolute(a.positionals[0]!),
      text: absolute(a.flags.text as string),
      ratios,
      strategy: (a.flags.strategy as "qk" | undefined) ?? "qk",
      granularity: (a.flags.granularity as "group" | undefined) ?? "group",
      ...textParams(a),
      ...runModelParams(a),
      providers,
    });
    const csvFile = a.flags.csv === undefined ? undefined : absolute(a.flags.csv as string);
    if (csvFile) await writeTextAtomic(csvFile, sweepCsv(r));
    if (a.flags.json) {
      await writeOut(JSON.stringify(r));
      return 0;
    }
    const rows = r.rows.map((x) => [
      String(x.ratio),
      int(x.selected),
      int(x.parameters),
      bytes(x.bytes),
      x.nll.toFixed(4),
      x.ppl.toFixed(3),
      x.kl.toFixed(5),
      pct(x.top1Agreement, 1),
    ]);
    await writeOut(
      [
        `original: nll ${r.original.nll.toFixed(4)}, ppl ${r.original.ppl.toFixed(3)}, ${int(r.original.parameters)} parameters, ${bytes(r.original.bytes)}`,
        `${int(r.tokens)} tokens (${r.protocol.description}); ${r.klDirection}; ${r.seconds.toFixed(1)} s on ${device(r)}, ${r.forward ?? "whole-model"} forward`,
        "",
        table(["ratio", "selected", "parameters", "bytes", "nll", "ppl", "kl", "top-1"], rows, [true, true, true, true, true, true, true, true]),
        ...(csvFile ? ["", `CSV written to ${csvFile}`] : []),
      ].join("\n"),
    );
    return 0;
  },
});
