/**
 * PostShare against DirectShare (issue 5) on stories260K-hf: post-trained on the TinyStories
 * excerpt's first 35 stories plus text sampled from the original model, scored on the other 10
 * stories (never trained on). Full mode: α = 0.3 and 0.5 with the defaults (q, k, v, o pulled
 * together), and α = 0.5 with the paper's loss (q, k, v only); `--quick`: α = 0.5 with the defaults
 * cut to 100 steps and 64 sampled sequences (a smoke run, not the published comparison). The
 * DirectShare row is the same plan without post-training, scored in the same run on the same text.
 */
import path from "node:path";
import type { Bench, BenchOptions } from "./run";
import { sharedRoot } from "../test/helpers/shared";
import { postShare, POSTSHARE_DEFAULTS, type PostShareOptions } from "../src/core/train/postshare";

const log = (s: string): void => {
  process.stderr.write(`[postshare bench] ${s}\n`);
};
const THREADS = 1;

type Row = {
  ratio: number;
  variant: string;
  regularize: string[];
  steps: number;
  sampleSequences: number;
  heldoutTokens: number;
  heldoutDocuments: number;
  trainDocuments: number;
  original: { nll: number; ppl: number };
  directShare: { nll: number; ppl: number };
  postTrained: { nll: number; ppl: number };
  postShare: { nll: number; ppl: number };
  pairDistance: { before: number; after: number };
  finalShareKl: number;
  seconds: number;
  trainTokensPerSecond: number;
};

export type PostShareBenchResult = { ortThreads: number; skipped?: string; rows: Row[] };

const f = (x: number, d: number): string => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });

/** The postshare bench's table and what it shows, printed by the run and rendered into README.md. */
export function postShareTable(r: PostShareBenchResult): string {
  if (!r.rows.length) return `PostShare: ${r.skipped ?? "no runs"}.`;
  const x0 = r.rows[0]!;
  const lines = [
    `stories260K-hf post-trained on the first ${x0.trainDocuments} stories of the TinyStories excerpt plus text sampled from the original model; held-out: the other ${x0.heldoutDocuments} stories, ${x0.heldoutTokens.toLocaleString("en-US")} predicted tokens, never trained on; AdamW with the defaults of \`headshare postshare\` (docs/method.md tables them beside the paper's, §5), ${r.ortThreads} intra-op thread. Perplexities on the held-out stories; pair distance = mean over pairs of ‖W(t) − W(r)‖/‖W(r)‖.`,
    "",
    "| α | variant | steps | original ppl | DirectShare ppl | **PostShare ppl** | pair distance before → after | KL(post-trained ‖ PostShare) | seconds (all phases) |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ...r.rows.map(
      (x) =>
        `| ${x.ratio} | ${x.variant} | ${x.steps} | ${f(x.original.ppl, 3)} | ${f(x.directShare.ppl, 3)} | **${f(x.postShare.ppl, 3)}** | ${f(x.pairDistance.before, 3)} → ${f(x.pairDistance.after, 4)} | ${x.finalShareKl.toExponential(1)} | ${f(x.seconds, 0)} |`,
    ),
  ];
  const paper = r.rows.find((x) => x.regularize.join(",") === "q,k,v");
  const mine = paper && r.rows.find((x) => x.ratio === paper.ratio && x.regularize.includes("o"));
  if (paper && mine) {
    lines.push(
      "",
      `With the paper's loss (q, k, v only, \`--regularize q,k,v\`) PostShare at α = ${paper.ratio} reaches ${f(paper.postShare.ppl, 2)} against DirectShare's ${f(paper.directShare.ppl, 2)}; pulling o too (the default, since the final share also gives each target its root's o columns) reaches ${f(mine.postShare.ppl, 2)}. See docs/training.md.`,
    );
  }
  return lines.join("\n");
}

export const postshareBench: Bench = {
  name: "postshare",
  readme: (result) => ({ "": postShareTable(result as PostShareBenchResult) }),
  async run(opts: BenchOptions): Promise<PostShareBenchResult> {
    const shared = sharedRoot("models/stories260K-hf");
    if (!shared) {
      const r = { ortThreads: THREADS, skipped: "skipped: ../shared/models/stories260K-hf is not present (set HEADSHARE_SHARED_DIR)", rows: [] };
      console.log(postShareTable(r));
      return r;
    }
    const model = path.join(shared, "models/stories260K-hf");
    const text = path.join(shared, "corpus/tinystories-valid-excerpt.txt");
    const runs: { ratio: number; variant: string; o: Partial<PostShareOptions> }[] = opts.quick
      ? [{ ratio: 0.5, variant: "defaults, cut to 100 steps and 64 sampled sequences (quick)", o: { steps: 100, sampleSequences: 64 } }]
      : [
          { ratio: 0.3, variant: "defaults (q,k,v,o)", o: {} },
          { ratio: 0.5, variant: "defaults (q,k,v,o)", o: {} },
          { ratio: 0.5, variant: "defaults with the paper's loss (q,k,v)", o: { regularize: ["q", "k", "v"] } },
        ];
    const rows: Row[] = [];
    for (const run of runs) {
      log(`α = ${run.ratio}, ${run.variant}`);
      const res = await postShare(
        model,
        { ratio: run.ratio, text: [text], heldoutDocs: 10, providers: ["cpu"], intraOpThreads: THREADS, ...run.o },
        {
          onProgress: (p) => {
            if (p.phase !== "train" || (p.done % 100 === 0 && p.done > 0)) log(`${p.phase} ${p.done}/${p.total}${p.message ? ` ${p.message}` : ""}`);
          },
        },
      );
      const pick = (s: { nll: number; ppl: number }) => ({ nll: s.nll, ppl: s.ppl });
      rows.push({
        ratio: run.ratio,
        variant: run.variant,
        regularize: [...(run.o.regularize ?? POSTSHARE_DEFAULTS.regularize)],
        steps: res.steps,
        sampleSequences: run.o.sampleSequences ?? POSTSHARE_DEFAULTS.sampleSequences,
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
    }
    const r = { ortThreads: THREADS, rows };
    console.log(postShareTable(r));
    return r;
  },
};
