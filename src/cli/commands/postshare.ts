/** `headshare postshare <model> --ratio A --text FILE... --out DIR`: post-train with the weight-similarity loss, then share. */
import fs from "node:fs";
import path from "node:path";
import { type ParsedArgs, UsageError } from "../args";
import { int, keyValues, writeOut, device } from "../output";
import { absolute } from "../runJob";
import { defineCommand } from "../command";
import { checkOutFolder } from "./outDir";
import { JSON_FLAG, MATCH_FLAGS, PROVIDERS_FLAG, RATIO_FLAG, WRITE_FLAGS } from "./matchFlags";
import { PROJECTIONS, type Projection } from "../../core/model/types";

const usage = `usage: headshare postshare <model> --ratio A --text FILE [--text FILE ...] --out DIR [--heldout FILE | --heldout-docs N]
                           [--preset default|paper] [--steps N] [--lr X] [--warmup-steps N] [--min-lr-ratio R]
                           [--beta1 B] [--beta2 B] [--eps E] [--weight-decay W] [--clip-norm C]
                           [--lambda-lm 0.5] [--lambda-w 5] [--weight-loss l2|mse]
                           [--regularize q,k,v,o] [--train-on text|sampled|both] [--trainable all|attention]
                           [--sample-sequences N] [--sample-length N] [--sample-temperature T]
                           [--batch-size N] [--seq-len N] [--checkpoint FILE [--checkpoint-every N]] [--resume FILE]
                           [--seed N] [--strategy ...] [--granularity ...] [--format compact|dense] [--force] [--wait] [--json]
                           [--providers auto|cpu,cuda,...] [--debug]

PostShare (method.md §5): match and plan on the pre-trained weights, post-train with
loss = λ_lm·LM + λ_w·mean over targets of Σ_p ‖W_p(target) − W_p(root)‖_F (p in --regularize), then
DirectShare with the same plan. Reports held-out NLL/ppl of the original, DirectShare at the same
ratio, and PostShare, with the loss curve. Progress (step, losses, learning rate) goes to stderr;
Ctrl-C cancels. Options left out take the preset's values (docs/method.md tables both presets).

  --preset NAME            default (tuned for small models, POSTSHARE_DEFAULTS) or paper (method.md §5
                           exactly: λ_lm = λ_w = 0.5, q,k,v, lr 5e-5 cosine to 0, no warm-up, AdamW
                           β 0.9/0.95, ε 1e-8, weight decay 0.1, clip 1.0, all weights, text only);
                           flags given explicitly override the preset
  --lr X                   peak learning rate; --warmup-steps N linear warm-up, then cosine decay to
                           --min-lr-ratio R × X (R in [0, 1])
  --beta1 B --beta2 B      AdamW moment decay rates, in [0, 1); --eps E its ε (> 0)
  --weight-decay W         decoupled weight decay on matrices (≥ 0); --clip-norm C global gradient-norm
                           clipping (0 = off)

  --text FILE              post-training text (repeat --text for several files; more files may follow)
  --heldout FILE           held-out text (repeatable); otherwise a split of --text that is never trained on
  --heldout-docs N         that split: the last N documents of --text (default 20 %)
  --out DIR                where the PostShare checkpoint is written (compact by default)
  --regularize LIST        projections the weight loss pulls together (default q,k,v,o; q,k,v is the
                           paper's loss, but the final share also swaps o, which then undoes the training)
  --train-on WHAT          post-train on the text, on sequences sampled from the original model, or both (default)
  --sample-sequences N     how many sequences to sample (default 512), --sample-length N tokens each
                           (default 128, BOS counted), at --sample-temperature T (default 1)
  --batch-size N           sequences per step (default 8); --seq-len N tokens each (default 128, ≤ context)
  --checkpoint FILE        save a resumable training checkpoint (weights, Adam moments, step) at the end,
                           and every --checkpoint-every N steps
  --resume FILE            continue from such a checkpoint (same model, options and --steps)
  --json                   one JSON object: original, directShare, postShare (held-out nll/ppl), lossCurve
                           (step, lm, weight, lr), seconds, plus pair distances and the final share's KL`;

/** The training flags `postshare` and `postshare-job` share (same names, same meaning). */
export const POSTSHARE_TRAINING_FLAGS = [
  RATIO_FLAG,
  { name: "text", type: "string", repeatable: true },
  { name: "heldout", type: "string", repeatable: true },
  { name: "preset", type: "string", choices: ["default", "paper"] },
  { name: "steps", type: "int", min: 1 },
  { name: "lr", type: "number", min: 0 },
  { name: "warmup-steps", type: "int", min: 0 },
  { name: "min-lr-ratio", type: "number", min: 0, max: 1 },
  { name: "beta1", type: "number", min: 0 },
  { name: "beta2", type: "number", min: 0 },
  { name: "eps", type: "number", min: 0 },
  { name: "weight-decay", type: "number", min: 0 },
  { name: "clip-norm", type: "number", min: 0 },
  { name: "lambda-lm", type: "number", min: 0 },
  { name: "lambda-w", type: "number", min: 0 },
  { name: "weight-loss", type: "string", choices: ["l2", "mse"] },
  { name: "train-on", type: "string", choices: ["text", "sampled", "both"] },
  { name: "trainable", type: "string", choices: ["all", "attention"] },
  { name: "regularize", type: "string" },
  { name: "heldout-docs", type: "int", min: 1 },
  { name: "sample-sequences", type: "int", min: 1 },
  { name: "sample-length", type: "int", min: 2 },
  { name: "sample-temperature", type: "number" },
  { name: "batch-size", type: "int", min: 1 },
  { name: "seq-len", type: "int", min: 2 },
  { name: "seed", type: "int" },
] as const;

const spec = {
  command: "postshare",
  usage,
  flags: [
    ...POSTSHARE_TRAINING_FLAGS,
    { name: "out", type: "string", short: "o" },
    { name: "checkpoint", type: "string" },
    { name: "checkpoint-every", type: "int", min: 1 },
    { name: "resume", type: "string" },
    ...MATCH_FLAGS,
    ...WRITE_FLAGS,
    JSON_FLAG,
    PROVIDERS_FLAG,
  ],
  positionals: [
    { name: "model", required: true },
    { name: "more-text...", required: false },
  ],
} as const;

/** A KL in nats/token: tiny values (float noise can make them −1e-9) in exponent form, never "-0.00000". */
function klText(kl: number): string {
  const v = Math.abs(kl) < 5e-10 ? 0 : kl;
  return Math.abs(v) < 1e-3 ? v.toExponential(2) : v.toFixed(5);
}

/** `--regularize q,k,v,o` → the projections, each once. */
function parseRegularize(raw: string, command: string, usage: string): Projection[] {
  const parts = raw.split(",").map((p) => p.trim());
  const out: Projection[] = [];
  for (const p of parts) {
    if (!(PROJECTIONS as readonly string[]).includes(p))
      throw new UsageError(`${command}: --regularize needs a comma list of q, k, v, o (e.g. q,k,v,o or the paper's q,k,v); got "${raw}"`, usage);
    if (out.includes(p as Projection)) throw new UsageError(`${command}: --regularize names ${p} twice (got "${raw}")`, usage);
    out.push(p as Projection);
  }
  return out;
}

/**
 * The post-training options of `postshare` / `postshare-job` from their shared flags (text files,
 * held-out, hyperparameters, sampling, plan), validated up front; absent flags stay absent (core defaults).
 */
export function trainingOptions(command: string, usage: string, a: ParsedArgs) {
  const f = a.flags;
  const text = [...(f.text as readonly string[]), ...a.positionals.slice(1)].map(absolute);
  const regularize = f.regularize !== undefined ? parseRegularize(f.regularize as string, command, usage) : undefined;
  if (f["sample-temperature"] !== undefined && !((f["sample-temperature"] as number) > 0)) {
    throw new UsageError(`${command}: --sample-temperature must be > 0 (got ${f["sample-temperature"] as number})`, usage);
  }
  for (const k of ["beta1", "beta2"] as const) {
    if (f[k] !== undefined && !((f[k] as number) < 1))
      throw new UsageError(`${command}: --${k} must be in [0, 1) (e.g. 0.9, 0.95), got ${f[k] as number}`, usage);
  }
  for (const k of ["eps", "lr"] as const) {
    if (f[k] !== undefined && !((f[k] as number) > 0)) throw new UsageError(`${command}: --${k} must be > 0, got ${f[k] as number}`, usage);
  }
  if (f.heldout !== undefined && f["heldout-docs"] !== undefined) {
    throw new UsageError(`${command}: give either --heldout FILE (separate held-out text) or --heldout-docs N (a split of --text), not both`, usage);
  }
  const opt = <T>(name: string, key: string): Record<string, T> => (f[name] !== undefined ? { [key]: f[name] as T } : {});
  return {
    ratio: f.ratio as number,
    text,
    ...(f.heldout !== undefined ? { heldout: (f.heldout as readonly string[]).map(absolute) } : {}),
    ...opt<"paper">("preset", "preset"),
    ...opt<number>("steps", "steps"),
    ...opt<number>("lr", "lr"),
    ...opt<number>("warmup-steps", "warmupSteps"),
    ...opt<number>("min-lr-ratio", "minLrRatio"),
    ...opt<number>("beta1", "beta1"),
    ...opt<number>("beta2", "beta2"),
    ...opt<number>("eps", "eps"),
    ...opt<number>("weight-decay", "weightDecay"),
    ...opt<number>("clip-norm", "clipNorm"),
    ...opt<number>("lambda-lm", "lambdaLm"),
    ...opt<number>("lambda-w", "lambdaW"),
    ...opt<"l2">("weight-loss", "weightLoss"),
    ...opt<"both">("train-on", "trainOn"),
    ...opt<"all">("trainable", "trainable"),
    ...opt<number>("seed", "seed"),
    ...opt<"qk">("strategy", "strategy"),
    ...opt<"group">("granularity", "granularity"),
    ...(regularize ? { regularize } : {}),
    ...opt<number>("heldout-docs", "heldoutDocs"),
    ...opt<number>("sample-sequences", "sampleSequences"),
    ...opt<number>("sample-length", "sampleLength"),
    ...opt<number>("sample-temperature", "sampleTemperature"),
    ...opt<number>("batch-size", "batchSize"),
    ...opt<number>("seq-len", "seqLen"),
  };
}

export const postshareCommand = defineCommand({
  name: "postshare",
  summary: "PostShare: post-train with the weight-similarity loss, then share",
  usage,
  flags: spec.flags,
  positionals: spec.positionals,
  async run(c) {
    const a = c.args;
    const f = a.flags;
    c.required("ratio", "--ratio A is required (e.g. --ratio 0.3)");
    c.required("text", "--text FILE is required (post-training text)");
    c.required("out", "--out DIR is required (a new folder for the PostShare checkpoint)");
    const providers = c.providers();
    const model = absolute(a.positionals[0]!);
    const out = absolute(f.out as string);
    const force = f.force === true;
    const training = trainingOptions("postshare", usage, a); // flag values first, the output folder's rules last
    if (f["checkpoint-every"] !== undefined && f.checkpoint === undefined) {
      throw new UsageError("postshare: --checkpoint-every N needs --checkpoint FILE (where the checkpoint is saved)", usage);
    }
    const checkpoint = f.checkpoint !== undefined ? absolute(f.checkpoint as string) : undefined;
    if (checkpoint !== undefined) {
      if (!fs.existsSync(path.dirname(checkpoint)))
        throw new UsageError(`postshare: --checkpoint ${checkpoint}: its folder ${path.dirname(checkpoint)} does not exist; create it first`, usage);
      if (fs.existsSync(checkpoint) && fs.statSync(checkpoint).isDirectory())
        throw new UsageError(`postshare: --checkpoint ${checkpoint} is a folder; give a file name`, usage);
    }
    const resume = f.resume !== undefined ? absolute(f.resume as string) : undefined;
    if (resume !== undefined && !(fs.existsSync(resume) && fs.statSync(resume).isFile())) {
      throw new UsageError(`postshare: --resume ${resume}: no such checkpoint file; give a file written by --checkpoint`, usage);
    }
    await checkOutFolder("postshare", usage, out, model, force, "the post-shared checkpoint");
    const r = await c.job("headshare/postshare", {
      model,
      out,
      force,
      providers,
      ...training,
      ...(f.wait === true ? { wait: true } : {}),
      ...(f.format !== undefined ? { format: f.format as "compact" | "dense" } : {}),
      ...(checkpoint ? { checkpointFile: checkpoint } : {}),
      ...(f["checkpoint-every"] !== undefined ? { checkpointEvery: f["checkpoint-every"] as number } : {}),
      ...(resume ? { resumeFrom: resume } : {}),
    });
    if (f.json) {
      await writeOut(JSON.stringify(r));
      return 0;
    }
    const s = (x: { nll: number; ppl: number }): string => `nll ${x.nll.toFixed(4)}, ppl ${x.ppl.toFixed(3)}`;
    await writeOut(
      keyValues([
        ["ratio", `${r.ratio}: ${int(r.selected)} units shared (${r.strategy}, ${r.granularity})`],
        [
          "held-out",
          `${int(r.original.tokens)} tokens in ${r.heldoutDocuments} documents (${r.options.trainOn === "sampled" ? "post-trained on text sampled from the model only" : `post-trained on ${r.trainDocuments} other documents${r.options.trainOn === "both" ? " and sampled text" : ""}`})`,
        ],
        ["original", s(r.original)],
        ["DirectShare", s(r.directShare)],
        ["post-trained", s(r.postTrained)],
        ["PostShare", s(r.postShare)],
        [
          "pair distance",
          `${r.meanRelativePairDistance.before.toFixed(4)} → ${r.meanRelativePairDistance.after.toFixed(4)} (mean relative, ${(r.options.regularize as string[] | undefined)?.join("/") ?? "q/k/v/o"})`,
        ],
        ["final share", `KL ${klText(r.finalShare.kl)} vs the post-trained model, top-1 ${(100 * r.finalShare.top1Agreement).toFixed(1)}%`],
        ["training", `${int(r.steps)} steps, ${int(r.tokens)} tokens, ${r.trainSeconds.toFixed(1)} s (${int(r.tokensPerSecond)} tokens/s) on ${device(r)}`],
        ["written", r.outDir ?? "(nothing)"],
        ["time", `${r.seconds.toFixed(1)} s`],
      ]),
    );
    return 0;
  },
});
