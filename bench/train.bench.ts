/**
 * Training throughput (issue 5) on the demo model (assets/demo-model/, or a freshly initialised
 * model of the same shape when it is absent): tokens/s of full optimizer steps (forward + backward
 * in one ORT call, gradient accumulation, clipping, AdamW in JS), split into the ORT part and the
 * JS optimizer part, for batch sizes and intra-op thread counts. The baseline row is batch 8 ×
 * 128 on 1 thread; other rows show their speed-up against it.
 */
import fs from "node:fs";
import path from "node:path";
import type { Bench, BenchOptions } from "./run";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { BYTE_VOCAB } from "../src/core/train/byteTokenizer";
import { BlockSampler } from "../src/core/train/data";
import { trainingForward, NLL } from "../src/core/train/forward";
import { writeInitialLlama } from "../src/core/train/initModel";
import { AdamW, DEFAULT_OPTIMIZER } from "../src/core/train/optimizer";
import { buildTrainGraph } from "../src/core/train/trainGraph";
import { Trainer } from "../src/core/train/trainer";

const log = (s: string): void => { process.stderr.write(`[train bench] ${s}\n`); };

async function demoModel(cacheDir: string): Promise<string> {
  const committed = path.resolve(__dirname, "../../assets/demo-model");
  if (fs.existsSync(path.join(committed, "config.json"))) return committed;
  const dir = path.join(cacheDir, "train-demo-shape-v1");
  if (!fs.existsSync(path.join(dir, "config.json"))) {
    log(`assets/demo-model is absent: initialising a model of its shape in ${dir}`);
    await writeInitialLlama(dir, { layers: 4, heads: 8, kvHeads: 4, headDim: 16, hidden: 128, intermediate: 256, vocab: BYTE_VOCAB, maxPositions: 256, tied: true, seed: 1 });
  }
  return dir;
}

export const trainBench: Bench = {
  name: "train",
  async run(opts: BenchOptions): Promise<void> {
    const dir = await demoModel(opts.cacheDir);
    const ckpt = await openCheckpoint(dir);
    try {
      const fwd = trainingForward(ckpt);
      const tg = buildTrainGraph(fwd.graph, { nll: NLL, trainable: fwd.weights.map((w) => w.input), lambdaLm: 1, lambdaW: 0, weightLoss: "l2", pairs: [], targets: 0 });
      const base = new Map<string, Float32Array>();
      for (const w of fwd.weights) base.set(w.input, await ckpt.source.readF32(w.tensor));
      const nParams = [...base.values()].reduce((s, a) => s + a.length, 0);
      const stream = Int32Array.from({ length: 200_000 }, (_, i) => 3 + ((i * 2654435761) >>> 0) % 256);
      const configs = [
        { batch: 8, seq: 128, threads: 1 },
        { batch: 16, seq: 128, threads: 1 },
        { batch: 8, seq: 128, threads: 2 },
        { batch: 16, seq: 256, threads: 2 },
      ];
      const steps = opts.quick ? 4 : 12;
      console.log(`model: ${dir} (${nParams.toLocaleString("en-US")} parameters); ${tg.graph.nodes.length} nodes in the training graph (${tg.backwardNodes} backward); ${steps} timed steps after 2 warm-up`);
      console.log("| batch × seq | threads | ORT fwd+bwd ms/step | AdamW (JS) ms/step | tokens/s | vs baseline |");
      console.log("| --- | --- | --- | --- | --- | --- |");
      let baseline = 0;
      for (const c of configs) {
        const params = new Map([...base].map(([k, v]) => [k, Float32Array.from(v)]));
        const trainer = await Trainer.create(tg.graph, tg.gradOutputs, params, { providers: ["cpu"], intraOpThreads: c.threads });
        const adam = new AdamW(DEFAULT_OPTIMIZER);
        for (const [k, v] of params) adam.register(k, v.length, (trainer.shapes.get(k)?.length ?? 1) >= 2);
        const sampler = new BlockSampler(stream, c.batch, c.seq, 3);
        let ortMs = 0, optMs = 0;
        for (let s = 0; s < steps + 2; s++) {
          const b = sampler.batch(s);
          const t0 = performance.now();
          const r = await trainer.forwardBackward(b.inputIds, b.targets, c.batch, c.seq);
          const t1 = performance.now();
          adam.update(params, r.grads, 1e-4);
          const t2 = performance.now();
          if (s >= 2) { ortMs += t1 - t0; optMs += t2 - t1; }
        }
        await trainer.release();
        const tps = (c.batch * c.seq * steps) / ((ortMs + optMs) / 1000);
        if (!baseline) baseline = tps;
        console.log(`| ${c.batch} × ${c.seq} | ${c.threads} | ${(ortMs / steps).toFixed(1)} | ${(optMs / steps).toFixed(2)} | ${tps.toFixed(0)} | ${(tps / baseline).toFixed(2)}× |`);
        log(`${c.batch}×${c.seq} t${c.threads}: ${tps.toFixed(0)} tokens/s`);
      }
    } finally {
      await ckpt.close();
    }
  },
};
