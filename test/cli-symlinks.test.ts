// The user's consent to follow links out of a model folder, end to end through `node dist/cli.js`:
// a model folder whose weights file is a symlink to a file outside it is refused by default (in
// process: inspect; in the worker: match), and read with the global `--follow-symlinks` flag, giving
// the same answers as the real folder. The test's own HEADSHARE_FOLLOW_SYMLINKS is never inherited. The worker
// takes the consent from its initialize handshake only.
import test from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { writeSyntheticModel } from "../src/core/model/synthetic";
import { WorkerClient } from "../src/host/workerClient";

const cli = path.resolve(__dirname, "../../dist/cli.js");
const noCli = fs.existsSync(cli) ? false : "dist/cli.js is not built (npm run build)";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env };
  delete base.HEADSHARE_FOLLOW_SYMLINKS;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: os.tmpdir(), stdio: ["ignore", "pipe", "pipe"], env: { ...base, ...env } });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const tmp = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "hs-cli-links-"));
const real = path.join(tmp, "real");
const linked = path.join(tmp, "linked");
test.before(async () => {
  fs.mkdirSync(real);
  await writeSyntheticModel(real, { family: "llama", layers: 3, heads: 4, kvHeads: 2, headDim: 8, intermediate: 32, vocab: 48, seed: 5 });
  fs.mkdirSync(linked);
  fs.copyFileSync(path.join(real, "config.json"), path.join(linked, "config.json"));
  fs.symlinkSync(path.join(real, "model.safetensors"), path.join(linked, "model.safetensors"));
});
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The one-line refusal: exit 1, names the link and its target, says how to consent; no stack. */
function assertRefused(r: Run): void {
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stdout, "");
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^headshare: /);
  assert.ok(lines[0]!.includes(path.join(linked, "model.safetensors")), r.stderr);
  assert.ok(lines[0]!.includes(`a link to ${path.join(real, "model.safetensors")}, outside the model folder`), r.stderr);
  assert.ok(lines[0]!.includes("--follow-symlinks"), r.stderr);
}

test("cli symlinks: inspect refuses a weights file linking out of the folder; --follow-symlinks reads it like the real folder", { skip: noCli }, async () => {
  assertRefused(await run(["inspect", linked, "--json"]));
  assertRefused(await run(["inspect", linked, "--json", "--follow-symlinks=false"]));
  const want = await run(["inspect", real, "--json"]);
  assert.equal(want.code, 0, want.stderr);
  for (const args of [
    ["inspect", "--follow-symlinks", linked, "--json"],
    ["inspect", linked, "--json", "--follow-symlinks"],
    ["inspect", linked, "--json", "--follow-symlinks=true"],
  ]) {
    const got = await run(args);
    assert.equal(got.code, 0, `${args.join(" ")}: ${got.stderr}`);
    const g = JSON.parse(got.stdout),
      w = JSON.parse(want.stdout);
    assert.equal(g.path, linked);
    assert.equal(g.config, path.join(linked, "config.json"));
    // Everything but the paths matches the real folder (the link is followed to the same bytes).
    const noPaths = (s: Record<string, unknown>) => ({ ...s, path: undefined, weights: undefined, config: undefined });
    assert.deepEqual(noPaths(g), noPaths(w));
    assert.equal(g.parameters, w.parameters);
    assert.ok(g.parameters > 0);
  }
  // After `--` it is a positional (a path), not the consent.
  const r = await run(["inspect", linked, "--", "--follow-symlinks"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /unexpected argument "--follow-symlinks"/);
});

test(
  "cli symlinks: the worker refuses the link without consent and follows it with --follow-symlinks (match table as on the real folder)",
  { skip: noCli },
  async () => {
    assertRefused(await run(["match", linked, "--json", "--providers", "cpu"]));
    const want = await run(["match", real, "--json", "--providers", "cpu"]);
    assert.equal(want.code, 0, want.stderr);
    const got = await run(["match", linked, "--json", "--providers", "cpu", "--follow-symlinks"]);
    assert.equal(got.code, 0, got.stderr);
    const g = JSON.parse(got.stdout),
      w = JSON.parse(want.stdout);
    assert.equal(g.entries.length, 2 * 2); // layers 1..2 × 2 KV groups
    assert.deepEqual(g.entries, w.entries);
  },
);

test("cli symlinks: HEADSHARE_FOLLOW_SYMLINKS=1 in the environment still consents (scripts that set it keep working)", { skip: noCli }, async () => {
  const r = await run(["inspect", linked, "--json"], { HEADSHARE_FOLLOW_SYMLINKS: "1" });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).layers, 3);
});

test("worker symlinks: the consent is the handshake's followSymlinks, never the worker's inherited environment", { skip: noCli }, async () => {
  const workerPath = path.resolve(__dirname, "../../dist/worker.js");
  // The environment says yes, the handshake says no: refused.
  const refusing = new WorkerClient({ workerPath, providers: ["cpu"], env: { HEADSHARE_FOLLOW_SYMLINKS: "1" } });
  try {
    await assert.rejects(
      refusing.request("headshare/inspect", { model: linked }),
      (e: Error) => /outside the model folder/.test(e.message) && e.message.includes(linked),
    );
  } finally {
    await refusing.dispose();
  }
  // The environment says no, the handshake says yes: followed, the same summary as the real folder.
  const following = new WorkerClient({ workerPath, providers: ["cpu"], followSymlinks: true, env: { HEADSHARE_FOLLOW_SYMLINKS: "0" } });
  try {
    const got = await following.request("headshare/inspect", { model: linked });
    const want = await following.request("headshare/inspect", { model: real });
    assert.equal(got.summary.layers, 3);
    assert.equal(got.summary.parameters, want.summary.parameters);
  } finally {
    await following.dispose();
  }
});
