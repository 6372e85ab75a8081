/** `headshare export <model> [--ratio A | --plan FILE] --format onnx --out DIR`: an ONNX KV-cache decoder folder (worker job). */
import fs from "node:fs";
import { defineCommand } from "../command";
import { bytes, int, keyValues, pct, writeOut } from "../output";
import { absolute } from "../runJob";
import { EXPORT_DTYPES } from "../../core/export/results";
import { JSON_FLAG, PROVIDERS_FLAG, RATIO_FLAG, STRATEGY_FLAG, WAIT_FLAG } from "./matchFlags";

const usage = `usage: headshare export <model> --format onnx --out DIR [--ratio A [--strategy qk] | --plan FILE]
                        [--dtype fp32|fp16] [--external-data] [--wait] [--json] [--providers auto|cpu,cuda,...] [--debug]

Writes the model as a folder that transformers.js (@huggingface/transformers) and Optimum's
ORTModelForCausalLM load offline: onnx/model.onnx (a decoder with a KV cache: input_ids,
attention_mask, position_ids, past_key_values.{i}.key/.value → logits, present.{i}.key/.value;
weights over 2 GB go to onnx/model.onnx_data), config.json, generation_config.json and the
tokenizer files. A shared model is exported compact: each kept unit is stored once, and a stock
onnxruntime session keeps it once in memory. Llama, Mistral, Qwen2, GPT-2 and GPT-NeoX.

  <model>          a checkpoint folder, .safetensors file or index json; a compact shared
                   checkpoint exports with its own plan
  --format onnx    the only format
  --out DIR        a new folder (refused when it exists); written under a temporary name, then renamed
  --ratio A        share first at this ratio (match table with --strategy, default qk)
  --plan FILE      share with this plan (headshare plan --json output made for this model)
  --dtype fp32     weights and activations in float32 (default): onnx/model.onnx
  --dtype fp16     weights stored (and kept resident) as float16, computed in float32; activations,
                   KV cache and logits stay float32: onnx/model_fp16.onnx, which transformers.js
                   loads by default (config.json sets its dtype); refused when a weight exceeds ±65504
  --external-data  put the weights in onnx/model.onnx_data even under 2 GB
  --wait           when another headshare run is writing the same folder, wait for it instead of refusing
  --json           print one JSON object {outDir, files, parameters, parametersDense, bytes, plan, ...}`;

export const exportCommand = defineCommand({
  name: "export",
  summary: "export a model (original or shared) as an ONNX decoder folder for transformers.js / ONNX Runtime",
  usage,
  flags: [
    { name: "format", type: "string", choices: ["onnx"] },
    { name: "out", type: "string", short: "o" },
    RATIO_FLAG,
    STRATEGY_FLAG,
    { name: "plan", type: "string" },
    { name: "dtype", type: "string", choices: [...EXPORT_DTYPES] },
    { name: "external-data", type: "boolean" },
    WAIT_FLAG,
    JSON_FLAG,
    PROVIDERS_FLAG,
  ],
  positionals: [{ name: "model", required: true }],
  async run(c) {
    const a = c.args;
    c.required("format", "--format onnx is required (the only export format)");
    const out = absolute(c.required("out", "--out DIR is required (a new folder for the exported model)") as string);
    const model = absolute(a.positionals[0]!);
    if (a.flags.ratio !== undefined && a.flags.plan !== undefined) throw c.usageError("give --ratio or --plan, not both");
    if (a.flags.strategy !== undefined && a.flags.ratio === undefined) throw c.usageError("--strategy needs --ratio (a plan file already fixes the matches)");
    if (fs.existsSync(out)) throw c.usageError(`--out ${out} already exists; the export writes a new folder (remove it or choose another name)`);
    const r = await c.job("headshare/export", {
      model,
      out,
      ...(a.flags.ratio !== undefined ? { ratio: a.flags.ratio as number } : {}),
      ...(a.flags.strategy !== undefined ? { strategy: a.flags.strategy as "qk" } : {}),
      ...(a.flags.plan !== undefined ? { planFile: absolute(a.flags.plan as string) } : {}),
      ...(a.flags.dtype !== undefined ? { dtype: a.flags.dtype as "fp32" | "fp16" } : {}),
      ...(a.flags["external-data"] === true ? { externalData: true } : {}),
      ...(a.flags.wait === true ? { wait: true } : {}),
      providers: c.providers(),
    });
    if (a.flags.json) await writeOut(JSON.stringify(r));
    else {
      const saved = r.parametersDense - r.parameters;
      await writeOut(
        keyValues([
          ["written", `${r.outDir} (${r.files.join(", ")})`],
          ["model", `${r.architecture} (${r.family}), ${r.dtype}${r.externalData ? ", weights in external data" : ""}`],
          ["sharing", r.plan ? `ratio ${r.plan.ratio}: ${int(r.plan.selected)} units share their root's weights` : "none (the original model)"],
          [
            "parameters",
            `${int(r.parameters)} stored of ${int(r.parametersDense)} dense${saved > 0 ? ` (${int(saved)} fewer, ${pct(saved / r.parametersDense, 2)})` : ""}`,
          ],
          ["file size", `${int(r.bytes)} bytes (${bytes(r.bytes)})`],
          ["time", `${r.seconds.toFixed(2)} s`],
        ]),
      );
    }
    return 0;
  },
});
