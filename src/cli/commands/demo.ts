/**
 * `headshare demo` (`npm run demo`): DirectShare end to end on a small model, in one worker —
 * inspect → match → plan at 30% → compact checkpoint → eval of the original against the shared
 * model on held-out text → a before/after table and a self-contained HTML report. The model is the
 * committed demo model `assets/demo-model/` (scored on its held-out excerpt `heldout-brown.txt`)
 * when present, else a seeded synthetic byte-level Llama-style checkpoint written once under the OS
 * temp folder (scored on seeded generated text).
 */
import { cleanStaleTemps, tempPathFor } from "../../core/output";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { mulberry32, writeSyntheticModel } from "../../core/model/synthetic";
import { byteTokenizerConfig, byteTokenizerJson, BYTE_VOCAB } from "../../core/train/byteTokenizer";
import { planSharing } from "../../core/share/plan";
import { UsageError } from "../args";
import { bytes, int, keyValues, pct, table as outTable, writeOut } from "../output";
import { defineCommand } from "../command";
import { absolute, cliClient, runJob } from "../runJob";
import { type DemoSummary, mapFacts, renderDemoReport, summaryRows } from "./demoReport";
import { renderMatch } from "./match";
import { checkOutDir } from "./outDir";
import { planFacts } from "./plan";
import { outputFacts } from "./share";
import { JSON_FLAG, PROVIDERS_FLAG, RATIO_FLAG } from "./matchFlags";

const usage = `usage: headshare demo [--ratio 0.3] [--out DIR [--force]] [--text FILE] [--synthetic] [--json]
                      [--providers auto|cpu,...] [--debug]

DirectShare end to end on the embedded demo model (assets/demo-model/; a seeded synthetic
Llama-style checkpoint when that is absent): inspect, match table, plan, compact checkpoint, then
the original and the shared model scored on held-out text the model never trained on. Prints the
before/after table (parameters, file bytes, NLL, perplexity, KL, top-1 agreement) and writes a
self-contained HTML report (sharing map, per-layer hidden-state cosine) whose path it prints.

  --ratio A      sharing ratio (default 0.3)
  --out DIR      where the compact checkpoint (DIR/compact) and the report (DIR/report.html) go
                 (default: a new folder under the OS temp folder); an existing non-empty DIR needs --force
  --text FILE    score this text instead of the model's held-out excerpt (assets/demo-model/heldout-brown.txt)
  --synthetic    use the seeded synthetic model even when the committed demo model is present
  --json         print one JSON object (the table's numbers, the sharing map, the report's path) instead`;

const spec = {
  command: "demo",
  usage,
  flags: [
    RATIO_FLAG,
    { name: "out", type: "string", short: "o" },
    { name: "text", type: "string" },
    { name: "force", type: "boolean" },
    { name: "synthetic", type: "boolean" },
    JSON_FLAG,
    PROVIDERS_FLAG,
  ],
  positionals: [],
} as const;

/** The synthetic fallback's shape: small enough to be instant, large enough to show the method; byte-level vocabulary. */
const SYNTHETIC = {
  family: "llama",
  layers: 6,
  heads: 8,
  kvHeads: 4,
  headDim: 16,
  intermediate: 256,
  vocab: BYTE_VOCAB,
  maxPositions: 256,
  seed: 2402,
} as const;
/** The held-out excerpt committed beside the demo model (scripts/demo-heldout.ts). */
export const DEMO_HELDOUT = "heldout-brown.txt";

/** The demo model folder: the committed one, else the synthetic one (written on first use, with a byte tokenizer). */
export async function demoModel(workDir: string, forceSynthetic = false): Promise<{ dir: string; kind: "committed" | "synthetic" }> {
  const committed = path.resolve(__dirname, "..", "assets", "demo-model");
  if (!forceSynthetic && fs.existsSync(path.join(committed, "config.json"))) return { dir: committed, kind: "committed" };
  const dir = path.join(workDir, `synthetic-llama-seed${SYNTHETIC.seed}-bytes`);
  if (!fs.existsSync(path.join(dir, "tokenizer.json"))) {
    await cleanStaleTemps(workDir); // staging of killed demo runs
    const staging = tempPathFor(dir);
    fs.mkdirSync(staging, { recursive: true });
    await writeSyntheticModel(staging, SYNTHETIC);
    fs.writeFileSync(path.join(staging, "tokenizer_config.json"), JSON.stringify(byteTokenizerConfig(SYNTHETIC.maxPositions)));
    fs.writeFileSync(path.join(staging, "tokenizer.json"), JSON.stringify(byteTokenizerJson()));
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(staging, dir);
  }
  return { dir, kind: "synthetic" };
}

/** Seeded text for the synthetic model (which was trained on nothing, so any text is held out). */
function syntheticText(workDir: string): string {
  const file = path.join(workDir, `synthetic-heldout-seed${SYNTHETIC.seed}.txt`);
  if (!fs.existsSync(file)) {
    const rand = mulberry32(SYNTHETIC.seed);
    const words = ["the", "model", "shares", "heads", "across", "layers", "and", "keeps", "its", "quality", "when", "weights", "match"];
    const lines = Array.from(
      { length: 40 },
      () => Array.from({ length: 12 + Math.floor(rand() * 12) }, () => words[Math.floor(rand() * words.length)]).join(" ") + ".",
    );
    const tmp = tempPathFor(file);
    fs.writeFileSync(tmp, lines.join("\n") + "\n");
    fs.renameSync(tmp, file);
  }
  return file;
}

/** Writes `text` to `file` through a temporary name in the same folder. */
function writeAtomic(file: string, text: string): void {
  const tmp = tempPathFor(file);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

export const demoCommand = defineCommand({
  name: "demo",
  summary: "DirectShare end to end on the embedded demo model, with a before/after table and an HTML report",
  usage,
  flags: spec.flags,
  positionals: spec.positionals,
  async run(c) {
    const t0 = performance.now();
    const a = c.args;
    const f = a.flags;
    const ratio = (f.ratio as number | undefined) ?? 0.3;
    const json = f.json === true;
    const providers = c.providers();
    const workDir = path.join(os.tmpdir(), "headshare-demo");
    fs.mkdirSync(workDir, { recursive: true });
    const { dir, kind } = await demoModel(workDir, f.synthetic === true);
    const textFile = f.text !== undefined ? absolute(f.text as string) : kind === "committed" ? path.join(dir, DEMO_HELDOUT) : syntheticText(workDir);
    if (!fs.existsSync(textFile) || !fs.statSync(textFile).isFile()) {
      throw new UsageError(
        `demo: ${textFile}: no such text file${f.text === undefined ? " (the demo model's held-out excerpt is missing; run node scripts/demo-heldout.mjs or pass --text FILE)" : ""}`,
        usage,
      );
    }
    let out: string;
    if (f.out !== undefined) {
      out = absolute(f.out as string);
      checkOutDir("demo", usage, out, dir, f.force === true);
      fs.mkdirSync(out, { recursive: true });
    } else {
      out = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-demo-run-"));
    }
    const compactDir = path.join(out, "compact");
    const reportFile = path.join(out, "report.html");
    const say = async (text: string): Promise<void> => {
      if (!json) await writeOut(text);
    };
    const client = cliClient(providers, a.debug);
    try {
      const job = { client, providers, debug: a.debug };
      const { summary: s } = await runJob("headshare/inspect", { model: dir }, job);
      await say(
        `# 1. the model (${kind === "committed" ? "assets/demo-model" : "synthetic, seeded"})\n${keyValues([
          ["path", dir],
          ["architecture", `${s.architecture}: ${s.layers} layers, ${s.heads} heads / ${s.kvHeads} kv heads, head size ${s.headDim}, width ${s.hidden}`],
          ["parameters", `${int(s.parameters)} (${bytes(s.fileBytes)} on disk; attention ${pct(s.attentionShare ?? 0)})`],
        ])}\n`,
      );
      const { table } = await runJob("headshare/match", { model: dir, strategy: "qk", granularity: "group" }, job);
      await say(`# 2. match table (qk)\n${renderMatch(table, 5)}\n`);
      const plan = planSharing(table, ratio);
      await say(`# 3. plan at ${ratio}\n${keyValues(planFacts(plan))}\n`);
      const r = await runJob("headshare/share", { model: dir, ratio, table, out: compactDir, force: true, format: "compact" }, job);
      await say(`# 4. compact checkpoint\n${keyValues(outputFacts(r.output))}\n`);
      // model = the original, compare = the shared one: kl is KL(P_original ‖ P_shared) (method.md §6).
      const e = await runJob("headshare/eval", { model: dir, compare: compactDir, text: textFile, bos: true }, job);
      if (e.compare === undefined || e.kl === undefined || e.top1Agreement === undefined) {
        throw new Error("the eval job answered without the comparison (kl, top-1 agreement); run again with --debug");
      }
      const summary: DemoSummary = {
        format: "headshare.demo",
        version: 1,
        model: { path: dir, kind, architecture: s.architecture, layers: plan.layers, heads: s.heads, kvHeads: s.kvHeads, headDim: s.headDim, hidden: s.hidden },
        ratio,
        strategy: plan.strategy,
        granularity: plan.granularity,
        ...mapFacts(table, plan),
        heldout: {
          file: textFile,
          source: f.text !== undefined ? "user" : kind === "committed" ? "excerpt" : "generated",
          tokens: e.tokens,
          protocol: e.protocol.description,
        },
        original: { parameters: e.parameters, fileBytes: r.output.fileBytesBefore, nll: e.nll, ppl: e.ppl },
        shared: { parameters: e.compare.parameters, fileBytes: r.output.fileBytesAfter, nll: e.compare.nll, ppl: e.compare.ppl },
        kl: e.kl,
        klDirection: "KL(P_original ‖ P_shared), nats per predicted token",
        top1Agreement: e.top1Agreement,
        hiddenCosine: e.hiddenCosine ?? [],
        compactDir,
        report: reportFile,
        provider: e.provider,
        seconds: (performance.now() - t0) / 1000,
      };
      writeAtomic(reportFile, renderDemoReport(summary));
      if (json) {
        await writeOut(JSON.stringify(summary));
        return 0;
      }
      const rows = summaryRows(summary);
      await writeOut(
        `# 5. original vs shared on ${f.text !== undefined ? "" : kind === "committed" ? "held-out " : "generated "}text (${textFile}: ${int(e.tokens)} tokens, ${e.protocol.description})\n${outTable(
          ["", "original", `shared (${ratio})`, "change"],
          rows,
          [false, true, true, true],
        )}\n${keyValues([
          ["KL(P_original ‖ P_shared)", `${e.kl.toFixed(5)} nats/token`],
          ["top-1 agreement", pct(e.top1Agreement, 2)],
          ["hidden-state cosine", summary.hiddenCosine.map((c, l) => `L${l} ${c.toFixed(4)}`).join(", ")],
        ])}\n`,
      );
      const saved = r.output.fileBytesBefore - r.output.fileBytesAfter;
      await writeOut(
        `shared ${int(plan.savedUnits)} of ${int(plan.layers * plan.unitsPerLayer)} attention units: ${int(saved)} bytes saved (${bytes(saved)}, ${pct(saved / r.output.fileBytesBefore, 2)} of the file)\nreport: ${reportFile}`,
      );
      return 0;
    } finally {
      await client.dispose();
    }
  },
});
