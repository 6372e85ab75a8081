/**
 * `npm run bench -- --only gpu` without a WebGPU adapter fails with one clear message and records
 * nothing (bench/gpu.bench.ts throws BenchUnavailable; bench/run.ts prints its message alone and
 * exits 1 under --only, and skips it in a run of every bench).
 */
import test from "node:test";
import assert from "node:assert/strict";
import os from "node:os";
import { gpuBench } from "../bench/gpu.bench";
import { BenchUnavailable } from "../bench/run";
import { webGpuProbe } from "../src/core/runtime/adapter";

test("bench gpu: without a WebGPU adapter the bench refuses with what is missing and where the docs say how to bring it", async (t) => {
  const probe = await webGpuProbe();
  if (probe.ok) {
    t.skip(`this machine has a WebGPU adapter (${probe.adapter.device}): the bench would run`);
    return;
  }
  await assert.rejects(
    gpuBench.run({ quick: true, cacheDir: os.tmpdir() }),
    (e: unknown) =>
      e instanceof BenchUnavailable &&
      e.message.startsWith(`the gpu bench needs a WebGPU adapter, and WebGPU does not run here: ${probe.reason}. docs/gpu.md says how`) &&
      /nothing was recorded$/.test(e.message),
  );
});
