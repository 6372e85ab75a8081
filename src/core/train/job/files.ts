/**
 * The job folder's text files: where train.py ships (assets/postshare-job/), launch.sh, and the
 * README with run instructions and the memory per rank for the job's model (memory.ts).
 */
import fs from "node:fs/promises";
import path from "node:path";
import { TrainError } from "../errors";
import type { JobFile } from "./format";
import { memoryTable } from "./memory";

/** A file of assets/postshare-job/, found above this module (src/core/train/job in tests, dist/ when bundled). */
export async function jobAsset(name: string): Promise<string> {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, "assets", "postshare-job", name);
    if (
      await fs.stat(p).then(
        (s) => s.isFile(),
        () => false,
      )
    )
      return p;
    dir = path.dirname(dir);
  }
  throw new TrainError(
    "bad-options",
    `assets/postshare-job/${name} is missing from this headshare installation (looked above ${__dirname}); reinstall headshare`,
  );
}

/** Bytes in decimal units with 3 significant digits (GB for a 7B model, MB for a test model). */
export function size(b: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (b >= 1000 && i < units.length - 1) {
    b /= 1000;
    i++;
  }
  return `${b.toPrecision(3)} ${units[i]}`;
}

const shq = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

export function launchScript(job: JobFile): string {
  return `#!/usr/bin/env bash
# PostShare job (headshare): ${job.modelSummary.architecture}, ratio ${job.plan.ratio}, ${job.plan.targets} shared units, ${job.schedule.steps} steps.
# One node: NPROC ranks (one per GPU), rendezvous on this machine. Extra arguments go to train.py
# (e.g. --no-zero, --fsdp, --resume, --out DIR); see README.md.
# MODEL: the model folder on this machine (default: the path given at export, relative to where you run this).
set -euo pipefail
JOB="$(cd "$(dirname "$0")" && pwd)"
NPROC="\${NPROC:-8}"
MODEL="\${MODEL:-${job.model}}"
torchrun --standalone --nproc_per_node="$NPROC" "$JOB/train.py" "$JOB/job.json" --model "$MODEL" "$@"

# Several nodes: run this on every node, NODE_RANK = 0 … NNODES−1, MASTER_ADDR = node 0's address
# (the model folder and this job folder must be readable on every node; --out on a shared file system).
# torchrun --nnodes="$NNODES" --node_rank="$NODE_RANK" --nproc_per_node="$NPROC" \\
#   --rdzv_backend=c10d --rdzv_endpoint="$MASTER_ADDR:29500" --rdzv_id=headshare-postshare \\
#   "$JOB/train.py" "$JOB/job.json" --model "$MODEL" "$@"

# Without torchrun (one machine, N ranks started by train.py itself; CPU uses gloo):
# python3 "$JOB/train.py" "$JOB/job.json" --model ${shq(job.model)} --local-ranks 2
`;
}

export function jobReadme(job: JobFile): string {
  const s = job.schedule,
    p = job.plan,
    m = job.modelSummary;
  const rows = memoryTable(job)
    .map(
      (r) =>
        `| ${r.ranks} | ${r.perRank} | ${size(r.ddp)} | ${size(r.zero)} | ${r.activations ? size(r.activations) : "—"} | ${r.activationsCheckpointed ? size(r.activationsCheckpointed) : "—"} |`,
    )
    .join("\n");
  return `# PostShare job: ${m.architecture}, ratio ${p.ratio}

Exported by ${job.createdBy} from \`${job.model}\` (${(m.parameters / 1e6).toFixed(1)} M parameters, ${m.dtype}).
The sharing plan (${p.strategy}, ${p.granularity}) shares ${p.targets} units; post-training pulls each
target's ${job.loss.regularize.join(", ")} slices towards its root's:

    loss = ${job.loss.lambdaLm}·LM + ${job.loss.lambdaW}·(1/${p.targets})·Σ_pairs ${job.loss.weightLoss === "l2" ? "‖W(target) − W(root)‖_F" : "mean (W(target) − W(root))²"}

${job.trainable.length} tensors train (${(m.trainableParameters / 1e6).toFixed(1)} M parameters), the rest stay frozen.
${s.steps} AdamW steps (lr ${job.optimizer.lr}, ${job.optimizer.warmupSteps} warm-up steps, cosine to ${job.optimizer.lr * job.optimizer.minLrRatio},
clip ${job.optimizer.clipNorm}) of ${s.batchSize} × ${s.seqLen} tokens${s.accumulation > 1 ? ` × ${s.accumulation} accumulated micro-batches` : ""}, in the
window order of \`order.bin\` over \`tokens.bin\` (${job.data.tokenCount} tokens): every engine and every world size sees the same batches.

## Files

- \`job.json\`: the plan, the weight-loss pairs (tensor slices), the forward description, hyperparameters.
- \`tokens.bin\` (uint32), \`order.bin\` (int32 window starts, ${s.batchSize} per micro-batch), \`heldout.bin\` (held-out documents, for the import).
- \`train.py\`: PyTorch only (\`safetensors\`/\`transformers\` are not needed). \`launch.sh\`: torchrun.
- Written by the run under \`run/\` (or \`--out DIR\`): \`metrics.jsonl\` (rank 0: step, lm, weight, loss, lr, gradNorm),
  \`checkpoints/\` (resumable), and the final \`model.safetensors\`.

## Run

One node × 8 GPUs (nccl, bf16 autocast, ZeRO-1: DDP + ZeroRedundancyOptimizer):

    MODEL=/path/to/model NPROC=8 bash launch.sh

Several nodes: see the commented torchrun line in \`launch.sh\` (run it on every node). One machine
without torchrun: \`python3 train.py job.json --local-ranks N\` (gloo on CPU).

The ${s.batchSize} sequences of each micro-batch are split between the ranks, so the world size must divide ${s.batchSize}
(export the job with a larger \`--batch-size\` for more ranks). Options of train.py:
\`--model PATH\` (where the model is on this machine), \`--out DIR\`, \`--no-zero\` (plain DDP), \`--fsdp\`
(PyTorch ≥ 2: FullyShardedDataParallel instead of DDP + ZeRO-1), \`--checkpoint-every N\`, \`--resume\`
(continue from the last checkpoint in \`run/checkpoints/\`, same world size), \`--grad-checkpoint\`
(recompute each layer in backward: less activation memory), \`--device cpu|cuda\`, \`--dtype fp32|bf16\`.

Bring the result back: \`headshare postshare-import <this folder> --out SHARED_MODEL\` applies the final
share and reports held-out perplexity against DirectShare.

Checked in headshare's CI only on CPU with PyTorch 1.13 (gloo, 2 ranks, DDP with and without
ZeroRedundancyOptimizer). On that PyTorch with Python 3.11, \`torchrun\` crashes in its elastic agent and
\`torch.distributed.fsdp\` does not import, so \`launch.sh\` and \`--fsdp\` are meant for PyTorch ≥ 2 and
are not tested there.

## Memory per rank (this model, this job)

Trainable weights are kept in float32 (master weights), frozen ones in their stored dtype; gradients
float32; AdamW keeps two float32 moments per trainable parameter. Plain DDP holds all of it on every
rank; ZeRO-1 shards the AdamW moments across the ranks (per-rank totals: add the activations).
Activations are a rough estimate, not a measurement, for ${s.batchSize} / ranks sequences of ${s.seqLen} tokens in bf16
(logits in float32) with PyTorch ≥ 2's fused attention; PyTorch 1.x keeps the S × S attention probabilities
too (about ${size(4 * job.forward.heads * s.seqLen * job.forward.layers)} more per token).

| ranks | sequences per rank | state, DDP | state, ZeRO-1 | activations (≈) | with \`--grad-checkpoint\` (≈) |
| --- | --- | --- | --- | --- | --- |
${rows}
`;
}
