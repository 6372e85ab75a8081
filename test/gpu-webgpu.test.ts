/**
 * The WebGPU provider on a software GPU (SwiftShader; ./helpers/softwareGpu.ts), each job against the
 * CPU provider in the same test, through the CLI and the worker (`node dist/cli.js … --providers
 * webgpu`). Tolerances (issue 12): match scores within 1e-5 and the same selected targets, eval NLL
 * within 1e-4 relative, a 20-step PostShare loss curve within 1e-3 relative, the compact folder of
 * share byte-identical (its plan records scores on a 1e-4 grid: recordedPlan). And `auto` with only a software adapter runs on the CPU and says why.
 * SwiftShader is ~100× slower than the CPU provider: tiny models and short texts only.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { planSharing } from "../src/core/share/plan";
import type { MatchTable } from "../src/core/share/types";
import { sharedPath, sharedSkip } from "./helpers/shared";
import { softwareGpu } from "./helpers/softwareGpu";

const cli = path.resolve(__dirname, "../../dist/cli.js");
const gpu = softwareGpu();
const skip = fs.existsSync(cli) ? gpu.skip : "dist/cli.js is not built (npm run build)";
const demo = path.resolve(__dirname, "../../assets/demo-model");
const stories = "models/stories260K-hf";
const SENTENCE = "Once upon a time there was a little cat.\n";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
function run(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...(gpu.skip === false ? gpu.env : process.env), ...extraEnv };
    const child = spawn(process.execPath, [cli, ...args], { cwd: os.tmpdir(), env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
async function json<T>(args: readonly string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ value: T; stderr: string }> {
  const r = await run(args, extraEnv);
  assert.equal(r.code, 0, `headshare ${args.join(" ")}: ${r.stderr}`);
  return { value: JSON.parse(r.stdout) as T, stderr: r.stderr };
}

const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-gpu-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const SWIFTSHADER = /webgpu — SwiftShader Device \(Subzero\) \(Google, vulkan, software renderer\)/;

test("gpu-webgpu: auto with only a software adapter runs on the CPU and says why; devices lists SwiftShader by name", { skip }, async () => {
  interface Devices {
    devices: { provider: string; available: boolean; adapter?: { device: string; software: boolean }; reason?: string }[];
    auto: { provider: string; skipped: { provider: string; reason: string }[] };
  }
  const { value: d } = await json<Devices>(["devices", "--json"]);
  const webgpu = d.devices.find((x) => x.provider === "webgpu")!;
  assert.equal(webgpu.available, true, webgpu.reason);
  assert.equal(webgpu.adapter?.device, "SwiftShader Device (Subzero)");
  assert.equal(webgpu.adapter?.software, true);
  assert.equal(d.auto.provider, "cpu");
  assert.match(
    d.auto.skipped.find((s) => s.provider === "webgpu")!.reason,
    /only adapter is SwiftShader Device \(Subzero\).*auto never picks a software adapter \(name it: --providers webgpu\)/,
  );
  // The CLI's first line says the same for a job on auto.
  const r = await run(["match", demo]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr.split("\n")[0]!, /^match runs on cpu; .*webgpu skipped: the only adapter is SwiftShader/);
});

for (const [name, model] of [
  ["demo model", demo],
  ["stories260K-hf", sharedPath(stories)],
] as const) {
  test(
    `gpu-webgpu: match on ${name}: webgpu scores equal the CPU's within 1e-5, the same targets are selected`,
    { skip: skip || (model ? false : sharedSkip(stories)) },
    async () => {
      const cpu = await json<MatchTable>(["match", model!, "--json", "--providers", "cpu"]);
      const gpuRun = await json<MatchTable>(["match", model!, "--json", "--providers", "webgpu", "--debug"]);
      const g = gpuRun.value,
        c = cpu.value;
      assert.equal(g.source?.provider, "webgpu");
      assert.equal(g.source?.adapter, "SwiftShader Device (Subzero) (Google, vulkan, software renderer)");
      assert.match(gpuRun.stderr, new RegExp(`match runs on ${SWIFTSHADER.source}`));
      assert.match(gpuRun.stderr, /match Gemm on webgpu \(webgpu: 1 node\)/, "the placement is in the --debug log");
      let worst = 0;
      for (let i = 0; i < c.entries.length; i++) {
        const a = c.entries[i]!,
          b = g.entries[i]!;
        assert.deepEqual([b.layer, b.unit, b.sourceLayer, b.sourceUnit], [a.layer, a.unit, a.sourceLayer, a.sourceUnit]);
        worst = Math.max(worst, Math.abs(a.score - b.score));
      }
      console.log(`# ${name}: max |score(webgpu) − score(cpu)| = ${worst.toExponential(2)}`);
      assert.ok(worst <= 1e-5, `max score difference ${worst}`);
      for (const ratio of [0.25, 0.5]) {
        const key = (t: MatchTable) =>
          planSharing(t, ratio)
            .targets.map((x) => `${x.layer}.${x.unit}←${x.rootLayer}.${x.rootUnit}`)
            .join(" ");
        assert.equal(key(g), key(c), `selected targets at ratio ${ratio}`);
      }
    },
  );
}

test(
  "gpu-webgpu: match under a small storage-binding limit splits its Gemms to fit and equals the CPU's; a limit below one row is refused naming the tensor",
  { skip },
  async () => {
    // The demo model's qk chunk is [16 units, 6144] float32 = 384 KiB: under 64 KiB per binding it
    // must run in column blocks (the kernel refuses any Gemm tensor above the limit, so a pass means split).
    const c = (await json<MatchTable>(["match", demo, "--json", "--providers", "cpu"])).value;
    const g = (await json<MatchTable>(["match", demo, "--json", "--providers", "webgpu"], { HEADSHARE_GPU_LIMITS: "maxStorageBufferBindingSize=64KiB" })).value;
    assert.equal(g.source?.provider, "webgpu");
    let worst = 0;
    for (let i = 0; i < c.entries.length; i++) {
      const a = c.entries[i]!,
        b = g.entries[i]!;
      assert.deepEqual([b.layer, b.unit, b.sourceLayer, b.sourceUnit], [a.layer, a.unit, a.sourceLayer, a.sourceUnit]);
      worst = Math.max(worst, Math.abs(a.score - b.score));
    }
    assert.ok(worst <= 1e-5, `max score difference ${worst}`);
    // 4 KiB is below one row block: A = 12 target units × 128 columns = 6 KiB.
    const r = await run(["match", demo, "--providers", "webgpu"], { HEADSHARE_GPU_LIMITS: "maxStorageBufferBindingSize=4KiB" });
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /the match Gemm's input A \(target units × columns of their vectors\) \[12, 128\] float32 takes 6 KiB, more than the GPU allows \(maxStorageBufferBindingSize 4 KiB: HEADSHARE_GPU_LIMITS=maxStorageBufferBindingSize=4KiB\), and cannot be split further; run the match with --providers cpu/,
    );
  },
);

test(
  "gpu-webgpu: eval under small buffer limits cuts its batches (whole-model) or its passes and head chunks (layer-streamed) to fit, and says so, with the CPU's NLL; a weight above maxBufferSize or a window above one binding is refused naming it",
  { skip },
  async () => {
    const page = path.join(tmp, "limits-page.txt");
    fs.writeFileSync(page, fs.readFileSync(path.join(demo, "heldout-brown.txt"), "utf8").slice(0, 600));
    const args = ["eval", demo, "--text", page, "--window", "32", "--json"];
    interface Eval {
      nll: number;
      tokens: number;
      provider: string;
      memory?: { tokensPerPass: number; vocabChunk: number };
      compute?: { notes?: string[] };
    }
    const c = (await json<Eval>([...args, "--providers", "cpu"])).value;
    // Per token the largest activation is the logits row (vocabulary 259 × 4 bytes): 64 KiB holds 63 tokens, two windows of 31.
    const limits = { HEADSHARE_GPU_LIMITS: "maxStorageBufferBindingSize=64KiB" };
    const { value: g, stderr } = await json<Eval>([...args, "--providers", "webgpu", "--debug"], limits);
    assert.equal(g.provider, "webgpu");
    assert.equal(g.tokens, c.tokens);
    const cut =
      "forward batches cut to 63 tokens (from 2048) so that each batch's activations fit one GPU storage binding (64 KiB: HEADSHARE_GPU_LIMITS=maxStorageBufferBindingSize=64KiB)";
    assert.ok(g.compute?.notes?.includes(cut), JSON.stringify(g.compute?.notes));
    assert.ok(stderr.includes(cut), "the note is in the --debug log");
    // On the GPU the whole-model forward keeps its weights on the device (initializers), and says so.
    assert.ok(g.compute?.notes?.includes("forward weights resident on webgpu: initializers, uploaded once when the session was created"));
    assert.match(stderr, /forward: whole-model \(auto: the weights as float32, 0\.00 GiB, fit a quarter of the [\d.]+ GiB memory budget\)/);
    const rel = Math.abs(g.nll - c.nll) / c.nll;
    assert.ok(rel <= 1e-4, `relative NLL difference ${rel}`);
    const weight = await run([...args, "--providers", "webgpu"], { HEADSHARE_GPU_LIMITS: "maxBufferSize=64KiB" });
    assert.equal(weight.code, 1);
    assert.match(
      weight.stderr,
      /model\.safetensors: the weight model\.embed_tokens\.weight \[259, 128\] float32 takes 129\.50 KiB, more than the GPU allows \(maxBufferSize 64 KiB: HEADSHARE_GPU_LIMITS=maxBufferSize=64KiB\), and cannot be split further; evaluate it with --providers cpu/,
    );
    const window = await run([...args, "--providers", "webgpu"], { HEADSHARE_GPU_LIMITS: "maxStorageBufferBindingSize=16KiB" });
    assert.equal(window.code, 1);
    assert.match(
      window.stderr,
      /the forward's logits of one window \[1, 32, 259\] float32 takes 32\.38 KiB, more than the GPU allows \(maxStorageBufferBindingSize 16 KiB.*use a shorter window \(--window\), or --providers cpu/,
    );
    // The layer-streamed forward under limits the whole-model one cannot run in.
    const sc = (await json<Eval>([...args, "--forward", "layer-streamed", "--providers", "cpu"])).value;
    // 128 KiB: a pass holds 128 tokens (the logits chunk [N, 256] and the MLP [N, 256] take 1 KiB a token), lm_head rows [256, 128] fit;
    // the layers' weights (at most [256, 128], 128 KiB) fit maxBufferSize, embed_tokens [259, 128] (129.5 KiB) does not.
    const streamedLimits = { HEADSHARE_GPU_LIMITS: "maxBufferSize=128KiB,maxStorageBufferBindingSize=128KiB" };
    const sg = (await json<Eval>([...args, "--forward", "layer-streamed", "--providers", "webgpu"], streamedLimits)).value;
    assert.equal(sg.provider, "webgpu");
    assert.equal(sg.tokens, sc.tokens);
    assert.deepEqual([sg.memory?.tokensPerPass, sg.memory?.vocabChunk], [128, 256]);
    assert.ok(
      sg.compute?.notes?.some((n) =>
        n.startsWith("layer-streamed passes cut to 128 tokens (the memory budget allows 600) and head chunks cut to 256 vocabulary rows"),
      ),
      JSON.stringify(sg.compute?.notes),
    );
    const srel = Math.abs(sg.nll - sc.nll) / sc.nll;
    assert.ok(srel <= 1e-4, `layer-streamed: relative NLL difference ${srel}`);
    const whole = await run([...args, "--forward", "whole-model", "--providers", "webgpu"], streamedLimits);
    assert.equal(whole.code, 1);
    assert.match(
      whole.stderr,
      /the weight model\.embed_tokens\.weight \[259, 128\] float32 takes 129\.50 KiB, more than the GPU allows \(maxBufferSize 128 KiB/,
    );
  },
);

test("gpu-webgpu: sweep on webgpu (weights fed as inputs, each plan overriding some) equals the CPU's NLL and KL within 1e-4 relative", { skip }, async () => {
  const page = path.join(tmp, "sweep-page.txt");
  fs.writeFileSync(page, fs.readFileSync(path.join(demo, "heldout-brown.txt"), "utf8").slice(0, 160));
  interface Sweep {
    rows: { ratio: number; nll: number; kl: number }[];
    original: { nll: number };
    compute?: { notes?: string[] };
  }
  const args = ["sweep", demo, "--text", page, "--window", "32", "--ratios", "0.25", "--forward", "whole-model", "--json"];
  const c = (await json<Sweep>([...args, "--providers", "cpu"])).value;
  const g = (await json<Sweep>([...args, "--providers", "webgpu"])).value;
  // An override of a resident initializer is ignored by onnxruntime: the plan's row would equal the original.
  assert.ok(c.rows[0]!.kl > 0.01, `the plan changes the model (KL ${c.rows[0]!.kl})`);
  for (const [a, b, what] of [
    [c.original.nll, g.original.nll, "original NLL"],
    [c.rows[0]!.nll, g.rows[0]!.nll, "shared NLL"],
    [c.rows[0]!.kl, g.rows[0]!.kl, "KL"],
  ] as const)
    assert.ok(Math.abs(a - b) / Math.abs(a) <= 1e-4, `${what}: cpu ${a} webgpu ${b}`);
  assert.ok(
    g.compute?.notes?.some((n) => n.startsWith("forward weights fed as inputs on webgpu")),
    JSON.stringify(g.compute?.notes),
  );
});

test(
  "gpu-webgpu: eval on webgpu equals the CPU's NLL within 1e-4 relative (a short sentence: no empty attention chunk) with attention similarity",
  { skip: skip || sharedSkip(stories) },
  async () => {
    const text = path.join(tmp, "sentence.txt");
    fs.writeFileSync(text, SENTENCE);
    const page = path.join(tmp, "page.txt");
    fs.writeFileSync(page, fs.readFileSync(path.join(demo, "heldout-brown.txt"), "utf8").slice(0, 300));
    interface Eval {
      tokens: number;
      nll: number;
      provider: string;
      compute?: { adapter?: { device: string }; sessions: { graph: string; provider: string; nodes?: Record<string, number> }[] };
      attention?: { entries: { score: number }[] };
    }
    for (const [model, file, attention] of [
      [sharedPath(stories)!, text, true],
      [demo, page, false],
    ] as const) {
      const extra = attention ? ["--attention"] : [];
      const c = (await json<Eval>(["eval", model, "--text", file, "--json", "--providers", "cpu", ...extra])).value;
      const g = (await json<Eval>(["eval", model, "--text", file, "--json", "--providers", "webgpu", ...extra])).value;
      assert.equal(g.provider, "webgpu");
      assert.equal(g.tokens, c.tokens);
      const rel = Math.abs(g.nll - c.nll) / Math.abs(c.nll);
      console.log(`# ${path.basename(model)}: ${c.tokens} tokens, nll cpu ${c.nll.toFixed(6)} webgpu ${g.nll.toFixed(6)} (relative ${rel.toExponential(2)})`);
      assert.ok(rel <= 1e-4, `relative NLL difference ${rel}`);
      assert.equal(g.compute?.adapter?.device, "SwiftShader Device (Subzero)");
      const fwd = g.compute!.sessions.find((s) => s.graph === "forward")!;
      assert.equal(fwd.provider, "webgpu");
      assert.ok((fwd.nodes?.webgpu ?? 0) > 0, `forward nodes on webgpu: ${JSON.stringify(fwd.nodes)}`);
      if (attention) {
        assert.ok(g.compute!.sessions.some((s) => s.graph === "attention maps" && s.provider === "webgpu"));
        const ca = c.attention!.entries,
          ga = g.attention!.entries;
        assert.equal(ga.length, ca.length);
        // Cosines of attention maps over 12 positions: within 1e-3 (docs/gpu.md).
        for (let i = 0; i < ca.length; i++)
          assert.ok(Math.abs(ga[i]!.score - ca[i]!.score) <= 1e-3, `attention similarity ${i}: ${ga[i]!.score} vs ${ca[i]!.score}`);
      }
    }
  },
);

/** A safetensors file's header JSON and its data bytes (to say which part differs). */
function splitSafetensors(file: string): { header: string; data: Buffer } {
  const b = fs.readFileSync(file);
  const n = Number(b.readBigUInt64LE(0));
  return { header: b.subarray(8, 8 + n).toString("utf8"), data: b.subarray(8 + n) };
}

for (const [name, model, ratio] of [
  ["demo model", demo, "0.3"],
  ["stories260K-hf", sharedPath(stories), "0.5"],
] as const) {
  test(
    `gpu-webgpu: compress through the worker on webgpu writes a byte-identical compact folder to the CPU's (${name}; the plan's scores recorded on the 1e-4 grid)`,
    { skip: skip || (model ? false : sharedSkip(stories)) },
    async () => {
      const outs: Record<string, string> = {};
      for (const p of ["cpu", "webgpu"]) {
        outs[p] = path.join(tmp, `share-${path.basename(model!)}-${p}`);
        const r = await json<{ provider: string; plan: { selected: number } }>([
          "share",
          model!,
          "--ratio",
          ratio,
          "--format",
          "compact",
          "--out",
          outs[p]!,
          "--json",
          "--providers",
          p,
        ]);
        assert.equal(r.value.provider, p);
        assert.ok(r.value.plan.selected > 0, "some units are shared");
      }
      const files = fs.readdirSync(outs.cpu!).sort();
      assert.ok(files.some((f) => f.endsWith(".safetensors")));
      assert.deepEqual(fs.readdirSync(outs.webgpu!).sort(), files);
      for (const f of files) {
        const [a, b] = [path.join(outs.cpu!, f), path.join(outs.webgpu!, f)];
        if (fs.readFileSync(a).equals(fs.readFileSync(b))) continue;
        if (!f.endsWith(".safetensors")) assert.fail(`${f} differs between cpu and webgpu`);
        const [x, y] = [splitSafetensors(a), splitSafetensors(b)];
        assert.equal(y.header, x.header, `${f}: the header (metadata) differs`);
        assert.fail(`${f}: tensor data differs`);
      }
    },
  );
}

test(
  "gpu-webgpu: a 20-step PostShare run on webgpu follows the CPU's loss curve within 1e-3 relative; the training graph's placement is reported",
  { skip: skip || sharedSkip(stories) },
  async () => {
    const train = path.join(tmp, "train.txt");
    fs.writeFileSync(train, fs.readFileSync(sharedPath("corpus/tinystories-valid-excerpt.txt") ?? path.join(demo, "heldout-brown.txt"), "utf8").slice(0, 1500));
    const held = path.join(tmp, "held.txt");
    fs.writeFileSync(held, SENTENCE);
    interface Post {
      lossCurve: { step: number; lm: number; weight: number }[];
      provider: string;
      compute?: { sessions: { graph: string; provider: string; nodes?: Record<string, number> }[] };
    }
    const curve = async (p: string) =>
      (
        await json<Post>([
          "postshare",
          sharedPath(stories)!,
          "--ratio",
          "0.25",
          "--text",
          train,
          "--heldout",
          held,
          "--out",
          path.join(tmp, `post-${p}`),
          "--steps",
          "20",
          "--batch-size",
          "1",
          "--seq-len",
          "16",
          "--train-on",
          "text",
          "--json",
          "--providers",
          p,
        ])
      ).value;
    const c = await curve("cpu");
    const g = await curve("webgpu");
    assert.equal(g.provider, "webgpu");
    assert.equal(g.lossCurve.length, c.lossCurve.length);
    assert.ok(c.lossCurve.length >= 20);
    let worst = 0;
    for (let i = 0; i < c.lossCurve.length; i++) {
      for (const k of ["lm", "weight"] as const) {
        const a = c.lossCurve[i]![k],
          b = g.lossCurve[i]![k];
        worst = Math.max(worst, Math.abs(a - b) / Math.max(Math.abs(a), 1e-12));
      }
    }
    console.log(`# postshare: max relative loss difference over ${c.lossCurve.length} steps = ${worst.toExponential(2)}`);
    assert.ok(worst <= 1e-3, `max relative loss difference ${worst}`);
    const step = g.compute!.sessions.find((s) => s.graph === "train step")!;
    assert.equal(step.provider, "webgpu");
    assert.ok((step.nodes?.webgpu ?? 0) > 0 && step.nodes!.cpu !== undefined, `train step placement ${JSON.stringify(step.nodes)}`);
  },
);
