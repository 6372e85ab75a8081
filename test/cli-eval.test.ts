// eval / sweep / postshare / demo through `node dist/cli.js …`: the JSON keys of issues 4 and 5,
// the README reference numbers on stories260K-hf (when ../shared is present), flag errors, and the demo.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { byteTokenizerConfig, byteTokenizerJson, BYTE_VOCAB } from "../src/core/train/byteTokenizer";
import { writeInitialLlama } from "../src/core/train/initModel";
import { sharedPath, sharedSkip } from "./helpers/shared";
import { noCli, runCli } from "./helpers/cli";

const run = runCli;

const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-cli-eval-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const stories = "models/stories260K-hf";
const excerpt = "corpus/tinystories-valid-excerpt.txt";
const needShared = noCli || sharedSkip(stories) || sharedSkip(excerpt);

test("cli-eval: eval --json on stories260K-hf reproduces the README numbers (14,552 tokens, NLL 1.222397)", { skip: needShared }, async () => {
  const r = await run(["eval", sharedPath(stories)!, "--text", sharedPath(excerpt)!, "--documents-separator", "<|endoftext|>", "--window", "512", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout) as { tokens: number; nll: number; ppl: number; protocol: { kind: string; window: number }; provider: string };
  for (const k of ["tokens", "nll", "ppl", "protocol", "provider"]) assert.ok(k in e, `key ${k}`);
  assert.equal(e.tokens, 14552);
  assert.ok(Math.abs(e.nll - 1.222397) / 1.222397 < 1e-4, `nll ${e.nll}`);
  assert.ok(Math.abs(e.ppl - Math.exp(e.nll)) < 1e-9);
  assert.deepEqual([e.protocol.kind, e.protocol.window, e.provider], ["documents", 512, "cpu"]);
});

test("cli-eval: eval --compare of a model with itself: KL 0, agreement 1, hidden cosines 1", { skip: needShared }, async () => {
  const text = path.join(tmp, "short.txt");
  fs.writeFileSync(text, fs.readFileSync(sharedPath(excerpt)!, "utf8").slice(0, 3000));
  const r = await run(["eval", sharedPath(stories)!, "--compare", sharedPath(stories)!, "--text", text, "--window", "128", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout) as { kl: number; top1Agreement: number; hiddenCosine: number[]; compare: { nll: number }; nll: number };
  assert.ok(Math.abs(e.kl) < 1e-6, `kl ${e.kl}`);
  assert.equal(e.top1Agreement, 1);
  assert.equal(e.hiddenCosine.length, 5);
  for (const c of e.hiddenCosine) assert.ok(Math.abs(c - 1) < 1e-5);
  assert.ok(Math.abs(e.compare.nll - e.nll) < 1e-9);
});

test("cli-eval: eval --attention adds the layer × head attention-map similarity table", { skip: needShared }, async () => {
  const text = path.join(tmp, "att.txt");
  fs.writeFileSync(text, fs.readFileSync(sharedPath(excerpt)!, "utf8").slice(0, 2000));
  const r = await run(["eval", sharedPath(stories)!, "--text", text, "--window", "128", "--attention", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const a = (
    JSON.parse(r.stdout) as {
      attention: {
        layers: number;
        heads: number;
        best: (number | null)[][];
        entries: { layer: number; head: number; sourceLayer: number; score: number }[];
        measure: string;
      };
    }
  ).attention;
  assert.deepEqual([a.layers, a.heads, a.entries.length], [5, 8, 4 * 8]);
  assert.ok(a.best[0]!.every((v) => v === null));
  for (const e of a.entries) {
    assert.ok(e.sourceLayer < e.layer);
    assert.equal(a.best[e.layer]![e.head], e.score);
  }
  assert.match(a.measure, /cos/);
  const t = await run(["eval", sharedPath(stories)!, "--text", text, "--window", "128", "--attention"]);
  assert.match(t.stdout, /attention-map similarity \(/);
  assert.match(t.stdout, /\n4\s+\d\.\d{3} ←3\.\d/);
});

test("cli-eval: sweep --json and --csv: ratio 0 changes nothing, rows per ratio", { skip: needShared }, async () => {
  const text = path.join(tmp, "sweep.txt");
  fs.writeFileSync(text, fs.readFileSync(sharedPath(excerpt)!, "utf8").slice(0, 4000));
  const csv = path.join(tmp, "curve.csv");
  const r = await run(["sweep", sharedPath(stories)!, "--ratios", "0,0.25", "--text", text, "--window", "256", "--csv", csv, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as {
    rows: { ratio: number; selected: number; nll: number; kl: number; top1Agreement: number }[];
    original: { nll: number };
    provider: string;
  };
  assert.deepEqual(
    s.rows.map((x) => [x.ratio, x.selected]),
    [
      [0, 0],
      [0.25, 5],
    ],
  );
  assert.ok(Math.abs(s.rows[0]!.nll - s.original.nll) < 1e-9);
  assert.ok(Math.abs(s.rows[0]!.kl) < 1e-6);
  assert.equal(s.rows[0]!.top1Agreement, 1);
  assert.ok(s.rows[1]!.kl > 0);
  const lines = fs.readFileSync(csv, "utf8").trim().split("\n");
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^ratio,selected,saved_units,chained_targets,parameters,bytes,nll,ppl,kl,top1_agreement/);
});

test("cli-eval: postshare --json has the issue's keys and writes the PostShare checkpoint", { skip: needShared }, async () => {
  const text = path.join(tmp, "train.txt");
  fs.writeFileSync(text, fs.readFileSync(sharedPath(excerpt)!, "utf8").slice(0, 30000));
  const out = path.join(tmp, "postshare");
  const r = await run(["postshare", sharedPath(stories)!, "--ratio", "0.3", "--text", text, "--steps", "2", "--train-on", "text", "--out", out, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const p = JSON.parse(r.stdout) as Record<string, unknown> & { lossCurve: Record<string, number>[]; selected: number; outDir: string; provider: string };
  for (const k of ["original", "directShare", "postShare"]) {
    const m = p[k] as { nll: number; ppl: number };
    assert.ok(Number.isFinite(m.nll) && Math.abs(m.ppl - Math.exp(m.nll)) < 1e-6 * m.ppl, k);
  }
  assert.ok(typeof p.seconds === "number");
  assert.equal(p.lossCurve.length, 2);
  for (const row of p.lossCurve) for (const k of ["step", "lm", "weight", "lr"]) assert.ok(Number.isFinite(row[k]), `lossCurve.${k}`);
  assert.equal(p.selected, 6);
  assert.equal(p.outDir, out);
  const i = await run(["inspect", out, "--json"]);
  assert.equal(i.code, 0, i.stderr);
  assert.equal((JSON.parse(i.stdout) as { plan: { savedUnits: number } }).plan.savedUnits, 6);
});

test("cli-eval: flag errors of eval, sweep and postshare are one clear line, exit 1", { skip: noCli }, async () => {
  const model = sharedPath(stories) ?? path.join(tmp, "no-model");
  const cases: [string[], RegExp][] = [
    [["eval", model], /^headshare: eval: --text FILE is required/],
    [["eval", model, "--text", path.join(tmp, "missing.txt")], /^headshare: .*missing\.txt: cannot read the text file \(it does not exist\)/],
    [["eval", model, "--text", "x", "--window", "1"], /^headshare: eval: --window must be in \[2, ∞\]/],
    [["sweep", model, "--text", "x"], /^headshare: sweep: --ratios A,B,\.\.\. is required/],
    [["sweep", model, "--text", "x", "--ratios", "0,abc"], /^headshare: sweep: --ratios needs a comma list of numbers in \[0, 1\] \(got "abc"\)/],
    [["postshare", model, "--text", "x"], /^headshare: postshare: --ratio A is required/],
    [["postshare", model, "--ratio", "0.3", "--out", path.join(tmp, "ps")], /^headshare: postshare: --text FILE is required/],
    [
      ["postshare", model, "--ratio", "0.3", "--text", "x", "--out", path.join(tmp, "ps"), "--weight-loss", "l1"],
      /^headshare: postshare: --weight-loss must be one of l2, mse/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
    assert.equal(r.stdout, "");
  }
});

/** A seeded tiny byte-level Llama (3 layers, 2 KV groups) and 24 generated documents. */
async function tinyPostShareModel(dir: string): Promise<{ model: string; text: string }> {
  const model = path.join(dir, "tiny-model");
  await writeInitialLlama(
    model,
    { layers: 3, heads: 4, kvHeads: 2, headDim: 8, hidden: 32, intermediate: 48, vocab: BYTE_VOCAB, maxPositions: 64, tied: true, seed: 21, std: 0.08 },
    {
      "tokenizer.json": JSON.stringify(byteTokenizerJson()),
      "tokenizer_config.json": JSON.stringify(byteTokenizerConfig(64)),
    },
  );
  let x = 8;
  const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  const words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "red", "ball"];
  const docs = Array.from(
    { length: 24 },
    () => Array.from({ length: 20 + Math.floor(next() * 20) }, () => words[Math.floor(next() * words.length)]).join(" ") + ".",
  );
  const text = path.join(dir, "tiny-text.txt");
  fs.writeFileSync(text, docs.join("\n<|endoftext|>\n"));
  return { model, text };
}

interface PostShareJson {
  lossCurve: { step: number; lm: number; weight: number; lr: number }[];
  heldoutDocuments: number;
  trainDocuments: number;
  tokens: number;
  selected: number;
  options: {
    regularize: string[];
    batchSize: number;
    seqLen: number;
    sampleSequences: number;
    sampleLength: number;
    sampleTemperature: number;
    trainTokens: number;
    trainOn: string;
  };
  original: { nll: number };
  meanRelativePairDistance: { before: number; after: number };
}

test(
  "cli-eval: postshare flags reach the core — regularize, held-out split, batch, sampling, checkpoint and resume (tiny synthetic model)",
  { skip: noCli },
  async () => {
    const { model, text } = await tinyPostShareModel(tmp);
    const ck = path.join(tmp, "train-ckpt.safetensors");
    const common = [
      "postshare",
      model,
      "--ratio",
      "0.5",
      "--text",
      text,
      "--heldout-docs",
      "4",
      "--batch-size",
      "2",
      "--seq-len",
      "16",
      "--providers",
      "cpu",
      "--json",
    ];
    // 1) text only, the paper's loss, 2 steps, checkpoint at the end
    const a = await run([...common, "--train-on", "text", "--steps", "2", "--regularize", "q,k,v", "--checkpoint", ck, "--out", path.join(tmp, "ps-a")]);
    assert.equal(a.code, 0, a.stderr);
    const pa = JSON.parse(a.stdout) as PostShareJson;
    assert.deepEqual(pa.options.regularize, ["q", "k", "v"]);
    assert.deepEqual([pa.heldoutDocuments, pa.trainDocuments], [4, 20]);
    assert.deepEqual([pa.options.batchSize, pa.options.seqLen, pa.options.trainOn, pa.options.sampleSequences], [2, 16, "text", 0]);
    assert.equal(pa.tokens, 2 * 2 * 16, "2 steps of 2 × 16 tokens");
    assert.deepEqual(
      pa.lossCurve.map((r) => r.step),
      [1, 2],
    );
    assert.ok(fs.statSync(ck).size > 0, "the training checkpoint was written");
    // 2) resume from it to 4 steps: only steps 3 and 4 run
    const b = await run([...common, "--train-on", "text", "--steps", "4", "--regularize", "q,k,v", "--resume", ck, "--out", path.join(tmp, "ps-b")]);
    assert.equal(b.code, 0, b.stderr);
    const pb = JSON.parse(b.stdout) as PostShareJson;
    assert.deepEqual(
      pb.lossCurve.map((r) => r.step),
      [3, 4],
    );
    assert.equal(pb.original.nll, pa.original.nll, "the same held-out split scores the same original model identically");
    // 3) the default weight loss (q, k, v, o) and text sampled from the model: 4 sequences of 12 tokens added
    const c = await run([
      ...common,
      "--train-on",
      "both",
      "--steps",
      "2",
      "--sample-sequences",
      "4",
      "--sample-length",
      "12",
      "--sample-temperature",
      "0.7",
      "--out",
      path.join(tmp, "ps-c"),
    ]);
    assert.equal(c.code, 0, c.stderr);
    const pc = JSON.parse(c.stdout) as PostShareJson;
    assert.deepEqual(pc.options.regularize, ["q", "k", "v", "o"]);
    assert.deepEqual([pc.options.sampleSequences, pc.options.sampleLength, pc.options.sampleTemperature], [4, 12, 0.7]);
    assert.equal(pc.options.trainTokens - pa.options.trainTokens, 4 * 12, "the text's tokens plus 4 sampled sequences of 12");
  },
);

test("cli-eval: bad postshare option values are one clear line, exit 1, nothing written", { skip: noCli }, async () => {
  const model = path.join(tmp, "no-model");
  const out = path.join(tmp, "ps-bad");
  const base = ["postshare", model, "--ratio", "0.3", "--text", "x", "--out", out];
  const cases: [string[], RegExp][] = [
    [["--regularize", "q,x"], /^headshare: postshare: --regularize needs a comma list of q, k, v, o .*got "q,x"/],
    [["--regularize", "q,q"], /^headshare: postshare: --regularize names q twice/],
    [["--sample-temperature", "0"], /^headshare: postshare: --sample-temperature must be > 0 \(got 0\)/],
    [["--sample-length", "1"], /^headshare: postshare: --sample-length must be in \[2, ∞\]/],
    [["--batch-size", "two"], /^headshare: postshare: --batch-size needs an integer \(got "two"\)/],
    [["--heldout-docs", "0"], /^headshare: postshare: --heldout-docs must be in \[1, ∞\]/],
    [["--heldout-docs", "3", "--heldout", "h.txt"], /^headshare: postshare: give either --heldout FILE .* or --heldout-docs N/],
    [["--checkpoint-every", "5"], /^headshare: postshare: --checkpoint-every N needs --checkpoint FILE/],
    [["--resume", path.join(tmp, "none.safetensors")], /^headshare: postshare: --resume .*none\.safetensors: no such checkpoint file/],
    [["--checkpoint", path.join(tmp, "no-dir", "c.safetensors")], /^headshare: postshare: --checkpoint .*: its folder .*no-dir does not exist/],
  ];
  for (const [extra, re] of cases) {
    const r = await run([...base, ...extra]);
    assert.equal(r.code, 1, `${extra.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr.split("\n")[0]!, re, extra.join(" "));
    assert.equal(r.stdout, "");
  }
  assert.equal(fs.existsSync(out), false);
  const h = await run(["postshare", "--help"]);
  for (const flag of [
    "--regularize",
    "--sample-sequences",
    "--sample-length",
    "--sample-temperature",
    "--heldout-docs",
    "--batch-size",
    "--seq-len",
    "--checkpoint",
    "--resume",
  ])
    assert.ok(h.stdout.includes(flag), `--help documents ${flag}`);
});

test("cli-eval: demo compresses the embedded model at 30%, prints the before/after table and the bytes saved, writes the report", { skip: noCli }, async () => {
  const out = path.join(tmp, "demo-out");
  const r = await run(["demo", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /# 3\. plan at 0\.3\nratio:\s+0\.3 of \d+ units/);
  const m = /shared (\d+) of (\d+) attention units: ([\d,]+) bytes saved/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.equal(Number(m[1]), Math.floor(0.3 * Number(m[2])));
  const saved = Number(m[3]!.replace(/,/g, ""));
  assert.ok(saved > 0);
  const model = /path:\s+(\S+)/.exec(r.stdout)![1]!;
  const before = fs.statSync(path.join(model, "model.safetensors")).size;
  const after = fs.statSync(path.join(out, "compact", "model.safetensors")).size;
  assert.equal(before - after, saved);
  // the table: file bytes before/after are the two files' sizes; NLL, perplexity, KL, top-1 rows are there
  const fileRow = /^file bytes\s+([\d,]+)\s+([\d,]+)\s+−[\d.]+%$/m.exec(r.stdout);
  assert.ok(fileRow, r.stdout);
  assert.deepEqual([Number(fileRow[1]!.replace(/,/g, "")), Number(fileRow[2]!.replace(/,/g, ""))], [before, after]);
  const nllRow = /^NLL \(nats\/token\)\s+(\d\.\d{4})\s+(\d\.\d{4})\s+[+−±]\d\.\d{4}$/m.exec(r.stdout);
  const pplRow = /^perplexity\s+(\d+\.\d{3})\s+(\d+\.\d{3})\s+[+−±][\d.]+%$/m.exec(r.stdout);
  assert.ok(nllRow && pplRow, r.stdout);
  for (const i of [1, 2]) assert.ok(Math.abs(Math.exp(Number(nllRow[i])) - Number(pplRow[i])) < 2e-3 * Number(pplRow[i]), "ppl = exp(nll)");
  assert.match(r.stdout, /^KL\(P_original ‖ P_shared\):\s+\d\.\d{5} nats\/token$/m);
  assert.match(r.stdout, /^top-1 agreement:\s+\d+\.\d\d%$/m);
  const report = /^report: (.+)$/m.exec(r.stdout)![1]!;
  assert.equal(report, path.join(out, "report.html"));
  assert.ok(fs.readFileSync(report, "utf8").includes(nllRow[1]!), "the report shows the original NLL");
  // the output folder now holds files: a second run into it needs --force
  const again = await run(["demo", "--out", out]);
  assert.equal(again.code, 1);
  assert.match(again.stderr.split("\n")[0]!, /^headshare: demo: --out .* exists and is not empty; pass --force/);
  assert.equal((await run(["demo", "--out", out, "--force"])).code, 0);
});

interface DemoJson {
  format: string;
  ratio: number;
  selected: number;
  units: number;
  model: { path: string; kind: string; layers: number };
  heldout: { file: string; source: string; tokens: number; protocol: string };
  original: { parameters: number; fileBytes: number; nll: number; ppl: number };
  shared: { parameters: number; fileBytes: number; nll: number; ppl: number };
  kl: number;
  top1Agreement: number;
  hiddenCosine: number[];
  targets: { layer: number; unit: number; rootLayer: number; rootUnit: number; score: number }[];
  matches: { layer: number; unit: number; score: number }[];
  compactDir: string;
  report: string;
  seconds: number;
}

/** Checks a demo --json result against the files it names and an independent eval of the compact checkpoint. */
async function checkDemoJson(d: DemoJson): Promise<void> {
  assert.equal(d.format, "headshare.demo");
  assert.equal(d.selected, Math.floor(d.ratio * d.units));
  assert.equal(d.targets.length, d.selected);
  assert.equal(d.matches.length, d.units - d.units / d.model.layers, "every unit of layers 1..L-1 is a candidate");
  for (const t of d.targets) assert.ok(t.rootLayer < t.layer);
  assert.equal(d.original.fileBytes, fs.statSync(path.join(d.model.path, "model.safetensors")).size);
  assert.equal(d.shared.fileBytes, fs.statSync(path.join(d.compactDir, "model.safetensors")).size);
  assert.ok(d.shared.parameters < d.original.parameters);
  for (const side of [d.original, d.shared]) assert.ok(Math.abs(side.ppl - Math.exp(side.nll)) < 1e-9 * side.ppl);
  assert.ok(d.kl > 0 && d.top1Agreement > 0 && d.top1Agreement < 1, `kl ${d.kl}, top-1 ${d.top1Agreement}`);
  assert.equal(d.hiddenCosine.length, d.model.layers);
  assert.ok(Math.abs(d.hiddenCosine[0]! - 1) < 1e-6, "layer 0 is never shared: its hidden state is unchanged");
  // the shared model's NLL, recomputed by `eval` on the compact checkpoint alone
  const e = await run(["eval", d.compactDir, "--text", d.heldout.file, "--json"]);
  assert.equal(e.code, 0, e.stderr);
  const ej = JSON.parse(e.stdout) as { nll: number; tokens: number };
  assert.equal(ej.tokens, d.heldout.tokens);
  assert.ok(Math.abs(ej.nll - d.shared.nll) < 1e-6, `eval of the compact checkpoint ${ej.nll} vs the demo's ${d.shared.nll}`);
  // the report: self-contained, shows the numbers of the table
  const html = fs.readFileSync(d.report, "utf8");
  assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/);
  assert.doesNotMatch(html, /<script|<link|<img|<iframe|url\(|src=|href=/i, "no scripts and no external resources");
  assert.deepEqual(
    [...html.matchAll(/https?:\/\/[^"]+/g)].map((x) => x[0]).filter((u) => u !== "http://www.w3.org/2000/svg"),
    [],
    "only the SVG namespace URI",
  );
  const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
  for (const v of [
    fmt(d.original.parameters),
    fmt(d.shared.parameters),
    fmt(d.original.fileBytes),
    fmt(d.shared.fileBytes),
    d.original.nll.toFixed(4),
    d.shared.nll.toFixed(4),
    d.original.ppl.toFixed(3),
    d.shared.ppl.toFixed(3),
    d.kl.toFixed(5),
    `${(100 * d.top1Agreement).toFixed(2)}%`,
  ]) {
    assert.ok(html.includes(v), `the report shows ${v}`);
  }
  assert.equal((html.match(/<svg /g) ?? []).length, 2, "sharing map and hidden-cosine chart");
  for (const t of d.targets) assert.ok(html.includes(`← L${t.rootLayer} U${t.rootUnit}`), `the map shows ${t.layer}.${t.unit} ← ${t.rootLayer}.${t.rootUnit}`);
  for (const c of d.hiddenCosine) assert.ok(html.includes(c.toFixed(4)), `the chart labels cosine ${c.toFixed(4)}`);
}

test("cli-eval: demo --json on the committed model: the table's numbers, the held-out excerpt, the report with those numbers", { skip: noCli }, async () => {
  const r = await run(["demo", "--out", path.join(tmp, "demo-json"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout) as DemoJson;
  await checkDemoJson(d);
  if (d.model.kind === "committed") {
    assert.equal(path.basename(d.heldout.file), "heldout-brown.txt");
    assert.equal(d.heldout.source, "excerpt");
    assert.equal(d.heldout.tokens, fs.statSync(d.heldout.file).size, "byte-level model: one token per byte, every one predicted once");
    // MODEL_CARD.md: held-out NLL 1.9086 nats/byte on all held-out files, unigram 3.0850; the excerpt is a sample of them
    assert.ok(Math.abs(d.original.nll - 1.9086) < 0.1 && d.original.nll < 3.085 - 1, `original NLL ${d.original.nll}`);
    // README.md's demo table, as printed (rounded to the digits shown there)
    assert.deepEqual([d.original.parameters, d.shared.parameters, d.original.fileBytes, d.shared.fileBytes], [624128, 574976, 2500600, 2305592]);
    assert.deepEqual([d.selected, d.units], [4, 16]);
    assert.deepEqual(
      [d.original.nll.toFixed(4), d.shared.nll.toFixed(4), d.original.ppl.toFixed(3), d.shared.ppl.toFixed(3)],
      ["1.9213", "2.0595", "6.830", "7.842"],
    );
    assert.deepEqual([d.kl.toFixed(4), (100 * d.top1Agreement).toFixed(2)], ["0.2867", "68.70"]);
    assert.deepEqual(
      d.hiddenCosine.map((c) => c.toFixed(4)),
      ["1.0000", "0.9802", "0.9341", "0.9099"],
    );
  }
  assert.ok(d.seconds < 120, `the demo took ${d.seconds} s`);
});

test("cli-eval: demo --synthetic runs on the seeded synthetic model and generated text", { skip: noCli }, async () => {
  const r = await run(["demo", "--synthetic", "--ratio", "0.25", "--out", path.join(tmp, "demo-synthetic"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout) as DemoJson;
  assert.deepEqual([d.model.kind, d.heldout.source, d.ratio], ["synthetic", "generated", 0.25]);
  await checkDemoJson(d);
});
