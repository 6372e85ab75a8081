/** `headshare eval <model> --text FILE [--compare OTHER]`: NLL/perplexity, and regression metrics against another model. */
import { defineCommand } from "../command";
import { bytes, int, keyValues, pct, table, writeOut, device } from "../output";
import { absolute } from "../runJob";
import { RUN_MODEL_FLAGS, RUN_MODEL_USAGE, runModelParams, TEXT_FLAGS, TEXT_USAGE, textParams } from "./textFlags";
import { JSON_FLAG, MATCH_FLAGS, PROVIDERS_FLAG, RATIO_FLAG } from "./matchFlags";
import { UsageError } from "../args";

const usage = `usage: headshare eval <model> --text FILE [--compare OTHER | --ratio A [--strategy qk] [--granularity group]]
                      [--documents-separator STR] [--window N] [--stride S] [--no-bos] [--memory-budget GiB]
                      [--forward auto|whole-model|layer-streamed] [--json] [--providers auto|cpu,cuda,...] [--debug]

Scores a text with the model (its own ONNX forward pass, in the worker): mean NLL per predicted
token and perplexity under the stated windowing. With --compare, also KL(P_model ‖ P_other) per token,
top-1 agreement, per-layer hidden-state cosine, and the other model's NLL/ppl, parameters and bytes.

  <model>          a checkpoint folder (dense or compact headshare checkpoint) with tokenizer.json
  --compare OTHER  a second model on the same tokenizer (e.g. the original of a shared model)
  --ratio A        quick eval: the original compared with itself shared at ratio A (DirectShare,
                   applied in memory while the weights are read: nothing is written), the keys of
                   --compare (model = the original, compare = the shared model; KL(P_original ‖
                   P_shared)) plus ratio and selected
  --strategy, --granularity  how units are matched for --ratio (default qk, group)
  --attention      also the attention-map similarity of heads on the text (the paper's Fig. 1): for
                   every head its best lower-layer head, as a layer × head table
${TEXT_USAGE}
${RUN_MODEL_USAGE}
  --json           one JSON object: tokens, nll, ppl, protocol, provider, forward (+ memory when
                   layer-streamed; kl, top1Agreement, hiddenCosine, compare with --compare or --ratio;
                   ratio, selected with --ratio)`;

export const evalCommand = defineCommand({
  name: "eval",
  summary: "perplexity of a model on a text, optionally compared with another model",
  usage,
  flags: [
    ...TEXT_FLAGS,
    { name: "compare", type: "string" },
    { name: "attention", type: "boolean" },
    JSON_FLAG,
    PROVIDERS_FLAG,
    RATIO_FLAG,
    ...MATCH_FLAGS,
    ...RUN_MODEL_FLAGS,
  ],
  positionals: [{ name: "model", required: true }],
  async run(c) {
    const a = c.args;
    c.required("text", "--text FILE is required");
    if (a.flags.ratio !== undefined && a.flags.compare !== undefined)
      throw new UsageError("eval: pass either --ratio (quick eval of the model shared in memory) or --compare OTHER, not both", usage);
    const providers = c.providers();
    const r = await c.job("headshare/eval", {
      model: absolute(a.positionals[0]!),
      text: absolute(a.flags.text as string),
      ...(a.flags.compare !== undefined ? { compare: absolute(a.flags.compare as string) } : {}),
      ...(a.flags.ratio !== undefined ? { ratio: a.flags.ratio as number } : {}),
      strategy: (a.flags.strategy as "qk" | undefined) ?? "qk",
      granularity: (a.flags.granularity as "group" | undefined) ?? "group",
      ...textParams(a),
      ...runModelParams(a),
      attention: a.flags.attention === true,
      providers,
    });
    if (a.flags.json) {
      await writeOut(JSON.stringify(r));
      return 0;
    }
    const facts: [string, string][] = [
      ...(r.ratio !== undefined
        ? [
            ["shared", `ratio ${r.ratio}, ${int(r.selected ?? 0)} units selected, applied in memory (nothing written); compare = the shared model`] as [
              string,
              string,
            ],
          ]
        : []),
      ["tokens", `${int(r.tokens)} predicted (${r.protocol.description})`],
      ["nll", `${r.nll.toFixed(6)} nats/token`],
      ["ppl", r.ppl.toFixed(4)],
      ["model size", `${int(r.parameters)} parameters, ${bytes(r.bytes)}`],
    ];
    if (r.compare) {
      facts.push(
        ["compare nll", `${r.compare.nll.toFixed(6)} (ppl ${r.compare.ppl.toFixed(4)}; ${int(r.compare.parameters)} parameters, ${bytes(r.compare.bytes)})`],
        ["KL", `${(r.kl ?? NaN).toFixed(6)} nats/token (this model ‖ compare)`],
        ["top-1 agreement", pct(r.top1Agreement ?? NaN, 2)],
      );
      if (r.hiddenCosine) facts.push(["hidden cosine", r.hiddenCosine.map((c, l) => `L${l} ${c.toFixed(4)}`).join("  ")]);
    }
    facts.push([
      "time",
      `${r.seconds.toFixed(2)} s on ${device(r)}, ${r.forward ?? "whole-model"} forward${r.memory ? ` (${int(r.memory.tokensPerPass)} tokens per pass, ${r.memory.passes} passes, vocabulary chunk ${int(r.memory.vocabChunk)}, estimated peak ${bytes(r.memory.estimatedPeakBytes)} of a ${bytes(r.memory.budgetBytes)} budget)` : ""}`,
    ]);
    const out = [keyValues(facts)];
    if (r.attention) {
      const at = r.attention;
      const src = new Map(at.entries.map((e) => [`${e.layer}.${e.head}`, `${e.sourceLayer}.${e.sourceHead}`]));
      const rows = at.best.map((row, l) => [String(l), ...row.map((v, h) => (v === null ? "-" : `${v.toFixed(3)} ←${src.get(`${l}.${h}`)}`))]);
      out.push(
        "",
        `attention-map similarity (${at.measure}; ${int(at.positions)} positions in ${at.windows} windows)`,
        table(["layer", ...Array.from({ length: at.heads }, (_, h) => `head ${h}`)], rows),
      );
    }
    await writeOut(out.join("\n"));
    return 0;
  },
});
