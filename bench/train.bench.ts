/**
 * Training throughput (issue 5) on the demo model (assets/demo-model/, or a freshly initialised
 * model of the same shape when it is absent): tokens/s of full optimizer steps (forward + backward
 * in one ORT call, gradient accumulation, clipping, AdamW in JS), split into the ORT part and the
 * JS optimizer part, for batch sizes and intra-op thread counts. The baseline row is batch 8 ×
 * 128 on 1 thread; other rows show their speed-up against it (medians of per-step times, measured
 * step by step after 2 warm-up steps; the range is min–max).
 */
import fs from "node:fs";
import path from "node:path";
import type { Bench, BenchOptions } from "./run";
import { fmtSummary, summarize, type Summary } from "./stats";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { BlockSampler } from "../src/core/train/data";
import { DEMO_MODEL_SHAPE, writeInitialLlama } from "../src/core/train/initModel";
import { lmTraining } from "../src/core/train/lmTraining";
import { AdamW, DEFAULT_OPTIMIZER } from "../src/core/train/optimizer";
import { Trainer } from "../src/core/train/trainer";

const log = (s: string): void => {
  process.stderr.write(`[train bench] ${s}\n`);
};

async function demoModel(cacheDir: string): Promise<string> {
  const committed = path.resolve(__dirname, "../../assets/demo-model");
  if (fs.existsSync(path.join(committed, "config.json"))) return committed;
  const dir = path.join(cacheDir, "train-demo-shape-v1");
  if (!fs.existsSync(path.join(dir, "config.json"))) {
    log(`assets/demo-model is absent: initialising a model of its shape in ${dir}`);
    await writeInitialLlama(dir, { ...DEMO_MODEL_SHAPE, seed: 1 });
  }
  return dir;
}

export type TrainBenchResult = {
  ortThreads: string;
  model: string;
  parameters: number;
  graphNodes: number;
  backwardNodes: number;
  warmupSteps: number;
  rows: {
    batch: number;
    seq: number;
    ortThreads: number;
    ortSeconds: Summary;
    adamSeconds: Summary;
    stepSeconds: Summary;
    tokensPerSecond: number;
    vsBaseline: number;
  }[];
};

/** The train bench's table, printed by the run and rendered into README.md. */
export function trainTable(r: TrainBenchResult): string {
  const f = (x: number, d: number): string => x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  return [
    `Training step (forward + emitted backward in one ORT call, clipping, AdamW in JS) on ${r.model} (${r.parameters.toLocaleString("en-US")} parameters; ${r.graphNodes} graph nodes, ${r.backwardNodes} backward), ${r.rows[0]?.stepSeconds.n ?? 0} timed steps after ${r.warmupSteps} warm-up steps per row. Baseline: the first row (batch 8 × 128, 1 intra-op thread), in the same run.`,
    "",
    "| batch × seq | ORT intra-op threads | ORT forward+backward per step | AdamW (JS) per step | tokens/s (median step) | vs baseline |",
    "| --- | ---: | --- | --- | ---: | ---: |",
    ...r.rows.map(
      (x) =>
        `| ${x.batch} × ${x.seq} | ${x.ortThreads} | ${fmtSummary(x.ortSeconds, 4, " s")} | ${fmtSummary(x.adamSeconds, 4, " s")} | ${f(x.tokensPerSecond, 0)} | ${f(x.vsBaseline, 2)}× |`,
    ),
  ].join("\n");
}

export const trainBench: Bench = {
  name: "train",
  readme: (result) => ({ "": trainTable(result as TrainBenchResult) }),
  async run(opts: BenchOptions): Promise<TrainBenchResult> {
    const dir = await demoModel(opts.cacheDir);
    const ckpt = await openCheckpoint(dir);
    try {
      const { train: tg, params: base } = await lmTraining(ckpt);
      const nParams = [...base.values()].reduce((s, a) => s + a.length, 0);
      const stream = Int32Array.from({ length: 200_000 }, (_, i) => 3 + (((i * 2654435761) >>> 0) % 256));
      const configs = [
        { batch: 8, seq: 128, threads: 1 },
        { batch: 16, seq: 128, threads: 1 },
        { batch: 8, seq: 128, threads: 2 },
        { batch: 16, seq: 256, threads: 2 },
      ];
      const steps = opts.quick ? 4 : 12;
      const rows: TrainBenchResult["rows"] = [];
      let baseline = 0;
      for (const c of configs) {
        const params = new Map([...base].map(([k, v]) => [k, Float32Array.from(v)]));
        const trainer = await Trainer.create(tg.graph, tg.gradOutputs, params, { providers: ["cpu"], intraOpThreads: c.threads });
        const adam = new AdamW(DEFAULT_OPTIMIZER);
        for (const [k, v] of params) adam.register(k, v.length, (trainer.shapes.get(k)?.length ?? 1) >= 2);
        const sampler = new BlockSampler(stream, c.batch, c.seq, 3);
        const ortS: number[] = [],
          optS: number[] = [],
          stepS: number[] = [];
        for (let s = 0; s < steps + 2; s++) {
          const b = sampler.batch(s);
          const t0 = performance.now();
          const r = await trainer.forwardBackward(b.inputIds, b.targets, c.batch, c.seq);
          const t1 = performance.now();
          adam.update(params, r.grads, 1e-4);
          const t2 = performance.now();
          if (s >= 2) {
            ortS.push((t1 - t0) / 1000);
            optS.push((t2 - t1) / 1000);
            stepS.push((t2 - t0) / 1000);
          }
        }
        await trainer.release();
        const stepSeconds = summarize(stepS);
        const tps = (c.batch * c.seq) / stepSeconds.median;
        if (!baseline) baseline = tps;
        rows.push({
          batch: c.batch,
          seq: c.seq,
          ortThreads: c.threads,
          ortSeconds: summarize(ortS),
          adamSeconds: summarize(optS),
          stepSeconds,
          tokensPerSecond: tps,
          vsBaseline: tps / baseline,
        });
        log(`${c.batch}×${c.seq} t${c.threads}: ${tps.toFixed(0)} tokens/s`);
      }
      const model = path.relative(path.resolve(__dirname, "../.."), dir).startsWith("..")
        ? "a freshly initialised model of the demo model's shape"
        : "the demo model, assets/demo-model";
      const r: TrainBenchResult = {
        ortThreads: "per row (intra-op threads column)",
        model,
        parameters: nParams,
        graphNodes: tg.graph.nodes.length,
        backwardNodes: tg.backwardNodes,
        warmupSteps: 2,
        rows,
      };
      console.log(trainTable(r));
      return r;
    } finally {
      await ckpt.close();
    }
  },
};
