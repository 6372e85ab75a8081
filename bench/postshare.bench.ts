/**
 * PostShare against DirectShare (issue 5), every row scored on held-out text in the same run as its
 * DirectShare row (the same plan without post-training, the same text).
 *
 * Full mode, stories260K-hf post-trained on the TinyStories excerpt's first 35 stories plus text
 * sampled from the original model, scored on the other 10 stories (never trained on): α = 0.3 and 0.5
 * with the defaults (q, k, v, o pulled together), α = 0.5 with the paper's loss (q, k, v only, the
 * rest default), and α = 0.5 with `--preset paper` (method.md §5 exactly). Then the demo model
 * (assets/demo-model) at α = 0.3 and 0.5 with the defaults, post-trained only on text sampled from it
 * (`--train-on sampled`), scored on heldout-brown.txt's blocks. `--quick`: stories260K-hf at α = 0.5
 * with the defaults cut to 100 steps and 64 sampled sequences (a smoke run, not the published comparison).
 */
import fs from "node:fs";
import path from "node:path";
import type { Bench, BenchOptions } from "./run";
import { repoRoot } from "./machine";
import { sharedRoot } from "../test/helpers/shared";
import { postShare, POSTSHARE_DEFAULTS, type PostShareOptions } from "../src/core/train/postshare";

const log = (s: string): void => {
  process.stderr.write(`[postshare bench] ${s}\n`);
};
const THREADS = 1;
const STORIES = "stories260K-hf";
const DEMO = "demo-model";

type Score = { nll: number; ppl: number };
type Row = {
  /** stories260K-hf or demo-model (records before the demo rows have no model: stories260K-hf). */
  model?: string;
  ratio: number;
  variant: string;
  /** The preset and the options that differ between rows, as resolved by postShare. */
  preset?: string;
  lr?: number;
  lambdaW?: number;
  trainable?: string;
  trainOn?: string;
  weightDecay?: number;
  regularize: string[];
  steps: number;
  sampleSequences: number;
  heldoutTokens: number;
  heldoutDocuments: number;
  trainDocuments: number;
  original: Score;
  directShare: Score;
  postTrained: Score;
  postShare: Score;
  pairDistance: { before: number; after: number };
  finalShareKl: number;
  seconds: number;
  trainTokensPerSecond: number;
};

export type PostShareBenchResult = { ortThreads: number; skipped?: string; rows: Row[] };

const f = (x: number, d: number): string => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const pct = (x: number): string => `${f(100 * x, 0)} %`;
const modelOf = (x: Row): string => x.model ?? STORIES;
/** A hyperparameter as the CLI takes it: 5e-5, 0.5, 0.1. */
const num = (x: number | undefined): string => (x === undefined ? "?" : x !== 0 && Math.abs(x) < 1e-3 ? x.toExponential() : String(x));

function rowsTable(rows: readonly Row[], unit: string): string[] {
  return [
    `| α | variant | steps | original ppl | DirectShare ppl | post-trained ppl | **PostShare ppl** | pair distance before → after | KL(post-trained ‖ PostShare) | seconds (all phases) |`,
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ...rows.map(
      (x) =>
        `| ${x.ratio} | ${x.variant} | ${x.steps} | ${f(x.original.ppl, 3)} | ${f(x.directShare.ppl, 3)} | ${f(x.postTrained.ppl, 3)} | **${f(x.postShare.ppl, 3)}** | ${f(x.pairDistance.before, 3)} → ${f(x.pairDistance.after, 4)} | ${x.finalShareKl.toExponential(1)} | ${f(x.seconds, 0)} |`,
    ),
    "",
    `Perplexities per ${unit} on the held-out documents; pair distance = mean over pairs and regularised projections of ‖W(t) − W(r)‖/‖W(r)‖.`,
  ];
}

/** PostShare's change of perplexity against DirectShare's, e.g. "−48 %" (negative: PostShare is better). */
const gain = (x: Row): string => {
  const d = x.postShare.ppl / x.directShare.ppl - 1;
  return `${d < 0 ? "−" : "+"}${pct(Math.abs(d))}`;
};

/** The postshare bench's stories260K table and what it shows, printed by the run and rendered into README.md and docs/training.md. */
export function postShareTable(r: PostShareBenchResult): string {
  const rows = r.rows.filter((x) => modelOf(x) === STORIES);
  if (!rows.length) return `PostShare on ${STORIES}: ${r.skipped ?? "no runs"}.`;
  const x0 = rows[0]!;
  const lines = [
    `${STORIES} post-trained on the first ${x0.trainDocuments} stories of the TinyStories excerpt plus text sampled from the original model${rows.some((x) => x.preset === "paper") ? " (except `--preset paper`: the stories only)" : ""}; held-out: the other ${x0.heldoutDocuments} stories, ${x0.heldoutTokens.toLocaleString("en-US")} predicted tokens, never trained on; AdamW with the defaults of \`headshare postshare\` unless the variant says otherwise (docs/method.md tables the defaults beside the paper's, §5), ${r.ortThreads} intra-op thread.`,
    "",
    ...rowsTable(rows, "token"),
  ];
  const defaults = rows.filter((x) => x.regularize.includes("o") && (x.preset ?? "default") === "default" && x.steps === POSTSHARE_DEFAULTS.steps);
  if (defaults.length)
    lines.push("", `With the defaults PostShare's perplexity differs from DirectShare's by ${defaults.map((x) => `${gain(x)} at α = ${x.ratio}`).join(", ")}.`);
  const paperLoss = rows.find((x) => x.regularize.join(",") === "q,k,v" && (x.preset ?? "default") === "default");
  const mine = paperLoss && defaults.find((x) => x.ratio === paperLoss.ratio);
  if (paperLoss && mine) {
    lines.push(
      "",
      `With the paper's loss (q, k, v only, \`--regularize q,k,v\`) PostShare at α = ${paperLoss.ratio} reaches ${f(paperLoss.postShare.ppl, 2)} against DirectShare's ${f(paperLoss.directShare.ppl, 2)}: the post-trained model scores ${f(paperLoss.postTrained.ppl, 2)}, and the final share's swap of the unpulled o columns costs KL ${paperLoss.finalShareKl.toFixed(2)}. Pulling o too (the default, since the final share also gives each target its root's o columns) reaches ${f(mine.postShare.ppl, 2)}, the final share costing KL ${mine.finalShareKl.toExponential(1)}. See docs/training.md.`,
    );
  }
  const paper = rows.find((x) => x.preset === "paper");
  if (paper)
    lines.push(
      "",
      `With \`--preset paper\` (method.md §5: lr ${num(paper.lr)}, λ_w ${num(paper.lambdaW)}, weight decay ${num(paper.weightDecay)}, every weight trained on the ${paper.trainDocuments} stories only) at α = ${paper.ratio}, ${paper.steps} steps take the mean pair distance from ${f(paper.pairDistance.before, 3)} to ${f(paper.pairDistance.after, 3)}; the post-trained model scores ${f(paper.postTrained.ppl, 2)} on the held-out stories and PostShare ${f(paper.postShare.ppl, 2)}, against DirectShare's ${f(paper.directShare.ppl, 2)}.`,
    );
  return lines.join("\n");
}

/** The demo model's rows (full mode only). */
export function postShareDemoTable(r: PostShareBenchResult): string {
  const rows = r.rows.filter((x) => modelOf(x) === DEMO);
  if (!rows.length) return `PostShare on the demo model: ${r.skipped ?? "not in this record (the full run has it: `npm run bench -- --only postshare`)"}.`;
  const x0 = rows[0]!;
  return [
    `assets/demo-model post-trained only on ${x0.sampleSequences} sequences sampled from it (\`--train-on sampled\`); held-out: \`assets/demo-model/heldout-brown.txt\`'s ${x0.heldoutDocuments} blank-line-separated blocks as documents (BOS + tokens up to the model's window), ${x0.heldoutTokens.toLocaleString("en-US")} predicted bytes; the defaults of \`headshare postshare\` otherwise, ${r.ortThreads} intra-op thread.`,
    "",
    ...rowsTable(rows, "byte"),
    "",
    `PostShare's perplexity against DirectShare's: ${rows.map((x) => `${gain(x)} at α = ${x.ratio}`).join(", ")}.`,
  ].join("\n");
}

export const postshareBench: Bench = {
  name: "postshare",
  readme: (result) => ({ "": postShareTable(result as PostShareBenchResult), demo: postShareDemoTable(result as PostShareBenchResult) }),
  async run(opts: BenchOptions): Promise<PostShareBenchResult> {
    type Run = { model: string; dir: string; ratio: number; variant: string; o: Partial<PostShareOptions> & Pick<PostShareOptions, "text"> };
    const runs: Run[] = [];
    const shared = sharedRoot(`models/${STORIES}`);
    const skipped = shared ? undefined : `skipped: ../shared/models/${STORIES} is not present (set HEADSHARE_SHARED_DIR)`;
    if (shared) {
      const dir = path.join(shared, "models", STORIES);
      const stories = { text: [path.join(shared, "corpus/tinystories-valid-excerpt.txt")], heldoutDocs: 10 };
      const at = (ratio: number, variant: string, o: Partial<PostShareOptions>): Run => ({ model: STORIES, dir, ratio, variant, o: { ...stories, ...o } });
      runs.push(
        ...(opts.quick
          ? [at(0.5, "defaults, cut to 100 steps and 64 sampled sequences (quick)", { steps: 100, sampleSequences: 64 })]
          : [
              at(0.3, "defaults (q,k,v,o)", {}),
              at(0.5, "defaults (q,k,v,o)", {}),
              at(0.5, "defaults with the paper's loss (q,k,v)", { regularize: ["q", "k", "v"] }),
              at(0.5, "`--preset paper` (method.md §5)", { preset: "paper" }),
            ]),
      );
    }
    if (!opts.quick) {
      const dir = path.join(repoRoot(), "assets", DEMO);
      const heldout = path.join(dir, "heldout-brown.txt");
      if (!fs.existsSync(heldout)) throw new Error(`${heldout} is missing: the demo model ships with the repository (git checkout assets/${DEMO})`);
      for (const ratio of [0.3, 0.5])
        runs.push({ model: DEMO, dir, ratio, variant: "defaults, sampled text only", o: { text: [heldout], heldout: [heldout], trainOn: "sampled" } });
    }
    const rows: Row[] = [];
    for (const run of runs) {
      log(`${run.model}: α = ${run.ratio}, ${run.variant}`);
      const res = await postShare(
        run.dir,
        { ratio: run.ratio, providers: ["cpu"], intraOpThreads: THREADS, ...run.o },
        {
          onProgress: (p) => {
            if (p.phase !== "train" || (p.done % 100 === 0 && p.done > 0)) log(`${p.phase} ${p.done}/${p.total}${p.message ? ` ${p.message}` : ""}`);
          },
        },
      );
      const o = res.options as {
        preset: string;
        lr: number;
        lambdaW: number;
        trainable: string;
        trainOn: string;
        weightDecay: number;
        regularize: string[];
        sampleSequences: number;
      };
      const pick = (s: Score): Score => ({ nll: s.nll, ppl: s.ppl });
      rows.push({
        model: run.model,
        ratio: run.ratio,
        variant: run.variant,
        preset: o.preset,
        lr: o.lr,
        lambdaW: o.lambdaW,
        trainable: o.trainable,
        trainOn: o.trainOn,
        weightDecay: o.weightDecay,
        regularize: [...o.regularize],
        steps: res.steps,
        sampleSequences: o.sampleSequences,
        heldoutTokens: res.original.tokens,
        heldoutDocuments: res.heldoutDocuments,
        trainDocuments: res.trainDocuments,
        original: pick(res.original),
        directShare: pick(res.directShare),
        postTrained: pick(res.postTrained),
        postShare: pick(res.postShare),
        pairDistance: { ...res.meanRelativePairDistance },
        finalShareKl: res.finalShare.kl,
        seconds: res.seconds,
        trainTokensPerSecond: res.tokensPerSecond,
      });
      log(
        `${run.model} α = ${run.ratio}: DirectShare ppl ${res.directShare.ppl.toFixed(3)}, PostShare ppl ${res.postShare.ppl.toFixed(3)}, ${res.seconds.toFixed(0)} s`,
      );
    }
    const r: PostShareBenchResult = { ortThreads: THREADS, ...(skipped ? { skipped } : {}), rows };
    console.log(postShareTable(r));
    if (!opts.quick) console.log(`\n${postShareDemoTable(r)}`);
    return r;
  },
};
