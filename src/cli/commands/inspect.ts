/** `headshare inspect <file-or-folder> [--json] [--tensors N]`: what a checkpoint holds. */
import { inspectCheckpoint, type CheckpointSummary } from "../../core/model/summary";
import { compactPlanProblem } from "../../core/share/planCheck";
import { defineCommand } from "../command";
import { bytes, int, keyValues, pct, table, writeOut } from "../output";
import { JSON_FLAG } from "./matchFlags";

const usage = `usage: headshare inspect <file-or-folder> [--json] [--all] [--debug]

Prints a checkpoint's architecture, layers, heads, kv heads, head size, width, parameters, bytes,
dtypes, the attention's share of parameters, and the tensor table. Reads only headers and config.json.

  <file-or-folder>  a folder with config.json + model.safetensors (or model.safetensors.index.json),
                    a .safetensors file, or a safetensors index json
  --json            print one JSON object instead of text
  --all             list every tensor (text mode lists the first 50 and the last 10 otherwise)
  --debug           show stack traces on errors`;

function render(s: CheckpointSummary & { readonly planError: string | null }, all: boolean): string {
  const out: string[] = [];
  const model: [string, string][] = [
    ["path", s.path],
    ["weights", s.weights],
  ];
  if (s.modelError) model.push(["model", `unknown (${s.modelError})`]);
  else {
    model.push(
      ["architecture", `${s.architecture} (${s.family})`],
      ["layers", String(s.layers)],
      ["heads", String(s.heads)],
      ["kv heads", String(s.kvHeads)],
      ["head size", String(s.headDim)],
      ["width", String(s.hidden)],
      ["mlp width", String(s.intermediate)],
      ["vocab", String(s.vocab)],
      ["tied embeddings", s.tiedEmbeddings ? "yes" : "no"],
    );
  }
  model.push(
    ["parameters", int(s.parameters) + (s.buffers.tensors ? ` (+ ${int(s.buffers.elements)} in ${s.buffers.tensors} buffers: masks, rotary tables)` : "")],
    ["bytes", `${int(s.bytes)} (${bytes(s.bytes)}; ${bytes(s.fileBytes)} on disk)`],
    [
      "dtypes",
      Object.entries(s.dtypes)
        .map(([d, n]) => `${d} ${int(n)}`)
        .join(", ") || "(none)",
    ],
  );
  if (s.attentionParameters !== null) model.push(["attention", `${int(s.attentionParameters)} parameters (${pct(s.attentionShare ?? 0)} of all)`]);
  out.push(keyValues(model));
  if (s.plan) {
    const p = s.plan;
    const lines: [string, string][] = [
      ...(s.planError ? [["plan", `INVALID: ${s.planError}`] as [string, string]] : []),
      [
        "shared",
        `${s.compact ? "compact" : "dense"} headshare checkpoint: ratio ${pct(p.ratio, 1)}, ${int(p.savedUnits)} units saved (${p.strategy}, ${p.granularity})`,
      ],
    ];
    if (p.parametersBefore !== null && p.parametersAfter !== null) {
      lines.push([
        "parameters",
        `${int(p.parametersBefore)} → ${int(p.parametersAfter)} (${pct(1 - p.parametersAfter / Math.max(1, p.parametersBefore), 2)} saved)`,
      ]);
    }
    if (s.compact) lines.push(["dense size", `${int(s.denseParameters)} parameters when expanded`]);
    out.push("", keyValues(lines));
  }
  const meta = Object.entries(s.metadata).filter(([k]) => !k.startsWith("headshare."));
  if (meta.length) out.push("", keyValues(meta.map(([k, v]) => [`metadata ${k}`, v.length > 120 ? `${v.slice(0, 120)}…` : v])));
  const rows = s.tensors.map((t) => [t.name, t.dtype, `[${t.shape.join(", ")}]`, int(t.bytes)]);
  const shown = all || rows.length <= 60 ? rows : [...rows.slice(0, 50), ["…", "", `${rows.length - 60} more (--all)`, ""], ...rows.slice(-10)];
  out.push("", `${int(s.tensors.length)} tensors`, table(["name", "dtype", "shape", "bytes"], shown, [false, false, false, true]));
  return out.join("\n");
}

export const inspectCommand = defineCommand({
  name: "inspect",
  summary: "show a checkpoint's architecture, sizes, dtypes and tensors",
  usage,
  flags: [JSON_FLAG, { name: "all", type: "boolean" }],
  positionals: [{ name: "file-or-folder", required: true }],
  async run({ args: a }) {
    const planError = await compactPlanProblem(a.positionals[0]!);
    const summary = { ...(await inspectCheckpoint(a.positionals[0]!)), planError };
    await writeOut(a.flags.json ? JSON.stringify(summary, null, 2) : render(summary, a.flags.all === true));
    if (planError) {
      process.stderr.write(`headshare: inspect: the compact checkpoint's plan is invalid (expand would refuse it): ${planError}\n`);
      return 1;
    }
    return 0;
  },
});
