// `headshare export --format onnx` and `headshare generate` end to end through `node dist/cli.js`:
// --json results, the plan-file route, streamed text, and bad flags as one clear line (exit 1).
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { noCli, runCli } from "./helpers/cli";
import { sharedPath, sharedSkip } from "./helpers/shared";

const run = runCli;

test(
  "cli export/generate: --json, a plan file, streamed text; the shared export stores 241,600 parameters",
  { skip: noCli || sharedSkip("models/stories260K-hf") },
  async () => {
    const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-cli-export-"));
    try {
      const model = sharedPath("models/stories260K-hf")!;
      const plan = await run(["plan", "--match", await matchFile(model, tmp), "--ratio", "0.3", "--json"]);
      assert.equal(plan.code, 0, plan.stderr);
      fs.writeFileSync(path.join(tmp, "plan.json"), plan.stdout);
      const ex = await run(["export", model, "--format", "onnx", "--plan", path.join(tmp, "plan.json"), "--out", path.join(tmp, "onnx"), "--json"]);
      assert.equal(ex.code, 0, ex.stderr);
      const r = JSON.parse(ex.stdout) as { parameters: number; parametersDense: number; files: string[]; plan: { selected: number } };
      assert.equal(r.parameters, 241_600);
      assert.equal(r.parametersDense, 260_032);
      assert.equal(r.plan.selected, 6);
      assert.ok(r.files.includes("onnx/model.onnx"));
      const g = await run(["generate", model, "--prompt", "Once upon a time", "--max-tokens", "16", "--json"]);
      assert.equal(g.code, 0, g.stderr);
      const gj = JSON.parse(g.stdout) as { ids: number[]; promptIds: number[]; text: string; tokensPerSecond: number };
      assert.equal(gj.promptIds[0], 1, "BOS first");
      assert.equal(gj.ids.length, 16);
      assert.ok(gj.text.length > 0 && gj.tokensPerSecond > 0);
      const streamed = await run(["generate", model, "--plan", path.join(tmp, "plan.json"), "--prompt", "Once upon a time", "--max-tokens", "16"]);
      assert.equal(streamed.code, 0, streamed.stderr);
      assert.match(streamed.stderr, /sharing: ratio 0\.3, 6 units shared/);
      assert.ok(streamed.stdout.trim().length > 0);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);

async function matchFile(model: string, tmp: string): Promise<string> {
  const file = path.join(tmp, "match.json");
  const m = await run(["match", model, "--out", file]);
  assert.equal(m.code, 0, m.stderr);
  return file;
}

test("cli export/generate: bad flags are one clear line, exit 1, nothing written", { skip: noCli }, async () => {
  const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-cli-export-bad-"));
  try {
    const model = path.resolve(__dirname, "../../assets/demo-model");
    const cases: [string[], RegExp][] = [
      [["export", model, "--out", path.join(tmp, "o")], /--format onnx is required/],
      [["export", model, "--format", "gguf", "--out", path.join(tmp, "o")], /--format must be one of onnx/],
      [["export", model, "--format", "onnx", "--out", tmp], /already exists/],
      [["export", model, "--format", "onnx", "--ratio", "0.3", "--plan", "x.json", "--out", path.join(tmp, "o")], /--ratio or --plan, not both/],
      [["export", model, "--format", "onnx", "--strategy", "q", "--out", path.join(tmp, "o")], /--strategy needs --ratio/],
      [["export", model, "--format", "onnx", "--dtype", "bf16", "--out", path.join(tmp, "o")], /--dtype must be one of fp32, fp16/],
      [["export", model, "--format", "onnx", "--plan", path.join(tmp, "missing.json"), "--out", path.join(tmp, "o")], /missing\.json: cannot read the plan/],
      [["generate", model], /--prompt TEXT is required/],
      [["generate", model, "--prompt", "x", "--seed", "3"], /need --temperature/],
    ];
    for (const [args, want] of cases) {
      const r = await run(args);
      assert.equal(r.code, 1, `${args.join(" ")}: exit ${r.code} (${r.stderr})`);
      assert.match(r.stderr, want, args.join(" "));
    }
    assert.deepEqual(fs.readdirSync(tmp), [], "nothing was written");
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
