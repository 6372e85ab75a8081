/**
 * `headshare generate <model> [--ratio A | --plan FILE] --prompt TEXT`: text from the model (or its
 * shared version) with a KV cache, streamed to stdout as it is produced. Runs in this process (the
 * tokens are printed as they come); Ctrl-C stops it.
 */
import { generateText } from "../../core/generate/generateText";
import { readPlanFile } from "../../core/export/plan";
import { defineCommand } from "../command";
import { keyValues, writeOut } from "../output";
import { absolute } from "../runJob";
import { JSON_FLAG, PROVIDERS_FLAG, RATIO_FLAG, STRATEGY_FLAG } from "./matchFlags";

const usage = `usage: headshare generate <model> --prompt TEXT [--ratio A [--strategy qk] | --plan FILE] [--max-tokens N]
                          [--temperature T --top-p P --seed S] [--json] [--providers auto|cpu,cuda,...]

Continues TEXT with the model (KV cache; the same decoder graph headshare export writes). With
--ratio or --plan the shared model writes (a compact checkpoint always runs as shared). Greedy by
default; --temperature T > 0 samples (nucleus --top-p, default 1) with --seed (default 0). The text
streams to stdout; the prompt gets the tokenizer's BOS token first. Stops at the model's EOS token.

  --max-tokens N   new tokens at most (default 64)
  --threads N      onnxruntime intra-op threads (default: 1 for models under 10M parameters, else onnxruntime's choice)
  --json           print one JSON object {text, ids, promptIds, stop, tokensPerSecond, ...} at the end instead`;

export const generateCommand = defineCommand({
  name: "generate",
  summary: "generate text from a model or its shared version (KV cache)",
  usage,
  flags: [
    { name: "prompt", type: "string", short: "p" },
    RATIO_FLAG,
    STRATEGY_FLAG,
    { name: "plan", type: "string" },
    { name: "max-tokens", type: "int", min: 0, max: 1_000_000 },
    { name: "temperature", type: "number", min: 0, max: 100 },
    { name: "top-p", type: "number", min: 0, max: 1 },
    { name: "seed", type: "int", min: 0, max: 2 ** 32 - 1 },
    { name: "threads", type: "int", min: 1, max: 1024 },
    JSON_FLAG,
    PROVIDERS_FLAG,
  ],
  positionals: [{ name: "model", required: true }],
  async run(c) {
    const a = c.args;
    const prompt = c.required("prompt", "--prompt TEXT is required") as string;
    if (a.flags.ratio !== undefined && a.flags.plan !== undefined) throw c.usageError("give --ratio or --plan, not both");
    if ((a.flags["top-p"] !== undefined || a.flags.seed !== undefined) && !((a.flags.temperature as number | undefined) ?? 0)) {
      throw c.usageError("--top-p and --seed need --temperature T > 0 (greedy decoding has no randomness)");
    }
    if (a.flags["top-p"] === 0) throw c.usageError("--top-p must be > 0");
    const planFile = a.flags.plan !== undefined ? absolute(a.flags.plan as string) : undefined;
    const plan = planFile ? await readPlanFile(planFile) : undefined;
    const json = a.flags.json === true;
    const r = await generateText(absolute(a.positionals[0]!), prompt, {
      maxTokens: (a.flags["max-tokens"] as number | undefined) ?? 64,
      ...(a.flags.temperature !== undefined ? { temperature: a.flags.temperature as number } : {}),
      ...(a.flags["top-p"] !== undefined ? { topP: a.flags["top-p"] as number } : {}),
      ...(a.flags.seed !== undefined ? { seed: a.flags.seed as number } : {}),
      ...(a.flags.ratio !== undefined ? { ratio: a.flags.ratio as number } : {}),
      ...(a.flags.strategy !== undefined ? { strategy: a.flags.strategy as "qk" } : {}),
      ...(plan ? { plan, planFile: planFile! } : {}),
      ...(a.flags.threads !== undefined ? { threads: a.flags.threads as number } : {}),
      providers: c.providers(),
      ...(json
        ? {}
        : {
            onText: (d: string) => {
              process.stdout.write(d);
            },
          }),
    });
    if (json) {
      await writeOut(
        JSON.stringify({
          text: r.text,
          ids: r.ids,
          promptIds: r.promptIds,
          stop: r.stop,
          tokens: r.ids.length,
          tokensPerSecond: r.tokensPerSecond,
          prefillSeconds: r.prefillSeconds,
          decodeSeconds: r.decodeSeconds,
          loadSeconds: r.loadSeconds,
          provider: r.provider,
          ...(r.plan ? { plan: { ratio: r.plan.ratio, selected: r.plan.selected, strategy: r.plan.strategy } } : {}),
        }),
      );
    } else {
      process.stdout.write("\n");
      process.stderr.write(
        keyValues([
          [
            "tokens",
            `${r.ids.length} new (${r.stop === "eos" ? "stopped at EOS" : r.stop === "context" ? "stopped at the model's context" : "max tokens"}), prompt ${r.promptIds.length}`,
          ],
          ["speed", `${r.tokensPerSecond.toFixed(1)} tokens/s on ${r.provider} (prefill ${(r.prefillSeconds * 1000).toFixed(0)} ms)`],
          ...(r.plan ? [["sharing", `ratio ${r.plan.ratio}, ${r.plan.selected} units shared`] as [string, string]] : []),
        ]) + "\n",
      );
    }
    return 0;
  },
});
