/**
 * `headshare demo` (`npm run demo`): DirectShare end to end on a small model, in one worker —
 * inspect → match → plan at 30% → compact checkpoint → (with --text) eval of the shared model
 * against the original. The model is the committed demo model `assets/demo-model/` when present,
 * else a seeded synthetic Llama-style checkpoint written once under the OS temp folder.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeSyntheticModel } from "../../core/model/synthetic";
import { planSharing } from "../../core/share/plan";
import { type Command, parseArgs } from "../args";
import { bytes, int, keyValues, pct, writeOut } from "../output";
import { absolute, cancellable, cliClient, parseProviders, runJob } from "../runJob";
import { renderMatch } from "./match";
import { planFacts } from "./plan";
import { outputFacts } from "./share";

const usage = `usage: headshare demo [--ratio 0.3] [--out DIR] [--text FILE] [--providers auto|cpu,...] [--debug]

Runs DirectShare end to end on the embedded demo model (assets/demo-model/, or a seeded synthetic
Llama-style checkpoint when that is absent): inspect, match table, plan, compact checkpoint, and
prints the plan summary and the bytes saved.

  --ratio A    sharing ratio (default 0.3)
  --out DIR    where the compact checkpoint goes (default: <temp>/headshare-demo/compact; replaced on each run)
  --text FILE  also score the shared model against the original on this text (needs tokenizer.json)`;

const spec = {
  command: "demo", usage,
  flags: [
    { name: "ratio", type: "number", min: 0, max: 1 },
    { name: "out", type: "string", short: "o" },
    { name: "text", type: "string" },
    { name: "providers", type: "string" },
  ],
  positionals: [],
} as const;

/** The synthetic fallback's shape: small enough to be instant, large enough to show the method. */
const SYNTHETIC = { family: "llama", layers: 6, heads: 8, kvHeads: 4, headDim: 16, intermediate: 256, vocab: 256, seed: 2402 } as const;

/** The demo model folder: the committed one, else the synthetic one (written on first use). */
export async function demoModel(workDir: string): Promise<{ dir: string; kind: "committed" | "synthetic" }> {
  const committed = path.resolve(__dirname, "..", "assets", "demo-model");
  if (fs.existsSync(path.join(committed, "config.json"))) return { dir: committed, kind: "committed" };
  const dir = path.join(workDir, `synthetic-llama-seed${SYNTHETIC.seed}`);
  if (!fs.existsSync(path.join(dir, "config.json"))) {
    const staging = `${dir}.tmp-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    await writeSyntheticModel(staging, SYNTHETIC);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(staging, dir);
  }
  return { dir, kind: "synthetic" };
}

export const demoCommand: Command = {
  name: "demo",
  summary: "DirectShare end to end on the embedded demo model",
  usage,
  run: (argv) => cancellable(async () => {
    const a = parseArgs(spec, argv);
    if (a.help) {
      await writeOut(usage);
      return 0;
    }
    const ratio = (a.flags.ratio as number | undefined) ?? 0.3;
    const providers = parseProviders(a.flags.providers as string | undefined, "demo", usage);
    const workDir = path.join(os.tmpdir(), "headshare-demo");
    fs.mkdirSync(workDir, { recursive: true });
    const out = a.flags.out !== undefined ? absolute(a.flags.out as string) : path.join(workDir, "compact");
    const { dir, kind } = await demoModel(workDir);
    const client = cliClient(providers, a.debug);
    try {
      const job = { client, providers, debug: a.debug };
      const { summary: s } = await runJob("headshare/inspect", { model: dir }, job);
      await writeOut(`# 1. the model (${kind === "committed" ? "assets/demo-model" : "synthetic, seeded"})\n${keyValues([
        ["path", dir],
        ["architecture", `${s.architecture}: ${s.layers} layers, ${s.heads} heads / ${s.kvHeads} kv heads, head size ${s.headDim}, width ${s.hidden}`],
        ["parameters", `${int(s.parameters)} (${bytes(s.fileBytes)} on disk; attention ${pct(s.attentionShare ?? 0)})`],
      ])}\n`);
      const { table } = await runJob("headshare/match", { model: dir, strategy: "qk", granularity: "group" }, job);
      await writeOut(`# 2. match table (qk)\n${renderMatch(table, 5)}\n`);
      const plan = planSharing(table, ratio);
      await writeOut(`# 3. plan at ${ratio}\n${keyValues(planFacts(plan))}\n`);
      const r = await runJob("headshare/share", { model: dir, ratio, table, out, force: true, format: "compact" }, job);
      await writeOut(`# 4. compact checkpoint\n${keyValues(outputFacts(r.output))}\n`);
      if (a.flags.text !== undefined) {
        const e = await runJob("headshare/eval", { model: out, compare: dir, text: absolute(a.flags.text as string), bos: true }, job);
        await writeOut(`# 5. shared vs original on ${a.flags.text as string}\n${keyValues([
          ["original", `nll ${e.compare!.nll.toFixed(4)}, ppl ${e.compare!.ppl.toFixed(3)}`],
          ["shared", `nll ${e.nll.toFixed(4)}, ppl ${e.ppl.toFixed(3)}`],
          ["KL", `${(e.kl ?? NaN).toFixed(5)} nats/token, top-1 agreement ${pct(e.top1Agreement ?? NaN)}`],
        ])}\n`);
      }
      const saved = r.output.fileBytesBefore - r.output.fileBytesAfter;
      await writeOut(`shared ${int(plan.savedUnits)} of ${int(plan.layers * plan.unitsPerLayer)} attention units: ${int(saved)} bytes saved (${bytes(saved)}, ${pct(saved / r.output.fileBytesBefore, 2)} of the file)`);
      return 0;
    } finally {
      await client.dispose();
    }
  }),
};
