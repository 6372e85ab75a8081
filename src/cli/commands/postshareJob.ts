/**
 * `headshare postshare-job <model> --ratio A --text FILE… --out DIR`: PostShare's post-training as a
 * PyTorch data-parallel job folder (docs/training.md "PostShare on a cluster"), and
 * `headshare postshare-import DIR --out OUT`: the job's trained weights back, shared and scored.
 */
import { defineCommand } from "../command";
import { bytes, int, keyValues, writeOut } from "../output";
import { absolute } from "../runJob";
import { JSON_FLAG, MATCH_FLAGS, PROVIDERS_FLAG, WAIT_FLAG } from "./matchFlags";
import { checkOutFolder } from "./outDir";
import { POSTSHARE_TRAINING_FLAGS, trainingOptions } from "./postshare";

const jobUsage = `usage: headshare postshare-job <model> --ratio A --text FILE [--text FILE ...] --out DIR [--heldout FILE | --heldout-docs N]
                               [the training flags of headshare postshare: --preset, --steps, --lr, --warmup-steps, --min-lr-ratio,
                                --beta1, --beta2, --eps, --weight-decay, --clip-norm, --lambda-lm, --lambda-w, --weight-loss,
                                --regularize, --train-on, --trainable, --sample-*, --batch-size, --seq-len, --seed, --strategy, --granularity]
                               [--force] [--wait] [--json] [--providers ...] [--debug]

Exports PostShare's post-training for a PyTorch cluster: match and plan here (as headshare postshare
does), then DIR gets job.json (model path as given, the plan's target → root pairs per projection,
ratio, N, strategy, the match table's hash, hyperparameters), tokens.bin and order.bin (the token
stream and the seeded window order: every engine and world size sees the same batches),
heldout.bin, train.py (PyTorch only: DDP + ZeRO-1, FSDP on PyTorch 2, gloo/nccl, bf16, resumable),
launch.sh (torchrun) and README.md (one node × 8 GPUs, several nodes, memory per rank).
Run it with bash launch.sh, or python3 train.py job.json --local-ranks N; bring the result back with
headshare postshare-import DIR --out OUT.

  --out DIR       the job folder (refused when it exists and is not empty, unless --force)
  --wait          when another headshare run is writing the same folder, wait for it instead of refusing
  --json          one JSON object {outDir, files, selected, planSha256, steps, memory, ...}`;

export const postshareJobCommand = defineCommand({
  name: "postshare-job",
  summary: "export PostShare's post-training as a PyTorch distributed job (DDP + ZeRO-1, torchrun)",
  usage: jobUsage,
  flags: [
    ...POSTSHARE_TRAINING_FLAGS,
    { name: "out", type: "string", short: "o" },
    ...MATCH_FLAGS,
    { name: "force", type: "boolean" },
    WAIT_FLAG,
    JSON_FLAG,
    PROVIDERS_FLAG,
  ],
  positionals: [
    { name: "model", required: true },
    { name: "more-text...", required: false },
  ],
  async run(c) {
    const a = c.args;
    c.required("ratio", "--ratio A is required (e.g. --ratio 0.3)");
    c.required("text", "--text FILE is required (post-training text)");
    const out = absolute(c.required("out", "--out DIR is required (a new folder for the job)") as string);
    const providers = c.providers();
    const given = a.positionals[0]!;
    const model = absolute(given);
    const force = a.flags.force === true;
    const training = trainingOptions("postshare-job", jobUsage, a);
    await checkOutFolder("postshare-job", jobUsage, out, model, force, "the PostShare job");
    const r = await c.job("headshare/postshareJob", {
      model,
      modelAsGiven: given,
      out,
      force,
      ...(a.flags.wait === true ? { wait: true } : {}),
      providers,
      ...training,
    });
    if (a.flags.json) {
      await writeOut(JSON.stringify(r));
      return 0;
    }
    const mem = r.memory.filter((m) => m.ranks === 1 || m.ranks === 8);
    await writeOut(
      keyValues([
        ["job", r.outDir],
        ["plan", `${int(r.selected)} units shared, plan sha256 ${r.planSha256.slice(0, 16)}…`],
        [
          "training",
          `${int(r.steps)} steps, ${int(r.microBatches)} micro-batches over ${int(r.tokens)} tokens; ${int(r.trainableParameters)} of ${int(r.parameters)} parameters train`,
        ],
        ...mem.map((m): [string, string] => [
          `memory, ${m.ranks} rank${m.ranks > 1 ? "s" : ""}`,
          `DDP ${bytes(m.ddp)}, ZeRO-1 ${bytes(m.zero)} per rank${m.activations ? ` + activations ≈ ${bytes(m.activations)}` : ` (the job's batch does not split over ${m.ranks} ranks: export with a larger --batch-size)`}`,
        ]),
        ["files", r.files.join(", ")],
        ["run", `bash ${r.outDir}/launch.sh  (or: python3 ${r.outDir}/train.py ${r.outDir}/job.json --local-ranks N)`],
        ["then", `headshare postshare-import ${r.outDir} --out SHARED_MODEL`],
        ["time", `${r.seconds.toFixed(1)} s`],
      ]),
    );
    return 0;
  },
});

const importUsage = `usage: headshare postshare-import <job> --out DIR [--format compact|dense] [--model PATH] [--weights FILE]
                                  [--force] [--wait] [--json] [--providers ...] [--debug]

Brings a PostShare job's result back: checks the job folder (plan hash), the model (the one the job
was exported from) and the trained weights (written by the job's train.py for this plan, whole),
writes nothing when any of these is wrong; then applies the final share (DirectShare of the trained
weights with the job's plan; the plan goes into the output's metadata) and reports held-out
perplexity of the original, DirectShare, the post-trained model and PostShare, as postshare does.

  <job>            the job folder (job.json)
  --out DIR        where the PostShare checkpoint is written (compact by default)
  --model PATH     the model on this machine, when it is not at job.json's path
  --weights FILE   the trained weights (default <job>/run/model.safetensors)
  --wait           when another headshare run is writing the same folder, wait for it instead of refusing
  --json           one JSON object: original, directShare, postTrained, postShare, lossCurve, trainedBy`;

export const postshareImportCommand = defineCommand({
  name: "postshare-import",
  summary: "apply the final share to a PostShare job's trained weights and score it",
  usage: importUsage,
  flags: [
    { name: "out", type: "string", short: "o" },
    { name: "format", type: "string", choices: ["compact", "dense"] },
    { name: "model", type: "string" },
    { name: "weights", type: "string" },
    { name: "force", type: "boolean" },
    WAIT_FLAG,
    JSON_FLAG,
    PROVIDERS_FLAG,
  ],
  positionals: [{ name: "job", required: true }],
  async run(c) {
    const a = c.args,
      f = a.flags;
    const out = absolute(c.required("out", "--out DIR is required (a new folder for the PostShare checkpoint)") as string);
    const providers = c.providers();
    const job = absolute(a.positionals[0]!);
    const force = f.force === true;
    await checkOutFolder("postshare-import", importUsage, out, job, force, "the PostShare checkpoint");
    const r = await c.job("headshare/postshareImport", {
      job,
      out,
      force,
      ...(f.wait === true ? { wait: true } : {}),
      providers,
      ...(f.format !== undefined ? { format: f.format as "compact" | "dense" } : {}),
      ...(f.model !== undefined ? { model: absolute(f.model as string) } : {}),
      ...(f.weights !== undefined ? { weights: absolute(f.weights as string) } : {}),
    });
    if (f.json) {
      await writeOut(JSON.stringify(r));
      return 0;
    }
    const s = (x: { nll: number; ppl: number }): string => `nll ${x.nll.toFixed(4)}, ppl ${x.ppl.toFixed(3)}`;
    const by = r.trainedBy;
    const last = r.lossCurve[r.lossCurve.length - 1];
    await writeOut(
      keyValues([
        ["ratio", `${r.ratio}: ${int(r.selected)} units shared`],
        [
          "trained by",
          `${String(by.steps)} steps, ${String(by.worldSize)} rank(s), ${String(by.optimizer)} on ${String(by.device)}${by.torch ? ` (torch ${String(by.torch)})` : ""}`,
        ],
        ["held-out", `${int(r.original.tokens)} tokens in ${r.heldoutDocuments} documents`],
        ["original", s(r.original)],
        ["DirectShare", s(r.directShare)],
        ["post-trained", s(r.postTrained)],
        ["PostShare", s(r.postShare)],
        ["pair distance", `${r.meanRelativePairDistance.before.toFixed(4)} → ${r.meanRelativePairDistance.after.toFixed(4)} (mean relative)`],
        ["final share", `KL ${r.finalShare.kl.toExponential(2)} vs the post-trained model, top-1 ${(100 * r.finalShare.top1Agreement).toFixed(1)}%`],
        [
          "loss curve",
          last ? `${r.lossCurve.length} steps, last lm ${last.lm.toFixed(4)}, weight ${last.weight.toFixed(4)}` : "(no metrics.jsonl beside the weights)",
        ],
        ["written", r.outDir],
        ["time", `${r.seconds.toFixed(1)} s`],
      ]),
    );
    return 0;
  },
});
