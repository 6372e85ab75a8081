// End to end through `node dist/cli.js …` child processes on a seeded synthetic checkpoint:
// match / plan / share / expand, their JSON keys and exit codes, error messages on bad flags and
// bad files, and Ctrl-C (SIGINT) mid-job leaving no output folder behind.
import test from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { computeMatchTable } from "../src/core/share/match";
import { parseMatchTable } from "../src/core/share/matchTable";
import { planSharing } from "../src/core/share/plan";
import { sharedPath, sharedSkip } from "./helpers/shared";

const cli = path.resolve(__dirname, "../../dist/cli.js");
const noCli = fs.existsSync(cli) ? false : "dist/cli.js is not built (npm run build)";

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(args: readonly string[], opts: { onStderr?: (text: string, child: ReturnType<typeof spawn>) => void; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: opts.cwd ?? os.tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      opts.onStderr?.(stderr, child);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-cli-"));
const model = path.join(tmp, "model");
test.before(async () => {
  fs.mkdirSync(model);
  await writeSyntheticModel(model, { family: "llama", layers: 4, heads: 8, kvHeads: 4, headDim: 8, intermediate: 48, vocab: 64, seed: 11 });
});
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("cli-directshare: match --json and --out give the core's table, with run facts", { skip: noCli }, async () => {
  const out = path.join(tmp, "match.json");
  const r = await run(["match", model, "--json", "--out", out, "--providers", "cpu"]);
  assert.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as Record<string, unknown>;
  for (const k of [
    "format",
    "version",
    "strategy",
    "granularity",
    "layers",
    "unitsPerLayer",
    "entries",
    "parametersPerUnit",
    "bytesPerUnit",
    "parameters",
    "source",
  ])
    assert.ok(k in printed, `key ${k}`);
  const table = parseMatchTable(printed, "stdout");
  assert.deepEqual(parseMatchTable(JSON.parse(fs.readFileSync(out, "utf8")), out).entries, table.entries);
  assert.equal(table.strategy, "qk");
  assert.equal(table.entries.length, 3 * 4);
  assert.equal(table.source?.provider, "cpu");
  assert.ok((table.source?.bytesRead ?? 0) > 0);
  // The worker passes the core's result through unchanged.
  const ckpt = await openCheckpoint(model);
  try {
    const direct = await computeMatchTable(ckpt, { strategy: "qk", granularity: "group", providers: ["cpu"] });
    assert.deepEqual(table.entries, direct.entries);
  } finally {
    await ckpt.close();
  }
  // An unavailable provider falls back down the list, and the CLI says so on stderr.
  const fb = await run(["match", model, "--json", "--providers", "cuda,cpu"]);
  assert.equal(fb.code, 0, fb.stderr);
  const used = (JSON.parse(fb.stdout) as { source: { provider: string } }).source.provider;
  assert.ok(used === "cuda" || used === "cpu");
  // Without the CUDA provider's libraries (not in the npm package): the first line says so and what to do.
  if (used === "cpu")
    assert.match(
      fb.stderr,
      /match runs on cpu; cuda skipped: the CUDA provider's libraries are not installed \(libonnxruntime_providers_cuda\.so.* missing in .*\); with internet, run `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node`/,
    );
  else assert.match(fb.stderr, /match runs on cuda/);
  // Text mode: a summary, and the strategy/granularity flags reach the worker.
  const t = await run(["match", model, "--strategy", "v", "--granularity", "query-head"]);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /strategy:\s+v \(granularity query-head\)/);
  assert.match(t.stdout, /4 layers × 8 = 32; 24 targets/);
});

test("cli-directshare: plan --json has the issue's keys and equals planSharing", { skip: noCli }, async () => {
  const file = path.join(tmp, "match-plan.json");
  assert.equal((await run(["match", model, "--out", file])).code, 0);
  const r = await run(["plan", "--match", file, "--ratio", "0.5", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const plan = JSON.parse(r.stdout) as Record<string, unknown> & { targets: Record<string, unknown>[] };
  for (const k of ["ratio", "selected", "savedUnits", "chainedTargets", "parametersBefore", "parametersAfter", "targets"]) assert.ok(k in plan, `key ${k}`);
  for (const k of ["layer", "unit", "sourceLayer", "sourceUnit", "rootLayer", "rootUnit", "score", "rootCosine"])
    assert.ok(k in plan.targets[0]!, `target key ${k}`);
  assert.equal(plan.selected, 8); // floor(0.5 · 4 · 4)
  assert.deepEqual(plan, JSON.parse(JSON.stringify(planSharing(parseMatchTable(JSON.parse(fs.readFileSync(file, "utf8")), file), 0.5))));
  const text = await run(["plan", "--match", file, "--ratio", "0.25"]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /selected:\s+4 targets, 4 units saved/);
  const zero = JSON.parse((await run(["plan", "--match", file, "--ratio", "0", "--json"])).stdout) as { selected: number; targets: unknown[] };
  assert.equal(zero.selected, 0);
  assert.equal(zero.targets.length, 0);
  const high = await run(["plan", "--match", file, "--ratio", "0.8"]);
  assert.equal(high.code, 1);
  assert.match(high.stderr, /^headshare: ratio 0\.8 is too high for 4 layers.*maximum is \(L−1\)\/L = 0\.75/);
});

test(
  "cli-directshare: plan on the paper's released Llama-2-7B table → 307 selected at 0.3",
  { skip: noCli || sharedSkip("fixtures/llama2-7b-match-qk.json") },
  async () => {
    const r = await run(["plan", "--match", sharedPath("fixtures/llama2-7b-match-qk.json")!, "--ratio", "0.3", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { selected: number; savedUnits: number; chainedTargets: number; targets: unknown[] };
    assert.equal(plan.selected, 307);
    assert.equal(plan.savedUnits, 307);
    assert.equal(plan.targets.length, 307);
    assert.ok(plan.chainedTargets > 0);
    const tenth = JSON.parse((await run(["plan", "--match", sharedPath("fixtures/llama2-7b-match-qk.json")!, "--ratio", "0.1", "--json"])).stdout) as {
      selected: number;
    };
    assert.equal(tenth.selected, 102);
  },
);

test("cli-directshare: share compact/dense and expand; expand(compact) == dense byte for byte", { skip: noCli }, async () => {
  const compact = path.join(tmp, "compact"),
    dense = path.join(tmp, "dense"),
    expanded = path.join(tmp, "expanded");
  const c = await run(["share", model, "--ratio", "0.5", "--out", compact, "--json"]);
  assert.equal(c.code, 0, c.stderr);
  const res = JSON.parse(c.stdout) as {
    plan: { selected: number };
    output: Record<string, number | string | unknown[]>;
    match: { cached: boolean };
    provider: string;
    seconds: number;
  };
  for (const k of [
    "format",
    "outDir",
    "files",
    "parametersBefore",
    "parametersAfter",
    "bytesBefore",
    "bytesAfter",
    "fileBytesBefore",
    "fileBytesAfter",
    "savedUnits",
    "perLayer",
  ])
    assert.ok(k in res.output, `output key ${k}`);
  assert.equal(res.plan.selected, 8);
  assert.equal(res.output.format, "compact");
  assert.equal(res.match.cached, false);
  assert.equal(res.provider, "cpu");
  assert.equal((res.output.parametersBefore as number) - (res.output.parametersAfter as number), 8 * (res.output.parametersPerUnit as number));
  assert.equal(fs.statSync(path.join(compact, "model.safetensors")).size, res.output.fileBytesAfter);
  assert.ok(fs.existsSync(path.join(compact, "config.json")));
  const d = await run(["share", model, "--ratio", "0.5", "--format", "dense", "--out", dense]);
  assert.equal(d.code, 0, d.stderr);
  assert.match(d.stdout, /written:\s+dense checkpoint/);
  const e = await run(["expand", compact, "--out", expanded, "--json"]);
  assert.equal(e.code, 0, e.stderr);
  assert.equal((JSON.parse(e.stdout) as { output: { format: string } }).output.format, "dense");
  assert.ok(fs.readFileSync(path.join(expanded, "model.safetensors")).equals(fs.readFileSync(path.join(dense, "model.safetensors"))));
  // The compact checkpoint is self-describing: inspect shows it as shared.
  const i = await run(["inspect", compact, "--json"]);
  assert.equal(i.code, 0, i.stderr);
  assert.equal((JSON.parse(i.stdout) as { plan: { savedUnits: number } }).plan.savedUnits, 8);
  // An existing non-empty --out is refused unless --force.
  const again = await run(["share", model, "--ratio", "0.5", "--out", compact]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^headshare: share: --out .*compact exists and is not empty; pass --force/);
  assert.equal((await run(["share", model, "--ratio", "0.25", "--out", compact, "--force"])).code, 0);
});

test("cli-directshare: bad flags and bad files exit 1 with one clear line", { skip: noCli }, async () => {
  const cases: [string[], RegExp][] = [
    [["match"], /^headshare: match: missing <model>/],
    [["match", model, "--strategy", "qq"], /^headshare: match: --strategy must be one of q, k, v, qk, qkv \(got "qq"\)/],
    [["match", model, "--bogus"], /^headshare: match: unknown option --bogus/],
    [["match", model, "--providers", "tpu"], /^headshare: match: --providers: unknown execution provider "tpu"/],
    [["match", path.join(tmp, "nope")], /^headshare: .*nope: does not exist/],
    [["match", model, "--out", path.join(tmp, "no-such-dir", "m.json")], /^headshare: match: --out .*the folder .*no-such-dir does not exist/],
    [["plan", "--ratio", "0.3"], /^headshare: plan: --match FILE is required/],
    [["plan", "--match", path.join(tmp, "missing.json"), "--ratio", "0.3"], /^headshare: .*missing\.json: cannot read the match table \(it does not exist\)/],
    [["plan", "--match", path.join(model, "config.json"), "--ratio", "0.3"], /^headshare: .*config\.json: /],
    [["plan", "--match", path.join(tmp, "match.json"), "--ratio", "abc"], /^headshare: plan: --ratio needs a number \(got "abc"\)/],
    [["share", model, "--ratio", "0.3"], /^headshare: share: --out DIR is required/],
    [["share", model, "--ratio", "1.5", "--out", path.join(tmp, "x")], /^headshare: share: --ratio must be in \[0, 1\]/],
    [["share", model, "--ratio", "0.9", "--out", path.join(tmp, "x")], /^headshare: ratio 0\.9 is too high for 4 layers/],
    [["share", model, "--ratio", "0.3", "--out", model], /^headshare: share: --out .* is the input's folder/],
    [["expand", model, "--out", path.join(tmp, "x")], /^headshare: .*(not a compact|compact)/i],
  ];
  fs.writeFileSync(path.join(tmp, "garbage.json"), "{not json");
  cases.push([["plan", "--match", path.join(tmp, "garbage.json"), "--ratio", "0.3"], /^headshare: .*garbage\.json: is not JSON/]);
  for (const [args, re] of cases) {
    const r = await run(args);
    assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re, args.join(" "));
    assert.equal(r.stdout, "", `${args.join(" ")} printed nothing on stdout`);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, `${args.join(" ")}: no stack`);
  }
  assert.ok(!fs.existsSync(path.join(tmp, "x")), "no output folder from refused commands");
});

test(
  "cli-directshare: Ctrl-C mid-job cancels cleanly: exit 130, no output folder, input untouched; a second Ctrl-C stops at once",
  { skip: noCli },
  async () => {
    // Big enough (160 MB) that the job is still running when the first progress line appears.
    const big = path.join(tmp, "big");
    fs.mkdirSync(big);
    await writeSyntheticModel(big, { family: "llama", layers: 8, heads: 16, kvHeads: 16, headDim: 64, intermediate: 256, vocab: 256, seed: 3 });
    const before = fs.statSync(path.join(big, "model.safetensors"));
    const parent = path.join(tmp, "outs");
    fs.mkdirSync(parent);
    const out = path.join(parent, "shared");
    let sent = false;
    const r = await run(["share", big, "--ratio", "0.3", "--out", out], {
      onStderr: (text, child) => {
        if (!sent && /share: (match|write)/.test(text)) {
          sent = true;
          child.kill("SIGINT");
        }
      },
    });
    assert.ok(sent, `a progress line appeared: ${r.stderr}`);
    assert.equal(r.code, 130, `exit ${r.code}, stderr: ${r.stderr}`);
    assert.match(r.stderr, /headshare: cancelling share… \(Ctrl-C again to stop at once\)/);
    assert.match(r.stderr, /headshare: share was cancelled; nothing was written/);
    assert.deepEqual(fs.readdirSync(parent), [], "no output folder and no temporary leftovers");
    // A second Ctrl-C stops the worker at once: exit 130; leftovers carry the temporary prefix and the
    // next run into the same folder removes them.
    let sent2 = false;
    const r2 = await run(["share", big, "--ratio", "0.3", "--out", out], {
      onStderr: (text, child) => {
        if (!sent2 && /share: (match|write)/.test(text)) {
          sent2 = true;
          child.kill("SIGINT");
          setTimeout(() => child.kill("SIGINT"), 5);
        }
      },
    });
    assert.equal(r2.code, 130, `exit ${r2.code} ${r2.signal}, stderr: ${r2.stderr}`);
    assert.ok(
      fs.readdirSync(parent).every((f) => f.startsWith(".headshare-tmp-")),
      `only temporary leftovers: ${fs.readdirSync(parent).join(", ")}`,
    );
    const r3 = await run(["share", big, "--ratio", "0.3", "--out", out]);
    assert.equal(r3.code, 0, r3.stderr);
    assert.deepEqual(fs.readdirSync(parent), ["shared"]);
    const after = fs.statSync(path.join(big, "model.safetensors"));
    assert.equal(after.mtimeMs, before.mtimeMs);
    assert.equal(after.size, before.size);
    fs.rmSync(big, { recursive: true, force: true });
  },
);
