/** `headshare eval <model> --text FILE [--compare OTHER]`: NLL/perplexity, and regression metrics against another model. */
import { defineCommand } from "../command";
import { bytes, int, keyValues, pct, table, writeOut, device } from "../output";
import { absolute } from "../runJob";
import { TEXT_FLAGS, TEXT_USAGE, textParams } from "./textFlags";

const usage = `usage: headshare eval <model> --text FILE [--compare OTHER] [--documents-separator STR] [--window N]
                      [--stride S] [--no-bos] [--json] [--providers auto|cpu,cuda,...] [--debug]

Scores a text with the model (its own ONNX forward pass, in the worker): mean NLL per predicted
token and perplexity under the stated windowing. With --compare, also KL(P_model ‖ P_other) per token,
top-1 agreement, per-layer hidden-state cosine, and the other model's NLL/ppl, parameters and bytes.

  <model>          a checkpoint folder (dense or compact headshare checkpoint) with tokenizer.json
  --compare OTHER  a second model on the same tokenizer (e.g. the original of a shared model)
  --attention      also the attention-map similarity of heads on the text (the paper's Fig. 1): for
                   every head its best lower-layer head, as a layer × head table
${TEXT_USAGE}
  --json           one JSON object: tokens, nll, ppl, protocol, provider (+ kl, top1Agreement,
                   hiddenCosine, compare with --compare)`;


export const evalCommand = defineCommand({
  name: "eval",
  summary: "perplexity of a model on a text, optionally compared with another model",
  usage,
  flags: [...TEXT_FLAGS, { name: "compare", type: "string" }, { name: "attention", type: "boolean" }, { name: "json", type: "boolean" }, { name: "providers", type: "string" }],
  positionals: [{ name: "model", required: true }],
  async run(c) {
    const a = c.args;
    c.required("text", "--text FILE is required");
    const providers = c.providers();
    const r = await c.job("headshare/eval", {
      model: absolute(a.positionals[0]!), text: absolute(a.flags.text as string),
      ...(a.flags.compare !== undefined ? { compare: absolute(a.flags.compare as string) } : {}),
      ...textParams(a), attention: a.flags.attention === true, providers,
    });
    if (a.flags.json) {
      await writeOut(JSON.stringify(r));
      return 0;
    }
    const facts: [string, string][] = [
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
    facts.push(["time", `${r.seconds.toFixed(2)} s on ${device(r)}`]);
    const out = [keyValues(facts)];
    if (r.attention) {
      const at = r.attention;
      const src = new Map(at.entries.map((e) => [`${e.layer}.${e.head}`, `${e.sourceLayer}.${e.sourceHead}`]));
      const rows = at.best.map((row, l) => [String(l), ...row.map((v, h) => (v === null ? "-" : `${v.toFixed(3)} ←${src.get(`${l}.${h}`)}`))]);
      out.push("", `attention-map similarity (${at.measure}; ${int(at.positions)} positions in ${at.windows} windows)`,
        table(["layer", ...Array.from({ length: at.heads }, (_, h) => `head ${h}`)], rows));
    }
    await writeOut(out.join("\n"));
    return 0;
  },
});
