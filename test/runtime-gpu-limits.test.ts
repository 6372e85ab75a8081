/**
 * The WebGPU buffer limits jobs size their tensors to (src/core/runtime/gpuLimits.ts): the override,
 * Dawn's known adapters, WebGPU's guaranteed minimum otherwise, and the errors. No GPU needed.
 */
import test from "node:test";
import assert from "node:assert/strict";
import { bytesText, gpuLimits, gpuLimitsFromEnv, SPEC_GPU_LIMITS } from "../src/core/runtime/gpuLimits";
import { RuntimeError } from "../src/core/runtime/errors";
import { gramLimitError } from "../src/core/share/gram";
import type { GpuAdapter } from "../src/core/runtime/types";

const nvidia: GpuAdapter = { vendor: "NVIDIA", device: "NVIDIA H100 80GB HBM3", backend: "vulkan", software: false };
const swiftshader: GpuAdapter = { vendor: "Google", device: "SwiftShader Device (Subzero)", backend: "vulkan", software: true };
const amd: GpuAdapter = { vendor: "AMD", device: "AMD Radeon RX 7900 XTX (RADV NAVI31)", backend: "vulkan", software: false };

test("gpu limits: WebGPU's guaranteed minimum unless the adapter is known or HEADSHARE_GPU_LIMITS says otherwise", () => {
  assert.equal(SPEC_GPU_LIMITS.maxBufferSize, 256 * 2 ** 20);
  assert.equal(SPEC_GPU_LIMITS.maxStorageBufferBindingSize, 128 * 2 ** 20);
  assert.equal(gpuLimits(undefined, undefined), SPEC_GPU_LIMITS);
  assert.equal(gpuLimits(swiftshader, undefined), SPEC_GPU_LIMITS);
  assert.equal(gpuLimits(amd, undefined), SPEC_GPU_LIMITS);
  const nv = gpuLimits(nvidia, undefined);
  assert.deepEqual([nv.maxBufferSize, nv.maxStorageBufferBindingSize], [2 ** 31 - 4, 2 ** 31 - 4]);
  const d3d = gpuLimits({ ...amd, backend: "d3d12" }, undefined);
  assert.equal(d3d.maxStorageBufferBindingSize, 2 ** 31);
  assert.equal(gpuLimits({ ...amd, vendor: "Qualcomm", backend: "d3d12" }, undefined), SPEC_GPU_LIMITS);
  // The override wins over a known adapter.
  const o = gpuLimits(nvidia, "maxBufferSize=1GiB, maxStorageBufferBindingSize=512MiB");
  assert.deepEqual([o.maxBufferSize, o.maxStorageBufferBindingSize], [2 ** 30, 2 ** 29]);
  assert.match(o.source, /^HEADSHARE_GPU_LIMITS=/);
});

test("gpu limits: HEADSHARE_GPU_LIMITS is parsed strictly; a binding never exceeds the buffer", () => {
  assert.equal(gpuLimitsFromEnv(undefined), undefined);
  assert.equal(gpuLimitsFromEnv(" "), undefined);
  assert.deepEqual(
    (({ maxBufferSize, maxStorageBufferBindingSize }) => [maxBufferSize, maxStorageBufferBindingSize])(gpuLimitsFromEnv("maxStorageBufferBindingSize=64KiB")!),
    [SPEC_GPU_LIMITS.maxBufferSize, 65536],
  );
  assert.equal(gpuLimitsFromEnv("maxBufferSize=1MiB,maxStorageBufferBindingSize=2MiB")!.maxStorageBufferBindingSize, 2 ** 20);
  assert.equal(gpuLimitsFromEnv("maxStorageBufferBindingSize=1GiB")!.maxBufferSize, 2 ** 30);
  assert.equal(gpuLimitsFromEnv("maxBufferSize=1234")!.maxBufferSize, 1234);
  for (const bad of ["maxBufferSize", "maxBufferSize=", "maxBufferSize=lots", "maxBufferSize=-5", "maxBufferSize=2TB", "bufferSize=1GiB", "maxBufferSize=1"])
    assert.throws(
      () => gpuLimitsFromEnv(bad),
      (e: unknown) => e instanceof RuntimeError && e.code === "bad-providers" && /^HEADSHARE_GPU_LIMITS: /.test(e.message),
      bad,
    );
  assert.deepEqual(
    [bytesText(4096), bytesText(6144), bytesText(128 * 2 ** 20), bytesText(2 ** 31 - 4), bytesText(12)],
    ["4 KiB", "6 KiB", "128 MiB", "2 GiB", "12 bytes"],
  );
});

test("gpu limits: the match Gemm's tensors are checked against one binding, naming the tensor, its size and the limit", () => {
  const limits = gpuLimitsFromEnv("maxStorageBufferBindingSize=64KiB")!;
  // 4 layers × 4 units: one strip of every layer, A [12, w] (targets: layers 1–3), B [16, w], C [12, 16].
  assert.equal(gramLimitError(4, 4, 128, limits), null);
  assert.equal(gramLimitError(4, 4, 1024, limits), null); // B: 16 × 1024 × 4 = 64 KiB exactly
  const e = gramLimitError(4, 4, 1025, limits);
  assert.ok(e instanceof RuntimeError && e.code === "gpu-limit");
  assert.match(
    e.message,
    /^the match Gemm's input B \(source units × columns\) \[16, 1025\] float32 takes 64.06 KiB, more than the GPU allows \(maxStorageBufferBindingSize 64 KiB/,
  );
  const a = gramLimitError(4, 4, 128, gpuLimitsFromEnv("maxStorageBufferBindingSize=4KiB")!);
  assert.match(String(a), /input A \(target units × columns of their vectors\) \[12, 128\] float32 takes 6 KiB/);
  // The products of many units: C [aRows, bRows] is an output and cannot be split over bindings.
  const c = gramLimitError(200, 64, 1, gpuLimitsFromEnv("maxStorageBufferBindingSize=1MiB")!);
  assert.ok(c instanceof RuntimeError);
  assert.match(c.message, /output C \(target × source units\) \[12736, 64\]/);
});
