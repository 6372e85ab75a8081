/** `headshare postshare <model> --ratio A --text FILE... --out DIR`: post-train with the weight-similarity loss, then share. */
import { type Command, parseArgs, UsageError } from "../args";
import { int, keyValues, writeOut } from "../output";
import { absolute, cancellable, parseProviders, runJob } from "../runJob";
import { checkOutDir } from "./outDir";

const usage = `usage: headshare postshare <model> --ratio A --text FILE [--text FILE ...] --out DIR [--heldout FILE]
                           [--steps N] [--lr X] [--lambda-lm 0.5] [--lambda-w 0.5] [--weight-loss l2|mse]
                           [--train-on text|sampled|both] [--trainable all|attention] [--seed N]
                           [--strategy ...] [--granularity ...] [--format compact|dense] [--force] [--json]
                           [--providers auto|cpu,cuda,...] [--debug]

PostShare (method.md §5): match and plan on the pre-trained weights, post-train with
loss = λ_lm·LM + λ_w·mean over targets of Σ_{q,k,v} ‖W(target) − W(root)‖_F, then DirectShare with the
same plan. Reports held-out NLL/ppl of the original, DirectShare at the same ratio, and PostShare,
with the loss curve. Progress (step, losses, learning rate) goes to stderr; Ctrl-C cancels.

  --text FILE      post-training text (repeat --text for several files; more files may follow)
  --heldout FILE   held-out text (otherwise a split of --text that is never trained on)
  --out DIR        where the PostShare checkpoint is written (compact by default)
  --json           one JSON object: original, directShare, postShare (held-out nll/ppl), lossCurve
                   (step, lm, weight, lr), seconds, plus pair distances and the final share's KL`;

const spec = {
  command: "postshare", usage,
  flags: [
    { name: "ratio", type: "number", min: 0, max: 1 },
    { name: "text", type: "string", repeatable: true },
    { name: "heldout", type: "string", repeatable: true },
    { name: "out", type: "string", short: "o" },
    { name: "steps", type: "int", min: 1 },
    { name: "lr", type: "number", min: 0 },
    { name: "lambda-lm", type: "number", min: 0 },
    { name: "lambda-w", type: "number", min: 0 },
    { name: "weight-loss", type: "string", choices: ["l2", "mse"] },
    { name: "train-on", type: "string", choices: ["text", "sampled", "both"] },
    { name: "trainable", type: "string", choices: ["all", "attention"] },
    { name: "seed", type: "int" },
    { name: "strategy", type: "string", choices: ["q", "k", "v", "qk", "qkv"] },
    { name: "granularity", type: "string", choices: ["group", "query-head"] },
    { name: "format", type: "string", choices: ["compact", "dense"] },
    { name: "force", type: "boolean" },
    { name: "json", type: "boolean" },
    { name: "providers", type: "string" },
  ],
  positionals: [{ name: "model", required: true }, { name: "more-text...", required: false }],
} as const;

export const postshareCommand: Command = {
  name: "postshare",
  summary: "PostShare: post-train with the weight-similarity loss, then share",
  usage,
  run: (argv) => cancellable(async () => {
    const a = parseArgs(spec, argv);
    if (a.help) {
      await writeOut(usage);
      return 0;
    }
    const f = a.flags;
    if (f.ratio === undefined) throw new UsageError("postshare: --ratio A is required (e.g. --ratio 0.3)", usage);
    if (f.text === undefined) throw new UsageError("postshare: --text FILE is required (post-training text)", usage);
    if (f.out === undefined) throw new UsageError("postshare: --out DIR is required (a new folder for the PostShare checkpoint)", usage);
    const providers = parseProviders(f.providers as string | undefined, "postshare", usage);
    const model = absolute(a.positionals[0]!);
    const out = absolute(f.out as string);
    const force = f.force === true;
    checkOutDir("postshare", usage, out, model, force);
    const text = [...(f.text as readonly string[]), ...a.positionals.slice(1)].map(absolute);
    const opt = <T>(name: string, key: string): Record<string, T> => (f[name] !== undefined ? { [key]: f[name] as T } : {});
    const r = await runJob("headshare/postshare", {
      model, ratio: f.ratio as number, text, out, force, providers,
      ...(f.heldout !== undefined ? { heldout: (f.heldout as readonly string[]).map(absolute) } : {}),
      ...opt<number>("steps", "steps"), ...opt<number>("lr", "lr"),
      ...opt<number>("lambda-lm", "lambdaLm"), ...opt<number>("lambda-w", "lambdaW"),
      ...opt<"l2">("weight-loss", "weightLoss"), ...opt<"both">("train-on", "trainOn"), ...opt<"all">("trainable", "trainable"),
      ...opt<number>("seed", "seed"), ...opt<"qk">("strategy", "strategy"), ...opt<"group">("granularity", "granularity"),
      ...opt<"compact">("format", "format"),
    }, { providers, debug: a.debug });
    if (f.json) {
      await writeOut(JSON.stringify(r));
      return 0;
    }
    const s = (x: { nll: number; ppl: number }): string => `nll ${x.nll.toFixed(4)}, ppl ${x.ppl.toFixed(3)}`;
    await writeOut(keyValues([
      ["ratio", `${r.ratio}: ${int(r.selected)} units shared (${r.strategy}, ${r.granularity})`],
      ["held-out", `${int(r.original.tokens)} tokens in ${r.heldoutDocuments} documents (trained on ${r.trainDocuments})`],
      ["original", s(r.original)],
      ["DirectShare", s(r.directShare)],
      ["post-trained", s(r.postTrained)],
      ["PostShare", s(r.postShare)],
      ["pair distance", `${r.meanRelativePairDistance.before.toFixed(4)} → ${r.meanRelativePairDistance.after.toFixed(4)} (mean relative, q/k/v)`],
      ["final share", `KL ${r.finalShare.kl.toFixed(5)} vs the post-trained model, top-1 ${(100 * r.finalShare.top1Agreement).toFixed(1)}%`],
      ["training", `${int(r.steps)} steps, ${int(r.tokens)} tokens, ${r.trainSeconds.toFixed(1)} s (${int(r.tokensPerSecond)} tokens/s) on ${r.provider}`],
      ["written", r.outDir ?? "(nothing)"],
      ["time", `${r.seconds.toFixed(1)} s`],
    ]));
    return 0;
  }),
};
