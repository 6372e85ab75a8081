/** `headshare match <model>`: the match table (every target unit's best strictly-lower source), computed in the worker. */
import fs from "node:fs";
import path from "node:path";
import { serializeMatchTable } from "../../core/share/matchTable";
import { writeTextAtomic } from "../../core/safetensors/writer";
import type { MatchTable } from "../../core/share/types";
import { defineCommand } from "../command";
import { bytes, int, keyValues, table, writeOut } from "../output";
import { absolute } from "../runJob";
import { JSON_FLAG, MATCH_FLAGS, PROVIDERS_FLAG } from "./matchFlags";

const usage = `usage: headshare match <model> [--strategy q|k|v|qk|qkv] [--granularity group|query-head]
                       [--out FILE] [--json] [--providers auto|cpu,cuda,...] [--debug]

Computes the match table (method.md §2): for every unit of layers 1..L-1 its most similar unit in a
strictly lower layer (cosine of the concatenated projection slices) and the score, as blocked matrix
products on onnxruntime, streaming the checkpoint layer by layer. Progress goes to stderr.

  <model>         a checkpoint folder (config.json + safetensors), a .safetensors file or an index json
  --strategy      which projections form a unit's vector (default qk, the paper's choice)
  --granularity   group: a KV group (default; one head for MHA); query-head: one query head
  --out FILE      save the table as versioned JSON (headshare plan --match FILE reads it)
  --json          print the table as one JSON object instead of a summary
  --providers     execution providers to try in order (default auto: CUDA/DirectML/CoreML, then CPU)`;

export const matchCommand = defineCommand({
  name: "match",
  summary: "compute the match table of a checkpoint (best lower-layer source of every unit)",
  usage,
  flags: [...MATCH_FLAGS, { name: "out", type: "string", short: "o" }, JSON_FLAG, PROVIDERS_FLAG],
  positionals: [{ name: "model", required: true }],
  async run(c) {
    const a = c.args;
    const providers = c.providers();
    const out = a.flags.out === undefined ? undefined : absolute(a.flags.out as string);
    if (out !== undefined) {
      if (!fs.existsSync(path.dirname(out))) throw c.usageError(`--out ${out}: the folder ${path.dirname(out)} does not exist; create it first`);
      if (fs.existsSync(out) && fs.statSync(out).isDirectory())
        throw c.usageError(`--out ${out} is a folder; give a file name such as ${path.join(out, "match.json")}`);
    }
    const r = await c.job("headshare/match", {
      model: absolute(a.positionals[0]!),
      strategy: (a.flags.strategy as "qk" | undefined) ?? "qk",
      granularity: (a.flags.granularity as "group" | undefined) ?? "group",
      providers,
    });
    if (out !== undefined) await writeTextAtomic(out, serializeMatchTable(r.table));
    if (a.flags.json) await writeOut(JSON.stringify(r.table));
    else await writeOut(renderMatch(r.table) + (out ? `\n\nwritten to ${out}` : ""));
    return 0;
  },
});

/** A short text summary of a match table: run facts and the strongest matches. */
export function renderMatch(t: MatchTable, top = 10): string {
  const s = t.source ?? {};
  const facts: [string, string][] = [
    ["model", s.model ?? "(unknown)"],
    ["strategy", `${t.strategy} (granularity ${t.granularity})`],
    ["units", `${t.layers} layers × ${t.unitsPerLayer} = ${int(t.layers * t.unitsPerLayer)}; ${int(t.entries.length)} targets`],
    ["provider", `${s.provider ?? "?"}${s.adapter ? ` — ${s.adapter}` : ""}${s.threads && s.threads > 1 ? ` (${s.threads} match threads)` : ""}`],
    ["time", s.seconds !== undefined ? `${s.seconds.toFixed(2)} s` : "?"],
    ["bytes read", s.bytesRead !== undefined ? `${int(s.bytesRead)} (${bytes(s.bytesRead)})` : "?"],
  ];
  const scores = t.entries.map((e) => e.score).sort((a, b) => a - b);
  const q = (f: number): string => (scores.length ? scores[Math.min(scores.length - 1, Math.floor(f * scores.length))]!.toFixed(4) : "-");
  facts.push(["scores", `min ${q(0)}  median ${q(0.5)}  max ${q(1 - 1e-12)}`]);
  const best = [...t.entries].sort((a, b) => b.score - a.score || a.layer - b.layer || a.unit - b.unit).slice(0, top);
  return [
    keyValues(facts),
    "",
    `strongest ${best.length} matches`,
    table(
      ["target", "source", "score"],
      best.map((e) => [`${e.layer}.${e.unit}`, `${e.sourceLayer}.${e.sourceUnit}`, e.score.toFixed(6)]),
      [false, false, true],
    ),
  ].join("\n");
}
