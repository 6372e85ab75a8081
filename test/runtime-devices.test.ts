/**
 * Provider selection without a GPU: auto's order, the CUDA libraries check and its message, the
 * adapter named from the Vulkan loader's log, software adapters recognised, node placement read
 * from an onnxruntime profile, and per-job compute logs kept apart. The GPU itself is tested in
 * gpu-webgpu.test.ts (SwiftShader).
 */
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describeAdapter, parseLoaderLog, vendorOf } from "../src/core/runtime/adapter";
import { ComputeLog, currentComputeLog, noteCompute, withComputeLog } from "../src/core/runtime/computeLog";
import { cudaLibraries, ortNativeFolder } from "../src/core/runtime/cuda";
import { createSession, defaultProviders, placementFromProfile } from "../src/core/runtime/ort";
import { gemmTransBModel } from "../src/core/runtime/gemmModel";
import { adapterLabel, computeText, sessionsText } from "../src/core/runtime/types";

test("runtime-devices: auto tries CUDA, then WebGPU, then DirectML/CoreML, then CPU", () => {
  assert.deepEqual(defaultProviders("linux"), ["cuda", "webgpu", "cpu"]);
  assert.deepEqual(defaultProviders("win32"), ["cuda", "webgpu", "dml", "cpu"]);
  assert.deepEqual(defaultProviders("darwin"), ["webgpu", "coreml", "cpu"]);
  assert.deepEqual(defaultProviders("freebsd"), ["cpu"]);
});

test("runtime-devices: missing CUDA libraries are named with the folder and the command that installs them", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-cuda-"));
  try {
    const none = cudaLibraries(dir, "linux", "x64");
    assert.equal(none.present, false);
    assert.deepEqual(none.missing, ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"]);
    assert.match(
      none.reason!,
      new RegExp(
        `missing in ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\); with internet, run \`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node\``,
      ),
    );
    for (const f of none.missing) fs.writeFileSync(path.join(dir, f), "");
    assert.deepEqual(cudaLibraries(dir, "linux", "x64"), { present: true, folder: dir, missing: [] });
    assert.match(cudaLibraries(dir, "darwin", "arm64").reason!, /no CUDA provider for darwin\/arm64/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  // The real package here: the native folder exists (CPU library), the CUDA files were never downloaded.
  assert.ok(fs.existsSync(path.join(ortNativeFolder(), process.platform === "win32" ? "onnxruntime_binding.node" : "onnxruntime_binding.node")));
});

// Captured from `VK_LOADER_DEBUG=driver` with SwiftShader (Debian chromium 156) and, in the second
// case, a loader listing a hardware GPU beside llvmpipe.
const SWIFTSHADER_LOG = `[Vulkan Loader] DRIVER:         Found ICD manifest file /usr/lib/chromium/vk_swiftshader_icd.json, version 1.0.0
[Vulkan Loader] INFO | DRIVER:  linux_read_sorted_physical_devices:
[Vulkan Loader] INFO | DRIVER:       Original order:
[Vulkan Loader] INFO | DRIVER:             [0] SwiftShader Device (Subzero)
[Vulkan Loader] INFO | DRIVER:       Sorted order:
[Vulkan Loader] INFO | DRIVER:             [0] SwiftShader Device (Subzero)  
[Vulkan Loader] DEBUG | DRIVER: Copying old device 0 into new device 0
[Vulkan Loader] DRIVER:                Using "SwiftShader Device (Subzero)" with driver: "/usr/lib/chromium/libvk_swiftshader.so"
`;
const HARDWARE_LOG = `[Vulkan Loader] INFO | DRIVER:       Sorted order:
[Vulkan Loader] INFO | DRIVER:             [0] NVIDIA H100 80GB HBM3
[Vulkan Loader] INFO | DRIVER:             [1] llvmpipe (LLVM 15.0.6, 256 bits)
[Vulkan Loader] DRIVER:         vkCreateDevice layer callstack setup to:
[Vulkan Loader] DRIVER:                Using "NVIDIA H100 80GB HBM3" with driver: "/usr/lib/x86_64-linux-gnu/libGLX_nvidia.so.0"
`;

test("runtime-devices: the adapter is named from the Vulkan loader's log; software renderers are recognised", () => {
  const sw = parseLoaderLog(SWIFTSHADER_LOG);
  assert.deepEqual(sw, {
    used: { name: "SwiftShader Device (Subzero)", driver: "/usr/lib/chromium/libvk_swiftshader.so" },
    devices: ["SwiftShader Device (Subzero)"],
  });
  const a = describeAdapter(sw.used!.name, "vulkan", sw.used!.driver);
  assert.deepEqual(a, {
    vendor: "Google",
    device: "SwiftShader Device (Subzero)",
    backend: "vulkan",
    driver: "/usr/lib/chromium/libvk_swiftshader.so",
    software: true,
  });
  assert.equal(adapterLabel(a), "SwiftShader Device (Subzero) (Google, vulkan, software renderer)");
  const hw = parseLoaderLog(HARDWARE_LOG);
  assert.deepEqual(hw.devices, ["NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15.0.6, 256 bits)"]);
  assert.equal(describeAdapter(hw.used!.name, "vulkan", hw.used!.driver).software, false);
  assert.equal(describeAdapter(hw.devices[1]!, "vulkan").software, true);
  assert.equal(describeAdapter("Microsoft Basic Render Driver", "d3d12").software, true);
  assert.equal(parseLoaderLog("Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file").used, undefined);
  for (const [name, vendor] of [
    ["NVIDIA GeForce RTX 4090", "NVIDIA"],
    ["AMD Radeon RX 7900 XTX (RADV NAVI31)", "AMD"],
    ["Intel(R) Arc(tm) A770 Graphics (DG2)", "Intel"],
    ["Apple M2 Max", "Apple"],
    ["llvmpipe (LLVM 15.0.6, 256 bits)", "Mesa"],
    ["Some GPU", "unknown"],
  ] as const) {
    assert.equal(vendorOf(name), vendor, name);
  }
});

test("runtime-devices: nodes per provider, and the CPU's op types, from an onnxruntime profile", () => {
  const ev = (name: string, provider: string, op: string) => ({ cat: "Node", name: `${name}_kernel_time`, args: { provider, op_name: op } });
  const profile = JSON.stringify([
    { cat: "Session", name: "model_loading_array", args: {} },
    ev("/a/MatMul", "WebGpuExecutionProvider", "MatMul"),
    ev("/a/Shape", "CPUExecutionProvider", "Shape"),
    ev("/b/Shape", "CPUExecutionProvider", "Shape"),
    ev("/b/Gather", "CPUExecutionProvider", "Gather"),
    ev("/a/MatMul", "WebGpuExecutionProvider", "MatMul"), // the same node again (a second run) counts once
    ev("/c/Softmax", "WebGpuExecutionProvider", "Softmax"),
  ]);
  const p = placementFromProfile(profile);
  assert.deepEqual(p.nodes, { webgpu: 2, cpu: 3 });
  assert.deepEqual(p.cpuOps, { Shape: 2, Gather: 1 });
  assert.equal(
    sessionsText([{ graph: "forward", provider: "webgpu", nodes: p.nodes, cpuOps: p.cpuOps }]),
    "forward on webgpu (cpu: 3 nodes, webgpu: 2 nodes; on the CPU: Shape ×2, Gather ×1)",
  );
});

test("runtime-devices: each job's compute log gets its own sessions (concurrent jobs); CPU sessions carry no placement", async () => {
  const heard: string[] = [];
  const a = new ComputeLog((r) => heard.push(`a:${r.sessions.length}`));
  const b = new ComputeLog();
  assert.equal(currentComputeLog(), undefined);
  await Promise.all([
    withComputeLog(a, async () => {
      const s1 = await createSession(gemmTransBModel(), { providers: ["cpu"], intraOpThreads: 1, label: "first" });
      const s2 = await createSession(gemmTransBModel(), { providers: ["cpu"], intraOpThreads: 1, label: "second" });
      await s1.session.release();
      await s2.session.release();
    }),
    withComputeLog(b, async () => {
      const s = await createSession(gemmTransBModel(), { providers: ["coreml", "dml", "cpu"], intraOpThreads: 1, label: "other job" });
      await s.session.release();
    }),
  ]);
  assert.deepEqual(
    a.report()!.sessions.map((s) => s.graph),
    ["first", "second"],
  );
  assert.deepEqual(heard, ["a:1", "a:2"]);
  const rb = b.report()!;
  assert.deepEqual(rb.sessions, [{ graph: "other job", provider: "cpu" }]);
  // Skipped on this platform with why (CoreML: macOS only; DirectML: Windows only), here Linux.
  if (process.platform === "linux") {
    assert.deepEqual(rb.skipped, [
      { provider: "coreml", reason: "CoreML runs on macOS only" },
      { provider: "dml", reason: "DirectML runs on Windows only" },
    ]);
    assert.equal(computeText(rb), "cpu; coreml skipped: CoreML runs on macOS only; dml skipped: DirectML runs on Windows only");
  }
});

test("runtime-devices: a job's notes (its decisions about the device) join its compute report once each, in order; outside a job they go nowhere", async () => {
  const heard: (string[] | undefined)[] = [];
  const log = new ComputeLog((r, change) => (change ? undefined : heard.push(r.notes)));
  noteCompute("outside any job");
  await withComputeLog(log, async () => {
    noteCompute("before the first session"); // kept, reported with the first session
    const s = await createSession(gemmTransBModel(), { providers: ["cpu"], intraOpThreads: 1, label: "forward" });
    await s.session.release();
    noteCompute("forward: whole-model (asked for)");
    noteCompute("forward: whole-model (asked for)");
  });
  assert.deepEqual(log.report()!.notes, ["before the first session", "forward: whole-model (asked for)"]);
  assert.deepEqual(heard, [["before the first session", "forward: whole-model (asked for)"]]);
  assert.equal(new ComputeLog().report(), undefined);
});
